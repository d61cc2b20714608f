package calc

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

// TunnelName is the IPIP device felix manages.
const TunnelName = "tunl0"

// State computes the complete desired state of this host from what the Calculator holds. Every call builds a
// fresh State that shares nothing mutable with earlier ones. With IPv6Support, the ip6tables tables (Tables6) and
// the IPv6 ipsets mirror the IPv4 ones; without it, Tables6 is nil and felix leaves ip6tables alone.
func (c *Calculator) State() *desired.State {
	st := &desired.State{
		Interfaces: map[string]desired.Interface{},
		Sysctls:    map[string]string{"net/ipv4/ip_forward": "1"},
		IPSets:     map[string]desired.IPSet{},
	}
	pools := c.familyPools(false)
	ipip, nat := addPoolIPSets(st, pools, rules.IPSetAllPools, rules.IPSetMasqPools)
	base := rules.Config{
		InterfacePrefixes:    c.cfg.interfacePrefixes(),
		EndpointToHostAction: c.cfg.DefaultEndpointToHostAction,
		FailsafeInbound:      c.cfg.FailsafeInbound,
		FailsafeOutbound:     c.cfg.FailsafeOutbound,
		LogPrefix:            c.cfg.LogPrefix,
	}
	cfg4 := base
	cfg4.IPVersion, cfg4.IPIP, cfg4.NATOutgoing = 4, ipip, nat
	families := []family{{r: rules.New(cfg4)}}
	st.Tables = families[0].r.Static()
	families[0].filter = st.Tables[rules.TableFilter]
	if c.cfg.IPv6Support {
		_, nat6 := addPoolIPSets(st, c.familyPools(true), rules.IPSetAllPoolsV6, rules.IPSetMasqPoolsV6)
		cfg6 := base
		cfg6.IPVersion, cfg6.NATOutgoing = 6, nat6
		f6 := family{r: rules.New(cfg6)}
		st.Tables6 = f6.r.Static()
		f6.filter = st.Tables6[rules.TableFilter]
		families = append(families, f6)
	}
	routes := newRouteSet()
	c.addEndpoints(st, families, routes)
	for _, a := range c.affinities {
		if a.confirmed && a.host == c.host && (a.cidr.Addr().Is4() || c.cfg.IPv6Support) {
			routes.add(desired.Route{Dst: a.cidr, Type: desired.Blackhole})
		}
	}
	if ipip {
		c.addIPIP(st, pools, routes)
	}
	st.Routes = routes.sorted()
	return st
}

// family is one IP family's renderer and the filter table its endpoint, profile and policy chains go into.
type family struct {
	r      *rules.Renderer
	filter *desired.Table
}

// addPoolIPSets adds the all-pools and masq-pools ipsets of one family and says whether any of its pools uses IPIP
// or natOutgoing.
func addPoolIPSets(st *desired.State, pools []pool, allName, masqName string) (ipip, nat bool) {
	var all, masq []string
	for _, p := range pools {
		all = append(all, member(p.cidr))
		if p.natOutgoing {
			masq = append(masq, member(p.cidr))
			nat = true
		}
		if p.ipipMode == api.EncapAlways || p.ipipMode == api.EncapCrossSubnet {
			ipip = true
		}
	}
	st.IPSets[allName] = desired.IPSet{Type: desired.HashNet, Members: all}
	st.IPSets[masqName] = desired.IPSet{Type: desired.HashNet, Members: masq}
	return ipip, nat
}

