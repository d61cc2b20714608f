// Package calc is felix's calculation layer: it keeps a copy of the datastore state felix cares about (from watch
// events) and computes the complete desired.State of this host from it: workload routes and interface settings,
// blackhole routes for this host's blocks, routes to other hosts' blocks of IPIP pools, the tunnel, the iptables
// and ip6tables chains (through package rules) and the ipsets of both families. It is pure: no I/O, no kernel
// access.
//
// The calculation is incremental: each event updates what depends on the object it carries, and State assembles
// the desired state from caches. Selector and named-port ipsets are indexed (selector → members) and updated per
// endpoint or network set; each local endpoint keeps the policies that select it; policies, profiles and endpoints keep their
// rendered chains until they or the rendering settings change. States share those caches (see State).
package calc

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/selector"
)

// Calculator turns datastore events into the desired state of one host. It is not safe for concurrent use.
type Calculator struct {
	host string
	cfg  Config

	// Everything is keyed by datastore key, so that a Deleted event (which may carry no value) and a Resync of
	// one prefix can find what to forget.
	felixConfigs  map[string]*api.FelixConfigurationSpec // "default" and "node.<host>" only
	pools         map[string]pool
	nodes         map[string]node // by key; nodeByName indexes them by name
	nodeByName    map[string]node
	profiles      map[string]*api.Profile // by key; profileByName indexes them by name
	profileByName map[string]*api.Profile
	endpoints     map[string]*endpoint
	hostEPs       map[string]*endpoint // host endpoints of every node (their addresses feed selector ipsets)
	policies      map[string]*policy
	tiers         map[string]*api.Tier // by key; tierByName indexes them by name
	tierByName    map[string]*api.Tier
	netSets       map[string]netSet
	affinities    map[string]affinity

	synced map[string]bool // per watched prefix: its listing is complete

	// Caches, kept up to date by the events (see index.go).
	local         map[string]*endpoint      // the endpoints of this host that have an interface, by key
	sets          map[string]*selectorIndex // the members of the selector ipsets the last State used, by selectorKey
	profileChains [2]map[string]*rendered   // rendered profile chains per family (0: IPv4, 1: IPv6), by profile name
	renderCfg     [2]*rules.Config          // the settings the cached chains of each family were rendered with
	// otherRoutes are the blackhole and IPIP routes (everything but the local workloads' routes) as of the last
	// State; nil when an affinity, node, pool, remote endpoint or the IPv6 setting changed since.
	otherRoutes   []desired.Route
	otherRoutesV6 bool // the IPv6Support otherRoutes were computed with
	otherVXLAN    bool // whether VXLAN was on when otherRoutes were computed
	// hostBlocks are the other hosts' confirmed IPv4 blocks (otherHostBlocks); nil when an affinity changed since.
	hostBlocks map[string][]netip.Prefix
	// What States gather from the local endpoints, kept between States (see merged): localOrder is every local
	// endpoint in localEndpoints' order, sortedLocal is localEndpoints() (nil when a local endpoint came, went or
	// changed since), epChains every local endpoint's chains per family, ifaces their interfaces.
	localOrder  []*endpoint
	sortedLocal []*endpoint
	epChains    [2]merged[string, []desired.Rule]
	ifaces      merged[string, desired.Interface]
	// localRoutes are the local endpoints' routes (the first endpoint of a destination wins), and routeOrder the
	// same sorted by destination, kept up to date route by route rather than sorted for every State.
	localRoutes merged[netip.Prefix, desired.Route]
	routeOrder  []desired.Route
	// static are the static tables per family as rendered with renderCfg; dispatch the dispatch chains.
	static   [2]map[string]*desired.Table
	dispatch [2]rules.DispatchMemo
	// endpointRules are local endpoints' chain rules per family as rendered with renderCfg, by what they were
	// rendered from (endpointRulesKey): endpoints alike share one rendering.
	endpointRules [2]map[string]rules.EndpointRules
	// labelSets shares equal endpoint label maps; groups holds the workload endpoints by label set and namespace.
	labelSets labelSets
	groups    endpointGroups
}

