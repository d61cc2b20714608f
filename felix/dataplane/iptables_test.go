package dataplane

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

func TestRuleHashes(t *testing.T) {
	fwd := []string{"-i cali+ -j cali-from-wl-dispatch", "-o cali+ -j cali-to-wl-dispatch"}
	base := ruleHashes("cali-FORWARD", fwd)

	t.Run("the format is pinned, so a new felix adopts the rules of an old one", func(t *testing.T) {
		// Computed independently (Python hashlib): SHA-224 of the chain name's SHA-224 and the rule, base64url,
		// 16 characters; the older chained hashes put the previous rule's hash in place of the chain name's.
		want := []string{"zJBjvNKN9N4IOHpc", "rUF8cV_F2QI91fM9"}
		if !slices.Equal(base, want) {
			t.Errorf("hashes of cali-FORWARD: got %v, want %v", base, want)
		}
		wantLegacy := []string{"zJBjvNKN9N4IOHpc", "bmmGvDSJdpNGvZYD"}
		if got := legacyRuleHashes("cali-FORWARD", fwd); !slices.Equal(got, wantLegacy) {
			t.Errorf("legacy hashes of cali-FORWARD: got %v, want %v", got, wantLegacy)
		}
	})
	t.Run("a hash depends on the chain's name", func(t *testing.T) {
		other := ruleHashes("cali-INPUT", fwd)
		if other[0] == base[0] || other[1] == base[1] {
			t.Errorf("the same rules in cali-INPUT and cali-FORWARD hash alike: %v and %v", other, base)
		}
	})
	t.Run("a hash depends on its rule alone, not on the rules around it", func(t *testing.T) {
		changedFirst := ruleHashes("cali-FORWARD", []string{"-i cali+ -j DROP", fwd[1]})
		if changedFirst[0] == base[0] || changedFirst[1] != base[1] {
			t.Errorf("changing rule 1: got %v, want rule 1 changed from %s and rule 2 kept at %s", changedFirst, base[0], base[1])
		}
		inserted := ruleHashes("cali-FORWARD", []string{"-j ACCEPT", fwd[0], fwd[1]})
		if !slices.Equal(inserted[1:], base) {
			t.Errorf("inserting a rule at the top changed the hashes below it: %v vs %v", inserted, base)
		}
	})
	t.Run("hashes are 16 base64url characters", func(t *testing.T) {
		ok := regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)
		for _, h := range base {
			if !ok.MatchString(h) {
				t.Errorf("hash %q is not 16 base64url characters", h)
			}
		}
	})
}

func TestQuotedCommentsSurviveSplitting(t *testing.T) {
	for _, c := range []string{`plain`, `with spaces`, `a "quoted" word`, `back\slash`, `trailing\`, `"`} {
		args, err := splitArgs("-m comment --comment " + quoteArg(c) + " -j ACCEPT")
		if err != nil || len(args) != 6 || args[3] != c || args[5] != "ACCEPT" {
			t.Errorf("comment %q: split into %q (err %v), want it back as one argument", c, args, err)
		}
	}
	long := strings.Repeat("é", 200)
	if q := quoteArg(long); len(q) > maxComment+2 || !strings.HasSuffix(q, `é"`) {
		t.Errorf("a 400-byte comment quoted to %d bytes ending %q; want at most %d bytes, cut on a character boundary",
			len(q), q[len(q)-4:], maxComment+2)
	}
}

// sampleTable is a small filter table of the shape felix writes: hooks, a static chain, dispatch and one
// endpoint's chains.
func sampleTable() *desired.Table {
	return &desired.Table{
		Name: "filter",
		Chains: map[string][]desired.Rule{
			"cali-FORWARD": {
				{Match: "-i cali+", Action: "--jump cali-from-wl-dispatch"},
				{Match: "-o cali+", Action: "--jump cali-to-wl-dispatch"},
			},
			"cali-from-wl-dispatch": {
				{Match: "-i cali1234", Action: "--goto cali-fw-cali1234"},
				{Action: "--jump DROP", Comment: "Unknown interface"},
			},
			"cali-to-wl-dispatch": {
				{Match: "-o cali1234", Action: "--goto cali-tw-cali1234"},
				{Action: "--jump DROP", Comment: "Unknown interface"},
			},
			"cali-fw-cali1234": {
				{Match: "-m conntrack --ctstate RELATED,ESTABLISHED", Action: "--jump ACCEPT"},
				{Match: "-m conntrack --ctstate INVALID", Action: "--jump DROP"},
				{Action: "--jump DROP", Comment: "Drop if no profiles matched"},
			},
			"cali-tw-cali1234": {
				{Match: "-m conntrack --ctstate RELATED,ESTABLISHED", Action: "--jump ACCEPT"},
				{Action: "--jump DROP", Comment: "Drop if no profiles matched"},
			},
		},
		Hooks: map[string][]desired.Rule{"FORWARD": {{Action: "--jump cali-FORWARD"}}},
	}
}

