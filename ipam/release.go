package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"

	"github.com/calico-l3/calico/datastore"
)

// ReleaseIPs frees addresses, each block in one transaction with the handles that held them. Addresses that were
// not assigned (or lie in no pool or block) are returned, not treated as an error.
func (m *IPAM) ReleaseIPs(ctx context.Context, ips []net.IP) (notAssigned []net.IP, err error) {
	loc, err := m.newLocator(ctx)
	if err != nil {
		return nil, err
	}
	groups := map[netip.Prefix][]netip.Addr{}
	for _, ip := range ips {
		a, ok := toAddr(ip)
		if !ok {
			notAssigned = append(notAssigned, ip)
			continue
		}
		cidr, ok, err := loc.block(ctx, a)
		if err != nil {
			return notAssigned, err
		}
		if !ok {
			notAssigned = append(notAssigned, ip)
			continue
		}
		groups[cidr] = append(groups[cidr], a)
	}
	for _, cidr := range slices.SortedFunc(maps.Keys(groups), comparePrefix) {
		addrs := groups[cidr]
		for len(addrs) > 0 {
			// Each address has at most one handle, so a chunk keeps the transaction within etcd's limits.
			chunk := addrs[:min(len(addrs), maxTxnHandles)]
			addrs = addrs[len(chunk):]
			na, err := m.releaseFromBlock(ctx, cidr, chunk, "")
			for _, a := range na {
				notAssigned = append(notAssigned, net.IP(a.AsSlice()))
			}
			if err != nil {
				return notAssigned, fmt.Errorf("releasing addresses in block %s: %w", cidr, err)
			}
		}
	}
	return notAssigned, nil
}

// releaseFromBlock frees addrs of one block in one transaction, retried on conflict, and returns those that were
// not assigned. With heldBy set, only addresses the block assigns to that handle are freed; others count as not
// assigned.
func (m *IPAM) releaseFromBlock(ctx context.Context, cidr netip.Prefix, addrs []netip.Addr, heldBy string) ([]netip.Addr, error) {
	bk := BlockKey(cidr)
	r := &retries{m: m}
	for {
		res, err := m.read(ctx, Get{Key: bk})
		if err != nil {
			return nil, err
		}
		b, brev, err := decode[Block](res[0])
		if err != nil {
			return nil, err
		}
		if b == nil {
			return addrs, nil
		}
		var notHeld []netip.Addr
		if heldBy != "" {
			addrs, notHeld = heldOnly(b, addrs, heldBy)
		}
		released, notAssigned := b.Release(addrs)
		notAssigned = append(notAssigned, notHeld...)
		if len(released) == 0 {
			return notAssigned, nil
		}
		var t txn
		t.expect(bk, brev)
		if err := m.writeHandles(ctx, &t, cidr, released); err != nil {
			return nil, err
		}
		deleted, err := m.writeReleased(ctx, &t, b)
		if err != nil {
			return nil, err
		}
		switch err := m.commit(ctx, &t); {
		case errors.Is(err, errConflict):
			if err := r.again(ctx); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, err
		}
		m.noteDeleted(deleted, b)
		return notAssigned, nil
	}
}

// heldOnly splits addrs into those b assigns to handle and the others.
func heldOnly(b *Block, addrs []netip.Addr, handle string) (held, others []netip.Addr) {
	for _, a := range addrs {
		if h, _, ok := b.Owner(a); ok && h == handle {
			held = append(held, a)
		} else {
			others = append(others, a)
		}
	}
	return held, others
}

// writeHandles adds to t the guarded updates of the handles that gave back addresses in block cidr.
func (m *IPAM) writeHandles(ctx context.Context, t *txn, cidr netip.Prefix, released map[string]int) error {
	var ids []string
	var gets []Get
	for _, id := range slices.Sorted(maps.Keys(released)) {
		if id != "" {
			ids = append(ids, id)
			gets = append(gets, Get{Key: HandleKey(id)})
		}
	}
	if len(gets) == 0 {
		return nil
	}
	res, err := m.read(ctx, gets...)
	if err != nil {
		return err
	}
	for i, id := range ids {
		hs, err := newHandleState(id, res[i])
		if err != nil {
			return err
		}
		hs.add(cidr, -released[id])
		hs.write(t)
	}
	return nil
}

