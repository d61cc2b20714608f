package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/selector"
)

func TestChainNameHashesNamesThatDoNotFit(t *testing.T) {
	tests := []struct {
		name, prefix, in string
		want             string // "" means: hashed, check the shape only
	}{
		{"a short name is kept", PrefixProfileIngress, "net1", "cali-pri-net1"},
		{"a name that makes exactly 28 characters is kept", PrefixPolicyIngress, "abcdefghijklmnopqrst", "cali-pi-abcdefghijklmnopqrst"},
		{"a name that makes 29 characters is hashed", PrefixPolicyIngress, "abcdefghijklmnopqrstu", ""},
		{"a 28-character result starting with _ is hashed so it cannot clash with a hash", PrefixPolicyIngress, "_bcdefghijklmnopqrst", ""},
		{"a long namespaced policy name is hashed", PrefixPolicyEgress, "team-a/a-rather-long-policy-name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChainName(tt.prefix, tt.in)
			if tt.want != "" {
				if got != tt.want {
					t.Errorf("ChainName(%q, %q) = %q, want %q", tt.prefix, tt.in, got, tt.want)
				}
				return
			}
			if len(got) != maxChainName || !strings.HasPrefix(got, tt.prefix+"_") {
				t.Errorf("ChainName(%q, %q) = %q, want %s_ and a hash, 28 characters in all", tt.prefix, tt.in, got, tt.prefix)
			}
			if again := ChainName(tt.prefix, tt.in); again != got {
				t.Errorf("ChainName is not stable: %q then %q", got, again)
			}
			if other := ChainName(tt.prefix, tt.in+"x"); other == got {
				t.Errorf("ChainName gives %q for both %q and %q", got, tt.in, tt.in+"x")
			}
		})
	}
}

