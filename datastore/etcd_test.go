package datastore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/internal/etcdtest"
)

func newClient(t *testing.T, ep string) *Etcd {
	t.Helper()
	c, err := New(Config{Endpoints: []string{ep}, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ptr[T any](v T) *T { return &v }

// oneOfEach is a valid resource of every kind.
func oneOfEach() []api.Resource {
	asn := api.ASNumber(64513)
	return []api.Resource{
		&api.BGPConfiguration{ObjectMeta: api.ObjectMeta{Name: "default"}, Spec: api.BGPConfigurationSpec{NodeToNodeMeshEnabled: ptr(false), ASNumber: &asn}},
		&api.BGPPeer{ObjectMeta: api.ObjectMeta{Name: "peer1"}, Spec: api.BGPPeerSpec{PeerIP: "10.0.0.9", ASNumber: &asn}},
		&api.BGPFilter{ObjectMeta: api.ObjectMeta{Name: "no-default"}, Spec: api.BGPFilterSpec{
			ExportV4: []api.BGPFilterRule{{Action: "Reject", MatchOperator: "Equal", CIDR: "0.0.0.0/0"}}}},
		&api.ClusterInformation{ObjectMeta: api.ObjectMeta{Name: "default"}, Spec: api.ClusterInformationSpec{ClusterGUID: "abc", DatastoreReady: ptr(true)}},
		&api.FelixConfiguration{ObjectMeta: api.ObjectMeta{Name: "default"}, Spec: api.FelixConfigurationSpec{IPIPEnabled: ptr(true), IptablesRefreshInterval: &api.Duration{Duration: 90 * time.Second}}},
		&api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "gnp1"}, Spec: api.GlobalNetworkPolicySpec{Order: ptr(100.0), Selector: `role == "db"`,
			Ingress: []api.Rule{{Action: "Allow", Protocol: ptr(api.ProtocolFromString("TCP")), Destination: api.EntityRule{Ports: []api.Port{{MinPort: 5432, MaxPort: 5432}}}}}}},
		&api.GlobalNetworkSet{ObjectMeta: api.ObjectMeta{Name: "set1"}, Spec: api.GlobalNetworkSetSpec{Nets: []string{"10.9.0.0/16"}}},
		&api.HostEndpoint{ObjectMeta: api.ObjectMeta{Name: "hep1"}, Spec: api.HostEndpointSpec{Node: "node1", InterfaceName: "eth0"}},
		&api.IPPool{ObjectMeta: api.ObjectMeta{Name: "pool1"}, Spec: api.IPPoolSpec{CIDR: "10.1.0.0/16", NATOutgoing: true}},
		&api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "np1", Namespace: "ns1"}, Spec: api.NetworkPolicySpec{Selector: "all()", Egress: []api.Rule{{Action: "Deny"}}}},
		&api.Node{ObjectMeta: api.ObjectMeta{Name: "node1", Labels: map[string]string{"rack": "a"}}, Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: "10.0.0.1/24"}}},
		&api.Tier{ObjectMeta: api.ObjectMeta{Name: "security"}, Spec: api.TierSpec{Order: ptr(100.0)}},
		&api.Profile{ObjectMeta: api.ObjectMeta{Name: "net1"}, Spec: api.ProfileSpec{LabelsToApply: map[string]string{"net1": ""}, Egress: []api.Rule{{Action: "Allow"}}}},
		&api.WorkloadEndpoint{ObjectMeta: api.ObjectMeta{Name: "node1-cni-abc-eth0", Namespace: "default"},
			Spec: api.WorkloadEndpointSpec{Node: "node1", Orchestrator: "cni", Workload: "abc", Endpoint: "eth0", InterfaceName: "cali0123456789a", IPNetworks: []string{"10.1.0.1/32"}}},
	}
}

func TestEveryKindRoundTripsThroughEtcd(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	all := oneOfEach()
	if len(all) != len(api.Kinds) {
		t.Fatalf("test covers %d kinds, api has %d", len(all), len(api.Kinds))
	}
	for _, r := range all {
		r.Default()
		if err := r.Validate(); err != nil {
			t.Fatalf("%s is not valid: %v", api.ID(r), err)
		}
		k := api.KindOf(r)
		m := r.GetObjectMeta()
		created, err := c.Create(ctx, r)
		if err != nil {
			t.Fatalf("creating %s: %v", api.ID(r), err)
		}
		if created.GetObjectMeta().UID == "" || created.GetObjectMeta().CreationTimestamp == "" || created.GetObjectMeta().ResourceVersion == "" {
			t.Errorf("%s: create should set uid, creationTimestamp and resourceVersion, got %+v", api.ID(r), created.GetObjectMeta())
		}
		got, err := c.Get(ctx, k, m.Namespace, m.Name)
		if err != nil {
			t.Fatalf("getting %s: %v", api.ID(r), err)
		}
		if !reflect.DeepEqual(got, created) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", api.ID(r), got, created)
		}
		list, rev, err := c.List(ctx, k, "")
		if err != nil || len(list) != 1 || rev == 0 {
			t.Errorf("listing %s: got %d items, rev %d, err %v", k.Name, len(list), rev, err)
		}
	}
}