// writeReleased adds to t the write of a block that addresses were released from. A block that is now empty is
// deleted when no host has an affinity to it, and also when its host is gone (no Node resource), together with
// that host's affinity. It says whether the block is deleted.
func (m *IPAM) writeReleased(ctx context.Context, t *txn, b *Block) (bool, error) {
	bk := BlockKey(b.CIDR)
	host := b.Host()
	switch {
	case !b.Empty():
		t.put(bk, b)
		return false, nil
	case host == "":
		t.del(bk)
		return true, nil
	}
	nk, ak := datastore.ResourceKey(nodeKind, "", host), AffinityKey(host, b.CIDR)
	res, err := m.read(ctx, Get{Key: nk, KeysOnly: true}, Get{Key: ak, KeysOnly: true})
	if err != nil {
		return false, err
	}
	if len(res[0]) > 0 {
		t.put(bk, b) // the host is alive and keeps its (now empty) block
		return false, nil
	}
	t.expect(nk, 0)
	t.del(bk)
	if len(res[1]) > 0 {
		t.expect(ak, res[1][0].ModRevision)
		t.del(ak)
	}
	return true, nil
}

func (m *IPAM) noteDeleted(deleted bool, b *Block) {
	if deleted {
		m.stats.deleted.Add(1)
		slog.Info("deleted empty block", "block", b.CIDR, "host", b.Host())
	}
}

// ReleaseByHandle frees every address held by handle and deletes the handle. Each block is released in one
// transaction with the handle's update. A handle that does not exist is an error wrapping datastore.ErrNotFound.
func (m *IPAM) ReleaseByHandle(ctx context.Context, handle string) error {
	if handle == "" {
		return errors.New("releasing by handle: no handle given")
	}
	if err := checkHandleID(handle); err != nil {
		return err
	}
	if done, err := m.releaseCached(ctx, handle); done {
		return err
	}
	hk := HandleKey(handle)
	r := &retries{m: m}
	for first := true; ; first = false {
		res, err := m.read(ctx, Get{Key: hk})
		if err != nil {
			return err
		}
		if len(res[0]) == 0 {
			if first {
				return fmt.Errorf("releasing by handle: %w: IPAMHandle(%s)", datastore.ErrNotFound, handle)
			}
			return nil
		}
		hs, err := newHandleState(handle, res[0])
		if err != nil {
			return err
		}
		var t txn
		var b *Block
		deleted := false
		if len(hs.h.Block) > 0 {
			key := slices.Sorted(maps.Keys(hs.h.Block))[0]
			delete(hs.h.Block, key)
			if cidr, perr := netip.ParsePrefix(key); perr == nil {
				bk := BlockKey(cidr)
				bres, err := m.read(ctx, Get{Key: bk})
				if err != nil {
					return err
				}
				var brev int64
				if b, brev, err = decode[Block](bres[0]); err != nil {
					return err
				}
				t.expect(bk, brev)
				if b != nil && b.ReleaseHandle(handle) > 0 {
					if deleted, err = m.writeReleased(ctx, &t, b); err != nil {
						return err
					}
				}
			} else {
				slog.Warn("dropping unparsable block from handle", "handle", handle, "block", key)
			}
		}
		hs.write(&t)
		switch err := m.commit(ctx, &t); {
		case errors.Is(err, errConflict):
			if err := r.again(ctx); err != nil {
				return fmt.Errorf("releasing handle %s: %w", handle, err)
			}
		case err != nil:
			return fmt.Errorf("releasing handle %s: %w", handle, err)
		default:
			if b != nil {
				m.noteDeleted(deleted, b)
			}
			if len(hs.h.Block) == 0 {
				return nil // that was the handle's last block: the handle is gone
			}
		}
	}
}

