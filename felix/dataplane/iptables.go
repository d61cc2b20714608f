package dataplane

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/calico-l3/calico/felix/desired"
)

// This file is the pure half of the iptables manager: rule hashes, rendering, parsing iptables-save output and
// computing the iptables-restore input that turns one table of the kernel into the desired one.

const (
	chainPrefix = "cali-" // every chain felix owns starts with it; any other chain is someone else's
	hashPrefix  = "cali:" // the comment that tags a rule as felix's, followed by the rule hash
	hashLen     = 16      // base64url characters of a rule hash
	maxChainLen = 28      // iptables limit on chain names
	maxComment  = 255     // xt_comment limit (256 bytes with the terminating NUL)
)

// ruleHashes returns the hash of each rule of a chain, given each rule as rendered without its hash comment. A
// hash covers the chain's name and the rule itself, nothing else, so adding, removing or changing one rule of a
// chain leaves the hashes of all the others as they were and planTable touches that rule alone: one endpoint
// added or removed is one -I or -D in its dispatch chain. Order is still checked: planTable compares a chain's
// hashes as a sequence, so a kernel chain whose hashes equal the desired ones holds exactly the desired rules in
// the desired order.
func ruleHashes(chain string, bodies []string) []string { return hashRules(chain, bodies, false) }

// legacyRuleHashes are the hashes felix wrote before: chained, each covering every rule above it as well, so that
// one rule added or removed rewrote every rule below it. The first rule's hash is the same in both. planTable
// recognises a chain holding them and rewrites it, in stages when it is large (see planTable).
func legacyRuleHashes(chain string, bodies []string) []string { return hashRules(chain, bodies, true) }

// hashRules is SHA-224 over the chain name's SHA-224 (or, chained, the previous rule's hash) and
// "-A <chain> HASH <body>", base64url, cut to hashLen characters.
func hashRules(chain string, bodies []string, chained bool) []string {
	base := sha256.Sum224([]byte(chain))
	prev := base
	hashes := make([]string, len(bodies))
	buf := make([]byte, 0, 256)
	for i, body := range bodies {
		if !chained {
			prev = base
		}
		buf = append(buf[:0], prev[:]...)
		buf = append(buf, "-A "...)
		buf = append(buf, chain...)
		buf = append(buf, " HASH "...)
		buf = append(buf, body...)
		prev = sha256.Sum224(buf)
		hashes[i] = base64.RawURLEncoding.EncodeToString(prev[:])[:hashLen]
	}
	return hashes
}

// renderedRule is one desired rule ready for iptables-restore.
type renderedRule struct {
	hash   string
	spec   string // everything after "-A <chain> ", the hash comment first
	target string // the chain or target it jumps or goes to; "" when none
}

// body is the rule without its hash comment, as ruleHashes took it.
func (r renderedRule) body() string {
	return strings.TrimPrefix(r.spec[len(`-m comment --comment "`+hashPrefix)+hashLen+len(`"`):], " ")
}

// renderedTable is a desired table with every rule rendered and hashed.
type renderedTable struct {
	chains      map[string]renderedChain // cali- chains
	hooks       map[string]renderedChain // felix's rules at the top (or end) of other chains
	appendHooks bool                     // ChainInsertMode Append: hooks go at the end of their chains
	// wholeTable says the backend replaces the whole table on every transaction (legacy x_tables): each costs about
	// the table's size whatever it changes, so a plan is never cut into stages.
	wholeTable bool
}

// renderedChain is one chain's rendered rules and the chain as felix records it once written (see planTable).
// Both are shared between renderings and plans, and never modified.
type renderedChain struct {
	rules  []renderedRule
	states []ruleState
}

// renderChain renders the rules of one chain with their hash comments.
func renderChain(chain string, rules []desired.Rule) ([]renderedRule, error) {
	bodies := make([]string, len(rules))
	for i, r := range rules {
		body, err := ruleBody(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d of chain %s: %w", i+1, chain, err)
		}
		bodies[i] = body
	}
	out := make([]renderedRule, len(rules))
	for i, h := range ruleHashes(chain, bodies) {
		spec := `-m comment --comment "` + hashPrefix + h + `"`
		if bodies[i] != "" {
			spec += " " + bodies[i]
		}
		target, err := ruleTarget(rules[i].Action)
		if err != nil {
			return nil, fmt.Errorf("rule %d of chain %s: %w", i+1, chain, err)
		}
		out[i] = renderedRule{hash: h, spec: spec, target: target}
	}
	return out, nil
}

