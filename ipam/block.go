package ipam

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Block is the stored JSON of one allocation block: which of its addresses are in use, and by whom.
// Allocations has one entry per address: nil when free, else an index into Attributes. Unallocated lists the free
// ordinals in the order they will be handed out (released ordinals go to the back, so reuse is FIFO).
type Block struct {
	CIDR           netip.Prefix `json:"cidr"`
	Affinity       *string      `json:"affinity"` // "host:<node>" or null
	StrictAffinity bool         `json:"strictAffinity"`
	Allocations    []*int       `json:"allocations"`
	Unallocated    []int        `json:"unallocated"`
	Attributes     []Attribute  `json:"attributes"`
	SequenceNumber uint64       `json:"sequenceNumber"`
	// HostAffinity is the affinity field of blocks written by old Calico versions: read, never written.
	HostAffinity *string `json:"hostAffinity,omitempty"`
}

// Attribute says who holds an address: the handle (null for handle-less allocations) and free-form attributes.
type Attribute struct {
	HandleID  *string           `json:"handle_id"`
	Secondary map[string]string `json:"secondary"`
}

// Handle is the stored JSON of a handle: how many addresses it holds in each block (keyed by CIDR with a slash).
type Handle struct {
	Block map[string]int `json:"block"`
}

// Affinity is the stored JSON of a host's claim on a block.
type Affinity struct {
	State string `json:"state"`
}

// Affinity states. An empty state (written by old versions) counts as confirmed.
const (
	StateConfirmed       = "confirmed"
	StatePending         = "pending"
	StatePendingDeletion = "pendingDeletion"
)

// Confirmed says whether the claim is settled.
func (a Affinity) Confirmed() bool { return a.State == "" || a.State == StateConfirmed }

// NewBlock returns an empty block: every ordinal free, in order.
func NewBlock(cidr netip.Prefix) *Block {
	b := &Block{CIDR: cidr.Masked()}
	n := b.Size()
	b.Allocations = make([]*int, n)
	b.Unallocated = make([]int, n)
	for i := range n {
		b.Unallocated[i] = i
	}
	b.Attributes = []Attribute{}
	return b
}

// clone is a copy of b that can be changed without changing b. The allocations' attribute indexes are shared:
// no method changes one in place, they replace it.
func (b *Block) clone() *Block {
	c := *b
	c.Allocations = slices.Clone(b.Allocations)
	c.Unallocated = slices.Clone(b.Unallocated)
	c.Attributes = slices.Clone(b.Attributes)
	return &c
}

// Size is the number of addresses the block covers.
func (b *Block) Size() int { return 1 << (b.CIDR.Addr().BitLen() - b.CIDR.Bits()) }

// Host is the node the block is affine to, or "".
func (b *Block) Host() string {
	if b.Affinity != nil {
		if h, ok := strings.CutPrefix(*b.Affinity, affinityHostTag); ok {
			return h
		}
		return ""
	}
	if b.HostAffinity != nil {
		return *b.HostAffinity
	}
	return ""
}

// SetHost makes the block affine to host, or to nobody when host is "".
func (b *Block) SetHost(host string) {
	b.HostAffinity = nil
	if host == "" {
		b.Affinity = nil
		return
	}
	a := affinityHostTag + host
	b.Affinity = &a
}

// Addr is the address at an ordinal: the block's base address plus ord.
func (b *Block) Addr(ord int) netip.Addr {
	return addrAdd(b.CIDR.Addr(), uint64(ord))
}

// Ordinal is the position of an address in the block.
func (b *Block) Ordinal(a netip.Addr) (int, bool) {
	if !b.CIDR.Contains(a) {
		return 0, false
	}
	return int(addrDiff(a, b.CIDR.Addr())), true
}

// Free is the number of addresses that can still be handed out.
func (b *Block) Free() int { return len(b.Unallocated) }

// InUse is the number of allocated addresses.
func (b *Block) InUse() int {
	n := 0
	for _, a := range b.Allocations {
		if a != nil {
			n++
		}
	}
	return n
}

// Empty says whether no address is allocated.
func (b *Block) Empty() bool { return b.InUse() == 0 }

