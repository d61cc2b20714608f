package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

const vxlanPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool-vxlan}
spec: {cidr: 10.203.0.0/16, blockSize: 26, ipipMode: Never, vxlanMode: %s, natOutgoing: true}
`

// startVXLANNode runs startup with CALICO_NETWORKING_BACKEND=vxlan, then felix alone: no confd, no BIRD, no BGP
// anywhere. Its pods take the MTU felix computes.
func startVXLANNode(t testing.TB, c *harness.Cluster, h *harness.Host) *node {
	t.Helper()
	n := &node{h: h, c: c, autoMTU: true, extraEnv: []string{"CALICO_NETWORKING_BACKEND=vxlan"}}
	out, err := h.Command(n.env(), filepath.Join(binDir, "calico-node"), "-startup").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Calico node started successfully") {
		t.Fatalf("startup on %s: %v\n%s", h.Name, err, out)
	}
	n.startFelix(t)
	return n
}

// nodeField reads one field of a Node as calicoctl prints it in YAML ("" when absent).
func nodeField(t testing.TB, c *harness.Cluster, name, field string) string {
	t.Helper()
	out, err := calicoctl(t, c, c.Hosts[0], "", "get", "node", name, "-o", "yaml")
	if err != nil {
		t.Fatalf("calicoctl get node %s: %v\n%s", name, err, out)
	}
	m := regexp.MustCompile(`(?m)^\s*` + field + `:\s*(\S+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"'`)
}

// blockOf is the /26 route destination on a host that holds ip, read from the host's routes.
func routeTo(t testing.TB, n *node, dst string) string {
	t.Helper()
	out, _ := n.h.Run("ip", "route", "show", "match", dst)
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "default") && strings.Contains(l, "/26") {
			return l
		}
	}
	return ""
}