// IPsByHandle lists the addresses a handle holds. A handle that does not exist is an error wrapping
// datastore.ErrNotFound.
func (m *IPAM) IPsByHandle(ctx context.Context, handle string) ([]net.IP, error) {
	if handle == "" || checkHandleID(handle) != nil {
		return nil, fmt.Errorf("invalid handle %q", handle)
	}
	res, err := m.read(ctx, Get{Key: HandleKey(handle)})
	if err != nil {
		return nil, err
	}
	hs, err := newHandleState(handle, res[0])
	if err != nil {
		return nil, err
	}
	if hs.rev == 0 {
		return nil, fmt.Errorf("%w: IPAMHandle(%s)", datastore.ErrNotFound, handle)
	}
	var cidrs []netip.Prefix
	var gets []Get
	for key := range hs.h.Block {
		if cidr, err := netip.ParsePrefix(key); err == nil {
			cidrs = append(cidrs, cidr)
		}
	}
	slices.SortFunc(cidrs, comparePrefix)
	for _, c := range cidrs {
		gets = append(gets, Get{Key: BlockKey(c)})
	}
	if len(gets) == 0 {
		return nil, nil
	}
	bres, err := m.read(ctx, gets...)
	if err != nil {
		return nil, err
	}
	var out []net.IP
	for i := range cidrs {
		b, _, err := decode[Block](bres[i])
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue
		}
		for _, a := range b.AddrsOf(handle) {
			out = append(out, net.IP(a.AsSlice()))
		}
	}
	return out, nil
}

// GetAssignmentAttributes returns who holds an address: its handle ("" when none) and attributes.
func (m *IPAM) GetAssignmentAttributes(ctx context.Context, ip net.IP) (handle string, attrs map[string]string, err error) {
	a, ok := toAddr(ip)
	if !ok {
		return "", nil, fmt.Errorf("%q is not an IP address", ip)
	}
	loc, err := m.newLocator(ctx)
	if err != nil {
		return "", nil, err
	}
	cidr, ok, err := loc.block(ctx, a)
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, fmt.Errorf("%s %w", a, ErrNotInPool)
	}
	res, err := m.read(ctx, Get{Key: BlockKey(cidr)})
	if err != nil {
		return "", nil, err
	}
	b, _, err := decode[Block](res[0])
	if err != nil {
		return "", nil, err
	}
	if b == nil {
		return "", nil, fmt.Errorf("%s %w", a, ErrNotAssigned)
	}
	handle, attrs, ok = b.Owner(a)
	if !ok {
		return "", nil, fmt.Errorf("%s %w", a, ErrNotAssigned)
	}
	return handle, attrs, nil
}

// locator finds the block an address belongs to: from the pool that holds it (enabled or not), or, for addresses
// outside every pool (the pool was deleted), from the blocks that exist.
type locator struct {
	m      *IPAM
	pools  []pool
	blocks map[int][]netip.Prefix
}

func (m *IPAM) newLocator(ctx context.Context) (*locator, error) {
	pools, err := m.readPools(ctx)
	if err != nil {
		return nil, err
	}
	return &locator{m: m, pools: pools, blocks: map[int][]netip.Prefix{}}, nil
}

func (l *locator) block(ctx context.Context, a netip.Addr) (netip.Prefix, bool, error) {
	if p, ok := poolFor(l.pools, a); ok {
		return blockOf(a, p.BlockSize), true, nil
	}
	v := 6
	if a.Is4() {
		v = 4
	}
	if _, listed := l.blocks[v]; !listed {
		keys, err := l.m.listKeys(ctx, BlockPrefix(v))
		if err != nil {
			return netip.Prefix{}, false, err
		}
		l.blocks[v] = []netip.Prefix{}
		for _, k := range keys {
			if c, ok := ParseBlockKey(k); ok {
				l.blocks[v] = append(l.blocks[v], c)
			}
		}
	}
	for _, c := range l.blocks[v] {
		if c.Contains(a) {
			return c, true, nil
		}
	}
	return netip.Prefix{}, false, nil
}

// comparePrefix orders prefixes by address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
