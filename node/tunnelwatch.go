package node

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/ipam"
)

// WatchTunnelAddrs keeps the node's tunnel addresses right while the pools and the node change: it follows the
// IPPools and the Nodes, runs AllocateTunnelAddr once both are listed, and again after any pool changes or this
// node's labels or tunnel fields do (a burst of changes gives one run), every five minutes whatever happens, and
// after a failed run with a backoff. It is the allocate-tunnel-addrs service of the calico/node image; it
// returns nil when ctx ends and an error only when the datastore cannot be watched.
func WatchTunnelAddrs(ctx context.Context, ds datastore.Client, m *ipam.IPAM, name string, log *slog.Logger) error {
	w := &tunnelWatch{ds: ds, name: name, log: log,
		allocate: func(ctx context.Context) error { return AllocateTunnelAddr(ctx, ds, m, name, log) }}
	return w.run(ctx)
}

// tunnelWatch is WatchTunnelAddrs with its timings and the allocation it runs exposed, so tests can shorten the
// first and count the second. Zero durations take the defaults.
type tunnelWatch struct {
	ds       datastore.Client
	name     string
	log      *slog.Logger
	allocate func(context.Context) error

	debounce   time.Duration // how long a change waits for the ones that follow it (500ms)
	minBackoff time.Duration // the wait after a failed run, doubling with each failure (1s)
	maxBackoff time.Duration // up to (30s)
	resync     time.Duration // the run that happens whatever changed (5m)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (w *tunnelWatch) run(ctx context.Context) error {
	debounce := orDefault(w.debounce, 500*time.Millisecond)
	minBackoff := orDefault(w.minBackoff, time.Second)
	maxBackoff := orDefault(w.maxBackoff, 30*time.Second)
	resync := orDefault(w.resync, 5*time.Minute)

	poolKind, _ := api.LookupKind("IPPool")
	nodeKind, _ := api.LookupKind("Node")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pools := w.ds.Watch(ctx, datastore.KindPrefix(poolKind, ""), 0)
	nodes := w.ds.Watch(ctx, datastore.KindPrefix(nodeKind, ""), 0)

	var (
		poolsInSync, nodesInSync bool
		seen                     *api.Node // this node as last seen, nil before it is (or after it is deleted)
		wanted                   bool      // a run is due once both watches are in sync
		due                      time.Time // when the scheduled run happens; zero when none is scheduled
		backoff                  time.Duration
		failing                  bool
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	safety := time.NewTicker(resync)
	defer safety.Stop()

	// schedule makes the next run happen within d, unless one is already due sooner.
	schedule := func(d time.Duration) {
		at := time.Now().Add(d)
		if !due.IsZero() && !at.Before(due) {
			return
		}
		due = at
		timer.Reset(d)
	}
	// want asks for a run: soon (after the debounce) once both watches are in sync, else when they are.
	want := func() {
		wanted = true
		if poolsInSync && nodesInSync {
			schedule(debounce)
		}
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-pools:
			if !ok {
				return watchEnded(ctx, "IPPools")
			}
			switch ev.Type {
			case datastore.Resync:
				poolsInSync = false
			case datastore.InSync:
				poolsInSync = true
				want()
			default:
				if poolsInSync {
					want()
				}
			}
		case ev, ok := <-nodes:
			if !ok {
				return watchEnded(ctx, "Nodes")
			}
			switch ev.Type {
			case datastore.Resync:
				nodesInSync = false
				seen = nil
			case datastore.InSync:
				nodesInSync = true
				want()
			default:
				var matters bool
				matters, seen = nodeEventMatters(w.name, ev, seen)
				if matters && nodesInSync {
					want()
				}
			}
		case <-safety.C:
			want()
		case <-timer.C:
			due = time.Time{}
			if !poolsInSync || !nodesInSync || !wanted {
				continue // the InSync that ends the resync asks again
			}
			wanted = false
			err := w.allocate(ctx)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				if !failing {
					w.log.Warn("Could not update the tunnel addresses; retrying", "node", w.name, "err", err)
					failing, backoff = true, minBackoff
				} else {
					w.log.Debug("Still cannot update the tunnel addresses", "node", w.name, "err", err, "retry", backoff)
				}
				wanted = true
				schedule(backoff)
				backoff = min(2*backoff, maxBackoff)
			case failing:
				w.log.Info("Updated the tunnel addresses again after failures", "node", w.name)
				failing = false
			}
		}
	}
}

func watchEnded(ctx context.Context, what string) error {
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the datastore stopped the watch of " + what)
}

// nodeEventMatters says whether a change under the Nodes prefix can change this node's tunnel addresses: it
// must be about this node (named name) and change what AllocateTunnelAddr reads or writes, its labels (which
// pools select it) or its tunnel fields (someone else edited them). seen is the node as last seen (nil when not
// seen); next is what to remember instead. AllocateTunnelAddr's own write matters too, so each run that changes
// something is followed by one that finds nothing to do. Other changes, frequent on the Kubernetes datastore where the Node
// follows the Kubernetes Node, are ignored. Deleting the node is not a reason to run: there is nothing to write.
func nodeEventMatters(name string, ev datastore.Event, seen *api.Node) (matters bool, next *api.Node) {
	if k, _, n, ok := datastore.ParseResourceKey(ev.Key); !ok || k.Name != "Node" || n != name {
		return false, seen
	}
	if ev.Type == datastore.Deleted {
		return false, nil
	}
	n, ok := ev.Resource.(*api.Node)
	if !ok {
		return false, seen // undecodable: the datastore logged it; the safety run will catch up
	}
	return seen == nil || tunnelInputsDiffer(seen, n), n
}

// tunnelInputsDiffer compares what AllocateTunnelAddr reads from and writes to a node.
func tunnelInputsDiffer(a, b *api.Node) bool {
	return !maps.Equal(a.Labels, b.Labels) || ipipEncap.addr(a) != ipipEncap.addr(b) ||
		a.Spec.IPv4VXLANTunnelAddr != b.Spec.IPv4VXLANTunnelAddr || a.Spec.VXLANTunnelMACAddr != b.Spec.VXLANTunnelMACAddr
}