func TestStoredValueIsCalicoJSONWithoutResourceVersion(t *testing.T) {
	ep := etcdtest.Start(t)
	c := newClient(t, ep)
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "pool1"}, Spec: api.IPPoolSpec{CIDR: "10.1.0.0/16"}}
	p.Default()
	if _, err := c.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Raw().Get(context.Background(), "/calico/resources/v3/projectcalico.org/ippools/pool1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v (%d kvs)", err, len(resp.Kvs))
	}
	want := fmt.Sprintf(`{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"pool1","uid":"%s","creationTimestamp":"%s"},"spec":{"cidr":"10.1.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never","nodeSelector":"all()","allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}`,
		p.UID, p.CreationTimestamp)
	if got := string(resp.Kvs[0].Value); got != want {
		t.Errorf("stored value\n got %s\nwant %s", got, want)
	}
}

func TestCreateRefusesAnExistingResource(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	mk := func() *api.Profile { return &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p"}} }
	if _, err := c.Create(ctx, mk()); err != nil {
		t.Fatal(err)
	}
	_, err := c.Create(ctx, mk())
	if !errors.Is(err, ErrAlreadyExists) || err.Error() != "resource already exists: Profile(p)" {
		t.Errorf("second create: got %v, want resource already exists: Profile(p)", err)
	}
}

func TestUpdateIsCompareAndSwapOnResourceVersion(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	p := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p"}}
	if _, err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	stale := p.ResourceVersion
	uid := p.UID
	first := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p", ResourceVersion: stale}, Spec: api.ProfileSpec{LabelsToApply: map[string]string{"a": "1"}}}
	if _, err := c.Update(ctx, first); err != nil {
		t.Fatalf("update with current version: %v", err)
	}
	if first.UID != uid {
		t.Errorf("update should keep uid %s, got %s", uid, first.UID)
	}
	second := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p", ResourceVersion: stale}}
	_, err := c.Update(ctx, second)
	if !errors.Is(err, ErrConflict) {
		t.Errorf("update with stale version %s: got %v, want an update conflict", stale, err)
	}
	got, _ := c.Get(ctx, api.KindOf(p), "", "p")
	if got.(*api.Profile).Spec.LabelsToApply["a"] != "1" {
		t.Errorf("the stale update must not have been written, got %+v", got)
	}
	if _, err := c.Update(ctx, &api.Profile{ObjectMeta: api.ObjectMeta{Name: "missing", ResourceVersion: "5"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing resource: got %v, want not found", err)
	}
}

func TestApplyCreatesThenReplaces(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	if _, err := c.Apply(ctx, &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p"}}); err != nil {
		t.Fatal(err)
	}
	first, _ := c.Get(ctx, api.KindOf(&api.Profile{}), "", "p")
	out, err := c.Apply(ctx, &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p", ResourceVersion: "1"}, Spec: api.ProfileSpec{LabelsToApply: map[string]string{"x": "y"}}})
	if err != nil {
		t.Fatalf("apply over an existing resource (ignoring its stale version): %v", err)
	}
	if out.GetObjectMeta().UID != first.GetObjectMeta().UID {
		t.Errorf("apply should keep the uid")
	}
}

func TestDeleteWithAndWithoutVersion(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	k, _ := api.LookupKind("wep")
	var w *api.WorkloadEndpoint
	for _, r := range oneOfEach() {
		if e, ok := r.(*api.WorkloadEndpoint); ok {
			w = e
		}
	}
	if _, err := c.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, k, "default", w.Name, "1"); !errors.Is(err, ErrConflict) {
		t.Errorf("delete with a wrong version: got %v, want conflict", err)
	}
	old, err := c.Delete(ctx, k, "default", w.Name, w.ResourceVersion)
	if err != nil || old.GetObjectMeta().Name != w.Name {
		t.Fatalf("delete with the right version: %v", err)
	}
	_, err = c.Delete(ctx, k, "default", w.Name, "")
	if !errors.Is(err, ErrNotFound) || err.Error() != "resource does not exist: WorkloadEndpoint(default/"+w.Name+")" {
		t.Errorf("delete of a missing resource: got %v", err)
	}
}

func TestListOfANamespacedKindFiltersByNamespace(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx := context.Background()
	for _, ns := range []string{"a", "b", "b"} {
		np := &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "p" + strconv.Itoa(len(ns)), Namespace: ns}}
		np.Name = fmt.Sprintf("p-%s-%d", ns, time.Now().UnixNano())
		if _, err := c.Create(ctx, np); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := api.LookupKind("NetworkPolicy")
	for ns, want := range map[string]int{"a": 1, "b": 2, "": 3} {
		list, _, err := c.List(ctx, k, ns)
		if err != nil || len(list) != want {
			t.Errorf("namespace %q: got %d policies (err %v), want %d", ns, len(list), err, want)
		}
	}
}

func TestUnreachableEtcdGivesAClearErrorQuickly(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: 500 * time.Millisecond, DialTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Get(context.Background(), api.Kinds[0], "", "x")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s, want about the request timeout", d)
	}
	t.Logf("message: %v", err)
}

func TestConfigFromEnvironment(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if _, err := ConfigFromLookup(get); err == nil || err.Error() != "ETCD_ENDPOINTS: no etcd endpoints specified" {
		t.Errorf("no endpoints: got %v", err)
	}
	env["ETCD_ENDPOINTS"] = "http://10.0.0.1:2379, https://10.0.0.2:2379"
	c, err := ConfigFromLookup(get)
	if err != nil || !reflect.DeepEqual(c.Endpoints, []string{"http://10.0.0.1:2379", "https://10.0.0.2:2379"}) {
		t.Errorf("two endpoints: got %v, %v", c.Endpoints, err)
	}
	env["ETCD_ENDPOINTS"] = "10.0.0.1:2379"
	if _, err := ConfigFromLookup(get); err == nil {
		t.Errorf("an endpoint without a scheme should be refused")
	}
	env["ETCD_ENDPOINTS"] = "http://10.0.0.1:2379"
	env["ETCD_CERT_FILE"] = "/nonexistent/cert.pem"
	env["ETCD_KEY_FILE"] = "/nonexistent/key.pem"
	c, _ = ConfigFromLookup(get)
	if _, err := New(c); err == nil {
		t.Errorf("missing TLS files should be an error naming the variable")
	} else {
		t.Logf("message: %v", err)
	}
}

// collect reads events until cond is true or the timeout passes.
func collect(t *testing.T, ch <-chan Event, cond func([]Event) bool) []Event {
	t.Helper()
	var evs []Event
	timeout := time.After(10 * time.Second)
	for !cond(evs) {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed early after %v", evs)
			}
			evs = append(evs, ev)
		case <-timeout:
			t.Fatalf("timed out; got %d events: %v", len(evs), evs)
		}
	}
	return evs
}

