package confd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Source supplies the key view that templates are rendered over.
type Source interface {
	// Snapshot returns the complete current key view and a revision that increases on every change.
	// It blocks until the source is in sync at least once (or ctx ends).
	Snapshot(ctx context.Context) (map[string]string, uint64, error)
	// Changed returns a channel that receives (non-blocking, capacity 1) after the key view changed.
	Changed() <-chan struct{}
}

// Config configures an Engine. Zero durations take the defaults named on each field.
type Config struct {
	// ConfDir holds conf.d/ (the *.toml resources) and templates/.
	ConfDir string
	// NodeName replaces //NODENAME in resource prefixes and keys.
	NodeName string
	// DestDir, when set, is where every rendered file goes (keeping its file name) instead of the directory its
	// resource names, so that several nodes can run side by side on one machine.
	DestDir string
	// Onetime makes Run sync every resource once and return.
	Onetime bool
	// KeepStageFile and Noop are passed to Apply (see SyncOptions).
	KeepStageFile bool
	Noop          bool
	// Settle is the quiet period after a change before rendering (default 20ms), so a burst of changes
	// renders once; MaxDelay (default 250ms) bounds the wait since the first change of a burst.
	Settle   time.Duration
	MaxDelay time.Duration
	// RetryMin and RetryMax bound the doubling backoff after a failed sync (defaults 1s and 30s).
	RetryMin time.Duration
	RetryMax time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Stats counts what an Engine has done since it was created.
type Stats struct {
	Renders uint64 // template executions
	Writes  uint64 // destinations replaced
	Reloads uint64 // successful reload_cmd runs
	Errors  uint64 // resources that failed a sync pass (render, check, write or reload)
}

// Engine keeps the destinations of all resources in ConfDir in step with a Source.
type Engine struct {
	cfg                               Config
	log                               *slog.Logger
	renders, writes, reloads, nerrors atomic.Uint64
}

// New returns an Engine for cfg, with defaults filled in.
func New(cfg Config) *Engine {
	setDefault := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setDefault(&cfg.Settle, 20*time.Millisecond)
	setDefault(&cfg.MaxDelay, 250*time.Millisecond)
	setDefault(&cfg.RetryMin, time.Second)
	setDefault(&cfg.RetryMax, 30*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Engine{cfg: cfg, log: cfg.Logger}
}

// Stats returns the engine's counters; it is safe to call while Run is running.
func (e *Engine) Stats() Stats {
	return Stats{
		Renders: e.renders.Load(),
		Writes:  e.writes.Load(),
		Reloads: e.reloads.Load(),
		Errors:  e.nerrors.Load(),
	}
}

// ResourceError is the failure of one resource in a sync pass.
type ResourceError struct {
	Resource string // the conf.d file
	Template string // its src
	Err      error
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("resource %s (template %s): %v", e.Resource, e.Template, e.Err)
}

func (e *ResourceError) Unwrap() error { return e.Err }

// unit is a loaded resource with what the engine remembers about it between passes.
type unit struct {
	res  *Resource
	tmpl *Template
	// view is the key view of the last successful sync; nil before the first one.
	view map[string]string
	// failed forces a render on the next pass even when view did not change.
	failed bool
	// reloadPending is set when Dest was replaced but reload_cmd failed; it is retried even if the file
	// is unchanged by then.
	reloadPending bool
}

// Run syncs every resource with src. With Onetime it does one pass and returns the errors of all resources
// that failed. Otherwise it syncs once and then again after every change of src (coalesced) and every edit
// under conf.d/ or templates/, retrying failures with backoff, until ctx ends; it then returns nil. Errors
// of single resources are logged and retried, never returned; errors that stop the engine (unreadable
// resources at start, a failing Source) are.
func (e *Engine) Run(ctx context.Context, src Source) error {
	if e.cfg.Onetime {
		return e.runOnce(ctx, src)
	}
	return e.watch(ctx, src)
}

func (e *Engine) runOnce(ctx context.Context, src Source) error {
	units, err := e.load()
	if err != nil {
		return err
	}
	snap, _, err := src.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("reading key snapshot: %w", err)
	}
	return errors.Join(e.pass(ctx, units, snap, true)...)
}

func (e *Engine) watch(ctx context.Context, src Source) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching templates: %w", err)
	}
	defer w.Close()
	// Watch before loading so that an edit made while loading is not missed.
	for _, d := range []string{"conf.d", "templates"} {
		if err := w.Add(filepath.Join(e.cfg.ConfDir, d)); err != nil {
			return fmt.Errorf("watching %s: %w", filepath.Join(e.cfg.ConfDir, d), err)
		}
	}
	units, err := e.load()
	if err != nil {
		return err
	}
	var snap map[string]string
	var rev uint64
	snapshot := func() error {
		s, r, err := src.Snapshot(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // shutting down: callers check ctx and return nil
			}
			return fmt.Errorf("reading key snapshot: %w", err)
		}
		snap, rev = s, r
		return nil
	}
	if err := snapshot(); err != nil || ctx.Err() != nil {
		return err
	}

	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var burstStart time.Time // zero when no change is waiting
	schedule := func() {
		now := time.Now()
		if burstStart.IsZero() {
			burstStart = now
		}
		settle.Reset(min(e.cfg.Settle, burstStart.Add(e.cfg.MaxDelay).Sub(now)))
	}

	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	retryArmed, backoff := false, e.cfg.RetryMin
	// syncAll runs a pass, logs its failures and arms (or, when all is well, disarms) the retry timer.
	syncAll := func(force bool) {
		errs := e.pass(ctx, units, snap, force)
		if ctx.Err() != nil {
			return // commands were cut short by shutdown; nothing worth reporting
		}
		for _, err := range errs {
			var re *ResourceError
			if errors.As(err, &re) {
				e.log.Error("Failed to sync config; keeping the current one", "resource", re.Resource, "template", re.Template, "err", re.Err)
			}
		}
		switch {
		case len(errs) == 0:
			retry.Stop()
			retryArmed, backoff = false, e.cfg.RetryMin
		case !retryArmed:
			retry.Reset(backoff)
			retryArmed, backoff = true, min(2*backoff, e.cfg.RetryMax)
		}
	}
	syncAll(true)
	filesChanged := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-src.Changed():
			schedule()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("template watcher stopped")
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			filesChanged = true
			schedule()
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("template watcher stopped")
			}
			e.log.Warn("Template watcher reported an error", "err", err)
		case <-settle.C:
			burstStart = time.Time{}
			force := false
			if filesChanged {
				filesChanged = false
				if fresh, err := e.load(); err != nil {
					e.log.Error("Reloading resources and templates failed; keeping the previous ones", "err", err)
				} else {
					e.log.Info("Reloaded resources and templates", "resources", len(fresh))
					units, force = fresh, true
				}
			}
			lastRev := rev
			if err := snapshot(); err != nil || ctx.Err() != nil {
				return err
			}
			if force || rev != lastRev {
				syncAll(force)
			}
		case <-retry.C:
			retryArmed = false
			if err := snapshot(); err != nil || ctx.Err() != nil {
				return err
			}
			syncAll(false)
		}
	}
}

