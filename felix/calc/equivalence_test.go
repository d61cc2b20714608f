package calc

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
)

// randomWorld generates a random stream of datastore events and remembers which objects are live after it, so
// that a Calculator fed the whole stream can be compared with one fed only the live objects.
type randomWorld struct {
	rng  *rand.Rand
	live map[string]datastore.Event // by key: the last Added event of every live object
	rev  int
}

func newRandomWorld(seed uint64) *randomWorld {
	return &randomWorld{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), live: map[string]datastore.Event{}}
}

func (w *randomWorld) pick(list ...string) string { return list[w.rng.IntN(len(list))] }

var (
	eqLabelKeys   = []string{"app", "tier", "color", "env"}
	eqLabelValues = []string{"a", "b", "c"}
	eqSelectors   = []string{"app == 'a'", "has(tier)", "color in {'a', 'b'}", "all()", "!has(app)",
		"app == 'a' && env != 'b'", "tier == 'c' || color == 'a'", "has(p0)", "p1 == 'x'",
		"projectcalico.org/namespace == 'ns1'", "projectcalico.org/orchestrator == 'k8s'", "env not in {'a'}"}
	eqNamespaces = []string{"default", "ns1", "ns2"}
	eqPortNames  = []string{"http", "dns"}
	eqNodes      = []string{host, "node2", "node3"}
)

func (w *randomWorld) labels(max int) map[string]string {
	n := w.rng.IntN(max + 1)
	if n == 0 && w.rng.IntN(2) == 0 {
		return nil
	}
	l := map[string]string{}
	for range n {
		l[w.pick(eqLabelKeys...)] = w.pick(eqLabelValues...)
	}
	return l
}

// selector is usually one of eqSelectors, sometimes one that does not parse.
func (w *randomWorld) selector() string {
	if w.rng.IntN(25) == 0 {
		return "app == ("
	}
	return w.pick(eqSelectors...)
}

func (w *randomWorld) entity() api.EntityRule {
	var e api.EntityRule
	switch w.rng.IntN(6) {
	case 0, 1:
		e.Selector = w.selector()
	case 2:
		e.Selector = w.selector()
		e.NamespaceSelector = w.pick("projectcalico.org/name == 'ns1'", "all()", "projectcalico.org/name != 'default'")
	case 3:
		e.NotSelector = w.selector()
	case 4:
		e.Nets = []string{w.pick("10.9.0.0/16", "fd00:9::/64")}
	}
	return e
}

func (w *randomWorld) rules() []api.Rule {
	var out []api.Rule
	for range w.rng.IntN(4) {
		r := api.Rule{Action: w.pick(api.ActionAllow, api.ActionDeny, api.ActionLog, api.ActionPass),
			Source: w.entity(), Destination: w.entity()}
		switch w.rng.IntN(10) {
		case 0:
			tcp := api.ProtocolFromString("TCP")
			r.Protocol = &tcp
			r.Destination.Ports = []api.Port{{MinPort: 80, MaxPort: 80}, {MinPort: 8000, MaxPort: 8080}}
		case 1:
			r.IPVersion = ptr(w.pick4or6())
		case 2:
			r.Action = "Reject" // does not render: the whole policy gets empty chains
		case 3, 4:
			// Named ports: alone, beside a numeric port, or as notPorts; on either side.
			p := api.ProtocolFromString(w.pick("TCP", "UDP"))
			r.Protocol = &p
			side := &r.Destination
			if w.rng.IntN(4) == 0 {
				side = &r.Source
			}
			named := api.Port{PortName: w.pick(eqPortNames...)}
			switch w.rng.IntN(3) {
			case 0:
				side.Ports = []api.Port{named}
			case 1:
				side.Ports = []api.Port{{MinPort: 443, MaxPort: 443}, named}
			default:
				side.NotPorts = []api.Port{named}
			}
		}
		out = append(out, r)
	}
	return out
}

func (w *randomWorld) pick4or6() int { return []int{4, 6}[w.rng.IntN(2)] }

