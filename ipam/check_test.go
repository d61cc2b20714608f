package ipam

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// state is IPAM content as keys and values, built up the way the allocator would write it.
type state map[string]any

func (s state) kvs(t *testing.T) []KV {
	var out []KV
	for k, v := range s {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, KV{Key: k, Value: b})
	}
	return out
}

// healthy is one host with a block holding two addresses of one handle and one of another.
func healthy() (state, *Block) {
	cidr := netip.MustParsePrefix("10.0.0.0/29")
	b := NewBlock(cidr)
	b.SetHost("node1")
	b.Assign(2, "h1", nil)
	b.Assign(1, "h2", map[string]string{"pod": "p"})
	return state{
		BlockKey(cidr):             b,
		AffinityKey("node1", cidr): Affinity{State: StateConfirmed},
		HandleKey("h1"):            Handle{Block: map[string]int{"10.0.0.0/29": 2}},
		HandleKey("h2"):            Handle{Block: map[string]int{"10.0.0.0/29": 1}},
	}, b
}

var checkPools = []pool{{Name: "p", CIDR: netip.MustParsePrefix("10.0.0.0/24"), BlockSize: 29}}

func TestCheckFindsNothingWrongWithConsistentState(t *testing.T) {
	s, _ := healthy()
	r := newSnapshot(s.kvs(t), checkPools).check()
	if !r.OK() {
		t.Fatalf("problems in a consistent state: %v", r.Problems)
	}
	if r.Blocks != 1 || r.Affinities != 1 || r.Handles != 2 || r.Allocations != 3 {
		t.Errorf("counted %d blocks, %d affinities, %d handles, %d allocations; want 1, 1, 2, 3", r.Blocks, r.Affinities, r.Handles, r.Allocations)
	}
}

func TestCheckReportsEachKindOfInconsistency(t *testing.T) {
	blockKey := BlockKey(netip.MustParsePrefix("10.0.0.0/29"))
	tests := []struct {
		name    string
		corrupt func(s state, b *Block)
		want    ProblemKind
	}{
		{"a handle counting more than the block holds", func(s state, b *Block) {
			s[HandleKey("h1")] = Handle{Block: map[string]int{"10.0.0.0/29": 3}}
		}, ProblemHandleCount},
		{"an allocation whose handle key is missing", func(s state, b *Block) { delete(s, HandleKey("h2")) }, ProblemHandleCount},
		{"a leaked handle counting nothing", func(s state, b *Block) { s[HandleKey("h3")] = Handle{Block: map[string]int{}} }, ProblemHandleCount},
		{"an attribute nobody refers to", func(s state, b *Block) { b.Attributes = append(b.Attributes, Attribute{}) }, ProblemUnreferencedAttr},
		{"allocated plus free not adding up", func(s state, b *Block) { b.Unallocated = b.Unallocated[1:] }, ProblemBlockBookkeeping},
		{"an affinity without its block", func(s state, b *Block) {
			s[AffinityKey("node2", netip.MustParsePrefix("10.0.0.8/29"))] = Affinity{State: StateConfirmed}
		}, ProblemAffinityWithoutBlock},
		{"an affinity to a block another host holds", func(s state, b *Block) {
			s[AffinityKey("node2", netip.MustParsePrefix("10.0.0.0/29"))] = Affinity{State: StateConfirmed}
		}, ProblemAffinityWithoutBlock},
		{"a block naming a host that has no affinity key", func(s state, b *Block) {
			delete(s, AffinityKey("node1", netip.MustParsePrefix("10.0.0.0/29")))
		}, ProblemBlockWithoutAffinity},
		{"a block outside every pool", func(s state, b *Block) {
			o := NewBlock(netip.MustParsePrefix("10.7.0.0/29"))
			s[BlockKey(o.CIDR)] = o
		}, ProblemOutsidePools},
		{"an address held in two overlapping blocks", func(s state, b *Block) {
			o := NewBlock(netip.MustParsePrefix("10.0.0.0/30"))
			o.Assign(1, "h1", nil)
			s[BlockKey(o.CIDR)] = o
			s[HandleKey("h1")] = Handle{Block: map[string]int{"10.0.0.0/29": 2, "10.0.0.0/30": 1}}
		}, ProblemDuplicateAddress},
		{"a block whose JSON cannot be read", func(s state, b *Block) { s[blockKey] = []byte("{not json") }, ProblemUndecodable},
		{"a block whose CIDR disagrees with its key", func(s state, b *Block) { b.CIDR = netip.MustParsePrefix("10.0.0.8/29") }, ProblemBlockBookkeeping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b := healthy()
			tt.corrupt(s, b)
			r := newSnapshot(s.kvs(t), checkPools).check()
			if !r.Has(tt.want) {
				t.Errorf("problems = %v, want one of kind %q", r.Problems, tt.want)
			}
		})
	}
}