// ruleBody renders a rule as iptables-restore takes it, without chain and hash comment: the rule's own comment,
// the match and the action.
func ruleBody(r desired.Rule) (string, error) {
	match, action := strings.TrimSpace(r.Match), strings.TrimSpace(r.Action)
	if strings.ContainsAny(match+action, "\n\r") {
		return "", fmt.Errorf("rule %q %q contains a line break", match, action)
	}
	parts := make([]string, 0, 3)
	if r.Comment != "" {
		parts = append(parts, "-m comment --comment "+quoteArg(r.Comment))
	}
	if match != "" {
		parts = append(parts, match)
	}
	if action != "" {
		parts = append(parts, action)
	}
	return strings.Join(parts, " "), nil
}

// quoteArg quotes a comment the way iptables-restore reads it back: in double quotes with backslash escapes,
// line breaks turned into spaces and cut to what the comment match accepts.
func quoteArg(s string) string {
	s = commentLineBreaks.Replace(s)
	if len(s) > maxComment {
		cut := maxComment
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return `"` + commentEscapes.Replace(s) + `"`
}

// The replacers of quoteArg, built once: building them per comment was half of rendering a large table.
var (
	commentLineBreaks = strings.NewReplacer("\n", " ", "\r", " ")
	commentEscapes    = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
)

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }

// ruleTarget returns what a rule's action jumps or goes to.
func ruleTarget(action string) (string, error) {
	args, err := splitArgs(action)
	if err != nil {
		return "", err
	}
	return targetOf(args), nil
}

func targetOf(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-j", "--jump", "-g", "--goto":
			return args[i+1]
		}
	}
	return ""
}

// splitArgs splits a rule into arguments the way iptables-restore does: on spaces, except inside double quotes,
// where a backslash escapes the next character.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, quoted, escaped := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
			inArg = true
		case !quoted && (c == ' ' || c == '\t'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}

// tableMemo remembers how renderTable last rendered one table, so that rendering the next desired table costs
// about as much as what changed in it, not its size: a chain is rendered and hashed again only when its rules
// changed, and which jumps need checking follows from the chains added, changed and removed.
//
// A chain handed again as the very same slice (same first element, same length) is taken as unchanged without
// comparing its rules: desired states are immutable once handed over (see Dataplane.Apply). With verify, rules
// are compared by content instead, which a Resync does, so that a caller that broke that rule is caught there.
type tableMemo struct {
	chains, hooks map[string]*chainMemo
	out           renderedTable  // the last rendering; its maps are updated in place by the next call
	refs          map[string]int // per felix chain: how many remembered chains (or hooks) jump or go to it
	gen           uint64         // the number of the current call, to find the chains it no longer saw
}

// chainMemo remembers the rendering of one chain for as long as its desired rules stay the same.
type chainMemo struct {
	given   []desired.Rule // the slice it was rendered from
	rules   []desired.Rule // a copy of it, compared with verify
	out     renderedChain
	targets []string // the distinct cali- chains its rules jump or go to
	gen     uint64   // the last call that saw it
}

func newTableMemo() *tableMemo {
	return &tableMemo{chains: map[string]*chainMemo{}, hooks: map[string]*chainMemo{}, refs: map[string]int{},
		out: renderedTable{chains: map[string]renderedChain{}, hooks: map[string]renderedChain{}}}
}

// same says whether rules are the rules m was rendered from.
func (m *chainMemo) same(rules []desired.Rule, verify bool) bool {
	if len(rules) != len(m.given) {
		return false
	}
	if len(rules) == 0 || (!verify && &rules[0] == &m.given[0]) {
		return true
	}
	if !slices.Equal(m.rules, rules) {
		return false
	}
	m.given = rules
	return true
}

// caliTargets lists the distinct felix chains that rules jump or go to, in the order they first appear. A chain
// jumps to a few chains many times (an endpoint chain to its policies), so checking these is much less work than
// checking every rule.
func caliTargets(rules []renderedRule) []string {
	var out []string
	for _, r := range rules {
		if isCali(r.target) && !slices.Contains(out, r.target) {
			out = append(out, r.target)
		}
	}
	return out
}

