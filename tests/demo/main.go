// Command demo runs a whole cluster on this machine, as `make demo` shows it: etcd, three hosts (network
// namespaces on a shared link), each running calico-node under runit (startup, then confd, BIRD and felix
// supervised by runsvdir), a pool, two pods per host added with cnitool, and then BGP sessions, routes, a ping and
// a traceroute across hosts, and a profile that isolates the pods. The cluster is left running; everything it
// made is recorded so that `make demo-clean` (demo clean) removes it, even after a crash.
//
//	go run ./tests/demo up      # make demo
//	go run ./tests/demo clean   # make demo-clean
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// defaultStatePath says which cluster the demo made, for `demo clean` and for a second `demo up`.
const defaultStatePath = "/run/calico-l3-demo.json"

func main() {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	statePath := fs.String("state", defaultStatePath, "where the running demo is described")
	hosts := fs.Int("hosts", 3, "how many hosts (up)")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./tests/demo [-state FILE] [-hosts N] up|clean\n")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: run as root (it creates network namespaces and runs BIRD): sudo make demo")
		os.Exit(1)
	}
	switch fs.Arg(0) {
	case "up":
		cfg, err := defaultConfig(*statePath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		if *hosts < 2 {
			fmt.Fprintln(os.Stderr, "demo: -hosts must be at least 2 (pods on different hosts ping each other)")
			os.Exit(2)
		}
		cfg.Hosts = *hosts
		if _, err := up(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
			os.Exit(1)
		}
	case "clean":
		if err := clean(*statePath, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "demo clean:", err)
			os.Exit(1)
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
}

// defaultConfig finds the repository (from the working directory up), its bin/ and cnitool.
func defaultConfig(statePath string) (config, error) {
	cfg := config{StatePath: statePath, Hosts: 3, PodsPerHost: 2, Out: os.Stdout, Bound: 90 * time.Second}
	dir, err := os.Getwd()
	if err != nil {
		return cfg, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "runit", "start_runit")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return cfg, fmt.Errorf("run from inside the repository (no runit/start_runit above %s)", dir)
		}
		dir = parent
	}
	cfg.RepoRoot = dir
	cfg.BinDir = filepath.Join(dir, "bin")
	for _, b := range []string{"calico-node", "calicoctl", "birdcl", "calico"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			return cfg, fmt.Errorf("%s is missing: run `make build` (make demo does)", filepath.Join(cfg.BinDir, b))
		}
	}
	if cfg.CNITool, err = findCNITool(); err != nil {
		return cfg, err
	}
	for _, b := range []string{"etcd", "bird", "runsvdir", "sv", "svlogd", "iptables-restore", "ipset", "traceroute"} {
		if _, err := exec.LookPath(b); err != nil {
			return cfg, fmt.Errorf("%s is not installed: run tests/install-deps.sh (make demo does)", b)
		}
	}
	return cfg, nil
}

// findCNITool looks in PATH, then in GOPATH/bin where tests/install-deps.sh puts it.
func findCNITool() (string, error) {
	if p, err := exec.LookPath("cnitool"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range []string{gopath, filepath.Join(os.Getenv("HOME"), "go")} {
		p := filepath.Join(dir, "bin", "cnitool")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("cnitool is not installed: run tests/install-deps.sh (make demo does)")
}
