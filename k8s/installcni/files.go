package installcni

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Read gathers the inputs of an install: the config template, the service account token and CA, the node
// name, the etcd TLS files, and (withBinaries) the shipped binaries and what the bin dirs already hold. It
// writes nothing.
func Read(cfg Config, hostname func() (string, error), withBinaries bool) (Inputs, error) {
	var in Inputs
	if cfg.NetworkConfigFile != "" {
		b, err := os.ReadFile(cfg.NetworkConfigFile)
		if err != nil {
			return Inputs{}, fmt.Errorf("CNI_NETWORK_CONFIG_FILE: %w", err)
		}
		in.Template = string(b)
	} else {
		in.Template = cfg.NetworkConfig
	}

	switch b, err := os.ReadFile(cfg.TokenFile()); {
	case err == nil:
		in.Token, in.HaveToken = strings.TrimSpace(string(b)), true
		if in.Token == "" {
			return Inputs{}, fmt.Errorf("SERVICE_ACCOUNT_PATH: the token file %s is empty", cfg.TokenFile())
		}
	case !errors.Is(err, os.ErrNotExist):
		return Inputs{}, fmt.Errorf("reading the service account token: %w", err)
	}
	if in.HaveToken && !cfg.SkipTLSVerify {
		switch b, err := os.ReadFile(cfg.KubeCAFile); {
		case err == nil:
			in.CA = b
		case !errors.Is(err, os.ErrNotExist):
			return Inputs{}, fmt.Errorf("KUBE_CA_FILE: %w", err)
		}
	}

	var err error
	if in.NodeName, in.NodeNameSource, err = nodeName(cfg, hostname); err != nil {
		return Inputs{}, err
	}

	in.TLS = map[string][]byte{}
	for _, a := range tlsAssets {
		src := cfg.TLSSources[a.name]
		switch b, err := os.ReadFile(src); {
		case err == nil && len(bytes.TrimSpace(b)) > 0:
			in.TLS[a.name] = b
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return Inputs{}, fmt.Errorf("reading etcd TLS file %s: %w", src, err)
		}
	}

	if err := writableDir(cfg.NetDirMount); err != nil {
		return Inputs{}, fmt.Errorf("CNI_NET_DIR_MOUNT: %w (mount the host's CNI config directory there)", err)
	}
	if !withBinaries {
		return in, nil
	}
	if in.Binaries, err = shippedBinaries(cfg.BinSourceDir); err != nil {
		return Inputs{}, err
	}
	if installsAny(in.Binaries, cfg.SkipBinaries) {
		if err := writableDir(cfg.BinDirMount); err != nil {
			return Inputs{}, fmt.Errorf("CNI_BIN_DIR_MOUNT: %w (mount the host's CNI binary directory there)", err)
		}
		dirs := []string{cfg.BinDirMount}
		if err := writableDir(cfg.SecondaryBinDirMount); err == nil {
			dirs = append(dirs, cfg.SecondaryBinDirMount)
		} else {
			in.Notes = append(in.Notes, err.Error()+", skipping")
		}
		for _, d := range dirs {
			bd, err := binDirState(d, in.Binaries)
			if err != nil {
				return Inputs{}, err
			}
			in.BinDirs = append(in.BinDirs, bd)
		}
	}
	return in, nil
}

// nodeName is KUBERNETES_NODE_NAME, else the first line of the nodename file, else the hostname.
func nodeName(cfg Config, hostname func() (string, error)) (name, source string, err error) {
	if cfg.NodeName != "" {
		return cfg.NodeName, "KUBERNETES_NODE_NAME", nil
	}
	switch b, err := os.ReadFile(cfg.NodenameFile); {
	case err == nil:
		if n := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]); n != "" {
			return n, cfg.NodenameFile, nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", "", fmt.Errorf("reading the node name from %s: %w", cfg.NodenameFile, err)
	}
	h, err := hostname()
	if err != nil {
		return "", "", fmt.Errorf("no KUBERNETES_NODE_NAME, no %s, and no hostname: %w", cfg.NodenameFile, err)
	}
	return strings.ToLower(strings.TrimSpace(h)), "the hostname", nil
}

// writableDir checks that dir exists, is a directory and may be written.
func writableDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s does not exist", dir)
	case err != nil:
		return fmt.Errorf("%s cannot be read: %w", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	return nil
}

