package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// dualStackNetwork is the CNI network (and so the profile) of the dual-stack pods.
const dualStackNetwork = "dual-stack"

const dualStackPools = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-v4}
spec: {cidr: 10.204.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-v6}
spec: {cidr: "fd10:204::/48", blockSize: 122, natOutgoing: false}
`

// startBird6 runs BIRD for IPv6 on a node once confd has rendered bird6.cfg, with its socket where
// BIRD6_CTL_SOCKET (and so confd's reload and calicoctl node status) looks for it.
func startBird6(t *testing.T, n *node) *exec.Cmd {
	t.Helper()
	cfg := filepath.Join(n.h.Dir, "config", "bird6.cfg")
	waitUntil(t, 20*time.Second, "confd renders "+cfg, func() (bool, string) {
		_, err := os.Stat(cfg)
		return err == nil, tail(filepath.Join(n.h.Dir, "confd.log"))
	})
	cmd, err := n.h.Start(n.env(), "bird6", "bird6", "-f", "-R", "-c", cfg, "-s", filepath.Join(n.h.Dir, "bird6.ctl"),
		"-P", filepath.Join(n.h.Dir, "bird6.pid"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.Stop(cmd) })
	return cmd
}

// addDualStackPod wires a pod with one IPv4 and one IPv6 address (assign_ipv6 "true") and returns it with its
// IPv6 address.
func addDualStackPod(t *testing.T, c *harness.Cluster, n *node, name string) (*pod, string) {
	t.Helper()
	confDir := filepath.Join(n.h.Dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"calico","etcd_endpoints":%q,"nodename":%q,"mtu":1500,
"log_file_path":%q,"ipam_lock_file":%q,"ipam":{"type":"calico-ipam","assign_ipv4":"true","assign_ipv6":"true"}}`,
		dualStackNetwork, c.Etcd, n.h.Name, filepath.Join(n.h.Dir, "cni.log"), filepath.Join(n.h.Dir, "ipam.lock"))
	if err := os.WriteFile(filepath.Join(confDir, "10-"+dualStackNetwork+".conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &pod{name: name, netns: "cl" + c.ID + "-" + name, on: n}
	if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.netns).Run() })
	cmd := n.h.Command([]string{"CNI_PATH=" + binDir, "NETCONFPATH=" + confDir, "CNI_CACHE_DIR=" + filepath.Join(n.h.Dir, "cni-cache")},
		cnitoolPath(t), "add", dualStackNetwork, "/var/run/netns/"+p.netns)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cnitool add %s on %s: %v\n%s%s\n-- cni log\n%s", name, n.h.Name, err, out, stderr.String(), tail(filepath.Join(n.h.Dir, "cni.log")))
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("cnitool result of %s: %v\n%s", name, err, out)
	}
	var ip6 string
	for _, a := range res.IPs {
		pfx, err := netip.ParsePrefix(a.Address)
		if err != nil {
			t.Fatalf("cnitool result of %s: address %q: %v", name, a.Address, err)
		}
		if pfx.Addr().Is4() {
			p.ip = pfx.Addr().String()
		} else {
			ip6 = pfx.Addr().String()
		}
	}
	if p.ip == "" || ip6 == "" {
		t.Fatalf("pod %s should have an IPv4 and an IPv6 address; the CNI result has %v:\n%s", name, res.IPs, out)
	}
	return p, ip6
}

func (p *pod) canPing6(ip string) bool {
	_, err := p.run("ping", "-6", "-c1", "-W1", ip)
	return err == nil
}

// dumpIPv6OnFailure logs what dumpOnFailure leaves out: each host's IPv6 routes, ip6tables, BIRD6's view and log,
// and the bird6.cfg confd rendered.
func dumpIPv6OnFailure(t *testing.T, c *harness.Cluster, nodes []*node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes {
			addrs, _ := n.h.Run("ip", "-6", "addr")
			routes, _ := n.h.Run("ip", "-6", "route")
			ipt, _ := n.h.Run("ip6tables-save")
			status, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			cfg, _ := os.ReadFile(filepath.Join(n.h.Dir, "config", "bird6.cfg"))
			ipam, _ := os.ReadFile(filepath.Join(n.h.Dir, "config", "bird6_ipam.cfg"))
			t.Logf("==== %s (%s) IPv6\n-- addresses\n%s\n-- routes\n%s\n-- ip6tables\n%s\n-- node status\n%s\n-- bird6.cfg\n%s\n-- bird6_ipam.cfg\n%s\n-- bird6 log\n%s",
				n.h.Name, n.h.IP6(), addrs, routes, ipt, status, cfg, ipam, tail(filepath.Join(n.h.Dir, "bird6.log")))
		}
	})
}

// ipv6Section is the "IPv6 BGP status" part of `calicoctl node status`.
func ipv6Section(status string) string {
	_, v6, _ := strings.Cut(status, "IPv6 BGP status")
	return v6
}

