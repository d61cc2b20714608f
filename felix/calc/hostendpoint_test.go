package calc

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

func hep(name, node, iface string, ips ...string) *api.HostEndpoint {
	return withLabels(&api.HostEndpoint{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.HostEndpointSpec{Node: node, InterfaceName: iface, ExpectedIPs: ips}}, "role", "worker")
}

func hostPolicy(name string, order float64, sel string, change func(*api.GlobalNetworkPolicySpec)) *api.GlobalNetworkPolicy {
	p := &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.GlobalNetworkPolicySpec{
		Order: ptr(order), Selector: sel, Ingress: []api.Rule{{Action: api.ActionAllow}}}}
	if change != nil {
		change(&p.Spec)
	}
	return p
}

// tableJumps lists what a chain of one table jumps or goes to; nil when the chain is absent.
func tableJumps(st *desired.State, table, chain string) []string {
	rs, ok := st.Tables[table].Chains[chain]
	if !ok {
		return nil
	}
	return jumps(rs)
}

func TestHostEndpointPolicyByKind(t *testing.T) {
	egressToo := func(s *api.GlobalNetworkPolicySpec) {
		s.Egress = []api.Rule{{Action: api.ActionAllow}}
		s.Types = []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress}
	}
	c := newCalc(t,
		added(hep("h1-eth0", host, "eth0", "192.168.1.10")),
		added(hep("other-eth0", "node2", "eth0", "192.168.1.11")), // another node's: ipset members only
		added(hostPolicy("normal", 10, `role == "worker"`, egressToo)),
		added(hostPolicy("forward", 20, `role == "worker"`, func(s *api.GlobalNetworkPolicySpec) { s.ApplyOnForward = true })),
		added(hostPolicy("prednat", 5, `role == "worker"`, func(s *api.GlobalNetworkPolicySpec) { s.PreDNAT, s.ApplyOnForward = true, true })),
		added(hostPolicy("untracked", 1, `role == "worker"`, func(s *api.GlobalNetworkPolicySpec) {
			egressToo(s)
			s.DoNotTrack, s.ApplyOnForward = true, true
		})),
		added(hostPolicy("workloads", 1, `has(app)`, nil)),
		added(withLabels(&api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "ns-policy", Namespace: "default"},
			Spec: api.NetworkPolicySpec{Selector: `role == "worker"`, Ingress: []api.Rule{{Action: api.ActionAllow}}}})),
		added(withLabels(wep(host, "w", "cali1", "10.1.0.5/32"), "app", "web", "role", "worker")),
		// A rule that matches the host endpoints by selector: their expected IPs are the ipset's members.
		added(hostPolicy("from-workers", 30, `has(app)`, func(s *api.GlobalNetworkPolicySpec) {
			s.Ingress = []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: `role == "worker"`}}}
		})),
	)
	st := c.State()
	for _, tc := range []struct{ table, chain, want string }{
		{rules.TableFilter, "cali-fh-eth0", "cali-failsafe-in cali-pi-normal cali-pi-forward"},
		{rules.TableFilter, "cali-th-eth0", "cali-failsafe-out cali-po-normal"},
		{rules.TableFilter, "cali-fhfw-eth0", "cali-pi-forward"},
		{rules.TableFilter, "cali-thfw-eth0", ""},
		{rules.TableMangle, "cali-fh-eth0", "cali-failsafe-in cali-pi-prednat"},
		{rules.TableRaw, "cali-fh-eth0", "cali-failsafe-in cali-pi-untracked"},
		{rules.TableRaw, "cali-th-eth0", "cali-failsafe-out cali-po-untracked"},
		{rules.TableFilter, rules.ChainFromHostEndpoint, "cali-fh-eth0"},
		{rules.TableMangle, rules.ChainFromHostEndpoint, "cali-fh-eth0"},
		{rules.TableRaw, rules.ChainToHostEndpoint, "cali-th-eth0"},
	} {
		if got := strings.Join(tableJumps(st, tc.table, tc.chain), " "); got != tc.want {
			t.Errorf("%s %s jumps to %q, want %q", tc.table, tc.chain, got, tc.want)
		}
	}
	for table, name := range map[string]string{rules.TableMangle: "cali-pi-prednat", rules.TableRaw: "cali-pi-untracked"} {
		if _, ok := st.Tables[table].Chains[name]; !ok {
			t.Errorf("the %s table lacks the chain of the policy it uses, %s", table, name)
		}
	}
	// The workload gets neither pre-DNAT nor untracked policy, and the host endpoint no namespaced policy.
	if got := jumps(chain(t, st, "cali-tw-cali1")); slices.Contains(got, "cali-pi-prednat") || slices.Contains(got, "cali-pi-untracked") ||
		!slices.Contains(got, "cali-pi-normal") || !slices.Contains(got, "cali-pi-workloads") {
		t.Errorf("workload ingress jumps %v: want normal and workloads, never prednat or untracked", got)
	}
	// The selector ipset of role == "worker" holds both nodes' host endpoints and the workload.
	found := false
	for name, set := range st.IPSets {
		if strings.HasPrefix(name, "cali40s:") && slices.Equal(set.Members, []string{"10.1.0.5", "192.168.1.10", "192.168.1.11"}) {
			found = true
		}
	}
	if !found {
		t.Errorf("no selector ipset holds the workload and both host endpoints' expected IPs: %v", st.IPSets)
	}
	// The host endpoint plumbing is hooked in, and untracked traffic skips connection tracking.
	if got := jumps(chain(t, st, rules.ChainInput)); !slices.Contains(got, rules.ChainFromHostEndpoint) {
		t.Errorf("cali-INPUT should dispatch to host endpoints: %v", got)
	}
	if raw := st.Tables[rules.TableRaw]; raw.Hooks["OUTPUT"] == nil || !slices.ContainsFunc(raw.Chains[rules.ChainPrerouting],
		func(r desired.Rule) bool { return r.Action == "--jump CT --notrack" }) {
		t.Errorf("raw should hook OUTPUT and untrack accepted packets: %+v", raw)
	}
}

