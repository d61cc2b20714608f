package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

// tierSteps lists the tier boundaries and the policy and profile jumps of an endpoint's ingress chain, in order.
func tierSteps(t *testing.T, ep Endpoint) []string {
	t.Helper()
	chain := New(Config{}).Endpoint(ep)[ChainName(PrefixToWorkload, ep.Iface)]
	var steps []string
	for _, r := range chain {
		switch {
		case strings.HasPrefix(r.Comment, "Start of tier"), strings.HasPrefix(r.Comment, "End of tier"):
			steps = append(steps, r.Comment)
		case strings.HasPrefix(r.Action, "--jump "+PrefixPolicyIngress):
			steps = append(steps, strings.TrimPrefix(r.Action, "--jump "))
		case strings.HasPrefix(r.Action, "--jump "+PrefixProfileIngress):
			steps = append(steps, strings.TrimPrefix(r.Action, "--jump "))
		}
	}
	return steps
}

func TestEndpointChainsRunTiersInOrder(t *testing.T) {
	cases := []struct {
		name  string
		tiers []Tier
		want  []string
	}{
		{
			"each tier ends in a drop unless its default action is Pass",
			[]Tier{
				{Name: "security", DefaultAction: api.ActionDeny, Policies: []string{"security.a", "security.b"}},
				{Name: "platform", DefaultAction: api.ActionPass, Policies: []string{"platform.c"}},
				{Name: "default", DefaultAction: api.ActionDeny, Policies: []string{"d"}},
			},
			[]string{
				"Start of tier security", "cali-pi-security.a", "cali-pi-security.b", "End of tier security: drop if no policy passed packet",
				"Start of tier platform", "cali-pi-platform.c",
				"Start of tier default", "cali-pi-d", "End of tier default: drop if no policy passed packet",
				"cali-pri-net1",
			},
		},
		{
			"a tier with no policy for the endpoint is left out",
			[]Tier{{Name: "security", DefaultAction: api.ActionDeny}, {Name: "default", Policies: []string{"d"}}},
			[]string{"Start of tier default", "cali-pi-d", "End of tier default: drop if no policy passed packet", "cali-pri-net1"},
		},
		{
			"an unset default action drops, as Deny does",
			[]Tier{{Name: "app", Policies: []string{"app.x"}}},
			[]string{"Start of tier app", "cali-pi-app.x", "End of tier app: drop if no policy passed packet", "cali-pri-net1"},
		},
		{
			"without tiers only the profiles judge",
			nil,
			[]string{"cali-pri-net1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tierSteps(t, Endpoint{Iface: "cali1", IngressTiers: c.tiers, Profiles: []string{"net1"}})
			if !slices.Equal(got, c.want) {
				t.Errorf("ingress chain steps:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestPreDNATAndUntrackedTiersNeverDropAtTheEndOfATier(t *testing.T) {
	tiers := []Tier{{Name: "security", DefaultAction: api.ActionDeny, Policies: []string{"security.a"}}}
	tables := New(Config{}).HostEndpoints([]HostEndpoint{{Iface: "eth0", PreDNATTiers: tiers, UntrackedIngressTiers: tiers}})
	for _, table := range []string{TableMangle, TableRaw} {
		chain := tables[table][ChainName(PrefixFromHostEndpoint, "eth0")]
		if len(chain) == 0 {
			t.Fatalf("%s table has no chain for eth0", table)
		}
		for _, r := range chain {
			if r.Action == "--jump DROP" {
				t.Errorf("%s chain drops (%q): pre-DNAT and untracked policy leave unjudged traffic to the filter table", table, r.Comment)
			}
		}
	}
	fwd := tables[TableFilter][ChainName(PrefixFromHostEndpointForward, "eth0")]
	if len(fwd) != 0 {
		t.Errorf("without applyOnForward policy the forward chain should be empty, got %v", fwd)
	}
}
