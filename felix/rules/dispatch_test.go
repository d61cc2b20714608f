package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

// hexIfaces returns n distinct interface names like the CNI plugin's: the prefix and 11 hex digits of a hash.
func hexIfaces(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 1))
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		ifc := fmt.Sprintf("cali%011x", rng.Uint64()>>20)
		if !seen[ifc] {
			seen[ifc] = true
			out = append(out, ifc)
		}
	}
	return out
}

// walkDispatch follows a packet on interface ifc through the dispatch chains from root, as the kernel would: the
// first rule whose -i/-o matches (exactly, or as a prefix for a name ending in +) is taken; gotos into dispatch
// chains are followed. It returns the endpoint chain reached, "DROP", or "FALLTHROUGH" when a chain ends without
// a verdict, and the number of rules looked at.
func walkDispatch(t *testing.T, chains map[string][]desired.Rule, root, ifc string) (string, int) {
	t.Helper()
	chain, steps := root, 0
	for depth := 0; depth < 16; depth++ {
		rules, ok := chains[chain]
		if !ok {
			t.Fatalf("goto to %s, which Dispatch did not render", chain)
		}
		next := ""
		for _, r := range rules {
			steps++
			if !dispatchMatches(r.Match, ifc) {
				continue
			}
			target, ok := strings.CutPrefix(r.Action, "--goto ")
			switch {
			case r.Action == "--jump DROP":
				return "DROP", steps
			case !ok:
				t.Fatalf("chain %s: unexpected action %q", chain, r.Action)
			case strings.HasPrefix(target, ChainFromWorkloadDispatch) || strings.HasPrefix(target, ChainToWorkloadDispatch):
				next = target
			default:
				return target, steps
			}
			break
		}
		if next == "" {
			return "FALLTHROUGH", steps
		}
		chain = next
	}
	t.Fatalf("dispatch chains nest deeper than 16 for %s", ifc)
	return "", steps
}

func dispatchMatches(match, ifc string) bool {
	if match == "" {
		return true
	}
	_, name, ok := strings.Cut(match, " ")
	if !ok {
		return false
	}
	if p, wild := strings.CutSuffix(name, "+"); wild {
		return strings.HasPrefix(ifc, p)
	}
	return name == ifc
}

func TestDispatchSendsEveryInterfaceToItsChainAndDropsTheRest(t *testing.T) {
	long := make([]string, 0, 300) // 300 names sharing 6 characters after the prefix: the names cannot go deeper
	for i := range 300 {
		long = append(long, fmt.Sprintf("cali000000%05x", i))
	}
	tests := []struct {
		name     string
		prefixes []string
		ifaces   []string
		unknown  []string
		chains   int // dispatch chains per direction; 0: more than 1
	}{
		{"no interfaces: only the drop", nil, nil, []string{"cali1", "calia"}, 1},
		{"a small set stays one flat chain", nil, hexIfaces(DispatchBound, 1), []string{"cali", "cali0000000000f"}, 1},
		{"a set one over the bound splits", nil, hexIfaces(DispatchBound+1, 2), nil, 0},
		{"a large set splits into a tree", nil, hexIfaces(5000, 3), nil, 0},
		{"names that share their first characters stop splitting at the name limit", nil, long,
			[]string{"cali000000fffff", "cali0000000", "cali000000"}, 0},
		{"two interface prefixes and interfaces matching neither", []string{"cali", "tap"},
			slices.Concat(hexIfaces(200, 4), tapIfaces(200), []string{"eth7", "veth1"}), []string{"tap", "eth8", "vethx"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{InterfacePrefixes: tt.prefixes})
			chains := r.Dispatch(tt.ifaces)
			from := dispatchChains(chains, ChainFromWorkloadDispatch)
			to := dispatchChains(chains, ChainToWorkloadDispatch)
			if len(from) != len(to) || len(from)+len(to) != len(chains) {
				t.Fatalf("expected the same number of from and to dispatch chains and no other, got %v", sortedKeys(chains))
			}
			if tt.chains != 0 && len(from) != tt.chains {
				t.Errorf("expected %d dispatch chain(s) per direction, got %d: %v", tt.chains, len(from), from)
			}
			if tt.chains == 0 && len(from) < 2 {
				t.Errorf("expected %d interfaces to split the dispatch chains, got only %v", len(tt.ifaces), from)
			}
			for name, rules := range chains {
				if len(name) > maxChainName {
					t.Errorf("chain %s is longer than %d characters", name, maxChainName)
				}
				if last := rules[len(rules)-1]; last.Match != "" || last.Action != "--jump DROP" {
					t.Errorf("chain %s ends in %+v, want an unconditional DROP", name, last)
				}
			}
			for _, ifc := range tt.ifaces {
				if got, _ := walkDispatch(t, chains, ChainFromWorkloadDispatch, ifc); got != ChainName(PrefixFromWorkload, ifc) {
					t.Errorf("from %s reaches %s, want %s", ifc, got, ChainName(PrefixFromWorkload, ifc))
				}
				if got, _ := walkDispatch(t, chains, ChainToWorkloadDispatch, ifc); got != ChainName(PrefixToWorkload, ifc) {
					t.Errorf("to %s reaches %s, want %s", ifc, got, ChainName(PrefixToWorkload, ifc))
				}
			}
			// Interfaces one character off a known one land in the same child chains, where they must be dropped.
			unknown := slices.Clone(tt.unknown)
			for _, ifc := range tt.ifaces[:min(len(tt.ifaces), 50)] {
				unknown = append(unknown, ifc[:len(ifc)-1]+"z", ifc+"0", ifc[:len(ifc)-1])
			}
			for _, ifc := range unknown {
				if slices.Contains(tt.ifaces, ifc) {
					continue
				}
				for _, root := range []string{ChainFromWorkloadDispatch, ChainToWorkloadDispatch} {
					if got, _ := walkDispatch(t, chains, root, ifc); got != "DROP" {
						t.Errorf("unknown interface %s: %s leads to %s, want DROP", ifc, root, got)
					}
				}
			}
		})
	}
}

