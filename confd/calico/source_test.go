package calico

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/confd/keyview"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testNode(name, ipv4 string, labels map[string]string) *api.Node {
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels},
		Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: ipv4}}}
}

// fakeWatcher hands out one channel per prefix, fed by the test.
type fakeWatcher struct {
	chans map[string]chan datastore.Event
}

func newFakeWatcher(node string) *fakeWatcher {
	f := &fakeWatcher{chans: map[string]chan datastore.Event{}}
	for _, p := range Prefixes(node) {
		f.chans[p] = make(chan datastore.Event, 16)
	}
	return f
}

func (f *fakeWatcher) Watch(_ context.Context, prefix string, _ int64) <-chan datastore.Event {
	return f.chans[prefix]
}

func (f *fakeWatcher) send(t *testing.T, evs ...datastore.Event) {
	t.Helper()
	for _, ev := range evs {
		ch := f.chans[prefixOf(t, ev.Key)]
		ch <- ev
	}
}

// syncAll sends Resync and InSync on every watch except those of skip.
func (f *fakeWatcher) syncAll(skip string) {
	for p, ch := range f.chans {
		if p != skip {
			ch <- datastore.Event{Type: datastore.Resync}
			ch <- datastore.Event{Type: datastore.InSync}
		}
	}
}

func prefixOf(t *testing.T, key string) string {
	t.Helper()
	for _, p := range Prefixes("node1") {
		if strings.HasPrefix(key, p) {
			return p
		}
	}
	t.Fatalf("key %s is under no watched prefix", key)
	return ""
}

func added(r api.Resource) datastore.Event {
	k := api.KindOf(r)
	return datastore.Event{Type: datastore.Added, Key: datastore.ResourceKey(k, "", r.GetObjectMeta().Name), Resource: r}
}

func deleted(r api.Resource) datastore.Event {
	ev := added(r)
	ev.Type = datastore.Deleted
	return ev
}

func snapshot(t *testing.T, s *Source) (map[string]string, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	view, rev, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return view, rev
}

// waitChanged waits for a Changed signal.
func waitChanged(t *testing.T, s *Source, what string) {
	t.Helper()
	select {
	case <-s.Changed():
	case <-time.After(10 * time.Second):
		t.Fatalf("no Changed signal after %s", what)
	}
}

func startSource(t *testing.T, w Watcher, node string) *Source {
	t.Helper()
	s := New(w, Config{NodeName: node, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel; want nil", err)
		}
	})
	return s
}

func TestSnapshotWaitsUntilEveryWatchIsInSync(t *testing.T) {
	w := newFakeWatcher("node1")
	s := startSource(t, w, "node1")
	affinities := datastore.IPAMPrefix + "host/node1/"
	w.syncAll(affinities)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if view, _, err := s.Snapshot(ctx); err == nil {
		t.Fatalf("Snapshot returned a view of %d keys before the affinity watch was in sync; want it to wait", len(view))
	}
	w.chans[affinities] <- datastore.Event{Type: datastore.Resync}
	w.chans[affinities] <- datastore.Event{Type: datastore.Added, Key: affinities + "ipv4/block/10.1.0.0-26", Value: []byte(`{"state":"confirmed"}`)}
	w.chans[affinities] <- datastore.Event{Type: datastore.InSync}
	view, rev := snapshot(t, s)
	if rev != 1 {
		t.Errorf("first revision = %d; want 1", rev)
	}
	if got := view["/calico/bgp/v1/host/node1/blocks_v4/10.1.0.0-26"]; !strings.Contains(got, `"aggregate":true`) {
		t.Errorf("block key = %q; want the confirmed block aggregated", got)
	}
}

func TestSourceFollowsChangesAndResyncs(t *testing.T) {
	w := newFakeWatcher("node1")
	s := startSource(t, w, "node1")
	w.syncAll("")
	_, rev := snapshot(t, s)
	waitChanged(t, s, "the first sync")

	node1, node2 := testNode("node1", "10.0.0.1/24", nil), testNode("node2", "10.0.0.2/24", nil)
	w.send(t, added(node1), added(node2))
	waitChanged(t, s, "adding two nodes")
	view, rev2 := snapshot(t, s)
	if rev2 <= rev {
		t.Errorf("revision went from %d to %d after a change; want it to grow", rev, rev2)
	}
	if _, ok := view["/calico/bgp/v1/host/node1/peers_v4/Mesh_10_0_0_2"]; !ok {
		t.Errorf("no mesh peer to node2 in the view after adding it")
	}

	// A label nothing selects on changes no key: no signal, same revision.
	labelled := testNode("node2", "10.0.0.2/24", map[string]string{"rack": "r1"})
	ev := added(labelled)
	ev.Type = datastore.Modified
	w.send(t, ev)
	select {
	case <-s.Changed():
		t.Errorf("Changed signalled after a change that leaves the view as it was")
	case <-time.After(300 * time.Millisecond):
	}
	if _, rev3 := snapshot(t, s); rev3 != rev2 {
		t.Errorf("revision went from %d to %d after a change that leaves the view as it was", rev2, rev3)
	}

	// A resync that no longer lists node2 forgets it.
	nodes := prefixOf(t, datastore.ResourceKey(api.KindOf(node1), "", "node1"))
	w.chans[nodes] <- datastore.Event{Type: datastore.Resync}
	w.chans[nodes] <- added(node1)
	w.chans[nodes] <- datastore.Event{Type: datastore.InSync}
	waitChanged(t, s, "a resync without node2")
	view, _ = snapshot(t, s)
	if _, ok := view["/calico/bgp/v1/host/node2/ip_addr_v4"]; ok {
		t.Errorf("node2 is still in the view after a resync that did not list it")
	}

	w.send(t, deleted(node1))
	waitChanged(t, s, "deleting node1")
	view, _ = snapshot(t, s)
	if _, ok := view["/calico/bgp/v1/host/node1/ip_addr_v4"]; ok {
		t.Errorf("node1 is still in the view after its deletion")
	}
}

