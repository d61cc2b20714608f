package calc

import (
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
)

func tier(name string, order *float64, action string) *api.Tier {
	return &api.Tier{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.TierSpec{Order: order, DefaultAction: action}}
}

// inTier puts a global policy in a tier, naming it <tier>.<name> as Calico requires.
func inTier(t string, p *api.GlobalNetworkPolicy) *api.GlobalNetworkPolicy {
	p.Name, p.Spec.Tier = t+"."+p.Name, t
	return p
}

// tierSteps lists, in order, the tier boundaries (their comments) and the policy and profile jumps of a chain.
func tierSteps(rs []desired.Rule) []string {
	var out []string
	for _, r := range rs {
		switch {
		case strings.HasPrefix(r.Comment, "Start of tier"), strings.HasPrefix(r.Comment, "End of tier"):
			out = append(out, r.Comment)
		case strings.HasPrefix(r.Action, "--jump cali-p"):
			out = append(out, strings.TrimPrefix(r.Action, "--jump "))
		}
	}
	return out
}

func TestTiersRunInOrderThenNameWithTheDefaultTierImplied(t *testing.T) {
	endOf := func(tier string) string { return "End of tier " + tier + ": drop if no policy passed packet" }
	cases := []struct {
		name   string
		events []datastore.Event
		want   []string
	}{
		{
			"without tiers every policy is in the default tier",
			[]datastore.Event{added(gnp("b", ptr(2.0), "all()")), added(gnp("a", ptr(2.0), "all()"))},
			[]string{"Start of tier default", "cali-pi-a", "cali-pi-b", endOf("default"), "cali-pri-net1"},
		},
		{
			"the default tier as startup stores it gives the same chain as the implied one",
			[]datastore.Event{added(api.DefaultTier()), added(gnp("b", ptr(2.0), "all()")), added(gnp("a", ptr(2.0), "all()"))},
			[]string{"Start of tier default", "cali-pi-a", "cali-pi-b", endOf("default"), "cali-pri-net1"},
		},
		{
			"a tier of lower order runs before the default tier whatever the policies' orders",
			[]datastore.Event{
				added(tier("security", ptr(100.0), "")),
				added(gnp("first", ptr(1.0), "all()")),
				added(inTier("security", gnp("block", ptr(500.0), "all()"))),
			},
			[]string{"Start of tier security", "cali-pi-security.block", endOf("security"),
				"Start of tier default", "cali-pi-first", endOf("default"), "cali-pri-net1"},
		},
		{
			"a tier of higher order runs after the default tier",
			[]datastore.Event{
				added(tier("late", ptr(2e6), "")),
				added(inTier("late", gnp("x", nil, "all()"))),
				added(gnp("first", ptr(1.0), "all()")),
			},
			[]string{"Start of tier default", "cali-pi-first", endOf("default"),
				"Start of tier late", "cali-pi-late.x", endOf("late"), "cali-pri-net1"},
		},
		{
			"tiers of equal order go by name, a tier without order taking the default tier's",
			[]datastore.Event{
				added(tier("app", nil, "")),
				added(tier("zone", nil, "")),
				added(inTier("zone", gnp("z", nil, "all()"))),
				added(inTier("app", gnp("a", nil, "all()"))),
				added(gnp("d", nil, "all()")),
			},
			[]string{"Start of tier app", "cali-pi-app.a", endOf("app"), "Start of tier default", "cali-pi-d", endOf("default"),
				"Start of tier zone", "cali-pi-zone.z", endOf("zone"), "cali-pri-net1"},
		},
		{
			"a tier whose default action is Pass has no drop at its end",
			[]datastore.Event{
				added(tier("platform", ptr(10.0), api.ActionPass)),
				added(inTier("platform", gnp("monitor", nil, "all()"))),
			},
			[]string{"Start of tier platform", "cali-pi-platform.monitor", "cali-pri-net1"},
		},
		{
			"a tier with no policy for the endpoint is left out",
			[]datastore.Event{
				added(tier("security", ptr(100.0), "")),
				added(inTier("security", gnp("db-only", nil, "app == 'db'"))),
				added(gnp("d", nil, "all()")),
			},
			[]string{"Start of tier default", "cali-pi-d", endOf("default"), "cali-pri-net1"},
		},
		{
			"a stored policy without spec.tier is in the tier its name implies, as Calico reads it",
			[]datastore.Event{
				added(tier("security", ptr(100.0), "")),
				added(gnp("d", nil, "all()")),
				added(gnp("security.legacy", nil, "all()")),
			},
			[]string{"Start of tier security", "cali-pi-security.legacy", endOf("security"),
				"Start of tier default", "cali-pi-d", endOf("default"), "cali-pri-net1"},
		},
		{
			"a policy of a tier that does not exist runs after every tier and ends in a drop",
			[]datastore.Event{
				added(tier("late", ptr(2e6), "")),
				added(inTier("late", gnp("x", nil, "all()"))),
				added(inTier("ghost", gnp("g", nil, "all()"))),
			},
			[]string{"Start of tier late", "cali-pi-late.x", endOf("late"), "Start of tier ghost", "cali-pi-ghost.g", endOf("ghost"), "cali-pri-net1"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calc := newCalc(t, append([]datastore.Event{added(wep(host, "a", "calia", "10.1.0.5/32", "net1"))}, c.events...)...)
			got := tierSteps(chain(t, calc.State(), "cali-tw-calia"))
			if !slices.Equal(got, c.want) {
				t.Errorf("cali-tw-calia:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestChangingOrDeletingATierReordersTheEndpointChains(t *testing.T) {
	sec := tier("security", ptr(100.0), "")
	c := newCalc(t,
		added(wep(host, "a", "calia", "10.1.0.5/32", "net1")),
		added(sec),
		added(inTier("security", gnp("block", nil, "all()"))),
		added(gnp("d", nil, "all()")),
	)
	first := func() string { return tierSteps(chain(t, c.State(), "cali-tw-calia"))[0] }
	if got := first(); got != "Start of tier security" {
		t.Fatalf("with security at order 100, the chain starts with %q, want the security tier", got)
	}
	feed(c, added(tier("security", ptr(2e6), api.ActionPass)))
	steps := tierSteps(chain(t, c.State(), "cali-tw-calia"))
	want := []string{"Start of tier default", "cali-pi-d", "End of tier default: drop if no policy passed packet",
		"Start of tier security", "cali-pi-security.block", "cali-pri-net1"}
	if !slices.Equal(steps, want) {
		t.Errorf("after moving security to order 2e6 with action Pass:\n got %q\nwant %q", steps, want)
	}
	feed(c, deleted(sec))
	steps = tierSteps(chain(t, c.State(), "cali-tw-calia"))
	want = []string{"Start of tier default", "cali-pi-d", "End of tier default: drop if no policy passed packet",
		"Start of tier security", "cali-pi-security.block", "End of tier security: drop if no policy passed packet", "cali-pri-net1"}
	if !slices.Equal(steps, want) {
		t.Errorf("after deleting the security tier its policy should run last and end in a drop:\n got %q\nwant %q", steps, want)
	}
}

func TestHostEndpointPoliciesAreTieredToo(t *testing.T) {
	pre := inTier("security", gnp("pre", nil, "all()", api.PolicyTypeIngress))
	pre.Spec.PreDNAT, pre.Spec.ApplyOnForward = true, true
	hep := &api.HostEndpoint{ObjectMeta: api.ObjectMeta{Name: "eth0"}, Spec: api.HostEndpointSpec{Node: host, InterfaceName: "eth0"}}
	c := newCalc(t,
		added(hep),
		added(tier("security", ptr(100.0), "")),
		added(inTier("security", gnp("block", nil, "all()", api.PolicyTypeIngress))),
		added(gnp("d", nil, "all()", api.PolicyTypeIngress)),
		added(pre),
	)
	st := c.State()
	got := tierSteps(chain(t, st, "cali-fh-eth0"))
	want := []string{"Start of tier security", "cali-pi-security.block", "End of tier security: drop if no policy passed packet",
		"Start of tier default", "cali-pi-d", "End of tier default: drop if no policy passed packet"}
	if !slices.Equal(got, want) {
		t.Errorf("cali-fh-eth0 (filter):\n got %q\nwant %q", got, want)
	}
	mangle := tierSteps(st.Tables["mangle"].Chains["cali-fh-eth0"])
	if !slices.Equal(mangle, []string{"Start of tier security", "cali-pi-security.pre"}) {
		t.Errorf("cali-fh-eth0 (mangle) = %q, want the pre-DNAT policy in its tier with no end-of-tier drop", mangle)
	}
}
