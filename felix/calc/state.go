package calc

import (
	"cmp"
	"encoding/binary"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sort"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

// TunnelName is the IPIP device felix manages; VXLANName the VXLAN one.
const (
	TunnelName = "tunl0"
	VXLANName  = "vxlan.calico"
)

// State computes the complete desired state of this host from what the Calculator holds, reusing what earlier
// calls and the events since computed: a State costs about as much as this host's local endpoints and the
// policies, profiles and ipsets they use, not the size of the cluster. With IPv6Support, the ip6tables tables
// (Tables6) and the IPv6 ipsets mirror the IPv4 ones; without it, Tables6 is nil and felix leaves ip6tables alone.
//
// The returned State shares immutable parts with the Calculator and with earlier States: chains' rule slices,
// ipset member slices and interface sysctl maps. The caller must not modify a State (its maps of tables, chains,
// ipsets and interfaces are its own, but what they hold is shared); the Calculator never changes what it handed
// out.
func (c *Calculator) State() *desired.State {
	st := &desired.State{
		Interfaces: map[string]desired.Interface{},
		Sysctls:    map[string]string{"net/ipv4/ip_forward": "1"},
		IPSets:     map[string]desired.IPSet{},
	}
	pools := c.familyPools(false)
	ipip, vxlan, nat := addPoolIPSets(st, pools, rules.IPSetAllPools, rules.IPSetMasqPools)
	if c.cfg.VXLANEnabled != nil {
		vxlan = *c.cfg.VXLANEnabled
	}
	heps := c.localHostEndpoints()
	base := rules.Config{
		HostEndpoints:         len(heps) > 0,
		AllInterfacesEndpoint: slices.ContainsFunc(heps, func(h *endpoint) bool { return h.iface == rules.AllInterfaces }),
		InterfacePrefixes:     c.cfg.interfacePrefixes(),
		EndpointToHostAction:  c.cfg.DefaultEndpointToHostAction,
		FailsafeInbound:       c.cfg.FailsafeInbound,
		FailsafeOutbound:      c.cfg.FailsafeOutbound,
		LogPrefix:             c.cfg.LogPrefix,
	}
	cfg4 := base
	cfg4.IPVersion, cfg4.IPIP, cfg4.NATOutgoing = 4, ipip, nat
	if vxlan {
		cfg4.VXLANPort = c.cfg.vxlanPort()
	}
	families := []family{c.family(0, cfg4)}
	st.Tables = c.staticTables(families[0])
	families[0].filter = st.Tables[rules.TableFilter]
	if c.cfg.IPv6Support {
		_, _, nat6 := addPoolIPSets(st, c.familyPools(true), rules.IPSetAllPoolsV6, rules.IPSetMasqPoolsV6)
		cfg6 := base
		cfg6.IPVersion, cfg6.NATOutgoing = 6, nat6
		f6 := c.family(1, cfg6)
		st.Tables6 = c.staticTables(f6)
		f6.filter = st.Tables6[rules.TableFilter]
		families = append(families, f6)
	}
	c.addEndpoints(st, families, heps)
	if c.otherRoutes == nil || c.otherRoutesV6 != c.cfg.IPv6Support || c.otherVXLAN != vxlan {
		c.otherRoutes = c.computeOtherRoutes(pools, ipip, vxlan)
		c.otherRoutesV6, c.otherVXLAN = c.cfg.IPv6Support, vxlan
	}
	st.VethMTU = c.cfg.hostMTU()
	if ipip {
		c.addIPIP(st)
		st.VethMTU = min(st.VethMTU, st.Tunnel.MTU)
	}
	if vxlan {
		c.addVXLAN(st)
		st.VethMTU = min(st.VethMTU, c.cfg.vxlanMTU())
	}
	st.Routes = mergeRoutes(c.routeOrder, c.otherRoutes)
	return st
}

// mergeRoutes merges two lists of routes sorted by destination into a new one; for a destination in both, the
// local route wins.
func mergeRoutes(local, other []desired.Route) []desired.Route {
	out := make([]desired.Route, 0, len(local)+len(other))
	i, j := 0, 0
	for i < len(local) || j < len(other) {
		d := -1 // which comes first: local[i] (< 0), other[j] (> 0), or both, one destination (0)
		switch {
		case i == len(local):
			d = 1
		case j < len(other):
			d = compareDst(local[i].Dst, other[j].Dst)
		}
		if d <= 0 {
			out = append(out, local[i])
			i++
			if d == 0 {
				j++
			}
		} else {
			out = append(out, other[j])
			j++
		}
	}
	return out
}

// compareDst orders route destinations as State lists them: by address, then prefix length.
func compareDst(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// updateLocalRoutes brings the local endpoints' routes up to date: each endpoint's routes, the first endpoint of a
// destination winning (so the union is built from the endpoints in reverse), and routeOrder, the same sorted.
func (c *Calculator) updateLocalRoutes(local []*endpoint) {
	rev := make([]*endpoint, len(local))
	for i, ep := range local {
		rev[len(local)-1-i] = ep
	}
	v6 := c.cfg.IPv6Support
	c.localRoutes.update(rev, func(*endpoint) any { return v6 }, func(ep *endpoint) map[netip.Prefix]desired.Route {
		m := map[netip.Prefix]desired.Route{}
		for _, n := range ep.nets {
			if n.Addr().Is6() && !v6 {
				continue
			}
			if _, ok := m[n]; !ok {
				m[n] = desired.Route{Dst: n, Type: desired.Unicast, Iface: ep.iface}
			}
		}
		return m
	})
	lr := &c.localRoutes
	if lr.rebuilt {
		c.routeOrder = slices.SortedFunc(maps.Values(lr.all), func(a, b desired.Route) int { return compareDst(a.Dst, b.Dst) })
		return
	}
	for _, dst := range lr.changed {
		i, found := slices.BinarySearchFunc(c.routeOrder, dst, func(r desired.Route, d netip.Prefix) int { return compareDst(r.Dst, d) })
		r, want := lr.all[dst]
		switch {
		case want && found:
			c.routeOrder[i] = r
		case want:
			c.routeOrder = slices.Insert(c.routeOrder, i, r)
		case found:
			c.routeOrder = slices.Delete(c.routeOrder, i, i+1)
		}
	}
}

// family is one IP family's renderer and the filter table its endpoint, profile and policy chains go into.
type family struct {
	i      int // 0 for IPv4, 1 for IPv6: the index of the family's caches
	r      *rules.Renderer
	filter *desired.Table
}

// family returns the renderer of one family, first dropping the family's rendered chains if they were rendered
// with other settings.
func (c *Calculator) family(i int, cfg rules.Config) family {
	if c.renderCfg[i] == nil || !reflect.DeepEqual(*c.renderCfg[i], cfg) {
		c.renderCfg[i] = &cfg
		c.static[i] = nil
		c.dispatch[i] = rules.DispatchMemo{}
		c.profileChains[i] = map[string]*rendered{}
		c.endpointRules[i] = nil
		for _, p := range c.policies {
			p.chains[i] = nil
		}
		for _, ep := range c.local {
			ep.chains[i] = nil
		}
	}
	return family{i: i, r: rules.New(cfg)}
}

// staticTables returns the family's static tables, rendered once per rendering settings, as tables of the
// caller's own (their chains' rule slices are shared, as every State's are).
func (c *Calculator) staticTables(f family) map[string]*desired.Table {
	if c.static[f.i] == nil {
		c.static[f.i] = f.r.Static()
	}
	out := make(map[string]*desired.Table, len(c.static[f.i]))
	for name, t := range c.static[f.i] {
		own := *t
		own.Chains, own.Hooks = maps.Clone(t.Chains), maps.Clone(t.Hooks)
		out[name] = &own
	}
	return out
}

// computeOtherRoutes lists the routes that do not go to local workloads: blackholes for this host's blocks, and
// with IPIP or VXLAN the routes to other hosts' blocks and borrowed addresses in those pools.
func (c *Calculator) computeOtherRoutes(pools []pool, ipip, vxlan bool) []desired.Route {
	routes := newRouteSet()
	for _, a := range c.affinities {
		if a.confirmed && a.host == c.host && (a.cidr.Addr().Is4() || c.cfg.IPv6Support) {
			routes.add(desired.Route{Dst: a.cidr, Type: desired.Blackhole})
		}
	}
	if ipip || vxlan {
		c.encapRoutes(pools, vxlan, routes)
	}
	out := routes.sorted()
	if out == nil {
		out = []desired.Route{} // computed, and empty
	}
	return out
}

// addPoolIPSets adds the all-pools and masq-pools ipsets of one family and says whether any of its pools uses IPIP,
// VXLAN or natOutgoing.
func addPoolIPSets(st *desired.State, pools []pool, allName, masqName string) (ipip, vxlan, nat bool) {
	var all, masq []string
	for _, p := range pools {
		all = append(all, member(p.cidr))
		if p.natOutgoing {
			masq = append(masq, member(p.cidr))
			nat = true
		}
		ipip = ipip || encapOn(p.ipipMode)
		vxlan = vxlan || encapOn(p.vxlanMode)
	}
	st.IPSets[allName] = desired.IPSet{Type: desired.HashNet, Members: all}
	st.IPSets[masqName] = desired.IPSet{Type: desired.HashNet, Members: masq}
	return ipip, vxlan, nat
}

// encapOn says whether an ipipMode or vxlanMode encapsulates at all.
func encapOn(mode string) bool { return mode == api.EncapAlways || mode == api.EncapCrossSubnet }

// addEndpoints adds what the local endpoints need: their routes and interface sysctls, and in the filter table of
// each family their chains and the dispatch chains, the chains of the profiles and policies they use, and the
// ipsets those rules match on. Every local endpoint gets its chains in both families whatever its addresses, so
// that no traffic from or to a workload interface escapes policy.
func (c *Calculator) addEndpoints(st *desired.State, families []family, heps []*endpoint) {
	local := c.localEndpoints()
	ifaces := make([]string, 0, len(local))
	var usedProfiles []string
	seenProfiles := map[string]bool{}
	usedPolicies := map[*policy]bool{}
	for _, ep := range local {
		ifaces = append(ifaces, ep.iface)
		for p := range ep.policies {
			usedPolicies[p] = true
		}
		for _, name := range ep.profiles {
			if !seenProfiles[name] {
				seenProfiles[name] = true
				usedProfiles = append(usedProfiles, name)
			}
		}
		if ep.ifaceFor == nil || ep.ifaceV6 != c.cfg.IPv6Support {
			ep.ifaceFor, ep.ifaceV6 = c.interfaceOf(ep), c.cfg.IPv6Support
		}
		for _, n := range ep.nets {
			if n.Addr().Is6() {
				if !c.cfg.IPv6Support {
					continue
				}
				// IPv6 forwards between interfaces only when forwarding is on for all of them.
				st.Sysctls["net/ipv6/conf/all/forwarding"] = "1"
			}
		}
	}
	c.updateLocalRoutes(local)
	c.ifaces.update(local, func(ep *endpoint) any { return ep.ifaceFor },
		func(ep *endpoint) map[string]desired.Interface {
			return map[string]desired.Interface{ep.iface: *ep.ifaceFor}
		})
	st.Interfaces = c.ifaces.copy()

	used := map[string]bool{} // selector keys
	for _, f := range families {
		// The endpoints' chains come after the static ones, as if added one by one: an endpoint's chain would
		// replace a static chain of the same name.
		ec := &c.epChains[f.i]
		ec.update(local, func(ep *endpoint) any { return c.endpointChainsOf(f, ep) },
			func(ep *endpoint) map[string][]desired.Rule { return c.endpointChains(f, ep) })
		chains := ec.copy()
		for name, rs := range f.filter.Chains {
			if _, ok := chains[name]; !ok {
				chains[name] = rs
			}
		}
		f.filter.Chains = chains
		addChains(f.filter, f.r.DispatchMemo(ifaces, &c.dispatch[f.i]))
		var sets []rules.SelectorSet
		for _, name := range usedProfiles {
			r := c.profileRendered(f, name)
			addChains(f.filter, r.chains)
			sets = append(sets, r.sets...)
		}
		for p := range usedPolicies {
			r := policyRendered(f, p)
			addChains(f.filter, r.chains)
			sets = append(sets, r.sets...)
		}
		if len(heps) > 0 {
			sets = append(sets, c.addHostEndpoints(f, heps, tablesOf(st, f), seenProfiles)...)
		}
		for _, s := range sets {
			if _, ok := st.IPSets[s.Name]; ok {
				continue
			}
			key := selectorKey(s)
			used[key] = true
			st.IPSets[s.Name] = desired.IPSet{Type: s.IPSetType(), Members: c.selectorIndex(key, s).members(f.i == 1)}
		}
	}
	// Forget the ipsets no local rule uses any more: keeping them up to date would cost every endpoint event.
	for key := range c.sets {
		if !used[key] {
			delete(c.sets, key)
		}
	}
}

// NeedsInterfaceAddrs says whether a host endpoint of this host gives no interfaceName, so that the caller must
// supply Config.InterfaceAddrs.
func (c *Calculator) NeedsInterfaceAddrs() bool {
	for _, h := range c.hostEPs {
		if h.node == c.host && h.iface == "" {
			return true
		}
	}
	return false
}

// tablesOf returns the tables of a family in st.
func tablesOf(st *desired.State, f family) map[string]*desired.Table {
	if f.i == 1 {
		return st.Tables6
	}
	return st.Tables
}

// localHostEndpoints are this host's host endpoints, one per interface (the first key wins a tie). One without an
// interfaceName applies to the interface that holds one of its expected IPs (Config.InterfaceAddrs), if any.
func (c *Calculator) localHostEndpoints() []*endpoint {
	byIface := map[string]*endpoint{}
	for _, h := range c.hostEPs {
		if h.node != c.host {
			continue
		}
		if h.iface == "" {
			iface := ""
			for _, n := range h.nets {
				if iface = c.cfg.InterfaceAddrs[n.Addr()]; iface != "" {
					break
				}
			}
			if iface == "" {
				continue // none of its addresses is on this host (yet)
			}
			resolved := *h
			resolved.iface = iface
			h = &resolved
		}
		if other, ok := byIface[h.iface]; ok {
			if other.key < h.key {
				continue
			}
		}
		byIface[h.iface] = h
	}
	out := slices.Collect(maps.Values(byIface))
	slices.SortFunc(out, func(a, b *endpoint) int { return cmp.Compare(a.iface, b.iface) })
	return out
}

// addHostEndpoints adds the chains of this host's host endpoints to the family's tables, with the chains of the
// policies and profiles they use (a profile also used by workloads is already in the filter table), and returns
// the selector ipsets those rules match on. Host endpoints are few: their policy lists are worked out afresh.
func (c *Calculator) addHostEndpoints(f family, heps []*endpoint, tables map[string]*desired.Table, workloadProfiles map[string]bool) []rules.SelectorSet {
	policies := slices.Collect(maps.Values(c.policies))
	c.sortPolicies(policies)
	var list []rules.HostEndpoint
	usedIn := map[*policy]string{} // the table each used policy's chains go to
	profiles := map[string]bool{}
	for _, h := range heps {
		var selected []*policy
		for _, p := range policies {
			if p.namespace != "" || !p.selects(h, h.labels) {
				continue
			}
			selected = append(selected, p)
			switch {
			case p.doNotTrack:
				usedIn[p] = rules.TableRaw
			case p.preDNAT:
				usedIn[p] = rules.TableMangle
			default:
				usedIn[p] = rules.TableFilter
			}
		}
		normal := func(p *policy) bool { return !p.doNotTrack && !p.preDNAT }
		rh := rules.HostEndpoint{Iface: h.iface, Profiles: h.profiles,
			IngressTiers:          c.tiered(selected, func(p *policy) bool { return normal(p) && p.spec.Ingress }),
			EgressTiers:           c.tiered(selected, func(p *policy) bool { return normal(p) && p.spec.Egress }),
			ForwardIngressTiers:   c.tiered(selected, func(p *policy) bool { return normal(p) && p.applyOnForward && p.spec.Ingress }),
			ForwardEgressTiers:    c.tiered(selected, func(p *policy) bool { return normal(p) && p.applyOnForward && p.spec.Egress }),
			PreDNATTiers:          c.tiered(selected, func(p *policy) bool { return p.preDNAT && p.spec.Ingress }),
			UntrackedIngressTiers: c.tiered(selected, func(p *policy) bool { return p.doNotTrack && p.spec.Ingress }),
			UntrackedEgressTiers:  c.tiered(selected, func(p *policy) bool { return p.doNotTrack && p.spec.Egress }),
		}
		for _, name := range h.profiles {
			profiles[name] = true
		}
		list = append(list, rh)
	}
	for table, chains := range f.r.HostEndpoints(list) {
		addChains(tables[table], chains)
	}
	var sets []rules.SelectorSet
	for p, table := range usedIn {
		r := policyRendered(f, p)
		addChains(tables[table], r.chains)
		sets = append(sets, r.sets...)
	}
	for name := range profiles {
		if workloadProfiles[name] {
			continue // added with the workloads' profiles
		}
		r := c.profileRendered(f, name)
		addChains(tables[rules.TableFilter], r.chains)
		sets = append(sets, r.sets...)
	}
	return sets
}

// interfaceOf is the interface settings of a local endpoint.
func (c *Calculator) interfaceOf(ep *endpoint) *desired.Interface {
	sysctls := map[string]string{
		"net/ipv4/conf/" + ep.iface + "/proxy_arp":    "1",
		"net/ipv4/neigh/" + ep.iface + "/proxy_delay": "0",
		"net/ipv4/conf/" + ep.iface + "/forwarding":   "1",
		"net/ipv4/conf/" + ep.iface + "/rp_filter":    "1",
	}
	for _, n := range ep.nets {
		if n.Addr().Is6() && c.cfg.IPv6Support {
			sysctls["net/ipv6/conf/"+ep.iface+"/proxy_ndp"] = "1"
			sysctls["net/ipv6/conf/"+ep.iface+"/forwarding"] = "1"
		}
	}
	return &desired.Interface{Name: ep.iface, Sysctls: sysctls}
}

// endpointChains returns a local endpoint's chains in one family, rendering them if they are stale.
func (c *Calculator) endpointChains(f family, ep *endpoint) map[string][]desired.Rule {
	return c.endpointChainsOf(f, ep).chains
}

// endpointChainsOf is endpointChains as rendered, for telling renderings apart.
func (c *Calculator) endpointChainsOf(f family, ep *endpoint) *endpointChains {
	if ep.chains[f.i] != nil {
		return ep.chains[f.i]
	}
	policies := make([]*policy, 0, len(ep.policies))
	for p := range ep.policies {
		policies = append(policies, p)
	}
	c.sortPolicies(policies)
	in := c.tiered(policies, func(p *policy) bool { return p.spec.Ingress })
	out := c.tiered(policies, func(p *policy) bool { return p.spec.Egress })
	ep.chains[f.i] = &endpointChains{c.renderEndpointRules(f, in, out, ep.profiles).Chains(ep.iface)}
	return ep.chains[f.i]
}

// renderEndpointRules renders the rules of an endpoint's chains, or returns those of an endpoint rendered from
// the same tiers and profiles.
func (c *Calculator) renderEndpointRules(f family, in, out []rules.Tier, profiles []string) rules.EndpointRules {
	memo := c.endpointRules[f.i]
	// The memo holds at most one entry per distinct local endpoint, and a few more that went out of use; past
	// that it starts again (the renderings already handed out stay valid: they are never changed).
	if memo == nil || len(memo) > 2*len(c.local)+64 {
		memo = map[string]rules.EndpointRules{}
		c.endpointRules[f.i] = memo
	}
	key := endpointRulesKey(in, out, profiles)
	if r, ok := memo[key]; ok {
		return r
	}
	r := f.r.EndpointRules(in, out, profiles)
	memo[key] = r
	return r
}

// endpointRulesKey encodes everything rules.EndpointRules renders from: every list and string prefixed with its
// length, so that no two inputs share a key whatever their names hold.
func endpointRulesKey(in, out []rules.Tier, profiles []string) string {
	b := make([]byte, 0, 256)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, dir := range [][]rules.Tier{in, out} {
		b = binary.AppendUvarint(b, uint64(len(dir)))
		for _, t := range dir {
			str(t.Name)
			str(t.DefaultAction)
			b = binary.AppendUvarint(b, uint64(len(t.Policies)))
			for _, p := range t.Policies {
				str(p)
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(profiles)))
	for _, p := range profiles {
		str(p)
	}
	return string(b)
}

// addIPIP adds the tunnel and the all-hosts-net ipset the IPIP rules match on.
func (c *Calculator) addIPIP(st *desired.State) {
	st.Tunnel = &desired.Tunnel{Name: TunnelName, Address: c.nodeByName[c.host].tunnelAddr, MTU: c.cfg.ipipMTU()}
	var hosts []string
	for _, n := range c.nodes {
		if n.ipv4.IsValid() {
			hosts = append(hosts, n.ipv4.Addr().String())
		}
	}
	st.IPSets[rules.IPSetAllHosts] = desired.IPSet{Type: desired.HashNet, Members: sortedUnique(hosts)}
}

// addVXLAN adds the VXLAN device with every other node that has a VTEP (tunnel address, MAC and node address),
// and the all-vxlan-net ipset the VXLAN rules match on. Without this node's own address there is no local end,
// so no device yet.
func (c *Calculator) addVXLAN(st *desired.State) {
	this := c.nodeByName[c.host]
	var hosts []string
	var vteps []desired.VTEP
	for _, n := range c.nodes {
		if n.name == c.host || !n.ipv4.IsValid() {
			continue
		}
		hosts = append(hosts, n.ipv4.Addr().String())
		if n.vxlanAddr.IsValid() && n.vxlanMAC != "" {
			vteps = append(vteps, desired.VTEP{Node: n.name, TunnelAddr: n.vxlanAddr, MAC: n.vxlanMAC, HostAddr: n.ipv4.Addr()})
		}
	}
	st.IPSets[rules.IPSetAllVXLANHosts] = desired.IPSet{Type: desired.HashNet, Members: sortedUnique(hosts)}
	if !this.ipv4.IsValid() {
		return
	}
	slices.SortFunc(vteps, func(a, b desired.VTEP) int { return cmp.Compare(a.Node, b.Node) })
	st.VXLAN = &desired.VXLAN{Name: VXLANName, VNI: c.cfg.vxlanVNI(), Port: c.cfg.vxlanPort(), MTU: c.cfg.vxlanMTU(),
		MAC: this.vxlanMAC, LocalAddr: this.ipv4.Addr(), Address: this.vxlanAddr, VTEPs: vteps}
}

func addChains(t *desired.Table, chains map[string][]desired.Rule) {
	for name, rs := range chains {
		t.Chains[name] = rs
	}
}

// profileRendered returns a profile's chains in one family. A profile that does not exist yet, or whose rules
// cannot be rendered, gets empty chains: the endpoint chains can still jump to them, and they accept nothing.
func (c *Calculator) profileRendered(f family, name string) *rendered {
	if r := c.profileChains[f.i][name]; r != nil {
		return r
	}
	var spec api.ProfileSpec
	if p := c.profileByName[name]; p != nil {
		spec = p.Spec
	}
	out, err := f.r.Profile(name, spec)
	if err != nil {
		out, _ = f.r.Profile(name, api.ProfileSpec{})
	}
	r := &rendered{chains: out.Chains, sets: out.IPSets}
	c.profileChains[f.i][name] = r
	return r
}

// policyRendered returns a policy's chains in one family. A policy whose rules cannot be rendered keeps its
// selector but gets empty chains: it allows nothing itself, and the endpoint's later policies, or the drop once
// no policy passed or accepted the packet, decide.
func policyRendered(f family, p *policy) *rendered {
	if p.chains[f.i] != nil {
		return p.chains[f.i]
	}
	out, err := f.r.Policy(p.spec)
	if err != nil {
		out, _ = f.r.Policy(rules.Policy{Name: p.spec.Name, Ingress: p.spec.Ingress, Egress: p.spec.Egress})
	}
	p.chains[f.i] = &rendered{chains: out.Chains, sets: out.IPSets}
	return p.chains[f.i]
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
	if c.sortedLocal == nil {
		c.sortedLocal = slices.CompactFunc(slices.Clone(c.localOrder), func(a, b *endpoint) bool { return a.iface == b.iface })
		if c.sortedLocal == nil {
			c.sortedLocal = []*endpoint{}
		}
	}
	return c.sortedLocal
}

// compareLocal is the order of localEndpoints: by interface, the newest first, then by key.
func compareLocal(a, b *endpoint) int {
	return cmp.Or(cmp.Compare(a.iface, b.iface), -cmp.Compare(a.revision, b.revision), cmp.Compare(a.key, b.key))
}

// addLocal makes ep a local endpoint, keeping localOrder sorted rather than sorting it for every State.
func (c *Calculator) addLocal(ep *endpoint) {
	c.local[ep.key] = ep
	i, _ := slices.BinarySearchFunc(c.localOrder, ep, compareLocal)
	c.localOrder = slices.Insert(c.localOrder, i, ep)
	c.sortedLocal = nil
}

// removeLocal forgets the local endpoint stored under key, if any.
func (c *Calculator) removeLocal(key string) {
	ep, ok := c.local[key]
	if !ok {
		return
	}
	delete(c.local, key)
	i, found := slices.BinarySearchFunc(c.localOrder, ep, compareLocal)
	if !found || c.localOrder[i] != ep {
		i = slices.Index(c.localOrder, ep) // cannot happen: what it is sorted by never changes
	}
	if i >= 0 {
		c.localOrder = slices.Delete(c.localOrder, i, i+1)
	}
	c.sortedLocal = nil
}

// comparePolicies orders the policies of one tier as they run: by order (unset last), then by name.
func comparePolicies(a, b *policy) int {
	switch {
	case a.order != nil && b.order != nil && *a.order != *b.order:
		return cmp.Compare(*a.order, *b.order)
	case a.order != nil && b.order == nil:
		return -1
	case a.order == nil && b.order != nil:
		return 1
	}
	return cmp.Compare(a.name, b.name)
}

// selects says whether the policy applies to the endpoint. A NetworkPolicy applies only in its own namespace.
func (p *policy) selects(ep *endpoint, labels map[string]string) bool {
	if p.selector == nil || (p.namespace != "" && p.namespace != ep.namespace) {
		return false
	}
	return p.selector.Evaluate(labels)
}

// encapRoutes adds the routes to other hosts' blocks in IPIP and VXLAN pools (BIRD leaves those to felix). IPIP:
// through tunl0 via the other host's address; VXLAN: through vxlan.calico via the other host's tunnel address (no
// route while that host has none yet). Both for mode Always, and for CrossSubnet when the other host is outside
// this host's subnet; inside it, CrossSubnet routes directly via the other host's address. An address of such a
// pool used by another host's workload outside that host's own blocks (a borrowed address) gets a host route the
// same way.
func (c *Calculator) encapRoutes(pools []pool, vxlan bool, routes *routeSet) {
	this := c.nodeByName[c.host]
	route := func(dst netip.Prefix, host string) {
		pl, ok := poolFor(pools, dst)
		if !ok {
			return
		}
		mode := pl.ipipMode
		if !encapOn(mode) {
			if mode = pl.vxlanMode; !encapOn(mode) || !vxlan {
				return
			}
		}
		n, ok := c.nodeByName[host]
		if !ok || !n.ipv4.IsValid() {
			return // no address to route to yet
		}
		gw := n.ipv4.Addr()
		switch {
		case mode == api.EncapCrossSubnet && this.ipv4.IsValid() && this.ipv4.Masked().Contains(gw):
			routes.add(desired.Route{Dst: dst, Type: desired.Unicast, Gateway: gw})
		case encapOn(pl.ipipMode):
			routes.add(desired.Route{Dst: dst, Type: desired.Unicast, Iface: TunnelName, Gateway: gw, OnLink: true})
		case n.vxlanAddr.IsValid() && n.vxlanMAC != "":
			routes.add(desired.Route{Dst: dst, Type: desired.Unicast, Iface: VXLANName, Gateway: n.vxlanAddr, OnLink: true})
		}
	}

	for host, blocks := range c.otherHostBlocks() {
		for _, b := range blocks {
			route(b, host)
		}
	}
	for _, ep := range c.endpoints {
		for _, n := range c.borrowedNets(ep) {
			route(n, ep.node)
		}
	}
}

// otherHostBlocks are the other hosts' confirmed IPv4 blocks by host, kept until an affinity changes.
func (c *Calculator) otherHostBlocks() map[string][]netip.Prefix {
	if c.hostBlocks == nil {
		c.hostBlocks = map[string][]netip.Prefix{}
		for _, a := range c.affinities {
			if a.confirmed && a.host != c.host && a.cidr.Addr().Is4() {
				c.hostBlocks[a.host] = append(c.hostBlocks[a.host], a.cidr)
			}
		}
	}
	return c.hostBlocks
}

// borrowedNets are the IPv4 addresses of another host's endpoint (nil: none) that lie outside that host's
// confirmed blocks, which the routes of its blocks do not cover: each needs a route of its own. A pod's address
// usually comes from its own host's block, and then it has none.
func (c *Calculator) borrowedNets(ep *endpoint) []netip.Prefix {
	if ep == nil || !c.remote(ep) {
		return nil
	}
	var out []netip.Prefix
	blocks := c.otherHostBlocks()[ep.node]
nets:
	for _, n := range ep.nets {
		if !n.Addr().Is4() {
			continue
		}
		for _, b := range blocks {
			if b.Contains(n.Addr()) {
				continue nets
			}
		}
		out = append(out, n)
	}
	return out
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
	slices.SortFunc(out, func(a, b desired.Route) int { return compareDst(a.Dst, b.Dst) })
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
