package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Status is what the status file holds, for the Deployment's probes (`calico-kube-controllers -check-status`).
type Status struct {
	Ready       bool              `json:"ready"`
	Controllers map[string]string `json:"controllers"` // name → "in sync", "syncing" or "failing"
	Updated     time.Time         `json:"updated"`
}

// statusInterval is how often the status file is rewritten; the liveness check allows several missed writes.
const statusInterval = 2 * time.Second

// Status reports each controller's state now.
func (m *Manager) Status() Status {
	s := Status{Ready: m.Ready(), Controllers: map[string]string{}, Updated: time.Now().UTC()}
	if m.api.failing.Load() {
		s.Controllers["kubernetes-api"] = "unreachable"
	}
	for _, c := range m.controllers {
		switch {
		case c.failing.Load():
			s.Controllers[c.name] = "failing"
		case c.ready.Load():
			s.Controllers[c.name] = "in sync"
		default:
			s.Controllers[c.name] = "syncing"
		}
	}
	return s
}

// WriteStatus rewrites path with the status every statusInterval until ctx ends.
func (m *Manager) WriteStatus(ctx context.Context, path string) {
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		if err := writeStatus(path, m.Status()); err != nil {
			m.log.Warn("Cannot write the status file", "path", path, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func writeStatus(path string, s Status) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CheckStatus is the probe: live means the status file was written recently (the process is not stuck); ready
// also means every controller is in sync.
func CheckStatus(path string, ready bool, now time.Time) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading status: %w", err)
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("reading status %s: %w", path, err)
	}
	if age := now.Sub(s.Updated); age > 10*statusInterval {
		return fmt.Errorf("status %s was last written %s ago", path, age.Round(time.Second))
	}
	if ready && !s.Ready {
		return fmt.Errorf("not ready: %v", s.Controllers)
	}
	return nil
}