func mustRender(t *testing.T, tbl *desired.Table) renderedTable {
	t.Helper()
	rt, err := renderTable(tbl, nil, false)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return rt
}

func filterKernel() *fakeTable { return newFakeTable("filter", "INPUT", "FORWARD", "OUTPUT") }

// applied returns a fake kernel holding what applying tbl to an empty kernel writes.
func applied(t *testing.T, tbl *desired.Table) *fakeTable {
	t.Helper()
	k := filterKernel()
	if err := k.restore(planTable("filter", mustRender(t, tbl), k.state()).script); err != nil {
		t.Fatalf("applying to an empty kernel: %v", err)
	}
	return k
}

func specOf(t *testing.T, tbl *desired.Table, chain string, i int) string {
	t.Helper()
	rt := mustRender(t, tbl)
	if rr, ok := rt.chains[chain]; ok {
		return rr.rules[i].spec
	}
	return rt.hooks[chain].rules[i].spec
}

func TestPlanTableOnAnEmptyKernelWritesEverythingInOneScript(t *testing.T) {
	tbl := sampleTable()
	p := planTable("filter", mustRender(t, tbl), filterKernel().state())
	s := func(chain string, i int) string { return specOf(t, tbl, chain, i) }
	want := strings.Join([]string{
		"*filter",
		":cali-FORWARD - [0:0]",
		":cali-from-wl-dispatch - [0:0]",
		":cali-fw-cali1234 - [0:0]",
		":cali-to-wl-dispatch - [0:0]",
		":cali-tw-cali1234 - [0:0]",
		"-A cali-FORWARD " + s("cali-FORWARD", 0),
		"-A cali-FORWARD " + s("cali-FORWARD", 1),
		"-A cali-from-wl-dispatch " + s("cali-from-wl-dispatch", 0),
		"-A cali-from-wl-dispatch " + s("cali-from-wl-dispatch", 1),
		"-A cali-fw-cali1234 " + s("cali-fw-cali1234", 0),
		"-A cali-fw-cali1234 " + s("cali-fw-cali1234", 1),
		"-A cali-fw-cali1234 " + s("cali-fw-cali1234", 2),
		"-A cali-to-wl-dispatch " + s("cali-to-wl-dispatch", 0),
		"-A cali-to-wl-dispatch " + s("cali-to-wl-dispatch", 1),
		"-A cali-tw-cali1234 " + s("cali-tw-cali1234", 0),
		"-A cali-tw-cali1234 " + s("cali-tw-cali1234", 1),
		"-I FORWARD 1 " + s("FORWARD", 0),
		"COMMIT",
	}, "\n") + "\n"
	if p.script != want {
		t.Errorf("script:\n%s\nwant:\n%s", p.script, want)
	}
	if len(p.written) != 5 || !slices.Equal(p.hooked, []string{"FORWARD"}) || len(p.deleted) != 0 {
		t.Errorf("got written %v hooked %v deleted %v; want 5 chains written, FORWARD hooked, nothing deleted",
			p.written, p.hooked, p.deleted)
	}
	// The rule's own comment follows the hash comment.
	wantDrop := regexp.MustCompile(`^-m comment --comment "cali:[A-Za-z0-9_-]{16}" -m comment --comment "Unknown interface" --jump DROP$`)
	if got := s("cali-to-wl-dispatch", 1); !wantDrop.MatchString(got) {
		t.Errorf("dispatch drop rule rendered as %q; want the hash comment, then the rule's comment, then the action", got)
	}
}

