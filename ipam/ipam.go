package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// Errors callers can test for with errors.Is.
var (
	ErrMaxRetries   = errors.New("max retries hit - excessive concurrent IPAM requests")
	ErrExhausted    = errors.New("no free addresses")
	ErrNoPools      = errors.New("no configured Calico pools")
	ErrAddressInUse = errors.New("address already assigned in block")
	ErrNotAssigned  = errors.New("is not assigned")
	ErrNotInPool    = errors.New("is not part of a configured pool")
	ErrConfigLocked = errors.New("cannot change IPAM config while allocations exist")
)

const (
	maxRetries = 100
	// maxTxnHandles bounds the handles one release transaction touches: etcd allows 128 operations per txn.
	maxTxnHandles = 100
)

var (
	poolKind = api.KindOf(&api.IPPool{})
	nodeKind = api.KindOf(&api.Node{})
)

// IPAM is the block allocator. It is safe for concurrent use, by any number of processes on any number of hosts.
type IPAM struct {
	store Store
	cache *cache // nil when the store cannot say at which revision a commit took effect
	stats struct{ conflicts, claimed, borrowed, deleted, cached atomic.Int64 }
}

// New returns an allocator over the datastore's etcd.
func New(ds *datastore.Etcd) *IPAM { return NewWithStore(EtcdStore(ds)) }

// NewWithStore returns an allocator over any store.
func NewWithStore(s Store) *IPAM {
	m := &IPAM{store: s}
	if _, ok := s.(revisionStore); ok {
		m.cache = &cache{}
	}
	return m
}

// Stats counts what the allocator has done since it was made.
type Stats struct {
	Conflicts     int64 // transactions that lost a race and were retried
	BlocksClaimed int64 // blocks created with an affinity to the requesting host
	Borrowed      int64 // addresses assigned from another host's (or nobody's) block
	BlocksDeleted int64 // blocks deleted because they became empty and nobody needs them
	Cached        int64 // assignments and releases made in one transaction from what the allocator had cached
}

// Stats returns the counters.
func (m *IPAM) Stats() Stats {
	return Stats{m.stats.conflicts.Load(), m.stats.claimed.Load(), m.stats.borrowed.Load(), m.stats.deleted.Load(),
		m.stats.cached.Load()}
}

// Config is the cluster-wide IPAM configuration at /calico/ipam/v2/config.
type Config struct {
	// StrictAffinity forbids borrowing: a host only uses addresses from blocks affine to it.
	StrictAffinity bool `json:"strict_affinity,omitempty"`
	// AutoAllocateBlocks lets a host claim new blocks when its own are full.
	AutoAllocateBlocks bool `json:"auto_allocate_blocks,omitempty"`
}

// DefaultConfig is the configuration when none is stored.
var DefaultConfig = Config{StrictAffinity: false, AutoAllocateBlocks: true}

// GetConfig reads the IPAM configuration, or DefaultConfig when none is stored.
func (m *IPAM) GetConfig(ctx context.Context) (Config, error) {
	res, err := m.read(ctx, Get{Key: ConfigKey})
	if err != nil {
		return Config{}, err
	}
	return decodeConfig(res[0])
}

func decodeConfig(kvs []KV) (Config, error) {
	if len(kvs) == 0 {
		return DefaultConfig, nil
	}
	var c Config
	if err := json.Unmarshal(kvs[0].Value, &c); err != nil {
		return Config{}, fmt.Errorf("decoding %s: %w", ConfigKey, err)
	}
	return c, nil
}

// SetConfig stores the IPAM configuration. It is refused while any block exists (the settings are baked into
// blocks as they are claimed) and when both settings are off (no host could ever get an address).
func (m *IPAM) SetConfig(ctx context.Context, c Config) error {
	if !c.StrictAffinity && !c.AutoAllocateBlocks {
		return errors.New("cannot disable 'StrictAffinity' and 'AutoAllocateBlocks' at the same time")
	}
	var t txn
	t.guards = append(t.guards, Guard{Key: assignmentRoot, NoneUnder: true}) // no block exists
	t.put(ConfigKey, c)
	err := m.commit(ctx, &t)
	if errors.Is(err, errConflict) {
		return ErrConfigLocked
	}
	if err != nil {
		return fmt.Errorf("storing IPAM config: %w", err)
	}
	slog.Info("IPAM config stored", "strictAffinity", c.StrictAffinity, "autoAllocateBlocks", c.AutoAllocateBlocks)
	return nil
}

// errConflict means a transaction's guards failed: something it read has changed.
var errConflict = errors.New("IPAM transaction conflict")

// txn collects the guards and writes of one transaction.
type txn struct {
	guards []Guard
	ops    []Op
	blocks map[string]*Block // the blocks put, as encoded, for the cache (decoding a block costs more than the rest)
	err    error
}

// expect guards the transaction on key still having mod revision rev (0: still absent).
func (t *txn) expect(key string, rev int64) {
	t.guards = append(t.guards, Guard{Key: key, Rev: rev})
}

func (t *txn) put(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil && t.err == nil {
		t.err = fmt.Errorf("encoding %s: %w", key, err)
	}
	t.ops = append(t.ops, Op{Key: key, Value: b})
	if blk, ok := v.(*Block); ok {
		if t.blocks == nil {
			t.blocks = map[string]*Block{}
		}
		t.blocks[key] = blk.clone()
	}
}

