package ipam

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/calico-l3/calico/datastore"
)

// cache remembers what this allocator last read or wrote, so that a node's next assignment, or the release of a
// handle it assigned, can go straight to its one transaction instead of reading first. Nothing in it is trusted:
// every entry keeps the mod revision it had (0: the key was absent), and a transaction built from it is guarded on
// those revisions. A stale entry therefore costs one failed transaction, which forgets it, after which the
// operation reads afresh as it would without a cache. It is bounded: past a limit it starts again empty.
type cache struct {
	mu     sync.Mutex
	keys   map[string]entry  // single keys as last read or written
	setups map[string]*setup // by host, as AutoAssign last read them
}

// entry is one cached key. A block's value is also kept decoded, once decoded or as written: decoding a block
// costs more than the rest of an assignment's work in this process. The decoded block is never changed; users
// get clones.
type entry struct {
	kv    KV
	block *Block
}

const (
	// maxCachedKeys bounds the single keys kept: a node's blocks, affinities and the handles of its workloads
	// (Kubernetes runs at most 110 pods a node by default).
	maxCachedKeys = 1024
	// maxCachedHosts bounds the setups kept: an allocator normally serves one host.
	maxCachedHosts = 64
)

// get returns the key as last seen; false when the cache does not know it.
func (c *cache) get(key string) (KV, bool) {
	if c == nil {
		return KV{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.keys[key]
	return e.kv, ok
}

// block returns the block at key as last seen, for the caller to change, with its mod revision; false when the
// cache does not know it, or it is absent or undecodable.
func (c *cache) block(key string) (*Block, int64, bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	e, ok := c.keys[key]
	c.mu.Unlock()
	if !ok || e.kv.ModRevision == 0 {
		return nil, 0, false
	}
	if e.block != nil {
		return e.block.clone(), e.kv.ModRevision, true
	}
	b, rev, err := decode[Block]([]KV{e.kv})
	if err != nil {
		return nil, 0, false
	}
	c.mu.Lock()
	if cur, ok := c.keys[key]; ok && cur.kv.ModRevision == rev && cur.block == nil {
		cur.block = b.clone()
		c.keys[key] = cur
	}
	c.mu.Unlock()
	return b, rev, true
}

// keep records one key (locked by the caller).
func (c *cache) keep(kv KV, b *Block) {
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[string]entry{}
	}
	c.keys[kv.Key] = entry{kv: kv, block: b}
}

// saw records what single-key gets with values found. Prefix and keys-only gets are left out: they do not say
// which keys are absent, or what the values are.
func (c *cache) saw(gets []Get, res [][]KV) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, g := range gets {
		switch {
		case g.Prefix || g.KeysOnly || i >= len(res):
		case len(res[i]) == 0:
			c.keep(KV{Key: g.Key}, nil)
		default:
			c.keep(res[i][0], nil)
		}
	}
}

// wrote records the writes of a commit that took effect at revision rev, with the blocks put as they were encoded
// (by key; the cache keeps them unchanged).
func (c *cache) wrote(ops []Op, rev int64, blocks map[string]*Block) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range ops {
		if o.Delete {
			c.keep(KV{Key: o.Key}, nil)
		} else {
			c.keep(KV{Key: o.Key, Value: o.Value, ModRevision: rev}, blocks[o.Key])
		}
	}
}

// forget drops the keys a failed commit was guarded on or meant to write.
func (c *cache) forget(guards []Guard, ops []Op) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range guards {
		delete(c.keys, g.Key)
	}
	for _, o := range ops {
		delete(c.keys, o.Key)
	}
}

// setup returns host's setup as last read.
func (c *cache) setup(host string) (*setup, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.setups[host]
	return s, ok
}

// keepSetup records host's setup as just read. A setup is never changed once kept: readers share it.
func (c *cache) keepSetup(host string, s *setup) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.setups == nil || len(c.setups) >= maxCachedHosts {
		c.setups = map[string]*setup{}
	}
	c.setups[host] = s
}

// addAffine adds a block just claimed for host to its cached setup, so the next assignment can use it. The setup
// is copied: others may be reading the one kept.
func (c *cache) addAffine(host string, cidr netip.Prefix) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.setups[host]
	if !ok || slices.Contains(s.affine, cidr) {
		return
	}
	ns := *s
	ns.affine = append(slices.Clip(s.affine), cidr)
	c.setups[host] = &ns
}

// cachedValue decodes a cached key that holds a value; false when the key is unknown, absent or undecodable.
func cachedValue[T any](c *cache, key string) (*T, int64, bool) {
	kv, ok := c.get(key)
	if !ok || kv.ModRevision == 0 {
		return nil, 0, false
	}
	v, rev, err := decode[T]([]KV{kv})
	if err != nil {
		return nil, 0, false
	}
	return v, rev, true
}

