package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// ReleaseHostAffinities gives up every block affinity of host (when the node is removed). Empty blocks are deleted;
// blocks still holding addresses stay, affine to nobody, so their addresses remain valid and can be borrowed around.
func (m *IPAM) ReleaseHostAffinities(ctx context.Context, host string) error {
	if err := checkHost(host); err != nil {
		return err
	}
	keys, err := m.listKeys(ctx, HostAffinityPrefix(host, 0))
	if err != nil {
		return err
	}
	for _, k := range keys {
		h, cidr, ok := ParseAffinityKey(k)
		if !ok {
			continue
		}
		if err := m.releaseAffinity(ctx, h, cidr); err != nil {
			return err
		}
	}
	return nil
}

// ReleasePoolAffinities gives up every host's affinity to the blocks of a pool (when the pool is deleted).
func (m *IPAM) ReleasePoolAffinities(ctx context.Context, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("releasing pool affinities: invalid CIDR %q: %w", cidr, err)
	}
	p = p.Masked()
	keys, err := m.listKeys(ctx, hostRoot)
	if err != nil {
		return err
	}
	for _, k := range keys {
		host, block, ok := ParseAffinityKey(k)
		if !ok || block.Bits() < p.Bits() || !p.Contains(block.Addr()) {
			continue
		}
		if err := m.releaseAffinity(ctx, host, block); err != nil {
			return err
		}
	}
	return nil
}

// releaseAffinity removes host's affinity to a block in one transaction with the block's change: an empty block
// is deleted, a block in use loses its affinity, a block that belongs to someone else is left alone.
func (m *IPAM) releaseAffinity(ctx context.Context, host string, cidr netip.Prefix) error {
	bk, ak := BlockKey(cidr), AffinityKey(host, cidr)
	r := &retries{m: m}
	for {
		res, err := m.read(ctx, Get{Key: bk}, Get{Key: ak, KeysOnly: true})
		if err != nil {
			return err
		}
		if len(res[1]) == 0 {
			return nil
		}
		b, brev, err := decode[Block](res[0])
		if err != nil {
			return err
		}
		var t txn
		t.expect(ak, res[1][0].ModRevision)
		t.del(ak)
		t.expect(bk, brev)
		deleted := false
		switch {
		case b == nil || b.Host() != host:
		case b.Empty():
			t.del(bk)
			deleted = true
		default:
			b.SetHost("")
			b.StrictAffinity = false
			b.SequenceNumber++
			t.put(bk, b)
		}
		switch err := m.commit(ctx, &t); {
		case errors.Is(err, errConflict):
			if err := r.again(ctx); err != nil {
				return fmt.Errorf("releasing affinity of %s to %s: %w", host, cidr, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("releasing affinity of %s to %s: %w", host, cidr, err)
		}
		if deleted {
			m.noteDeleted(true, b)
		}
		slog.Info("released block affinity", "host", host, "block", cidr)
		return nil
	}
}
