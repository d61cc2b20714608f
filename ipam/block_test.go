package ipam

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestNewBlockIsStoredInCalicosJSONShape(t *testing.T) {
	b := NewBlock(netip.MustParsePrefix("10.0.0.8/30"))
	got, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cidr":"10.0.0.8/30","affinity":null,"strictAffinity":false,"allocations":[null,null,null,null],` +
		`"unallocated":[0,1,2,3],"attributes":[],"sequenceNumber":0}`
	if string(got) != want {
		t.Errorf("new block JSON:\n got %s\nwant %s", got, want)
	}
	b.SetHost("node1")
	b.Assign(1, "net1.abc", nil)
	got, _ = json.Marshal(b)
	want = `{"cidr":"10.0.0.8/30","affinity":"host:node1","strictAffinity":false,"allocations":[0,null,null,null],` +
		`"unallocated":[1,2,3],"attributes":[{"handle_id":"net1.abc","secondary":null}],"sequenceNumber":1}`
	if string(got) != want {
		t.Errorf("block JSON after one assignment:\n got %s\nwant %s", got, want)
	}
}

func TestBlockDecodesWhatCalicoWrote(t *testing.T) {
	// A v3.3-era block: a tunnel address without handle, a workload with attributes, the legacy hostAffinity.
	stored := `{"cidr":"192.168.221.64/26","affinity":null,"hostAffinity":"old-node","strictAffinity":false,
		"allocations":[0,1,null],"unallocated":[2],
		"attributes":[{"handle_id":null,"secondary":null},{"handle_id":"net1.abc123","secondary":{"pod":"p"}}]}`
	var b Block
	if err := json.Unmarshal([]byte(stored), &b); err != nil {
		t.Fatal(err)
	}
	if b.Host() != "old-node" {
		t.Errorf("host of a block with only the legacy hostAffinity = %q, want old-node", b.Host())
	}
	h, attrs, ok := b.Owner(netip.MustParseAddr("192.168.221.65"))
	if !ok || h != "net1.abc123" || attrs["pod"] != "p" {
		t.Errorf("owner of .65 = %q %v %v, want net1.abc123 map[pod:p] true", h, attrs, ok)
	}
	if h, _, ok := b.Owner(netip.MustParseAddr("192.168.221.64")); !ok || h != "" {
		t.Errorf("owner of the handle-less .64 = %q %v, want \"\" true", h, ok)
	}
}

func TestOrdinalsMapToAddressesBothWays(t *testing.T) {
	tests := []struct {
		name, cidr, addr string
		ord              int
	}{
		{"the first IPv4 ordinal is the block's base", "10.1.240.64/26", "10.1.240.64", 0},
		{"the last IPv4 ordinal is the block's end", "10.1.240.64/26", "10.1.240.127", 63},
		{"an IPv4 ordinal carries across octets", "10.1.0.0/20", "10.1.15.255", 4095},
		{"an IPv6 ordinal counts up from the base", "fd00:1::40/122", "fd00:1::7f", 63},
		{"an IPv6 block at the top of the low 64 bits", "fd00::1:ffff:ffff:ffff:ffc0/122", "fd00::1:ffff:ffff:ffff:ffff", 63},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBlock(netip.MustParsePrefix(tt.cidr))
			if got := b.Addr(tt.ord); got.String() != tt.addr {
				t.Errorf("Addr(%d) = %s, want %s", tt.ord, got, tt.addr)
			}
			if got, ok := b.Ordinal(netip.MustParseAddr(tt.addr)); !ok || got != tt.ord {
				t.Errorf("Ordinal(%s) = %d %v, want %d true", tt.addr, got, ok, tt.ord)
			}
		})
	}
	b := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
	if _, ok := b.Ordinal(netip.MustParseAddr("10.0.0.4")); ok {
		t.Error("Ordinal of an address past the block succeeded, want it refused")
	}
}

func TestAssignHandsOutFreeAddressesInOrderAndSharesAttributes(t *testing.T) {
	b := NewBlock(netip.MustParsePrefix("10.0.0.0/29"))
	got := b.Assign(2, "h1", map[string]string{"node": "a"})
	if want := addrs("10.0.0.0", "10.0.0.1"); !slices.Equal(got, want) {
		t.Fatalf("first assignment = %v, want %v", got, want)
	}
	b.Assign(1, "h1", map[string]string{"node": "a"})
	b.Assign(1, "h2", nil)
	if len(b.Attributes) != 2 {
		t.Errorf("attributes after 3 assignments to h1 (same attrs) and 1 to h2 = %d entries, want 2: %+v", len(b.Attributes), b.Attributes)
	}
	if got := b.Assign(10, "h3", nil); len(got) != 4 {
		t.Errorf("asking for 10 from a block with 4 free gave %d addresses, want 4", len(got))
	}
	if got := b.Assign(1, "h4", nil); got != nil {
		t.Errorf("assigning from a full block gave %v, want nothing", got)
	}
	if b.Free() != 0 || b.InUse() != 8 || len(b.Problems()) != 0 {
		t.Errorf("full block: free %d in use %d problems %v, want 0, 8, none", b.Free(), b.InUse(), b.Problems())
	}
}

