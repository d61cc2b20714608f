package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Allocation is one assigned address as a garbage collector sees it: where it is and who holds it.
type Allocation struct {
	Addr      netip.Addr
	Block     netip.Prefix
	BlockHost string            // the host the block is affine to, "" when none
	Handle    string            // the holder, "" for an address assigned without a handle
	Attrs     map[string]string // the allocation's attributes (a copy the caller may keep)
}

// Allocations lists every assigned address of every block, read at one etcd revision and ordered by address, for
// a garbage collector to compare against the workloads that exist. Addresses assigned without a handle are listed
// with Handle "". A block that cannot be decoded, or whose bookkeeping does not map onto its addresses, is an
// error (Check says more), so that a partial list is never mistaken for the whole.
func (m *IPAM) Allocations(ctx context.Context) ([]Allocation, error) {
	res, err := m.read(ctx, Get{Key: assignmentRoot, Prefix: true})
	if err != nil {
		return nil, err
	}
	var out []Allocation
	for _, kv := range res[0] {
		key := string(kv.Key)
		cidr, ok := ParseBlockKey(key)
		if !ok {
			continue
		}
		var b Block
		if err := json.Unmarshal(kv.Value, &b); err != nil {
			return nil, fmt.Errorf("listing allocations: decoding %s: %w", key, err)
		}
		if b.CIDR != cidr || len(b.Allocations) != b.Size() {
			return nil, fmt.Errorf("listing allocations: block %s is inconsistent (CIDR %s, %d allocation slots)", key, b.CIDR, len(b.Allocations))
		}
		host := b.Host()
		for ord, a := range b.Allocations {
			if a == nil {
				continue
			}
			addr := b.Addr(ord)
			handle, attrs, _ := b.Owner(addr) // an attribute index out of range reads as no handle, as HandleCounts has it
			out = append(out, Allocation{Addr: addr, Block: cidr, BlockHost: host, Handle: handle, Attrs: attrs})
		}
	}
	slices.SortFunc(out, func(x, y Allocation) int { return x.Addr.Compare(y.Addr) })
	return out, nil
}

// ReleaseIfHeldBy releases addr only if its block still assigns it to handle, so that a garbage collector deciding
// from a stale Allocations list never frees an address that was released and handed to someone else meanwhile.
// The block, the handle's count and (when the block empties and nobody needs it) the block's deletion are one
// transaction guarded by the block's mod revision, retried on conflict. An address in no block, not assigned, or
// held by another handle is not released: false and no error. An empty handle is an error: addresses without a
// handle are never released this way.
func (m *IPAM) ReleaseIfHeldBy(ctx context.Context, addr netip.Addr, handle string) (released bool, err error) {
	if handle == "" {
		return false, errors.New("releasing if held: no handle given")
	}
	if err := checkHandleID(handle); err != nil {
		return false, err
	}
	if !addr.IsValid() {
		return false, errors.New("releasing if held: no address given")
	}
	addr = addr.Unmap()
	loc, err := m.newLocator(ctx)
	if err != nil {
		return false, err
	}
	cidr, ok, err := loc.block(ctx, addr)
	if err != nil || !ok {
		return false, err
	}
	notHeld, err := m.releaseFromBlock(ctx, cidr, []netip.Addr{addr}, handle)
	if err != nil {
		return false, fmt.Errorf("releasing %s held by %s: %w", addr, handle, err)
	}
	return len(notHeld) == 0, nil
}
