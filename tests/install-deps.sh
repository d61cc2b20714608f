#!/bin/sh
# Installs the programs the tests and the demo run for real, when they are missing: etcd, BIRD, iptables, ipset,
# iproute2, runit, conntrack, ping, traceroute and tcpdump (Debian packages), and cnitool (Go module proxy).
set -eu

missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need etcd etcd-server
need etcdctl etcd-client
need bird bird
need iptables-restore iptables
need ipset ipset
need ip iproute2
need runsvdir runit
need conntrack conntrack
need ping iputils-ping
need traceroute traceroute
need tcpdump tcpdump

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages:$missing (run as root to install them)" >&2
		exit 1
	fi
	echo "installing:$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# etcd-server's package starts a system etcd on 2379; our tests start their own on free ports, so stop it
# rather than leave a daemon the tests did not ask for.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
	systemctl stop etcd || true
fi

gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/cnitool" ]; then
	echo "installing cnitool"
	go install github.com/containernetworking/cni/cnitool@v1.3.1
fi