func TestPlanTable(t *testing.T) {
	changed := sampleTable()
	changed.Chains["cali-fw-cali1234"][1] = desired.Rule{Match: "-m conntrack --ctstate INVALID", Action: "--jump REJECT"}

	tests := []struct {
		name        string
		kernel      func(t *testing.T) *fakeTable // the kernel before
		want        *desired.Table
		wantScript  []string // the script's lines between *filter and COMMIT; nil means no script at all
		wantWritten []string
		wantDeleted []string
		wantHooked  []string
	}{
		{
			name:   "a kernel holding what a previous felix wrote is adopted without a single write",
			kernel: func(t *testing.T) *fakeTable { return applied(t, sampleTable()) },
			want:   sampleTable(),
		},
		{
			name:        "one changed rule rewrites only that rule",
			kernel:      func(t *testing.T) *fakeTable { return applied(t, sampleTable()) },
			want:        changed,
			wantScript:  []string{"-R cali-fw-cali1234 2 " + specOf(t, changed, "cali-fw-cali1234", 1)},
			wantWritten: []string{"cali-fw-cali1234"},
		},
		{
			name: "a rule deleted by hand is put back where it was, and nothing else is written",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["cali-fw-cali1234"] = slices.Delete(k.chains["cali-fw-cali1234"], 1, 2)
				return k
			},
			want: sampleTable(),
			wantScript: []string{
				"-I cali-fw-cali1234 2 " + specOf(t, sampleTable(), "cali-fw-cali1234", 1),
			},
			wantWritten: []string{"cali-fw-cali1234"},
		},
		{
			name: "a rule added by hand to a felix chain is removed",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["cali-tw-cali1234"] = append(k.chains["cali-tw-cali1234"], "-j ACCEPT")
				return k
			},
			want:        sampleTable(),
			wantScript:  []string{"-D cali-tw-cali1234 3"},
			wantWritten: []string{"cali-tw-cali1234"},
		},
		{
			name: "foreign rules in FORWARD are left alone",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["FORWARD"] = append(k.chains["FORWARD"], "-i docker0 -j ACCEPT", `-m comment --comment "not ours" -j DROP`)
				return k
			},
			want: sampleTable(),
		},
		{
			name: "a missing hook is inserted at the top, above foreign rules, which stay",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["FORWARD"] = []string{"-i docker0 -j ACCEPT"}
				return k
			},
			want:       sampleTable(),
			wantScript: []string{"-I FORWARD 1 " + specOf(t, sampleTable(), "FORWARD", 0)},
			wantHooked: []string{"FORWARD"},
		},
		{
			name: "a stale hook of an older felix and a bare jump into a cali- chain are replaced",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["FORWARD"] = []string{
					`-m comment --comment "cali:oldoldoldoldoldo" -j cali-FORWARD`,
					"-i docker0 -j ACCEPT",
					"-j cali-FORWARD",
				}
				k.chains["INPUT"] = []string{`-m comment --comment "cali:oldoldoldoldoldo" -j ACCEPT`, "-j ACCEPT"}
				return k
			},
			want: sampleTable(),
			wantScript: []string{
				"-D FORWARD 3", "-D FORWARD 1", "-I FORWARD 1 " + specOf(t, sampleTable(), "FORWARD", 0),
				"-D INPUT 1",
			},
			wantHooked: []string{"FORWARD", "INPUT"},
		},
		{
			name: "a hook pushed down by a foreign insert is moved back to the top",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["FORWARD"] = slices.Insert(k.chains["FORWARD"], 0, "-j DOCKER-USER")
				return k
			},
			want:       sampleTable(),
			wantScript: []string{"-D FORWARD 2", "-I FORWARD 1 " + specOf(t, sampleTable(), "FORWARD", 0)},
			wantHooked: []string{"FORWARD"},
		},
		{
			name: "stale cali- chains are flushed and deleted after the rules that used them are gone",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				if err := k.restore("*filter\n:cali-old - [0:0]\n:cali-older - [0:0]\n-A cali-old -j cali-older\n" +
					"-A cali-older -j ACCEPT\n-R cali-FORWARD 1 -j cali-old\n-I INPUT 1 -j cali-old\nCOMMIT\n"); err != nil {
					t.Fatal(err)
				}
				return k
			},
			want: sampleTable(),
			wantScript: []string{
				"-R cali-FORWARD 1 " + specOf(t, sampleTable(), "cali-FORWARD", 0),
				"-D INPUT 1",
				"-F cali-old", "-F cali-older", "-X cali-old", "-X cali-older",
			},
			wantWritten: []string{"cali-FORWARD"},
			wantDeleted: []string{"cali-old", "cali-older"},
			wantHooked:  []string{"INPUT"},
		},
		{
			name: "without a desired table everything felix left is removed, foreign rules stay",
			kernel: func(t *testing.T) *fakeTable {
				k := applied(t, sampleTable())
				k.chains["FORWARD"] = append(k.chains["FORWARD"], "-j ACCEPT")
				return k
			},
			want: nil,
			wantScript: []string{
				"-D FORWARD 1",
				"-F cali-FORWARD", "-F cali-from-wl-dispatch", "-F cali-fw-cali1234", "-F cali-to-wl-dispatch", "-F cali-tw-cali1234",
				"-X cali-FORWARD", "-X cali-from-wl-dispatch", "-X cali-fw-cali1234", "-X cali-to-wl-dispatch", "-X cali-tw-cali1234",
			},
			wantDeleted: []string{"cali-FORWARD", "cali-from-wl-dispatch", "cali-fw-cali1234", "cali-to-wl-dispatch", "cali-tw-cali1234"},
			wantHooked:  []string{"FORWARD"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.kernel(t)
			foreignBefore := foreignRules(k)
			p := planTable("filter", mustRender(t, tc.want), k.state())

			var wantScript string
			if tc.wantScript != nil {
				wantScript = "*filter\n" + strings.Join(tc.wantScript, "\n") + "\nCOMMIT\n"
			}
			if p.script != wantScript {
				t.Errorf("script:\n%s\nwant:\n%s", p.script, wantScript)
			}
			if !slices.Equal(p.written, tc.wantWritten) || !slices.Equal(p.deleted, tc.wantDeleted) || !slices.Equal(p.hooked, tc.wantHooked) {
				t.Errorf("got written %v, deleted %v, hooked %v; want %v, %v, %v",
					p.written, p.deleted, p.hooked, tc.wantWritten, tc.wantDeleted, tc.wantHooked)
			}
			checkConverged(t, k, p, tc.want, foreignBefore)
		})
	}
}

