package rules

import (
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
		{"an icmp match without protocol ICMP is refused", api.Rule{Action: api.ActionAllow, ICMP: &api.ICMPFields{Type: ptr(8)}}, "need protocol ICMP"},
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

func TestRulesThatCannotMatchIPv4AreLeftOut(t *testing.T) {
	tests := []struct {
		name string
		rule api.Rule
	}{
		{"ipVersion 6", api.Rule{Action: api.ActionAllow, IPVersion: ptr(6)}},
		{"protocol ICMPv6", api.Rule{Action: api.ActionAllow, Protocol: proto("ICMPv6")}},
		{"only IPv6 source nets", api.Rule{Action: api.ActionDeny, Source: api.EntityRule{Nets: []string{"fd00::/64"}}}},
		{"only IPv6 destination nets", api.Rule{Action: api.ActionDeny, Destination: api.EntityRule{Nets: []string{"fd00::1/128"}}}},
		{"only named ports", api.Rule{Action: api.ActionAllow, Protocol: proto("TCP"), Destination: api.EntityRule{Ports: ports("http")}}},
	}
	r := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := r.Profile("p", api.ProfileSpec{Ingress: []api.Rule{tt.rule}})
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Chains["cali-pri-p"]; len(got) != 0 {
				t.Errorf("expected no rules in cali-pri-p, got %v", got)
			}
		})
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
	want := []string{setName(selector.MustParse("has(a)")), setName(selector.MustParse("has(b)"))}
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
			setName(selector.MustParse("has(net1)")), nsLabel("other", map[string]string{"net1": ""}), "other", true},
		{"a NetworkPolicy selector is limited to the policy's namespace", api.EntityRule{Selector: "role == 'db'"}, "team-a",
			setName(selector.MustParse(`(role == "db") && projectcalico.org/namespace == "team-a"`)),
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
			pos, _, err := entitySets(tt.entity, tt.namespace)
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
	_, neg, err := entitySets(api.EntityRule{NotSelector: "has(x)"}, "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if want := setName(selector.MustParse("has(x)")); neg == nil || neg.Name != want {
		t.Fatalf("expected the notSelector set %s, got %+v", want, neg)
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
