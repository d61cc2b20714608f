package confd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// commandTimeout bounds check_cmd and reload_cmd, so that a hung command cannot stop every later update.
const commandTimeout = time.Minute

// SyncOptions changes how Sync and Apply treat the destination.
type SyncOptions struct {
	// Noop compares but never writes Dest or runs commands; a difference is only logged.
	Noop bool
	// KeepStageFile leaves the staged file behind when it did not replace Dest (to inspect a failed check).
	KeepStageFile bool
	// Logger receives one line per updated destination; nil means slog.Default().
	Logger *slog.Logger
}

func (o SyncOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// SyncResult says what Sync or Apply did.
type SyncResult struct {
	// Changed is true when Dest differed from the render in content, mode or owner (and, unless Noop, was
	// replaced).
	Changed bool
	// Reloaded is true when reload_cmd ran and succeeded.
	Reloaded bool
}

// Sync renders res over snapshot and applies the result to res.Dest (see Apply).
func Sync(ctx context.Context, res *Resource, tmpl *Template, snapshot map[string]string, opts SyncOptions) (SyncResult, error) {
	content, err := Render(res, tmpl, snapshot)
	if err != nil {
		return SyncResult{}, fmt.Errorf("syncing %s: %w", res.Dest, err)
	}
	return Apply(ctx, res, content, opts)
}

// fileState is what decides whether a destination must be replaced.
type fileState struct {
	content  []byte
	mode     fs.FileMode
	uid, gid int
}

func (a fileState) equal(b fileState) bool {
	return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && bytes.Equal(a.content, b.content)
}

// Apply makes res.Dest hold content with the resource's mode and owner. When Dest already does, it changes
// nothing. Otherwise it writes a staged file next to Dest, runs check_cmd on it, renames it over Dest and runs
// reload_cmd. A failed check leaves Dest as it was (a missing Dest stays missing) and returns the command's
// output in the error. When only the reload fails, the result says Changed and the error says why.
func Apply(ctx context.Context, res *Resource, content []byte, opts SyncOptions) (SyncResult, error) {
	cur, exists, err := readState(res.Dest)
	if err != nil {
		return SyncResult{}, err
	}
	want := fileState{content: content, mode: 0o644, uid: os.Geteuid(), gid: os.Getegid()}
	switch {
	case res.Mode != 0:
		want.mode = res.Mode
	case exists:
		want.mode = cur.mode
	}
	if res.UID != nil {
		want.uid = *res.UID
	}
	if res.GID != nil {
		want.gid = *res.GID
	}
	// Comparing against what the staged file would be, before creating it, spares the stage, the fsync
	// and the cleanup on the common path where a render changed nothing.
	if exists && cur.equal(want) {
		opts.logger().Debug("Target config is in sync", "dest", res.Dest, "resource", res.Name)
		return SyncResult{}, nil
	}
	if opts.Noop {
		opts.logger().Info(fmt.Sprintf("Target config %s is out of sync (noop: not writing)", res.Dest), "resource", res.Name)
		return SyncResult{Changed: true}, nil
	}

	stage, err := writeStage(res.Dest, want)
	if err != nil {
		return SyncResult{}, err
	}
	if !opts.KeepStageFile {
		defer os.Remove(stage) // gone already after a successful rename
	}
	if res.CheckCmd != "" {
		if err := runCommand(ctx, res.CheckCmd, stage); err != nil {
			return SyncResult{}, fmt.Errorf("checking new %s (left unchanged): %w", res.Dest, err)
		}
	}
	if err := replace(stage, res.Dest, want); err != nil {
		return SyncResult{}, err
	}
	opts.logger().Info(fmt.Sprintf("Target config %s has been updated", res.Dest), "resource", res.Name)

	result := SyncResult{Changed: true}
	if res.ReloadCmd != "" {
		if err := runCommand(ctx, res.ReloadCmd, res.Dest); err != nil {
			return result, fmt.Errorf("reloading after updating %s: %w", res.Dest, err)
		}
		result.Reloaded = true
	}
	return result, nil
}

// reload runs res's reload_cmd, if it has one.
func reload(ctx context.Context, res *Resource) error {
	if res.ReloadCmd == "" {
		return nil
	}
	if err := runCommand(ctx, res.ReloadCmd, res.Dest); err != nil {
		return fmt.Errorf("reloading for %s: %w", res.Dest, err)
	}
	return nil
}

// readState returns the current state of dest; exists is false when there is no such file.
func readState(dest string) (st fileState, exists bool, err error) {
	fi, err := os.Stat(dest)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}, false, nil
	}
	if err != nil {
		return fileState{}, false, fmt.Errorf("reading current config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fileState{}, false, fmt.Errorf("reading current config: %s is not a regular file", dest)
	}
	content, err := os.ReadFile(dest)
	if err != nil {
		return fileState{}, false, fmt.Errorf("reading current config: %w", err)
	}
	st = fileState{content: content, mode: fi.Mode().Perm(), uid: -1, gid: -1}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.uid, st.gid = int(sys.Uid), int(sys.Gid)
	}
	return st, true, nil
}

// writeStage writes want into a new file ".<dest base name>NNNN" beside dest, so that the final rename stays
// within one file system and is atomic.
func writeStage(dest string, want fileState) (string, error) {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating config directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest))
	if err != nil {
		return "", fmt.Errorf("creating staged config: %w", err)
	}
	err = func() error {
		if _, err := f.Write(want.content); err != nil {
			return err
		}
		if err := f.Chmod(want.mode); err != nil {
			return err
		}
		if err := f.Chown(want.uid, want.gid); err != nil {
			return err
		}
		return f.Sync()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing staged config %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

// replace moves stage over dest. A bind-mounted dest cannot be renamed over (EBUSY); it is rewritten in place.
func replace(stage, dest string, want fileState) error {
	err := os.Rename(stage, dest)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("replacing config: %w", err)
	}
	if err := os.WriteFile(dest, want.content, want.mode); err != nil {
		return fmt.Errorf("rewriting busy config in place: %w", err)
	}
	if err := os.Chmod(dest, want.mode); err != nil {
		return fmt.Errorf("rewriting busy config in place: %w", err)
	}
	if err := os.Chown(dest, want.uid, want.gid); err != nil {
		return fmt.Errorf("rewriting busy config in place: %w", err)
	}
	return nil
}

// runCommand runs cmd (with {{.src}} set to src) through /bin/sh -c and returns its combined output in the
// error when it fails.
func runCommand(ctx context.Context, cmd, src string) error {
	line, err := expandCmd(cmd, src)
	if err != nil {
		return fmt.Errorf("expanding command %q: %w", cmd, err)
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	// A command that leaves a background process holding its output must not block us after it exits.
	c.WaitDelay = time.Second
	out, err := c.CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("command %q failed: %w: %s", line, err, msg)
		}
		return fmt.Errorf("command %q failed: %w", line, err)
	}
	return nil
}
