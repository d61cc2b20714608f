package cni

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultIPAMLockFile is where the plugin processes of one host take turns for IPAM, as Calico's do.
const DefaultIPAMLockFile = "/var/run/calico/ipam.lock"

// ipamLocked runs fn, an IPAM transaction of this host, holding the host's IPAM lock.
//
// A runtime starting many pods at once starts as many plugin processes, and they all assign from the host's own
// block: with no lock each reads the block, one commits, and every other one finds its guard stale and starts
// over, so n pods cost about n²/2 transactions. Taking turns costs n. The lock is only about contention: every
// transaction stays guarded in the datastore, so when the lock file cannot be opened the plugin logs it and goes
// on without it, and a lock held by a process that dies is released by the kernel.
func (p *plugin) ipamLocked(ctx context.Context, fn func() error) error {
	unlock := lockFile(ctx, p.conf.IPAMLockFile, p.log)
	defer unlock()
	return fn()
}

// lockFile takes an exclusive flock on path (creating it and its directory), waiting until it is free or ctx
// ends, and returns its release. Where the lock cannot be had it logs why and returns a release that does
// nothing.
func lockFile(ctx context.Context, path string, log *slog.Logger) (unlock func()) {
	none := func() {}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Warn("Cannot create the IPAM lock's directory; going on without the lock", "ipam_lock_file", path, "err", err)
		return none
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		log.Warn("Cannot open the IPAM lock file; going on without the lock", "ipam_lock_file", path, "err", err)
		return none
	}
	start := time.Now()
	locked := make(chan error, 1)
	go func() { locked <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-locked:
		if err != nil {
			f.Close()
			log.Warn("Cannot lock the IPAM lock file; going on without the lock", "ipam_lock_file", path, "err", err)
			return none
		}
	case <-ctx.Done():
		// The flock may still be granted later; closing the file releases it then. The caller's own use of ctx
		// fails next.
		go func() { <-locked; f.Close() }()
		return none
	}
	if waited := time.Since(start); waited > time.Second {
		log.Info("Waited for the IPAM lock", "ipam_lock_file", path, "waited", waited.Round(time.Millisecond))
	}
	return func() { f.Close() } // closing the last descriptor releases the flock
}