// checkConverged runs the plan's script on the fake kernel and checks the result: the script is accepted, the
// kernel then needs no further write, the plan predicted the kernel's state, and every foreign rule survived.
func checkConverged(t *testing.T, k *fakeTable, p tablePlan, want *desired.Table, foreignBefore []string) {
	t.Helper()
	if p.script != "" {
		if err := k.restore(p.script); err != nil {
			t.Fatalf("the kernel rejected the script: %v\n%s", err, p.script)
		}
	}
	rt := mustRender(t, want)
	if again := planTable("filter", rt, k.state()); again.script != "" {
		t.Errorf("after applying the script, planning again still writes:\n%s", again.script)
	}
	if now := k.state(); !equalTables(now, p.after) {
		t.Errorf("the plan predicted the table as %v, the kernel holds %v", p.after, now)
	}
	if after := foreignRules(k); !slices.Equal(after, foreignBefore) {
		t.Errorf("foreign rules changed from %q to %q", foreignBefore, after)
	}
}

func equalTables(a, b tableState) bool {
	if len(a) != len(b) {
		return false
	}
	for name, ra := range a {
		rb, ok := b[name]
		if !ok || !slices.Equal(ra, rb) {
			return false
		}
	}
	return true
}

// foreignRules lists the rules felix must never touch: those in non-cali chains that neither carry a felix hash
// nor jump into a felix chain.
func foreignRules(k *fakeTable) []string {
	var out []string
	for _, c := range k.order {
		if isCali(c) {
			continue
		}
		for _, r := range k.chains[c] {
			args, _ := splitArgs(r)
			if !parseRule(args).owned() {
				out = append(out, c+": "+r)
			}
		}
	}
	return out
}

