package ipam

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// countingStore is etcd, counting the reads and commits the allocator makes.
type countingStore struct {
	revisionStore
	reads, commits atomic.Int64
}

func (s *countingStore) Read(ctx context.Context, gets ...Get) ([][]KV, error) {
	s.reads.Add(1)
	return s.revisionStore.Read(ctx, gets...)
}

func (s *countingStore) CommitAt(ctx context.Context, guards []Guard, ops []Op) (bool, int64, error) {
	s.commits.Add(1)
	return s.revisionStore.CommitAt(ctx, guards, ops)
}

func (s *countingStore) Commit(ctx context.Context, guards []Guard, ops []Op) (bool, error) {
	s.commits.Add(1)
	return s.revisionStore.Commit(ctx, guards, ops)
}

func (s *countingStore) reset() { s.reads.Store(0); s.commits.Store(0) }

func (c *cluster) countingIPAM() (*IPAM, *countingStore) {
	s := &countingStore{revisionStore: EtcdStore(connect(c.t, c.endpoint)).(revisionStore)}
	return NewWithStore(s), s
}

// assign4 assigns one IPv4 address to handle on host, failing the test on error.
func assign4(t *testing.T, m *IPAM, handle, host string) netip.Addr {
	t.Helper()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: handle, Host: host})
	if err != nil || len(v4) != 1 {
		t.Fatalf("AutoAssign(%s on %s) = %v, %v; want one address", handle, host, ips(v4), err)
	}
	return netip.MustParseAddr(v4[0].IP.String())
}

func (c *cluster) updatePool(name string, change func(*api.IPPool)) {
	c.t.Helper()
	r, err := c.ds.Get(ctx, api.KindOf(&api.IPPool{}), "", name)
	if err != nil {
		c.t.Fatal(err)
	}
	p := r.(*api.IPPool)
	change(p)
	if _, err := c.ds.Update(ctx, p); err != nil {
		c.t.Fatalf("updating pool %s: %v", name, err)
	}
}

func TestAWarmAllocatorAssignsAndReleasesWithOneTransactionAndNoRead(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m, s := c.countingIPAM()
	assign4(t, m, "first", "n") // cold: reads the setup, the block, the affinity and the handle
	if s.reads.Load() == 0 {
		t.Fatalf("a cold allocator assigned without reading anything")
	}

	s.reset()
	a := assign4(t, m, "second", "n")
	if r, n := s.reads.Load(), s.commits.Load(); r != 0 || n != 1 {
		t.Errorf("warm AutoAssign made %d reads and %d commits, want 0 and 1", r, n)
	}
	s.reset()
	if err := m.ReleaseByHandle(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	if r, n := s.reads.Load(), s.commits.Load(); r != 0 || n != 1 {
		t.Errorf("warm ReleaseByHandle made %d reads and %d commits, want 0 and 1", r, n)
	}
	if st := m.Stats(); st.Cached != 2 || st.Conflicts != 0 {
		t.Errorf("stats %+v, want 2 cached operations and no conflict", st)
	}
	if c.raw(HandleKey("second")) != "" {
		t.Errorf("the released handle is still stored")
	}
	if _, _, err := m.GetAssignmentAttributes(ctx, net.IP(a.AsSlice())); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("the released address %s: %v, want ErrNotAssigned", a, err)
	}
	mustCheck(t, m)
}

