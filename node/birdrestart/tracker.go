// Package birdrestart bounds the interface list of a stock BIRD 1.6. BIRD keeps an entry for every interface name
// it has seen, deleted or not, and walks that list on every device and kernel scan, so on a node whose pods come
// and go (each pod's veth has a new name) its CPU and memory grow for as long as it runs. Calico patched its BIRD
// fork; with stock BIRD the cure is a fresh process. This package counts the workload interfaces deleted since
// BIRD started and, past a limit, kills BIRD abruptly: runit starts it again with -R, and graceful restart (the
// peers keep our routes, the kernel protocol's persist keeps theirs) carries traffic across the restart. A clean
// stop would not do: BIRD would send its peers a Cease and they would drop our routes at once.
package birdrestart

// Tracker decides when one BIRD process has outlived its limit. It counts the distinct workload interface names
// deleted while that process ran: BIRD reuses the entry of a name that comes back, so a name deleted twice costs
// it one entry. A different pid is a new process with a fresh list, so the count starts again. The zero value
// never asks for a restart.
type Tracker struct {
	Limit   int // restart once this many names have been deleted; 0 or less never restarts
	pid     int
	deleted map[string]bool
	asked   bool // a restart of pid was asked for: once is enough, a failed kill is logged rather than retried
}

// Deleted records that the workload interface name was deleted while BIRD ran as pid (0 when BIRD is not running,
// whose successor starts with an empty list). It returns true, with the count, when BIRD should be restarted now.
func (t *Tracker) Deleted(pid int, name string) (restart bool, count int) {
	if t.Limit <= 0 {
		return false, 0
	}
	if pid != t.pid || t.deleted == nil {
		t.pid, t.deleted, t.asked = pid, map[string]bool{}, false
	}
	if pid <= 0 {
		return false, 0
	}
	t.deleted[name] = true
	if len(t.deleted) < t.Limit || t.asked {
		return false, len(t.deleted)
	}
	t.asked = true
	return true, len(t.deleted)
}
