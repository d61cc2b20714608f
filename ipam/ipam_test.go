package ipam

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

var ctx = context.Background()

func TestAutoAssignClaimsABlockAndWritesCalicosKeys(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	m := c.ipam()

	v4, v6, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "net1.abc", Host: "node1", Attrs: map[string]string{"pod": "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	// node1's walk through this pool starts at 10.0.0.208/29 (see TestBlockOrder…).
	if got := ips(v4); !slices.Equal(got, []string{"10.0.0.208/32"}) || len(v6) != 0 {
		t.Fatalf("assigned %v %v, want [10.0.0.208/32] and no IPv6", got, ips(v6))
	}
	checks := []struct{ key, want string }{
		{"/calico/ipam/v2/host/node1/ipv4/block/10.0.0.208-29", `{"state":"confirmed"}`},
		{"/calico/ipam/v2/handle/net1.abc", `{"block":{"10.0.0.208/29":1}}`},
		{"/calico/ipam/v2/assignment/ipv4/block/10.0.0.208-29", `{"cidr":"10.0.0.208/29","affinity":"host:node1","strictAffinity":false,` +
			`"allocations":[0,null,null,null,null,null,null,null],"unallocated":[1,2,3,4,5,6,7],` +
			`"attributes":[{"handle_id":"net1.abc","secondary":{"pod":"p1"}}],"sequenceNumber":1}`},
	}
	for _, ck := range checks {
		if got := c.raw(ck.key); got != ck.want {
			t.Errorf("%s:\n got %s\nwant %s", ck.key, got, ck.want)
		}
	}
	h, attrs, err := m.GetAssignmentAttributes(ctx, net.ParseIP("10.0.0.208"))
	if err != nil || h != "net1.abc" || attrs["pod"] != "p1" {
		t.Errorf("attributes of 10.0.0.208 = %q %v %v, want net1.abc map[pod:p1]", h, attrs, err)
	}
	mustCheck(t, m)
}

func TestAutoAssignFillsOwnBlocksBeforeClaimingMore(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 30)
	c.node("node1", nil)
	m := c.ipam()
	var all []string
	for i := range 6 {
		v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "h" + string(rune('a'+i)), Host: "node1"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ips(v4)...)
	}
	if n := len(c.keys(BlockPrefix(4))); n != 2 {
		t.Errorf("6 addresses from /30 blocks made %d blocks, want 2: %v", n, all)
	}
	if s := m.Stats(); s.BlocksClaimed != 2 || s.Borrowed != 0 {
		t.Errorf("stats = %+v, want 2 blocks claimed, nothing borrowed", s)
	}
	// A request for several addresses spans blocks and one handle counts them per block.
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 3, HandleID: "multi", Host: "node1"})
	if err != nil || len(v4) != 3 {
		t.Fatalf("assigning 3: %v %v", ips(v4), err)
	}
	got, err := m.IPsByHandle(ctx, "multi")
	if err != nil || len(got) != 3 {
		t.Errorf("IPsByHandle(multi) = %v %v, want 3 addresses", got, err)
	}
	mustCheck(t, m)
}

func TestReleaseKeepsALiveHostsEmptyBlockAndDropsAGoneHostsBlock(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.node("alive", nil)
	m := c.ipam()
	for _, host := range []string{"alive", "gone"} {
		if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 2, HandleID: host + ".1", Host: host}); err != nil {
			t.Fatal(err)
		}
	}
	for _, host := range []string{"alive", "gone"} {
		if err := m.ReleaseByHandle(ctx, host+".1"); err != nil {
			t.Fatal(err)
		}
		if c.raw(HandleKey(host+".1")) != "" {
			t.Errorf("handle %s.1 still stored after its release", host)
		}
	}
	if got := c.keys(HostAffinityPrefix("alive", 4)); len(got) != 1 {
		t.Errorf("the live host's affinities after emptying its block = %v, want its one block kept", got)
	}
	if got := c.keys(HostAffinityPrefix("gone", 4)); len(got) != 0 {
		t.Errorf("affinities of a host without Node after emptying its block = %v, want none", got)
	}
	if got := c.keys(BlockPrefix(4)); len(got) != 1 || !strings.HasPrefix(c.raw(got[0]), `{"cidr"`) || c.block(got[0]).Host() != "alive" {
		t.Errorf("blocks = %v, want only the live host's", got)
	}
	if err := m.ReleaseByHandle(ctx, "alive.1"); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("releasing a released handle: %v, want ErrNotFound", err)
	}
	mustCheck(t, m)
}