func TestDualStackPodsReachEachOtherOverIPv6AndIPv4(t *testing.T) {
	needRoot(t)
	for _, bin := range []string{"bird6", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (`make test` installs it)", bin)
		}
	}
	c, err := harness.New(harness.Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.EnableIPv6(); err != nil {
		t.Fatal(err)
	}
	if out, err := calicoctl(t, c, c.Hosts[0], dualStackPools, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pools: %v\n%s", err, out)
	}

	// host1 is given its IPv6 address, host2 finds its own (the only global one, on eth0).
	h1, h2 := c.Hosts[0], c.Hosts[1]
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, s := range []struct {
		h   *harness.Host
		ip6 string
	}{{h1, "IP6=" + h1.IP6().String()}, {h2, "IP6=autodetect"}} {
		n := startNode(t, c, s.h, s.ip6)
		nodes = append(nodes, n)
		startBird6(t, n)
		n.startFelix(t)
	}
	dumpOnFailure(t, nodes)
	dumpIPv6OnFailure(t, c, nodes)

	for _, h := range c.Hosts {
		out, err := calicoctl(t, c, h1, "", "get", "node", h.Name, "-o", "yaml")
		if err != nil || !strings.Contains(out, "ipv6Address: "+h.IP6().String()) {
			t.Fatalf("node %s should be registered with IPv6 address %s: %v\n%s", h.Name, h.IP6(), err, out)
		}
	}

	// Each node's BIRD6 peers with the other over IPv6.
	took := waitUntil(t, 60*time.Second, "the IPv6 mesh session is Established on both nodes", func() (bool, string) {
		var all strings.Builder
		ok := true
		for i, n := range nodes {
			out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			all.WriteString(n.h.Name + ":\n" + out)
			peer := nodes[1-i].h.IP6().String()
			v6 := ipv6Section(out)
			row := ""
			for _, l := range strings.Split(v6, "\n") {
				if strings.Contains(l, "| "+peer+" ") {
					row = l
				}
			}
			if !strings.Contains(row, "node-to-node mesh") || !strings.Contains(row, "Established") {
				ok = false
			}
		}
		return ok, all.String()
	})
	t.Logf("IPv6 mesh Established %s after the last node started", took.Round(time.Millisecond))

	a, a6 := addDualStackPod(t, c, nodes[0], "pa6")
	b, b6 := addDualStackPod(t, c, nodes[1], "pb6")
	block6 := netip.PrefixFrom(netip.MustParseAddr(a6), 122).Masked().String()
	pool6 := netip.MustParsePrefix("fd10:204::/48")
	if !pool6.Contains(netip.MustParseAddr(a6)) || !pool6.Contains(netip.MustParseAddr(b6)) {
		t.Fatalf("pod IPv6 addresses %s and %s should come from %s", a6, b6, pool6)
	}

	// host1: felix's blackhole for its IPv6 block and the /128 to the pod; host2 learns the block from BIRD6.
	waitUntil(t, 30*time.Second, "host1 has its IPv6 block blackhole and the pod's route", func() (bool, string) {
		blk, _ := nodes[0].h.Run("ip", "-6", "route", "show", block6)
		wl, _ := nodes[0].h.Run("ip", "-6", "route", "show", a6)
		return strings.Contains(blk, "blackhole "+block6) && strings.Contains(wl, a6+" dev cali"), blk + wl
	})
	want := fmt.Sprintf("%s via %s dev eth0 proto bird", block6, h1.IP6())
	waitUntil(t, 60*time.Second, fmt.Sprintf("host2 has route %q", want), func() (bool, string) {
		out, _ := nodes[1].h.Run("ip", "-6", "route", "show", block6)
		return strings.Contains(out, want), out
	})

	// felix programs ip6tables as it does iptables: the pod's endpoint chain and the network's profile.
	waitUntil(t, 30*time.Second, "host2's ip6tables has the profile and endpoint chains", func() (bool, string) {
		out, _ := nodes[1].h.Run("ip6tables-save", "-t", "filter")
		return strings.Contains(out, "cali-pri-"+dualStackNetwork) && strings.Contains(out, ":cali-tw-cali"), out
	})
	// Only the IPv4 pool has natOutgoing: felix masquerades IPv4 pod traffic and leaves IPv6 alone.
	waitUntil(t, 30*time.Second, "host1 masquerades the IPv4 pool only", func() (bool, string) {
		nat4, _ := nodes[0].h.Run("iptables-save", "-t", "nat")
		nat6, _ := nodes[0].h.Run("ip6tables-save", "-t", "nat")
		return strings.Contains(nat4, "MASQUERADE") && !strings.Contains(nat6, "MASQUERADE"),
			"-- iptables nat\n" + nat4 + "-- ip6tables nat\n" + nat6
	})

	took = waitUntil(t, 30*time.Second, "pa6 pings pb6 over IPv6", func() (bool, string) {
		out, err := a.run("ping", "-6", "-c1", "-W1", b6)
		return err == nil, out
	})
	t.Logf("pa6 (%s on host1) reached pb6 (%s on host2) over IPv6 %s after both were added", a6, b6, took.Round(time.Millisecond))
	waitUntil(t, 30*time.Second, "pa6 pings pb6 over IPv4", func() (bool, string) {
		out, err := a.run("ping", "-c1", "-W1", b.ip)
		return err == nil, out
	})

	// Isolate: the network's profile now allows nothing in; both families must stop.
	if out, err := calicoctl(t, c, h1, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: %s}
spec:
  ingress: [{action: Deny}]
  egress: [{action: Allow}]
  labelsToApply: {%s: ""}
`, dualStackNetwork, dualStackNetwork), "apply", "-f", "-"); err != nil {
		t.Fatalf("isolating profile: %v\n%s", err, out)
	}
	waitUntil(t, 15*time.Second, "the isolating profile stops the IPv6 and the IPv4 ping", func() (bool, string) {
		v6, v4 := a.canPing6(b6), a.canPing(b.ip)
		return !v6 && !v4, fmt.Sprintf("IPv6 ping succeeds: %t, IPv4 ping succeeds: %t", v6, v4)
	})
}
