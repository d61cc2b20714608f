package calc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/selector"
)

const (
	host    = "node1"
	res     = datastore.ResourcePrefix
	ipamPfx = datastore.IPAMPrefix
)

func ptr[T any](v T) *T { return &v }

// added and deleted build watch events for a resource.
func added(r api.Resource) datastore.Event {
	api.SetTypeMeta(r)
	return datastore.Event{Type: datastore.Added, Key: keyOf(r), Resource: r}
}

func deleted(r api.Resource) datastore.Event {
	api.SetTypeMeta(r)
	return datastore.Event{Type: datastore.Deleted, Key: keyOf(r)}
}

func keyOf(r api.Resource) string {
	m := r.GetObjectMeta()
	return datastore.ResourceKey(api.KindOf(r), m.Namespace, m.Name)
}

// affinityEvent is a block affinity of host with the given JSON state ("" writes {}).
func affinityEvent(t datastore.EventType, node, cidr, state string) datastore.Event {
	value := "{}"
	if state != "" {
		value = fmt.Sprintf(`{"state":%q}`, state)
	}
	return datastore.Event{Type: t, Key: ipam.AffinityKey(node, netip.MustParsePrefix(cidr)), Value: []byte(value)}
}

func wep(node, name, iface, ip string, profiles ...string) *api.WorkloadEndpoint {
	return &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.WorkloadEndpointSpec{Orchestrator: "cni", Node: node, InterfaceName: iface,
			IPNetworks: []string{ip}, Profiles: profiles},
	}
}

func withLabels[R api.Resource](r R, kv ...string) R {
	m := r.GetObjectMeta()
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Labels[kv[i]] = kv[i+1]
	}
	return r
}

// cniProfile is the profile the CNI plugin writes for network name.
func cniProfile(name string) *api.Profile {
	return &api.Profile{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.ProfileSpec{
		Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(" + name + ")"}}},
		Egress:        []api.Rule{{Action: api.ActionAllow}},
		LabelsToApply: map[string]string{name: ""},
	}}
}

func ipPool(name, cidr, ipip string, nat bool) *api.IPPool {
	return &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: ipip, NATOutgoing: nat}}
}

func calicoNode(name, addr, tunnel string) *api.Node {
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{IPv4Address: addr, IPv4IPIPTunnelAddr: tunnel}}}
}

// newCalc returns a Calculator for host that has seen the given resource and IPAM events after a full listing.
func newCalc(t *testing.T, evs ...datastore.Event) *Calculator {
	t.Helper()
	c := New(host, DefaultConfig())
	c.OnEvent(res, datastore.Event{Type: datastore.Resync})
	c.OnEvent(ipamPfx, datastore.Event{Type: datastore.Resync})
	feed(c, evs...)
	c.OnEvent(res, datastore.Event{Type: datastore.InSync})
	c.OnEvent(ipamPfx, datastore.Event{Type: datastore.InSync})
	return c
}

// feed applies events, each to the watch its key belongs to.
func feed(c *Calculator, evs ...datastore.Event) {
	for _, ev := range evs {
		prefix := res
		if strings.HasPrefix(ev.Key, ipamPfx) {
			prefix = ipamPfx
		}
		c.OnEvent(prefix, ev)
	}
}

// routeStrings renders routes the way `ip route` would, for readable comparisons.
func routeStrings(rs []desired.Route) []string {
	var out []string
	for _, r := range rs {
		var s string
		switch {
		case r.Type == desired.Blackhole:
			s = "blackhole " + r.Dst.String()
		case r.Gateway.IsValid():
			s = r.Dst.String() + " via " + r.Gateway.String()
			if r.Iface != "" {
				s += " dev " + r.Iface
			}
			if r.OnLink {
				s += " onlink"
			}
		default:
			s = r.Dst.String() + " dev " + r.Iface + " scope link"
		}
		out = append(out, s)
	}
	return out
}

func assertRoutes(t *testing.T, st *desired.State, want ...string) {
	t.Helper()
	got := routeStrings(st.Routes)
	if !slices.Equal(got, want) {
		t.Errorf("routes:\n got  %q\n want %q", got, want)
	}
}

func setName(sel string) string {
	return ("cali40" + selector.MustParse(sel).UniqueID())[:31]
}

// setName6 is the IPv6 ipset of a selector.
func setName6(sel string) string {
	return ("cali60" + selector.MustParse(sel).UniqueID())[:31]
}

// chain6 returns a chain of the ip6tables filter table.
func chain6(t *testing.T, st *desired.State, name string) []desired.Rule {
	t.Helper()
	if st.Tables6 == nil {
		t.Fatalf("expected ip6tables tables, got none")
	}
	rs, ok := st.Tables6[rules.TableFilter].Chains[name]
	if !ok {
		t.Fatalf("expected ip6tables filter chain %s, got none", name)
	}
	return rs
}

func chainNames(st *desired.State) []string {
	var out []string
	for name := range st.Tables[rules.TableFilter].Chains {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func hasChain(st *desired.State, name string) bool {
	_, ok := st.Tables[rules.TableFilter].Chains[name]
	return ok
}

func chain(t *testing.T, st *desired.State, name string) []desired.Rule {
	t.Helper()
	rs, ok := st.Tables[rules.TableFilter].Chains[name]
	if !ok {
		t.Fatalf("expected filter chain %s, got chains %v", name, chainNames(st))
	}
	return rs
}

// jumps lists the chains a chain jumps or goes to, in order.
func jumps(rs []desired.Rule) []string {
	var out []string
	for _, r := range rs {
		for _, verb := range []string{"--jump ", "--goto "} {
			if target, ok := strings.CutPrefix(r.Action, verb); ok && strings.HasPrefix(target, "cali-") {
				out = append(out, target)
			}
		}
	}
	return out
}
