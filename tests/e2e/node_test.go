package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// node is one host running calico-node's startup and confd, and BIRD.
type node struct {
	// autoMTU leaves "mtu" out of the CNI config its pods get, so the plugin takes the MTU felix computed.
	autoMTU      bool
	extraEnv     []string
	h            *harness.Host
	c            *harness.Cluster
	confd, birdP *exec.Cmd
	felix        *exec.Cmd
}

func (n *node) env() []string {
	d := n.h.Dir
	return append([]string{
		"NODENAME=" + n.h.Name, "IP=" + n.h.IP.String(), "ETCD_ENDPOINTS=" + n.c.Etcd, "NO_DEFAULT_POOLS=true",
		"CALICO_NODENAME_FILE=" + filepath.Join(d, "nodename"), "CALICO_STATE_DIRS=" + filepath.Join(d, "state"),
		"CALICO_CONFD_DIR=" + repoRoot, "CALICO_CONFD_CONFIG_DIR=" + filepath.Join(d, "config"),
		"BIRD_CTL_SOCKET=" + filepath.Join(d, "bird.ctl"), "BIRD6_CTL_SOCKET=" + filepath.Join(d, "bird6.ctl"),
		"PATH=" + binDir + ":" + os.Getenv("PATH") + ":/usr/sbin:/sbin",
	}, n.extraEnv...)
}

// startNode runs startup, then confd and BIRD, on a host.
func startNode(t testing.TB, c *harness.Cluster, h *harness.Host, extraEnv ...string) *node {
	t.Helper()
	n := &node{h: h, c: c, extraEnv: extraEnv}
	out, err := h.Command(n.env(), filepath.Join(binDir, "calico-node"), "-startup").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Calico node started successfully") {
		t.Fatalf("startup on %s: %v\n%s", h.Name, err, out)
	}
	if n.confd, err = h.Start(n.env(), "confd", filepath.Join(binDir, "calico-node"), "-confd"); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(h.Dir, "config", "bird.cfg")
	waitUntil(t, 20*time.Second, "confd renders "+cfg, func() (bool, string) {
		_, err := os.Stat(cfg)
		return err == nil, tail(filepath.Join(h.Dir, "confd.log"))
	})
	// BIRD runs from the image's runit script, started again when it exits as runit would: confd's reload
	// restarts it when its listen port changes.
	if n.birdP, err = h.Start(n.env(), "bird", "/bin/sh", "-c",
		"while :; do /bin/sh "+filepath.Join(repoRoot, "runit", "bird", "run")+"; sleep 0.5; done"); err != nil {
		t.Fatal(err)
	}
	return n
}

// birdPid is the running BIRD's pid, from the pid file its run script gives it.
func (n *node) birdPid(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(n.h.Dir, "bird.pid"))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		tb.Fatalf("reading BIRD's pid file on %s: %v %v", n.h.Name, err, perr)
	}
	return pid
}

