package birdrestart

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(nil), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if c.Limit != DefaultLimit || strings.Join(c.Prefixes, ",") != "cali" ||
		c.Daemons[0].PidFile != "/var/run/calico/bird.pid" || c.Daemons[1].PidFile != "/var/run/calico/bird6.pid" ||
		c.Daemons[1].Name != "bird6" {
		t.Errorf("defaults: got %+v", c)
	}
	c, err = ConfigFromEnv(env(map[string]string{"BIRD_STALE_INTERFACE_LIMIT": "0",
		"FELIX_INTERFACEPREFIX": "tap, cali", "CALICO_RUN_DIR": "/x", "BIRD_CTL_SOCKET": "/y/b.ctl"}), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if c.Limit != 0 || strings.Join(c.Prefixes, ",") != "tap,cali" || c.Daemons[0].PidFile != "/y/b.pid" ||
		c.Daemons[1].PidFile != "/x/bird6.pid" {
		t.Errorf("from the environment: got %+v", c)
	}
	for _, bad := range []string{"-1", "many"} {
		if _, err := ConfigFromEnv(env(map[string]string{"BIRD_STALE_INTERFACE_LIMIT": bad}), slog.Default()); err == nil {
			t.Errorf("BIRD_STALE_INTERFACE_LIMIT=%s: no error", bad)
		}
	}
}

// fakeBIRD runs sleep under the name bird, as runit would run BIRD, with its pid in a runit-like pid file.
func fakeBIRD(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin", "bird")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pidFile := filepath.Join(dir, "bird", "supervise", "pid")
	os.MkdirAll(filepath.Dir(pidFile), 0o755)
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd, pidFile
}

func TestPidOfAcceptsOnlyTheNamedProgram(t *testing.T) {
	dir := t.TempDir()
	cmd, pidFile := fakeBIRD(t, dir)
	if got := pidOf(pidFile, "bird"); got != cmd.Process.Pid {
		t.Errorf("pidOf(bird) = %d, want %d", got, cmd.Process.Pid)
	}
	if got := pidOf(pidFile, "bird6"); got != 0 {
		t.Errorf("pidOf(bird6) of a bird process = %d, want 0", got)
	}
	if got := pidOf(filepath.Join(dir, "missing"), "bird"); got != 0 {
		t.Errorf("pidOf of a missing pid file = %d, want 0", got)
	}
}

// TestRunKillsBIRDAfterTheLimitOfDeletedWorkloadInterfaces runs the watcher in a network namespace of its own,
// creates and deletes veths there, and checks that the process runit says is BIRD gets SIGKILL once,
// and only once, as many workload interfaces as the limit were deleted; others do not count.
func TestRunKillsBIRDAfterTheLimitOfDeletedWorkloadInterfaces(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	dir := t.TempDir()
	bird, pidFile := fakeBIRD(t, dir)
	exited := make(chan error, 1)
	go func() { exited <- bird.Wait() }()

	runtime.LockOSThread() // never unlocked: the thread is in the test's namespace and is dropped when the test ends
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	var logs bytes.Buffer
	c := Config{Limit: 3, Prefixes: []string{"cali"}, Daemons: []Daemon{{Name: "bird", PidFile: pidFile}},
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Interfaces are made from here while Run, on the locked thread, listens in the namespace.
		time.Sleep(300 * time.Millisecond) // let Run subscribe
		churn := func(name string) error {
			if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "peer-" + name}); err != nil {
				return fmt.Errorf("adding %s: %w", name, err)
			}
			l, err := h.LinkByName(name)
			if err != nil {
				return err
			}
			return h.LinkDel(l)
		}
		for _, name := range []string{"other1", "other2", "other3", "cali1", "cali1", "cali2"} {
			if err := churn(name); err != nil {
				done <- err
				return
			}
		}
		select {
		case <-exited:
			done <- fmt.Errorf("BIRD was killed after 2 distinct workload interfaces, limit 3")
			return
		case <-time.After(time.Second):
		}
		if err := churn("cali3"); err != nil {
			done <- err
			return
		}
		select {
		case <-exited:
			done <- nil
		case <-time.After(5 * time.Second):
			done <- fmt.Errorf("BIRD still runs 5s after the third workload interface was deleted")
		}
	}()
	go func() { err := <-done; cancel(); done <- err }()
	if err := Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("%v; log:\n%s", err, logs.String())
	}
	if bird.ProcessState == nil || bird.ProcessState.String() != "signal: killed" {
		t.Errorf("BIRD ended with %v, want SIGKILL", bird.ProcessState)
	}
	if n := strings.Count(logs.String(), "Restarting BIRD: too many"); n != 1 || !strings.Contains(logs.String(), "deleted=3") {
		t.Errorf("want one restart line with deleted=3; log:\n%s", logs.String())
	}
}
