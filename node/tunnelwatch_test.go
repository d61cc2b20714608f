package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/syncbuf"
	"github.com/calico-l3/calico/ipam"
)

func TestNodeEventMattersOnlyForThisNodesLabelsAndTunnelFields(t *testing.T) {
	nodeKind, _ := api.LookupKind("Node")
	poolKind, _ := api.LookupKind("IPPool")
	base := func(edit func(*api.Node)) *api.Node {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", ResourceVersion: "7", Labels: map[string]string{"rack": "r1"}},
			Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: "10.0.0.5/24", IPv4IPIPTunnelAddr: "10.2.0.1"},
				IPv4VXLANTunnelAddr: "10.4.0.1", VXLANTunnelMACAddr: "66:a3:1b:0c:5e:01"}}
		if edit != nil {
			edit(n)
		}
		return n
	}
	ev := func(t datastore.EventType, n *api.Node) datastore.Event {
		return datastore.Event{Type: t, Key: datastore.ResourceKey(nodeKind, "", n.Name), Resource: n}
	}
	cases := []struct {
		name     string
		seen     *api.Node
		ev       datastore.Event
		matters  bool
		remember string // the name of the node remembered afterwards, "" for none, "seen" for the one before
	}{
		{"another node's change is ignored", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Name = "n2"; n.Labels = nil })), false, "seen"},
		{"this node seen for the first time matters", nil, ev(datastore.Added, base(nil)), true, "n1"},
		{"a new label matters", base(nil), ev(datastore.Modified, base(func(n *api.Node) { n.Labels["zone"] = "a" })), true, "n1"},
		{"losing every label matters", base(nil), ev(datastore.Modified, base(func(n *api.Node) { n.Labels = nil })), true, "n1"},
		{"an IPIP tunnel address edited by someone else matters", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Spec.BGP.IPv4IPIPTunnelAddr = "" })), true, "n1"},
		{"the BGP block going, and the IPIP address with it, matters", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Spec.BGP = nil })), true, "n1"},
		{"a changed VXLAN tunnel address matters", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Spec.IPv4VXLANTunnelAddr = "10.4.0.9" })), true, "n1"},
		{"a changed VTEP MAC matters", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Spec.VXLANTunnelMACAddr = "" })), true, "n1"},
		{"a new resource version alone is ignored", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.ResourceVersion = "8" })), false, "n1"},
		{"a new BGP address is ignored", base(nil),
			ev(datastore.Modified, base(func(n *api.Node) { n.Spec.BGP.IPv4Address = "10.0.0.6/24" })), false, "n1"},
		{"new annotations and orchestrator references are ignored", base(nil), ev(datastore.Modified, base(func(n *api.Node) {
			n.Annotations = map[string]string{"k8s": "heartbeat"}
			n.Spec.OrchRefs = []api.OrchRef{{NodeName: "n1", Orchestrator: "k8s"}}
		})), false, "n1"},
		{"this node deleted is no reason to run, and is forgotten", base(nil), ev(datastore.Deleted, base(nil)), false, ""},
		{"an undecodable value of this node is ignored", base(nil),
			datastore.Event{Type: datastore.Modified, Key: datastore.ResourceKey(nodeKind, "", "n1")}, false, "seen"},
		{"a key of another kind with this node's name is ignored", base(nil),
			datastore.Event{Type: datastore.Modified, Key: datastore.ResourceKey(poolKind, "", "n1")}, false, "seen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			matters, next := nodeEventMatters("n1", c.ev, c.seen)
			if matters != c.matters {
				t.Errorf("matters: got %t, want %t", matters, c.matters)
			}
			switch c.remember {
			case "":
				if next != nil {
					t.Errorf("should forget the node, remembers %+v", next)
				}
			case "seen":
				if next != c.seen {
					t.Errorf("should keep remembering %+v, remembers %+v", c.seen, next)
				}
			default:
				if next == nil || next.Name != c.remember || next != c.ev.Resource {
					t.Errorf("should remember the event's node %s, remembers %+v", c.remember, next)
				}
			}
		})
	}
}

const testDebounce = 50 * time.Millisecond