// addEndpoints adds what the local endpoints need: their routes and interface sysctls, and in the filter table of
// each family their chains and the dispatch chains, the chains of the profiles and policies they use, and the
// ipsets those rules match on. Every local endpoint gets its chains in both families whatever its addresses, so
// that no traffic from or to a workload interface escapes policy.
func (c *Calculator) addEndpoints(st *desired.State, families []family, routes *routeSet) {
	local := c.localEndpoints()
	ifaces := make([]string, 0, len(local))
	policies := c.sortedPolicies()
	usedProfiles := map[string]bool{}
	usedPolicies := map[*policy]bool{}
	for _, ep := range local {
		ifaces = append(ifaces, ep.iface)
		labels := c.effectiveLabels(ep)
		re := rules.Endpoint{Iface: ep.iface, Profiles: ep.profiles}
		for _, p := range policies {
			if !p.selects(ep, labels) {
				continue
			}
			usedPolicies[p] = true
			if p.spec.Ingress {
				re.IngressPolicies = append(re.IngressPolicies, p.name)
			}
			if p.spec.Egress {
				re.EgressPolicies = append(re.EgressPolicies, p.name)
			}
		}
		for _, name := range ep.profiles {
			usedProfiles[name] = true
		}
		for _, f := range families {
			addChains(f.filter, f.r.Endpoint(re))
		}

		sysctls := map[string]string{
			"net/ipv4/conf/" + ep.iface + "/proxy_arp":    "1",
			"net/ipv4/neigh/" + ep.iface + "/proxy_delay": "0",
			"net/ipv4/conf/" + ep.iface + "/forwarding":   "1",
			"net/ipv4/conf/" + ep.iface + "/rp_filter":    "1",
		}
		for _, n := range ep.nets {
			if n.Addr().Is6() {
				if !c.cfg.IPv6Support {
					continue
				}
				sysctls["net/ipv6/conf/"+ep.iface+"/proxy_ndp"] = "1"
				sysctls["net/ipv6/conf/"+ep.iface+"/forwarding"] = "1"
				// IPv6 forwards between interfaces only when forwarding is on for all of them.
				st.Sysctls["net/ipv6/conf/all/forwarding"] = "1"
			}
			routes.add(desired.Route{Dst: n, Type: desired.Unicast, Iface: ep.iface})
		}
		st.Interfaces[ep.iface] = desired.Interface{Name: ep.iface, Sysctls: sysctls}
	}

	// The IPv4 and IPv6 sets of one selector have the same members, so each selector is evaluated once.
	members := map[string]familyMembers{}
	for _, f := range families {
		addChains(f.filter, f.r.Dispatch(ifaces))
		sets := map[string]rules.SelectorSet{}
		for name := range usedProfiles {
			addChains(f.filter, c.renderProfile(f.r, name, sets))
		}
		for p := range usedPolicies {
			addChains(f.filter, renderPolicy(f.r, p, sets))
		}
		for name, s := range sets {
			key := s.Selector.String()
			if s.NamespaceSelector != nil {
				key += " ns: " + s.NamespaceSelector.String()
			}
			m, ok := members[key]
			if !ok {
				m = c.members(s)
				members[key] = m
			}
			st.IPSets[name] = desired.IPSet{Type: desired.HashNet, Members: m.of(f.r.IPVersion() == 6)}
		}
	}
}

// addIPIP adds the tunnel, the all-hosts-net ipset the IPIP rules match on, and the routes to other hosts' blocks
// of IPIP pools.
func (c *Calculator) addIPIP(st *desired.State, pools []pool, routes *routeSet) {
	st.Tunnel = &desired.Tunnel{Name: TunnelName, Address: c.nodeByName[c.host].tunnelAddr, MTU: c.cfg.ipipMTU()}
	var hosts []string
	for _, n := range c.nodes {
		if n.ipv4.IsValid() {
			hosts = append(hosts, n.ipv4.Addr().String())
		}
	}
	st.IPSets[rules.IPSetAllHosts] = desired.IPSet{Type: desired.HashNet, Members: sortedUnique(hosts)}
	c.ipipRoutes(pools, routes)
}

func addChains(t *desired.Table, chains map[string][]desired.Rule) {
	for name, rs := range chains {
		t.Chains[name] = rs
	}
}

// renderProfile renders a profile's chains. A profile that does not exist yet, or whose rules cannot be rendered,
// gets empty chains: the endpoint chains can still jump to them, and they accept nothing.
func (c *Calculator) renderProfile(r *rules.Renderer, name string, sets map[string]rules.SelectorSet) map[string][]desired.Rule {
	var spec api.ProfileSpec
	if p := c.profileByName[name]; p != nil {
		spec = p.Spec
	}
	out, err := r.Profile(name, spec)
	if err != nil {
		out, _ = r.Profile(name, api.ProfileSpec{})
	}
	for _, s := range out.IPSets {
		sets[s.Name] = s
	}
	return out.Chains
}

