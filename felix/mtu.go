package felix

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/calico-l3/calico/felix/dataplane"
)

// mtuTracker follows the MTU of the host interface that carries the node's address (tunnel MTUs derive from it)
// and writes the workload MTU felix computed to the file the CNI plugin reads, each only when it changes.
type mtuTracker struct {
	file     string
	log      *slog.Logger
	addr     netip.Addr // the node address hostMTU was found for
	hostMTU  int
	written  int
	failures int
}

// host returns the host interface's MTU (0 when unknown), looking again when the node address changed or on a
// resync.
func (m *mtuTracker) host(dp *dataplane.Dataplane, addr netip.Addr, again bool) int {
	if addr == m.addr && !again {
		return m.hostMTU
	}
	mtu, err := dp.HostMTU(addr)
	if err != nil {
		m.log.Warn("cannot read the host interface MTU; keeping the last one", "address", addr, "err", err)
		return m.hostMTU
	}
	if mtu != m.hostMTU {
		m.log.Info("host interface MTU", "address", addr, "mtu", mtu)
	}
	m.addr, m.hostMTU = addr, mtu
	return mtu
}

// write stores mtu in the MTU file unless that is what felix last wrote.
func (m *mtuTracker) write(mtu int) {
	if mtu <= 0 || mtu == m.written || m.file == "" {
		return
	}
	if err := writeFileAtomic(m.file, []byte(strconv.Itoa(mtu)+"\n")); err != nil {
		if m.failures == 0 {
			m.log.Warn("cannot write the workload MTU for the CNI plugin", "file", m.file, "err", err)
		}
		m.failures++
		return
	}
	m.log.Info("wrote the workload MTU for the CNI plugin", "file", m.file, "mtu", mtu)
	m.written, m.failures = mtu, 0
}

// writeFileAtomic replaces path with data so that a reader sees the old or the new content, never a part.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
