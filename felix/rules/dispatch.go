package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/felix/desired"
)

// DispatchBound is the most interfaces a dispatch chain sends on one by one before it is split into child chains.
// The bound keeps the rules a packet walks through at each level of the tree few, and each chain the dataplane
// edits short: iptables-nft reads back the chain it edits by position, and one rule deleted from a flat chain of
// 10,000 took 2-4× as long here as from a child of 100.
const DispatchBound = 64

// dispatchNode is one dispatch chain of the tree: the root (suffix "") or a child, named after the root with its
// suffix appended.
type dispatchNode struct {
	suffix  string
	entries []dispatchEntry
}

// dispatchEntry is one rule of a dispatch chain: a goto to an interface's own chain (child == "") or, for every
// interface starting with match, a goto to the child chain with that suffix.
type dispatchEntry struct {
	match string // the interface name, or the prefix of a child's interfaces
	child string
}

// Dispatch returns cali-from-wl-dispatch and cali-to-wl-dispatch, which send each packet to the chain of the local
// workload interface it comes from or goes to, and drop it when no local workload has that interface.
//
// Up to DispatchBound interfaces, each chain is one goto per interface, sorted. Beyond that the interfaces of each
// interface prefix ("cali") are grouped by the next character of their names and each group of two or more goes
// to a child chain, cali-from-wl-dispatch-<characters after the prefix> (for the second and later prefixes of
// Config.InterfacePrefixes, cali-from-wl-dispatch<index>-<characters>), matched with "-i cali<characters>+"; a
// child holding more than DispatchBound interfaces is split the same way by the character after. The tree depends
// only on the set of interfaces, so one added or removed interface changes the rules of its own leaf chain and of
// the chains above it, never those of the other leaves.
//
// Every chain of the tree ends in DROP, not only the root: the tree is walked with gotos (so that an endpoint
// chain that returns, returns to whoever jumped to the root), and a packet falling off the end of a child would
// therefore return past the root's DROP. An interface no local workload has is dropped in whatever chain its name
// leads it to.
//
// Child names must fit iptables' 28 characters, which leaves 6 characters after the prefix (5 for the later
// prefixes); a group that would need a longer name is not split further and its interfaces stay in its parent.
// So do interfaces matching no prefix, and groups whose next character is not a letter, a digit, '-', '_' or '.'.
func (r *Renderer) Dispatch(ifaces []string) map[string][]desired.Rule {
	return r.DispatchMemo(ifaces, nil)
}

// DispatchMemo remembers the rules of the dispatch chains of an earlier Dispatch: a chain whose entries are the
// same is given the same rule slices again, unrendered. One interface added or removed changes a few chains of
// the tree, so on a large node most chains are reused, and the dataplane recognises them as unchanged at once.
// The zero value is an empty memo.
type DispatchMemo struct {
	chains map[string]dispatchMemoChain // by suffix
}

type dispatchMemoChain struct {
	entries  []dispatchEntry
	from, to []desired.Rule
}

// DispatchMemo is Dispatch reusing and updating memo (nil: none). The result is the same as Dispatch's.
func (r *Renderer) DispatchMemo(ifaces []string, memo *DispatchMemo) map[string][]desired.Rule {
	sorted := ifaces // felix's are sorted and distinct already: checking costs less than sorting
	for i := 1; i < len(ifaces); i++ {
		if ifaces[i-1] >= ifaces[i] {
			sorted = slices.Compact(slices.Sorted(slices.Values(ifaces)))
			break
		}
	}
	out := map[string][]desired.Rule{}
	var next map[string]dispatchMemoChain
	if memo != nil {
		next = make(map[string]dispatchMemoChain, len(memo.chains))
	}
	for _, node := range r.dispatchTree(sorted) {
		if m, ok := memo.lookup(node.suffix); ok && slices.Equal(m.entries, node.entries) {
			out[ChainFromWorkloadDispatch+node.suffix], out[ChainToWorkloadDispatch+node.suffix] = m.from, m.to
			next[node.suffix] = m
			continue
		}
		from := make([]desired.Rule, 0, len(node.entries)+1)
		to := make([]desired.Rule, 0, len(node.entries)+1)
		for _, e := range node.entries {
			if e.child == "" {
				from = append(from, rule("-i "+e.match, goTo(ChainName(PrefixFromWorkload, e.match))))
				to = append(to, rule("-o "+e.match, goTo(ChainName(PrefixToWorkload, e.match))))
				continue
			}
			from = append(from, rule("-i "+e.match+"+", goTo(ChainFromWorkloadDispatch+e.child)))
			to = append(to, rule("-o "+e.match+"+", goTo(ChainToWorkloadDispatch+e.child)))
		}
		from = append(from, ruleC("", "--jump DROP", "Unknown interface"))
		to = append(to, ruleC("", "--jump DROP", "Unknown interface"))
		out[ChainFromWorkloadDispatch+node.suffix], out[ChainToWorkloadDispatch+node.suffix] = from, to
		if next != nil {
			next[node.suffix] = dispatchMemoChain{entries: node.entries, from: from, to: to}
		}
	}
	if memo != nil {
		memo.chains = next
	}
	return out
}