func (t *txn) del(key string) { t.ops = append(t.ops, Op{Key: key, Delete: true}) }

// commit runs the transaction; errConflict if a guard failed. The cache learns what a successful commit wrote,
// and forgets the keys of one that failed: at least one of them has changed, and an error leaves the outcome open.
func (m *IPAM) commit(ctx context.Context, t *txn) error {
	if t.err != nil {
		return t.err
	}
	var ok bool
	var rev int64
	var err error
	if rs, isRev := m.store.(revisionStore); isRev {
		ok, rev, err = rs.CommitAt(ctx, t.guards, t.ops)
	} else {
		ok, err = m.store.Commit(ctx, t.guards, t.ops)
	}
	if err != nil || !ok {
		m.cache.forget(t.guards, t.ops)
	} else {
		m.cache.wrote(t.ops, rev, t.blocks)
	}
	if err != nil {
		return err
	}
	if !ok {
		return errConflict
	}
	return nil
}

// read runs gets in one read, so they see one revision where the store can give one; one result per get. The
// cache keeps what single-key gets found.
func (m *IPAM) read(ctx context.Context, gets ...Get) ([][]KV, error) {
	res, err := m.store.Read(ctx, gets...)
	if err == nil {
		m.cache.saw(gets, res)
	}
	return res, err
}

// decode unmarshals the single value of a get; nil and revision 0 when the key is absent.
func decode[T any](kvs []KV) (*T, int64, error) {
	if len(kvs) == 0 {
		return nil, 0, nil
	}
	v := new(T)
	if err := json.Unmarshal(kvs[0].Value, v); err != nil {
		return nil, 0, fmt.Errorf("decoding %s: %w", kvs[0].Key, err)
	}
	return v, kvs[0].ModRevision, nil
}

// retries is the conflict budget of one operation.
type retries struct {
	m *IPAM
	n int
}

// again counts a conflict and waits a little (longer as conflicts pile up, randomised so racers spread out).
func (r *retries) again(ctx context.Context) error {
	r.n++
	r.m.stats.conflicts.Add(1)
	if r.n >= maxRetries {
		return ErrMaxRetries
	}
	d := time.Duration(rand.Int64N(int64(min(r.n, 10)) * int64(time.Millisecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handleState is a handle as read, changed in memory before it is written back.
type handleState struct {
	id  string
	h   *Handle
	rev int64
}

func newHandleState(id string, kvs []KV) (*handleState, error) {
	h, rev, err := decode[Handle](kvs)
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = &Handle{}
	}
	if h.Block == nil {
		h.Block = map[string]int{}
	}
	return &handleState{id: id, h: h, rev: rev}, nil
}

func (hs *handleState) add(cidr netip.Prefix, n int) {
	if hs.id == "" {
		return
	}
	k := cidr.String()
	if hs.h.Block[k] += n; hs.h.Block[k] <= 0 {
		delete(hs.h.Block, k)
	}
}

// write adds the guarded write of the handle to t: put, or delete when it no longer counts anything. The empty ID
// (addresses held without a handle) has no key and writes nothing.
func (hs *handleState) write(t *txn) {
	if hs.id == "" {
		return
	}
	key := HandleKey(hs.id)
	t.expect(key, hs.rev)
	switch {
	case len(hs.h.Block) > 0:
		t.put(key, hs.h)
	case hs.rev != 0:
		t.del(key)
	}
}

// withHandle appends the get of handle id to gets, unless id is "" (no handle); it returns the index of its
// result, or -1.
func withHandle(gets []Get, id string) ([]Get, int) {
	if id == "" {
		return gets, -1
	}
	return append(gets, Get{Key: HandleKey(id)}), len(gets)
}

// resultAt is res[i], or nothing for i = -1.
func resultAt(res [][]KV, i int) []KV {
	if i < 0 {
		return nil
	}
	return res[i]
}

func toAddr(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func hostNet(a netip.Addr) net.IPNet {
	return net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

// readPools reads every IPPool (enabled or not).
func (m *IPAM) readPools(ctx context.Context) ([]pool, error) {
	res, err := m.read(ctx, Get{Key: datastore.KindPrefix(poolKind, ""), Prefix: true})
	if err != nil {
		return nil, err
	}
	return decodePools(res[0])
}

func decodePools(kvs []KV) ([]pool, error) {
	var out []pool
	for _, kv := range kvs {
		r, err := datastore.DecodeResource(string(kv.Key), kv.Value, kv.ModRevision)
		if err != nil {
			return nil, err
		}
		ipp, ok := r.(*api.IPPool)
		if !ok {
			continue
		}
		p, err := poolFrom(ipp)
		if err != nil {
			return nil, err
		}
		p.key, p.rev = string(kv.Key), kv.ModRevision
		out = append(out, p)
	}
	return out, nil
}

// listKeys returns the keys under a prefix.
func (m *IPAM) listKeys(ctx context.Context, prefix string) ([]string, error) {
	res, err := m.read(ctx, Get{Key: prefix, Prefix: true, KeysOnly: true})
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(res[0]))
	for i, kv := range res[0] {
		keys[i] = string(kv.Key)
	}
	return keys, nil
}