// load reads every resource and its template. It fails as a whole, naming every broken file, so that a
// half-edited configuration never replaces a working one.
func (e *Engine) load() ([]*unit, error) {
	resources, err := LoadResources(e.cfg.ConfDir, e.cfg.NodeName)
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 {
		e.log.Warn("No template resources found", "dir", filepath.Join(e.cfg.ConfDir, "conf.d"))
	}
	var units []*unit
	var errs []error
	for _, r := range resources {
		if e.cfg.DestDir != "" {
			r.Dest = filepath.Join(e.cfg.DestDir, filepath.Base(r.Dest))
		}
		text, err := os.ReadFile(filepath.Join(e.cfg.ConfDir, "templates", r.Src))
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %s: reading template: %w", r.Name, err))
			continue
		}
		t, err := ParseTemplate(r.Src, string(text))
		if err != nil {
			errs = append(errs, fmt.Errorf("resource %s: %w", r.Name, err))
			continue
		}
		units = append(units, &unit{res: r, tmpl: t})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return units, nil
}

// pass syncs every unit whose key view changed (every unit when force is set, and every unit that failed
// before) and returns one error per unit that is still failing. When a round wrote a file, the units that
// failed in it are tried again at once: a BIRD config's check fails until the files it includes exist. The
// rounds are bounded by the number of units, so a template whose output never settles cannot spin.
func (e *Engine) pass(ctx context.Context, units []*unit, snapshot map[string]string, force bool) []error {
	todo := units
	var errs []error
	for round := 0; round < len(units) && len(todo) > 0; round++ {
		var failed []*unit
		errs = nil
		wrote := false
		for _, u := range todo {
			changed, err := e.syncUnit(ctx, u, snapshot, force)
			wrote = wrote || changed
			if err != nil {
				u.failed = true
				failed = append(failed, u)
				errs = append(errs, &ResourceError{Resource: u.res.Name, Template: u.res.Src, Err: err})
			}
		}
		if !wrote || e.cfg.Noop {
			break
		}
		todo = failed
	}
	e.nerrors.Add(uint64(len(errs)))
	return errs
}

// syncUnit brings one resource in step with snapshot and reports whether its destination changed.
func (e *Engine) syncUnit(ctx context.Context, u *unit, snapshot map[string]string, force bool) (bool, error) {
	view := u.res.Select(snapshot)
	if !force && !u.failed && u.view != nil && maps.Equal(view, u.view) {
		return false, nil
	}
	e.renders.Add(1)
	content, err := u.tmpl.Execute(view)
	if err != nil {
		return false, err
	}
	opts := SyncOptions{Noop: e.cfg.Noop, KeepStageFile: e.cfg.KeepStageFile, Logger: e.log}
	res, err := Apply(ctx, u.res, content, opts)
	if res.Changed && !e.cfg.Noop {
		e.writes.Add(1)
	}
	if res.Reloaded {
		e.reloads.Add(1)
	}
	if err != nil {
		if res.Changed {
			// The file is in place; only its reload is owed.
			u.view, u.reloadPending = view, true
		}
		return res.Changed, err
	}
	if !res.Changed && u.reloadPending {
		if err := reload(ctx, u.res); err != nil {
			return false, err
		}
		e.reloads.Add(1)
	}
	u.view, u.failed, u.reloadPending = view, false, false
	return res.Changed, nil
}