// renderTable validates a desired table and renders every rule. A nil table renders as an empty one: felix has
// nothing in that table, so whatever it left there is removed. memo, when not nil, holds the rendering of an
// earlier call: chains whose rules are unchanged reuse it (see tableMemo). The result shares its maps with memo,
// so it is only good until the next call with the same memo.
func renderTable(t *desired.Table, memo *tableMemo, verify bool) (renderedTable, error) {
	if memo == nil {
		memo = newTableMemo()
	}
	if t == nil {
		t = &desired.Table{}
	}
	rt, err := memo.render(t, verify)
	if err != nil {
		// Start afresh next time: what this call left half done is not worth reasoning about.
		*memo = *newTableMemo()
		return renderedTable{}, err
	}
	return rt, nil
}

func (memo *tableMemo) render(t *desired.Table, verify bool) (renderedTable, error) {
	memo.gen++
	type part struct {
		cali bool
		want map[string][]desired.Rule
		memo map[string]*chainMemo
		out  map[string]renderedChain
	}
	parts := []part{{true, t.Chains, memo.chains, memo.out.chains}, {false, t.Hooks, memo.hooks, memo.out.hooks}}
	var changed []string // chains and hooks rendered anew by this call
	var removed []string // felix chains no longer desired
	for _, p := range parts {
		for name, rules := range p.want {
			if m := p.memo[name]; m != nil && m.same(rules, verify) {
				m.gen = memo.gen
				continue
			}
			if err := checkChainName(name, p.cali); err != nil {
				return renderedTable{}, err
			}
			rr, err := renderChain(name, rules)
			if err != nil {
				return renderedTable{}, err
			}
			m := &chainMemo{given: rules, rules: slices.Clone(rules), out: renderedChain{rules: rr, states: ruleStates(rr)},
				targets: caliTargets(rr), gen: memo.gen}
			memo.forget(p.memo[name])
			for _, target := range m.targets {
				memo.refs[target]++
			}
			p.memo[name], p.out[name] = m, m.out
			changed = append(changed, name)
		}
		if len(p.memo) == len(p.want) {
			continue // every remembered one is still desired
		}
		for name, m := range p.memo {
			if m.gen != memo.gen {
				memo.forget(m)
				delete(p.memo, name)
				delete(p.out, name)
				if p.cali {
					removed = append(removed, name)
				}
			}
		}
	}
	// A jump can only have lost its target in a chain or hook rendered anew, or where its target went. Chain and
	// hook names never clash: one is a felix chain, the other not.
	for _, name := range changed {
		m := memo.chains[name]
		if m == nil {
			m = memo.hooks[name]
		}
		for _, target := range m.targets {
			if _, ok := t.Chains[target]; !ok {
				return renderedTable{}, danglingJump(name, m, target)
			}
		}
	}
	slices.Sort(removed)
	for _, target := range removed {
		if memo.refs[target] == 0 {
			continue
		}
		for _, mm := range []map[string]*chainMemo{memo.chains, memo.hooks} {
			for _, name := range sortedKeys(mm) {
				if slices.Contains(mm[name].targets, target) {
					return renderedTable{}, danglingJump(name, mm[name], target)
				}
			}
		}
	}
	return memo.out, nil
}

// forget drops the jumps of a chain's rendering that is being replaced or removed (nil: none) from the counts.
func (memo *tableMemo) forget(m *chainMemo) {
	if m == nil {
		return
	}
	for _, target := range m.targets {
		if memo.refs[target]--; memo.refs[target] == 0 {
			delete(memo.refs, target)
		}
	}
}

func danglingJump(chain string, m *chainMemo, target string) error {
	i := slices.IndexFunc(m.out.rules, func(r renderedRule) bool { return r.target == target })
	return fmt.Errorf("rule %d of chain %s jumps to %s, which is not a desired chain", i+1, chain, target)
}

func checkChainName(name string, cali bool) error {
	switch {
	case name == "" || strings.ContainsAny(name, " \t\n\"'"):
		return fmt.Errorf("invalid chain name %q", name)
	case len(name) > maxChainLen:
		return fmt.Errorf("chain name %q is longer than %d characters", name, maxChainLen)
	case cali && !isCali(name):
		return fmt.Errorf("felix chain %q does not start with %q", name, chainPrefix)
	case !cali && isCali(name):
		return fmt.Errorf("hooks go into kernel chains, not into felix chain %q", name)
	}
	return nil
}

func isCali(chain string) bool { return strings.HasPrefix(chain, chainPrefix) }