// watchN1 runs a tunnelWatch for n1 in the background, with short timings and allocate counting its runs
// once they are over (allocate nil runs AllocateTunnelAddr); it stops when the test ends.
func watchN1(t *testing.T, h *harness, allocate func(context.Context) error) (runs *atomic.Int32, logs *syncbuf.Buffer) {
	t.Helper()
	logs = &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if allocate == nil {
		allocate = func(ctx context.Context) error { return AllocateTunnelAddr(ctx, h.ds, ipam.New(h.ds), "n1", log) }
	}
	runs = &atomic.Int32{}
	w := &tunnelWatch{ds: h.ds, name: "n1", log: log, debounce: testDebounce, minBackoff: 20 * time.Millisecond,
		maxBackoff: 40 * time.Millisecond,
		allocate:   func(ctx context.Context) error { defer runs.Add(1); return allocate(ctx) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the watcher should return nil when its context ends, got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the watcher did not return within 5s of its context ending")
		}
	})
	return runs, logs
}

// eventually waits up to 5s for cond, failing with what it last described.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 5s, expected %s; got %s", what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchFollowsAVXLANPoolCreatedAndDeletedWhileTheNodeRuns(t *testing.T) {
	h := tunnelNode(t, nil)
	ctx := context.Background()
	other := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}}
	if _, err := h.ds.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	runs, logs := watchN1(t, h, nil)
	eventually(t, "one run once both watches are in sync", func() (bool, string) {
		return runs.Load() == 1, fmt.Sprint(runs.Load()) + " runs"
	})

	h.pool("vxlan", "10.4.0.0/16", "", "Always", "")
	var addr string
	eventually(t, "n1 to get a VXLAN address from the pool and a VTEP MAC", func() (bool, string) {
		n := h.node()
		addr = n.Spec.IPv4VXLANTunnelAddr
		return inCIDR(addr, "10.4.0.0/16") && n.Spec.VXLANTunnelMACAddr != "", addr + " " + n.Spec.VXLANTunnelMACAddr
	})
	checkVTEPMAC(t, h.node().Spec.VXLANTunnelMACAddr)
	// The run's own write to n1 changes its tunnel fields, so one more run follows and finds nothing to do.
	eventually(t, "three runs: at sync, for the pool, after its own write", func() (bool, string) {
		return runs.Load() == 3, fmt.Sprint(runs.Load()) + " runs\n" + logs.String()
	})

	// Changes that cannot move a tunnel address: another node's labels, n1's BGP address and annotations.
	other = h.get("Node", "n2").(*api.Node)
	other.Labels = map[string]string{"rack": "r9"}
	if _, err := h.ds.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	n := h.node()
	n.Annotations = map[string]string{"note": "unrelated"}
	n.Spec.BGP = &api.NodeBGPSpec{IPv4Address: "10.0.0.6/24"}
	if _, err := h.ds.Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * testDebounce) // long enough for a run those changes would (wrongly) have scheduled
	if got := runs.Load(); got != 3 {
		t.Errorf("changes of another node and of n1's other fields should not run the allocation; runs went from 3 to %d\n%s", got, logs)
	}

	k, _ := api.LookupKind("IPPool")
	if _, err := h.ds.Delete(ctx, k, "", "vxlan", ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "n1's VXLAN address and MAC cleared and the address released", func() (bool, string) {
		n := h.node()
		held := h.held(VXLANTunnelHandle("n1"))
		return n.Spec.IPv4VXLANTunnelAddr == "" && n.Spec.VXLANTunnelMACAddr == "" && len(held) == 0,
			n.Spec.IPv4VXLANTunnelAddr + " " + n.Spec.VXLANTunnelMACAddr + " held " + strings.Join(held, ",")
	})
	if handle, _, err := ipam.New(h.ds).GetAssignmentAttributes(ctx, net.ParseIP(addr)); err == nil {
		t.Errorf("%s should be free again, is held by %q", addr, handle)
	}
}

func TestWatchRetriesAFailedRunWithBackoffAndLogsTheStreakOnce(t *testing.T) {
	h := tunnelNode(t, nil)
	var calls atomic.Int32
	runs, logs := watchN1(t, h, func(context.Context) error {
		if calls.Add(1) <= 3 {
			return errors.New("datastore unavailable")
		}
		return nil
	})
	eventually(t, "three failed runs and a fourth that succeeds", func() (bool, string) {
		return runs.Load() == 4 && strings.Contains(logs.String(), "again after failures"), fmt.Sprint(runs.Load()) + " runs\n" + logs.String()
	})
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "datastore unavailable") {
		t.Errorf("the failure streak should be logged once at Warn with its error, got %d warnings:\n%s", n, out)
	}
	if n := strings.Count(out, `level=INFO msg="Updated the tunnel addresses again after failures"`); n != 1 {
		t.Errorf("the recovery should be logged once at Info, got %d:\n%s", n, out)
	}
	time.Sleep(5 * testDebounce)
	if got := runs.Load(); got != 4 {
		t.Errorf("no run should follow the recovery without a change, runs went from 4 to %d", got)
	}
}
