package ipam

import (
	"net"
	"net/netip"
	"testing"

	"github.com/calico-l3/calico/api"
)

func TestUtilizationGroupsBlocksByPoolInKeyOrder(t *testing.T) {
	c := newCluster(t)
	c.pool("a", "10.0.0.0/20", 24)
	c.pool("b", "10.9.0.0/24", 26)
	m := c.ipam()
	for _, a := range []struct{ ip, host string }{{"10.0.9.1", "n1"}, {"10.0.10.1", "n2"}, {"10.0.10.2", "n1"}, {"10.9.0.1", "n3"}} {
		if err := m.AssignIP(ctx, net.ParseIP(a.ip), "", map[string]string{"node": a.host}, a.host); err != nil {
			t.Fatal(err)
		}
	}
	// A block whose pool is gone: the pool is deleted behind IPAM's back.
	poolKind, _ := api.LookupKind("IPPool")
	if _, err := c.ds.Delete(ctx, poolKind, "", "b", ""); err != nil {
		t.Fatal(err)
	}
	usage, err := m.Utilization(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(usage) != 2 {
		t.Fatalf("got %d groups, want pool a and the orphaned blocks: %+v", len(usage), usage)
	}
	a, orphans := usage[0], usage[1]
	if a.Name != "a" || a.InUse != 3 || a.Free.Int64() != 4096-3 || len(a.BlockList) != 2 {
		t.Errorf("pool a: %+v", a)
	}
	// Key order puts 10.0.10.0/24 before 10.0.9.0/24.
	if got := []netip.Prefix{a.BlockList[0].CIDR, a.BlockList[1].CIDR}; got[0].String() != "10.0.10.0/24" || got[1].String() != "10.0.9.0/24" {
		t.Errorf("blocks of pool a in order %v, want 10.0.10.0/24 then 10.0.9.0/24", got)
	}
	if orphans.CIDR.IsValid() || len(orphans.BlockList) != 1 || orphans.BlockList[0].CIDR.String() != "10.9.0.0/26" {
		t.Errorf("orphaned blocks: %+v", orphans)
	}
}

func TestBorrowedListsAddressesFromOtherHostsBlocks(t *testing.T) {
	c := newCluster(t)
	c.pool("a", "10.0.0.0/24", 26)
	m := c.ipam()
	assign := func(ip, host string, attrs map[string]string) {
		t.Helper()
		if err := m.AssignIP(ctx, net.ParseIP(ip), "", attrs, host); err != nil {
			t.Fatal(err)
		}
	}
	assign("10.0.0.1", "n1", map[string]string{"node": "n1"})                                // claims the block: not borrowed
	assign("10.0.0.2", "n2", map[string]string{"node": "n2", "pod": "p", "namespace": "ns"}) // borrowed
	assign("10.0.0.3", "n2", nil)                                                            // unclassified
	borrowed, unclassified, err := m.Borrowed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(borrowed) != 1 || unclassified != 1 {
		t.Fatalf("got %+v and %d unclassified, want one borrowed address and one unclassified", borrowed, unclassified)
	}
	b := borrowed[0]
	if b.Addr.String() != "10.0.0.2" || b.BorrowingNode != "n2" || b.BlockOwner != "n1" || b.Block.String() != "10.0.0.0/26" || b.Attrs["pod"] != "p" {
		t.Errorf("borrowed address: %+v", b)
	}
}