func TestReleaseIPsReportsWhatWasNotAssigned(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.node("node1", nil)
	m := c.ipam()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 2, HandleID: "h", Host: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	free := netip.MustParsePrefix(v4[1].String()).Addr().Next()
	notAssigned, err := m.ReleaseIPs(ctx, []net.IP{v4[0].IP, net.IP(free.AsSlice()), net.ParseIP("192.168.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{notAssigned[0].String(), notAssigned[1].String()}; len(notAssigned) != 2 || !slices.Contains(got, free.String()) || !slices.Contains(got, "192.168.1.1") {
		t.Errorf("not assigned = %v, want %s and 192.168.1.1", notAssigned, free)
	}
	if got := c.raw(HandleKey("h")); !strings.Contains(got, `:1}`) {
		t.Errorf("handle after releasing one of its two addresses = %s, want a count of 1", got)
	}
	if _, _, err := m.GetAssignmentAttributes(ctx, v4[0].IP); !errors.Is(err, ErrNotAssigned) {
		t.Errorf("attributes of a released address: %v, want ErrNotAssigned", err)
	}
	if _, _, err := m.GetAssignmentAttributes(ctx, net.ParseIP("192.168.1.1")); !errors.Is(err, ErrNotInPool) {
		t.Errorf("attributes of an address outside every pool: %v, want ErrNotInPool", err)
	}
	mustCheck(t, m)
}

func TestHostsBorrowFromFullPoolsUnlessAffinityIsStrict(t *testing.T) {
	for _, strict := range []bool{false, true} {
		name := map[bool]string{false: "borrowing allowed", true: "strict affinity"}[strict]
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			c.pool("small", "10.0.0.0/28", 30) // 4 blocks of 4
			c.node("a", nil)
			c.node("b", nil)
			m := c.ipam()
			if strict {
				if err := m.SetConfig(ctx, Config{StrictAffinity: true, AutoAllocateBlocks: true}); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 15, HandleID: "a.1", Host: "a"}); err != nil {
				t.Fatal(err)
			}
			v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "b.1", Host: "b"})
			if strict {
				if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "strict affinity") || len(v4) != 0 {
					t.Fatalf("b under strict affinity got %v, error %v; want nothing and ErrExhausted mentioning strict affinity", ips(v4), err)
				}
				return
			}
			if err != nil || len(v4) != 1 {
				t.Fatalf("b borrowing: %v %v", ips(v4), err)
			}
			blk := c.block(BlockKey(blockOf(netip.MustParseAddr(v4[0].IP.String()), 30)))
			if blk.Host() != "a" {
				t.Errorf("b's borrowed address is in a block affine to %q, want the lender a", blk.Host())
			}
			if got := c.keys(HostAffinityPrefix("b", 0)); len(got) != 0 {
				t.Errorf("borrowing gave b affinities %v", got)
			}
			if s := m.Stats(); s.Borrowed != 1 {
				t.Errorf("stats = %+v, want 1 borrowed", s)
			}
			_, _, err = m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "b.2", Host: "b"})
			if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "small (10.0.0.0/28)") {
				t.Errorf("assigning from a full pool: %v, want ErrExhausted naming small (10.0.0.0/28)", err)
			}
			mustCheck(t, m)
		})
	}
}

func TestExhaustionReturnsWhatWasAssignedAndNamesThePools(t *testing.T) {
	c := newCluster(t)
	c.pool("tiny", "10.0.0.0/30", 30)
	m := c.ipam()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 6, HandleID: "greedy", Host: "n"})
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "tiny (10.0.0.0/30)") || !strings.Contains(err.Error(), "assigned 4 of 6") {
		t.Fatalf("error = %v, want ErrExhausted naming tiny (10.0.0.0/30), assigned 4 of 6", err)
	}
	if len(v4) != 4 {
		t.Errorf("returned %v, want the 4 addresses that were assigned", ips(v4))
	}
	if err := m.ReleaseByHandle(ctx, "greedy"); err != nil {
		t.Fatal(err)
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("keys left after releasing everything of a host without Node: %v", got)
	}
}