func TestNoHostEndpointNoPlumbing(t *testing.T) {
	c := newCalc(t, added(hep("other-eth0", "node2", "eth0", "192.168.1.11")),
		added(hostPolicy("prednat", 5, `role == "worker"`, func(s *api.GlobalNetworkPolicySpec) { s.PreDNAT, s.ApplyOnForward = true, true })))
	st := c.State()
	if got := jumps(chain(t, st, rules.ChainInput)); slices.Contains(got, rules.ChainFromHostEndpoint) {
		t.Errorf("without a host endpoint on this node, cali-INPUT should not dispatch to them: %v", got)
	}
	if rs := st.Tables[rules.TableMangle].Chains[rules.ChainPrerouting]; len(rs) != 0 || st.Tables[rules.TableRaw].Hooks["OUTPUT"] != nil {
		t.Errorf("without host endpoints, mangle PREROUTING stays empty and raw OUTPUT unhooked: %v", rs)
	}
}

func TestHostEndpointWithoutInterfaceNameFollowsItsAddress(t *testing.T) {
	c := newCalc(t, added(hep("h1", host, "", "192.168.1.10")))
	if !c.NeedsInterfaceAddrs() {
		t.Fatal("a local host endpoint without interfaceName needs the host's addresses")
	}
	if st := c.State(); hasChain(st, "cali-fh-eth1") {
		t.Error("without the host's addresses there is no interface to protect yet")
	}
	cfg := c.Config()
	cfg.InterfaceAddrs = map[netip.Addr]string{netip.MustParseAddr("192.168.1.10"): "eth1"}
	c.SetConfig(cfg)
	if st := c.State(); !hasChain(st, "cali-fh-eth1") || !slices.Contains(jumps(chain(t, st, rules.ChainFromHostEndpoint)), "cali-fh-eth1") {
		t.Errorf("the endpoint should apply to eth1, which holds its address: %v", chainNames(st))
	}
}

