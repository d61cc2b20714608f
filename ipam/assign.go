package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// AssignArgs says what AutoAssign should hand out, to whom.
type AssignArgs struct {
	Num4, Num6 int
	// HandleID names the holder (CNI uses "<network>.<container id>"), so that everything it holds can be released
	// at once. Empty means no handle: the addresses can then only be released one by one.
	HandleID string
	// Attrs are stored with the allocation (the "secondary" attributes).
	Attrs map[string]string
	// Host is the node asking: blocks are claimed for it and its own blocks are used first.
	Host string
	// IPv4Pools and IPv6Pools restrict the pools used (names or CIDRs); empty means every enabled pool in
	// Automatic assignment mode whose nodeSelector matches the host. Either way a pool must allow IntendedUse.
	IPv4Pools, IPv6Pools []string
	// IntendedUse is what the addresses are for: api.IPPoolAllowedUseWorkload (the default when empty) or
	// api.IPPoolAllowedUseTunnel. Only pools whose allowedUses hold it are used.
	IntendedUse string
}

// request is one family's share of an AutoAssign.
type request struct {
	num     int
	version int
	handle  string
	attrs   map[string]string
	host    string
	pools   []pool
	cfg     Config
	retries *retries
	affine  []netip.Prefix // the host's blocks in those pools, as its affinity keys say
}

// AutoAssign hands out Num4 IPv4 and Num6 IPv6 addresses, each as a host prefix (/32 or /128). For each family it
// uses the host's own blocks first, then claims free blocks of the pools for the host, then (unless strict
// affinity is configured) borrows free addresses from other blocks. When the pools run dry it returns what it got
// together with an error wrapping ErrExhausted that names the pools; those addresses stay assigned (release them
// by handle to undo). Pool errors are reported before anything is assigned.
func (m *IPAM) AutoAssign(ctx context.Context, args AssignArgs) (v4, v6 []net.IPNet, err error) {
	if err := checkHost(args.Host); err != nil {
		return nil, nil, err
	}
	if err := checkHandleID(args.HandleID); err != nil {
		return nil, nil, err
	}
	if args.Num4 < 0 || args.Num6 < 0 {
		return nil, nil, fmt.Errorf("cannot assign a negative number of addresses (%d IPv4, %d IPv6)", args.Num4, args.Num6)
	}
	if args.Num4 == 0 && args.Num6 == 0 {
		return nil, nil, nil
	}
	use := args.IntendedUse
	switch use {
	case "":
		use = api.IPPoolAllowedUseWorkload
	case api.IPPoolAllowedUseWorkload, api.IPPoolAllowedUseTunnel:
	default:
		return nil, nil, fmt.Errorf("cannot assign addresses for use %q: IPAM assigns only %s and %s addresses",
			use, api.IPPoolAllowedUseWorkload, api.IPPoolAllowedUseTunnel)
	}
	if v4, v6, done, err := m.assignCached(ctx, args, use); done {
		return v4, v6, err
	}
	s, err := m.readSetup(ctx, args.Host)
	if err != nil {
		return nil, nil, err
	}
	m.cache.keepSetup(args.Host, s)

	reqs := []*request{}
	for _, f := range []struct {
		num, version int
		requested    []string
	}{{args.Num4, 4, args.IPv4Pools}, {args.Num6, 6, args.IPv6Pools}} {
		if f.num == 0 {
			continue
		}
		pools, err := selectPools(s.pools, f.version, f.requested, use, args.Host, s.labels)
		if err != nil {
			return nil, nil, err
		}
		q := &request{num: f.num, version: f.version, handle: args.HandleID, attrs: args.Attrs,
			host: args.Host, pools: pools, cfg: s.cfg, retries: &retries{m: m}}
		for _, cidr := range s.affine {
			if family(cidr) == f.version && inPools(pools, cidr) {
				q.affine = append(q.affine, cidr)
			}
		}
		reqs = append(reqs, q)
	}
	for _, q := range reqs {
		addrs, err := m.autoAssign(ctx, q)
		nets := make([]net.IPNet, len(addrs))
		for i, a := range addrs {
			nets[i] = hostNet(a)
		}
		if q.version == 4 {
			v4 = nets
		} else {
			v6 = nets
		}
		if err != nil {
			holder := ""
			if args.HandleID != "" {
				holder = " to " + args.HandleID
			}
			return v4, v6, fmt.Errorf("assigning IPv%d addresses%s on %s: %w", q.version, holder, args.Host, err)
		}
	}
	return v4, v6, nil
}

