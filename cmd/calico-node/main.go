// Command calico-node is the node agent: one binary whose flag chooses the component to run
// (-startup once before the daemons, -confd, -felix, -allocate-tunnel-addrs), as runit starts them in the
// calico/node image, or -install-cni, the install-cni container of the calico-node DaemonSet on Kubernetes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/installcni"
	"github.com/calico-l3/calico/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// modes are the components; exactly one is chosen per run.
var modes = []string{"startup", "confd", "felix", "allocate-tunnel-addrs", "allocate-tunnel-addrs-run-once", "install-cni", "v"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("calico-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	chosen := map[string]*bool{}
	chosen["startup"] = fs.Bool("startup", false, "register this node and create the cluster defaults, then exit")
	chosen["confd"] = fs.Bool("confd", false, "run confd: render BIRD's configuration from the datastore and reload BIRD")
	chosen["felix"] = fs.Bool("felix", false, "run felix: program routes, interfaces, iptables and ipsets from the datastore")
	chosen["allocate-tunnel-addrs"] = fs.Bool("allocate-tunnel-addrs", false, "keep this node's IPIP and VXLAN tunnel addresses (and VTEP MAC) right as the pools and the node's labels change, until stopped (the allocate-tunnel-addrs service)")
	chosen["allocate-tunnel-addrs-run-once"] = fs.Bool("allocate-tunnel-addrs-run-once", false, "give this node its IPIP and VXLAN tunnel addresses (and VTEP MAC) from the pools that select it, or take them back when none needs them, then exit")
	chosen["install-cni"] = fs.Bool("install-cni", false, "install the CNI plugin, its network config and calico-kubeconfig on the host and keep them current (the install-cni container)")
	chosen["v"] = fs.Bool("v", false, "print the version and exit")
	confdOpts := confdFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var picked []string
	for _, m := range modes {
		if *chosen[m] {
			picked = append(picked, "-"+m)
		}
	}
	switch {
	case len(picked) == 0:
		fmt.Fprintln(stderr, "calico-node: choose one of -startup, -confd, -felix, -allocate-tunnel-addrs, -allocate-tunnel-addrs-run-once, -install-cni, -v")
		fs.Usage()
		return 2
	case len(picked) > 1:
		fmt.Fprintf(stderr, "calico-node: more than one incompatible argument provided: %s\n", strings.Join(picked, " "))
		return 2
	}
	switch picked[0] {
	case "-v":
		fmt.Fprintln(stdout, node.Version)
		return 0
	case "-startup":
		return runStartup(ctx, stdout, getenv)
	case "-confd":
		return runConfd(ctx, stdout, getenv, confdOpts)
	case "-felix":
		return runFelix(ctx, stdout, getenv)
	case "-allocate-tunnel-addrs":
		return runAllocateTunnelAddrs(ctx, stdout, getenv, node.WatchTunnelAddrs)
	case "-allocate-tunnel-addrs-run-once":
		return runAllocateTunnelAddrs(ctx, stdout, getenv, node.AllocateTunnelAddr)
	case "-install-cni":
		return installcni.Main(ctx, logger(stdout, "info"), getenv)
	}
	return 2
}

func logger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warning", "warn":
		l = slog.LevelWarn
	case "error", "fatal":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func runStartup(ctx context.Context, stdout io.Writer, getenv func(string) string) int {
	log := logger(stdout, getenv("CALICO_STARTUP_LOGLEVEL"))
	fail := func(err error) int {
		log.Error("Calico node failed to start: " + err.Error())
		return 1
	}
	cfg, err := node.ConfigFromEnv(getenv)
	if err != nil {
		return fail(err)
	}
	ds, err := openDatastore(getenv)
	if err != nil {
		return fail(err)
	}
	defer ds.Close()
	s := &node.Startup{Config: cfg, Datastore: ds, Log: log}
	if err := s.Run(ctx); err != nil {
		return fail(err)
	}
	if cfg.Backend != "none" { // bird and vxlan route between nodes, through tunnels when the pools ask for them
		if err := node.AllocateTunnelAddr(ctx, ds, ds.IPAM, s.Name, log); err != nil {
			return fail(err)
		}
	}
	log.Info("Calico node started successfully")
	return 0
}

// openDatastore opens the datastore DATASTORE_TYPE names: etcd, or the Kubernetes API server.
func openDatastore(getenv func(string) string) (*connect.Datastore, error) {
	return connect.FromEnv(getenv)
}

// runAllocateTunnelAddrs runs allocate for this node: node.WatchTunnelAddrs (until ctx ends) or
// node.AllocateTunnelAddr (once).
func runAllocateTunnelAddrs(ctx context.Context, stdout io.Writer, getenv func(string) string,
	allocate func(context.Context, datastore.Client, *ipam.IPAM, string, *slog.Logger) error) int {
	log := logger(stdout, getenv("CALICO_STARTUP_LOGLEVEL"))
	name, err := nodeName(getenv)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	ds, err := openDatastore(getenv)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	defer ds.Close()
	if err := allocate(ctx, ds, ds.IPAM, name, log); err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}
