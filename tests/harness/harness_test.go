package harness

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestAClusterConnectsItsHostsAndCleansUpAfterItself(t *testing.T) {
	if testing.Short() || os.Getuid() != 0 {
		t.Skip("needs root to create network namespaces; skipped with -short")
	}
	c, err := New(Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h1, h2 := c.Hosts[0], c.Hosts[1]
	if out, err := h1.Run("ping", "-c1", "-W2", h2.IP.String()); err != nil {
		t.Fatalf("host1 cannot reach host2: %v\n%s", err, out)
	}
	if out, err := h2.Run("etcdctl", "--endpoints", c.Etcd, "put", "/probe", "x"); err != nil {
		t.Fatalf("host2 cannot reach etcd at %s: %v\n%s", c.Etcd, err, out)
	}
	ns := []string{c.Fabric, h1.NetNS, h2.NetNS}
	c.Close()
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, n := range ns {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left behind", c.Dir)
	}
	if err := exec.Command("ip", "link", "show", c.rootLink).Run(); err == nil {
		t.Errorf("link %s left behind", c.rootLink)
	}
}

func TestASegmentIsReachableOnlyThroughItsRouter(t *testing.T) {
	if testing.Short() || os.Getuid() != 0 {
		t.Skip("needs root to create network namespaces; skipped with -short")
	}
	c, err := New(Options{Hosts: 1, NoDefaultRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	seg, err := c.AddSegment()
	if err != nil {
		t.Fatal(err)
	}
	far, err := c.AddHostOn(seg, "far")
	if err != nil {
		t.Fatal(err)
	}
	h1 := c.Hosts[0]
	if !seg.Subnet.Contains(far.IP) || c.Subnet.Contains(far.IP) {
		t.Fatalf("far (%s) should be on the segment %s, not on %s", far.IP, seg.Subnet, c.Subnet)
	}
	for _, h := range []*Host{h1, far} {
		if out, _ := h.Run("ip", "route"); strings.Contains(out, "default") {
			t.Errorf("%s should have no default route:\n%s", h.Name, out)
		}
	}
	if out, err := h1.Run("traceroute", "-n", "-w1", "-q1", far.IP.String()); err != nil || !strings.Contains(out, seg.Router.IP.String()) {
		t.Errorf("host1 should reach far through the router %s: %v\n%s", seg.Router.IP, err, out)
	}
	if out, err := far.Run("ping", "-c1", "-W2", c.RootIP.String()); err != nil {
		t.Errorf("far should reach the root namespace (etcd) through the router: %v\n%s", err, out)
	}
	if out, _ := seg.Router.Run("ip", "route"); strings.Contains(out, "default") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Errorf("the router should know only the two subnets:\n%s", out)
	}
}