func TestRequestedPoolsAndDisabledPools(t *testing.T) {
	c := newCluster(t)
	c.pool("one", "10.1.0.0/24", 26)
	c.pool("two", "10.2.0.0/24", 26)
	c.pool("off", "10.3.0.0/24", 26, func(p *api.IPPool) { p.Spec.Disabled = true })
	m := c.ipam()
	tests := []struct {
		name      string
		requested []string
		wantIn    string
		wantErr   string
	}{
		{"a pool requested by name", []string{"two"}, "10.2.0.0/24", ""},
		{"a pool requested by CIDR", []string{"10.1.0.0/24"}, "10.1.0.0/24", ""},
		{"a disabled pool", []string{"off"}, "", "the given pool (off) does not exist, or is not enabled"},
		{"a pool that does not exist", []string{"10.9.0.0/16"}, "", "the given pool (10.9.0.0/16) does not exist, or is not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "h-" + tt.name[2:5], Host: "n", IPv4Pools: tt.requested})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !netip.MustParsePrefix(tt.wantIn).Contains(netip.MustParseAddr(v4[0].IP.String())) {
				t.Errorf("assigned %s, want an address in %s", v4[0].IP, tt.wantIn)
			}
		})
	}
	// Without a request, the disabled pool is never used.
	for i := range 20 {
		v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "auto" + string(rune('a'+i)), Host: "n"})
		if err != nil {
			t.Fatal(err)
		}
		if netip.MustParsePrefix("10.3.0.0/24").Contains(netip.MustParseAddr(v4[0].IP.String())) {
			t.Fatalf("assigned %s from the disabled pool", v4[0].IP)
		}
	}
}

func TestNodeSelectorsChooseEachHostsPool(t *testing.T) {
	c := newCluster(t)
	c.pool("east", "10.1.0.0/24", 26, func(p *api.IPPool) { p.Spec.NodeSelector = "zone == 'east'" })
	c.pool("west", "10.2.0.0/24", 26, func(p *api.IPPool) { p.Spec.NodeSelector = "zone == 'west'" })
	c.node("e1", map[string]string{"zone": "east"})
	c.node("w1", map[string]string{"zone": "west"})
	m := c.ipam()
	for host, want := range map[string]string{"e1": "10.1.0.0/24", "w1": "10.2.0.0/24"} {
		v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: host, Host: host})
		if err != nil {
			t.Fatal(err)
		}
		if !netip.MustParsePrefix(want).Contains(netip.MustParseAddr(v4[0].IP.String())) {
			t.Errorf("%s got %s, want an address of %s", host, v4[0].IP, want)
		}
	}
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "x", Host: "unregistered"}); !errors.Is(err, ErrNoPools) {
		t.Errorf("a host without Node, no pool selecting all(): %v, want ErrNoPools", err)
	}
	// A request names the pool and overrides the selector.
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "y", Host: "e1", IPv4Pools: []string{"west"}})
	if err != nil || !netip.MustParsePrefix("10.2.0.0/24").Contains(netip.MustParseAddr(v4[0].IP.String())) {
		t.Errorf("e1 requesting west got %v %v", ips(v4), err)
	}
}

