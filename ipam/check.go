package ipam

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/calico-l3/calico/datastore"
)

// ProblemKind names a class of inconsistency Check finds.
type ProblemKind string

// Problem kinds.
const (
	ProblemUndecodable          ProblemKind = "undecodable value"
	ProblemBlockBookkeeping     ProblemKind = "block bookkeeping does not add up"
	ProblemUnreferencedAttr     ProblemKind = "attribute not referenced"
	ProblemDuplicateAddress     ProblemKind = "address held twice"
	ProblemOverlappingBlocks    ProblemKind = "blocks overlap"
	ProblemHandleCount          ProblemKind = "handle count differs from allocations"
	ProblemAffinityWithoutBlock ProblemKind = "affinity without block"
	ProblemBlockWithoutAffinity ProblemKind = "block affinity without affinity key"
	ProblemOutsidePools         ProblemKind = "block outside any pool"
)

// Problem is one inconsistency, at one key.
type Problem struct {
	Kind   ProblemKind
	Key    string
	Detail string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Kind, p.Key, p.Detail) }

// Report is what Check found.
type Report struct {
	Blocks, Affinities, Handles, Allocations int
	Problems                                 []Problem
}

// OK says whether nothing is wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Has says whether the report holds a problem of kind.
func (r Report) Has(kind ProblemKind) bool {
	return slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Kind == kind })
}

// Check reads all IPAM state at one revision and reports what does not add up: blocks whose allocated and free
// addresses do not make up the block, attributes nothing refers to, addresses held in two (overlapping) blocks,
// handles whose counts differ from the blocks' allocations, affinities without their block and blocks naming a
// host without the matching affinity, and blocks outside every pool.
func (m *IPAM) Check(ctx context.Context) (Report, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return Report{}, err
	}
	return s.check(), nil
}

// snapshot is every IPAM key and every pool, read at one revision and decoded.
type snapshot struct {
	pools      []pool
	blocks     map[netip.Prefix]*Block // by the CIDR in the key
	affinities map[string][]netip.Prefix
	handles    map[string]*Handle
	problems   []Problem
}

func (m *IPAM) snapshot(ctx context.Context) (*snapshot, error) {
	res, err := m.read(ctx,
		Get{Key: Prefix, Prefix: true},
		Get{Key: datastore.KindPrefix(poolKind, ""), Prefix: true})
	if err != nil {
		return nil, err
	}
	pools, err := decodePools(res[1])
	if err != nil {
		return nil, err
	}
	return newSnapshot(res[0], pools), nil
}

// newSnapshot decodes IPAM keys; values it cannot decode become problems.
func newSnapshot(kvs []KV, pools []pool) *snapshot {
	s := &snapshot{pools: pools, blocks: map[netip.Prefix]*Block{}, affinities: map[string][]netip.Prefix{},
		handles: map[string]*Handle{}}
	bad := func(key string, err error) {
		s.problems = append(s.problems, Problem{ProblemUndecodable, key, err.Error()})
	}
	for _, kv := range kvs {
		key := string(kv.Key)
		if cidr, ok := ParseBlockKey(key); ok {
			var b Block
			if err := json.Unmarshal(kv.Value, &b); err != nil {
				bad(key, err)
				continue
			}
			if b.CIDR != cidr {
				s.problems = append(s.problems, Problem{ProblemBlockBookkeeping, key, fmt.Sprintf("block says its CIDR is %s", b.CIDR)})
				b.CIDR = cidr
			}
			s.blocks[cidr] = &b
		} else if host, cidr, ok := ParseAffinityKey(key); ok {
			var a Affinity
			if err := json.Unmarshal(kv.Value, &a); err != nil {
				bad(key, err)
				continue
			}
			s.affinities[host] = append(s.affinities[host], cidr)
		} else if id, ok := ParseHandleKey(key); ok {
			var h Handle
			if err := json.Unmarshal(kv.Value, &h); err != nil {
				bad(key, err)
				continue
			}
			s.handles[id] = &h
		}
	}
	return s
}

func (s *snapshot) sortedBlocks() []*Block {
	out := slices.Collect(maps.Values(s.blocks))
	slices.SortFunc(out, func(a, b *Block) int { return comparePrefix(a.CIDR, b.CIDR) })
	return out
}

