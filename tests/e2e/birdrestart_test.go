package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// TestBIRDRestartedForStaleInterfacesKeepsTrafficFlowing runs calico-node under runit on two hosts, host1 with
// BIRD_STALE_INTERFACE_LIMIT=5, and churns five pods on host1 while a pod on host2 pings a pod on host1 every 10ms.
// The fifth deleted cali interface makes confd SIGKILL host1's BIRD and BIRD6, and runit starts them again with -R.
// Graceful restart must hide that from the traffic: no ping is lost, host2 keeps its route to host1's block
// throughout, the mesh is Established again afterwards and a pod added after the restart is reachable from host2.
func TestBIRDRestartedForStaleInterfacesKeepsTrafficFlowing(t *testing.T) {
	needRoot(t)
	const limit = 5
	cnitool := cnitoolPath(t)
	c, err := harness.New(harness.Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	t.Cleanup(func() { c.StopServices(10 * time.Second) }) // runs before Close: nothing restarts while it kills
	if out, err := calicoctl(t, c, c.Hosts[0], `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.207.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*harness.Node
	for i, h := range c.Hosts {
		var env []string
		if i == 0 {
			env = []string{fmt.Sprintf("BIRD_STALE_INTERFACE_LIMIT=%d", limit)}
		}
		n, err := h.StartNode(harness.NodeOptions{BinDir: binDir, RepoRoot: repoRoot, Env: env})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	h1, h2 := nodes[0], nodes[1]
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				for _, s := range []string{"confd", "bird"} {
					t.Logf("%s %s log:\n%s", n.Host.Name, s, n.ServiceLog(s))
				}
			}
		}
	})
	for _, n := range nodes {
		if err := n.WaitRunning(60*time.Second, harness.Services...); err != nil {
			t.Fatal(err)
		}
	}
	established := func() (bool, string) {
		var all strings.Builder
		ok := true
		for _, n := range nodes {
			out, _ := calicoctl(t, c, n.Host, "", "node", "status", "--bird-socket-dir", n.RunDir)
			all.WriteString(n.Host.Name + ":\n" + out)
			ok = ok && strings.Count(out, "Established") == 1
		}
		return ok, all.String()
	}
	waitUntil(t, 60*time.Second, "the mesh is Established", established)

	opts := harness.PodOptions{Network: network, CNITool: cnitool, BinDir: binDir}
	target, err := h1.Host.AddPod("target", opts)
	if err != nil {
		t.Fatal(err)
	}
	prober, err := h2.Host.AddPod("prober", opts)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "the pod on host2 pings the pod on host1", func() (bool, string) {
		out, err := prober.Run("ping", "-c1", "-W1", target.IP)
		return err == nil, out
	})
	// host2's route to host1's block, as BGP taught it.
	viaH1 := regexp.MustCompile(`(?m)^10\.207\.\S+ via ` + regexp.QuoteMeta(h1.Host.IP.String()) + ` .*proto bird`)
	if out, _ := h2.Host.Run("ip", "route"); !viaH1.MatchString(out) {
		t.Fatalf("host2 has no BGP route via host1:\n%s", out)
	}

	_, birdBefore := h1.ServiceState("bird")
	_, bird6Before := h1.ServiceState("bird6")
	ping := exec.Command("ip", "netns", "exec", prober.NetNS, "ping", "-i", "0.01", "-W", "1", target.IP)
	var pingOut strings.Builder
	ping.Stdout = &pingOut
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ping.Process.Kill() })
	routes := watchBIRDRoute(h2.Host, viaH1)

	for i := 0; i < limit; i++ {
		p, err := h1.Host.AddPod(fmt.Sprintf("churn%d", i), opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Delete(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 30*time.Second, "runit runs new BIRD and BIRD6 processes on host1", func() (bool, string) {
		st, pid := h1.ServiceState("bird")
		st6, pid6 := h1.ServiceState("bird6")
		return st == "run" && pid != birdBefore && birdAlive(pid) && st6 == "run" && pid6 != bird6Before && birdAlive(pid6),
			fmt.Sprintf("bird %s pid %d (was %d), bird6 %s pid %d (was %d)", st, pid, birdBefore, st6, pid6, bird6Before)
	})
	if log := h1.ServiceLog("confd"); !strings.Contains(log, "Restarting BIRD: too many deleted interfaces") ||
		!strings.Contains(log, fmt.Sprintf("deleted=%d", limit)) {
		t.Errorf("confd logged no restart line with deleted=%d:\n%s", limit, log)
	}
	took := waitUntil(t, 60*time.Second, "the mesh is Established again", established)
	t.Logf("mesh Established again %s after the new BIRD ran", took.Round(time.Millisecond))
	time.Sleep(3 * time.Second) // traffic keeps flowing after the restarted BIRD has re-sent its routes

	ping.Process.Signal(syscall.SIGINT)
	ping.Wait()
	missing, polls := routes.stop()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pingOut.String())
	if m == nil {
		t.Fatalf("no ping summary:\n%s", pingOut.String())
	}
	var sent, got int
	fmt.Sscan(m[1], &sent)
	fmt.Sscan(m[2], &got)
	t.Logf("ping every 10ms across the restart: %d sent, %d received; host2's route checked %d times", sent, got, polls)
	if sent < 100 || got != sent {
		t.Errorf("the ping from host2's pod to host1's pod lost %d of %d packets across BIRD's restart", sent-got, sent)
	}
	if len(missing) > 0 {
		t.Errorf("host2 lost its route via host1 during BIRD's restart (%d of %d checks), e.g.:\n%s",
			len(missing), polls, missing[0])
	}

	late, err := h1.Host.AddPod("late", opts)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "a pod added on host1 after the restart is reachable from host2", func() (bool, string) {
		out, err := prober.Run("ping", "-c1", "-W1", late.IP)
		return err == nil, out
	})
}

// birdAlive says whether pid runs bird or bird6 (not the run script still waiting for its configuration).
func birdAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	name := strings.TrimSpace(string(b))
	return err == nil && (name == "bird" || name == "bird6")
}

// birdRouteWatch checks a host's routing table every 50ms for a route.
type birdRouteWatch struct {
	done    chan struct{}
	wg      sync.WaitGroup
	missing []string // the tables that lacked the route
	polls   int
}

func watchBIRDRoute(h *harness.Host, want *regexp.Regexp) *birdRouteWatch {
	w := &birdRouteWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			out, err := h.Run("ip", "route")
			w.polls++
			if err != nil || !want.MatchString(out) {
				w.missing = append(w.missing, fmt.Sprintf("%v\n%s", err, out))
			}
		}
	}()
	return w
}

// stop ends the watch and returns what it saw.
func (w *birdRouteWatch) stop() (missing []string, polls int) {
	close(w.done)
	w.wg.Wait()
	return w.missing, w.polls
}
