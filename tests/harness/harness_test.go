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
