package ipam

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/datastore"
)

// assignIP assigns one address and fails the test if that does not work.
func assignIP(t *testing.T, m *IPAM, addr, handle string, attrs map[string]string, host string) {
	t.Helper()
	if err := m.AssignIP(ctx, net.ParseIP(addr), handle, attrs, host); err != nil {
		t.Fatalf("assigning %s to %q on %s: %v", addr, handle, host, err)
	}
}

// ipamState is every key and value under the IPAM prefix, to show that an operation changed nothing.
func ipamState(t *testing.T, c *cluster) map[string]string {
	t.Helper()
	resp, err := c.ds.Raw().Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

func TestAllocationsListsEveryAssignedAddressOfEveryBlockSortedByAddress(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.pool("v6", "fd00:1::/120", 124)
	m := c.ipam()

	if got, err := m.Allocations(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Allocations with no blocks = %v, %v; want nothing", got, err)
	}
	// Assigned out of address order, over blocks of three hosts and two families.
	assignIP(t, m, "fd00:1::5", "v6", map[string]string{"pod": "six"}, "node1")
	assignIP(t, m, "10.0.0.20", "b", map[string]string{"pod": "b"}, "node2")
	assignIP(t, m, "10.0.0.3", "a", map[string]string{"pod": "a", "ns": "x"}, "node1")
	assignIP(t, m, "10.0.0.1", "", nil, "node1")
	assignIP(t, m, "10.0.0.40", "c", nil, "node3")
	if err := m.ReleaseHostAffinities(ctx, "node3"); err != nil { // its block, still in use, is affine to nobody
		t.Fatal(err)
	}

	got, err := m.Allocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix
	want := []Allocation{
		{netip.MustParseAddr("10.0.0.1"), p("10.0.0.0/29"), "node1", "", nil},
		{netip.MustParseAddr("10.0.0.3"), p("10.0.0.0/29"), "node1", "a", map[string]string{"pod": "a", "ns": "x"}},
		{netip.MustParseAddr("10.0.0.20"), p("10.0.0.16/29"), "node2", "b", map[string]string{"pod": "b"}},
		{netip.MustParseAddr("10.0.0.40"), p("10.0.0.40/29"), "", "c", nil},
		{netip.MustParseAddr("fd00:1::5"), p("fd00:1::/124"), "node1", "v6", map[string]string{"pod": "six"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Allocations =\n%+v\nwant\n%+v", got, want)
	}

	// The attributes are the caller's to keep: changing them changes nothing stored.
	got[1].Attrs["pod"] = "changed"
	if h, attrs, err := m.GetAssignmentAttributes(ctx, net.ParseIP("10.0.0.3")); err != nil || h != "a" || !maps.Equal(attrs, want[1].Attrs) {
		t.Errorf("after changing the listed attributes, 10.0.0.3 is held by %q with %v (%v), want a with %v", h, attrs, err, want[1].Attrs)
	}
}

func TestReleaseIfHeldByReleasesTheAddressAndItsHandleCount(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.node("node1", nil)
	m := c.ipam()
	assignIP(t, m, "10.0.0.1", "pod1", nil, "node1")
	assignIP(t, m, "10.0.0.2", "pod1", nil, "node1")

	released, err := m.ReleaseIfHeldBy(ctx, netip.MustParseAddr("10.0.0.1"), "pod1")
	if err != nil || !released {
		t.Fatalf("ReleaseIfHeldBy(10.0.0.1, pod1) = %v, %v; want released", released, err)
	}
	if got, err := m.IPsByHandle(ctx, "pod1"); err != nil || len(got) != 1 || got[0].String() != "10.0.0.2" {
		t.Errorf("IPsByHandle(pod1) after releasing 10.0.0.1 = %v, %v; want [10.0.0.2]", got, err)
	}
	mustCheck(t, m)

	released, err = m.ReleaseIfHeldBy(ctx, netip.MustParseAddr("10.0.0.2"), "pod1")
	if err != nil || !released {
		t.Fatalf("ReleaseIfHeldBy(10.0.0.2, pod1) = %v, %v; want released", released, err)
	}
	if _, err := m.IPsByHandle(ctx, "pod1"); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("IPsByHandle(pod1) after releasing its last address: %v, want ErrNotFound (handle deleted)", err)
	}
	if got := c.keys(BlockPrefix(4)); len(got) != 1 {
		t.Errorf("blocks after emptying a live host's block = %v, want it kept", got)
	}
	mustCheck(t, m)

	// Releasing again finds nothing to release.
	if released, err := m.ReleaseIfHeldBy(ctx, netip.MustParseAddr("10.0.0.2"), "pod1"); err != nil || released {
		t.Errorf("releasing a released address = %v, %v; want false, nil", released, err)
	}
}

func TestReleaseIfHeldByLeavesAnAddressTheHandleDoesNotHold(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		handle string
		setup  func(t *testing.T, m *IPAM)
	}{
		{"an address released and re-assigned to another handle", "10.0.0.1", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.1", "old", map[string]string{"pod": "old"}, "node1")
			if na, err := m.ReleaseIPs(ctx, []net.IP{net.ParseIP("10.0.0.1")}); err != nil || len(na) != 0 {
				t.Fatalf("releasing 10.0.0.1: %v %v", na, err)
			}
			assignIP(t, m, "10.0.0.1", "new", map[string]string{"pod": "new"}, "node1")
		}},
		{"an address of another handle in a block the handle also uses", "10.0.0.2", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.1", "old", nil, "node1")
			assignIP(t, m, "10.0.0.2", "new", nil, "node1")
		}},
		{"an address assigned without a handle", "10.0.0.3", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.3", "", nil, "node1")
		}},
		{"an unassigned address of an existing block", "10.0.0.2", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.1", "old", nil, "node1")
		}},
		{"a pool address whose block does not exist", "10.0.0.200", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.1", "old", nil, "node1")
		}},
		{"an address outside every pool and block", "192.168.1.1", "old", func(t *testing.T, m *IPAM) {
			assignIP(t, m, "10.0.0.1", "old", nil, "node1")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			c.pool("p", "10.0.0.0/24", 29)
			c.node("node1", nil)
			m := c.ipam()
			tt.setup(t, m)
			before := ipamState(t, c)

			released, err := m.ReleaseIfHeldBy(ctx, netip.MustParseAddr(tt.addr), tt.handle)
			if err != nil || released {
				t.Errorf("ReleaseIfHeldBy(%s, %s) = %v, %v; want false, nil", tt.addr, tt.handle, released, err)
			}
			if after := ipamState(t, c); !maps.Equal(before, after) {
				t.Errorf("IPAM state changed:\nbefore %v\n after %v", before, after)
			}
			mustCheck(t, m)
		})
	}
}