func (w *randomWorld) order() *float64 {
	if w.rng.IntN(4) == 0 {
		return nil
	}
	return ptr(float64(w.rng.IntN(4)))
}

func (w *randomWorld) types() []api.PolicyType {
	return [][]api.PolicyType{{api.PolicyTypeIngress}, {api.PolicyTypeEgress},
		{api.PolicyTypeIngress, api.PolicyTypeEgress}, nil}[w.rng.IntN(4)]
}

// endpoint is a workload on a random node. Addresses repeat only on one node, so that two nodes never claim the
// same address (which would make the route to it depend on map order).
func (w *randomWorld) endpoint() *api.WorkloadEndpoint {
	node := w.pick(eqNodes...)
	n := slices.Index(eqNodes, node)
	name := fmt.Sprintf("ep%d", w.rng.IntN(14))
	iface := fmt.Sprintf("cali%d", w.rng.IntN(6))
	var nets []string
	for range w.rng.IntN(3) {
		if w.rng.IntN(4) == 0 {
			nets = append(nets, fmt.Sprintf("fd00:%d::%d/128", n+1, w.rng.IntN(6)))
		} else {
			nets = append(nets, fmt.Sprintf("10.%d.%d.%d/32", n+1, w.rng.IntN(2), w.rng.IntN(6)))
		}
	}
	var profiles []string
	for range w.rng.IntN(3) {
		profiles = append(profiles, fmt.Sprintf("p%d", w.rng.IntN(4)))
	}
	// Named ports, sometimes two of one name (another protocol, or another port).
	var ports []api.EndpointPort
	for range w.rng.IntN(3) {
		ports = append(ports, api.EndpointPort{Name: w.pick(eqPortNames...),
			Protocol: api.ProtocolFromString(w.pick("TCP", "UDP")), Port: uint16(w.pick4or6() * 1000)})
	}
	ep := &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: w.pick(eqNamespaces...), Labels: w.labels(3)},
		Spec: api.WorkloadEndpointSpec{Orchestrator: w.pick("k8s", "cni", ""), Node: node, InterfaceName: iface,
			IPNetworks: nets, Profiles: profiles, Ports: ports},
	}
	if w.rng.IntN(10) == 0 {
		ep.Spec.InterfaceName = ""
	}
	w.rev++
	ep.ResourceVersion = fmt.Sprint(w.rev)
	if w.rng.IntN(8) == 0 {
		ep.ResourceVersion = "7" // equal revisions: the key decides which endpoint wins an interface
	}
	return ep
}

func (w *randomWorld) resource() api.Resource {
	switch w.rng.IntN(10) {
	case 0, 1, 2:
		return w.endpoint()
	case 3:
		p := &api.Profile{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%d", w.rng.IntN(3))},
			Spec: api.ProfileSpec{Ingress: w.rules(), Egress: w.rules()}}
		if l := w.labels(2); l != nil {
			p.Spec.LabelsToApply = l
		} else if w.rng.IntN(2) == 0 {
			p.Spec.LabelsToApply = map[string]string{p.Name: ""}
		}
		return p
	case 4, 5:
		p := &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("g%d", w.rng.IntN(6))},
			Spec: api.GlobalNetworkPolicySpec{Order: w.order(), Selector: w.selector(), Types: w.types(),
				Ingress: w.rules(), Egress: w.rules()}}
		if w.rng.IntN(10) == 0 {
			p.Spec.PreDNAT, p.Spec.ApplyOnForward = true, true
		}
		return p
	case 6:
		return &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("n%d", w.rng.IntN(3)),
			Namespace: w.pick(eqNamespaces...)},
			Spec: api.NetworkPolicySpec{Order: w.order(), Selector: w.selector(), Types: w.types(),
				Ingress: w.rules(), Egress: w.rules()}}
	case 7:
		return &api.GlobalNetworkSet{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("s%d", w.rng.IntN(3)),
			Labels: w.labels(2)}, Spec: api.GlobalNetworkSetSpec{Nets: []string{w.pick("10.8.0.0/16", "10.8.1.0/24", "fd00:8::/64")}}}
	case 8:
		// One CIDR per pool name: two pools of the same CIDR would make the pool of an address depend on map order.
		n := w.rng.IntN(3)
		return ipPool(fmt.Sprintf("pool%d", n), []string{"10.0.0.0/8", "10.2.0.0/16", "fd00::/16"}[n],
			w.pick(api.EncapAlways, api.EncapCrossSubnet, api.EncapNever), w.rng.IntN(2) == 0)
	default:
		n := w.pick(eqNodes...)
		return calicoNode(n, w.pick("192.168.1.", "192.168.2.")+fmt.Sprint(slices.Index(eqNodes, n)+1)+"/24",
			w.pick("", "10.1.0.1"))
	}
}

