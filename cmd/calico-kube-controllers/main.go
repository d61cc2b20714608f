// Command calico-kube-controllers runs Calico's Kubernetes controllers for the etcd datastore (k8s/controllers),
// as the calico-kube-controllers Deployment does; `-check-status -r` / `-l` are its readiness and liveness
// probes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/k8s/controllers"
	"github.com/calico-l3/calico/k8s/kubeclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("calico-kube-controllers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check-status", false, "probe a running instance through its status file (with -r or -l) and exit")
	ready := fs.Bool("r", false, "with -check-status: succeed only if every controller is in sync")
	live := fs.Bool("l", false, "with -check-status: succeed if the process is alive")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	env, err := controllers.EnvFromLookup(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "calico-kube-controllers:", err)
		return 1
	}
	if *check {
		if *ready == *live {
			fmt.Fprintln(stderr, "calico-kube-controllers: -check-status needs exactly one of -r and -l")
			return 2
		}
		if err := controllers.CheckStatus(env.StatusFile, *ready, time.Now()); err != nil {
			fmt.Fprintln(stderr, "calico-kube-controllers:", err)
			return 1
		}
		return 0
	}
	log := logger(stdout, env.LogLevel)
	// client-go logs every retry of its informers; the controllers log the state changes themselves, so its
	// lines are debug detail, in the same format.
	klog.SetSlogLogger(slog.New(debugOnly{log.Handler()}))
	fail := func(err error) int {
		log.Error("calico-kube-controllers cannot start: " + err.Error())
		return 1
	}
	ds, err := connect.FromEnv(getenv)
	if err != nil {
		return fail(err)
	}
	defer ds.Close()
	// No request timeout: the informers' watches are long requests.
	cfg, err := kubeclient.Config(env.Kubeconfig, 0)
	if err != nil {
		return fail(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(fmt.Errorf("building the Kubernetes client: %w", err))
	}
	m, err := controllers.New(controllers.Config{Kube: kube, Datastore: ds, IPAM: ds.IPAM,
		KubernetesDatastore: env.KubernetesDatastore, Enabled: env.Enabled,
		ResyncPeriod: env.ResyncPeriod, LeakGracePeriod: env.LeakGracePeriod, Log: log})
	if err != nil {
		return fail(err)
	}
	go m.WriteStatus(ctx, env.StatusFile)
	m.Run(ctx)
	log.Info("calico-kube-controllers stopped")
	return 0
}

// debugOnly passes every record on at debug level.
type debugOnly struct{ slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.Handler.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.Handler.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugOnly{d.Handler.WithAttrs(attrs)}
}
func (d debugOnly) WithGroup(name string) slog.Handler { return debugOnly{d.Handler.WithGroup(name)} }

func logger(w io.Writer, level string) *slog.Logger {
	l := slog.LevelInfo
	switch level {
	case "debug":
		l = slog.LevelDebug
	case "warning", "warn":
		l = slog.LevelWarn
	case "error", "fatal", "panic":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
