package ipam

import (
	"net/netip"
	"testing"
)

func TestKeysMatchCalicosLayout(t *testing.T) {
	v4 := netip.MustParsePrefix("10.1.240.64/26")
	v6 := netip.MustParsePrefix("fd00:1::40/122")
	tests := []struct{ name, got, want string }{
		{"an IPv4 block", BlockKey(v4), "/calico/ipam/v2/assignment/ipv4/block/10.1.240.64-26"},
		{"an IPv6 block", BlockKey(v6), "/calico/ipam/v2/assignment/ipv6/block/fd00:1::40-122"},
		{"an IPv4 affinity", AffinityKey("node1", v4), "/calico/ipam/v2/host/node1/ipv4/block/10.1.240.64-26"},
		{"an IPv6 affinity", AffinityKey("node1", v6), "/calico/ipam/v2/host/node1/ipv6/block/fd00:1::40-122"},
		{"a handle", HandleKey("net1.abc123"), "/calico/ipam/v2/handle/net1.abc123"},
		{"the config", ConfigKey, "/calico/ipam/v2/config"},
		{"a host's affinities of both families", HostAffinityPrefix("node1", 0), "/calico/ipam/v2/host/node1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestKeysParseBackAndRejectStrangers(t *testing.T) {
	for _, key := range []string{
		"/calico/ipam/v2/assignment/ipv4/block/10.1.240.64-26",
		"/calico/ipam/v2/assignment/ipv6/block/fd00:1::40-122",
	} {
		cidr, ok := ParseBlockKey(key)
		if !ok || BlockKey(cidr) != key {
			t.Errorf("block key %s parsed to %s %v, which does not give the key back", key, cidr, ok)
		}
	}
	for _, key := range []string{
		"/calico/ipam/v2/assignment/ipv4/block/10.1.240.65-26",   // not the network address
		"/calico/ipam/v2/assignment/ipv6/block/10.1.240.64-26",   // family mismatch
		"/calico/ipam/v2/assignment/ipv4/block/10.1.240.64-26/x", // extra segment
		"/calico/ipam/v2/assignment/ipv4/block/bogus",
	} {
		if c, ok := ParseBlockKey(key); ok {
			t.Errorf("ParseBlockKey(%s) = %s, want it rejected", key, c)
		}
	}
	host, cidr, ok := ParseAffinityKey("/calico/ipam/v2/host/node-1.example/ipv6/block/fd00:1::40-122")
	if !ok || host != "node-1.example" || cidr.String() != "fd00:1::40/122" {
		t.Errorf("ParseAffinityKey = %q %s %v", host, cidr, ok)
	}
	for _, key := range []string{
		"/calico/ipam/v2/host/node1",
		"/calico/ipam/v2/host/node1/ipv4/block/fd00::-122",
		"/calico/ipam/v2/host//ipv4/block/10.0.0.0-26",
		"/calico/ipam/v2/host/node1/ipv4/blocks/10.0.0.0-26",
	} {
		if _, _, ok := ParseAffinityKey(key); ok {
			t.Errorf("ParseAffinityKey(%s) succeeded, want it rejected", key)
		}
	}
	if id, ok := ParseHandleKey("/calico/ipam/v2/handle/k8s-pod-network.abc"); !ok || id != "k8s-pod-network.abc" {
		t.Errorf("ParseHandleKey = %q %v", id, ok)
	}
}