func (m *DispatchMemo) lookup(suffix string) (dispatchMemoChain, bool) {
	if m == nil {
		return dispatchMemoChain{}, false
	}
	c, ok := m.chains[suffix]
	return c, ok
}

// dispatchTree lays the sorted interfaces out as dispatch chains, the root first.
func (r *Renderer) dispatchTree(ifaces []string) []dispatchNode {
	if len(ifaces) <= DispatchBound {
		return []dispatchNode{{entries: direct(ifaces)}}
	}
	groups := make([][]string, len(r.cfg.InterfacePrefixes))
	var others []string
	for _, ifc := range ifaces {
		if i := r.prefixIndex(ifc); i >= 0 {
			groups[i] = append(groups[i], ifc)
		} else {
			others = append(others, ifc)
		}
	}
	var nodes []dispatchNode
	root := direct(others)
	for i, p := range r.cfg.InterfacePrefixes {
		tag := "-"
		if i > 0 {
			tag = strconv.Itoa(i) + "-"
		}
		t := dispatchSplitter{prefix: p, tag: tag, nodes: &nodes}
		root = append(root, t.split(p, groups[i])...)
	}
	slices.SortFunc(root, func(a, b dispatchEntry) int { return strings.Compare(a.match, b.match) })
	return append([]dispatchNode{{entries: root}}, nodes...)
}

// prefixIndex is the index in Config.InterfacePrefixes of the longest prefix ifc starts with (the first of equal
// ones), or -1 when it starts with none.
func (r *Renderer) prefixIndex(ifc string) int {
	best := -1
	for i, p := range r.cfg.InterfacePrefixes {
		if p != "" && strings.HasPrefix(ifc, p) && (best < 0 || len(p) > len(r.cfg.InterfacePrefixes[best])) {
			best = i
		}
	}
	return best
}

// dispatchSplitter builds the subtrees under one interface prefix.
type dispatchSplitter struct {
	prefix string          // the interface prefix, left out of the chain names
	tag    string          // what comes between the root's name and the characters after the prefix
	nodes  *[]dispatchNode // the child chains made so far
}

// maxDispatchSuffix is the longest suffix a child dispatch chain can have: cali-from-wl-dispatch is the longer of
// the two roots, and both trees have the same shape.
const maxDispatchSuffix = maxChainName - len(ChainFromWorkloadDispatch)

// split returns the entries of a chain holding the sorted interfaces ifaces, which all start with at: one per
// interface equal to at, one per group of interfaces sharing the next character, and one per interface in a group
// of its own or in a group that cannot have a child chain. It adds the child chains to s.nodes.
func (s dispatchSplitter) split(at string, ifaces []string) []dispatchEntry {
	var entries []dispatchEntry
	for len(ifaces) > 0 {
		if len(ifaces[0]) == len(at) {
			entries = append(entries, dispatchEntry{match: ifaces[0]})
			ifaces = ifaces[1:]
			continue
		}
		c := ifaces[0][len(at)]
		n := 1
		for n < len(ifaces) && len(ifaces[n]) > len(at) && ifaces[n][len(at)] == c {
			n++
		}
		group, sub := ifaces[:n], at+string(c)
		ifaces = ifaces[n:]
		suffix := s.tag + sub[len(s.prefix):]
		if n == 1 || !nameChar(c) || len(suffix) > maxDispatchSuffix {
			entries = append(entries, direct(group)...)
			continue
		}
		entries = append(entries, dispatchEntry{match: sub, child: suffix})
		node := dispatchNode{suffix: suffix}
		if n <= DispatchBound {
			node.entries = direct(group)
		}
		i := len(*s.nodes)
		*s.nodes = append(*s.nodes, node)
		if n > DispatchBound {
			(*s.nodes)[i].entries = s.split(sub, group)
		}
	}
	return entries
}

// nameChar says whether c may appear in a chain name built from interface names.
func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

// direct returns one entry per interface, sending it to its own chain.
func direct(ifaces []string) []dispatchEntry {
	out := make([]dispatchEntry, len(ifaces))
	for i, ifc := range ifaces {
		out[i] = dispatchEntry{match: ifc}
	}
	return out
}
