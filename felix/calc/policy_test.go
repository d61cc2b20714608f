package calc

import (
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/rules"
)

func gnp(name string, order *float64, sel string, types ...api.PolicyType) *api.GlobalNetworkPolicy {
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.GlobalNetworkPolicySpec{
		Order: order, Selector: sel, Types: types,
		Ingress: []api.Rule{{Action: api.ActionAllow}}, Egress: []api.Rule{{Action: api.ActionAllow}}}}
}

func np(ns, name string, order *float64, sel string, ingress ...api.Rule) *api.NetworkPolicy {
	return &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Spec: api.NetworkPolicySpec{
		Order: order, Selector: sel, Ingress: ingress}}
}

func inNamespace(w *api.WorkloadEndpoint, ns string) *api.WorkloadEndpoint {
	w.Namespace = ns
	return w
}

func TestPoliciesApplyInOrderThenName(t *testing.T) {
	c := newCalc(t,
		added(withLabels(wep(host, "a", "calia", "10.1.0.5/32", "net1"), "app", "web")),
		added(gnp("zeta", ptr(10.0), "app == 'web'", api.PolicyTypeIngress)),
		added(gnp("alpha", ptr(10.0), "app == 'web'", api.PolicyTypeIngress)),
		added(gnp("first", ptr(1.5), "all()", api.PolicyTypeIngress, api.PolicyTypeEgress)),
		added(gnp("unordered", nil, "all()", api.PolicyTypeIngress)),
		added(gnp("egress-only", ptr(5.0), "all()", api.PolicyTypeEgress)),
		added(gnp("other-app", ptr(1.0), "app == 'db'", api.PolicyTypeIngress)),
		added(gnp("prednat", ptr(1.0), "all()", api.PolicyTypeIngress)),
	)
	pre := gnp("prednat", ptr(1.0), "all()", api.PolicyTypeIngress)
	pre.Spec.PreDNAT, pre.Spec.ApplyOnForward = true, true
	feed(c, added(pre))
	st := c.State()

	wantIn := []string{"cali-pi-first", "cali-pi-alpha", "cali-pi-zeta", "cali-pi-unordered", "cali-pri-net1"}
	if got := jumps(chain(t, st, "cali-tw-calia")); !slices.Equal(got, wantIn) {
		t.Errorf("cali-tw-calia jumps to %v, want %v", got, wantIn)
	}
	wantOut := []string{"cali-po-first", "cali-po-egress-only", "cali-pro-net1"}
	if got := jumps(chain(t, st, "cali-fw-calia")); !slices.Equal(got, wantOut) {
		t.Errorf("cali-fw-calia jumps to %v, want %v", got, wantOut)
	}
	for _, name := range []string{"cali-pi-other-app", "cali-po-zeta", "cali-pi-egress-only", "cali-pi-prednat"} {
		if hasChain(st, name) {
			t.Errorf("expected no chain %s (the policy does not apply in that direction here), got one", name)
		}
	}
	if rs := chain(t, st, "cali-pi-first"); len(rs) != 2 {
		t.Errorf("expected cali-pi-first to hold the Allow rule (mark and return), got %v", rs)
	}
}

