package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// state describes a running demo; it outlives `demo up` so that `demo clean` finds what to remove.
type state struct {
	ClusterID string
	Record    string // the harness's record of everything the cluster made
	Dir       string // the cluster's files
	Etcd      string
	RepoRoot  string
	BinDir    string
	Hosts     []hostState
	Pods      []podState
}

type hostState struct {
	Name, NetNS, IP, Dir string
	Wrapper              int // start_runit's pid
}

type podState struct{ Name, NetNS, IP, Host string }

func readState(path string) (state, error) {
	var st state
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading %s: %w", path, err)
	}
	return st, nil
}

func (d *demo) save() error {
	b, err := json.MarshalIndent(d.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.cfg.StatePath), 0o755); err != nil {
		return err
	}
	return os.WriteFile(d.cfg.StatePath, b, 0o644)
}

// clean stops every node through runit, then removes everything the demo's cluster recorded (processes,
// namespaces of hosts and pods, links, files), and checks that nothing is left.
func clean(statePath string, out io.Writer) error {
	st, err := readState(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(out, "no demo is running (no "+statePath+")")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "stopping the demo's nodes (cluster %s)\n", st.ClusterID)
	harness.StopRecordedServices(st.Record, 5*time.Second)
	fmt.Fprintln(out, "removing its processes, namespaces, links and files")
	if err := harness.RemoveRecorded(st.Record); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing cluster %s: %w", st.ClusterID, err)
	}
	if left := leftovers(st); len(left) > 0 {
		return fmt.Errorf("left behind after cleaning:\n  %s", strings.Join(left, "\n  "))
	}
	if err := os.Remove(statePath); err != nil {
		return err
	}
	fmt.Fprintln(out, "demo removed")
	return nil
}

// leftovers lists what of a demo still exists: its namespaces, its files, and any process whose command line or
// environment names its directory (every daemon of a node carries the node's paths in its environment).
func leftovers(st state) []string {
	var left []string
	prefix := "cl" + st.ClusterID + "-"
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			left = append(left, "namespace "+f[0])
		}
	}
	if st.Dir != "" {
		if _, err := os.Stat(st.Dir); err == nil {
			left = append(left, "directory "+st.Dir)
		}
		for _, pid := range processesMentioning(st.Dir) {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			left = append(left, fmt.Sprintf("process %d (%s)", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")))
		}
	}
	if _, err := os.Stat(st.Record); err == nil {
		left = append(left, "record "+st.Record)
	}
	return left
}

// processesMentioning lists live processes (not this one) whose command line or environment contains s.
func processesMentioning(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !harness.Alive(pid) {
			continue
		}
		for _, f := range []string{"cmdline", "environ"} {
			b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), f))
			if strings.Contains(string(b), s) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
