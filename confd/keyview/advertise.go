package keyview

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
)

// Listen is the JSON value of /calico/bgp/v1/host/<node>/listen_v4 (listen_v6 for IPv6): where BIRD listens for
// BGP connections, when that is not every address on port 179. The key is absent otherwise.
type Listen struct {
	// Address is this node's address of the family (bindMode NodeIP); empty for every address.
	Address string `json:"address,omitempty"`
	// Port is the BGPConfiguration's listenPort (this node's, else the cluster's); 0 for 179.
	Port int `json:"port,omitempty"`
}

// ServiceRoute is the JSON value of /calico/bgp/v1/host/<node>/service_routes_v4/<cidr with - for /> (v6 for
// IPv6): a range of service addresses (serviceClusterIPs, serviceExternalIPs, serviceLoadBalancerIPs) that this
// node advertises as a static blackhole route, which BIRD keeps out of the kernel.
type ServiceRoute struct {
	CIDR string `json:"cidr"`
}

// PrefixCommunities is the JSON value of /calico/bgp/v1/host/<node>/communities_v4/<index, 4 digits> (v6 for
// IPv6): the communities added to every route advertised inside CIDR, in the order of the prefix advertisement.
type PrefixCommunities struct {
	CIDR string         `json:"cidr"`
	Add  []CommunityAdd `json:"add"`
}

// CommunityAdd is one community added to a route: Attribute is bgp_community (standard) or bgp_large_community
// (large) and Value the BIRD literal, such as (65000, 100) or (65000, 1, 2).
type CommunityAdd struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

// listenPort is the port a node listens on for BGP: its own BGPConfiguration's listenPort, else the cluster's;
// 0 when neither sets one (BGP's 179).
func (b *builder) listenPort(name string) uint16 {
	if p := b.perNode[name].ListenPort; p != 0 {
		return p
	}
	return b.global.ListenPort
}

// advertisementKeys writes this node's keys from the BGPConfigurations: where BIRD listens, the interfaces the
// direct protocol ignores, the service ranges it advertises, and the communities of its prefix advertisements.
func (b *builder) advertisementKeys() {
	if b.in.NodeName == "" {
		return
	}
	me := b.byName[b.in.NodeName]
	port := int(b.listenPort(b.in.NodeName))
	for _, f := range families {
		l := Listen{Port: port}
		if b.global.EffectiveBindMode() == api.BindModeNodeIP && me != nil && me.ip[f].IsValid() {
			l.Address = me.ip[f].String()
		}
		if l != (Listen{}) {
			b.setJSON(b.local("listen_"+f.String()), l)
		}
	}
	if ifaces := b.global.IgnoredInterfaces; len(ifaces) > 0 {
		var ok []string
		for _, i := range ifaces {
			if strings.ContainsAny(i, "\"\\\n") || i == "" {
				b.warnf("BGPConfiguration(default): ignoring ignoredInterfaces entry %q: BIRD cannot quote it", i)
				continue
			}
			ok = append(ok, i)
		}
		if len(ok) > 0 {
			b.setJSON(b.local("ignored_interfaces"), ok)
		}
	}
	b.serviceRouteKeys()
	b.communityKeys()
}

func (b *builder) serviceRouteKeys() {
	s := b.global
	for _, list := range [][]api.ServiceIPBlock{s.ServiceClusterIPs, s.ServiceExternalIPs, s.ServiceLoadBalancerIPs} {
		for _, blk := range list {
			p, ok := parseAddrOrCIDR(blk.CIDR)
			if !ok {
				b.warnf("BGPConfiguration(default): ignoring service range %q: not a CIDR or an address", blk.CIDR)
				continue
			}
			p = p.Masked()
			b.setJSON(b.local("service_routes_"+ipFamily(p.Addr()).String()+"/"+cidrSegment(p)), ServiceRoute{CIDR: p.String()})
		}
	}
}

// communityKeys writes the communities of this node's prefix advertisements: those of its own
// BGPConfiguration when it has any, else the cluster's (as Calico does). Names resolve within the configuration
// that holds the advertisement.
func (b *builder) communityKeys() {
	spec, owner := b.global, "default"
	if s, ok := b.perNode[b.in.NodeName]; ok && len(s.PrefixAdvertisements) > 0 {
		spec, owner = s, "node."+b.in.NodeName
	}
	n := [2]int{}
	for _, pa := range spec.PrefixAdvertisements {
		p, ok := parseAddrOrCIDR(pa.CIDR)
		if !ok {
			b.warnf("BGPConfiguration(%s): ignoring prefix advertisement of %q: not a CIDR or an address", owner, pa.CIDR)
			continue
		}
		p = p.Masked()
		pc := PrefixCommunities{CIDR: p.String()}
		for _, c := range pa.Communities {
			parts, ok := spec.ResolveCommunity(c)
			if !ok {
				b.warnf("BGPConfiguration(%s): prefix advertisement of %s: ignoring community %q: not defined nor a value", owner, p, c)
				continue
			}
			pc.Add = append(pc.Add, communityAdd(parts))
		}
		if len(pc.Add) == 0 {
			continue
		}
		f := ipFamily(p.Addr())
		b.setJSON(b.local(fmt.Sprintf("communities_%s/%04d", f, n[f])), pc)
		n[f]++
	}
}

// communityAdd is a parsed community value as BIRD 1.6 adds it to a route.
func communityAdd(parts []uint32) CommunityAdd {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = strconv.FormatUint(uint64(p), 10)
	}
	attr := "bgp_community"
	if len(parts) == 3 {
		attr = "bgp_large_community"
	}
	return CommunityAdd{Attribute: attr, Value: "(" + strings.Join(s, ", ") + ")"}
}