func TestIPv6AndIPv4Together(t *testing.T) {
	c := newCluster(t)
	c.pool("v4", "10.0.0.0/24", 26)
	c.pool("v6", "fd00:1::/120", 122)
	m := c.ipam()
	v4, v6, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, Num6: 2, HandleID: "dual", Host: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v4) != 1 || len(v6) != 2 {
		t.Fatalf("got %v and %v, want 1 IPv4 and 2 IPv6", ips(v4), ips(v6))
	}
	for _, n := range v6 {
		if ones, bits := n.Mask.Size(); ones != 128 || bits != 128 || !netip.MustParsePrefix("fd00:1::/120").Contains(netip.MustParseAddr(n.IP.String())) {
			t.Errorf("IPv6 result %s is not a /128 of fd00:1::/120", n.String())
		}
	}
	if got := c.keys("/calico/ipam/v2/assignment/ipv6/block/"); len(got) != 1 || !strings.HasSuffix(got[0], "-122") {
		t.Errorf("IPv6 block keys = %v", got)
	}
	got, err := m.IPsByHandle(ctx, "dual")
	if err != nil || len(got) != 3 {
		t.Errorf("IPsByHandle(dual) = %v %v, want 3 addresses", got, err)
	}
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num6: 1, HandleID: "x", Host: "n", IPv6Pools: []string{"v4"}}); err == nil {
		t.Error("requesting an IPv4 pool for IPv6 succeeded")
	}
	mustCheck(t, m)
	if err := m.ReleaseByHandle(ctx, "dual"); err != nil {
		t.Fatal(err)
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("keys left after release: %v", got)
	}
}

func TestAssignIP(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	c.pool("off", "10.1.0.0/24", 26, func(p *api.IPPool) { p.Spec.Disabled = true })
	m := c.ipam()
	if err := m.AssignIP(ctx, net.ParseIP("10.0.0.77"), "explicit", map[string]string{"k": "v"}, "n1"); err != nil {
		t.Fatal(err)
	}
	if b := c.block(BlockKey(netip.MustParsePrefix("10.0.0.64/26"))); b == nil || b.Host() != "n1" {
		t.Errorf("block of an explicit address = %+v, want it claimed for n1", b)
	}
	if c.raw(AffinityKey("n1", netip.MustParsePrefix("10.0.0.64/26"))) == "" {
		t.Error("no affinity written for the block claimed by AssignIP")
	}
	if err := m.AssignIP(ctx, net.ParseIP("10.0.0.77"), "other", nil, "n2"); !errors.Is(err, ErrAddressInUse) {
		t.Errorf("assigning a taken address: %v, want ErrAddressInUse", err)
	}
	if err := m.AssignIP(ctx, net.ParseIP("10.1.0.5"), "h", nil, "n1"); !errors.Is(err, ErrNotInPool) {
		t.Errorf("assigning in a disabled pool: %v, want ErrNotInPool", err)
	}
	// Another host may place an explicit address in n1's block.
	if err := m.AssignIP(ctx, net.ParseIP("10.0.0.78"), "other", nil, "n2"); err != nil {
		t.Errorf("explicit address in another host's block: %v", err)
	}
	h, attrs, err := m.GetAssignmentAttributes(ctx, net.ParseIP("10.0.0.77"))
	if err != nil || h != "explicit" || attrs["k"] != "v" {
		t.Errorf("attributes = %q %v %v", h, attrs, err)
	}
	// Auto-assignment in that block steps around the explicit addresses.
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 64, HandleID: "rest", Host: "n1", IPv4Pools: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v4 {
		if s := n.IP.String(); s == "10.0.0.77" || s == "10.0.0.78" {
			t.Errorf("auto-assigned the explicitly taken %s", s)
		}
	}
	mustCheck(t, m)
}

func TestAddressesWithoutHandle(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, Host: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.keys(handleRoot); len(got) != 0 {
		t.Errorf("handle-less assignment wrote handles %v", got)
	}
	if h, _, err := m.GetAssignmentAttributes(ctx, v4[0].IP); err != nil || h != "" {
		t.Errorf("owner = %q %v, want no handle", h, err)
	}
	mustCheck(t, m)
	if na, err := m.ReleaseIPs(ctx, []net.IP{v4[0].IP}); err != nil || len(na) != 0 {
		t.Errorf("releasing it: %v %v", na, err)
	}
}

