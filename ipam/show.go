package ipam

import (
	"context"
	"maps"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// BlockInfo describes one block for `calicoctl ipam show --show-blocks`.
type BlockInfo struct {
	CIDR     netip.Prefix
	Pool     string // name of the pool holding the block, "" when none does
	Host     string // the host the block is affine to, "" when none
	InUse    int
	Capacity int
}

// Blocks lists every block, ordered by address.
func (m *IPAM) Blocks(ctx context.Context) ([]BlockInfo, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var out []BlockInfo
	for _, b := range s.sortedBlocks() {
		info := BlockInfo{CIDR: b.CIDR, Host: b.Host(), InUse: b.InUse(), Capacity: b.Size()}
		if p, ok := poolFor(s.pools, b.CIDR.Addr()); ok {
			info.Pool = p.Name
		}
		out = append(out, info)
	}
	return out, nil
}

// PoolUsage is how much of a pool is in use. Capacity and Free are big integers because IPv6 pools are.
type PoolUsage struct {
	Name     string
	CIDR     netip.Prefix
	Disabled bool
	Blocks   int      // blocks claimed in the pool
	Capacity *big.Int // addresses in the pool
	InUse    int64    // addresses allocated
	Free     *big.Int // Capacity - InUse
}

// Usage reports, per pool (in name order), its capacity, how many of its addresses are allocated and how many are
// free.
func (m *IPAM) Usage(ctx context.Context) ([]PoolUsage, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolUsage, len(s.pools))
	for i, p := range s.pools {
		out[i] = PoolUsage{Name: p.Name, CIDR: p.CIDR, Disabled: p.Disabled, Capacity: capacity(p.CIDR)}
	}
	for _, b := range s.blocks {
		for i, p := range s.pools {
			if inPools([]pool{p}, b.CIDR) {
				out[i].Blocks++
				out[i].InUse += int64(b.InUse())
				break
			}
		}
	}
	for i := range out {
		out[i].Free = new(big.Int).Sub(out[i].Capacity, big.NewInt(out[i].InUse))
	}
	return out, nil
}

// PoolUtilization is one group of `calicoctl ipam show`: a pool and the blocks carved from it, or (CIDR not
// valid) the blocks that lie in no pool. Blocks come in datastore key order, the order Calico lists them in.
type PoolUtilization struct {
	PoolUsage
	BlockList []BlockInfo
}

// Utilization reads pools and blocks at one revision and groups the blocks by pool: one entry per pool, in name
// order, then, when some block lies in no pool, one entry with no CIDR holding those blocks.
func (m *IPAM) Utilization(ctx context.Context) ([]PoolUtilization, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolUtilization, len(s.pools))
	for i, p := range s.pools {
		out[i].PoolUsage = PoolUsage{Name: p.Name, CIDR: p.CIDR, Disabled: p.Disabled, Capacity: capacity(p.CIDR)}
	}
	var orphans []BlockInfo
	for _, b := range blocksInKeyOrder(s) {
		info := BlockInfo{CIDR: b.CIDR, Host: b.Host(), InUse: b.InUse(), Capacity: b.Size()}
		i := slices.IndexFunc(s.pools, func(p pool) bool { return inPools([]pool{p}, b.CIDR) })
		if i < 0 {
			orphans = append(orphans, info)
			continue
		}
		info.Pool = s.pools[i].Name
		out[i].Blocks++
		out[i].InUse += int64(info.InUse)
		out[i].BlockList = append(out[i].BlockList, info)
	}
	for i := range out {
		out[i].Free = new(big.Int).Sub(out[i].Capacity, big.NewInt(out[i].InUse))
	}
	if len(orphans) > 0 {
		out = append(out, PoolUtilization{BlockList: orphans})
	}
	return out, nil
}

// blocksInKeyOrder sorts blocks by their datastore key, as a listing of the datastore returns them (IPv4 before
// IPv6, and within a family by the text of the CIDR: 10.0.10.0/26 before 10.0.9.0/26).
func blocksInKeyOrder(s *snapshot) []*Block {
	blocks := slices.Collect(maps.Values(s.blocks))
	slices.SortFunc(blocks, func(a, b *Block) int { return strings.Compare(BlockKey(a.CIDR), BlockKey(b.CIDR)) })
	return blocks
}

// BorrowedIP is an address assigned to a workload on one node from a block affine to another node (or to none).
type BorrowedIP struct {
	Addr          netip.Addr
	BorrowingNode string // the "node" attribute of the allocation
	Block         netip.Prefix
	BlockOwner    string // the node the block is affine to, "" when none
	Attrs         map[string]string
}

// Borrowed lists the borrowed addresses, blocks in datastore key order and addresses in block order. Allocations
// without a "node" attribute cannot be classified: they are counted in unclassified instead.
func (m *IPAM) Borrowed(ctx context.Context) (borrowed []BorrowedIP, unclassified int, err error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, b := range blocksInKeyOrder(s) {
		owner := b.Host()
		for ord, a := range b.Allocations {
			if a == nil {
				continue
			}
			addr := b.Addr(ord)
			_, attrs, _ := b.Owner(addr)
			node, ok := attrs["node"]
			switch {
			case !ok:
				unclassified++
			case node != owner:
				borrowed = append(borrowed, BorrowedIP{Addr: addr, BorrowingNode: node, Block: b.CIDR, BlockOwner: owner, Attrs: attrs})
			}
		}
	}
	return borrowed, unclassified, nil
}
