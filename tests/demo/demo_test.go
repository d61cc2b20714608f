package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// demoConfig builds this tree's binaries into a temporary directory and describes a demo whose state file is
// private to the test, so a demo the user left running is never touched.
func demoConfig(t *testing.T) (config, *bytes.Buffer) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: creates network namespaces and runs BIRD, felix and runit")
	}
	for _, bin := range []string{"etcd", "bird", "runsvdir", "sv", "svlogd", "iptables-restore", "ipset", "traceroute"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (`make test` installs it)", bin)
		}
	}
	cnitool, err := findCNITool()
	if err != nil {
		t.Skip(err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the binaries: %v\n%s", err, out)
	}
	out := &bytes.Buffer{}
	return config{RepoRoot: root, BinDir: bin, CNITool: cnitool, StatePath: filepath.Join(t.TempDir(), "demo.json"),
		Hosts: 3, PodsPerHost: 2, Out: out, Bound: 60 * time.Second}, out
}

func TestTheDemoComesUpUnderRunitAndLeavesNothingBehindWhenCleaned(t *testing.T) {
	cfg, out := demoConfig(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", out)
		}
		_ = clean(cfg.StatePath, out) // after a failure; a no-op once the test has cleaned
	})
	began := time.Now()
	d, err := up(cfg)
	if err != nil {
		t.Fatalf("demo up: %v", err)
	}
	t.Logf("demo up in %s", time.Since(began).Round(100*time.Millisecond))
	for _, want := range []string{"Established", "proto bird", "blackhole", " 0% packet loss", "100% packet loss", "make demo-clean"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output should show %q", want)
		}
	}
	st, err := readState(cfg.StatePath)
	if err != nil {
		t.Fatalf("demo up should leave its state for demo clean: %v", err)
	}
	if len(st.Hosts) != 3 || len(st.Pods) != 6 {
		t.Errorf("the state should list 3 hosts and 6 pods, got %d and %d", len(st.Hosts), len(st.Pods))
	}

	t.Run("runit starts a killed felix again", func(t *testing.T) {
		n := d.nodes[1]
		_, old := n.ServiceState("felix")
		if old == 0 {
			t.Fatalf("felix on %s has no pid", n.Host.Name)
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			state, pid := n.ServiceState("felix")
			if state == "run" && pid != old && harness.Alive(pid) {
				t.Logf("felix restarted: pid %d → %d", old, pid)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("felix was not restarted within 10s (state %q, pid %d, killed %d)", state, pid, old)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("SIGTERM to start_runit stops every daemon, BIRD closing its sessions", func(t *testing.T) {
		n := d.nodes[2]
		var pids []int
		for _, s := range harness.Services {
			if _, pid := n.ServiceState(s); pid != 0 {
				pids = append(pids, pid)
			}
		}
		if len(pids) != len(harness.Services) {
			t.Fatalf("expected a pid for each of %v, got %v", harness.Services, pids)
		}
		if err := n.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			if harness.Alive(pid) {
				t.Errorf("process %d is still running after start_runit exited", pid)
			}
		}
		if left, _ := exec.Command("ip", "netns", "pids", n.Host.NetNS).Output(); len(bytes.TrimSpace(left)) != 0 {
			t.Errorf("processes left in %s: %s", n.Host.NetNS, left)
		}
		// A BIRD stopped with SIGTERM sends its peers a Cease; one killed outright would just go silent.
		peer := n.Host.IP.String()
		var status string
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, _ = d.nodeStatus(d.nodes[0])
			if strings.Contains(peerStates(status)[peer], "Administrative shutdown") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host1 should see %s's BIRD shut down administratively within 10s:\n%s", peer, status)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	if err := clean(cfg.StatePath, out); err != nil {
		t.Fatalf("demo clean: %v", err)
	}
	if left := leftovers(st); len(left) > 0 {
		t.Errorf("left behind after demo clean: %v", left)
	}
	list, _ := exec.Command("ip", "netns", "list").Output()
	for _, ns := range append(hostAndPodNamespaces(st), "cl"+st.ClusterID+"-fab", "cl"+st.ClusterID+"-ext") {
		if strings.Contains(string(list), ns) {
			t.Errorf("namespace %s is still listed by ip netns list", ns)
		}
	}
	if _, err := os.Stat(cfg.StatePath); !os.IsNotExist(err) {
		t.Errorf("demo clean should remove its state file %s", cfg.StatePath)
	}
}

func hostAndPodNamespaces(st state) []string {
	var ns []string
	for _, h := range st.Hosts {
		ns = append(ns, h.NetNS)
	}
	for _, p := range st.Pods {
		ns = append(ns, p.NetNS)
	}
	return ns
}