// setup is what an assignment decides from before it touches a block: the IPAM configuration, every pool, the
// host's labels and the blocks its affinity keys name. Each part keeps the mod revision it was read at (0 for a
// key that was absent), so that a transaction built on a cached setup can be guarded on it.
type setup struct {
	cfg    Config
	cfgRev int64
	pools  []pool
	// poolsRev is the newest mod revision among the pools: no pool was created or changed since it.
	poolsRev int64
	labels   map[string]string
	nodeRev  int64
	affine   []netip.Prefix
}

// readSetup reads an assignment's setup for host, in one read.
func (m *IPAM) readSetup(ctx context.Context, host string) (*setup, error) {
	res, err := m.read(ctx,
		Get{Key: ConfigKey},
		Get{Key: datastore.KindPrefix(poolKind, ""), Prefix: true},
		Get{Key: datastore.ResourceKey(nodeKind, "", host)},
		Get{Key: HostAffinityPrefix(host, 0), Prefix: true, KeysOnly: true})
	if err != nil {
		return nil, err
	}
	s := &setup{}
	if s.cfg, err = decodeConfig(res[0]); err != nil {
		return nil, err
	}
	if len(res[0]) > 0 {
		s.cfgRev = res[0][0].ModRevision
	}
	if s.pools, err = decodePools(res[1]); err != nil {
		return nil, err
	}
	for _, p := range s.pools {
		s.poolsRev = max(s.poolsRev, p.rev)
	}
	node, nodeRev, err := decode[api.Node](res[2])
	if err != nil {
		return nil, err
	}
	if node != nil {
		s.labels, s.nodeRev = node.Labels, nodeRev
	}
	for _, kv := range res[3] {
		if _, cidr, ok := ParseAffinityKey(string(kv.Key)); ok {
			s.affine = append(s.affine, cidr)
		}
	}
	return s, nil
}

// blockMode says how assignFromBlock may use a block.
type blockMode int

const (
	ownBlock    blockMode = iota // the host has an affinity to it: use it, re-claim it if it vanished
	claimBlock                   // the block looked free: create it for the host
	borrowBlock                  // another host's block (or nobody's): take free addresses if allowed
)

func (m *IPAM) autoAssign(ctx context.Context, q *request) ([]netip.Addr, error) {
	var got []netip.Addr
	need := func() int { return q.num - len(got) }

	// 1. The host's own blocks.
	for _, cidr := range q.affine {
		addrs, err := m.assignFromBlock(ctx, q, cidr, need(), ownBlock)
		got = append(got, addrs...)
		if err != nil {
			return got, err
		}
		if need() == 0 {
			return got, nil
		}
	}

	// 2. New blocks claimed for the host.
	for tries := 0; q.cfg.AutoAllocateBlocks && need() > 0; tries++ {
		if tries == maxRetries {
			return got, ErrMaxRetries
		}
		cidr, ok, err := m.findUnclaimed(ctx, q)
		if err != nil {
			return got, err
		}
		if !ok {
			break
		}
		addrs, err := m.assignFromBlock(ctx, q, cidr, need(), claimBlock)
		got = append(got, addrs...)
		if err != nil {
			return got, err
		}
	}

	// 3. Borrowing from blocks that exist, unless every host must keep to its own.
	if !q.cfg.StrictAffinity && need() > 0 {
		for _, cidr := range m.borrowCandidates(ctx, q) {
			addrs, err := m.assignFromBlock(ctx, q, cidr, need(), borrowBlock)
			got = append(got, addrs...)
			if err != nil {
				return got, err
			}
			if need() == 0 {
				break
			}
		}
	}

	if need() > 0 {
		hint := ""
		if q.cfg.StrictAffinity {
			hint = " (strict affinity is on: addresses in other hosts' blocks are not borrowed)"
		} else if !q.cfg.AutoAllocateBlocks {
			hint = " (auto_allocate_blocks is off: no new blocks are claimed)"
		}
		return got, fmt.Errorf("%w in pool(s) %s: assigned %d of %d%s", ErrExhausted, poolNames(q.pools), len(got), q.num, hint)
	}
	return got, nil
}