// renderPolicy renders a policy's chains; one whose rules cannot be rendered gets empty chains, which drop.
func renderPolicy(r *rules.Renderer, p *policy, sets map[string]rules.SelectorSet) map[string][]desired.Rule {
	out, err := r.Policy(p.spec)
	if err != nil {
		out, _ = r.Policy(rules.Policy{Name: p.spec.Name, Ingress: p.spec.Ingress, Egress: p.spec.Egress})
	}
	for _, s := range out.IPSets {
		sets[s.Name] = s
	}
	return out.Chains
}

// familyPools returns the IPv4 (or IPv6) pools, most specific first so that poolFor finds the narrowest match.
// Disabled pools are included: disabling a pool only stops new allocations, its addresses keep their routes and
// NAT.
func (c *Calculator) familyPools(v6 bool) []pool {
	var out []pool
	for _, p := range c.pools {
		if p.cidr.Addr().Is6() == v6 {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b pool) int {
		return cmp.Or(-cmp.Compare(a.cidr.Bits(), b.cidr.Bits()), a.cidr.Addr().Compare(b.cidr.Addr()))
	})
	return out
}

func poolFor(pools []pool, p netip.Prefix) (pool, bool) {
	for _, pl := range pools {
		if pl.cidr.Bits() <= p.Bits() && pl.cidr.Contains(p.Addr()) {
			return pl, true
		}
	}
	return pool{}, false
}

// localEndpoints returns this host's endpoints that have an interface, one per interface (the newest wins), in
// interface order.
func (c *Calculator) localEndpoints() []*endpoint {
	var eps []*endpoint
	for _, ep := range c.endpoints {
		if ep.node == c.host && ep.iface != "" {
			eps = append(eps, ep)
		}
	}
	slices.SortFunc(eps, func(a, b *endpoint) int {
		return cmp.Or(cmp.Compare(a.iface, b.iface), -cmp.Compare(a.revision, b.revision), cmp.Compare(a.key, b.key))
	})
	return slices.CompactFunc(eps, func(a, b *endpoint) bool { return a.iface == b.iface })
}

// sortedPolicies orders policies as they run: by order (unset last), then by name.
func (c *Calculator) sortedPolicies() []*policy {
	out := make([]*policy, 0, len(c.policies))
	for _, p := range c.policies {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *policy) int {
		switch {
		case a.order != nil && b.order != nil && *a.order != *b.order:
			return cmp.Compare(*a.order, *b.order)
		case a.order != nil && b.order == nil:
			return -1
		case a.order == nil && b.order != nil:
			return 1
		}
		return cmp.Compare(a.name, b.name)
	})
	return out
}

// selects says whether the policy applies to the endpoint. A NetworkPolicy applies only in its own namespace.
func (p *policy) selects(ep *endpoint, labels map[string]string) bool {
	if p.selector == nil || (p.namespace != "" && p.namespace != ep.namespace) {
		return false
	}
	return p.selector.Evaluate(labels)
}

// effectiveLabels are the endpoint's own labels over its profiles' labelsToApply (an earlier profile wins over a
// later one).
func (c *Calculator) effectiveLabels(ep *endpoint) map[string]string {
	if ep.effective != nil {
		return ep.effective
	}
	l := ep.labels
	if len(ep.profiles) > 0 {
		l = map[string]string{}
		for i := len(ep.profiles) - 1; i >= 0; i-- {
			if p := c.profileByName[ep.profiles[i]]; p != nil {
				for k, v := range p.Spec.LabelsToApply {
					l[k] = v
				}
			}
		}
		for k, v := range ep.labels {
			l[k] = v
		}
	}
	ep.effective = l
	return l
}

