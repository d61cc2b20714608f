package installcni

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Main is `calico-node -install-cni`: the configuration from getenv, one install, then (SLEEP) keeping it
// current until ctx ends. It returns the exit code.
func Main(ctx context.Context, log *slog.Logger, getenv func(string) string) int {
	cfg, err := FromEnv(getenv)
	if err != nil {
		log.Error("install-cni: " + err.Error())
		return 1
	}
	if err := Run(ctx, cfg, log, os.Hostname); err != nil {
		log.Error("install-cni: " + err.Error())
		return 1
	}
	return 0
}

// Installer keeps the CNI plugin, its config and its credentials installed on the host.
type Installer struct {
	Config   Config
	Log      *slog.Logger
	Hostname func() (string, error)
	// Debounce is how long a burst of file events must be quiet before reinstalling (kubelet's token swap is
	// several events); Resync rechecks everything even without events. Zero: 200ms and one minute.
	Debounce, Resync time.Duration
}

// Run installs once and, with SLEEP, watches until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger, hostname func() (string, error)) error {
	return (&Installer{Config: cfg, Log: log, Hostname: hostname}).Run(ctx)
}

// Run installs the binaries, the etcd TLS files, calico-kubeconfig and the CNI config, every one checked
// before any is written. With Config.Sleep it then watches the service account, the TLS secret and the config
// file, rewrites what their changes affect (a rotated token: calico-kubeconfig, and the config when it holds the
// token), and returns nil when ctx ends.
func (i *Installer) Run(ctx context.Context) error {
	cfg, log := i.Config, i.Log
	in, err := Read(cfg, i.Hostname, true)
	if err != nil {
		return err
	}
	for _, n := range in.Notes {
		log.Info(n)
	}
	plan, err := MakePlan(cfg, in)
	if err != nil {
		return err
	}
	if cfg.NetworkConfigFile != "" {
		log.Info("Using CNI config template from " + cfg.NetworkConfigFile)
	} else {
		log.Info("Using CNI config template from CNI_NETWORK_CONFIG environment variable")
	}
	log.Info("Using node name "+in.NodeName, "from", in.NodeNameSource)
	for _, w := range plan.Warnings {
		log.Warn(w)
	}
	if !in.HaveToken {
		log.Info("No service account token at " + cfg.TokenFile() + ": not writing " + KubeconfigName)
	}
	log.Info("CNI config", "config", plan.Config.Redacted)
	if err := Apply(plan, log, false); err != nil {
		return err
	}
	log.Info(fmt.Sprintf("Done configuring CNI.  Sleep=%t", cfg.Sleep))
	if !cfg.Sleep {
		return nil
	}
	return i.watch(ctx)
}

// reinstall redoes everything but the binaries, logging only what changed.
func (i *Installer) reinstall() error {
	in, err := Read(i.Config, i.Hostname, false)
	if err != nil {
		return err
	}
	plan, err := MakePlan(i.Config, in)
	if err != nil {
		return err
	}
	return Apply(plan, i.Log, true)
}

// watch reinstalls after changes in the watched directories (kubelet replaces a Secret's or a projected token's
// files by swapping the ..data symlink, so directories are watched, not files) and on every resync.
func (i *Installer) watch(ctx context.Context) error {
	debounce, resync := i.Debounce, i.Resync
	if debounce == 0 {
		debounce = 200 * time.Millisecond
	}
	if resync == 0 {
		resync = time.Minute
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching for token and secret changes: %w", err)
	}
	defer w.Close()
	dirs := []string{i.Config.ServiceAccountDir, i.Config.TLSAssetsDir}
	if i.Config.NetworkConfigFile != "" {
		dirs = append(dirs, filepath.Dir(i.Config.NetworkConfigFile))
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		if err := w.Add(d); err != nil {
			return fmt.Errorf("watching %s: %w", d, err)
		}
		i.Log.Debug("Watching " + d)
	}

	tick := time.NewTicker(resync)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-ctx.Done():
			i.Log.Info("Stopping install-cni", "reason", context.Cause(ctx).Error())
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("the file watch ended")
			}
			i.Log.Debug("File event", "event", ev.String())
			settle.Reset(debounce)
			continue
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("the file watch ended")
			}
			i.Log.Warn("File watch error; the resync will catch up", "error", err.Error())
			continue
		case <-settle.C:
		case <-tick.C:
		}
		if err := i.reinstall(); err != nil {
			// A half-rotated secret or a transient read error: keep what is installed and try again later.
			i.Log.Error("Updating the installed CNI files failed; keeping the installed ones", "error", err.Error())
		}
	}
}
