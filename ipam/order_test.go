package ipam

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

func collect(pool string, blockSize int, host string) []netip.Prefix {
	var out []netip.Prefix
	for b := range BlockOrder(netip.MustParsePrefix(pool), blockSize, host) {
		out = append(out, b)
	}
	return out
}

func TestBlockOrderYieldsEveryBlockOnceStartingWhereTheHostHashPoints(t *testing.T) {
	tests := []struct {
		name, pool string
		blockSize  int
		host       string
		wantFirst  string // pinned: the start drawn from the FNV-1 seeded generator, as Calico draws it
		wantCount  int
	}{
		{"node1 in a /24 of /29 blocks", "10.0.0.0/24", 29, "node1", "10.0.0.208/29", 32},
		{"node2 in a /24 of /29 blocks", "10.0.0.0/24", 29, "node2", "10.0.0.168/29", 32},
		{"a pool that is a single block", "10.9.0.0/26", 26, "node1", "10.9.0.0/26", 1},
		{"an IPv6 /120 pool of /122 blocks", "fd80:24e2:f998:72d6::/120", 122, "testHost", "", 4},
		{"a pool smaller than its block size has none", "10.0.0.0/30", 26, "node1", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.pool, tt.blockSize, tt.host)
			if len(got) != tt.wantCount {
				t.Fatalf("got %d blocks, want %d: %v", len(got), tt.wantCount, got)
			}
			if tt.wantFirst != "" && got[0].String() != tt.wantFirst {
				t.Errorf("first block = %s, want %s", got[0], tt.wantFirst)
			}
			pool := netip.MustParsePrefix(tt.pool)
			seen := map[netip.Prefix]bool{}
			for i, b := range got {
				if seen[b] || b.Bits() != tt.blockSize || !pool.Contains(b.Addr()) || b != b.Masked() {
					t.Fatalf("block %d = %s: repeated, wrong size or outside %s", i, b, pool)
				}
				seen[b] = true
				// After the start the walk is sequential, wrapping to the pool's first block.
				if i > 0 {
					prev := got[i-1].Addr()
					want := netip.PrefixFrom(addrAdd(prev, uint64(1)<<(prev.BitLen()-tt.blockSize)), tt.blockSize)
					if !pool.Contains(want.Addr()) || want.Addr().Less(prev) {
						want = netip.PrefixFrom(pool.Addr(), tt.blockSize)
					}
					if b != want {
						t.Errorf("block %d = %s after %s, want %s", i, b, got[i-1], want)
					}
				}
			}
		})
	}
}

func TestBlockOrderIsPerHost(t *testing.T) {
	a := collect("10.0.0.0/16", 26, "node-a")
	if again := collect("10.0.0.0/16", 26, "node-a"); !slices.Equal(a, again) {
		t.Error("the same host got two different orders")
	}
	starts := map[netip.Prefix]bool{}
	for _, h := range []string{"node-a", "node-b", "node-c", "node-d", "node-e", "node-f", "node-g", "node-h"} {
		starts[collect("10.0.0.0/16", 26, h)[0]] = true
	}
	if len(starts) < 6 {
		t.Errorf("8 hosts start at only %d distinct blocks of 1024, want them spread out", len(starts))
	}
}

func TestSortByHostOrderAgreesWithTheWalk(t *testing.T) {
	pool := netip.MustParsePrefix("10.0.0.0/24")
	walk := collect("10.0.0.0/24", 29, "node7")
	subset := slices.Clone(walk)
	rand.Shuffle(len(subset), func(i, j int) { subset[i], subset[j] = subset[j], subset[i] })
	subset = subset[:11]
	sortByHostOrder(pool, 29, "node7", subset)
	var want []netip.Prefix
	for _, b := range walk {
		if slices.Contains(subset, b) {
			want = append(want, b)
		}
	}
	if !slices.Equal(subset, want) {
		t.Errorf("sorted subset = %v, want the walk's order %v", subset, want)
	}
}

func TestBlockOrderCopesWithHugeIPv6Pools(t *testing.T) {
	pool := netip.MustParsePrefix("fd00::/48")
	if n := NumBlocks(pool, 122); n.BitLen() != 75 {
		t.Fatalf("a /48 holds 2^74 blocks of /122, got %s", n)
	}
	i := 0
	var prev netip.Prefix
	for b := range BlockOrder(pool, 122, "node1") {
		if !pool.Contains(b.Addr()) || b.Bits() != 122 {
			t.Fatalf("block %s is not a /122 of %s", b, pool)
		}
		if i > 0 && b.Addr() != addrAdd(prev.Addr(), 64) {
			t.Fatalf("block %s does not follow %s", b, prev)
		}
		prev = b
		if i++; i == 5 {
			break
		}
	}
}