func TestAStaleCacheFailsItsTransactionAndRetriesFromFreshReads(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	other := c.ipam() // another process on the same host, such as a CNI plugin
	assign4(t, m, "warm", "n")

	// The other process changes the block m has cached.
	theirs := assign4(t, other, "theirs", "n")
	before := m.Stats()
	mine := assign4(t, m, "mine", "n")
	after := m.Stats()
	if mine == theirs {
		t.Fatalf("%s was given to both allocators", mine)
	}
	if after.Conflicts != before.Conflicts+1 || after.Cached != before.Cached {
		t.Errorf("a stale block: stats went from %+v to %+v, want one more conflict and no cached assignment", before, after)
	}
	// The fresh read refilled the cache.
	assign4(t, m, "again", "n")
	if got := m.Stats(); got.Cached != after.Cached+1 || got.Conflicts != after.Conflicts {
		t.Errorf("after a refresh: stats %+v, want one more cached assignment and no conflict", got)
	}

	// A stale block on release: the release is retried from a fresh read and frees only its own address.
	assign4(t, other, "theirs2", "n")
	before = m.Stats()
	if err := m.ReleaseByHandle(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats(); got.Conflicts != before.Conflicts+1 {
		t.Errorf("a stale release: stats went from %+v to %+v, want one more conflict", before, got)
	}
	if _, _, err := m.GetAssignmentAttributes(ctx, net.IP(mine.AsSlice())); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("released %s: %v, want ErrNotAssigned", mine, err)
	}
	if h, _, err := m.GetAssignmentAttributes(ctx, net.IP(theirs.AsSlice())); err != nil || h != "theirs" {
		t.Errorf("the other process's %s: held by %q (%v), want theirs", theirs, h, err)
	}

	// A handle the other process released: the cached one must not be trusted.
	assign4(t, m, "gone", "n")
	if err := other.ReleaseByHandle(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := m.ReleaseByHandle(ctx, "gone"); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("releasing a handle released elsewhere: %v, want ErrNotFound", err)
	}

	// A handle that already exists when m assigns to it again: the count adds up.
	assign4(t, m, "twice", "n")
	assign4(t, m, "twice", "n")
	if got, err := m.IPsByHandle(ctx, "twice"); err != nil || len(got) != 2 {
		t.Errorf("handle assigned twice holds %v (%v), want 2 addresses", got, err)
	}
	if got := c.raw(HandleKey("twice")); got != `{"block":{"10.0.0.0/26":2}}` {
		t.Errorf("handle assigned twice is stored as %s", got)
	}
	mustCheck(t, m)
}

func TestAPoolDeletedWhileCachedIsNotUsed(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	assign4(t, m, "warm", "n")
	if _, err := c.ds.Delete(ctx, api.KindOf(&api.IPPool{}), "", "p", ""); err != nil {
		t.Fatal(err)
	}
	if v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "after", Host: "n"}); !errors.Is(err, ErrNoPools) {
		t.Errorf("after deleting the only pool: %v, %v; want ErrNoPools", ips(v4), err)
	}
	c.pool("q", "10.1.0.0/24", 26)
	if a := assign4(t, m, "new", "n"); !netip.MustParsePrefix("10.1.0.0/24").Contains(a) {
		t.Errorf("assigned %s, want an address of the new pool 10.1.0.0/24", a)
	}
}

func TestAPoolOrNodeChangedWhileCachedIsNotUsed(t *testing.T) {
	c := newCluster(t)
	c.pool("a", "10.1.0.0/24", 26, func(p *api.IPPool) { p.Spec.NodeSelector = "zone == 'east'" })
	c.pool("b", "10.2.0.0/24", 26)
	c.node("n", map[string]string{"zone": "east"})
	a, b := netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.2.0.0/24")
	m := c.ipam()
	if got := assign4(t, m, "warm", "n"); !a.Contains(got) {
		t.Fatalf("assigned %s, want an address of %s (the first pool)", got, a)
	}
	steps := []struct {
		name   string
		change func()
		want   netip.Prefix
	}{
		{"pool a disabled", func() { c.updatePool("a", func(p *api.IPPool) { p.Spec.Disabled = true }) }, b},
		{"pool a enabled again", func() { c.updatePool("a", func(p *api.IPPool) { p.Spec.Disabled = false }) }, a},
		{"pool a made Tunnel-only", func() {
			c.updatePool("a", func(p *api.IPPool) { p.Spec.AllowedUses = []string{api.IPPoolAllowedUseTunnel} })
		}, b},
		{"pool a for workloads again", func() { c.updatePool("a", func(p *api.IPPool) { p.Spec.AllowedUses = nil }) }, a},
		{"the node moved out of pool a's selector", func() {
			r, err := c.ds.Get(ctx, api.KindOf(&api.Node{}), "", "n")
			if err != nil {
				t.Fatal(err)
			}
			r.(*api.Node).Labels = map[string]string{"zone": "west"}
			if _, err := c.ds.Update(ctx, r); err != nil {
				t.Fatal(err)
			}
		}, b},
	}
	for i, s := range steps {
		s.change()
		if got := assign4(t, m, fmt.Sprintf("step%d", i), "n"); !s.want.Contains(got) {
			t.Errorf("%s: assigned %s, want an address of %s", s.name, got, s.want)
		}
		// Assigned again, now from the refreshed cache.
		if got := assign4(t, m, fmt.Sprintf("step%d-again", i), "n"); !s.want.Contains(got) {
			t.Errorf("%s, assigning again: %s, want an address of %s", s.name, got, s.want)
		}
	}
	mustCheck(t, m)
}