func TestNetworkPolicyAppliesInItsNamespace(t *testing.T) {
	fromFrontends := api.Rule{Action: api.ActionAllow, Source: api.EntityRule{Selector: "role == 'frontend'"}}
	c := newCalc(t,
		added(withLabels(inNamespace(wep(host, "db-a", "calia", "10.1.0.5/32"), "team-a"), "role", "db")),
		added(withLabels(inNamespace(wep(host, "db-b", "calib", "10.1.0.6/32"), "team-b"), "role", "db")),
		added(withLabels(inNamespace(wep("node2", "fe-a", "calic", "10.1.1.5/32"), "team-a"), "role", "frontend")),
		added(withLabels(inNamespace(wep("node2", "fe-b", "calid", "10.1.1.6/32"), "team-b"), "role", "frontend")),
		added(np("team-a", "db", ptr(1.0), "role == 'db'", fromFrontends)),
	)
	st := c.State()
	if got := jumps(chain(t, st, "cali-tw-calia")); !slices.Equal(got, []string{"cali-pi-team-a/db"}) {
		t.Errorf("team-a's db: cali-tw-calia jumps to %v, want [cali-pi-team-a/db]", got)
	}
	if got := jumps(chain(t, st, "cali-tw-calib")); len(got) != 0 {
		t.Errorf("team-b's db: cali-tw-calib jumps to %v, want nothing (the policy is team-a's)", got)
	}
	if hasChain(st, "cali-po-team-a/db") {
		t.Error("expected no egress chain for an ingress-only NetworkPolicy")
	}
	set := setName(`(role == "frontend") && projectcalico.org/namespace == "team-a"`)
	if got := st.IPSets[set].Members; !slices.Equal(got, []string{"10.1.1.5"}) {
		t.Errorf("frontends of team-a = %v, want [10.1.1.5]", got)
	}
}

func TestPolicyWithBadSelectorSelectsNothing(t *testing.T) {
	c := newCalc(t, added(wep(host, "a", "calia", "10.1.0.5/32")), added(gnp("bad", nil, "app ==", api.PolicyTypeIngress)))
	if got := jumps(chain(t, c.State(), "cali-tw-calia")); len(got) != 0 {
		t.Errorf("expected no policy jumps, got %v", got)
	}
}

func TestPolicyWithUnrenderableRulesGetsEmptyChains(t *testing.T) {
	p := gnp("bad-rules", nil, "all()", api.PolicyTypeIngress)
	p.Spec.Ingress = []api.Rule{{Action: api.ActionAllow}, {Action: api.ActionAllow, Destination: api.EntityRule{Ports: []api.Port{{MinPort: 80, MaxPort: 80}}}}}
	c := newCalc(t, added(wep(host, "a", "calia", "10.1.0.5/32")), added(p))
	if rs := chain(t, c.State(), "cali-pi-bad-rules"); len(rs) != 0 {
		t.Errorf("expected an empty cali-pi-bad-rules (ports without protocol cannot be rendered), got %v", rs)
	}
}

