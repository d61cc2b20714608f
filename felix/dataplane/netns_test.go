package dataplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// testNetns creates a network namespace for one test or benchmark and deletes it at cleanup, even when the test
// fails. Everything the dataplane under test writes (iptables, ipsets, routes, sysctls) lands in that namespace,
// never on the host. It skips in -short mode, without root, without the tools, and when ipsets are not private
// to a namespace (then the dataplane would see, and destroy, the host's cali sets).
func testNetns(tb testing.TB) (name, path string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs root and network namespaces; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-save", "iptables-restore", "ipset"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("needs %s: %v", tool, err)
		}
	}
	name = newNetns(tb)
	ipsetsOnce.Do(func() { ipsetsPrivate = checkIPSetsPrivate(name) })
	if ipsetsPrivate != nil {
		tb.Skipf("ipsets are not private to a network namespace on this kernel, so a test could touch the host's: %v", ipsetsPrivate)
	}
	return name, "/run/netns/" + name
}

func newNetns(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "felixtest-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		tb.Fatalf("creating network namespace %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("deleting network namespace %s: %v: %s", name, err, out)
		}
	})
	// Like any host, with loopback up (the kernel checks gateways of onlink routes against the local table).
	if out, err := exec.Command("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		tb.Fatalf("bringing up lo in %s: %v: %s", name, err, out)
	}
	return name
}

var (
	ipsetsOnce    sync.Once
	ipsetsPrivate error
)

// checkIPSetsPrivate creates a set inside the namespace and checks the host cannot see it.
func checkIPSetsPrivate(ns string) error {
	probe := "felixprobe-" + ns[len("felixtest-"):]
	if out, err := exec.Command("ip", "netns", "exec", ns, "ipset", "create", probe, "hash:ip").CombinedOutput(); err != nil {
		return fmt.Errorf("creating a probe set in the namespace: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "exec", ns, "ipset", "destroy", probe).Run()
	out, err := exec.Command("ipset", "list", "-n").CombinedOutput()
	if err != nil {
		return fmt.Errorf("listing the host's ipsets: %v: %s", err, out)
	}
	for _, l := range strings.Fields(string(out)) {
		if l == probe {
			exec.Command("ipset", "destroy", probe).Run()
			return fmt.Errorf("set %s created in namespace %s is visible on the host", probe, ns)
		}
	}
	return nil
}

// inNetns runs a command inside the namespace, failing the test when it fails.
func inNetns(tb testing.TB, ns string, args ...string) string {
	tb.Helper()
	out, err := tryInNetns(ns, args...)
	if err != nil {
		tb.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return out
}

func tryInNetns(ns string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(context.Background(), "ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// newTestDataplane opens a dataplane on the namespace and closes it at cleanup.
func newTestDataplane(tb testing.TB, nsPath string) *Dataplane {
	tb.Helper()
	d, err := openTestDataplane(tb, Config{NetnsPath: nsPath})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// openTestDataplane opens a dataplane with cfg, logging to the test's log, and closes it at cleanup.
func openTestDataplane(tb testing.TB, cfg Config) (*Dataplane, error) {
	tb.Helper()
	level := slog.LevelInfo
	if strings.HasPrefix(tb.Name(), "Benchmark") {
		level = slog.LevelWarn // benchmarks always print their log
	}
	cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: level}))
	d, err := New(cfg)
	if err == nil {
		tb.Cleanup(func() { d.Close() })
	}
	return d, err
}

// tbWriter sends log lines to the test's log, shown when it fails or with -v.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