// members lists, per family, the addresses of every endpoint in the cluster and the nets of every
// GlobalNetworkSet that the selector set contains.
func (c *Calculator) members(s rules.SelectorSet) familyMembers {
	var out familyMembers
	add := func(m familyMembers) {
		out.v4 = append(out.v4, m.v4...)
		out.v6 = append(out.v6, m.v6...)
	}
	for _, ep := range c.endpoints {
		if len(ep.members.v4)+len(ep.members.v6) > 0 && s.Contains(c.effectiveLabels(ep), ep.namespace) {
			add(ep.members)
		}
	}
	for _, ns := range c.netSets {
		if len(ns.members.v4)+len(ns.members.v6) > 0 && s.Contains(ns.labels, "") {
			add(ns.members)
		}
	}
	out.v4, out.v6 = sortedUnique(out.v4), sortedUnique(out.v6)
	return out
}

// ipipRoutes adds the routes to other hosts' blocks in IPIP pools (BIRD leaves those to felix): through tunl0 for
// ipipMode Always, and for CrossSubnet when the other host is outside this host's subnet; directly via the other
// host's address for CrossSubnet inside it. An address of such a pool used by another host's workload outside that
// host's own blocks (a borrowed address) gets a host route the same way.
func (c *Calculator) ipipRoutes(pools []pool, routes *routeSet) {
	this := c.nodeByName[c.host]
	route := func(dst netip.Prefix, host string) {
		pl, ok := poolFor(pools, dst)
		if !ok || (pl.ipipMode != api.EncapAlways && pl.ipipMode != api.EncapCrossSubnet) {
			return
		}
		n, ok := c.nodeByName[host]
		if !ok || !n.ipv4.IsValid() {
			return // no address to route to yet
		}
		gw := n.ipv4.Addr()
		if pl.ipipMode == api.EncapCrossSubnet && this.ipv4.IsValid() && this.ipv4.Masked().Contains(gw) {
			routes.add(desired.Route{Dst: dst, Type: desired.Unicast, Gateway: gw})
			return
		}
		routes.add(desired.Route{Dst: dst, Type: desired.Unicast, Iface: TunnelName, Gateway: gw, OnLink: true})
	}

	blocks := map[string][]netip.Prefix{} // other hosts' confirmed IPv4 blocks
	for _, a := range c.affinities {
		if a.confirmed && a.host != c.host && a.cidr.Addr().Is4() {
			blocks[a.host] = append(blocks[a.host], a.cidr)
			route(a.cidr, a.host)
		}
	}
	for _, ep := range c.endpoints {
		if ep.node == c.host || ep.node == "" {
			continue
		}
	nets:
		for _, n := range ep.nets {
			if !n.Addr().Is4() {
				continue
			}
			for _, b := range blocks[ep.node] {
				if b.Contains(n.Addr()) {
					continue nets
				}
			}
			route(n, ep.node)
		}
	}
}

// routeSet collects routes, one per destination: the first added wins (local workloads come first).
type routeSet struct {
	byDst map[netip.Prefix]desired.Route
}

func newRouteSet() *routeSet { return &routeSet{byDst: map[netip.Prefix]desired.Route{}} }

func (s *routeSet) add(r desired.Route) {
	if _, ok := s.byDst[r.Dst]; !ok {
		s.byDst[r.Dst] = r
	}
}

func (s *routeSet) sorted() []desired.Route {
	out := make([]desired.Route, 0, len(s.byDst))
	for _, r := range s.byDst {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b desired.Route) int {
		return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), cmp.Compare(a.Dst.Bits(), b.Dst.Bits()))
	})
	return out
}

// membersOf writes prefixes as ipset members of their family.
func membersOf(nets []netip.Prefix) familyMembers {
	var m familyMembers
	for _, n := range nets {
		if n.Addr().Is4() {
			m.v4 = append(m.v4, member(n))
		} else {
			m.v6 = append(m.v6, member(n))
		}
	}
	return m
}

// member writes a prefix as an ipset member: a bare address for a single host, as ipset lists it.
func member(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func sortedUnique(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}
