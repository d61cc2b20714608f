package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// Hosts whose only routes are their shared subnet (no IPv4 or IPv6 default route, as on an air-gapped rack): pods
// reach each other on one host and across hosts, and their own host, in both families, with nothing added by the
// user. The pod's gateway must not depend on the host routing 169.254.1.1 anywhere.
func TestPodsOnHostsWithoutDefaultRoutes(t *testing.T) {
	needRoot(t)
	for _, bin := range []string{"bird6", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (`make test` installs it)", bin)
		}
	}
	c, err := harness.New(harness.Options{Hosts: 2, NoDefaultRoute: true})
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
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, h := range c.Hosts {
		n := startNode(t, c, h, "IP6="+h.IP6().String())
		nodes = append(nodes, n)
		startBird6(t, n)
		n.startFelix(t)
	}
	dumpOnFailure(t, nodes)
	dumpIPv6OnFailure(t, c, nodes)
	for _, n := range nodes {
		for _, fam := range []string{"-4", "-6"} {
			if out, _ := n.h.Run("ip", fam, "route"); strings.Contains(out, "default") {
				t.Fatalf("%s should have no %s default route:\n%s", n.h.Name, fam, out)
			}
		}
	}

	a1, a1v6 := addDualStackPod(t, c, nodes[0], "nd-a1")
	a2, a2v6 := addDualStackPod(t, c, nodes[0], "nd-a2")
	b, bv6 := addDualStackPod(t, c, nodes[1], "nd-b")
	took := waitUntil(t, 60*time.Second, "pods on both hosts reach each other over IPv4 and IPv6", func() (bool, string) {
		return a1.canPing(b.ip) && b.canPing(a1.ip) && a1.canPing6(bv6) && b.canPing6(a1v6), ""
	})
	t.Logf("pods reached each other %s after they were added", took.Round(time.Millisecond))
	for _, f := range []struct {
		from *pod
		to   string
		v6   bool
		what string
	}{
		{a1, a2.ip, false, "the other pod on its host"},
		{a1, a2v6, true, "the other pod on its host"},
		{a2, a1.ip, false, "the other pod on its host"},
		{a1, c.Hosts[0].IP.String(), false, "its host"},
		{a1, c.Hosts[0].IP6().String(), true, "its host"},
		{b, c.Hosts[1].IP.String(), false, "its host"},
		{b, c.Hosts[1].IP6().String(), true, "its host"},
		{b, a2.ip, false, "a pod on the other host"},
	} {
		ok := f.from.canPing(f.to)
		if f.v6 {
			ok = f.from.canPing6(f.to)
		}
		if !ok {
			t.Errorf("%s cannot reach %s %s", f.from.name, f.what, f.to)
		}
	}
	// What the pod sees is Calico's: the /32 and a default route via 169.254.1.1.
	if out, _ := a1.run("ip", "-4", "route"); !strings.Contains(out, "default via 169.254.1.1 dev eth0") {
		t.Errorf("the pod's IPv4 routes should be Calico's:\n%s", out)
	}
}