func TestReleaseIfHeldByRefusesAnEmptyHandle(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	m := c.ipam()
	assignIP(t, m, "10.0.0.1", "", nil, "node1")
	before := ipamState(t, c)

	released, err := m.ReleaseIfHeldBy(ctx, netip.MustParseAddr("10.0.0.1"), "")
	if err == nil || released {
		t.Errorf("ReleaseIfHeldBy with no handle = %v, %v; want an error", released, err)
	}
	if after := ipamState(t, c); !maps.Equal(before, after) {
		t.Errorf("IPAM state changed:\nbefore %v\n after %v", before, after)
	}
}

func TestReleaseIfHeldByDeletesTheLastAddressesBlockOnceItsAffinityIsReleased(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.node("node1", nil) // alive: only the released affinity lets the empty block go
	m := c.ipam()
	assignIP(t, m, "10.0.0.1", "pod1", nil, "node1")
	if err := m.ReleaseHostAffinities(ctx, "node1"); err != nil {
		t.Fatal(err)
	}
	if got := c.keys(BlockPrefix(4)); len(got) != 1 || c.block(got[0]).Host() != "" {
		t.Fatalf("after releasing the affinity, blocks = %v, want the block in use, affine to nobody", got)
	}

	released, err := m.ReleaseIfHeldBy(ctx, netip.MustParseAddr("10.0.0.1"), "pod1")
	if err != nil || !released {
		t.Fatalf("ReleaseIfHeldBy(10.0.0.1, pod1) = %v, %v; want released", released, err)
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("IPAM keys after releasing the last address of an unaffine block = %v, want none", got)
	}
	if s := m.Stats(); s.BlocksDeleted != 1 {
		t.Errorf("stats = %+v, want 1 block deleted", s)
	}
	mustCheck(t, m)
}