// TestPlanTableWalks walks a fake kernel through random desired states, with foreign rules and hand edits
// between steps, and checks after every step that one script converges the kernel.
func TestPlanTableWalks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := filterKernel()
	k.chains["FORWARD"] = []string{"-i docker0 -j ACCEPT"}
	for step := range 200 {
		want := randomTable(rng)
		switch rng.IntN(4) {
		case 0: // someone deletes a rule of a cali- chain
			for _, c := range k.order {
				if isCali(c) && len(k.chains[c]) > 0 {
					k.chains[c] = k.chains[c][1:]
					break
				}
			}
		case 1: // someone adds a foreign rule to a kernel chain
			k.chains["INPUT"] = append(k.chains["INPUT"], fmt.Sprintf("-s 192.0.2.%d -j ACCEPT", step%250))
		}
		foreign := foreignRules(k)
		p := planTable("filter", mustRender(t, want), k.state())
		checkConverged(t, k, p, want, foreign)
		if t.Failed() {
			t.Fatalf("step %d failed; desired table %+v", step, want)
		}
	}
}

func randomTable(rng *rand.Rand) *desired.Table {
	tbl := &desired.Table{Name: "filter", Chains: map[string][]desired.Rule{}, Hooks: map[string][]desired.Rule{}}
	var eps []string
	for i := range 4 {
		if rng.IntN(2) == 0 {
			eps = append(eps, fmt.Sprintf("cali%d", i))
		}
	}
	var dispatch []desired.Rule
	for _, ep := range eps {
		chain := "cali-tw-" + ep
		dispatch = append(dispatch, desired.Rule{Match: "-o " + ep, Action: "--goto " + chain})
		var rules []desired.Rule
		for j := range rng.IntN(4) {
			rules = append(rules, desired.Rule{Match: fmt.Sprintf("-p tcp --dport %d", 80+rng.IntN(3)+j), Action: "--jump ACCEPT"})
		}
		tbl.Chains[chain] = append(rules, desired.Rule{Action: "--jump DROP"})
	}
	tbl.Chains["cali-to-wl-dispatch"] = append(dispatch, desired.Rule{Action: "--jump DROP"})
	tbl.Chains["cali-FORWARD"] = []desired.Rule{{Match: "-o cali+", Action: "--jump cali-to-wl-dispatch"}}
	if rng.IntN(2) == 0 {
		tbl.Hooks["FORWARD"] = []desired.Rule{{Action: "--jump cali-FORWARD"}}
	}
	if rng.IntN(3) == 0 {
		tbl.Chains["cali-INPUT"] = []desired.Rule{{Match: "-i cali+", Action: "--jump DROP"}}
		tbl.Hooks["INPUT"] = []desired.Rule{{Action: "--jump cali-INPUT"}, {Match: "-p 4", Action: "--jump ACCEPT"}}
	}
	return tbl
}