type pool struct {
	cidr        netip.Prefix
	ipipMode    string
	vxlanMode   string
	natOutgoing bool
}

type node struct {
	name       string
	ipv4       netip.Prefix // address with its subnet length; invalid when unknown
	tunnelAddr netip.Addr   // IPIP
	vxlanAddr  netip.Addr   // VXLAN tunnel address
	vxlanMAC   string       // VTEP MAC
}

type endpoint struct {
	key       string
	namespace string
	node      string
	iface     string
	nets      []netip.Prefix
	members   familyMembers      // the nets as ipset members
	ports     []api.EndpointPort // named ports
	profiles  []string
	// labels are the effective labels: the endpoint's own, the namespace and orchestrator labels, and the
	// labelsToApply of its profiles where none of those set the key (an earlier profile wins over a later one).
	// The map is shared (labelSet) with every endpoint of the same labels and never changed.
	labels       map[string]string
	labelSet     *labelSet // keeps labels' shared set alive (labelSets holds it weakly)
	groupPos     int       // a workload endpoint's place in its group's list (see endpointGroups)
	fromProfiles []string  // the keys of labels that came from profiles, to take them out when a profile changes
	revision     int64

	// Local endpoints only (node is this host, iface set):
	policies map[*policy]struct{} // the policies that select it
	chains   [2]*endpointChains   // its rendered chains per family; nil when stale
	ifaceFor *desired.Interface   // its interface settings; nil when stale
	ifaceV6  bool                 // the IPv6Support ifaceFor was built with

	hostEndpoint bool // a HostEndpoint (iface: its interfaceName, "*" for all), not a workload
}

// endpointChains are a local endpoint's chains in one family. A new rendering is a new endpointChains, so States
// tell by its address whether an endpoint's chains changed (see merged).
type endpointChains struct {
	chains map[string][]desired.Rule
}

type policy struct {
	name      string // chain name: <name> for a GlobalNetworkPolicy, <namespace>/<name> for a NetworkPolicy
	namespace string // "" for a GlobalNetworkPolicy
	tier      string // the name of its tier
	order     *float64
	selector  selector.Selector // nil when the selector does not parse: the policy then selects nothing
	spec      rules.Policy
	chains    [2]*rendered // rendered per family; nil until first used, or when the rendering settings changed
	// Host endpoint flags (GlobalNetworkPolicy only): preDNAT and doNotTrack policies apply to host endpoints
	// alone; applyOnForward ones also to traffic forwarded through them.
	preDNAT, doNotTrack, applyOnForward bool
}

// hostOnly says the policy never applies to workloads.
func (p *policy) hostOnly() bool { return p.preDNAT || p.doNotTrack }

// rendered is a policy's or profile's chains and the selector ipsets their rules match on.
type rendered struct {
	chains map[string][]desired.Rule
	sets   []rules.SelectorSet
}

type netSet struct {
	labels  map[string]string
	members familyMembers
}

// familyMembers are addresses or CIDRs written as ipset members, per family.
type familyMembers struct {
	v4, v6 []string
}

type affinity struct {
	host      string
	cidr      netip.Prefix
	confirmed bool
}

// New returns a Calculator for host with the given settings (DefaultConfig() for felix's built-in ones).
func New(host string, cfg Config) *Calculator {
	c := &Calculator{host: host, cfg: cfg, synced: map[string]bool{}}
	c.felixConfigs = map[string]*api.FelixConfigurationSpec{}
	c.pools = map[string]pool{}
	c.nodes = map[string]node{}
	c.nodeByName = map[string]node{}
	c.profiles = map[string]*api.Profile{}
	c.profileByName = map[string]*api.Profile{}
	c.endpoints = map[string]*endpoint{}
	c.groups = endpointGroups{}
	c.hostEPs = map[string]*endpoint{}
	c.policies = map[string]*policy{}
	c.tiers = map[string]*api.Tier{}
	c.tierByName = map[string]*api.Tier{}
	c.netSets = map[string]netSet{}
	c.affinities = map[string]affinity{}
	c.local = map[string]*endpoint{}
	c.sets = map[string]*selectorIndex{}
	c.profileChains = [2]map[string]*rendered{{}, {}}
	return c
}