func TestWatchDeliversCreateUpdateDeleteInOrder(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Create(ctx, &api.Profile{ObjectMeta: api.ObjectMeta{Name: "before"}}); err != nil {
		t.Fatal(err)
	}
	ch := c.Watch(ctx, ResourcePrefix, 0)
	evs := collect(t, ch, func(e []Event) bool { return len(e) > 0 && e[len(e)-1].Type == InSync })
	if len(evs) != 3 || evs[0].Type != Resync || evs[1].Type != Added || evs[1].Resource.GetObjectMeta().Name != "before" {
		t.Fatalf("initial listing: got %v", evs)
	}
	p := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "p"}}
	c.Create(ctx, p)
	p.Spec.LabelsToApply = map[string]string{"a": "b"}
	c.Update(ctx, p)
	c.Delete(ctx, api.KindOf(p), "", "p", "")
	evs = collect(t, ch, func(e []Event) bool { return len(e) == 3 })
	want := []EventType{Added, Modified, Deleted}
	for i, ev := range evs {
		if ev.Type != want[i] || ev.Key != ResourcePrefix+"profiles/p" {
			t.Errorf("event %d: got %s %s, want %s", i, ev.Type, ev.Key, want[i])
		}
	}
	if evs[2].Resource == nil || evs[2].Resource.(*api.Profile).Spec.LabelsToApply["a"] != "b" {
		t.Errorf("a delete event should carry the last value, got %+v", evs[2].Resource)
	}
}

// cache applies watch events the way consumers do.
type cache map[string]string