func TestGlobalNetworkSetsJoinSelectorIPSets(t *testing.T) {
	gns := withLabels(&api.GlobalNetworkSet{ObjectMeta: api.ObjectMeta{Name: "ext"},
		Spec: api.GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24", "2001:db8::/64"}}}, "net1", "")
	c := newCalc(t, added(cniProfile("net1")), added(wep(host, "a", "calia", "10.1.0.5/32", "net1")), added(gns))
	if got := c.State().IPSets[setName("has(net1)")].Members; !slices.Equal(got, []string{"10.1.0.5", "198.51.100.0/24"}) {
		t.Errorf("has(net1) = %v, want the endpoint and the network set's IPv4 net", got)
	}
}

func TestFelixConfigurationResourcesAreReported(t *testing.T) {
	fc := func(name, action string) *api.FelixConfiguration {
		return &api.FelixConfiguration{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.FelixConfigurationSpec{DefaultEndpointToHostAction: action}}
	}
	c := newCalc(t, added(fc("default", "Accept")), added(fc("node."+host, "Return")), added(fc("node.node2", "Drop")))
	global, perNode := c.FelixConfiguration()
	if global == nil || global.DefaultEndpointToHostAction != "Accept" {
		t.Errorf("global spec = %+v, want the one of FelixConfiguration default", global)
	}
	if perNode == nil || perNode.DefaultEndpointToHostAction != "Return" {
		t.Errorf("per-node spec = %+v, want the one of FelixConfiguration node.%s", perNode, host)
	}
	feed(c, deleted(fc("node."+host, "")))
	if _, perNode := c.FelixConfiguration(); perNode != nil {
		t.Errorf("per-node spec = %+v after its deletion, want nil", perNode)
	}
}

func TestConfigShapesTheState(t *testing.T) {
	withConfig := func(f func(*Config)) *Calculator {
		cfg := DefaultConfig()
		f(&cfg)
		c := newCalc(t, added(ipPool("p", "10.1.0.0/16", api.EncapAlways, false)))
		c.SetConfig(cfg)
		return c
	}
	lastAction := func(c *Calculator) string {
		rs := c.State().Tables[rules.TableFilter].Chains[rules.ChainWorkloadToHost]
		return rs[len(rs)-1].Action
	}
	tests := []struct {
		name  string
		cfg   func(*Config)
		check func(t *testing.T, c *Calculator)
	}{
		{"by default workload traffic to the host is dropped except on failsafe ports", func(*Config) {},
			func(t *testing.T, c *Calculator) {
				if got := lastAction(c); got != "--jump DROP" {
					t.Errorf("cali-wl-to-host ends with %q, want --jump DROP", got)
				}
				if got := len(c.State().Tables[rules.TableFilter].Chains[rules.ChainFailsafeIn]); got != len(DefaultConfig().FailsafeInbound) {
					t.Errorf("cali-failsafe-in has %d rules, want one per default port (%d)", got, len(DefaultConfig().FailsafeInbound))
				}
				if st := c.State(); st.Tunnel == nil || st.Tunnel.MTU != 1480 {
					t.Errorf("tunnel = %+v, want MTU 1480", st.Tunnel)
				}
			}},
		{"Accept in any case accepts", func(c *Config) { c.DefaultEndpointToHostAction = "ACCEPT" },
			func(t *testing.T, c *Calculator) {
				if got := lastAction(c); got != "--jump ACCEPT" {
					t.Errorf("cali-wl-to-host ends with %q, want --jump ACCEPT", got)
				}
			}},
		{"Return hands the traffic to the host's own rules", func(c *Config) { c.DefaultEndpointToHostAction = "Return" },
			func(t *testing.T, c *Calculator) {
				if got := lastAction(c); got != "--jump RETURN" {
					t.Errorf("cali-wl-to-host ends with %q, want --jump RETURN", got)
				}
			}},
		{"ipipMTU sets the tunnel MTU", func(c *Config) { c.IPIPMTU = 1400 },
			func(t *testing.T, c *Calculator) {
				if st := c.State(); st.Tunnel == nil || st.Tunnel.MTU != 1400 {
					t.Errorf("tunnel = %+v, want MTU 1400", st.Tunnel)
				}
			}},
		{"an empty failsafe list closes every failsafe port", func(c *Config) { c.FailsafeInbound = nil },
			func(t *testing.T, c *Calculator) {
				if rs := c.State().Tables[rules.TableFilter].Chains[rules.ChainFailsafeIn]; len(rs) != 0 {
					t.Errorf("cali-failsafe-in = %v, want empty", rs)
				}
			}},
		{"interfacePrefix may list several prefixes", func(c *Config) { c.InterfacePrefix = "cali, tap" },
			func(t *testing.T, c *Calculator) {
				var matches []string
				for _, r := range c.State().Tables[rules.TableFilter].Chains[rules.ChainInput] {
					if strings.HasPrefix(r.Match, "-i ") {
						matches = append(matches, r.Match)
					}
				}
				if want := []string{"-i cali+", "-i tap+"}; !slices.Equal(matches, want) {
					t.Errorf("cali-INPUT interface matches %v, want %v", matches, want)
				}
			}},
		{"the log prefix reaches Log rules", func(c *Config) { c.LogPrefix = "pkt" },
			func(t *testing.T, c *Calculator) {
				p := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "log"},
					Spec: api.ProfileSpec{Ingress: []api.Rule{{Action: api.ActionLog}}}}
				feed(c, added(p), added(wep(host, "a", "calia", "10.1.0.5/32", "log")))
				want := `--jump LOG --log-prefix "pkt: " --log-level 5`
				if rs := chain(t, c.State(), "cali-pri-log"); len(rs) != 1 || rs[0].Action != want {
					t.Errorf("cali-pri-log = %v, want one rule with action %s", rs, want)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, withConfig(tt.cfg))
		})
	}
}
