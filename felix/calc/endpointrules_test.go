package calc

import (
	"fmt"
	"slices"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/rules"
)

func TestEndpointRulesKeyTellsEveryInputApart(t *testing.T) {
	tr := func(name, action string, policies ...string) rules.Tier {
		return rules.Tier{Name: name, DefaultAction: action, Policies: policies}
	}
	type input struct {
		in, out  []rules.Tier
		profiles []string
	}
	// Each input differs from every other, some only where names joined by a separator would run together.
	inputs := []input{
		{},
		{profiles: []string{""}},
		{profiles: []string{"a", "b"}},
		{profiles: []string{"ab"}},
		{profiles: []string{"a\x00b"}},
		{in: []rules.Tier{tr("default", "", "p1", "p2")}},
		{in: []rules.Tier{tr("default", "", "p1")}, out: []rules.Tier{tr("default", "", "p2")}},
		{out: []rules.Tier{tr("default", "", "p1", "p2")}},
		{in: []rules.Tier{tr("default", "", "p2", "p1")}},
		{in: []rules.Tier{tr("default", "", "p1"), tr("default", "", "p2")}},
		{in: []rules.Tier{tr("default", api.ActionPass, "p1", "p2")}},
		{in: []rules.Tier{tr("default", "", "p1\x00p2")}},
		{in: []rules.Tier{tr("default", "", "p1", "p2")}, profiles: []string{"kns.a"}},
	}
	seen := map[string]int{}
	for i, in := range inputs {
		k := endpointRulesKey(in.in, in.out, in.profiles)
		if j, dup := seen[k]; dup {
			t.Errorf("inputs %d (%+v) and %d (%+v) share a key", j, inputs[j], i, in)
		}
		seen[k] = i
		if again := endpointRulesKey(slices.Clone(in.in), slices.Clone(in.out), slices.Clone(in.profiles)); again != k {
			t.Errorf("input %d: equal inputs give different keys", i)
		}
	}
}

// Endpoints with the same policies and profiles share one rendering of their chains' rules, and every endpoint's
// chains stay what rendering it alone gives as policies come, change order and go.
func TestEndpointsAlikeShareTheirRenderedRules(t *testing.T) {
	evs := []datastore.Event{added(cniProfile("net1")), added(ipPool("p", "10.0.0.0/8", api.EncapAlways, true)),
		added(gnp("web", ptr(10.0), "app == 'web'", api.PolicyTypeIngress, api.PolicyTypeEgress)),
		added(gnp("all", ptr(20.0), "all()", api.PolicyTypeIngress))}
	for i, app := range []string{"web", "web", "db"} {
		evs = append(evs, added(withLabels(wep(host, fmt.Sprintf("ep%d", i), fmt.Sprintf("cali%d", i),
			fmt.Sprintf("10.0.0.%d/32", i+1), "net1"), "app", app)))
	}
	c := newCalc(t, evs...)
	apply := func(ev datastore.Event) {
		evs = append(evs, ev)
		c.OnEvent(res, ev)
	}
	check := func(step string, wantIn0 []string) {
		t.Helper()
		st := c.State()
		in0, in1, in2 := chain(t, st, "cali-tw-cali0"), chain(t, st, "cali-tw-cali1"), chain(t, st, "cali-tw-cali2")
		if &in0[0] != &in1[0] {
			t.Errorf("%s: the two web endpoints' ingress chains are rendered twice", step)
		}
		if &in0[0] == &in2[0] {
			t.Errorf("%s: the db endpoint shares the web endpoints' rendering", step)
		}
		if got := tierSteps(in0); !slices.Equal(got, wantIn0) {
			t.Errorf("%s: web endpoint's ingress steps = %q, want %q", step, got, wantIn0)
		}
		// What the calculation would give the endpoint from scratch.
		if want := chain(t, newCalc(t, evs...).State(), "cali-tw-cali0"); !slices.Equal(in0, want) {
			t.Errorf("%s: cached chain differs from a fresh calculation:\n got %v\nwant %v", step, in0, want)
		}
	}
	endOf := "End of tier default: drop if no policy passed packet"
	check("start", []string{"Start of tier default", "cali-pi-web", "cali-pi-all", endOf, "cali-pri-net1"})

	apply(added(gnp("web", ptr(30.0), "app == 'web'", api.PolicyTypeIngress, api.PolicyTypeEgress)))
	check("web reordered after all", []string{"Start of tier default", "cali-pi-all", "cali-pi-web", endOf, "cali-pri-net1"})

	apply(deleted(gnp("all", ptr(20.0), "all()", api.PolicyTypeIngress)))
	check("all deleted", []string{"Start of tier default", "cali-pi-web", endOf, "cali-pri-net1"})
}