func TestRunFailsWhenAWatchStops(t *testing.T) {
	w := newFakeWatcher("node1")
	s := New(w, Config{NodeName: "node1", Logger: quiet})
	close(w.chans[Prefixes("node1")[0]])
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("Run returned %v; want an error saying the watch stopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept running after a watch closed")
	}
}

func TestPublishSignalsOnlyRealChanges(t *testing.T) {
	s := New(nil, Config{NodeName: "node1", Logger: quiet})
	s.publish(map[string]string{"/a": "1"})
	<-s.Changed()
	s.publish(map[string]string{"/a": "1"})
	select {
	case <-s.Changed():
		t.Errorf("an identical view signalled Changed")
	default:
	}
	if _, rev := snapshot(t, s); rev != 1 {
		t.Errorf("revision = %d after publishing the same view twice; want 1", rev)
	}
	s.publish(map[string]string{"/a": "2"})
	if view, rev := snapshot(t, s); rev != 2 || view["/a"] != "2" {
		t.Errorf("after a new view got revision %d and /a=%q; want 2 and \"2\"", rev, view["/a"])
	}
}

// TestSourceOverEtcd runs the Source against a real etcd, through an etcd restart.
func TestSourceOverEtcd(t *testing.T) {
	srv := etcdtest.StartServer(t)
	cli, err := datastore.New(datastore.Config{Endpoints: []string{srv.Endpoint}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := func(r api.Resource) {
		t.Helper()
		// Retried: right after an etcd restart the client may need a moment to reconnect.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := cli.Create(ctx, r)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("creating %s: %v", api.ID(r), err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	create(testNode("node1", "10.0.0.1/24", nil))
	create(testNode("node2", "10.0.0.2/24", nil))
	create(&api.IPPool{ObjectMeta: api.ObjectMeta{Name: "pool1"}, Spec: api.IPPoolSpec{CIDR: "192.168.0.0/16", IPIPMode: "Always"}})
	if _, err := cli.Raw().Put(ctx, "/calico/ipam/v2/host/node1/ipv4/block/192.168.3.0-26", `{"state":"confirmed"}`); err != nil {
		t.Fatal(err)
	}
	// Another node's affinity and a workload must not reach the view.
	if _, err := cli.Raw().Put(ctx, "/calico/ipam/v2/host/node2/ipv4/block/192.168.4.0-26", `{"state":"confirmed"}`); err != nil {
		t.Fatal(err)
	}

	s := startSource(t, cli, "node1")
	view, _ := snapshot(t, s)
	for _, k := range []string{
		"/calico/bgp/v1/host/node1/peers_v4/Mesh_10_0_0_2",
		"/calico/v1/ipam/v4/pool/192.168.0.0-16",
		"/calico/bgp/v1/host/node1/blocks_v4/192.168.3.0-26",
		"/calico/ipam/v2/host/node1/ipv4/block/192.168.3.0-26",
	} {
		if _, ok := view[k]; !ok {
			t.Errorf("key %s is missing from the first view", k)
		}
	}
	if _, ok := view["/calico/ipam/v2/host/node2/ipv4/block/192.168.4.0-26"]; ok {
		t.Errorf("another node's block affinity is in the view")
	}

	// waitFor waits until the view has key.
	waitFor := func(key, what string) map[string]string {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			view, _ := snapshot(t, s)
			if _, ok := view[key]; ok {
				return view
			}
			select {
			case <-s.Changed():
			case <-deadline:
				t.Fatalf("key %s did not appear after %s", key, what)
			}
		}
	}
	asn := api.ASNumber(65000)
	create(&api.BGPPeer{ObjectMeta: api.ObjectMeta{Name: "tor"}, Spec: api.BGPPeerSpec{PeerIP: "192.0.2.1", ASNumber: &asn}})
	view = waitFor("/calico/bgp/v1/host/node1/peers_v4/Global_192_0_2_1", "creating a global BGPPeer")
	var p keyview.Peer
	if err := json.Unmarshal([]byte(view["/calico/bgp/v1/host/node1/peers_v4/Global_192_0_2_1"]), &p); err != nil || p.ASNum != "65000" {
		t.Errorf("global peer = %+v (%v); want AS 65000", p, err)
	}

	srv.Stop()
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	create(testNode("node3", "10.0.0.3/24", nil))
	waitFor("/calico/bgp/v1/host/node1/peers_v4/Mesh_10_0_0_3", "creating a node after an etcd restart")

	if _, err := cli.Raw().Delete(ctx, "/calico/ipam/v2/host/node1/ipv4/block/192.168.3.0-26"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		view, _ := snapshot(t, s)
		if _, ok := view["/calico/bgp/v1/host/node1/blocks_v4/192.168.3.0-26"]; !ok {
			break
		}
		select {
		case <-s.Changed():
		case <-deadline:
			t.Fatal("the released block stayed in the view")
		}
	}
}
