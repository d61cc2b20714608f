package dataplane

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/calico-l3/calico/felix/desired"
)

// This file is the pure half of the ipset manager: parsing `ipset save` and computing the `ipset restore`
// input that turns felix's sets in the kernel into the desired ones.

const (
	ipsetPrefix     = "cali" // felix owns every set whose name starts with it
	maxIPSetNameLen = 31
	defaultMaxElem  = 1048576
)

// setState is one ipset in the kernel.
type setState struct {
	Type    desired.IPSetType
	Family  string // inet or inet6
	Members map[string]bool
	// from is the desired set felix last wrote it from, when it did (planIPSets): a plan for the very same desired
	// set again finds it unchanged without comparing members. nil for a set read from the kernel.
	from *wantSet
}

// ipsetState is felix's sets in the kernel by name.
type ipsetState map[string]setState

// parseIPSetSave reads `ipset save` output, keeping the sets felix owns.
func parseIPSetSave(text string) (ipsetState, error) {
	st := ipsetState{}
	for n, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[1], ipsetPrefix) {
			continue
		}
		switch f[0] {
		case "create":
			s := setState{Type: desired.IPSetType(f[2]), Family: desired.FamilyInet, Members: map[string]bool{}}
			for i := 3; i+1 < len(f); i++ {
				if f[i] == "family" {
					s.Family = f[i+1]
				}
			}
			st[f[1]] = s
		case "add":
			s, ok := st[f[1]]
			if !ok {
				return nil, fmt.Errorf("ipset save line %d: member of set %s before its create line", n+1, f[1])
			}
			s.Members[f[2]] = true
		}
	}
	return st, nil
}

// wantSet is a desired set normalised to what `ipset save` prints.
type wantSet struct {
	Type    desired.IPSetType
	Family  string
	Members []string // sorted, normalised
}

// normaliseSet checks a desired set and writes its members the way the kernel reports them: addresses for
// hash:ip, canonical CIDRs for hash:net with full-length prefixes written as plain addresses, and for hash:ip,port
// "<address>,<protocol>:<port>" with the protocol in lower case. The set's family comes from its name
// (desired.IPSetFamily), and every member must be of that family.
func normaliseSet(name string, s desired.IPSet) (wantSet, error) {
	if !strings.HasPrefix(name, ipsetPrefix) || len(name) > maxIPSetNameLen || strings.ContainsAny(name, " \t\n") {
		return wantSet{}, fmt.Errorf("ipset name %q must start with %q and have at most %d characters", name, ipsetPrefix, maxIPSetNameLen)
	}
	if s.Type != desired.HashIP && s.Type != desired.HashNet && s.Type != desired.HashIPPort {
		return wantSet{}, fmt.Errorf("ipset %s: unsupported type %q", name, s.Type)
	}
	w := wantSet{Type: s.Type, Family: desired.IPSetFamily(name)}
	seen := map[string]bool{}
	for i, m := range s.Members {
		addr, port := m, ""
		if s.Type == desired.HashIPPort {
			var err error
			if addr, port, err = splitPortMember(m); err != nil {
				return wantSet{}, fmt.Errorf("ipset %s member %d: %w", name, i+1, err)
			}
		}
		pfx, err := parseMember(addr)
		if err != nil {
			return wantSet{}, fmt.Errorf("ipset %s member %d: %w", name, i+1, err)
		}
		if pfx.Addr().Is6() != (w.Family == desired.FamilyInet6) {
			return wantSet{}, fmt.Errorf("ipset %s: member %s is not of family %s", name, m, w.Family)
		}
		var norm string
		switch {
		case pfx.IsSingleIP():
			norm = pfx.Addr().String()
		case s.Type != desired.HashNet:
			return wantSet{}, fmt.Errorf("ipset %s: %s is a network, but the set is %s", name, m, s.Type)
		default:
			norm = pfx.String()
		}
		norm += port
		if !seen[norm] {
			seen[norm] = true
			w.Members = append(w.Members, norm)
		}
	}
	slices.Sort(w.Members)
	return w, nil
}