func TestReleasingAffinities(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 28)
	c.pool("q", "10.5.0.0/24", 28)
	c.node("n1", nil)
	m := c.ipam()
	// n1 gets a full block and an empty one in p, and one in use in q.
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 16, HandleID: "keep", Host: "n1", IPv4Pools: []string{"p"}}); err != nil {
		t.Fatal(err)
	}
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "drop", Host: "n1", IPv4Pools: []string{"p"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "q1", Host: "n1", IPv4Pools: []string{"q"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.ReleaseByHandle(ctx, "drop"); err != nil {
		t.Fatal(err)
	}
	emptyBlock := blockOf(netip.MustParseAddr(v4[0].IP.String()), 28)
	if c.block(BlockKey(emptyBlock)) == nil {
		t.Fatal("the live host's emptied block was deleted")
	}

	if err := m.ReleasePoolAffinities(ctx, "10.0.0.0/24"); err != nil {
		t.Fatal(err)
	}
	if c.block(BlockKey(emptyBlock)) != nil {
		t.Error("releasing the pool's affinities kept an empty block")
	}
	if got := c.keys(HostAffinityPrefix("n1", 4)); len(got) != 1 || !strings.Contains(got[0], "10.5.0.") {
		t.Errorf("affinities after releasing pool p = %v, want only q's", got)
	}
	for _, k := range c.keys(BlockPrefix(4)) {
		if b := c.block(k); strings.Contains(k, "10.0.0.") && (b.Host() != "" || b.InUse() == 0) {
			t.Errorf("block %s of pool p: host %q, %d in use; want unaffined and still in use", k, b.Host(), b.InUse())
		}
	}
	mustCheck(t, m)

	if err := m.ReleaseHostAffinities(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if got := c.keys(HostAffinityPrefix("n1", 0)); len(got) != 0 {
		t.Errorf("affinities after releasing the host's = %v", got)
	}
	mustCheck(t, m)
	// Addresses in unaffined blocks are still released normally, and an emptied unaffined block goes away.
	for _, h := range []string{"keep", "q1"} {
		if err := m.ReleaseByHandle(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("keys left after releasing everything: %v", got)
	}
}

func TestStaleAndPendingAffinitiesAreRepaired(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 29)
	c.node("a", nil)
	c.node("b", nil)
	m := c.ipam()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "a1", Host: "a"})
	if err != nil {
		t.Fatal(err)
	}
	held := blockOf(netip.MustParseAddr(v4[0].IP.String()), 29)
	// b believes it owns a's block (a leftover), and has a pending claim on a block that was never created.
	c.put(AffinityKey("b", held), `{"state":"confirmed"}`)
	// Affinities are visited in key order: the pending one sorts after the stale one, so both are met.
	pending := netip.MustParsePrefix("10.0.0.248/29")
	if held == pending || AffinityKey("b", pending) < AffinityKey("b", held) {
		t.Fatalf("a's block %s does not sort before %s; pick another pending block", held, pending)
	}
	c.put(AffinityKey("b", pending), `{"state":"pending"}`)

	v4, _, err = m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "b1", Host: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if !pending.Contains(netip.MustParseAddr(v4[0].IP.String())) {
		t.Errorf("b got %s, want an address of the block it had a pending claim on, %s", v4[0].IP, pending)
	}
	if got := c.raw(AffinityKey("b", pending)); got != `{"state":"confirmed"}` {
		t.Errorf("b's pending affinity is now %s, want confirmed", got)
	}
	if got := c.raw(AffinityKey("b", held)); got != "" {
		t.Errorf("b's stale affinity to a's block is still there: %s", got)
	}
	mustCheck(t, m)
}

func TestConfig(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	if cfg, err := m.GetConfig(ctx); err != nil || cfg != DefaultConfig {
		t.Errorf("config with none stored = %+v %v, want %+v", cfg, err, DefaultConfig)
	}
	if err := m.SetConfig(ctx, Config{}); err == nil {
		t.Error("turning both settings off succeeded")
	}
	if err := m.SetConfig(ctx, Config{StrictAffinity: true, AutoAllocateBlocks: true}); err != nil {
		t.Fatal(err)
	}
	if got := c.raw(ConfigKey); got != `{"strict_affinity":true,"auto_allocate_blocks":true}` {
		t.Errorf("stored config = %s", got)
	}
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "h", Host: "n"}); err != nil {
		t.Fatal(err)
	}
	if b := c.block(c.keys(BlockPrefix(4))[0]); !b.StrictAffinity {
		t.Error("a block claimed under strict affinity does not say so")
	}
	if err := m.SetConfig(ctx, DefaultConfig); !errors.Is(err, ErrConfigLocked) {
		t.Errorf("changing the config while a block exists: %v, want ErrConfigLocked", err)
	}
}

