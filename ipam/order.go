package ipam

import (
	"hash/fnv"
	"iter"
	"math/big"
	"math/rand"
	"net/netip"
	"slices"
)

// BlockOrder yields the block-sized subnets of a pool in the order host tries them when it looks for a block to
// claim or borrow from: it starts at an index drawn from a math/rand generator seeded with the FNV-1 32-bit hash
// of the host name (so each host starts in its own place and hosts rarely race for the same block) and then walks
// on sequentially, wrapping at the end of the pool, until every block has been yielded once. This is Calico's
// order, so a host picks the same blocks under either implementation.
func BlockOrder(pool netip.Prefix, blockSize int, host string) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		pool = pool.Masked()
		n := NumBlocks(pool, blockSize)
		if n.Sign() == 0 {
			return
		}
		i := startIndex(n, host)
		one := big.NewInt(1)
		for left := new(big.Int).Set(n); left.Sign() > 0; left.Sub(left, one) {
			if !yield(blockAt(pool, blockSize, i)) {
				return
			}
			if i.Add(i, one); i.Cmp(n) >= 0 {
				i.SetInt64(0)
			}
		}
	}
}

// startIndex is the index among n blocks where host starts its walk.
func startIndex(n *big.Int, host string) *big.Int {
	h := fnv.New32()
	h.Write([]byte(host))
	rnd := rand.New(rand.NewSource(int64(h.Sum32())))
	return new(big.Int).Rand(rnd, n)
}

// sortByHostOrder sorts blocks of a pool into the order BlockOrder would yield them. It needs no walk over the
// pool, so it also serves IPv6 pools of billions of blocks.
func sortByHostOrder(pool netip.Prefix, blockSize int, host string, blocks []netip.Prefix) {
	pool = pool.Masked()
	n := NumBlocks(pool, blockSize)
	if n.Sign() == 0 {
		return
	}
	start := startIndex(n, host)
	pos := func(b netip.Prefix) *big.Int {
		i := blockIndex(pool, blockSize, b)
		i.Sub(i, start)
		return i.Mod(i, n)
	}
	slices.SortFunc(blocks, func(a, b netip.Prefix) int { return pos(a).Cmp(pos(b)) })
}

// blockIndex is the index of block b within the pool.
func blockIndex(pool netip.Prefix, blockSize int, b netip.Prefix) *big.Int {
	off := new(big.Int).SetBytes(b.Addr().AsSlice())
	off.Sub(off, new(big.Int).SetBytes(pool.Addr().AsSlice()))
	return off.Rsh(off, uint(pool.Addr().BitLen()-blockSize))
}

// NumBlocks is how many blocks of blockSize a pool holds (0 when the pool is smaller than a block).
func NumBlocks(pool netip.Prefix, blockSize int) *big.Int {
	if blockSize < pool.Bits() || blockSize > pool.Addr().BitLen() {
		return new(big.Int)
	}
	return new(big.Int).Lsh(big.NewInt(1), uint(blockSize-pool.Bits()))
}

// blockAt is the i-th block of the pool.
func blockAt(pool netip.Prefix, blockSize int, i *big.Int) netip.Prefix {
	base := new(big.Int).SetBytes(pool.Addr().AsSlice())
	off := new(big.Int).Lsh(i, uint(pool.Addr().BitLen()-blockSize))
	buf := base.Add(base, off).FillBytes(make([]byte, pool.Addr().BitLen()/8))
	a, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(a, blockSize)
}

// blockOf is the block of blockSize that holds a.
func blockOf(a netip.Addr, blockSize int) netip.Prefix {
	p, _ := a.Prefix(blockSize)
	return p
}

// capacity is the number of addresses in a prefix.
func capacity(p netip.Prefix) *big.Int {
	return new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
}