func TestRenderTableRejects(t *testing.T) {
	tests := []struct {
		name  string
		table *desired.Table
		want  string
	}{
		{"a felix chain without the cali- prefix",
			&desired.Table{Chains: map[string][]desired.Rule{"FELIX": nil}}, `does not start with "cali-"`},
		{"a hook into a felix chain",
			&desired.Table{Chains: map[string][]desired.Rule{"cali-X": nil}, Hooks: map[string][]desired.Rule{"cali-X": nil}}, "hooks go into kernel chains"},
		{"a chain name longer than iptables allows",
			&desired.Table{Chains: map[string][]desired.Rule{"cali-" + strings.Repeat("x", 24): nil}}, "longer than 28"},
		{"a jump to a felix chain that is not desired",
			&desired.Table{Chains: map[string][]desired.Rule{"cali-A": {{Action: "--jump cali-B"}}}}, "cali-B, which is not a desired chain"},
		{"a rule with a line break",
			&desired.Table{Chains: map[string][]desired.Rule{"cali-A": {{Match: "-p tcp\n-j DROP"}}}}, "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderTable(tc.table, nil, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRenderTableReusesUnchangedChains(t *testing.T) {
	memo := newTableMemo()
	first, err := renderTable(sampleTable(), memo, false)
	if err != nil {
		t.Fatal(err)
	}
	firstForward, firstDispatch := first.chains["cali-FORWARD"], first.chains["cali-to-wl-dispatch"]
	next := sampleTable()
	delete(next.Chains, "cali-tw-cali1234")
	next.Chains["cali-to-wl-dispatch"] = next.Chains["cali-to-wl-dispatch"][1:]
	second, err := renderTable(next, memo, false)
	if err != nil {
		t.Fatal(err)
	}
	if &firstForward.rules[0] != &second.chains["cali-FORWARD"].rules[0] {
		t.Errorf("an unchanged chain was rendered again")
	}
	if second.chains["cali-to-wl-dispatch"].rules[0].hash == firstDispatch.rules[0].hash {
		t.Errorf("a changed chain kept its old rendering")
	}
	if _, ok := memo.chains["cali-tw-cali1234"]; ok {
		t.Errorf("the memo still holds a chain that is no longer desired")
	}
	if _, ok := second.chains["cali-tw-cali1234"]; ok {
		t.Errorf("the rendering still holds a chain that is no longer desired")
	}
}

func TestRenderTableChecksUnchangedChainsAgainstRemovedTargets(t *testing.T) {
	memo := newTableMemo()
	table := func(withB bool) *desired.Table {
		chains := map[string][]desired.Rule{
			"cali-A": {{Action: "--jump ACCEPT"}, {Match: "-p tcp", Action: "--jump cali-B"}, {Action: "--goto cali-B"}},
		}
		if withB {
			chains["cali-B"] = nil
		}
		return &desired.Table{Chains: chains, Hooks: map[string][]desired.Rule{"FORWARD": {{Action: "--jump cali-A"}}}}
	}
	if _, err := renderTable(table(true), memo, false); err != nil {
		t.Fatal(err)
	}
	_, err := renderTable(table(false), memo, false)
	if want := "rule 2 of chain cali-A jumps to cali-B, which is not a desired chain"; err == nil || err.Error() != want {
		t.Errorf("rendering cali-A again (from the memo) without cali-B: got error %v, want %q", err, want)
	}
}

func TestParseSave(t *testing.T) {
	// Real iptables-save (nf_tables) output: matches reordered, comments quoted and escaped.
	text := `# Generated by iptables-save v1.8.9 (nf_tables) on Mon Nov 23 13:24:46 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:cali-A - [0:0]
:cali-empty - [0:0]
-A FORWARD -m comment --comment "cali:zzzzzzzzzzzzzzzz" -j cali-A
-A FORWARD -i docker0 -j ACCEPT
-A cali-A -i cali+ -p tcp -m comment --comment "cali:abcdefghijklmnop" -m comment --comment "my \"quoted\" note" -m tcp --dport 80 -j ACCEPT
-A cali-A -g cali-empty
COMMIT
# Completed on Mon Nov 23 13:24:46 2026
`
	tables, err := parseSave(text)
	if err != nil {
		t.Fatal(err)
	}
	want := tableState{
		"INPUT":      nil,
		"OUTPUT":     nil,
		"FORWARD":    {{hash: "zzzzzzzzzzzzzzzz", target: "cali-A"}, {target: "ACCEPT"}},
		"cali-A":     {{hash: "abcdefghijklmnop", target: "ACCEPT"}, {target: "cali-empty"}},
		"cali-empty": nil,
	}
	if got := tables["filter"]; !equalTables(got, want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
	if _, err := parseSave("*filter\n-A X -m comment --comment \"unterminated\nCOMMIT\n"); err == nil {
		t.Errorf("an unterminated quote parsed without error")
	}
}

func TestAppendModePutsHooksAfterForeignRules(t *testing.T) {
	k := filterKernel()
	k.chains["FORWARD"] = []string{"-i docker0 -j ACCEPT"}
	rt := mustRender(t, sampleTable())
	rt.appendHooks = true
	p := planTable("filter", rt, k.state())
	if err := k.restore(p.script); err != nil {
		t.Fatalf("the kernel rejected the script: %v\n%s", err, p.script)
	}
	fwd := k.chains["FORWARD"]
	if len(fwd) != 2 || fwd[0] != "-i docker0 -j ACCEPT" || !strings.Contains(fwd[1], "cali-FORWARD") {
		t.Fatalf("FORWARD should hold the foreign rule, then felix's hook; holds %q", fwd)
	}
	if again := planTable("filter", rt, k.state()); again.script != "" {
		t.Errorf("hooks at the end are in place; planning again still writes:\n%s", again.script)
	}
	if now := k.state(); !equalTables(now, p.after) {
		t.Errorf("the plan predicted %v, the kernel holds %v", p.after, now)
	}
	// Switching back to Insert moves the hook to the top.
	rt.appendHooks = false
	p = planTable("filter", rt, k.state())
	if err := k.restore(p.script); err != nil {
		t.Fatal(err)
	}
	if fwd := k.chains["FORWARD"]; !strings.Contains(fwd[0], "cali-FORWARD") || fwd[1] != "-i docker0 -j ACCEPT" {
		t.Errorf("insert mode should put the hook first again; FORWARD holds %q", fwd)
	}
}

// A cold start larger than stageLines is written in stages: declarations, then the new chains' rules a few chains
// at a time, then the hooks. Until the last stage no kernel chain reaches the new ones, and the stages together
// leave the kernel as the one-transaction script does.
func TestPlanTableStagesALargeColdStart(t *testing.T) {
	defer func(n int) { stageLines = n }(stageLines)
	stageLines = 3
	tbl := sampleTable()
	k := filterKernel()
	p := planTable("filter", mustRender(t, tbl), k.state())
	if len(p.stages) < 4 {
		t.Fatalf("a plan of 11 new rules with stageLines 3 has %d stages, want declarations, at least 2 fills, hooks:\n%q", len(p.stages), p.stages)
	}
	for i, stage := range p.stages {
		lines := strings.Split(strings.TrimSuffix(stage, "COMMIT\n"), "\n")
		for _, line := range lines[1 : len(lines)-1] {
			switch {
			case i == 0 && !strings.HasPrefix(line, ":cali-"):
				t.Errorf("stage 1 should only declare chains, has %q", line)
			case i > 0 && i < len(p.stages)-1 && !strings.HasPrefix(line, "-A cali-"):
				t.Errorf("stage %d should only fill new chains, has %q", i+1, line)
			case i == len(p.stages)-1 && strings.HasPrefix(line, "-A cali-"):
				t.Errorf("the last stage should only touch chains that existed, has %q", line)
			}
		}
		if err := k.restore(stage); err != nil {
			t.Fatalf("stage %d: %v\n%s", i+1, err, stage)
		}
		if i < len(p.stages)-1 && len(k.chains["FORWARD"]) != 0 {
			t.Errorf("after stage %d of %d FORWARD already jumps to felix's chains: %v", i+1, len(p.stages), k.chains["FORWARD"])
		}
	}
	if again := planTable("filter", mustRender(t, tbl), k.state()); again.script != "" {
		t.Errorf("after the stages the kernel still differs; it would take:\n%s", again.script)
	}
	one := filterKernel()
	if err := one.restore(p.script); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(one.state(), k.state()) {
		t.Errorf("stages left %v, the one script %v", k.state(), one.state())
	}

	// The legacy backend rewrites the whole table in every transaction: one it is, whatever its size.
	whole := mustRender(t, tbl)
	whole.wholeTable = true
	if p := planTable("filter", whole, filterKernel().state()); len(p.stages) != 0 || p.script == "" {
		t.Errorf("with wholeTable the plan has %d stages, want one transaction", len(p.stages))
	}
}

// One rule added to or removed from the middle of a long chain (an endpoint of a dispatch chain) is one line: a
// hash covers its rule alone, so the rules around it stay as they are.
func TestPlanTableWritesOneLineForOneRuleAddedOrRemoved(t *testing.T) {
	chain := func(skip int, extra bool) *desired.Table {
		var rules []desired.Rule
		for i := range 10 {
			if i != skip {
				rules = append(rules, desired.Rule{Match: fmt.Sprintf("-o cali%d", i), Action: "--jump ACCEPT"})
			}
			if extra && i == 6 {
				rules = append(rules, desired.Rule{Match: "-o cali6a", Action: "--jump ACCEPT"})
			}
		}
		return &desired.Table{Name: "filter", Chains: map[string][]desired.Rule{
			"cali-to-wl-dispatch": append(rules, desired.Rule{Action: "--jump DROP"}),
		}}
	}
	all := chain(-1, false)
	for _, tc := range []struct {
		name string
		want *desired.Table
		line string
	}{
		{"the fifth removed", chain(4, false), "-D cali-to-wl-dispatch 5"},
		{"the first removed", chain(0, false), "-D cali-to-wl-dispatch 1"},
		{"one added after the seventh", chain(-1, true), "-I cali-to-wl-dispatch 8 " + specOf(t, chain(-1, true), "cali-to-wl-dispatch", 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := applied(t, all)
			p := planTable("filter", mustRender(t, tc.want), k.state())
			if want := "*filter\n" + tc.line + "\nCOMMIT\n"; p.script != want {
				t.Errorf("script:\n%s\nwant:\n%s", p.script, want)
			}
			checkConverged(t, k, p, tc.want, nil)
		})
	}
}

// legacyScript is the iptables-restore input an older felix wrote for a rendered table: the same rules, with
// chained hashes (legacyRuleHashes).
func legacyScript(table string, rt renderedTable) string {
	var script strings.Builder
	script.WriteString("*" + table + "\n")
	for _, name := range sortedKeys(rt.chains) {
		script.WriteString(":" + name + " - [0:0]\n")
	}
	for _, name := range sortedKeys(rt.chains) {
		rr := rt.chains[name].rules
		bodies := make([]string, len(rr))
		for i, r := range rr {
			bodies[i] = r.body()
		}
		for i, h := range legacyRuleHashes(name, bodies) {
			fmt.Fprintf(&script, "-A %s -m comment --comment \"%s%s\" %s\n", name, hashPrefix, h, bodies[i])
		}
	}
	for _, name := range sortedKeys(rt.hooks) {
		for _, r := range rt.hooks[name].rules {
			script.WriteString("-A " + name + " " + r.spec + "\n")
		}
	}
	script.WriteString("COMMIT\n")
	return script.String()
}

// A kernel written by an older felix holds the desired rules under chained hashes (legacyRuleHashes). felix
// rewrites their hash comments, and when there are more such lines than stageLines, over several transactions:
// every rule stays the desired one throughout, so no packet can tell.
func TestPlanTableRehashesAnOlderFelixsChainsInStages(t *testing.T) {
	tbl := sampleTable()
	rt := mustRender(t, tbl)
	old := filterKernel()
	script := legacyScript("filter", rt)
	if err := old.restore(script); err != nil {
		t.Fatalf("writing the older felix's table: %v\n%s", err, script)
	}
	rules := func(k *fakeTable) map[string][]string { // every rule without its hash comment
		out := map[string][]string{}
		for name, rr := range k.chains {
			for _, r := range rr {
				_, body, _ := strings.Cut(r, `" `)
				out[name] = append(out[name], body)
			}
		}
		return out
	}
	wantRules := rules(old)

	t.Run("in one transaction", func(t *testing.T) {
		k := old.clone()
		p := planTable("filter", rt, k.state())
		if p.script == "" || len(p.stages) != 0 || strings.Contains(p.script, "-A ") || strings.Contains(p.script, "-D ") {
			t.Fatalf("want one script of -R lines, got stages %q and script:\n%s", p.stages, p.script)
		}
		checkConverged(t, k, p, tbl, foreignRules(old))
	})
	t.Run("in stages", func(t *testing.T) {
		defer func(n int) { stageLines = n }(stageLines)
		stageLines = 2
		k := old.clone()
		p := planTable("filter", rt, k.state())
		if len(p.stages) < 3 {
			t.Fatalf("want the rewrite in stages, got %q", p.stages)
		}
		for i, stage := range p.stages {
			if err := k.restore(stage); err != nil {
				t.Fatalf("stage %d: %v\n%s", i+1, err, stage)
			}
			if got := rules(k); !reflect.DeepEqual(got, wantRules) {
				t.Fatalf("after stage %d the rules are %q, want %q throughout", i+1, got, wantRules)
			}
		}
		if again := planTable("filter", rt, k.state()); again.script != "" {
			t.Errorf("after the stages the kernel still differs; it would take:\n%s", again.script)
		}
	})
	t.Run("a chain that also differs in a rule is not rewritten in stages", func(t *testing.T) {
		defer func(n int) { stageLines = n }(stageLines)
		stageLines = 2
		changed := sampleTable()
		changed.Chains["cali-fw-cali1234"][1] = desired.Rule{Match: "-m conntrack --ctstate INVALID", Action: "--jump REJECT"}
		k := old.clone()
		p := planTable("filter", mustRender(t, changed), k.state())
		last := p.script
		if len(p.stages) > 0 {
			last = p.stages[len(p.stages)-1]
		}
		if !strings.Contains(last, "REJECT") {
			t.Errorf("the changed chain should be written in the last transaction, with the hooks; got stages %q", p.stages)
		}
		checkConverged(t, k, p, changed, foreignRules(old))
	})
}