func TestBlocksAndUsage(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	c.pool("v6", "fd00::/64", 122)
	m := c.ipam()
	if _, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 3, Num6: 1, HandleID: "h", Host: "n1"}); err != nil {
		t.Fatal(err)
	}
	blocks, err := m.Blocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inUse := 0
	for _, b := range blocks {
		inUse += b.InUse
		if b.Pool == "" || b.Host == "" || b.Capacity != 64 {
			t.Errorf("block %+v: want a pool, a host and capacity 64", b)
		}
	}
	if inUse != 4 || len(blocks) != 2 {
		t.Errorf("%d blocks hold %d addresses in use, want 2 blocks holding 4: %+v", len(blocks), inUse, blocks)
	}
	usage, err := m.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][3]string{"p": {"256", "3", "253"}, "v6": {"18446744073709551616", "1", "18446744073709551615"}}
	for _, u := range usage {
		got := [3]string{u.Capacity.String(), strconv.FormatInt(u.InUse, 10), u.Free.String()}
		if got != want[u.Name] {
			t.Errorf("usage of %s = capacity %s, in use %s, free %s; want %v", u.Name, got[0], got[1], got[2], want[u.Name])
		}
	}
}

func TestReleasingManyHoldersOfOneBlockStaysWithinEtcdsTransactionLimit(t *testing.T) {
	c := newCluster(t)
	c.pool("big", "10.0.0.0/24", 24) // one block of 256
	m := c.ipam()
	var all []net.IP
	for i := range 150 {
		v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "h" + strconv.Itoa(i), Host: "n"})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, v4[0].IP)
	}
	notAssigned, err := m.ReleaseIPs(ctx, all)
	if err != nil || len(notAssigned) != 0 {
		t.Fatalf("releasing 150 addresses of 150 handles in one block: not assigned %v, error %v", notAssigned, err)
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("%d keys left, want none (the host has no Node, so its emptied block goes too)", len(got))
	}
}

func TestAddressesOfADeletedPoolCanStillBeReleased(t *testing.T) {
	c := newCluster(t)
	c.pool("old", "10.0.0.0/24", 26)
	m := c.ipam()
	v4, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 2, HandleID: "h", Host: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ds.Delete(ctx, api.KindOf(&api.IPPool{}), "", "old", ""); err != nil {
		t.Fatal(err)
	}
	r, err := m.Check(ctx)
	if err != nil || !r.Has(ProblemOutsidePools) {
		t.Errorf("Check after deleting the pool under a block: %v %v, want a %q problem", r.Problems, err, ProblemOutsidePools)
	}
	if h, _, err := m.GetAssignmentAttributes(ctx, v4[0].IP); err != nil || h != "h" {
		t.Errorf("owner of an address of a deleted pool = %q %v, want h", h, err)
	}
	if na, err := m.ReleaseIPs(ctx, []net.IP{v4[0].IP}); err != nil || len(na) != 0 {
		t.Errorf("releasing an address of a deleted pool: not assigned %v, error %v", na, err)
	}
	if err := m.ReleaseByHandle(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("keys left: %v", got)
	}
}

func TestBadArgumentsAreRefused(t *testing.T) {
	c := newCluster(t)
	c.pool("p", "10.0.0.0/24", 26)
	m := c.ipam()
	tests := []struct {
		name string
		args AssignArgs
	}{
		{"no host", AssignArgs{Num4: 1, HandleID: "h"}},
		{"a handle with a slash", AssignArgs{Num4: 1, HandleID: "a/b", Host: "n"}},
		{"a negative count", AssignArgs{Num4: -1, HandleID: "h", Host: "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v4, _, err := m.AutoAssign(ctx, tt.args); err == nil {
				t.Errorf("AutoAssign(%+v) = %v, want an error", tt.args, ips(v4))
			}
		})
	}
	if got := c.keys(Prefix); len(got) != 0 {
		t.Errorf("refused requests wrote %v", got)
	}
}