func TestEndpointToHostTargetAcceptsAnyCaseAndDefaultsToDrop(t *testing.T) {
	for in, want := range map[string]string{"Drop": "DROP", "DROP": "DROP", "Accept": "ACCEPT", "accept": "ACCEPT",
		"Return": "RETURN", "": "DROP", "bogus": "DROP"} {
		if got := EndpointToHostTarget(in); got != want {
			t.Errorf("EndpointToHostTarget(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRuleRenderingErrors(t *testing.T) {
	tests := []struct {
		name string
		rule api.Rule
		want string
	}{
		{"ports without a protocol are refused", api.Rule{Action: api.ActionAllow, Destination: api.EntityRule{Ports: ports("80")}}, "must set protocol"},
		{"ports with ICMP are refused", api.Rule{Action: api.ActionAllow, Protocol: proto("ICMP"), Source: api.EntityRule{NotPorts: ports("80")}}, "must set protocol"},
		{"an icmp match without protocol ICMP is refused", api.Rule{Action: api.ActionAllow, ICMP: &api.ICMPFields{Type: ptr(8)}}, "need protocol ICMP or ICMPv6"},
		{"an unknown action is refused", api.Rule{Action: "Maybe"}, `action "Maybe"`},
		{"an unknown protocol name is refused", api.Rule{Action: api.ActionAllow, Protocol: proto("QUIC")}, `protocol "QUIC"`},
		{"a bad selector is refused", api.Rule{Action: api.ActionAllow, Source: api.EntityRule{Selector: "a =="}}, "parsing selector"},
	}
	r := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Profile("p", api.ProfileSpec{Ingress: []api.Rule{{Action: api.ActionDeny}, tt.rule}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("expected an error containing %q, got %v", tt.want, err)
			}
			if !strings.Contains(err.Error(), "profile p ingress rule 2") {
				t.Errorf("expected the error to say where (profile p ingress rule 2), got %v", err)
			}
		})
	}
}

func TestRulesThatCannotMatchTheFamilyAreLeftOut(t *testing.T) {
	tests := []struct {
		name    string
		version int
		rule    api.Rule
	}{
		{"IPv4: ipVersion 6", 4, api.Rule{Action: api.ActionAllow, IPVersion: ptr(6)}},
		{"IPv4: protocol ICMPv6", 4, api.Rule{Action: api.ActionAllow, Protocol: proto("ICMPv6")}},
		{"IPv4: only IPv6 source nets", 4, api.Rule{Action: api.ActionDeny, Source: api.EntityRule{Nets: []string{"fd00::/64"}}}},
		{"IPv4: only IPv6 destination nets", 4, api.Rule{Action: api.ActionDeny, Destination: api.EntityRule{Nets: []string{"fd00::1/128"}}}},
		{"IPv6: ipVersion 4", 6, api.Rule{Action: api.ActionAllow, IPVersion: ptr(4)}},
		{"IPv6: protocol ICMP", 6, api.Rule{Action: api.ActionAllow, Protocol: proto("ICMP"), ICMP: &api.ICMPFields{Type: ptr(8)}}},
		{"IPv6: only IPv4 source nets", 6, api.Rule{Action: api.ActionDeny, Source: api.EntityRule{Nets: []string{"10.0.0.0/8"}}}},
		{"IPv6: only IPv4 destination nets", 6, api.Rule{Action: api.ActionDeny, Destination: api.EntityRule{Nets: []string{"10.0.0.1"}}}},
		// As in Calico: dropping every excluded CIDR would widen the rule to all traffic of the family.
		{"IPv6: only IPv4 source notNets", 6, api.Rule{Action: api.ActionAllow, Source: api.EntityRule{NotNets: []string{"10.0.0.0/8"}}}},
		{"IPv4: only IPv6 destination notNets", 4, api.Rule{Action: api.ActionAllow, Destination: api.EntityRule{NotNets: []string{"fd00::/64", "fd01::/64"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := New(Config{IPVersion: tt.version}).Profile("p", api.ProfileSpec{Ingress: []api.Rule{tt.rule}})
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Chains["cali-pri-p"]; len(got) != 0 {
				t.Errorf("expected no rules in cali-pri-p, got %v", got)
			}
			if len(out.IPSets) != 0 {
				t.Errorf("expected no ipsets for a rule left out, got %v", out.IPSets)
			}
		})
	}
}

func TestARuleIsValidOrInvalidForBothFamiliesAlike(t *testing.T) {
	tests := []struct {
		name string
		rule api.Rule
		want string
	}{
		{"an IPv6-only rule with ports but no protocol", api.Rule{Action: api.ActionAllow, IPVersion: ptr(6),
			Destination: api.EntityRule{Ports: ports("80")}}, "must set protocol"},
		{"an IPv4-only rule with a bad selector", api.Rule{Action: api.ActionAllow, IPVersion: ptr(4),
			Source: api.EntityRule{Selector: "a =="}}, "parsing selector"},
		{"an ICMP rule with an unknown action", api.Rule{Action: "Maybe", Protocol: proto("ICMP")}, `action "Maybe"`},
	}
	for _, tt := range tests {
		for _, v := range []int{4, 6} {
			t.Run(fmt.Sprintf("%s, IPv%d", tt.name, v), func(t *testing.T) {
				_, err := New(Config{IPVersion: v}).Profile("p", api.ProfileSpec{Egress: []api.Rule{tt.rule}})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("expected an error containing %q, got %v", tt.want, err)
				}
			})
		}
	}
}

func TestIPv6RulesUseICMPv6AndIPv6Sets(t *testing.T) {
	out, err := New(Config{IPVersion: 6}).Profile("p", api.ProfileSpec{Ingress: []api.Rule{
		{Action: api.ActionDeny, Protocol: proto("ICMPv6"), ICMP: &api.ICMPFields{Type: ptr(128)},
			Source: api.EntityRule{Selector: "has(a)", Nets: []string{"10.0.0.0/8", "fd00::/64"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	set := setName(ipsetPrefixV6, selector.MustParse("has(a)"))
	want := []desired.Rule{{Match: "-p ipv6-icmp -s fd00::/64 -m set --match-set " + set + " src -m icmp6 --icmpv6-type 128",
		Action: "--jump DROP"}}
	if got := out.Chains["cali-pri-p"]; !equalRules(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(out.IPSets) != 1 || out.IPSets[0].Name != set || !strings.HasPrefix(set, "cali60s:") {
		t.Errorf("IPSets = %+v, want the one cali60s: set %s", out.IPSets, set)
	}
	if v4 := setName(ipsetPrefixV4, selector.MustParse("has(a)")); v4[len("cali40"):] != set[len("cali60"):] {
		t.Errorf("the IPv4 and IPv6 sets of one selector should differ only in the prefix: %s and %s", v4, set)
	}
}

func TestIPv6StaticChains(t *testing.T) {
	tables := New(Config{IPVersion: 6, IPIP: true, NATOutgoing: true}).Static()
	for _, r := range tables[TableFilter].Chains[ChainInput] {
		if strings.Contains(r.Match, "-p 4") {
			t.Errorf("expected no IPIP rules in the IPv6 cali-INPUT, got %v", r)
		}
	}
	if got := tables[TableNAT].Chains[ChainPostrouting]; len(got) != 1 {
		t.Errorf("expected the IPv6 cali-POSTROUTING to hold only the jump to cali-nat-outgoing, got %v", got)
	}
	if nat := tables[TableNAT].Chains[ChainNATOutgoing]; len(nat) != 1 || !strings.Contains(nat[0].Match, IPSetMasqPoolsV6) ||
		!strings.Contains(nat[0].Match, IPSetAllPoolsV6) {
		t.Errorf("expected cali-nat-outgoing to masquerade with the cali60 pool sets, got %v", nat)
	}
	var types []string
	toHost := tables[TableFilter].Chains[ChainWorkloadToHost]
	for _, r := range toHost {
		if t, ok := strings.CutPrefix(r.Match, "-p ipv6-icmp -m icmp6 --icmpv6-type "); ok && r.Action == "--jump ACCEPT" {
			types = append(types, t)
		}
	}
	if want := "130 131 132 133 135 136"; strings.Join(types, " ") != want {
		t.Errorf("cali-wl-to-host accepts ICMPv6 types %v, want %s", types, want)
	}
	if len(toHost) < 7 || toHost[6].Action != jump(ChainFromWorkloadDispatch) {
		t.Errorf("expected the ICMPv6 accepts before the workload's egress policy, got %v", toHost)
	}
	if raw := tables[TableRaw].Chains[ChainPrerouting]; len(raw) != 2 || raw[1].Match != "-i cali+ -m rpfilter --invert" {
		t.Errorf("expected raw cali-PREROUTING to drop workload traffic failing the reverse-path check, got %v", raw)
	}
	if raw4 := New(Config{}).Static()[TableRaw].Chains[ChainPrerouting]; len(raw4) != 1 {
		t.Errorf("expected no rpfilter rule for IPv4 (the rp_filter sysctl does it), got %v", raw4)
	}
}

func TestIPv6NotNetsAreIgnoredInIPv4Rules(t *testing.T) {
	out, err := New(Config{}).Profile("p", api.ProfileSpec{Ingress: []api.Rule{
		{Action: api.ActionDeny, Source: api.EntityRule{NotNets: []string{"fd00::/64", "10.0.0.0/8"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []desired.Rule{{Match: "! -s 10.0.0.0/8", Action: "--jump DROP"}}
	if got := out.Chains["cali-pri-p"]; !equalRules(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRenderedListsEachSelectorSetOnce(t *testing.T) {
	out, err := New(Config{}).Profile("p", api.ProfileSpec{
		Ingress: []api.Rule{
			{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(a)"}},
			{Action: api.ActionDeny, Source: api.EntityRule{NotSelector: "has(b)"}},
		},
		Egress: []api.Rule{{Action: api.ActionAllow, Destination: api.EntityRule{Selector: "has( a )"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{setName(ipsetPrefixV4, selector.MustParse("has(a)")), setName(ipsetPrefixV4, selector.MustParse("has(b)"))}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	var got []string
	for _, s := range out.IPSets {
		got = append(got, s.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("IPSets = %v, want %v", got, want)
	}
}

func TestSelectorSets(t *testing.T) {
	nsLabel := func(ns string, extra map[string]string) map[string]string {
		l := map[string]string{api.LabelNamespace: ns}
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	tests := []struct {
		name      string
		entity    api.EntityRule
		namespace string // of the policy
		wantName  string // "" skips the check
		member    map[string]string
		memberNS  string
		want      bool
	}{
		{"a profile selector is Calico's ipset of that selector", api.EntityRule{Selector: "has(net1)"}, "",
			setName(ipsetPrefixV4, selector.MustParse("has(net1)")), nsLabel("other", map[string]string{"net1": ""}), "other", true},
		{"a NetworkPolicy selector is limited to the policy's namespace", api.EntityRule{Selector: "role == 'db'"}, "team-a",
			setName(ipsetPrefixV4, selector.MustParse(`(role == "db") && projectcalico.org/namespace == "team-a"`)),
			nsLabel("team-b", map[string]string{"role": "db"}), "team-b", false},
		{"a NetworkPolicy selector matches in its own namespace", api.EntityRule{Selector: "role == 'db'"}, "team-a", "",
			nsLabel("team-a", map[string]string{"role": "db"}), "team-a", true},
		{"namespaceSelector all() lifts the namespace limit", api.EntityRule{Selector: "role == 'db'", NamespaceSelector: "all()"}, "team-a", "",
			nsLabel("team-b", map[string]string{"role": "db"}), "team-b", true},
		{"namespaceSelector picks namespaces by name", api.EntityRule{NamespaceSelector: "projectcalico.org/name == 'team-b'"}, "", "",
			nsLabel("team-b", nil), "team-b", true},
		{"namespaceSelector never matches a member without a namespace", api.EntityRule{NamespaceSelector: "all()"}, "", "",
			map[string]string{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos, _, err := New(Config{}).entitySets(tt.entity, tt.namespace)
			if err != nil {
				t.Fatal(err)
			}
			if pos == nil {
				t.Fatal("expected a selector set, got none")
			}
			if tt.wantName != "" && pos.Name != tt.wantName {
				t.Errorf("set name = %q, want %q", pos.Name, tt.wantName)
			}
			if len(pos.Name) > maxIPSetName || !strings.HasPrefix(pos.Name, "cali40s:") {
				t.Errorf("set name %q is not a cali40s: name of at most 31 characters", pos.Name)
			}
			if got := pos.Contains(tt.member, tt.memberNS); got != tt.want {
				t.Errorf("Contains(%v, %q) = %v, want %v", tt.member, tt.memberNS, got, tt.want)
			}
		})
	}
}

func TestNotSelectorIsNotLimitedToTheNamespace(t *testing.T) {
	_, neg, err := New(Config{}).entitySets(api.EntityRule{NotSelector: "has(x)"}, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if want := setName(ipsetPrefixV4, selector.MustParse("has(x)")); neg == nil || neg.Name != want {
		t.Fatalf("expected the notSelector set %s, got %+v", want, neg)
	}
}

func TestANotSelectorAloneInANetworkPolicyStillPicksOnlyEndpointsOfItsNamespace(t *testing.T) {
	// As in Calico: the namespace limits the rule's positive side even when only notSelector is given, so the
	// rule does not match every address in the world that is not one of the excluded endpoints.
	pos, _, err := New(Config{}).entitySets(api.EntityRule{NotSelector: "has(x)"}, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if pos == nil {
		t.Fatal("expected a selector set limited to namespace team-a, got none (the rule would match any source)")
	}
	inNS := map[string]string{api.LabelNamespace: "team-a"}
	otherNS := map[string]string{api.LabelNamespace: "team-b"}
	if !pos.Contains(inNS, "team-a") || pos.Contains(otherNS, "team-b") {
		t.Errorf("expected the set %s to hold endpoints of team-a only; team-a: %v, team-b: %v",
			pos.Selector, pos.Contains(inNS, "team-a"), pos.Contains(otherNS, "team-b"))
	}
	pos, _, err = New(Config{}).entitySets(api.EntityRule{NotSelector: "has(x)"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if pos != nil {
		t.Errorf("expected no positive set for a notSelector alone in a global policy, got %s", pos.Selector)
	}
}

func TestPolicyRendersOnlyTheDirectionsItApplies(t *testing.T) {
	out, err := New(Config{}).Policy(Policy{Name: "p", Ingress: true, EgressRules: []api.Rule{{Action: api.ActionAllow}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Chains["cali-pi-p"]; !ok {
		t.Errorf("expected an (empty) cali-pi-p chain so the policy drops ingress, got chains %v", sortedKeys(out.Chains))
	}
	if _, ok := out.Chains["cali-po-p"]; ok {
		t.Errorf("expected no cali-po-p chain for an ingress-only policy, got one")
	}
}

func TestStaticChainsFollowTheConfig(t *testing.T) {
	t.Run("several interface prefixes each get a dispatch jump", func(t *testing.T) {
		tables := New(Config{InterfacePrefixes: []string{"cali", "tap"}}).Static()
		fwd := tables[TableFilter].Chains[ChainForward]
		var got []string
		for _, r := range fwd {
			got = append(got, r.Match)
		}
		want := "|-i cali+|-i tap+|-o cali+|-o tap+|-m mark --mark 0x10000/0x10000"
		if strings.Join(got, "|") != want {
			t.Errorf("cali-FORWARD matches = %q, want %q", strings.Join(got, "|"), want)
		}
	})
	t.Run("nat outgoing is empty without natOutgoing pools", func(t *testing.T) {
		tables := New(Config{}).Static()
		chain, ok := tables[TableNAT].Chains[ChainNATOutgoing]
		if !ok || len(chain) != 0 {
			t.Errorf("expected an empty cali-nat-outgoing chain, got %v (present %v)", chain, ok)
		}
	})
	t.Run("a log prefix is quoted and cut to iptables' 29 characters", func(t *testing.T) {
		out, err := New(Config{LogPrefix: `a "very" long log prefix that goes on`}).Profile("p",
			api.ProfileSpec{Ingress: []api.Rule{{Action: api.ActionLog}}})
		if err != nil {
			t.Fatal(err)
		}
		want := `--jump LOG --log-prefix "a very long log prefix that g" --log-level 5`
		if got := out.Chains["cali-pri-p"][0].Action; got != want {
			t.Errorf("action = %q, want %q", got, want)
		}
	})
}

func equalRules(a, b []desired.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestANamespaceSelectorMatchesTheNamespaceLabelsAMemberInherits(t *testing.T) {
	ns, err := selector.Parse("team == 'db'")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := selector.Parse("all()")
	set := SelectorSet{Selector: all, NamespaceSelector: ns}
	byName, _ := selector.Parse("projectcalico.org/name == 'prod'")
	named := SelectorSet{Selector: all, NamespaceSelector: byName}
	for _, tc := range []struct {
		name      string
		set       SelectorSet
		labels    map[string]string
		namespace string
		want      bool
	}{
		{"a member whose namespace profile applied pcns.team=db matches", set, map[string]string{"pcns.team": "db"}, "prod", true},
		{"a member of a namespace labelled otherwise does not", set, map[string]string{"pcns.team": "web"}, "prod", false},
		{"a member's own team label is not its namespace's", set, map[string]string{"team": "db"}, "prod", false},
		{"a member without a namespace never matches", set, map[string]string{"pcns.team": "db"}, "", false},
		{"the namespace's name matches without any inherited label", named, nil, "prod", true},
		{"an inherited name label cannot override the namespace's own", named, map[string]string{"pcns.projectcalico.org/name": "prod"}, "dev", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.set.Contains(tc.labels, tc.namespace); got != tc.want {
				t.Errorf("Contains(%v, %q) = %v, want %v", tc.labels, tc.namespace, got, tc.want)
			}
		})
	}
}