func tapIfaces(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("tap%04x", i*97)
	}
	return out
}

// dispatchChains lists the chains of the tree under root: root itself and the children named after it.
func dispatchChains(chains map[string][]desired.Rule, root string) []string {
	var out []string
	for name := range chains {
		rest, ok := strings.CutPrefix(name, root)
		if ok && (rest == "" || rest[0] == '-' || '0' <= rest[0] && rest[0] <= '9') {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestDispatchTreeDependsOnlyOnTheSetOfInterfaces(t *testing.T) {
	r := New(Config{})
	ifaces := hexIfaces(3000, 5)
	want := r.Dispatch(ifaces)
	shuffled := slices.Clone(ifaces)
	rand.New(rand.NewPCG(9, 9)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	got := r.Dispatch(append(shuffled, ifaces[:10]...)) // in another order, with duplicates
	if !equalChains(got, want) {
		t.Errorf("Dispatch of the same interfaces in another order gave other chains")
	}
}

func equalChains(a, b map[string][]desired.Rule) bool {
	if !slices.Equal(sortedKeys(a), sortedKeys(b)) {
		return false
	}
	for name := range a {
		if !slices.Equal(a[name], b[name]) {
			return false
		}
	}
	return true
}

// rewritten counts the rules an update from old to next writes, as the dataplane plans it (a rule's hash covers the
// rule alone): every rule of a new or deleted chain, and in a changed chain the rules between those it keeps at its
// start and at its end.
func rewritten(old, next map[string][]desired.Rule) int {
	n := 0
	for name, nr := range next {
		or := old[name]
		head := 0
		for head < len(or) && head < len(nr) && or[head] == nr[head] {
			head++
		}
		tail := 0
		for tail < len(or)-head && tail < len(nr)-head && or[len(or)-1-tail] == nr[len(nr)-1-tail] {
			tail++
		}
		n += max(len(nr), len(or)) - head - tail
	}
	for name, or := range old {
		if _, ok := next[name]; !ok {
			n += len(or)
		}
	}
	return n
}

func TestOneInterfaceMoreOrLessChangesABoundedNumberOfDispatchRules(t *testing.T) {
	r := New(Config{})
	for _, size := range []int{1000, 10000} {
		t.Run(fmt.Sprintf("%d interfaces", size), func(t *testing.T) {
			all := hexIfaces(size+100, uint64(size))
			base, extra := all[:size], all[size:]
			before := r.Dispatch(base)
			// Both directions change alike; the limit is per direction: the leaf and its parent, or a split or a
			// merge of one group (its chain and the children it gains or loses).
			limit := 2 * 3 * DispatchBound
			var counts []int
			for i, ifc := range extra {
				after := r.Dispatch(append(slices.Clone(base), ifc))
				removed := slices.Delete(slices.Clone(base), i*7, i*7+1)
				counts = append(counts, rewritten(before, after), rewritten(before, r.Dispatch(removed)))
			}
			if worst := slices.Max(counts); worst > limit {
				t.Errorf("adding or removing one of %d interfaces rewrote up to %d dispatch rules, want at most %d", size, worst, limit)
			}
			// Most changes leave the tree's shape alone: one rule of the leaf, in each direction.
			if median := slices.Sorted(slices.Values(counts))[len(counts)/2]; median != 2 {
				t.Errorf("adding or removing one of %d interfaces rewrote %d dispatch rules at the median, want 2 (one per direction)", size, median)
			}
		})
	}
}

func TestDispatchTreeKeepsPacketPathsShort(t *testing.T) {
	ifaces := hexIfaces(10000, 7)
	chains := New(Config{}).Dispatch(ifaces)
	worst := 0
	for _, ifc := range ifaces {
		_, steps := walkDispatch(t, chains, ChainToWorkloadDispatch, ifc)
		worst = max(worst, steps)
	}
	// Two levels of at most 16 groups (hex digits) above a leaf of at most DispatchBound interfaces.
	if limit := 2*16 + DispatchBound; worst > limit {
		t.Errorf("a packet to one of 10,000 interfaces meets up to %d dispatch rules, want at most %d", worst, limit)
	}
}

func TestDispatchChildNamesAndMatches(t *testing.T) {
	r := New(Config{InterfacePrefixes: []string{"cali", "tap"}})
	var ifaces []string
	for _, c := range "0123456789abcdef" {
		for i := range 5 {
			ifaces = append(ifaces, fmt.Sprintf("cali%c%d", c, i), fmt.Sprintf("tap%c%d", c, i))
		}
	}
	chains := r.Dispatch(ifaces)
	root := chains[ChainFromWorkloadDispatch]
	for _, want := range []desired.Rule{
		{Match: "-i cali0+", Action: "--goto cali-from-wl-dispatch-0"},
		{Match: "-i tapf+", Action: "--goto cali-from-wl-dispatch1-f"},
	} {
		if !slices.Contains(root, want) {
			t.Errorf("expected %+v in %s, got %+v", want, ChainFromWorkloadDispatch, root)
		}
	}
	if got, want := chains["cali-to-wl-dispatch1-f"][0], (desired.Rule{Match: "-o tapf0", Action: "--goto cali-tw-tapf0"}); got != want {
		t.Errorf("cali-to-wl-dispatch1-f starts with %+v, want %+v", got, want)
	}
}

// A memoised Dispatch gives what a fresh one gives, along a random walk of interfaces added and removed (some in
// bursts, under two prefixes), and hands an unchanged chain back as the very same slice.
func TestDispatchMemoEqualsFreshDispatch(t *testing.T) {
	r := New(Config{InterfacePrefixes: []string{"cali", "tap"}})
	rng := rand.New(rand.NewPCG(3, 4))
	pool := append(hexIfaces(400, 9), tapIfaces(80)...)
	present := map[string]bool{}
	var memo DispatchMemo
	prev := map[string][]desired.Rule{}
	reused := 0
	for step := range 300 {
		for range 1 + rng.IntN(3)*rng.IntN(8) {
			ifc := pool[rng.IntN(len(pool))]
			present[ifc] = !present[ifc]
		}
		var ifaces []string
		for ifc, ok := range present {
			if ok {
				ifaces = append(ifaces, ifc)
			}
		}
		got := r.DispatchMemo(ifaces, &memo)
		if want := r.Dispatch(ifaces); !equalChains(got, want) {
			t.Fatalf("step %d (%d interfaces): the memoised dispatch chains differ from fresh ones", step, len(ifaces))
		}
		for name, rules := range got {
			if old, ok := prev[name]; ok && len(rules) > 0 && len(old) == len(rules) && &old[0] == &rules[0] {
				reused++
			} else if ok && slices.Equal(old, rules) {
				t.Errorf("step %d: chain %s is unchanged but was rendered again", step, name)
			}
		}
		prev = got
	}
	if reused == 0 {
		t.Errorf("no chain was ever reused")
	}
}
