package dataplane

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

// The memoised path (renderTable with a memo, planTable against what felix recorded) must give exactly what
// rendering and planning from scratch give. These random walks change a table a little at a time the way felix's
// calculation does (unchanged chains handed again as the same slices, changed ones as new slices, some equal in
// content only), and at every step compare both paths, then run the script on a fake kernel.

// walkTable is a random filter table: chains cali-c0…cali-c11 with rules that jump among them, and hooks.
type walkTable struct {
	rng    *rand.Rand
	chains map[string][]desired.Rule
	hooks  map[string][]desired.Rule
}

func (w *walkTable) rules() []desired.Rule {
	var out []desired.Rule
	for range w.rng.IntN(5) {
		switch w.rng.IntN(4) {
		case 0:
			out = append(out, desired.Rule{Match: fmt.Sprintf("-i cali%d", w.rng.IntN(4)), Action: "--jump ACCEPT"})
		case 1:
			out = append(out, desired.Rule{Match: "-p tcp", Action: "--jump DROP", Comment: w.pick("", "note", "other note")})
		default:
			// Mostly to a chain that exists; sometimes to one that does not, which must fail the same way.
			target := w.pick(slices.Collect(maps.Keys(w.chains))...)
			if target == "" || w.rng.IntN(20) == 0 {
				target = fmt.Sprintf("cali-c%d", w.rng.IntN(12))
			}
			out = append(out, desired.Rule{Action: w.pick("--jump ", "--goto ") + target})
		}
	}
	return out
}

func (w *walkTable) pick(list ...string) string {
	if len(list) == 0 {
		return ""
	}
	slices.Sort(list)
	return list[w.rng.IntN(len(list))]
}

// step changes the table a little. Chains and hooks are never modified in place, as Dataplane.Apply requires.
func (w *walkTable) step() {
	for range 1 + w.rng.IntN(3) {
		name := fmt.Sprintf("cali-c%d", w.rng.IntN(12))
		switch r := w.rng.IntN(10); {
		case r < 4:
			w.chains[name] = w.rules()
		case r < 6:
			delete(w.chains, name)
			if w.rng.IntN(5) > 0 { // usually along with the jumps to it, which are new slices then
				for _, m := range []map[string][]desired.Rule{w.chains, w.hooks} {
					for other, rs := range m {
						keep := slices.DeleteFunc(slices.Clone(rs), func(r desired.Rule) bool {
							return strings.HasSuffix(r.Action, " "+name)
						})
						if len(keep) < len(rs) {
							m[other] = keep
						}
					}
				}
			}
		case r < 8:
			if rs, ok := w.chains[name]; ok {
				w.chains[name] = slices.Clone(rs) // the same rules as a new slice
			}
		case r < 9:
			hook := w.pick("INPUT", "FORWARD", "OUTPUT")
			if w.rng.IntN(3) == 0 {
				delete(w.hooks, hook)
			} else {
				w.hooks[hook] = []desired.Rule{{Action: "--jump " + w.pick(slices.Collect(maps.Keys(w.chains))...)}}
			}
		default:
			// Only the next chain changes nothing: the table is handed again as it is.
		}
	}
	for hook, rs := range w.hooks { // a hook without a target is dropped (it would jump to "")
		if len(rs) == 0 || strings.HasSuffix(rs[0].Action, " ") {
			delete(w.hooks, hook)
		}
	}
}

// table is the current table as a desired.Table of the caller's own maps (the rule slices are shared).
func (w *walkTable) table() *desired.Table {
	return &desired.Table{Name: "filter", Chains: maps.Clone(w.chains), Hooks: maps.Clone(w.hooks)}
}

// cloneState is a copy of a table state sharing nothing with it, as a fresh read of the kernel is.
func cloneState(st tableState) tableState {
	out := tableState{}
	for name, rules := range st {
		out[name] = slices.Clone(rules)
	}
	return out
}

func sameRendering(a, b renderedTable) string {
	for _, part := range []struct {
		kind string
		a, b map[string]renderedChain
	}{{"chain", a.chains, b.chains}, {"hook", a.hooks, b.hooks}} {
		for _, name := range sortedKeys(part.a) {
			rb, ok := part.b[name]
			if !ok {
				return fmt.Sprintf("%s %s only in the memoised rendering", part.kind, name)
			}
			ra := part.a[name]
			if !slices.Equal(ra.rules, rb.rules) || !slices.Equal(ra.states, rb.states) {
				return fmt.Sprintf("%s %s: memoised %v %v, fresh %v %v", part.kind, name, ra.rules, ra.states, rb.rules, rb.states)
			}
		}
		for name := range part.b {
			if _, ok := part.a[name]; !ok {
				return fmt.Sprintf("%s %s only in the fresh rendering", part.kind, name)
			}
		}
	}
	return ""
}

func TestMemoisedRenderAndPlanEqualFreshOnes(t *testing.T) {
	seeds, steps := 8, 300
	if testing.Short() {
		seeds, steps = 2, 100
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			w := &walkTable{rng: rand.New(rand.NewPCG(uint64(seed), 7)), chains: map[string][]desired.Rule{},
				hooks: map[string][]desired.Rule{}}
			memo := newTableMemo()
			k := filterKernel()
			have := k.state() // what felix recorded: the plans' after from here on
			var errs, plans int
			for i := range steps {
				w.step()
				tbl := w.table()
				verify := w.rng.IntN(10) == 0 // now and then a resync's rendering
				got, gotErr := renderTable(tbl, memo, verify)
				want, wantErr := renderTable(tbl, nil, false)
				if (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("step %d: memoised rendering error %v, fresh %v", i, gotErr, wantErr)
				}
				if gotErr != nil {
					errs++
					continue
				}
				if diff := sameRendering(got, want); diff != "" {
					t.Fatalf("step %d: %s", i, diff)
				}
				// Planned against what felix recorded, and from scratch against a fresh copy of the kernel.
				p := planTable("filter", got, have)
				fresh := planTable("filter", want, cloneState(k.state()))
				if p.script != fresh.script || !slices.Equal(p.stages, fresh.stages) ||
					!slices.Equal(p.written, fresh.written) || !slices.Equal(p.hooked, fresh.hooked) ||
					!slices.Equal(p.deleted, fresh.deleted) || !equalTables(p.after, fresh.after) {
					t.Fatalf("step %d: the memoised plan differs from the fresh one:\n%s\nwritten %v hooked %v deleted %v\n"+
						"fresh:\n%s\nwritten %v hooked %v deleted %v", i, p.script, p.written, p.hooked, p.deleted,
						fresh.script, fresh.written, fresh.hooked, fresh.deleted)
				}
				if p.script == "" {
					// nothing to write
				} else if err := k.restore(p.script); err != nil {
					t.Fatalf("step %d: the kernel rejected the plan: %v\n%s", i, err, p.script)
				}
				if now := k.state(); !equalTables(now, p.after) {
					t.Fatalf("step %d: the plan predicted %v, the kernel holds %v", i, p.after, now)
				}
				have = p.after
				plans++
			}
			if errs == 0 || plans < steps/2 {
				t.Errorf("the walk should render both valid tables (%d) and tables with a dangling jump (%d)", plans, errs)
			}
		})
	}
}