// findUnclaimed returns the first block, in the host's order, of the first pool that has one not yet created.
func (m *IPAM) findUnclaimed(ctx context.Context, q *request) (netip.Prefix, bool, error) {
	keys, err := m.listKeys(ctx, BlockPrefix(q.version))
	if err != nil {
		return netip.Prefix{}, false, err
	}
	existing := map[netip.Prefix]bool{}
	var cidrs []netip.Prefix
	for _, k := range keys {
		if c, ok := ParseBlockKey(k); ok {
			existing[c] = true
			cidrs = append(cidrs, c)
		}
	}
	for _, p := range q.pools {
		// Blocks of another size (left by an earlier pool over the same range) rule out the blocks they overlap;
		// only blocks of the pool's size count towards it being full.
		var odd []netip.Prefix
		inPool := 0
		for _, c := range cidrs {
			if p.CIDR.Overlaps(c) {
				if c.Bits() != p.BlockSize {
					odd = append(odd, c)
				} else {
					inPool++
				}
			}
		}
		if NumBlocks(p.CIDR, p.BlockSize).Cmp(big.NewInt(int64(inPool))) <= 0 {
			continue
		}
		for c := range BlockOrder(p.CIDR, p.BlockSize, q.host) {
			if existing[c] || overlapsAny(c, odd) {
				continue
			}
			return c, true, nil
		}
	}
	return netip.Prefix{}, false, nil
}

// borrowCandidates lists the existing blocks of the request's pools that have free addresses the host may take,
// pool by pool in the host's block order.
func (m *IPAM) borrowCandidates(ctx context.Context, q *request) []netip.Prefix {
	res, err := m.read(ctx, Get{Key: BlockPrefix(q.version), Prefix: true})
	if err != nil {
		slog.Warn("listing blocks to borrow from", "err", err)
		return nil
	}
	byPool := make([][]netip.Prefix, len(q.pools))
	for i := range res[0] {
		blk, _, err := decode[Block](res[0][i : i+1])
		if err != nil {
			continue // reported by Check; nothing to borrow from a block we cannot read
		}
		if blk.Free() == 0 || !mayBorrow(blk, q.host) {
			continue
		}
		for i, p := range q.pools {
			if p.CIDR.Contains(blk.CIDR.Addr()) && blk.CIDR.Bits() == p.BlockSize {
				byPool[i] = append(byPool[i], blk.CIDR)
				break
			}
		}
	}
	var out []netip.Prefix
	for i, p := range q.pools {
		sortByHostOrder(p.CIDR, p.BlockSize, q.host, byPool[i])
		out = append(out, byPool[i]...)
	}
	return out
}

// mayBorrow says whether host may take addresses from b: not when the block is strictly affine to another host.
func mayBorrow(b *Block, host string) bool {
	return !b.StrictAffinity || b.Host() == "" || b.Host() == host
}

// assignFromBlock assigns up to n addresses from one block in one transaction with the handle update (and, when
// the block is created, with the host's affinity). It retries lost races itself while the block still suits; it
// returns no addresses, and no error, when the block turns out not to (full, gone, taken by another host).
func (m *IPAM) assignFromBlock(ctx context.Context, q *request, cidr netip.Prefix, n int, mode blockMode) ([]netip.Addr, error) {
	bk, ak := BlockKey(cidr), AffinityKey(q.host, cidr)
	for {
		gets, hi := withHandle([]Get{Get{Key: bk}, Get{Key: ak}}, q.handle)
		res, err := m.read(ctx, gets...)
		if err != nil {
			return nil, err
		}
		b, brev, err := decode[Block](res[0])
		if err != nil {
			return nil, err
		}
		aff, arev, err := decode[Affinity](res[1])
		if err != nil {
			return nil, err
		}
		hs, err := newHandleState(q.handle, resultAt(res, hi))
		if err != nil {
			return nil, err
		}

		var t txn
		created := false
		switch {
		case b == nil && (mode == borrowBlock || (mode == ownBlock && aff == nil)):
			return nil, nil // gone: nothing to borrow, or our affinity was released meanwhile
		case b == nil:
			// Claim: the block, our confirmed affinity and the handle appear together or not at all. An affinity
			// left over without its block (pending, from a crashed claim) is taken over.
			b = NewBlock(cidr)
			b.SetHost(q.host)
			b.StrictAffinity = q.cfg.StrictAffinity
			t.expect(bk, 0)
			t.expect(ak, arev)
			t.put(ak, Affinity{State: StateConfirmed})
			created = true
		case mode != borrowBlock && b.Host() != q.host:
			// Another host holds the block: drop our stale affinity to it, if any, and look elsewhere.
			if arev != 0 {
				var d txn
				d.expect(ak, arev)
				d.expect(bk, brev)
				d.del(ak)
				switch err := m.commit(ctx, &d); {
				case err == nil:
					slog.Info("removed stale block affinity", "host", q.host, "block", cidr, "owner", b.Host())
				case !errors.Is(err, errConflict):
					return nil, err
				}
			}
			if mode == claimBlock {
				return nil, q.retries.again(ctx) // lost the race for this block
			}
			return nil, nil
		case mode == borrowBlock && !mayBorrow(b, q.host):
			return nil, nil
		default:
			t.expect(bk, brev)
			if mode != borrowBlock {
				// Guard on our affinity too, and settle it if it is missing or unconfirmed.
				t.expect(ak, arev)
				if aff == nil || !aff.Confirmed() {
					t.put(ak, Affinity{State: StateConfirmed})
				}
			}
		}

		addrs := b.Assign(n, q.handle, q.attrs)
		if len(addrs) == 0 {
			return nil, nil
		}
		hs.add(cidr, len(addrs))
		hs.write(&t)
		t.put(bk, b)
		switch err := m.commit(ctx, &t); {
		case errors.Is(err, errConflict):
			if err := q.retries.again(ctx); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("assigning from block %s: %w", cidr, err)
		}
		if created {
			m.stats.claimed.Add(1)
			m.cache.addAffine(q.host, cidr)
			slog.Info("claimed block", "host", q.host, "block", cidr)
		}
		if mode == borrowBlock && b.Host() != q.host {
			m.stats.borrowed.Add(int64(len(addrs)))
		}
		return addrs, nil
	}
}

