package cni

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The lock is taken in turns: a second holder waits until the first releases it (flock locks are per open file,
// so two holders in one process exclude each other as two processes do).
func TestIPAMLockIsTakenInTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "calico", "ipam.lock")
	unlock := lockFile(context.Background(), path, quiet)
	got := make(chan struct{})
	go func() {
		unlock2 := lockFile(context.Background(), path, quiet)
		close(got)
		unlock2()
	}()
	select {
	case <-got:
		t.Fatal("a second holder got the lock while the first held it")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the second holder did not get the lock after the first released it")
	}
}

// A waiter gives up when its context ends, without the lock; the holder keeps it.
func TestIPAMLockWaitEndsWithTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.lock")
	unlock := lockFile(context.Background(), path, quiet)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		lockFile(ctx, path, quiet)()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter did not return when its context ended")
	}
}

// Where the lock file cannot be had (here: its directory would be under a regular file), the plugin goes on
// without it, since every IPAM transaction is guarded in the datastore anyway.
func TestIPAMLockGoesOnWithoutAnUnusableFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		lockFile(context.Background(), filepath.Join(file, "ipam.lock"), quiet)()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("lockFile blocked on an unusable path")
	}
}