// unwrapPath drops the path from an fs.PathError, for messages that name the path already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// shippedBinaries lists the files in the image's CNI bin dir, following symlinks, with their digests.
func shippedBinaries(dir string) ([]Binary, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("CNI_BIN_SOURCE_DIR: %w", err)
	}
	var out []Binary
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("CNI_BIN_SOURCE_DIR: %w", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		d, err := digestFile(p)
		if err != nil {
			return nil, fmt.Errorf("CNI_BIN_SOURCE_DIR: %w", err)
		}
		out = append(out, Binary{Name: e.Name(), Path: p, Digest: d})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("CNI_BIN_SOURCE_DIR: no CNI binaries in %s", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// binDirState digests what dir holds under the shipped binaries' names.
func binDirState(dir string, bins []Binary) (BinDir, error) {
	bd := BinDir{Path: dir, Existing: map[string]Digest{}}
	for _, b := range bins {
		p := filepath.Join(dir, b.Name)
		st, err := os.Stat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue
		case err != nil:
			return BinDir{}, fmt.Errorf("checking %s: %w", p, err)
		case !st.Mode().IsRegular():
			bd.Existing[b.Name] = Digest{Size: -1} // never equal to a file's digest: replaced
			continue
		case st.Size() != b.Digest.Size:
			bd.Existing[b.Name] = Digest{Size: st.Size()}
			continue
		}
		d, err := digestFile(p)
		if err != nil {
			return BinDir{}, err
		}
		bd.Existing[b.Name] = d
	}
	return bd, nil
}

func digestFile(p string) (Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Digest{}, fmt.Errorf("reading %s: %w", p, err)
	}
	var d Digest
	d.Size = n
	copy(d.Sum[:], h.Sum(nil))
	return d, nil
}

// Apply carries out a plan: binaries, then the files in order, then the removals. quiet logs only changes.
func Apply(p Plan, log *slog.Logger, quiet bool) error {
	for _, n := range p.BinaryNotes {
		log.Info(n.Why)
	}
	for _, dir := range p.BinDirs {
		for _, c := range p.Copies {
			if c.Dir != dir {
				continue
			}
			if err := copyBinary(c); err != nil {
				return err
			}
			log.Info("Installed " + c.Dest())
		}
		log.Info("Wrote Calico CNI binaries to " + dir)
	}
	for _, f := range p.Files {
		changed, err := writeIfChanged(f)
		if err != nil {
			return err
		}
		switch {
		case changed && f.What == "CNI config":
			log.Info("Created CNI config "+p.ConfName, "path", f.Path)
		case changed:
			log.Info("Wrote "+f.What+" "+f.Path, "mode", fmt.Sprintf("%04o", f.Mode))
		case !quiet:
			log.Info(f.What+" "+f.Path+" is up to date", "mode", fmt.Sprintf("%04o", f.Mode))
		}
	}
	for _, r := range p.Remove {
		switch err := os.Remove(r); {
		case err == nil:
			log.Info("Removed stale " + r)
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("removing stale %s: %w", r, err)
		}
	}
	return nil
}

// copyBinary writes a binary next to its destination, checks it is the content that was planned, and renames
// it into place: a runtime never executes a half-written plugin.
func copyBinary(c BinaryCopy) error {
	src, err := os.Open(c.Path)
	if err != nil {
		return fmt.Errorf("installing %s: %w", c.Dest(), err)
	}
	defer src.Close()
	return writeAtomic(c.Dest(), 0o755, func(w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), src)
		if err != nil {
			return err
		}
		var got Digest
		got.Size = n
		copy(got.Sum[:], h.Sum(nil))
		if got != c.Digest {
			return fmt.Errorf("%s changed while being copied", c.Path)
		}
		return nil
	})
}

// writeIfChanged writes f unless the file already has this content and mode.
func writeIfChanged(f File) (bool, error) {
	if st, err := os.Lstat(f.Path); err == nil && st.Mode().IsRegular() && st.Mode().Perm() == f.Mode.Perm() {
		if old, err := os.ReadFile(f.Path); err == nil && bytes.Equal(old, f.Data) {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return false, fmt.Errorf("writing %s: %w", f.Path, err)
	}
	err := writeAtomic(f.Path, f.Mode, func(w io.Writer) error {
		_, err := w.Write(f.Data)
		return err
	})
	return err == nil, err
}

// writeAtomic writes dest through a temporary file in the same directory: written, given its mode, synced,
// then renamed over dest, and the directory synced. Readers see the old file or the new one, never a part.
func writeAtomic(dest string, mode os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(dest)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("writing %s: %w", dest, err)
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename is durable once the directory is; a failure here loses nothing already written
		d.Close()
	}
	return nil
}