// AssignIP assigns one given address to handle for a workload. If its block does not exist yet, the block is
// claimed for host. The address must lie in an enabled pool that allows Workload use (its assignment mode does not
// matter: the address is asked for); ErrAddressInUse when it is taken.
func (m *IPAM) AssignIP(ctx context.Context, ip net.IP, handle string, attrs map[string]string, host string) error {
	a, ok := toAddr(ip)
	if !ok {
		return fmt.Errorf("%q is not an IP address", ip)
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if err := checkHandleID(handle); err != nil {
		return err
	}
	res, err := m.read(ctx, Get{Key: ConfigKey}, Get{Key: datastore.KindPrefix(poolKind, ""), Prefix: true})
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(res[0])
	if err != nil {
		return err
	}
	pools, err := decodePools(res[1])
	if err != nil {
		return err
	}
	p, ok := poolFor(pools, a)
	if !ok || p.Disabled {
		return fmt.Errorf("assigning %s: %s %w", a, a, ErrNotInPool)
	}
	if !p.allows(api.IPPoolAllowedUseWorkload) {
		return fmt.Errorf("assigning %s: its pool %s cannot be used for workload addresses: its allowedUses are %s",
			a, p, strings.Join(p.Uses, ", "))
	}
	cidr := blockOf(a, p.BlockSize)
	bk, ak := BlockKey(cidr), AffinityKey(host, cidr)
	r := &retries{m: m}
	for {
		gets, hi := withHandle([]Get{Get{Key: bk}, Get{Key: ak}}, handle)
		res, err := m.read(ctx, gets...)
		if err != nil {
			return err
		}
		b, brev, err := decode[Block](res[0])
		if err != nil {
			return err
		}
		_, arev, err := decode[Affinity](res[1])
		if err != nil {
			return err
		}
		hs, err := newHandleState(handle, resultAt(res, hi))
		if err != nil {
			return err
		}
		var t txn
		created := b == nil
		if created {
			b = NewBlock(cidr)
			b.SetHost(host)
			b.StrictAffinity = cfg.StrictAffinity
			t.expect(bk, 0)
			t.expect(ak, arev)
			t.put(ak, Affinity{State: StateConfirmed})
		} else {
			t.expect(bk, brev)
		}
		if err := b.AssignAddr(a, handle, attrs); err != nil {
			return fmt.Errorf("assigning %s: %w", a, err)
		}
		hs.add(cidr, 1)
		hs.write(&t)
		t.put(bk, b)
		switch err := m.commit(ctx, &t); {
		case errors.Is(err, errConflict):
			if err := r.again(ctx); err != nil {
				return fmt.Errorf("assigning %s: %w", a, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("assigning %s: %w", a, err)
		}
		if created {
			m.stats.claimed.Add(1)
			slog.Info("claimed block", "host", host, "block", cidr)
		}
		return nil
	}
}

func overlapsAny(c netip.Prefix, others []netip.Prefix) bool {
	for _, o := range others {
		if c.Overlaps(o) {
			return true
		}
	}
	return false
}