func (n *node) stop() {
	harness.Stop(n.felix)
	harness.Stop(n.confd)
	harness.Stop(n.birdP)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitUntil polls cond until it holds (see harness.WaitUntil).
var waitUntil = harness.WaitUntil

func calicoctl(t testing.TB, c *harness.Cluster, h *harness.Host, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := h.Command([]string{"ETCD_ENDPOINTS=" + c.Etcd}, filepath.Join(binDir, "calicoctl"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestThreeNodeMeshEstablishesAndExchangesBlockRoutes(t *testing.T) {
	needRoot(t)
	c, err := harness.New(harness.Options{Hosts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h1 := c.Hosts[0]
	if out, err := calicoctl(t, c, h1, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.200.0.0/16, natOutgoing: true}
---
# Peers keep a vanished node's routes for the graceful restart time (BIRD's default 120s); 3s keeps the test short.
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeMeshMaxRestartTime: 3s}
`, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*node
	for _, h := range c.Hosts {
		nodes = append(nodes, startNode(t, c, h))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})

	// Every node sees the two others Established in `calicoctl node status`.
	took := waitUntil(t, 60*time.Second, "all mesh sessions are Established", func() (bool, string) {
		var all strings.Builder
		for _, n := range nodes {
			out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			all.WriteString(n.h.Name + ":\n" + out)
			if strings.Count(out, "Established") != 2 || !strings.Contains(out, "node-to-node mesh") {
				return false, all.String()
			}
		}
		return true, all.String()
	})
	t.Logf("mesh of 3 Established %s after the last BIRD started", took.Round(time.Millisecond))

	// Each host holds a blackhole for its own block (what felix installs for an affine block); BIRD learns it from
	// the kernel and every other host installs a route to that block via the owner.
	for i, n := range nodes {
		block := fmt.Sprintf("10.200.%d.0/26", i+1)
		if out, err := n.h.Run("ip", "route", "add", "blackhole", block, "proto", "80"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	routesEverywhere := func(present bool, hosts []*node) {
		for i, owner := range nodes {
			block := fmt.Sprintf("10.200.%d.0/26", i+1)
			for _, n := range hosts {
				if n == owner {
					continue
				}
				want := fmt.Sprintf("%s via %s dev eth0 proto bird", block, owner.h.IP)
				waitUntil(t, 30*time.Second, fmt.Sprintf("%s has route %q (present=%t)", n.h.Name, want, present), func() (bool, string) {
					out, _ := n.h.Run("ip", "route", "show", block)
					return strings.Contains(out, want) == present, out
				})
			}
		}
	}
	routesEverywhere(true, nodes)

	// Kill host3's BIRD as a crash would: the others lose the session, keep its routes for the graceful restart
	// time, then withdraw them.
	block3 := "10.200.3.0/26"
	syscall.Kill(-nodes[2].birdP.Process.Pid, syscall.SIGKILL)
	took = waitUntil(t, 30*time.Second, "host1 and host2 withdraw the killed host's block", func() (bool, string) {
		var out string
		for _, n := range nodes[:2] {
			o, _ := n.h.Run("ip", "route", "show", block3)
			out += o
		}
		return strings.TrimSpace(out) == "", out
	})
	t.Logf("host3's block withdrawn everywhere %s after its BIRD was killed", took.Round(time.Millisecond))

	// Remove host3 for good: stop its daemons and delete its Node; the others drop the peering from their config.
	nodes[2].stop()
	if out, err := calicoctl(t, c, h1, "", "delete", "node", "host3"); err != nil {
		t.Fatalf("deleting node host3: %v\n%s", err, out)
	}
	for _, n := range nodes[:2] {
		waitUntil(t, 30*time.Second, n.h.Name+" withdrew host3's block", func() (bool, string) {
			out, _ := n.h.Run("ip", "route", "show", block3)
			return strings.TrimSpace(out) == "", out
		})
		waitUntil(t, 30*time.Second, n.h.Name+" no longer peers with host3", func() (bool, string) {
			out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			return !strings.Contains(out, nodes[2].h.IP.String()) && strings.Count(out, "Established") == 1, out
		})
	}
}

// dumpOnFailure logs each host's routes, felix-owned iptables and daemon logs when the test fails, so a red run
// explains itself.
func dumpOnFailure(t testing.TB, nodes []*node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes {
			routes, _ := n.h.Run("ip", "route")
			ipt, _ := n.h.Run("iptables-save")
			sets, _ := n.h.Run("ipset", "list", "-t")
			links, _ := n.h.Run("ip", "-br", "link")
			t.Logf("==== %s (%s)\n-- routes\n%s\n-- links\n%s\n-- iptables\n%s\n-- ipsets\n%s\n-- felix log\n%s\n-- confd log\n%s",
				n.h.Name, n.h.IP, routes, links, ipt, sets, tail(filepath.Join(n.h.Dir, "felix.log")), tail(filepath.Join(n.h.Dir, "confd.log")))
		}
	})
}
