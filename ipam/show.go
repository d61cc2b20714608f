package ipam

import (
	"context"
	"math/big"
	"net/netip"
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