// assignCached tries AutoAssign from the host's cached setup: each family's addresses from one of the host's own
// blocks, all in one transaction guarded on everything the choice rests on: the configuration, the node, the
// pools (none created or changed, the one used still there), the affinity, the block and the handle. So the
// transaction succeeds only where a fresh read would have made the same choice, or one as good (another of the
// host's blocks that the cache does not know yet). done is false when the cache cannot serve the request or the
// transaction finds it stale; the caller then reads afresh. A handle the cache does not know is taken to be new,
// as a CNI ADD's is; if it exists, the guard fails and the full path counts it.
func (m *IPAM) assignCached(ctx context.Context, args AssignArgs, use string) (v4, v6 []net.IPNet, done bool, err error) {
	s, ok := m.cache.setup(args.Host)
	if !ok {
		return nil, nil, false, nil
	}
	var t txn
	t.expect(ConfigKey, s.cfgRev)
	t.expect(datastore.ResourceKey(nodeKind, "", args.Host), s.nodeRev)
	t.guards = append(t.guards, Guard{Key: datastore.KindPrefix(poolKind, ""), Rev: s.poolsRev, NoneAfter: true})
	hs := &handleState{id: args.HandleID, h: &Handle{Block: map[string]int{}}}
	if args.HandleID != "" {
		kv, known := m.cache.get(HandleKey(args.HandleID))
		if known {
			if hs, err = newHandleState(args.HandleID, nonEmpty(kv)); err != nil {
				return nil, nil, false, nil
			}
		}
	}
	for _, f := range []struct {
		num, version int
		requested    []string
		out          *[]net.IPNet
	}{{args.Num4, 4, args.IPv4Pools, &v4}, {args.Num6, 6, args.IPv6Pools, &v6}} {
		if f.num == 0 {
			continue
		}
		pools, err := selectPools(s.pools, f.version, f.requested, use, args.Host, s.labels)
		if err != nil {
			return nil, nil, false, nil // reported by the full path, from fresh pools
		}
		b, p, ok := m.cachedOwnBlock(s, pools, args.Host, f.version, f.num, &t)
		if !ok {
			return nil, nil, false, nil
		}
		t.expect(p.key, p.rev)
		addrs := b.Assign(f.num, args.HandleID, args.Attrs)
		hs.add(b.CIDR, len(addrs))
		t.put(BlockKey(b.CIDR), b)
		for _, a := range addrs {
			*f.out = append(*f.out, hostNet(a))
		}
	}
	hs.write(&t)
	switch err := m.commit(ctx, &t); {
	case errors.Is(err, errConflict):
		m.stats.conflicts.Add(1)
		return nil, nil, false, nil
	case err != nil:
		return nil, nil, true, fmt.Errorf("assigning addresses on %s: %w", args.Host, err)
	}
	m.stats.cached.Add(1)
	return v4, v6, true, nil
}

// nonEmpty is a cached key as a read result: one KV, or none when the key was absent.
func nonEmpty(kv KV) []KV {
	if kv.ModRevision == 0 {
		return nil
	}
	return []KV{kv}
}

// cachedOwnBlock finds, among the blocks of the cached setup's affinities that lie in pools, the first that the
// cache knows to be confirmed as host's and to have num free addresses. It adds the guards on its affinity and
// block to t and returns the block, decoded afresh for the caller to change, with its pool.
func (m *IPAM) cachedOwnBlock(s *setup, pools []pool, host string, version, num int, t *txn) (*Block, pool, bool) {
	for _, cidr := range s.affine {
		if family(cidr) != version {
			continue
		}
		p, ok := poolOfBlock(pools, cidr)
		if !ok {
			continue
		}
		ak, bk := AffinityKey(host, cidr), BlockKey(cidr)
		aff, arev, ok := cachedValue[Affinity](m.cache, ak)
		if !ok || !aff.Confirmed() {
			continue
		}
		b, brev, ok := m.cache.block(bk)
		if !ok || b.CIDR != cidr || b.Host() != host || b.Free() < num {
			continue
		}
		t.expect(ak, arev)
		t.expect(bk, brev)
		return b, p, true
	}
	return nil, pool{}, false
}

// poolOfBlock is the pool among pools that holds the block cidr.
func poolOfBlock(pools []pool, cidr netip.Prefix) (pool, bool) {
	for _, p := range pools {
		if p.CIDR.Bits() <= cidr.Bits() && p.CIDR.Contains(cidr.Addr()) {
			return p, true
		}
	}
	return pool{}, false
}

// releaseCached tries ReleaseByHandle from the cache: a handle it knows, holding addresses in one block it knows,
// released in one transaction guarded on both. done is false when the cache cannot serve the release (or the
// block would empty and whether to delete it needs a read) or the transaction finds the cache stale; the caller
// then reads afresh.
func (m *IPAM) releaseCached(ctx context.Context, handle string) (done bool, err error) {
	hk := HandleKey(handle)
	h, hrev, ok := cachedValue[Handle](m.cache, hk)
	if !ok || len(h.Block) != 1 {
		return false, nil
	}
	var cidr netip.Prefix
	for key := range h.Block {
		if cidr, err = netip.ParsePrefix(key); err != nil {
			return false, nil
		}
	}
	bk := BlockKey(cidr)
	b, brev, ok := m.cache.block(bk)
	if !ok || b.CIDR != cidr || b.ReleaseHandle(handle) == 0 {
		return false, nil
	}
	var t txn
	t.expect(hk, hrev)
	t.expect(bk, brev)
	t.del(hk)
	deleted := false
	switch {
	case !b.Empty():
		t.put(bk, b)
	case b.Host() == "":
		t.del(bk)
		deleted = true
	default:
		// An empty block stays while its host is registered; the cached node record is guarded like the rest.
		nk := datastore.ResourceKey(nodeKind, "", b.Host())
		kv, known := m.cache.get(nk)
		if !known || kv.ModRevision == 0 {
			return false, nil
		}
		t.expect(nk, kv.ModRevision)
		t.put(bk, b)
	}
	switch err := m.commit(ctx, &t); {
	case errors.Is(err, errConflict):
		m.stats.conflicts.Add(1)
		return false, nil
	case err != nil:
		return true, fmt.Errorf("releasing handle %s: %w", handle, err)
	}
	m.stats.cached.Add(1)
	m.noteDeleted(deleted, b)
	return true, nil
}