func (s *snapshot) check() Report {
	r := Report{Blocks: len(s.blocks), Handles: len(s.handles), Problems: slices.Clone(s.problems)}
	add := func(kind ProblemKind, key, format string, args ...any) {
		r.Problems = append(r.Problems, Problem{kind, key, fmt.Sprintf(format, args...)})
	}
	blocks := s.sortedBlocks()

	// Each block on its own; and who holds what, for the handle check.
	held := map[string]map[string]int{} // handle → block CIDR → addresses
	for _, b := range blocks {
		key := BlockKey(b.CIDR)
		for _, p := range b.Problems() {
			p.Key = key
			r.Problems = append(r.Problems, p)
		}
		if !inPools(s.pools, b.CIDR) {
			add(ProblemOutsidePools, key, "no IPPool contains %s", b.CIDR)
		}
		if host := b.Host(); host != "" && !slices.Contains(s.affinities[host], b.CIDR) {
			add(ProblemBlockWithoutAffinity, key, "block is affine to %s, which has no affinity key %s", host, AffinityKey(host, b.CIDR))
		}
		if len(b.Allocations) != b.Size() {
			continue // its allocations cannot be trusted to map onto addresses
		}
		for h, n := range b.HandleCounts() {
			r.Allocations += n
			if h == "" {
				continue
			}
			if held[h] == nil {
				held[h] = map[string]int{}
			}
			held[h][b.CIDR.String()] += n
		}
	}

	// Overlapping blocks: sorted by address then length, a block's overlaps follow it directly.
	for i, b := range blocks {
		for _, o := range blocks[i+1:] {
			if !b.CIDR.Contains(o.CIDR.Addr()) {
				break
			}
			add(ProblemOverlappingBlocks, BlockKey(o.CIDR), "%s overlaps %s", o.CIDR, b.CIDR)
			for _, a := range allocated(o) {
				if ord, ok := b.Ordinal(a); ok && ord < len(b.Allocations) && b.Allocations[ord] != nil {
					add(ProblemDuplicateAddress, BlockKey(o.CIDR), "%s is allocated in both %s and %s", a, b.CIDR, o.CIDR)
				}
			}
		}
	}

	// Handles against the blocks.
	for _, id := range slices.Sorted(maps.Keys(s.handles)) {
		h := s.handles[id]
		if len(h.Block) == 0 {
			add(ProblemHandleCount, HandleKey(id), "handle counts no addresses")
		}
		for _, cidr := range slices.Sorted(maps.Keys(h.Block)) {
			if got := held[id][cidr]; h.Block[cidr] != got {
				add(ProblemHandleCount, HandleKey(id), "handle counts %d addresses in %s, the block holds %d for it", h.Block[cidr], cidr, got)
			}
		}
		for _, cidr := range slices.Sorted(maps.Keys(held[id])) {
			if _, ok := h.Block[cidr]; !ok {
				add(ProblemHandleCount, HandleKey(id), "handle does not count the %d addresses it holds in %s", held[id][cidr], cidr)
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(held)) {
		if _, ok := s.handles[id]; !ok {
			for _, cidr := range slices.Sorted(maps.Keys(held[id])) {
				add(ProblemHandleCount, HandleKey(id), "missing handle holds %d addresses in %s", held[id][cidr], cidr)
			}
		}
	}

	// Affinities against the blocks.
	for _, host := range slices.Sorted(maps.Keys(s.affinities)) {
		for _, cidr := range s.affinities[host] {
			r.Affinities++
			b := s.blocks[cidr]
			switch {
			case b == nil:
				add(ProblemAffinityWithoutBlock, AffinityKey(host, cidr), "block %s does not exist", cidr)
			case b.Host() != host:
				add(ProblemAffinityWithoutBlock, AffinityKey(host, cidr), "block %s is affine to %q", cidr, b.Host())
			}
		}
	}
	return r
}

func allocated(b *Block) []netip.Addr {
	var out []netip.Addr
	for ord, a := range b.Allocations {
		if a != nil {
			out = append(out, b.Addr(ord))
		}
	}
	return out
}