// ruleState is what felix needs to know about one rule in the kernel.
type ruleState struct {
	hash   string // the value of its cali: comment; "" when it has none
	target string // the chain or target it jumps or goes to; "" when none
}

// owned says whether felix put the rule there: it carries a hash, or (left by something older) it jumps to a
// felix chain. Rules jumping into cali- chains must go before those chains can be deleted.
func (r ruleState) owned() bool { return r.hash != "" || isCali(r.target) }

// tableState is felix's view of one table in the kernel: every chain, with its rules in order.
type tableState map[string][]ruleState

// parseSave reads the output of iptables-save (one or more tables) into a state per table.
func parseSave(text string) (map[string]tableState, error) {
	tables := map[string]tableState{}
	var cur tableState
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			cur = tableState{}
			tables[line[1:]] = cur
		case cur == nil:
			return nil, fmt.Errorf("iptables-save line %d: %q outside a table", n+1, line)
		case line == "COMMIT":
			cur = nil
		case line[0] == ':':
			name, _, _ := strings.Cut(line[1:], " ")
			if _, ok := cur[name]; !ok {
				cur[name] = nil
			}
		case strings.HasPrefix(line, "-A "):
			args, err := splitArgs(line)
			if err != nil || len(args) < 2 {
				return nil, fmt.Errorf("iptables-save line %d: cannot parse %q: %v", n+1, line, err)
			}
			cur[args[1]] = append(cur[args[1]], parseRule(args[2:]))
		default:
			return nil, fmt.Errorf("iptables-save line %d: unexpected %q", n+1, line)
		}
	}
	return tables, nil
}

func parseRule(args []string) ruleState {
	var r ruleState
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--comment" && r.hash == "" && strings.HasPrefix(args[i+1], hashPrefix) {
			r.hash = args[i+1][len(hashPrefix):]
		}
	}
	r.target = targetOf(args)
	return r
}

// tablePlan is what it takes to make one table match: the iptables-restore input and its effect.
type tablePlan struct {
	script  string     // iptables-restore --noflush input; "" when the kernel already matches
	stages  []string   // the same change as several transactions, when it declares more than stageLines new rules
	after   tableState // the table once the script has run
	written []string   // cali- chains created or (partly) rewritten
	hooked  []string   // other chains whose felix rules were replaced
	deleted []string   // cali- chains flushed and deleted
}