// capture counts the packets tcpdump sees on the router's segment interface matching filter while the pod pings.
func capture(t testing.TB, router *harness.Host, filter string, from *pod, to string) (int, string) {
	t.Helper()
	cmd := router.Command(nil, "timeout", "3", "tcpdump", "-nn", "-l", "-i", "eth1", filter)
	var buf strings.Builder
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // tcpdump attaches
	from.run("ping", "-c3", "-i", "0.2", "-W1", to)
	_ = cmd.Wait()
	out := buf.String()
	m := regexp.MustCompile(`(\d+) packets captured`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no tcpdump summary:\n%s", out)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n, out
}

// Three hosts with no default route and no BGP: host1 and host2 share a subnet, host3 is on another one behind a
// router that knows only the two host subnets. Pods reach each other over VXLAN only.
func TestVXLANAcrossSubnetsWithoutBGP(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump is needed (tests/install-deps.sh installs it)")
	}
	c, err := harness.New(harness.Options{Hosts: 2, NoDefaultRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	seg, err := c.AddSegment()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddHostOn(seg, "host3"); err != nil {
		t.Fatal(err)
	}
	if out, err := calicoctl(t, c, c.Hosts[0], fmt.Sprintf(vxlanPool, "Always"), "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, h := range c.Hosts {
		nodes = append(nodes, startVXLANNode(t, c, h))
	}
	dumpOnFailure(t, nodes)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				neigh, _ := n.h.Run("ip", "neigh", "show", "dev", "vxlan.calico")
				fdb, _ := n.h.Run("bridge", "fdb", "show", "dev", "vxlan.calico")
				link, _ := n.h.Run("ip", "-d", "link", "show", "vxlan.calico")
				t.Logf("==== %s vxlan.calico\n%s\n-- neigh\n%s\n-- fdb\n%s", n.h.Name, link, neigh, fdb)
			}
		}
	})
	for _, n := range nodes {
		if out, _ := n.h.Run("ip", "route"); strings.Contains(out, "default") {
			t.Fatalf("%s should have no default route:\n%s", n.h.Name, out)
		}
	}

	// Each node has a VXLAN tunnel address from the pool and a VTEP MAC.
	tunnel := map[string]string{}
	for _, n := range nodes {
		addr, mac := nodeField(t, c, n.h.Name, "ipv4VXLANTunnelAddr"), nodeField(t, c, n.h.Name, "vxlanTunnelMACAddr")
		if !strings.HasPrefix(addr, "10.203.") || mac == "" {
			t.Fatalf("node %s: ipv4VXLANTunnelAddr %q, vxlanTunnelMACAddr %q: want an address in 10.203.0.0/16 and a MAC", n.h.Name, addr, mac)
		}
		tunnel[n.h.Name] = addr
	}

	pa := addPod(t, c, nodes[0], "va")
	pa2 := addPod(t, c, nodes[0], "va2")
	pb := addPod(t, c, nodes[1], "vb")
	pc := addPod(t, c, nodes[2], "vc")
	pc.serve(t, 8080)
	took := waitUntil(t, 30*time.Second, "va pings vc across the router and connects to it", func() (bool, string) {
		return pa.canPing(pc.ip) && pc.canPing(pa.ip) && pa.canConnect(pc.ip, 8080), ""
	})
	t.Logf("va (%s on host1) reached vc (%s on host3, other subnet) %s after the pods were added", pa.ip, pc.ip, took.Round(time.Millisecond))
	for _, f := range []struct {
		from *pod
		to   string
		what string
	}{{pa, pb.ip, "vb (same subnet)"}, {pa, pa2.ip, "va2 (same host)"}, {pa, nodes[0].h.IP.String(), "its host"},
		{pc, nodes[2].h.IP.String(), "its host (host3)"}, {pb, pc.ip, "vc"}} {
		if !f.from.canPing(f.to) {
			t.Errorf("%s cannot ping %s %s", f.from.name, f.what, f.to)
		}
	}

	t.Run("the device, neighbours, FDB and routes are as Calico programs them", func(t *testing.T) {
		link, _ := nodes[0].h.Run("ip", "-d", "link", "show", "vxlan.calico")
		for _, want := range []string{"mtu 1450", "vxlan id 4096", "local " + nodes[0].h.IP.String(), "dstport 4789", "nolearning"} {
			if !strings.Contains(link, want) {
				t.Errorf("vxlan.calico on host1 lacks %q:\n%s", want, link)
			}
		}
		if addrs, _ := nodes[0].h.Run("ip", "-4", "addr", "show", "dev", "vxlan.calico"); !strings.Contains(addrs, tunnel["host1"]+"/32") {
			t.Errorf("vxlan.calico on host1 should hold %s/32:\n%s", tunnel["host1"], addrs)
		}
		mac3 := nodeField(t, c, "host3", "vxlanTunnelMACAddr")
		if neigh, _ := nodes[0].h.Run("ip", "neigh", "show", "dev", "vxlan.calico"); !strings.Contains(neigh, tunnel["host3"]+" lladdr "+mac3+" PERMANENT") {
			t.Errorf("host1 should have a permanent neighbour %s lladdr %s:\n%s", tunnel["host3"], mac3, neigh)
		}
		if fdb, _ := nodes[0].h.Run("bridge", "fdb", "show", "dev", "vxlan.calico"); !strings.Contains(fdb, mac3+" dst "+nodes[2].h.IP.String()) {
			t.Errorf("host1 should have an FDB entry %s dst %s:\n%s", mac3, nodes[2].h.IP, fdb)
		}
		if r := routeTo(t, nodes[0], pc.ip); !strings.Contains(r, "via "+tunnel["host3"]+" dev vxlan.calico") || !strings.Contains(r, "onlink") {
			t.Errorf("host1's route to host3's block should go via host3's tunnel address on vxlan.calico, onlink: %q", r)
		}
		if out, _ := nodes[0].h.Run("ip", "route"); !strings.Contains(out, "blackhole 10.203.") {
			t.Errorf("host1 should have a blackhole for its own block:\n%s", out)
		}
		// The pod's interface MTU is the one felix computed for VXLAN: the host's 1500 less 50.
		if out, _ := pa.run("ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1450") {
			t.Errorf("the pod's eth0 should have MTU 1450 under VXLAN:\n%s", out)
		}
	})

	t.Run("the router sees only VXLAN between the host subnets", func(t *testing.T) {
		if n, out := capture(t, seg.Router, "udp port 4789", pa, pc.ip); n < 6 {
			t.Errorf("the router should see the pings as VXLAN (UDP 4789), saw %d packets:\n%s", n, out)
		}
		bare := fmt.Sprintf("host %s or host %s", pa.ip, pc.ip) // outer headers only
		if n, out := capture(t, seg.Router, bare, pa, pc.ip); n != 0 {
			t.Errorf("the router should never see pod addresses in outer headers, saw %d packets:\n%s", n, out)
		}
	})

	t.Run("CrossSubnet: direct inside the subnet, VXLAN across it", func(t *testing.T) {
		if out, err := calicoctl(t, c, c.Hosts[0], fmt.Sprintf(vxlanPool, "CrossSubnet"), "apply", "-f", "-"); err != nil {
			t.Fatalf("switching the pool to CrossSubnet: %v\n%s", err, out)
		}
		waitUntil(t, 20*time.Second, "host1 routes host2's block directly and host3's over VXLAN", func() (bool, string) {
			toB, toC := routeTo(t, nodes[0], pb.ip), routeTo(t, nodes[0], pc.ip)
			return strings.Contains(toB, "via "+nodes[1].h.IP.String()+" dev eth0") && !strings.Contains(toB, "vxlan") &&
				strings.Contains(toC, "via "+tunnel["host3"]+" dev vxlan.calico"), toB + "\n" + toC
		})
		if !pa.canPing(pb.ip) || !pa.canPing(pc.ip) || !pb.canPing(pc.ip) {
			t.Errorf("pods should still reach each other under CrossSubnet")
		}
	})

	t.Run("a felix restart loses no packet", func(t *testing.T) {
		lost, sent, out := lossDuring(t, pa, pc.ip, func() {
			harness.Stop(nodes[0].felix)
			nodes[0].startFelix(t)
			waitUntil(t, 20*time.Second, "the new felix is in sync", func() (bool, string) {
				log := tail(filepath.Join(nodes[0].h.Dir, "felix.log"))
				return strings.Contains(log, "In sync with the datastore"), log
			})
			time.Sleep(time.Second) // its first apply
		})
		if lost != 0 {
			t.Errorf("lost %d of %d pings across a felix restart:\n%s", lost, sent, out)
		}
		log, _ := os.ReadFile(filepath.Join(nodes[0].h.Dir, "felix.log"))
		since := string(log[max(0, strings.LastIndex(string(log), "Starting felix")):])
		if !strings.Contains(since, "Starting felix") || strings.Contains(since, "VXLAN device changed") {
			t.Errorf("the restarted felix should adopt vxlan.calico as it is, not change it:\n%s", since)
		}
	})

	t.Run("a removed node's VTEP and routes go", func(t *testing.T) {
		mac3 := nodeField(t, c, "host3", "vxlanTunnelMACAddr")
		nodes[2].stop()
		if out, err := calicoctl(t, c, c.Hosts[0], "", "delete", "node", "host3"); err != nil {
			t.Fatalf("deleting node host3: %v\n%s", err, out)
		}
		waitUntil(t, 20*time.Second, "host1 forgets host3's VTEP and block", func() (bool, string) {
			neigh, _ := nodes[0].h.Run("ip", "neigh", "show", "dev", "vxlan.calico")
			fdb, _ := nodes[0].h.Run("bridge", "fdb", "show", "dev", "vxlan.calico")
			r := routeTo(t, nodes[0], pc.ip)
			return !strings.Contains(neigh, tunnel["host3"]) && !strings.Contains(fdb, mac3) && !strings.Contains(r, "vxlan"),
				neigh + "\n" + fdb + "\n" + r
		})
		if !pa.canPing(pb.ip) {
			t.Errorf("va should still reach vb")
		}
	})
}