// Assign hands out up to n free addresses to handle (which may be "": no handle), in free-list order, and returns
// them. It returns fewer when the block has fewer free.
func (b *Block) Assign(n int, handle string, attrs map[string]string) []netip.Addr {
	n = min(n, len(b.Unallocated))
	if n <= 0 {
		return nil
	}
	idx := b.attributeIndex(handle, attrs)
	out := make([]netip.Addr, 0, n)
	for _, ord := range b.Unallocated[:n] {
		b.Allocations[ord] = &idx
		out = append(out, b.Addr(ord))
	}
	b.Unallocated = slices.Clone(b.Unallocated[n:])
	b.SequenceNumber++
	return out
}

// AssignAddr allocates one given address to handle.
func (b *Block) AssignAddr(a netip.Addr, handle string, attrs map[string]string) error {
	ord, ok := b.Ordinal(a)
	if !ok {
		return fmt.Errorf("%s is not in block %s", a, b.CIDR)
	}
	if b.Allocations[ord] != nil {
		return fmt.Errorf("%w: %s in %s", ErrAddressInUse, a, b.CIDR)
	}
	i := slices.Index(b.Unallocated, ord)
	if i < 0 {
		return fmt.Errorf("block %s is inconsistent: %s is neither allocated nor free", b.CIDR, a)
	}
	idx := b.attributeIndex(handle, attrs)
	b.Allocations[ord] = &idx
	b.Unallocated = slices.Delete(slices.Clone(b.Unallocated), i, i+1)
	b.SequenceNumber++
	return nil
}

// Release frees the given addresses. It returns how many each handle gave back ("" for handle-less ones) and the
// addresses that were not allocated.
func (b *Block) Release(addrs []netip.Addr) (released map[string]int, notAssigned []netip.Addr) {
	released = map[string]int{}
	for _, a := range addrs {
		ord, ok := b.Ordinal(a)
		if !ok || b.Allocations[ord] == nil {
			notAssigned = append(notAssigned, a)
			continue
		}
		released[b.handleAt(ord)]++
		b.free(ord)
	}
	if len(released) > 0 {
		b.collectAttributes()
		b.SequenceNumber++
	}
	return released, notAssigned
}

// ReleaseHandle frees every address held by handle and returns how many there were.
func (b *Block) ReleaseHandle(handle string) int {
	n := 0
	for ord, a := range b.Allocations {
		if a != nil && b.handleAt(ord) == handle {
			b.free(ord)
			n++
		}
	}
	if n > 0 {
		b.collectAttributes()
		b.SequenceNumber++
	}
	return n
}

// AddrsOf lists the addresses handle holds in the block, in ordinal order.
func (b *Block) AddrsOf(handle string) []netip.Addr {
	var out []netip.Addr
	for ord, a := range b.Allocations {
		if a != nil && b.handleAt(ord) == handle {
			out = append(out, b.Addr(ord))
		}
	}
	return out
}

// Owner returns the handle and attributes of an allocated address.
func (b *Block) Owner(a netip.Addr) (handle string, attrs map[string]string, ok bool) {
	ord, in := b.Ordinal(a)
	if !in || b.Allocations[ord] == nil || *b.Allocations[ord] < 0 || *b.Allocations[ord] >= len(b.Attributes) {
		return "", nil, false
	}
	at := b.Attributes[*b.Allocations[ord]]
	return derefHandle(at.HandleID), maps.Clone(at.Secondary), true
}

// HandleCounts counts the allocated addresses per handle ("" for handle-less ones).
func (b *Block) HandleCounts() map[string]int {
	out := map[string]int{}
	for ord, a := range b.Allocations {
		if a != nil {
			out[b.handleAt(ord)]++
		}
	}
	return out
}

func (b *Block) handleAt(ord int) string {
	i := *b.Allocations[ord]
	if i < 0 || i >= len(b.Attributes) {
		return ""
	}
	return derefHandle(b.Attributes[i].HandleID)
}

func (b *Block) free(ord int) {
	b.Allocations[ord] = nil
	b.Unallocated = append(b.Unallocated, ord)
}

