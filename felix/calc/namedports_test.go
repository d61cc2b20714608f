package calc

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
)

// withPorts gives an endpoint named ports written "name/protocol/port", e.g. "web/TCP/8080".
func withPorts(w *api.WorkloadEndpoint, ports ...string) *api.WorkloadEndpoint {
	w.Spec.Ports = nil
	for _, p := range ports {
		f := strings.Split(p, "/")
		n, err := strconv.ParseUint(f[2], 10, 16)
		if err != nil {
			panic(err)
		}
		w.Spec.Ports = append(w.Spec.Ports, api.EndpointPort{Name: f[0], Protocol: api.ProtocolFromString(f[1]), Port: uint16(n)})
	}
	return w
}

// ingressPolicy is a global ingress policy for the endpoints labelled role=server, with the given rules.
func ingressPolicy(rules ...api.Rule) *api.GlobalNetworkPolicy {
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "named"}, Spec: api.GlobalNetworkPolicySpec{
		Selector: "role == 'server'", Types: []api.PolicyType{api.PolicyTypeIngress}, Ingress: rules}}
}

func toPorts(ps ...string) []api.Port {
	out := make([]api.Port, len(ps))
	for i, s := range ps {
		p, err := api.ParsePort(s)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

// portSets returns the members of the named-port sets of one family ("inet" or "inet6"), by set name, failing
// the test if a named-port set is not of type hash:ip,port.
func portSets(t *testing.T, st *desired.State, family string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, s := range st.IPSets {
		if !strings.HasPrefix(name[6:], "n:") || desired.IPSetFamily(name) != family {
			continue
		}
		if s.Type != desired.HashIPPort {
			t.Errorf("expected named-port set %s to be of type hash:ip,port, got %s", name, s.Type)
		}
		out[name] = s.Members
	}
	return out
}

// onlyPortSet returns the name and members of the one named-port set of a family.
func onlyPortSet(t *testing.T, st *desired.State, family string) (string, []string) {
	t.Helper()
	sets := portSets(t, st, family)
	if len(sets) != 1 {
		t.Fatalf("expected one named-port set of family %s, got %v", family, sets)
	}
	for name, members := range sets {
		return name, members
	}
	return "", nil
}

func TestNamedPortSetMembers(t *testing.T) {
	tcpWeb := api.Rule{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
		Destination: api.EntityRule{Ports: toPorts("web")}}
	server := func(ports ...string) *api.WorkloadEndpoint {
		return withPorts(withLabels(wep(host, "server", "calis", "10.1.0.5/32"), "role", "server"), ports...)
	}
	tests := []struct {
		name   string
		events []datastore.Event
		want   []string
	}{
		{"an endpoint's named port puts its address and port in the set",
			[]datastore.Event{added(server("web/TCP/8080"))},
			[]string{"10.1.0.5,tcp:8080"}},
		{"endpoints on every host count, each with its own port number",
			[]datastore.Event{added(server("web/TCP/8080")),
				added(withPorts(wep("node2", "other", "calio", "10.1.1.7/32"), "web/TCP/9090"))},
			[]string{"10.1.0.5,tcp:8080", "10.1.1.7,tcp:9090"}},
		{"a port of another name or protocol stays out",
			[]datastore.Event{added(server("web/UDP/8080", "api/TCP/7000"))},
			nil},
		{"an endpoint that gains the named port joins the set",
			[]datastore.Event{added(server()), added(server("web/TCP/8080"))},
			[]string{"10.1.0.5,tcp:8080"}},
		{"an endpoint that loses the named port leaves the set",
			[]datastore.Event{added(server("web/TCP/8080")), added(server("api/TCP/8080"))},
			nil},
		{"an endpoint whose named port moves is in the set with the new port only",
			[]datastore.Event{added(server("web/TCP/8080")), added(server("web/TCP/8081"))},
			[]string{"10.1.0.5,tcp:8081"}},
		{"a deleted endpoint leaves the set",
			[]datastore.Event{added(server("web/TCP/8080")),
				added(withPorts(wep("node2", "other", "calio", "10.1.1.7/32"), "web/TCP/9090")),
				deleted(wep("node2", "other", "calio", "10.1.1.7/32"))},
			[]string{"10.1.0.5,tcp:8080"}},
		{"two ports of the same name and protocol are both members",
			[]datastore.Event{added(server("web/TCP/8080", "web/TCP/8443"))},
			[]string{"10.1.0.5,tcp:8080", "10.1.0.5,tcp:8443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A local endpoint without ports that the policy selects makes the state before the events use (and
			// index) the set, so the events update it incrementally.
			c := newCalc(t, added(ingressPolicy(tcpWeb)),
				added(withLabels(wep(host, "anchor", "calia", "10.1.0.9/32"), "role", "server")))
			if _, got := onlyPortSet(t, c.State(), desired.FamilyInet); len(got) != 0 {
				t.Fatalf("expected an empty named-port set before the events, got %q", got)
			}
			feed(c, tt.events...)
			_, got := onlyPortSet(t, c.State(), desired.FamilyInet)
			if !slices.Equal(got, tt.want) {
				t.Errorf("expected named-port set members %q, got %q", tt.want, got)
			}
		})
	}
}

func TestNamedPortRules(t *testing.T) {
	tcp := ptr(api.ProtocolFromString("TCP"))
	endpoints := []datastore.Event{
		added(withPorts(withLabels(wep(host, "server", "calis", "10.1.0.5/32"), "role", "server", "app", "web"), "web/TCP/8080")),
		added(withPorts(withLabels(wep("node2", "web2", "caliw", "10.1.1.6/32"), "app", "web"), "web/TCP/9090")),
		added(withPorts(withLabels(wep("node2", "db", "calid", "10.1.1.7/32"), "app", "db"), "web/TCP/5432")),
	}
	tests := []struct {
		name string
		rule api.Rule
		// want are the matches of the rules that set the accept bit or drop, with N for the named-port set and S
		// for the selector set.
		want    []string
		members []string // of the named-port set
		selSet  bool     // whether the selector's own set is used
	}{
		{"a rule with only named ports matches the named-port set alone",
			api.Rule{Action: api.ActionAllow, Protocol: tcp, Destination: api.EntityRule{Selector: "app == 'web'", Ports: toPorts("web")}},
			[]string{"-p tcp -m set --match-set N dst,dst"},
			[]string{"10.1.0.5,tcp:8080", "10.1.1.6,tcp:9090"}, false},
		{"numeric and named ports in one rule are alternatives",
			api.Rule{Action: api.ActionAllow, Protocol: tcp, Destination: api.EntityRule{Selector: "app == 'web'", Ports: toPorts("80", "web")}},
			[]string{"-p tcp -m set --match-set S dst -m multiport --dports 80", "-p tcp -m set --match-set S dst -m set --match-set N dst,dst"},
			[]string{"10.1.0.5,tcp:8080", "10.1.1.6,tcp:9090"}, true},
		{"named notPorts must not match",
			api.Rule{Action: api.ActionDeny, Protocol: tcp, Destination: api.EntityRule{NotPorts: toPorts("web")}},
			[]string{"-p tcp -m set ! --match-set N dst,dst"},
			[]string{"10.1.0.5,tcp:8080", "10.1.1.6,tcp:9090", "10.1.1.7,tcp:5432"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalc(t, append(endpoints, added(ingressPolicy(tt.rule)))...)
			st := c.State()
			name, members := onlyPortSet(t, st, desired.FamilyInet)
			if !slices.Equal(members, tt.members) {
				t.Errorf("expected named-port set members %q, got %q", tt.members, members)
			}
			sel := setName("app == 'web'")
			if _, ok := st.IPSets[sel]; ok != tt.selSet {
				t.Errorf("expected the selector set %s to be present: %v, got %v", sel, tt.selSet, ok)
			}
			var got []string
			for _, r := range chain(t, st, "cali-pi-named") {
				if !strings.Contains(r.Match, "-m mark") {
					got = append(got, strings.ReplaceAll(strings.ReplaceAll(r.Match, name, "N"), sel, "S"))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("expected cali-pi-named matches %q, got %q", tt.want, got)
			}
		})
	}
}

func TestNamedPortSetsHoldIPv6MembersInTheIPv6Set(t *testing.T) {
	c := newCalc(t,
		added(withPorts(withLabels(dualStack(host, "server", "calis", "10.1.0.5/32", "fd00:1::5/128"), "role", "server"), "web/TCP/8080")),
		added(withPorts(wep("node2", "v6only", "caliv", "fd00:2::6/128"), "web/TCP/9090")),
		added(ingressPolicy(api.Rule{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
			Destination: api.EntityRule{Ports: toPorts("web")}})),
	)
	cfg := c.Config()
	cfg.IPv6Support = true
	c.SetConfig(cfg)
	st := c.State()
	name4, v4 := onlyPortSet(t, st, desired.FamilyInet)
	name6, v6 := onlyPortSet(t, st, desired.FamilyInet6)
	if want := []string{"10.1.0.5,tcp:8080"}; !slices.Equal(v4, want) {
		t.Errorf("expected IPv4 named-port set members %q, got %q", want, v4)
	}
	if want := []string{"fd00:1::5,tcp:8080", "fd00:2::6,tcp:9090"}; !slices.Equal(v6, want) {
		t.Errorf("expected IPv6 named-port set members %q, got %q", want, v6)
	}
	if name6 != "cali60"+name4[len("cali40"):] {
		t.Errorf("expected the IPv6 set to be named like the IPv4 one %s in the IPv6 prefix, got %s", name4, name6)
	}
	if rs := chain6(t, st, "cali-pi-named"); len(rs) == 0 || !strings.Contains(rs[0].Match, name6+" dst,dst") {
		t.Errorf("expected the ip6tables policy to match on %s, got %v", name6, rs)
	}
}

func TestAProfileLabelMovesAnEndpointIntoANamedPortSet(t *testing.T) {
	profile := func(labels map[string]string) *api.Profile {
		return &api.Profile{ObjectMeta: api.ObjectMeta{Name: "net1"}, Spec: api.ProfileSpec{LabelsToApply: labels}}
	}
	c := newCalc(t,
		added(profile(nil)),
		added(withLabels(wep(host, "server", "calis", "10.1.0.5/32"), "role", "server")),
		added(withPorts(wep("node2", "other", "calio", "10.1.1.7/32", "net1"), "web/TCP/9090")),
		added(ingressPolicy(api.Rule{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
			Source: api.EntityRule{Selector: "tier == 'front'", Ports: toPorts("web")}})),
	)
	if _, got := onlyPortSet(t, c.State(), desired.FamilyInet); len(got) != 0 {
		t.Fatalf("expected an empty named-port set before the profile labels the endpoint, got %q", got)
	}
	feed(c, added(profile(map[string]string{"tier": "front"})))
	if _, got := onlyPortSet(t, c.State(), desired.FamilyInet); !slices.Equal(got, []string{"10.1.1.7,tcp:9090"}) {
		t.Errorf("expected the endpoint in the named-port set once its profile labels it, got %q", got)
	}
	feed(c, added(profile(nil)))
	if _, got := onlyPortSet(t, c.State(), desired.FamilyInet); len(got) != 0 {
		t.Errorf("expected the endpoint out of the named-port set once the profile label is gone, got %q", got)
	}
}
