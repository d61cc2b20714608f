package clustersim

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/calico-l3/calico/confd/calico"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// states keeps the last desired state each node computed.
type states struct {
	mu   sync.Mutex
	last map[int]*desired.State
}

func (s *states) observe(node int, st *desired.State) {
	s.mu.Lock()
	s.last[node] = st
	s.mu.Unlock()
}

// waitAll waits until ok holds for the last state of every one of n nodes.
func (s *states) waitAll(t *testing.T, n int, what string, ok func(node int, st *desired.State) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		done := 0
		for i := range n {
			if st := s.last[i]; st != nil && ok(i, st) {
				done++
			}
		}
		s.mu.Unlock()
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s only %d of %d nodes' states %s", done, n, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSimulatedNodesComputeTheClusterFromEtcd runs three simulated nodes on a real etcd: each felix computes
// its own workloads' routes and its IPIP routes to the others, each confd key view holds the whole mesh, each
// node has its eight watches (felix's two, confd's six), and a policy write reaches every node's state.
func TestSimulatedNodesComputeTheClusterFromEtcd(t *testing.T) {
	endpoint := etcdtest.Start(t)
	ds, err := datastore.New(datastore.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := Sizes{Nodes: 3, Endpoints: 12, Policies: 6}
	if err := Seed(ctx, ds, s, 4); err != nil {
		t.Fatal(err)
	}
	idle, err := Metrics(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	got := &states{last: map[int]*desired.State{}}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var nodes []*Node
	for i := range s.Nodes {
		n, err := StartNode(ctx, datastore.Config{Endpoints: []string{endpoint}}, i, got.observe, quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.WaitSynced(wctx)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
	}

	got.waitAll(t, s.Nodes, "route their own workloads and reach the others' blocks over IPIP", func(i int, st *desired.State) bool {
		for _, w := range s.NodeEndpoints(i) {
			dst := netip.MustParsePrefix(w.Spec.IPNetworks[0])
			if !slices.ContainsFunc(st.Routes, func(r desired.Route) bool { return r.Dst == dst && r.Iface == w.Spec.InterfaceName }) {
				return false
			}
		}
		for other := range s.Nodes {
			block := netip.PrefixFrom(s.address(other, 0), 26)
			want := desired.Route{Dst: block, Type: desired.Blackhole}
			if other != i {
				want = desired.Route{Dst: block, Gateway: netip.MustParsePrefix(s.NodeResource(other).Spec.BGP.IPv4Address).Addr(),
					Iface: "tunl0", OnLink: true}
			}
			if !slices.ContainsFunc(st.Routes, func(r desired.Route) bool {
				return r.Dst == want.Dst && r.Type == want.Type && r.Gateway == want.Gateway && r.Iface == want.Iface
			}) {
				return false
			}
		}
		return true
	})

	for _, n := range nodes {
		view, err := n.KeyView(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.Nodes {
			key := "/calico/bgp/v1/host/" + NodeName(i) + "/ip_addr_v4"
			if want := netip.MustParsePrefix(s.NodeResource(i).Spec.BGP.IPv4Address).Addr().String(); view[key] != want {
				t.Errorf("node %s's key view: %s = %q, want %q", n.Name, key, view[key], want)
			}
		}
	}

	// A watch reaches etcd just after its listing, so the count may lag the sync a little.
	perNode := len(FelixPrefixes) + len(calico.Prefixes("x"))
	watchers, err := WaitWatchers(ctx, endpoint, idle[WatchersMetric]+float64(perNode*s.Nodes), 10*time.Second)
	if w := watchers - idle[WatchersMetric]; err != nil || w != float64(perNode*s.Nodes) {
		t.Errorf("expected %d watchers in etcd (%d per node), got %g (%v)", perNode*s.Nodes, perNode, w, err)
	}

	name := "probe"
	if _, err := ds.Create(ctx, Probe(name, 1)); err != nil {
		t.Fatal(err)
	}
	got.waitAll(t, s.Nodes, fmt.Sprintf("hold chain %s", ProbeChain(name)), func(_ int, st *desired.State) bool {
		_, ok := st.Tables["filter"].Chains[ProbeChain(name)]
		return ok
	})
}