func TestReleaseReturnsAddressesToTheBackOfTheFreeList(t *testing.T) {
	b := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
	b.Assign(1, "h1", nil)
	b.Assign(2, "h2", nil)
	released, notAssigned := b.Release(addrs("10.0.0.0", "10.0.0.2", "10.0.0.3", "10.9.9.9"))
	if want := map[string]int{"h1": 1, "h2": 1}; !reflect.DeepEqual(released, want) {
		t.Errorf("released per handle = %v, want %v", released, want)
	}
	if want := addrs("10.0.0.3", "10.9.9.9"); !slices.Equal(notAssigned, want) {
		t.Errorf("not assigned = %v, want %v", notAssigned, want)
	}
	if want := []int{3, 0, 2}; !slices.Equal(b.Unallocated, want) {
		t.Errorf("free list = %v, want %v (never-used first, released ones behind in release order)", b.Unallocated, want)
	}
	if len(b.Attributes) != 1 || derefHandle(b.Attributes[0].HandleID) != "h2" || *b.Allocations[1] != 0 {
		t.Errorf("attributes were not collected and renumbered: attributes %+v, allocation of .1 = %d", b.Attributes, *b.Allocations[1])
	}
	if p := b.Problems(); len(p) != 0 {
		t.Errorf("block has problems after release: %v", p)
	}
}

func TestAssignAddrRefusesTakenAndForeignAddresses(t *testing.T) {
	b := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
	if err := b.AssignAddr(netip.MustParseAddr("10.0.0.2"), "h1", nil); err != nil {
		t.Fatalf("assigning a free address: %v", err)
	}
	if err := b.AssignAddr(netip.MustParseAddr("10.0.0.2"), "h2", nil); err == nil {
		t.Error("assigning a taken address succeeded, want ErrAddressInUse")
	}
	if err := b.AssignAddr(netip.MustParseAddr("10.0.0.9"), "h2", nil); err == nil {
		t.Error("assigning an address outside the block succeeded")
	}
	if want := []int{0, 1, 3}; !slices.Equal(b.Unallocated, want) {
		t.Errorf("free list = %v, want %v", b.Unallocated, want)
	}
	if got := b.Assign(3, "h3", nil); !slices.Equal(got, addrs("10.0.0.0", "10.0.0.1", "10.0.0.3")) {
		t.Errorf("auto assignment around an explicit one = %v", got)
	}
}

func TestReleaseHandleFreesOnlyThatHandlesAddresses(t *testing.T) {
	b := NewBlock(netip.MustParsePrefix("fd00::/126"))
	b.Assign(1, "a", nil)
	b.Assign(2, "b", nil)
	b.Assign(1, "a", map[string]string{"x": "y"})
	if got := b.AddrsOf("a"); !slices.Equal(got, addrs("fd00::", "fd00::3")) {
		t.Errorf("addresses of a = %v", got)
	}
	if n := b.ReleaseHandle("a"); n != 2 {
		t.Errorf("ReleaseHandle(a) freed %d, want 2", n)
	}
	if got := b.HandleCounts(); !reflect.DeepEqual(got, map[string]int{"b": 2}) {
		t.Errorf("handle counts after releasing a = %v, want map[b:2]", got)
	}
	if n := b.ReleaseHandle("nobody"); n != 0 {
		t.Errorf("ReleaseHandle of an unknown handle freed %d", n)
	}
}

func TestProblemsFindBrokenBookkeeping(t *testing.T) {
	one, five := 1, 5
	tests := []struct {
		name    string
		corrupt func(b *Block)
		want    ProblemKind
	}{
		{"an address both allocated and free", func(b *Block) { b.Unallocated = append(b.Unallocated, 0) }, ProblemBlockBookkeeping},
		{"an address neither allocated nor free", func(b *Block) { b.Unallocated = b.Unallocated[1:] }, ProblemBlockBookkeeping},
		{"a free ordinal outside the block", func(b *Block) { b.Unallocated[0] = 99 }, ProblemBlockBookkeeping},
		{"an allocation pointing past the attributes", func(b *Block) { b.Allocations[0] = &five }, ProblemBlockBookkeeping},
		{"too few allocation slots", func(b *Block) { b.Allocations = b.Allocations[:2] }, ProblemBlockBookkeeping},
		{"an attribute nobody uses", func(b *Block) { b.Attributes = append(b.Attributes, Attribute{}) }, ProblemUnreferencedAttr},
		{"a second allocation using its own attribute is consistent", func(b *Block) {
			b.Attributes = append(b.Attributes, Attribute{})
			b.Allocations[1] = &one
			b.Unallocated = b.Unallocated[1:]
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
			b.Assign(1, "h", nil)
			tt.corrupt(b)
			got := b.Problems()
			if tt.want == "" {
				if len(got) != 0 {
					t.Errorf("problems = %v, want none", got)
				}
				return
			}
			if len(got) == 0 || !slices.ContainsFunc(got, func(p Problem) bool { return p.Kind == tt.want }) {
				t.Errorf("problems = %v, want one of kind %q", got, tt.want)
			}
		})
	}
}