// attributeIndex finds the attribute entry for handle and attrs, adding one if there is none: allocations with the
// same owner share an entry.
func (b *Block) attributeIndex(handle string, attrs map[string]string) int {
	for i, at := range b.Attributes {
		if derefHandle(at.HandleID) == handle && (at.HandleID != nil) == (handle != "") && maps.Equal(at.Secondary, attrs) {
			return i
		}
	}
	at := Attribute{Secondary: maps.Clone(attrs)}
	if handle != "" {
		h := handle
		at.HandleID = &h
	}
	b.Attributes = append(b.Attributes, at)
	return len(b.Attributes) - 1
}

// collectAttributes drops attribute entries no allocation points at and renumbers the allocations.
func (b *Block) collectAttributes() {
	used := make([]bool, len(b.Attributes))
	for _, a := range b.Allocations {
		if a != nil && *a >= 0 && *a < len(used) {
			used[*a] = true
		}
	}
	newIndex := make([]int, len(b.Attributes))
	kept := []Attribute{}
	for i, at := range b.Attributes {
		if used[i] {
			newIndex[i] = len(kept)
			kept = append(kept, at)
		}
	}
	for ord, a := range b.Allocations {
		if a != nil && *a >= 0 && *a < len(newIndex) {
			n := newIndex[*a]
			b.Allocations[ord] = &n
		}
	}
	b.Attributes = kept
}

// Problems describes what is wrong with the block's own bookkeeping: an allocations array of the wrong length,
// free ordinals out of range, repeated or also allocated, allocated + free not adding up to the size, allocations
// pointing past the attributes, attributes nothing points at. The problems carry no key.
func (b *Block) Problems() []Problem {
	var out []Problem
	add := func(kind ProblemKind, format string, args ...any) {
		out = append(out, Problem{Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	size := b.Size()
	if len(b.Allocations) != size {
		add(ProblemBlockBookkeeping, "has %d allocation slots for %d addresses", len(b.Allocations), size)
	}
	seen := map[int]bool{}
	for _, ord := range b.Unallocated {
		switch {
		case ord < 0 || ord >= size:
			add(ProblemBlockBookkeeping, "free list holds ordinal %d outside the block", ord)
		case seen[ord]:
			add(ProblemBlockBookkeeping, "free list holds %s twice", b.Addr(ord))
		case ord < len(b.Allocations) && b.Allocations[ord] != nil:
			add(ProblemBlockBookkeeping, "%s is both allocated and on the free list", b.Addr(ord))
		}
		seen[ord] = true
	}
	if inUse := b.InUse(); inUse+len(b.Unallocated) != size {
		add(ProblemBlockBookkeeping, "%d allocated + %d free = %d, not the block size %d", inUse, len(b.Unallocated), inUse+len(b.Unallocated), size)
	}
	used := make([]bool, len(b.Attributes))
	for ord, a := range b.Allocations {
		if a == nil {
			continue
		}
		if *a < 0 || *a >= len(b.Attributes) {
			add(ProblemBlockBookkeeping, "%s points at attribute %d of %d", b.Addr(ord), *a, len(b.Attributes))
			continue
		}
		used[*a] = true
	}
	for i, u := range used {
		if !u {
			add(ProblemUnreferencedAttr, "attribute %d (handle %q) is not referenced by any allocation", i, derefHandle(b.Attributes[i].HandleID))
		}
	}
	return out
}

func derefHandle(h *string) string {
	if h == nil {
		return ""
	}
	return *h
}

// addrAdd returns a + n; n is an offset inside a block, so it fits 64 bits.
func addrAdd(a netip.Addr, n uint64) netip.Addr {
	if a.Is4() {
		b := a.As4()
		v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		v += n
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	b := a.As16()
	hi, lo := be64(b[:8]), be64(b[8:])
	nlo := lo + n
	if nlo < lo {
		hi++
	}
	putBe64(b[:8], hi)
	putBe64(b[8:], nlo)
	return netip.AddrFrom16(b)
}

// addrDiff returns a - base for addresses less than 2^64 apart.
func addrDiff(a, base netip.Addr) uint64 {
	if a.Is4() {
		x, y := a.As4(), base.As4()
		return uint64(be32(x[:])) - uint64(be32(y[:]))
	}
	x, y := a.As16(), base.As16()
	return be64(x[8:]) - be64(y[8:])
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func putBe64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}
