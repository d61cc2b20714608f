package calc

import (
	"hash/maphash"
	"maps"
	"weak"
)

// labelSets shares endpoints' effective label maps: every endpoint whose labels are equal holds the same map. The
// pods of one deployment carry the same labels, and 50,000 pods of a few hundred deployments have a few hundred sets,
// so one copy of each in place of a map per endpoint is most of felix's memory in a large cluster.
//
// A shared map is never changed: whoever needs other labels builds a new map and shares that. The sets are held
// weakly: a set no endpoint holds any more is collected, and its entry here is dropped on a later call.
type labelSets struct {
	byHash map[uint64]weak.Pointer[labelSet] // by hash
	seed   maphash.Seed
	shares int // share calls since the last sweep of collected sets
}

// labelSet is one shared map; endpoints hold it (not only its map), which keeps it from being collected.
type labelSet struct {
	labels map[string]string
}

// share returns the shared set equal to labels, which becomes the shared one when there is none; the caller must
// not change labels afterwards. Should two different maps ever hash alike, the later one is left unshared.
func (s *labelSets) share(labels map[string]string) *labelSet {
	if s.byHash == nil {
		s.byHash, s.seed = map[uint64]weak.Pointer[labelSet]{}, maphash.MakeSeed()
	}
	if s.shares++; s.shares > len(s.byHash) {
		s.sweep()
	}
	h := s.hash(labels)
	if set := s.byHash[h].Value(); set != nil {
		if maps.Equal(set.labels, labels) {
			return set
		}
		return &labelSet{labels: labels}
	}
	set := &labelSet{labels: labels}
	s.byHash[h] = weak.Make(set)
	return set
}

// sweep drops the sets that were collected. Called once per as many shares as there are sets, it costs O(1) a
// share.
func (s *labelSets) sweep() {
	s.shares = 0
	maps.DeleteFunc(s.byHash, func(_ uint64, p weak.Pointer[labelSet]) bool { return p.Value() == nil })
}

// hash is the same for equal maps whatever their order: the sum of each pair's hash. Pairs are hashed with their
// lengths, so that only a true collision gives two maps one hash (and share compares them).
func (s *labelSets) hash(labels map[string]string) uint64 {
	var sum uint64
	var h maphash.Hash
	h.SetSeed(s.seed)
	for k, v := range labels {
		h.Reset()
		maphash.WriteComparable(&h, len(k))
		h.WriteString(k)
		h.WriteString(v)
		sum += h.Sum64()
	}
	return sum
}