// planTable computes the iptables-restore --noflush input that turns the kernel's table (have) into the desired
// one (want), touching only what differs:
//   - a missing cali- chain is declared and filled;
//   - an existing cali- chain is left alone when its hashes match; otherwise the rules between the ones it starts
//     and ends with as desired are replaced in place, deleted or inserted (appendChainEdits);
//   - in any other chain, only rules felix owns are touched: when they are not exactly the desired hooks at the
//     top, they are deleted and the desired hooks inserted at the top; foreign rules keep their order;
//   - cali- chains that are not desired are flushed and deleted, after every rule that could refer to them has
//     been rewritten or removed.
//
// The script is one transaction, so the kernel never sees a half-written table. A script that fills new chains with
// more than stageLines rules (a cold start of thousands of endpoints) is also cut into stages, since one
// `--noflush` transaction costs more than linearly in its size (538 s for felix's 380,000-rule table of 10,000
// endpoints on nf_tables, against 21 s in stages): the new chains are declared, then filled a few chains at a
// time, then one last transaction makes every change to chains that already existed (hooks included) and deletes
// what goes. Until that last one nothing reaches the new chains, so the kernel still never runs a half-written
// chain; a stage that fails leaves unreachable chains that the next apply, rereading the table, completes. On the
// legacy backend (want.wholeTable) every transaction rewrites the whole table, so stages would only multiply that
// cost (2.7× a bare restore at 1,000 endpoints, against 1.0× in one transaction): there is always one.
func planTable(table string, want renderedTable, have tableState) tablePlan {
	p := tablePlan{after: maps.Clone(have)}
	if p.after == nil {
		p.after = tableState{}
	}
	var decl, rules, hooks, flush, del []string
	var fresh [][]string   // the -A lines of each new chain, for stages
	var relabel [][]string // the lines of each chain that only needs its hashes rewritten (legacyHashed), for stages
	var edits []string     // the lines changing chains that exist
	freshLines, relabelLines := 0, 0

	// Only chains that differ produce lines, so only they are sorted. A chain felix wrote last time from the
	// same rendering is the very slice it recorded (see renderedChain), which spares comparing its rules.
	var differ []string
	kept := 0 // desired chains that exist
	for name, wc := range want.chains {
		hr, exists := have[name]
		if exists {
			kept++
		}
		switch {
		case !exists:
		case sameStates(hr, wc.states):
			continue
		case slices.Equal(hr, wc.states):
			p.after[name] = wc.states // the same, and next time recognised as such at once
			continue
		}
		differ = append(differ, name)
	}
	slices.Sort(differ)
	for _, name := range differ {
		wc := want.chains[name]
		wr := wc.rules
		hr, exists := have[name]
		start := len(rules)
		if !exists {
			decl = append(decl, ":"+name+" - [0:0]")
			for _, r := range wr {
				rules = append(rules, "-A "+name+" "+r.spec)
			}
			fresh = append(fresh, rules[start:])
			freshLines += len(wr)
		} else {
			rules = appendChainEdits(rules, name, hr, wr)
			if len(rules) == start {
				continue
			}
			if legacyHashed(name, hr, wr) {
				relabel = append(relabel, rules[start:])
				relabelLines += len(rules) - start
			} else {
				edits = append(edits, rules[start:]...)
			}
		}
		p.after[name] = wc.states
		p.written = append(p.written, name)
	}

	hookChains := map[string]bool{}
	for name := range want.hooks {
		hookChains[name] = true
	}
	caliChains := 0
	for name, hr := range have {
		if isCali(name) {
			caliChains++
		} else if slices.ContainsFunc(hr, ruleState.owned) {
			hookChains[name] = true
		}
	}
	for _, name := range sortedKeys(hookChains) {
		wr, hr := want.hooks[name].rules, have[name]
		if hooksInPlace(wr, hr, want.appendHooks) {
			continue
		}
		var foreign []ruleState
		for i := len(hr) - 1; i >= 0; i-- {
			if hr[i].owned() {
				hooks = append(hooks, fmt.Sprintf("-D %s %d", name, i+1))
			}
		}
		for _, r := range hr {
			if !r.owned() {
				foreign = append(foreign, r)
			}
		}
		if want.appendHooks {
			for _, r := range wr {
				hooks = append(hooks, fmt.Sprintf("-A %s %s", name, r.spec))
			}
			p.after[name] = append(foreign, ruleStates(wr)...)
		} else {
			for i, r := range wr {
				hooks = append(hooks, fmt.Sprintf("-I %s %d %s", name, i+1, r.spec))
			}
			p.after[name] = append(ruleStates(wr), foreign...)
		}
		p.hooked = append(p.hooked, name)
	}

	var gone []string
	if caliChains > kept { // some felix chain in the kernel is not desired
		for name := range have {
			if _, ok := want.chains[name]; !ok && isCali(name) {
				gone = append(gone, name)
			}
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		flush = append(flush, "-F "+name)
		del = append(del, "-X "+name)
		delete(p.after, name)
		p.deleted = append(p.deleted, name)
	}

	if len(decl)+len(rules)+len(hooks)+len(del) == 0 {
		return p
	}
	p.script = restoreScript(table, decl, rules, hooks, flush, del)
	if !want.wholeTable && (freshLines > stageLines || relabelLines > stageLines) {
		p.stages = append(p.stages, restoreScript(table, decl))
		for _, group := range [][][]string{fresh, relabel} {
			var stage []string
			for i, lines := range group {
				stage = append(stage, lines...)
				if len(stage) >= stageLines || i == len(group)-1 {
					p.stages = append(p.stages, restoreScript(table, stage))
					stage = nil
				}
			}
		}
		p.stages = append(p.stages, restoreScript(table, edits, hooks, flush, del))
	}
	return p
}

// appendChainEdits appends the lines that turn an existing kernel chain (have) into the desired rules (want): the
// rules both start and end with are left alone, and the ones between are replaced in place, the extra ones
// deleted and the missing ones inserted. Since a hash covers its rule alone, one rule added or removed is one
// line, wherever it is in the chain.
func appendChainEdits(lines []string, name string, have []ruleState, want []renderedRule) []string {
	head := 0
	for head < len(want) && head < len(have) && want[head].hash == have[head].hash {
		head++
	}
	tail := 0
	for tail < len(want)-head && tail < len(have)-head && want[len(want)-1-tail].hash == have[len(have)-1-tail].hash {
		tail++
	}
	oldMid, newMid := len(have)-head-tail, len(want)-head-tail
	both := min(oldMid, newMid)
	for i := range both {
		lines = append(lines, fmt.Sprintf("-R %s %d %s", name, head+i+1, want[head+i].spec))
	}
	for i := both; i < newMid; i++ {
		if tail == 0 {
			lines = append(lines, "-A "+name+" "+want[head+i].spec)
		} else {
			lines = append(lines, fmt.Sprintf("-I %s %d %s", name, head+i+1, want[head+i].spec))
		}
	}
	for range oldMid - both {
		lines = append(lines, fmt.Sprintf("-D %s %d", name, head+both+1))
	}
	return lines
}

// legacyHashed says whether a kernel chain holds exactly the desired rules, hashed as an older felix hashed them
// (legacyRuleHashes). Such a chain differs from the desired one in its hash comments alone, so rewriting it over
// several transactions never lets a packet see anything but the desired rules; at 10,000 endpoints that is
// hundreds of thousands of rules, which one transaction would take minutes to write.
func legacyHashed(name string, have []ruleState, want []renderedRule) bool {
	// The first rule's hash is the same in both, which rules out most chains that really differ at once.
	if len(have) != len(want) || len(want) < 2 || have[0].hash != want[0].hash {
		return false
	}
	bodies := make([]string, len(want))
	bodies[0], bodies[1] = want[0].body(), want[1].body()
	// The second rule's old hash rules out almost every other chain for the price of two hashes, so a change
	// that rewrites a rule in thousands of chains does not hash every one of them twice.
	if legacyRuleHashes(name, bodies[:2])[1] != have[1].hash {
		return false
	}
	for i := 2; i < len(want); i++ {
		bodies[i] = want[i].body()
	}
	for i, h := range legacyRuleHashes(name, bodies) {
		if have[i].hash != h || have[i].target != want[i].target {
			return false
		}
	}
	return true
}

// stageLines is how many new rules one transaction of a staged plan holds, give or take a chain: about where
// `--noflush` transactions stop growing linearly on nf_tables.
var stageLines = 20000

// restoreScript is one iptables-restore transaction of the table holding the lines of each part in turn.
func restoreScript(table string, parts ...[]string) string {
	size := len("*\nCOMMIT\n") + len(table)
	for _, part := range parts {
		for _, line := range part {
			size += len(line) + 1
		}
	}
	var b strings.Builder
	b.Grow(size) // a cold start's script is tens of megabytes: growing it by doubling copied it over and over
	b.WriteString("*" + table + "\n")
	for _, part := range parts {
		for _, line := range part {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// hooksInPlace says whether a kernel chain holds exactly felix's desired hooks, at its top (or, with atEnd, at its
// end), and no other felix rule.
func hooksInPlace(want []renderedRule, have []ruleState, atEnd bool) bool {
	if len(have) < len(want) {
		return false
	}
	start, rest := 0, have[len(want):]
	if atEnd {
		start, rest = len(have)-len(want), have[:len(have)-len(want)]
	}
	for i, r := range want {
		if have[start+i].hash != r.hash {
			return false
		}
	}
	return !slices.ContainsFunc(rest, ruleState.owned)
}

// sameStates says whether a and b are the same slice, not merely equal ones.
func sameStates(a, b []ruleState) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func ruleStates(rr []renderedRule) []ruleState {
	out := make([]ruleState, len(rr))
	for i, r := range rr {
		out[i] = ruleState{hash: r.hash, target: r.target}
	}
	return out
}

// driftedChains lists the chains where the kernel (now) no longer holds what felix last wrote (then): cali-
// chains that differ, appeared or vanished, and other chains whose felix rules differ.
func driftedChains(then, now tableState) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range []tableState{then, now} {
		for name := range st {
			if seen[name] {
				continue
			}
			seen[name] = true
			a, b := then[name], now[name]
			if !isCali(name) {
				a, b = ownedRules(a), ownedRules(b)
			} else {
				_, inThen := then[name]
				_, inNow := now[name]
				if inThen != inNow {
					out = append(out, name)
					continue
				}
			}
			if !slices.Equal(a, b) {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func ownedRules(rules []ruleState) []ruleState {
	var out []ruleState
	for _, r := range rules {
		if r.owned() {
			out = append(out, r)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