// reachable lists every chain reachable from start in one table.
func reachable(tbl *desired.Table, start ...string) map[string]bool {
	seen := map[string]bool{}
	for len(start) > 0 {
		name := start[0]
		start = start[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		start = append(start, jumps(tbl.Chains[name])...)
	}
	return seen
}

// The failsafe ports keep operators from locking themselves out of a host; they must never open the host to
// workloads. An earlier version reached them from workload traffic: whatever the host endpoints and the
// endpoint-to-host action, no chain workload traffic to the host goes through may reach them.
func TestFailsafePortsAreNeverOpenToWorkloads(t *testing.T) {
	for _, action := range []string{rules.ActionDrop, rules.ActionAccept, rules.ActionReturn} {
		for _, iface := range []string{"eth0", rules.AllInterfaces} {
			c := newCalc(t, added(hep("h1", host, iface, "192.168.1.10")),
				added(hostPolicy("deny-all", 1, `role == "worker"`, func(s *api.GlobalNetworkPolicySpec) { s.Ingress[0].Action = api.ActionDeny })),
				added(wep(host, "w", "cali1", "10.1.0.5/32")))
			cfg := c.Config()
			cfg.DefaultEndpointToHostAction = action
			c.SetConfig(cfg)
			st := c.State()
			filter := st.Tables[rules.TableFilter]
			from := reachable(filter, rules.ChainWorkloadToHost, rules.ChainFromWorkloadDispatch, rules.ChainToWorkloadDispatch)
			if from[rules.ChainFailsafeIn] || from[rules.ChainFailsafeOut] {
				t.Errorf("action %s, host endpoint %q: workload traffic reaches the failsafe chains via %v", action, iface, from)
			}
			if !reachable(filter, rules.ChainFromHostEndpoint)[rules.ChainFailsafeIn] {
				t.Errorf("action %s, host endpoint %q: host traffic should reach the failsafe ports", action, iface)
			}
			if action == rules.ActionReturn && iface == rules.AllInterfaces && !from[rules.ChainWorkloadToHostEndpoint] {
				t.Errorf("with Return, workload traffic to the host should meet the all-interfaces endpoint's policy: %v", from)
			}
		}
	}
}

func TestHostEndpointEventsAreIncremental(t *testing.T) {
	c := newCalc(t, added(hostPolicy("normal", 10, `role == "worker"`, nil)))
	h := hep("h1", host, "eth0", "192.168.1.10")
	feed(c, added(h))
	if st := c.State(); !slices.Contains(jumps(chain(t, st, "cali-fh-eth0")), "cali-pi-normal") {
		t.Fatalf("cali-fh-eth0 should run the policy: %v", chain(t, st, "cali-fh-eth0"))
	}
	h2 := hep("h1", host, "eth0", "192.168.1.10")
	h2.Labels = map[string]string{"role": "other"}
	feed(c, added(h2))
	if st := c.State(); slices.Contains(jumps(chain(t, st, "cali-fh-eth0")), "cali-pi-normal") {
		t.Errorf("relabelled out of the selector: the policy should no longer apply")
	}
	feed(c, datastore.Event{Type: datastore.Deleted, Key: keyOf(h2)})
	if st := c.State(); hasChain(st, "cali-fh-eth0") {
		t.Errorf("a deleted host endpoint's chains should go")
	}
}

func TestHostEndpointNamedPortsFeedNamedPortSets(t *testing.T) {
	h := hep("h2", "node2", "eth0", "192.168.1.11")
	h.Spec.Ports = []api.EndpointPort{{Name: "kubelet", Protocol: api.ProtocolFromString("TCP"), Port: 10250}}
	c := newCalc(t, added(h), added(withLabels(wep(host, "w", "cali1", "10.1.0.5/32"), "app", "web")),
		added(hostPolicy("to-kubelets", 10, `has(app)`, func(s *api.GlobalNetworkPolicySpec) {
			s.Types = []api.PolicyType{api.PolicyTypeEgress}
			s.Ingress = nil
			s.Egress = []api.Rule{{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
				Destination: api.EntityRule{Selector: `role == "worker"`, Ports: toPorts("kubelet")}}}
		})))
	st := c.State()
	for name, set := range st.IPSets {
		if strings.HasPrefix(name, "cali40n:") && slices.Equal(set.Members, []string{"192.168.1.11,tcp:10250"}) {
			return
		}
	}
	t.Errorf("no named-port ipset holds the host endpoint's kubelet port: %v", st.IPSets)
}