func TestABlockTakenByAnotherHostWhileCachedIsNotUsed(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	first := assign4(t, m, "warm", "n")
	cidr := blockOf(first, 26)

	// Another host now holds the block (as after n's affinity was released and the block handed on); n still
	// has its affinity key, which is stale.
	b := c.block(BlockKey(cidr))
	b.SetHost("thief")
	c.put(BlockKey(cidr), mustJSON(t, b))
	c.put(AffinityKey("thief", cidr), `{"state":"confirmed"}`)

	got := assign4(t, m, "after", "n")
	if cidr.Contains(got) {
		t.Errorf("assigned %s from %s, which belongs to thief now", got, cidr)
	}
	if h := c.block(BlockKey(cidr)).Host(); h != "thief" {
		t.Errorf("block %s is affine to %q now, want thief", cidr, h)
	}
	if c.raw(AffinityKey("n", cidr)) != "" {
		t.Errorf("n's stale affinity to %s is still stored", cidr)
	}
	if st := m.Stats(); st.Conflicts == 0 || st.BlocksClaimed != 2 {
		t.Errorf("stats %+v, want a conflict (the stale cache) and a second block claimed", st)
	}
}

// revisionlessStore is a store that cannot say at which revision a commit took effect, as the Kubernetes one.
type revisionlessStore struct{ Store }