// affinity is a block of one node's own range, so that no two nodes claim the same block.
func (w *randomWorld) affinity() datastore.Event {
	node := w.pick(eqNodes...)
	n := slices.Index(eqNodes, node) + 1
	cidr := w.pick(fmt.Sprintf("10.%d.0.0/26", n), fmt.Sprintf("10.%d.1.0/26", n), fmt.Sprintf("fd00:%d::/122", n))
	return affinityEvent(datastore.Added, node, cidr, w.pick("", "confirmed", "pending"))
}

// liveKeys are the keys of the live objects under prefix, sorted.
func (w *randomWorld) liveKeys(prefix string) []string {
	var keys []string
	for k := range w.live {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// step applies one random event (or a resync, or a configuration change) to c.
func (w *randomWorld) step(c *Calculator) {
	prefixOf := func(key string) string {
		if len(key) >= len(ipamPfx) && key[:len(ipamPfx)] == ipamPfx {
			return ipamPfx
		}
		return res
	}
	switch r := w.rng.IntN(100); {
	case r < 55:
		ev := added(w.resource())
		if _, ok := w.live[ev.Key]; ok {
			ev.Type = datastore.Modified
		}
		c.OnEvent(res, ev)
		ev.Type = datastore.Added
		w.live[ev.Key] = ev
	case r < 65:
		ev := w.affinity()
		c.OnEvent(ipamPfx, ev)
		w.live[ev.Key] = ev
	case r < 85:
		keys := w.liveKeys("/")
		if len(keys) == 0 {
			return
		}
		key := keys[w.rng.IntN(len(keys))]
		c.OnEvent(prefixOf(key), datastore.Event{Type: datastore.Deleted, Key: key})
		delete(w.live, key)
	case r < 87:
		// An undecodable resource counts as absent.
		keys := w.liveKeys(res)
		if len(keys) == 0 {
			return
		}
		key := keys[w.rng.IntN(len(keys))]
		c.OnEvent(res, datastore.Event{Type: datastore.Modified, Key: key})
		delete(w.live, key)
	case r < 92:
		// A watch resyncs and lists again: some objects come back, the rest are gone.
		prefix := w.pick(res, ipamPfx)
		c.OnEvent(prefix, datastore.Event{Type: datastore.Resync})
		for _, key := range w.liveKeys(prefix) {
			if w.rng.IntN(3) == 0 {
				delete(w.live, key)
				continue
			}
			c.OnEvent(prefix, w.live[key])
		}
		c.OnEvent(prefix, datastore.Event{Type: datastore.InSync})
	case r < 95:
		cfg := c.Config()
		switch w.rng.IntN(3) {
		case 0:
			cfg.IPv6Support = !cfg.IPv6Support
		case 1:
			cfg.LogPrefix = w.pick("", "calico-packet", "felix")
		default:
			cfg.InterfacePrefix = w.pick("cali", "cali,tap")
		}
		c.SetConfig(cfg)
	default:
		// Set the same resource twice: a no-op for the state.
		keys := w.liveKeys(res)
		if len(keys) == 0 {
			return
		}
		ev := w.live[keys[w.rng.IntN(len(keys))]]
		ev.Type = datastore.Modified
		c.OnEvent(res, ev)
	}
}

// fresh is a new Calculator with c's settings fed only the live objects, in a random order.
func (w *randomWorld) fresh(c *Calculator) *Calculator {
	f := New(host, c.Config())
	f.OnEvent(res, datastore.Event{Type: datastore.Resync})
	f.OnEvent(ipamPfx, datastore.Event{Type: datastore.Resync})
	keys := w.liveKeys("/")
	w.rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		feed(f, w.live[k])
	}
	f.OnEvent(res, datastore.Event{Type: datastore.InSync})
	f.OnEvent(ipamPfx, datastore.Event{Type: datastore.InSync})
	return f
}

func stateJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding the state: %v", err)
	}
	return string(b)
}