func (c cache) apply(ev Event) {
	switch ev.Type {
	case Resync:
		clear(c)
	case Added, Modified:
		c[ev.Key] = string(ev.Value)
	case Deleted:
		delete(c, ev.Key)
	}
}

func TestWatchResyncsAfterCompactionWithoutLosingUpdates(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := c.Raw()
	put := func(k, v string) int64 {
		resp, err := kv.Put(ctx, "/calico/test/"+k, v)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	start := put("a", "1")
	put("b", "1")
	// A consumer that listed at `start` and now watches from start+1, but etcd compacts before it starts.
	put("a", "2")
	kv.Delete(ctx, "/calico/test/b")
	last := put("c", "1")
	if _, err := kv.Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	consumer := cache{"/calico/test/a": "1", "/calico/test/b": "1"} // what it knew at `start`
	ch := c.Watch(ctx, "/calico/test/", start+1)
	for _, ev := range collect(t, ch, func(e []Event) bool { return len(e) > 0 && e[len(e)-1].Type == InSync }) {
		consumer.apply(ev)
	}
	want := cache{"/calico/test/a": "2", "/calico/test/c": "1"}
	if !reflect.DeepEqual(consumer, want) {
		t.Errorf("after resync the consumer has %v, want %v", consumer, want)
	}
	put("d", "1")
	for _, ev := range collect(t, ch, func(e []Event) bool { return len(e) == 1 }) {
		consumer.apply(ev)
	}
	if consumer["/calico/test/d"] != "1" {
		t.Errorf("live updates should follow the resync, got %v", consumer)
	}
}

// A listing larger than one page is read page by page at one revision: every key once, in order, none from outside
// the prefix, and a write made while the listing is under way arrives after InSync, not inside the snapshot.
func TestWatchListsALargePrefixAsOneSnapshotInPages(t *testing.T) {
	c := newClient(t, etcdtest.Start(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv := c.Raw()
	const n = 2*listPage + 234
	key := func(i int) string { return fmt.Sprintf("/calico/test/k%05d", i) }
	for i := range n {
		if _, err := kv.Put(ctx, key(i), "old"); err != nil {
			t.Fatal(err)
		}
	}
	for _, outside := range []string{"/calico/test0", "/calico/tesu/x", "/calico/tes"} {
		if _, err := kv.Put(ctx, outside, "x"); err != nil {
			t.Fatal(err)
		}
	}
	ch := c.Watch(ctx, "/calico/test/", 0)
	first := collect(t, ch, func(e []Event) bool { return len(e) == 1 })
	if first[0].Type != Resync {
		t.Fatalf("the listing should start with Resync, got %v", first[0])
	}
	// The first page has been read (Resync follows it); the rest is read at its revision.
	if _, err := kv.Put(ctx, key(n-1), "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, key(n), "new"); err != nil {
		t.Fatal(err)
	}
	listing := collect(t, ch, func(e []Event) bool { return len(e) > 0 && e[len(e)-1].Type == InSync })
	if got := len(listing) - 1; got != n {
		t.Fatalf("listing: got %d keys, want %d", got, n)
	}
	for i, ev := range listing[:n] {
		if ev.Type != Added || ev.Key != key(i) || string(ev.Value) != "old" {
			t.Fatalf("listing event %d: got %s %s=%q, want Added %s=\"old\"", i, ev.Type, ev.Key, ev.Value, key(i))
		}
	}
	if in := listing[n]; in.Revision != first[0].Revision {
		t.Errorf("InSync at revision %d, Resync at %d: the pages should be one snapshot", in.Revision, first[0].Revision)
	}
	live := collect(t, ch, func(e []Event) bool { return len(e) == 2 })
	if live[0].Type != Modified || live[0].Key != key(n-1) || live[1].Type != Added || live[1].Key != key(n) {
		t.Errorf("the writes made during the listing should follow it as live changes, got %v", live)
	}
}

func TestWatchSurvivesAnEtcdRestart(t *testing.T) {
	srv := etcdtest.StartServer(t)
	c := newClient(t, srv.Endpoint)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Watch(ctx, "/calico/test/", 0)
	collect(t, ch, func(e []Event) bool { return len(e) > 0 && e[len(e)-1].Type == InSync })
	srv.Stop()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	if _, err := c.Raw().Put(ctx, "/calico/test/after", "x"); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
	evs := collect(t, ch, func(e []Event) bool { return len(e) > 0 && e[len(e)-1].Key == "/calico/test/after" })
	if evs[len(evs)-1].Type != Added {
		t.Errorf("got %v", evs)
	}
}