// splitPortMember splits a hash:ip,port member "10.0.0.1,tcp:8080" into its address and ",tcp:8080", checking
// the protocol and port.
func splitPortMember(m string) (addr, port string, err error) {
	addr, proto, n, err := parsePortMember(m)
	if err != nil {
		return "", "", err
	}
	return addr, "," + proto + ":" + strconv.FormatUint(uint64(n), 10), nil
}

// parsePortMember takes a hash:ip,port member "10.0.0.1,TCP:8080" apart: its address, its protocol (lower case,
// one of ipProtocols) and its port.
func parsePortMember(m string) (addr, proto string, port uint16, err error) {
	addr, pp, ok := strings.Cut(m, ",")
	proto, num, ok2 := strings.Cut(pp, ":")
	proto = strings.ToLower(proto)
	if _, known := ipProtocols[proto]; !ok || !ok2 || !known {
		return "", "", 0, fmt.Errorf("%q is not <address>,<tcp|udp|sctp|udplite>:<port>", m)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return "", "", 0, fmt.Errorf("%q has no port number 0-65535: %w", m, err)
	}
	return addr, proto, uint16(n), nil
}

func parseMember(m string) (netip.Prefix, error) {
	if strings.Contains(m, "/") {
		p, err := netip.ParsePrefix(m)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(m)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// tempSetName is the name of the set a full rewrite fills before swapping it in: felix's "cali40<id>" becomes
// "cali4t<id>" (and "cali6…" likewise); other names get a short hash so the temp name is stable and still
// starts with the prefix.
func tempSetName(name string) string {
	if len(name) > 5 && (strings.HasPrefix(name, "cali4") || strings.HasPrefix(name, "cali6")) && name[5] == '0' {
		return name[:5] + "t" + name[6:]
	}
	sum := sha256.Sum256([]byte(name))
	return "cali-t-" + base64.RawURLEncoding.EncodeToString(sum[:])[:20]
}

// ipsetPlan is what it takes to make felix's sets match.
type ipsetPlan struct {
	update string // ipset restore input creating and updating sets; run before iptables
	// edits is the same update member by member, when it only adds and deletes members of sets that exist and
	// keep their type (the common change: an endpoint comes or goes), so that it can go through netlink.
	edits   []memberEdit
	destroy string     // ipset restore input destroying stale sets; run after iptables stopped using them
	after   ipsetState // felix's sets once both scripts have run
	written []string   // sets created or changed
	deleted []string   // sets destroyed
}

// planIPSets computes the ipset restore inputs that turn the kernel's sets (have) into the desired ones. A
// missing set is created and filled. A set whose membership differs by more than half of its desired size is
// rewritten whole into a temporary set that is then swapped in, so readers never see it half-filled; smaller
// differences are applied member by member. A set of the wrong type is destroyed and recreated (which fails
// while iptables still uses it). Sets with the cali prefix that are not desired are destroyed, except those of a
// family felix leaves alone (leave, which may be nil, says so): they stay as they are.
//
// memo, when not nil, holds the normalised sets of earlier calls (see ipsetMemo); a set felix wrote from the very
// same desired set is then left as it is without looking at its members, so that planning costs about as much as
// the sets that changed.
func planIPSets(want map[string]desired.IPSet, have ipsetState, maxElem int, leave func(family string) bool, memo *ipsetMemo) (ipsetPlan, error) {
	if maxElem <= 0 {
		maxElem = defaultMaxElem
	}
	p := ipsetPlan{after: ipsetState{}}
	wants, err := memo.normalise(want, false)
	if err != nil {
		return ipsetPlan{}, err
	}
	temps := map[string]bool{}
	for name := range wants {
		temps[tempSetName(name)] = true
	}
	var up, down strings.Builder
	onlyMembers := true // the update only adds and deletes members (p.edits)
	createLine := func(name string, w *wantSet) {
		onlyMembers = false
		fmt.Fprintf(&up, "create %s %s family %s maxelem %d\n", name, w.Type, w.Family, maxElem)
	}
	// Temp sets left by an interrupted rewrite are in nobody's way once gone, and never referenced by iptables.
	for _, name := range sortedKeys(have) {
		if temps[name] {
			if _, wanted := wants[name]; !wanted {
				fmt.Fprintf(&up, "destroy %s\n", name)
				onlyMembers = false
			}
		}
	}
	for _, name := range sortedKeys(wants) {
		w := wants[name]
		h, exists := have[name]
		if exists && h.from == w {
			p.after[name] = h
			continue
		}
		p.after[name] = setState{Type: w.Type, Family: w.Family, Members: toSet(w.Members), from: w}
		switch {
		case !exists:
			createLine(name, w)
			for _, m := range w.Members {
				fmt.Fprintf(&up, "add %s %s\n", name, m)
			}
		case h.Type != w.Type || h.Family != w.Family:
			fmt.Fprintf(&up, "destroy %s\n", name)
			createLine(name, w)
			for _, m := range w.Members {
				fmt.Fprintf(&up, "add %s %s\n", name, m)
			}
		default:
			var adds, dels []string
			for _, m := range w.Members {
				if !h.Members[m] {
					adds = append(adds, m)
				}
			}
			wantMembers := p.after[name].Members
			for m := range h.Members {
				if !wantMembers[m] {
					dels = append(dels, m)
				}
			}
			if len(adds)+len(dels) == 0 {
				continue
			}
			slices.Sort(dels)
			if len(adds)+len(dels) > len(w.Members)/2 {
				tmp := tempSetName(name)
				createLine(tmp, w)
				for _, m := range w.Members {
					fmt.Fprintf(&up, "add %s %s\n", tmp, m)
				}
				fmt.Fprintf(&up, "swap %s %s\ndestroy %s\n", name, tmp, tmp)
			} else {
				for _, m := range dels {
					fmt.Fprintf(&up, "del %s %s -exist\n", name, m)
					p.edits = append(p.edits, memberEdit{set: name, typ: w.Type, member: m})
				}
				for _, m := range adds {
					fmt.Fprintf(&up, "add %s %s -exist\n", name, m)
					p.edits = append(p.edits, memberEdit{set: name, typ: w.Type, member: m, add: true})
				}
			}
		}
		p.written = append(p.written, name)
	}
	for _, name := range sortedKeys(have) {
		if _, wanted := wants[name]; wanted || temps[name] {
			continue
		}
		if leave != nil && leave(have[name].Family) {
			p.after[name] = have[name]
			continue
		}
		fmt.Fprintf(&down, "destroy %s\n", name)
		p.deleted = append(p.deleted, name)
	}
	p.update, p.destroy = up.String(), down.String()
	if !onlyMembers {
		p.edits = nil
	}
	return p, nil
}

// memberEdit is one member added to or deleted from an existing set, as ipset restore's "add|del <set> <member>
// -exist": adding one that is there or deleting one that is not is no error.
type memberEdit struct {
	set    string
	typ    desired.IPSetType
	member string // normalised (normaliseSet)
	add    bool
}

// entry is the member as the kernel's ipset netlink interface takes it.
func (e memberEdit) entry() (*netlink.IPSetEntry, error) {
	addr, proto, port := e.member, "", uint16(0)
	if e.typ == desired.HashIPPort {
		var err error
		if addr, proto, port, err = parsePortMember(e.member); err != nil {
			return nil, fmt.Errorf("ipset %s: %w", e.set, err)
		}
	}
	pfx, err := parseMember(addr)
	if err != nil {
		return nil, fmt.Errorf("ipset %s member %s: %w", e.set, e.member, err)
	}
	// Without NLM_F_EXCL the kernel takes the edit as ipset's -exist does.
	entry := &netlink.IPSetEntry{IP: pfx.Addr().AsSlice(), Replace: true}
	if e.typ == desired.HashNet {
		entry.CIDR = uint8(pfx.Bits())
	}
	if e.typ == desired.HashIPPort {
		p := ipProtocols[proto]
		entry.Protocol, entry.Port = &p, &port
	}
	return entry, nil
}

// ipProtocols are the protocols a hash:ip,port member may name, with their numbers.
var ipProtocols = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132, "udplite": 136}

// driftedSets lists the sets whose kernel content (now) differs from what felix last wrote (then).
func driftedSets(then, now ipsetState) []string {
	var out []string
	for name, a := range then {
		b, ok := now[name]
		if !ok || a.Type != b.Type || a.Family != b.Family || !sameKeys(a.Members, b.Members) {
			out = append(out, name)
		}
	}
	for name := range now {
		if _, ok := then[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func toSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

func sameKeys(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// ipsetMemo remembers the normalised form of each desired set for as long as the caller hands the same one:
// normalising parses every member, which for a large node is far more work than the few members that change.
// A set handed again with the very same Members slice (same first element, same length) and type is taken as
// unchanged without looking at its members: desired states are immutable once handed over (see
// Dataplane.Apply). With verify, members are compared by content instead.
type ipsetMemo struct {
	sets map[string]*setMemo
}

type setMemo struct {
	given   []string // the members it was normalised from
	members []string // a copy of them, compared with verify
	typ     desired.IPSetType
	want    *wantSet
	// canonical: the members normalised to themselves (sorted, distinct, each as the kernel writes it), as
	// felix's calculation gives them; the next members of the set are then checked only where they are new.
	canonical bool
}

// normalise returns every desired set normalised (see normaliseSet), reusing what the memo holds and leaving in it
// exactly the sets of want. A nil memo normalises every set.
func (memo *ipsetMemo) normalise(want map[string]desired.IPSet, verify bool) (map[string]*wantSet, error) {
	out := make(map[string]*wantSet, len(want))
	for name, s := range want {
		var m *setMemo
		if memo != nil {
			if m = memo.sets[name]; m != nil && m.same(s, verify) {
				out[name] = m.want
				continue
			}
		}
		var w wantSet
		ok := m != nil && m.canonical && m.typ == s.Type && !verify
		if ok {
			w, ok = normaliseNew(name, s, m.want.Members)
		}
		if !ok {
			var err error
			if w, err = normaliseSet(name, s); err != nil {
				return nil, err
			}
			ok = slices.Equal(w.Members, s.Members)
		}
		out[name] = &w
		if memo != nil {
			if memo.sets == nil {
				memo.sets = map[string]*setMemo{}
			}
			members := w.Members // when canonical, equal to the given members, and as private: neither is ever changed
			if !ok {
				members = slices.Clone(s.Members)
			}
			memo.sets[name] = &setMemo{given: s.Members, members: members, typ: s.Type, want: &w, canonical: ok}
		}
	}
	if memo != nil && len(memo.sets) != len(want) {
		for name := range memo.sets {
			if _, ok := want[name]; !ok {
				delete(memo.sets, name)
			}
		}
	}
	return out, nil
}

// normaliseNew normalises a set whose earlier members (prev) normalised to themselves, reading only its members
// that are not in prev: when its members are sorted and distinct and each new one normalises to itself, they are
// the normalised set, which costs a comparison per member instead of parsing each. ok is false otherwise, and
// the set must be normalised in full (which also reports what is wrong with it).
func normaliseNew(name string, s desired.IPSet, prev []string) (w wantSet, ok bool) {
	var added []string
	j := 0
	for i, m := range s.Members {
		if i > 0 && s.Members[i-1] >= m {
			return wantSet{}, false
		}
		for j < len(prev) && prev[j] < m {
			j++
		}
		if j < len(prev) && prev[j] == m {
			j++
			continue
		}
		added = append(added, m)
	}
	check, err := normaliseSet(name, desired.IPSet{Type: s.Type, Members: added})
	if err != nil || !slices.Equal(check.Members, added) {
		return wantSet{}, false
	}
	return wantSet{Type: s.Type, Family: check.Family, Members: slices.Clone(s.Members)}, true
}

func (m *setMemo) same(s desired.IPSet, verify bool) bool {
	if s.Type != m.typ || len(s.Members) != len(m.given) {
		return false
	}
	if len(s.Members) == 0 || (!verify && &s.Members[0] == &m.given[0]) {
		return true
	}
	if !slices.Equal(m.members, s.Members) {
		return false
	}
	m.given = s.Members
	return true
}