// SetConfig replaces the settings; the next State uses them.
func (c *Calculator) SetConfig(cfg Config) { c.cfg = cfg }

// Config returns the current settings.
func (c *Calculator) Config() Config { return c.cfg }

// reset forgets everything stored under prefix ("" forgets everything).
func (c *Calculator) reset(prefix string) {
	for _, key := range c.keys() {
		if strings.HasPrefix(key, prefix) {
			c.delete(key)
		}
	}
}

// keys lists every stored key, endpoints first: deleting them before the profiles and policies spares the work
// those deletes would do for each endpoint.
func (c *Calculator) keys() []string {
	var keys []string
	keys = slices.AppendSeq(keys, maps.Keys(c.endpoints))
	keys = slices.AppendSeq(keys, maps.Keys(c.hostEPs))
	keys = slices.AppendSeq(keys, maps.Keys(c.netSets))
	keys = slices.AppendSeq(keys, maps.Keys(c.felixConfigs))
	keys = slices.AppendSeq(keys, maps.Keys(c.pools))
	keys = slices.AppendSeq(keys, maps.Keys(c.nodes))
	keys = slices.AppendSeq(keys, maps.Keys(c.profiles))
	keys = slices.AppendSeq(keys, maps.Keys(c.policies))
	keys = slices.AppendSeq(keys, maps.Keys(c.tiers))
	keys = slices.AppendSeq(keys, maps.Keys(c.affinities))
	return keys
}

// OnEvent applies one event from the watch of prefix (datastore.ResourcePrefix, datastore.IPAMPrefix, or a prefix
// that covers both such as "/calico/"). A Resync forgets what was stored under that prefix only, so two watches
// can feed one Calculator.
func (c *Calculator) OnEvent(prefix string, ev datastore.Event) {
	switch ev.Type {
	case datastore.Resync:
		c.reset(prefix)
		c.synced[prefix] = false
	case datastore.InSync:
		c.synced[prefix] = true
	case datastore.Added, datastore.Modified:
		if !strings.HasPrefix(ev.Key, prefix) {
			slog.Warn("ignoring event outside its watch prefix", "key", ev.Key, "prefix", prefix)
			return
		}
		c.set(ev)
	case datastore.Deleted:
		c.delete(ev.Key)
	}
}

// Apply applies a batch of events from the watch of prefix, in order.
func (c *Calculator) Apply(prefix string, evs []datastore.Event) {
	for _, ev := range evs {
		c.OnEvent(prefix, ev)
	}
}

// InSync reports whether each of the given watch prefixes has delivered its complete listing since its last
// Resync. Before that, the state is partial and should not be programmed.
func (c *Calculator) InSync(prefixes ...string) bool {
	for _, p := range prefixes {
		if !c.synced[p] {
			return false
		}
	}
	return true
}

// FelixConfiguration returns the specs of the FelixConfiguration resources "default" (global) and
// "node.<host>" (perNode) as last seen, nil when absent: the datastore layers of felix's settings.
func (c *Calculator) FelixConfiguration() (global, perNode *api.FelixConfigurationSpec) {
	kind := api.KindOf(&api.FelixConfiguration{})
	return c.felixConfigs[datastore.ResourceKey(kind, "", "default")],
		c.felixConfigs[datastore.ResourceKey(kind, "", "node."+c.host)]
}

