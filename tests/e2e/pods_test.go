package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

const network = "test-calico"

// startFelix runs calico-node -felix on a node's host.
func (n *node) startFelix(t testing.TB) {
	t.Helper()
	cmd, err := n.h.Start(n.env(), "felix", filepath.Join(binDir, "calico-node"), "-felix")
	if err != nil {
		t.Fatal(err)
	}
	n.felix = cmd
}

// pod is a workload: a namespace wired by the CNI plugin through cnitool.
type pod struct {
	name, netns, ip string
	on              *node
}

// addPod creates a namespace and runs `cnitool add` on the pod's host, as a container runtime would.
func addPod(t testing.TB, c *harness.Cluster, n *node, name string) *pod {
	t.Helper()
	cnitool := cnitoolPath(t)
	confDir := filepath.Join(n.h.Dir, "net.d")
	os.MkdirAll(confDir, 0o755)
	mtu := `"mtu":1500,`
	if n.autoMTU {
		mtu = ""
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"calico","etcd_endpoints":%q,"nodename":%q,%s
"nodename_file":%q,"log_file_path":%q,"ipam_lock_file":%q,"ipam":{"type":"calico-ipam"}}`, network, c.Etcd, n.h.Name, mtu,
		filepath.Join(n.h.Dir, "nodename"), filepath.Join(n.h.Dir, "cni.log"), filepath.Join(n.h.Dir, "ipam.lock"))
	os.WriteFile(filepath.Join(confDir, "10-calico.conf"), []byte(conf), 0o644)
	p := &pod{name: name, netns: "cl" + c.ID + "-" + name, on: n}
	if out, err := exec.Command("ip", "netns", "add", p.netns).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", p.netns).Run() })
	cmd := n.h.Command([]string{"CNI_PATH=" + binDir, "NETCONFPATH=" + confDir, "CNI_CACHE_DIR=" + filepath.Join(n.h.Dir, "cni-cache")},
		cnitool, "add", network, "/var/run/netns/"+p.netns)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cnitool add %s on %s: %v\n%s", name, n.h.Name, err, out)
	}
	p.ip = firstAddress(t, out)
	return p
}

// firstAddress is the first address of a CNI result, without its prefix length.
func firstAddress(t testing.TB, result []byte) string {
	t.Helper()
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(result, &res); err != nil || len(res.IPs) == 0 {
		t.Fatalf("cnitool result: %v\n%s", err, result)
	}
	return strings.Split(res.IPs[0].Address, "/")[0]
}

func (p *pod) run(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", p.netns}, args...)...).CombinedOutput()
	return string(out), err
}

func (p *pod) canPing(ip string) bool {
	_, err := p.run("ping", "-c1", "-W1", ip)
	return err == nil
}

// serve starts a TCP server on port inside the pod (the test binary itself, re-executed).
func (p *pod) serve(t *testing.T, port int) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", p.netns, os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2E_TCP_SERVE=0.0.0.0:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// canConnect says whether a TCP connection from the pod to ip:port gets the server's answer.
func (p *pod) canConnect(ip string, port int) bool {
	cmd := exec.Command("ip", "netns", "exec", p.netns, os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2E_TCP_CONNECT=%s:%d", ip, port))
	return cmd.Run() == nil
}

// startCluster creates hosts that each run startup, confd, BIRD and felix, with a pool, and returns them once
// BGP is up. extraEnv is added to every daemon's environment (e.g. FELIX_* settings).
func startCluster(t testing.TB, hosts int, poolYAML string, extraEnv ...string) (*harness.Cluster, []*node) {
	t.Helper()
	needRoot(t)
	c, err := harness.New(harness.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if out, err := calicoctl(t, c, c.Hosts[0], poolYAML, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, h := range c.Hosts {
		n := startNode(t, c, h, extraEnv...)
		n.startFelix(t)
		nodes = append(nodes, n)
	}
	dumpOnFailure(t, nodes)
	waitUntil(t, 60*time.Second, "BGP sessions are Established", func() (bool, string) {
		for _, n := range nodes {
			out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			if strings.Count(out, "Established") != hosts-1 {
				return false, out
			}
		}
		return true, ""
	})
	return c, nodes
}

func TestPodsOnDifferentHostsReachEachOtherOverRoutedL3(t *testing.T) {
	needRoot(t)
	c, err := harness.New(harness.Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if out, err := calicoctl(t, c, c.Hosts[0], `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.201.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*node
	for _, h := range c.Hosts {
		n := startNode(t, c, h)
		n.startFelix(t)
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	dumpOnFailure(t, nodes)
	// Every harness host has a default route (via the external router); real hosts may have none. host2 here
	// has none, so its pod must reach its gateway without the host routing 169.254.1.1 anywhere.
	if out, err := nodes[1].h.Run("ip", "route", "del", "default"); err != nil {
		t.Fatalf("removing host2's default route: %v\n%s", err, out)
	}
	a := addPod(t, c, nodes[0], "pa")
	b := addPod(t, c, nodes[1], "pb")

	// Host 1: a blackhole for its block, a /32 to the pod's cali interface; host 2 learns host 1's block by BGP.
	waitUntil(t, 30*time.Second, "host1 has its block blackhole and the pod route", func() (bool, string) {
		out, _ := nodes[0].h.Run("ip", "route")
		return strings.Contains(out, "blackhole 10.201.") && strings.Contains(out, a.ip+" dev cali"), out
	})
	waitUntil(t, 60*time.Second, "host2 routes host1's block via host1", func() (bool, string) {
		out, _ := nodes[1].h.Run("ip", "route")
		return strings.Contains(out, "via "+nodes[0].h.IP.String()+" dev eth0 proto bird"), out
	})

	took := waitUntil(t, 30*time.Second, "pa pings pb across hosts", func() (bool, string) {
		out, err := a.run("ping", "-c1", "-W1", b.ip)
		return err == nil, out
	})
	t.Logf("pa (%s on host1) reached pb (%s on host2, no default route) %s after both were added", a.ip, b.ip, took.Round(time.Millisecond))
	if out, err := b.run("ping", "-c1", "-W1", nodes[1].h.IP.String()); err != nil {
		t.Errorf("pb cannot reach its own host, which has no default route: %v\n%s", err, out)
	}
	if out, err := a.run("traceroute", "-n", "-w1", "-q1", b.ip); err != nil || !strings.Contains(out, nodes[0].h.IP.String()) ||
		!strings.Contains(out, nodes[1].h.IP.String()) || !strings.Contains(out, b.ip) {
		t.Errorf("traceroute should show host1, host2 and the pod: %v\n%s", err, out)
	}

	// Isolate: the network's profile now allows nothing in; the ping must fail.
	if out, err := calicoctl(t, c, c.Hosts[0], `apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: test-calico}
spec:
  ingress: [{action: Deny}]
  egress: [{action: Allow}]
  labelsToApply: {test-calico: ""}
`, "apply", "-f", "-"); err != nil {
		t.Fatalf("isolating profile: %v\n%s", err, out)
	}
	waitUntil(t, 10*time.Second, "the isolating profile stops the ping", func() (bool, string) {
		return !a.canPing(b.ip), ""
	})
}

// cnitoolPath finds the real CNI client, installed by tests/install-deps.sh.
func cnitoolPath(t testing.TB) string {
	if p, err := exec.LookPath("cnitool"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "cnitool")
	if _, err := os.Stat(p); err != nil {
		t.Skip("cnitool is not installed (`make test` installs it)")
	}
	return p
}