func TestIncrementalStateEqualsStateFromScratch(t *testing.T) {
	seeds, steps := 6, 400
	if testing.Short() {
		seeds, steps = 2, 150
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			w := newRandomWorld(uint64(seed))
			c := newCalc(t)
			var prev any
			var prevJSON string
			for i := range steps {
				w.step(c)
				checkGroups(t, c)
				got := c.State()
				want := w.fresh(c).State()
				if diff := stateDiff(got, want); diff != "" {
					t.Fatalf("step %d: the state built up event by event differs from one built from scratch (got, want):\n%s",
						i, diff)
				}
				// States handed out earlier share data with the Calculator's caches: they must stay as they were.
				if prev != nil {
					if now := stateJSON(t, prev); now != prevJSON {
						t.Fatalf("step %d: the state of step %d changed after it was returned:\n then %s\n now  %s",
							i, i-1, prevJSON, now)
					}
				}
				prev, prevJSON = got, stateJSON(t, got)
			}
		})
	}
}

// TestIncrementalStateAfterBurstsEqualsStateFromScratch is the test above with several events between States, as
// when felix drains a burst of events into one update: the caches States keep must catch up on several changes
// at once (an endpoint gone and another come, one replaced by a newer one of the same interface, ...).
func TestIncrementalStateAfterBurstsEqualsStateFromScratch(t *testing.T) {
	seeds, steps := 6, 150
	if testing.Short() {
		seeds, steps = 2, 60
	}
	for seed := range seeds {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			w := newRandomWorld(uint64(seed) + 1000)
			c := newCalc(t)
			for i := range steps {
				for range 1 + w.rng.IntN(6) {
					w.step(c)
				}
				checkGroups(t, c)
				if diff := stateDiff(c.State(), w.fresh(c).State()); diff != "" {
					t.Fatalf("step %d: the state built up burst by burst differs from one built from scratch (got, want):\n%s",
						i, diff)
				}
			}
		})
	}
}

// TestRandomWorldExercisesEverything guards the test above against a generator that stopped producing what it
// is meant to compare: local endpoints with policies, selector and named-port ipsets with members, IPIP routes.
func TestRandomWorldExercisesEverything(t *testing.T) {
	w := newRandomWorld(1)
	c := newCalc(t)
	policies, members, portMembers, ipip := 0, 0, 0, 0
	for range 400 {
		w.step(c)
		st := c.State()
		for name, rs := range st.Tables["filter"].Chains {
			if len(name) > 8 && (name[:8] == "cali-pi-" || name[:8] == "cali-po-") && len(rs) > 0 {
				policies++
			}
		}
		for name, s := range st.IPSets {
			if len(name) > 7 && name[6] == 's' {
				members += len(s.Members)
			}
			if len(name) > 7 && name[6] == 'n' {
				portMembers += len(s.Members)
			}
		}
		for _, r := range st.Routes {
			if r.Iface == TunnelName && r.Dst.Bits() == 32 {
				ipip++
			}
		}
	}
	if policies == 0 || members == 0 || portMembers == 0 || ipip == 0 {
		t.Errorf("expected rendered policy chains, selector and named-port ipset members and borrowed-address IPIP "+
			"routes over 400 random steps, got %d, %d, %d and %d", policies, members, portMembers, ipip)
	}
}