func TestAStoreWithoutCommitRevisionsIsNotCached(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := NewWithStore(revisionlessStore{EtcdStore(connect(t, c.endpoint))})
	if m.cache != nil {
		t.Fatal("an allocator over a store without commit revisions has a cache")
	}
	for i := range 3 {
		assign4(t, m, fmt.Sprint("h", i), "n")
		if err := m.ReleaseByHandle(ctx, fmt.Sprint("h", i)); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Cached != 0 {
		t.Errorf("stats %+v, want nothing cached", st)
	}
}

func TestCacheKeepsOnlyWhatATransactionCanBeGuardedOn(t *testing.T) {
	var c cache
	c.saw([]Get{{Key: "/single"}, {Key: "/absent"}, {Key: "/p/", Prefix: true}, {Key: "/keysonly", KeysOnly: true}},
		[][]KV{{{Key: "/single", Value: []byte("v"), ModRevision: 7}}, nil, {{Key: "/p/x", Value: []byte("x"), ModRevision: 3}},
			{{Key: "/keysonly", ModRevision: 4}}})
	if kv, ok := c.get("/single"); !ok || kv.ModRevision != 7 || string(kv.Value) != "v" {
		t.Errorf("a single key read: %+v %v", kv, ok)
	}
	if kv, ok := c.get("/absent"); !ok || kv.ModRevision != 0 {
		t.Errorf("a key read as absent must be known with revision 0: %+v %v", kv, ok)
	}
	for _, k := range []string{"/p/x", "/keysonly"} {
		if _, ok := c.get(k); ok {
			t.Errorf("%s was kept from a prefix or keys-only read", k)
		}
	}

	c.wrote([]Op{{Key: "/single", Value: []byte("w")}, {Key: "/gone", Delete: true}}, 9, nil)
	if kv, _ := c.get("/single"); kv.ModRevision != 9 || string(kv.Value) != "w" {
		t.Errorf("a written key: %+v, want w at 9", kv)
	}
	if kv, ok := c.get("/gone"); !ok || kv.ModRevision != 0 {
		t.Errorf("a deleted key must be known absent: %+v %v", kv, ok)
	}

	c.forget([]Guard{{Key: "/single", Rev: 9}}, []Op{{Key: "/gone", Delete: true}})
	for _, k := range []string{"/single", "/gone"} {
		if _, ok := c.get(k); ok {
			t.Errorf("%s is still known after a failed commit", k)
		}
	}

	for i := range maxCachedKeys + 1 {
		c.wrote([]Op{{Key: fmt.Sprint("/k", i), Value: []byte("v")}}, int64(i+1), nil)
	}
	if n := len(c.keys); n > maxCachedKeys {
		t.Errorf("the cache holds %d keys, more than its bound %d", n, maxCachedKeys)
	}

	var none *cache // an allocator without a cache
	none.saw([]Get{{Key: "/a"}}, [][]KV{nil})
	none.wrote([]Op{{Key: "/a"}}, 1, nil)
	if _, ok := none.get("/a"); ok {
		t.Error("a nil cache knows a key")
	}
}

func TestCachedBlocksAreCopiesTheirUsersMayChange(t *testing.T) {
	var c cache
	b := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
	b.Assign(1, "h", nil)
	written := b.clone()
	c.wrote([]Op{{Key: "/b", Value: []byte(mustJSON(t, b))}}, 5, map[string]*Block{"/b": written})
	c.saw([]Get{{Key: "/read"}}, [][]KV{{{Key: "/read", Value: []byte(mustJSON(t, b)), ModRevision: 3}}})
	for _, key := range []string{"/b", "/read"} {
		for range 2 { // the second time from the block decoded the first time
			got, _, ok := c.block(key)
			if !ok || got.InUse() != 1 || got.Free() != 3 {
				t.Fatalf("%s: cached block %+v %v, want 1 in use and 3 free", key, got, ok)
			}
			got.Assign(3, "other", nil)
			got.ReleaseHandle("h")
		}
	}
	if written.InUse() != 1 || written.Free() != 3 {
		t.Errorf("the block given to the cache changed: %d in use, %d free", written.InUse(), written.Free())
	}
	if _, _, ok := c.block("/unknown"); ok {
		t.Error("an unknown block was found")
	}
}

// TestAColdAllocatorMakesTheRoundTripsItMadeWithoutACache guards a CNI plugin process, which makes one or two
// requests and exits: the cache must cost it no read or transaction.
func TestAColdAllocatorMakesTheRoundTripsItMadeWithoutACache(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	c.node("n", nil)
	assign4(t, c.ipam(), "existing", "n") // the block exists, as it does for every ADD but the first
	cni := func(m *IPAM, handle string) {
		// ADD: release what an earlier failed ADD may have left, then assign; DEL: release.
		if err := m.ReleaseByHandle(ctx, handle); !errors.Is(err, datastore.ErrNotFound) {
			t.Fatalf("releasing a new handle: %v", err)
		}
		assign4(t, m, handle, "n")
		if err := NewWithStore(EtcdStore(connect(t, c.endpoint))).ReleaseByHandle(ctx, handle); err != nil {
			t.Fatal(err)
		}
	}
	cold, cs := c.countingIPAM()
	plain := &countingStore{revisionStore: EtcdStore(connect(t, c.endpoint)).(revisionStore)}
	cni(cold, "cold")
	cni(NewWithStore(revisionlessStore{plain}), "plain")
	if cs.reads.Load() != plain.reads.Load() || cs.commits.Load() != plain.commits.Load() {
		t.Errorf("an ADD by a cold allocator made %d reads and %d commits; without a cache %d and %d",
			cs.reads.Load(), cs.commits.Load(), plain.reads.Load(), plain.commits.Load())
	}
}
