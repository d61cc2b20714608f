package calc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/rules"
)

// source is what decides a member of selector and named-port ipsets: an endpoint's or a GlobalNetworkSet's labels,
// namespace ("" for a network set), addresses and named ports (none for a network set).
type source struct {
	labels    map[string]string
	namespace string
	members   familyMembers
	ports     []api.EndpointPort
}

func (ep *endpoint) source() *source {
	return &source{labels: ep.labels, namespace: ep.namespace, members: ep.members, ports: ep.ports}
}

func (m familyMembers) empty() bool { return len(m.v4)+len(m.v6) == 0 }

// selectorIndex holds the members of one selector or named-port ipset (of both families: the IPv4 and IPv6 sets
// of a selector differ only in the family of their members), kept up to date as endpoints and network sets come, go and change
// labels. It holds little more than the members themselves: which sources are in the set follows from their
// labels, so it is not stored.
type selectorIndex struct {
	set rules.SelectorSet // its selectors; its Name is the set's name in one family only
	// v4 and v6 are the sorted members as of the last State. States share them, so they are replaced, never
	// changed in place.
	v4, v6 []string
	// pending are the members whose presence changed since v4 and v6 were built: true when now present.
	pending map[string]bool
	// extra counts, for a member that several sources have, how many more than one have it.
	extra map[string]int
}

// selectorKey identifies a selector or named-port ipset across families: its selector and namespace selector,
// canonical, and its named port.
func selectorKey(s rules.SelectorSet) string {
	key := s.Selector.String()
	if s.NamespaceSelector != nil {
		key += " ns: " + s.NamespaceSelector.String()
	}
	if p := s.NamedPort; p.Name != "" {
		key += fmt.Sprintf(" port: %d/%s", p.Protocol, p.Name)
	}
	return key
}

// index moves an endpoint or network set from what it was (nil: absent) to what it is now (nil: gone) in every
// selector index: only this source is evaluated, against each indexed selector.
func (c *Calculator) index(was, now *source) {
	for _, idx := range c.sets {
		before, after := idx.membersOf(was), idx.membersOf(now)
		if sameMembers(before, after) {
			continue
		}
		idx.remove(before)
		idx.add(after)
	}
}

// membersOf is what a source (nil: none) puts in the set: nothing unless the set's selectors pick it; then its
// addresses, or for a named-port set each of its addresses with each port of the set's name and protocol
// (addresses only: a named port of a wider CIDR is left out).
func (idx *selectorIndex) membersOf(s *source) familyMembers {
	if s == nil || s.members.empty() || !idx.set.Contains(s.labels, s.namespace) {
		return familyMembers{}
	}
	return idx.picked(s.members, s.ports)
}

// picked is what a source the set's selectors pick, with these members and named ports, puts in the set.
func (idx *selectorIndex) picked(members familyMembers, ports []api.EndpointPort) familyMembers {
	np := idx.set.NamedPort
	if np.Name == "" {
		return members
	}
	var out familyMembers
	for _, p := range ports {
		if p.Name != np.Name || p.Protocol.Num() != np.Protocol {
			continue
		}
		out.v4 = appendPortMembers(out.v4, members.v4, np, p.Port)
		out.v6 = appendPortMembers(out.v6, members.v6, np, p.Port)
	}
	return out
}

func appendPortMembers(out, addrs []string, np rules.NamedPort, port uint16) []string {
	for _, m := range addrs {
		if a, err := netip.ParseAddr(m); err == nil {
			out = append(out, np.Member(a, port))
		}
	}
	return out
}

func sameMembers(a, b familyMembers) bool {
	return slices.Equal(a.v4, b.v4) && slices.Equal(a.v6, b.v6)
}

// selectorIndex returns the index of the selector ipset s, building it from every endpoint and network set when
// no State used it before. The selectors are evaluated once per group of workload endpoints alike (see
// endpointGroups), and only the endpoints of the groups they pick are read.
func (c *Calculator) selectorIndex(key string, s rules.SelectorSet) *selectorIndex {
	if idx := c.sets[key]; idx != nil {
		return idx
	}
	idx := &selectorIndex{set: s}
	for k, eps := range c.groups {
		if !s.Contains(k.labels.labels, k.namespace) {
			continue
		}
		for _, ep := range eps {
			if !ep.members.empty() {
				idx.add(idx.picked(ep.members, ep.ports))
			}
		}
	}
	for _, ep := range c.hostEPs {
		idx.add(idx.membersOf(ep.source()))
	}
	for _, ns := range c.netSets {
		idx.add(idx.membersOf(&source{labels: ns.labels, members: ns.members}))
	}
	c.sets[key] = idx
	return idx
}

// isV6Member says whether a member (an address, a CIDR, or an address with a port "fd00::1,tcp:80") is IPv6.
func isV6Member(m string) bool {
	addr, _, _ := strings.Cut(m, ",")
	return strings.Contains(addr, ":")
}

// has says whether some source in the set has member m.
func (idx *selectorIndex) has(m string) bool {
	if present, ok := idx.pending[m]; ok {
		return present
	}
	list := idx.v4
	if isV6Member(m) {
		list = idx.v6
	}
	_, found := slices.BinarySearch(list, m)
	return found
}

func (idx *selectorIndex) add(m familyMembers) {
	for _, list := range [][]string{m.v4, m.v6} {
		for _, a := range list {
			switch {
			case idx.has(a):
				if idx.extra == nil {
					idx.extra = map[string]int{}
				}
				idx.extra[a]++
			case idx.pending == nil:
				idx.pending = map[string]bool{a: true}
			default:
				idx.pending[a] = true
			}
		}
	}
}

func (idx *selectorIndex) remove(m familyMembers) {
	for _, list := range [][]string{m.v4, m.v6} {
		for _, a := range list {
			if n := idx.extra[a]; n > 0 {
				if n == 1 {
					delete(idx.extra, a)
				} else {
					idx.extra[a] = n - 1
				}
				continue
			}
			if idx.pending == nil {
				idx.pending = map[string]bool{}
			}
			idx.pending[a] = false
		}
	}
}

// members returns the sorted members of one family, first merging in what changed since the last call.
func (idx *selectorIndex) members(v6 bool) []string {
	if len(idx.pending) > 0 {
		var p4, p6 []string
		for a := range idx.pending {
			if isV6Member(a) {
				p6 = append(p6, a)
			} else {
				p4 = append(p4, a)
			}
		}
		idx.v4, idx.v6 = idx.merge(idx.v4, p4), idx.merge(idx.v6, p6)
		idx.pending = nil
	}
	if v6 {
		return idx.v6
	}
	return idx.v4
}

// merge returns a new sorted list: old (sorted) with each changed member present or not as pending says.
func (idx *selectorIndex) merge(old, changed []string) []string {
	if len(changed) == 0 {
		return old
	}
	slices.Sort(changed)
	out := make([]string, 0, len(old)+len(changed))
	i := 0
	for _, t := range changed {
		for i < len(old) && old[i] < t {
			out = append(out, old[i])
			i++
		}
		if i < len(old) && old[i] == t {
			i++
		}
		if idx.pending[t] {
			out = append(out, t)
		}
	}
	out = append(out, old[i:]...)
	if len(out) == 0 {
		return nil
	}
	return out
}