// stateDiff describes where two states differ, part by part and, in maps, key by key; "" when they are equal.
func stateDiff(got, want *desired.State) string {
	var b strings.Builder
	diffMap := func(what string, g, w any) {
		gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
		if gv.IsNil() != wv.IsNil() {
			fmt.Fprintf(&b, "%s: %v\n  vs %v\n", what, g, w)
			return
		}
		keys := map[string]bool{}
		for _, k := range append(gv.MapKeys(), wv.MapKeys()...) {
			keys[k.String()] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			kv := reflect.ValueOf(k)
			a, c := gv.MapIndex(kv), wv.MapIndex(kv)
			if a.IsValid() != c.IsValid() || (a.IsValid() && !reflect.DeepEqual(a.Interface(), c.Interface())) {
				var av, cv any = "absent", "absent"
				if a.IsValid() {
					av = a.Interface()
				}
				if c.IsValid() {
					cv = c.Interface()
				}
				fmt.Fprintf(&b, "%s[%s]: %+v\n  vs %+v\n", what, k, av, cv)
			}
		}
	}
	if !reflect.DeepEqual(got.Routes, want.Routes) {
		fmt.Fprintf(&b, "routes: %q\n  vs %q\n", routeStrings(got.Routes), routeStrings(want.Routes))
	}
	diffMap("interfaces", got.Interfaces, want.Interfaces)
	diffMap("sysctls", got.Sysctls, want.Sysctls)
	if !reflect.DeepEqual(got.Tunnel, want.Tunnel) {
		fmt.Fprintf(&b, "tunnel: %+v vs %+v\n", got.Tunnel, want.Tunnel)
	}
	for _, tables := range []struct {
		name string
		g, w map[string]*desired.Table
	}{{"iptables", got.Tables, want.Tables}, {"ip6tables", got.Tables6, want.Tables6}} {
		if (tables.g == nil) != (tables.w == nil) {
			fmt.Fprintf(&b, "%s: %v vs %v\n", tables.name, tables.g, tables.w)
			continue
		}
		for _, name := range []string{"filter", "nat", "mangle", "raw"} {
			g, w := tables.g[name], tables.w[name]
			if (g == nil) != (w == nil) {
				fmt.Fprintf(&b, "%s %s: %v vs %v\n", tables.name, name, g, w)
				continue
			}
			if g != nil {
				diffMap(tables.name+" "+name+" chains", g.Chains, w.Chains)
				diffMap(tables.name+" "+name+" hooks", g.Hooks, w.Hooks)
			}
		}
	}
	diffMap("ipsets", got.IPSets, want.IPSets)
	if b.Len() == 0 && !reflect.DeepEqual(got, want) {
		b.WriteString("differ in a way not shown part by part\n")
	}
	return b.String()
}

// checkGroups fails unless every workload endpoint is in the group of its label set and namespace, at its place,
// and the groups hold nothing else.
func checkGroups(t *testing.T, c *Calculator) {
	t.Helper()
	n := 0
	for k, eps := range c.groups {
		if len(eps) == 0 {
			t.Fatalf("group %v is empty", k)
		}
		for i, ep := range eps {
			if c.endpoints[ep.key] != ep || ep.groupPos != i || (groupKey{ep.labelSet, ep.namespace}) != k ||
				!maps.Equal(ep.labels, k.labels.labels) {
				t.Fatalf("endpoint %s at %d of group %v: stored %v, place %d, labels %v", ep.key, i, k,
					c.endpoints[ep.key] == ep, ep.groupPos, ep.labels)
			}
			n++
		}
	}
	if n != len(c.endpoints) {
		t.Fatalf("the groups hold %d endpoints, the calculation %d", n, len(c.endpoints))
	}
}