// set stores the value of an Added or Modified event.
func (c *Calculator) set(ev datastore.Event) {
	if strings.HasPrefix(ev.Key, datastore.IPAMPrefix) {
		c.setIPAM(ev.Key, ev.Value)
		return
	}
	if !strings.HasPrefix(ev.Key, datastore.ResourcePrefix) {
		return
	}
	if ev.Resource == nil {
		// The watch could not decode it (and said so): treat it as absent rather than keep a stale copy.
		c.delete(ev.Key)
		return
	}
	switch r := ev.Resource.(type) {
	case *api.WorkloadEndpoint:
		c.setEndpoint(ev.Key, r)
		return
	case *api.HostEndpoint:
		c.setHostEndpoint(ev.Key, r)
		return
	case *api.GlobalNetworkSet:
		c.setNetSet(ev.Key, r)
		return
	case *api.Profile:
		c.setProfile(ev.Key, r)
		return
	}
	c.delete(ev.Key) // the old version may have been indexed under another name
	switch r := ev.Resource.(type) {
	case *api.FelixConfiguration:
		if r.Name == "default" || r.Name == "node."+c.host {
			spec := r.Spec
			c.felixConfigs[ev.Key] = &spec
			if fields := r.Unmodeled.Paths(); len(fields) > 0 {
				slog.Warn("FelixConfiguration sets fields of Calico's felix that this felix does not implement; they have no effect here",
					"name", r.Name, "fields", fields)
			}
		}
	case *api.IPPool:
		c.otherRoutes = nil
		p := *r
		p.Default()
		cidr, err := netip.ParsePrefix(p.Spec.CIDR)
		if err != nil {
			slog.Warn("ignoring IPPool with an invalid CIDR", "pool", p.Name, "cidr", p.Spec.CIDR)
			return
		}
		c.pools[ev.Key] = pool{cidr: cidr.Masked(), ipipMode: p.Spec.IPIPMode, vxlanMode: p.Spec.VXLANMode,
			natOutgoing: p.Spec.NATOutgoing}
	case *api.Node:
		c.otherRoutes = nil
		n := node{name: r.Name}
		if b := r.Spec.BGP; b != nil {
			if p, err := netip.ParsePrefix(b.IPv4Address); err == nil && p.Addr().Is4() {
				n.ipv4 = p
			} else if a, err := netip.ParseAddr(b.IPv4Address); err == nil && a.Is4() {
				n.ipv4 = netip.PrefixFrom(a, 32)
			}
			n.tunnelAddr, _ = netip.ParseAddr(b.IPv4IPIPTunnelAddr)
		}
		if a, err := netip.ParseAddr(r.Spec.IPv4VXLANTunnelAddr); err == nil && a.Is4() {
			n.vxlanAddr = a
		}
		n.vxlanMAC = r.Spec.VXLANTunnelMACAddr
		c.nodes[ev.Key] = n
		c.nodeByName[n.name] = n
	case *api.NetworkPolicy:
		p := *r
		p.Spec.Tier = api.PolicyTier(p.Name, p.Spec.Tier)
		p.Default()
		c.setPolicy(ev.Key, &policy{name: p.Namespace + "/" + p.Name, namespace: p.Namespace, tier: p.Spec.Tier, order: p.Spec.Order},
			p.Spec.Selector, p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
	case *api.GlobalNetworkPolicy:
		p := *r
		p.Spec.Tier = api.PolicyTier(p.Name, p.Spec.Tier)
		p.Default()
		c.setPolicy(ev.Key, &policy{name: p.Name, tier: p.Spec.Tier, order: p.Spec.Order, preDNAT: p.Spec.PreDNAT, doNotTrack: p.Spec.DoNotTrack,
			applyOnForward: p.Spec.ApplyOnForward}, p.Spec.Selector, p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
	case *api.Tier:
		t := *r
		t.Default()
		c.tiers[ev.Key] = &t
		c.tierByName[t.Name] = &t
		c.tiersChanged()
	}
}

// tiersChanged marks every local endpoint's chains stale: a tier's order or default action shapes the chains of
// every endpoint that one of its policies selects, and tiers change rarely.
func (c *Calculator) tiersChanged() {
	for _, ep := range c.local {
		ep.chains = [2]*endpointChains{}
	}
}

func (c *Calculator) setProfile(key string, r *api.Profile) {
	if _, err := rules.New(rules.Config{}).Profile(r.Name, r.Spec); err != nil {
		slog.Warn("profile has rules felix cannot render; its chains stay empty, so it allows nothing", "err", err)
	}
	old := c.profiles[key]
	if old != nil && old.Name != r.Name {
		c.delete(key)
		old = nil
	}
	c.profiles[key] = r
	c.profileByName[r.Name] = r
	c.profileChanged(r.Name, old, r)
}

// profileChanged drops the profile's rendered chains and, when its labelsToApply changed, updates the labels of
// the endpoints that use it.
func (c *Calculator) profileChanged(name string, old, now *api.Profile) {
	for _, m := range c.profileChains {
		delete(m, name)
	}
	var before, after map[string]string
	if old != nil {
		before = old.Spec.LabelsToApply
	}
	if now != nil {
		after = now.Spec.LabelsToApply
	}
	if maps.Equal(before, after) {
		return
	}
	for _, m := range []map[string]*endpoint{c.endpoints, c.hostEPs} {
		for _, ep := range m {
			if slices.Contains(ep.profiles, name) {
				c.relabel(ep)
			}
		}
	}
}

func (c *Calculator) setNetSet(key string, r *api.GlobalNetworkSet) {
	old, had := c.netSets[key]
	ns := netSet{labels: maps.Clone(r.Labels), members: membersOf(parsePrefixes(r.Spec.Nets))}
	c.netSets[key] = ns
	var was *source
	if had {
		was = &source{labels: old.labels, members: old.members}
	}
	c.index(was, &source{labels: ns.labels, members: ns.members})
}

func (c *Calculator) setEndpoint(key string, w *api.WorkloadEndpoint) {
	ns := w.Namespace
	if ns == "" {
		ns = api.DefaultNamespace
	}
	labels := make(map[string]string, len(w.Labels)+3)
	for k, v := range w.Labels {
		labels[k] = v
	}
	labels[api.LabelNamespace] = ns
	if w.Spec.Orchestrator != "" {
		labels[api.LabelOrchestrator] = w.Spec.Orchestrator
	}
	rev, _ := strconv.ParseInt(w.ResourceVersion, 10, 64)
	nets := parsePrefixes(w.Spec.IPNetworks)
	ep := &endpoint{key: key, namespace: ns, node: w.Spec.Node, iface: w.Spec.InterfaceName, nets: nets,
		members: membersOf(nets), ports: slices.Clone(w.Spec.Ports), profiles: slices.Clone(w.Spec.Profiles), labels: labels, revision: rev}
	c.applyProfileLabels(ep)
	c.shareLabels(ep)
	old := c.endpoints[key]
	if ep.node == c.host && ep.iface != "" {
		// localOrder is sorted by interface first: the endpoints of this one are together, from where it would go.
		i, _ := slices.BinarySearchFunc(c.localOrder, ep.iface, func(e *endpoint, iface string) int { return strings.Compare(e.iface, iface) })
		for _, other := range c.localOrder[i:] {
			if other.iface != ep.iface {
				break
			}
			if other.key != key {
				slog.Warn("two local workload endpoints name the same interface; the newer one wins",
					"interface", ep.iface, "endpoint", key, "other", other.key)
			}
		}
	}
	c.endpoints[key] = ep
	var was *source
	if old != nil {
		was = old.source()
		c.removeLocal(key)
		c.groups.remove(old)
	}
	c.groups.add(ep)
	// Only an address outside its host's blocks has a route of its own: a pod coming or going elsewhere in the
	// cluster leaves the other hosts' routes as they are.
	if (old == nil || old.node != ep.node || !slices.Equal(old.nets, ep.nets)) &&
		(len(c.borrowedNets(old)) > 0 || len(c.borrowedNets(ep)) > 0) {
		c.otherRoutes = nil
	}
	c.index(was, ep.source())
	if ep.node == c.host && ep.iface != "" {
		c.addLocal(ep)
		c.matchPolicies(ep)
	}
}

// setHostEndpoint stores a host endpoint of any node: its expected IPs, labels and named ports feed selector and
// named-port ipsets as a workload's do (it has no namespace, so only global selectors see it); the State programs
// this node's own.
func (c *Calculator) setHostEndpoint(key string, h *api.HostEndpoint) {
	labels := maps.Clone(h.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	nets := parsePrefixes(h.Spec.ExpectedIPs)
	ep := &endpoint{key: key, node: h.Spec.Node, iface: h.Spec.InterfaceName, nets: nets, members: membersOf(nets),
		ports: slices.Clone(h.Spec.Ports), profiles: slices.Clone(h.Spec.Profiles), labels: labels, hostEndpoint: true}
	c.applyProfileLabels(ep)
	c.shareLabels(ep)
	var was *source
	if old := c.hostEPs[key]; old != nil {
		was = old.source()
	}
	c.hostEPs[key] = ep
	c.index(was, ep.source())
}

// remote says whether the endpoint is another host's, whose addresses may need IPIP routes.
func (c *Calculator) remote(ep *endpoint) bool { return ep.node != "" && ep.node != c.host }

// shareLabels replaces the endpoint's labels, which nothing else holds yet, with the shared map of the same
// labels.
func (c *Calculator) shareLabels(ep *endpoint) {
	ep.labelSet = c.labelSets.share(ep.labels)
	ep.labels = ep.labelSet.labels
}

// applyProfileLabels adds the labelsToApply of the endpoint's profiles to its labels, where its own labels (or an
// earlier profile) do not set the key already. The endpoint's labels must be its own, not yet shared.
func (c *Calculator) applyProfileLabels(ep *endpoint) {
	for _, name := range ep.profiles {
		p := c.profileByName[name]
		if p == nil {
			continue
		}
		for k, v := range p.Spec.LabelsToApply {
			if _, ok := ep.labels[k]; !ok {
				ep.labels[k] = v
				ep.fromProfiles = append(ep.fromProfiles, k)
			}
		}
	}
}

// relabel recomputes an endpoint's labels after one of its profiles changed, and what depends on them.
func (c *Calculator) relabel(ep *endpoint) {
	was := &source{labels: ep.labels, namespace: ep.namespace, members: ep.members, ports: ep.ports}
	ep.labels = maps.Clone(ep.labels) // the shared map stays as it is
	for _, k := range ep.fromProfiles {
		delete(ep.labels, k)
	}
	ep.fromProfiles = nil
	c.applyProfileLabels(ep)
	grouped := !ep.hostEndpoint && c.endpoints[ep.key] == ep
	if grouped {
		c.groups.remove(ep)
	}
	c.shareLabels(ep)
	if grouped {
		c.groups.add(ep)
	}
	if maps.Equal(was.labels, ep.labels) {
		return
	}
	c.index(was, ep.source())
	if c.local[ep.key] == ep {
		c.matchPolicies(ep)
	}
}

// setPolicy stores a policy: p carries its name, namespace, order and host endpoint flags; the rest is filled in.
func (c *Calculator) setPolicy(key string, p *policy, sel string, types []api.PolicyType, ingress, egress []api.Rule) {
	name := p.name
	p.spec = rules.Policy{Name: name, Namespace: p.namespace, IngressRules: ingress, EgressRules: egress}
	for _, t := range types {
		switch t {
		case api.PolicyTypeIngress:
			p.spec.Ingress = true
		case api.PolicyTypeEgress:
			p.spec.Egress = true
		}
	}
	s, err := selector.Parse(sel)
	if err != nil {
		slog.Warn("policy selector does not parse; the policy selects no endpoint", "policy", name, "err", err)
	}
	p.selector = s
	if _, err := rules.New(rules.Config{}).Policy(p.spec); err != nil {
		slog.Warn("policy has rules felix cannot render; its chains stay empty, so it allows nothing", "err", err)
	}
	c.policies[key] = p
	if p.hostOnly() {
		return // pre-DNAT and untracked policies apply to host endpoints alone
	}
	for _, ep := range c.local {
		if p.selects(ep, ep.labels) {
			ep.policies[p] = struct{}{}
			ep.chains = [2]*endpointChains{}
		}
	}
}

// matchPolicies finds the policies that select a local endpoint, and marks its chains stale when they changed.
func (c *Calculator) matchPolicies(ep *endpoint) {
	matched := map[*policy]struct{}{}
	for _, p := range c.policies {
		if !p.hostOnly() && p.selects(ep, ep.labels) {
			matched[p] = struct{}{}
		}
	}
	if ep.policies == nil || !maps.Equal(matched, ep.policies) {
		ep.chains = [2]*endpointChains{}
	}
	ep.policies = matched
}

func (c *Calculator) setIPAM(key string, value []byte) {
	host, cidr, ok := ipam.ParseAffinityKey(key)
	if !ok {
		return // blocks, handles and config: felix needs only the affinities
	}
	var a ipam.Affinity
	if err := json.Unmarshal(value, &a); err != nil {
		slog.Warn("ignoring unreadable block affinity", "key", key, "err", err)
		delete(c.affinities, key)
		c.otherRoutes, c.hostBlocks = nil, nil
		return
	}
	c.affinities[key] = affinity{host: host, cidr: cidr, confirmed: a.Confirmed()}
	c.otherRoutes, c.hostBlocks = nil, nil
}

// delete forgets whatever is stored under key.
func (c *Calculator) delete(key string) {
	delete(c.felixConfigs, key)
	if _, ok := c.pools[key]; ok {
		delete(c.pools, key)
		c.otherRoutes = nil
	}
	if n, ok := c.nodes[key]; ok {
		delete(c.nodes, key)
		delete(c.nodeByName, n.name)
		c.otherRoutes = nil
	}
	if p, ok := c.profiles[key]; ok {
		delete(c.profiles, key)
		delete(c.profileByName, p.Name)
		c.profileChanged(p.Name, p, nil)
	}
	if ep, ok := c.endpoints[key]; ok {
		delete(c.endpoints, key)
		c.groups.remove(ep)
		c.removeLocal(key)
		c.index(ep.source(), nil)
		if len(c.borrowedNets(ep)) > 0 {
			c.otherRoutes = nil
		}
	}
	if ep, ok := c.hostEPs[key]; ok {
		delete(c.hostEPs, key)
		c.index(ep.source(), nil)
	}
	if t, ok := c.tiers[key]; ok {
		delete(c.tiers, key)
		if c.tierByName[t.Name] == t {
			delete(c.tierByName, t.Name)
		}
		c.tiersChanged()
	}
	if p, ok := c.policies[key]; ok {
		delete(c.policies, key)
		for _, ep := range c.local {
			if _, ok := ep.policies[p]; ok {
				delete(ep.policies, p)
				ep.chains = [2]*endpointChains{}
			}
		}
	}
	if ns, ok := c.netSets[key]; ok {
		delete(c.netSets, key)
		c.index(&source{labels: ns.labels, members: ns.members}, nil)
	}
	if _, ok := c.affinities[key]; ok {
		delete(c.affinities, key)
		c.otherRoutes, c.hostBlocks = nil, nil
	}
}

// parsePrefixes parses CIDRs or plain addresses (as host prefixes), skipping what does not parse.
func parsePrefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				slog.Warn("ignoring an address that does not parse", "value", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// NodeIPv4 is this host's IPv4 address as its Node resource gives it; invalid while unknown.
func (c *Calculator) NodeIPv4() netip.Addr {
	if n, ok := c.nodeByName[c.host]; ok && n.ipv4.IsValid() {
		return n.ipv4.Addr()
	}
	return netip.Addr{}
}
