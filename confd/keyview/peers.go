package keyview

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/selector"
)

// peering is one configured BGP session as seen from its local side.
type peering struct {
	ip       netip.Addr
	port     uint16 // 0 for BGP's port, 179
	as       api.ASNumber
	rr       string // the remote side's route reflector cluster id
	password string
	node     string // the Calico node at ip, if any
	// spec is the BGPPeer that asks for the session; reverse says the session is the way back of it, which
	// takes only the options both ends must agree on (password, restart time, TTL security).
	spec    *api.BGPPeerSpec
	reverse bool
}

// dest is the remote end of a session: an address and a port (0 for 179).
type dest struct {
	ip   netip.Addr
	port uint16
}

func (pr peering) dest() dest { return dest{pr.ip, pr.port} }

// peerings are the sessions the BGPPeers ask for: the global ones (every node) and those of single nodes. Each
// list holds at most one session per address, the first one computed; a node's session to an address that a
// global session already covers is dropped.
type peerings struct {
	global   []peering
	globalIP map[dest]bool
	host     map[string][]peering
	hostIP   map[string]map[dest]bool
}

func (p *peerings) addGlobal(pr peering) {
	if p.globalIP[pr.dest()] {
		return
	}
	p.globalIP[pr.dest()] = true
	p.global = append(p.global, pr)
}

func (p *peerings) addHost(local string, pr peering) {
	if p.globalIP[pr.dest()] || p.hostIP[local][pr.dest()] {
		return
	}
	if p.hostIP[local] == nil {
		p.hostIP[local] = map[dest]bool{}
	}
	p.hostIP[local][pr.dest()] = true
	p.host[local] = append(p.host[local], pr)
}

// bgpPeer is a BGPPeer with its selectors parsed.
type bgpPeer struct {
	*api.BGPPeer
	nodeSel, peerSel selector.Selector // nil when unset
	peerIP           netip.Addr        // invalid when unset
	port             uint16            // of peerIP; 0 for 179
	password         string            // read from its Secret; "" for none
}

// computePeerings works out every session the BGPPeers ask for, in three passes (as Calico does, so that a
// mixed cluster agrees on who peers with whom):
//  1. global: a BGPPeer with a peerIP and neither node nor nodeSelector is a session of every node;
//  2. node-specific: a BGPPeer with node, nodeSelector or peerSelector gives each of its local nodes (the node,
//     the nodes the nodeSelector picks, or every node) a session to peerIP or to each node the peerSelector picks;
//  3. reverse: the Calico nodes on the remote side of a BGPPeer (those the peerSelector picks, or the node whose
//     address and AS are peerIP and asNumber, with no port or the node's listen port) get a session back to each
//     of its local nodes (on that node's listen port), so
//     that both ends of a session between two Calico nodes are configured; not with reversePeering Manual.
//
// No node peers with itself or with its own address.
func (b *builder) computePeerings() *peerings {
	p := &peerings{globalIP: map[dest]bool{}, host: map[string][]peering{}, hostIP: map[string]map[dest]bool{}}
	peers := b.parsePeers()
	nodeByIP := map[netip.Addr]*node{}
	for _, n := range b.nodes {
		for _, ip := range n.ip {
			if ip.IsValid() && nodeByIP[ip] == nil {
				nodeByIP[ip] = n
			}
		}
	}
	// toIP is a session to a peerIP, which may be a Calico node's address.
	toIP := func(bp bgpPeer) peering {
		pr := peering{ip: bp.peerIP, port: bp.port, as: b.globalAS, password: bp.password, spec: &bp.Spec}
		if bp.Spec.ASNumber != nil {
			pr.as = *bp.Spec.ASNumber
		}
		if n := nodeByIP[bp.peerIP]; n != nil {
			pr.rr, pr.node = n.rr, n.name
		}
		return pr
	}
	// toNode is a session to a Calico node, which peers with its own AS on its own listen port.
	toNode := func(n *node, f family, bp bgpPeer) peering {
		return peering{ip: n.ip[f], port: b.listenPort(n.name), as: b.asOf(n), rr: n.rr, password: bp.password,
			node: n.name, spec: &bp.Spec}
	}
	// addFor adds pr to local unless it is a session with itself.
	addFor := func(local string, pr peering) {
		if pr.node == local {
			return
		}
		if n := b.byName[local]; n != nil && n.ip[ipFamily(pr.ip)] == pr.ip {
			return
		}
		p.addHost(local, pr)
	}

	// Pass 1: global.
	for _, bp := range peers {
		if bp.isGlobal() && bp.peerIP.IsValid() {
			p.addGlobal(toIP(bp))
		}
	}
	// Pass 2: node-specific.
	for _, bp := range peers {
		if bp.isGlobal() {
			continue
		}
		for _, local := range b.localSide(bp) {
			if bp.peerSel == nil {
				addFor(local, toIP(bp))
				continue
			}
			for _, remote := range b.selectNodes(bp.peerSel) {
				for _, f := range families {
					if remote.ip[f].IsValid() {
						addFor(local, toNode(remote, f, bp))
					}
				}
			}
		}
	}
	// Pass 3: reverse.
	for _, bp := range peers {
		if bp.Spec.ReversePeering == api.ReversePeeringManual {
			continue
		}
		var remotes []*node
		if bp.peerSel != nil {
			remotes = b.selectNodes(bp.peerSel)
		} else if n := nodeByIP[bp.peerIP]; n != nil && toIP(bp).as == b.asOf(n) && (bp.port == 0 || bp.port == b.effectiveListenPort(n.name)) {
			remotes = []*node{n}
		}
		for _, remote := range remotes {
			for _, localName := range b.localSide(bp) {
				local := b.byName[localName]
				if local == nil {
					continue
				}
				for _, f := range families {
					reachable := remote.ip[f].IsValid()
					if bp.peerSel == nil {
						reachable = f == ipFamily(bp.peerIP)
					}
					if reachable && local.ip[f].IsValid() {
						back := toNode(local, f, bp)
						back.reverse = true
						if as := bp.Spec.LocalASNumber; as != nil {
							back.as = *as // the local side presents this AS to the remote one
						}
						addFor(remote.name, back)
					}
				}
			}
		}
	}
	return p
}

// password reads a peer's password from the Secret it names, as calico-node can read it; ok is false when the
// peer must be left out (its Secret cannot be read and is not optional, or BIRD cannot quote the password).
func (b *builder) password(p *api.BGPPeer) (pw string, ok bool) {
	if p.Spec.Password == nil || p.Spec.Password.SecretKeyRef == nil {
		return "", true
	}
	ref := p.Spec.Password.SecretKeyRef
	optional := ref.Optional != nil && *ref.Optional
	secret, found := b.in.Secrets[ref.Name]
	pw, hasKey := secret[ref.Key]
	switch {
	case b.in.Secrets == nil && !optional:
		b.warnf("BGPPeer(%s): ignoring peer: its password is in Secret %s, and this node has no Kubernetes API to read it from", p.Name, ref.Name)
		return "", false
	case (!found || !hasKey) && optional:
		return "", true
	case !found:
		b.warnf("BGPPeer(%s): ignoring peer: its password Secret %s does not exist (or calico-node may not read it)", p.Name, ref.Name)
		return "", false
	case !hasKey:
		b.warnf("BGPPeer(%s): ignoring peer: its password Secret %s has no key %q", p.Name, ref.Name, ref.Key)
		return "", false
	case strings.ContainsAny(pw, "\"\n"):
		b.warnf("BGPPeer(%s): ignoring peer: BIRD cannot quote a password containing a double quote or a newline", p.Name)
		return "", false
	}
	return pw, true
}

func (bp bgpPeer) isGlobal() bool {
	return bp.Spec.Node == "" && bp.Spec.NodeSelector == "" && bp.Spec.PeerSelector == ""
}

// parsePeers sorts the BGPPeers by name and parses their selectors and address, dropping those that cannot be
// used.
func (b *builder) parsePeers() []bgpPeer {
	var out []bgpPeer
	for _, p := range b.in.BGPPeers {
		bp := bgpPeer{BGPPeer: p}
		var err error
		if s := p.Spec.NodeSelector; s != "" {
			if bp.nodeSel, err = selector.Parse(s); err != nil {
				b.warnf("BGPPeer(%s): ignoring peer: nodeSelector: %v", p.Name, err)
				continue
			}
		}
		if s := p.Spec.PeerSelector; s != "" {
			if bp.peerSel, err = selector.Parse(s); err != nil {
				b.warnf("BGPPeer(%s): ignoring peer: peerSelector: %v", p.Name, err)
				continue
			}
		}
		if bp.peerSel == nil {
			ip, port, ok := api.SplitPeerIP(p.Spec.PeerIP)
			if !ok {
				b.warnf("BGPPeer(%s): ignoring peer: peerIP %q is not an IP address, IPv4:port or [IPv6]:port", p.Name, p.Spec.PeerIP)
				continue
			}
			bp.peerIP, bp.port = ip, port
		}
		if gw := p.Spec.ReachableBy; gw != "" {
			a, err := netip.ParseAddr(gw)
			if err != nil || bp.peerSel != nil || a.Unmap().Is4() != bp.peerIP.Is4() {
				b.warnf("BGPPeer(%s): ignoring peer: reachableBy %q is not a gateway address of peerIP's family", p.Name, gw)
				continue
			}
		}
		for _, f := range p.Spec.Filters {
			if b.filters[f] == nil {
				b.warnf("BGPPeer(%s): BGPFilter %q does not exist; the peer's routes pass without it", p.Name, f)
			}
		}
		var ok bool
		if bp.password, ok = b.password(p); !ok {
			continue
		}
		out = append(out, bp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// localSide names the nodes that a BGPPeer configures sessions on: spec.node, the nodes spec.nodeSelector
// picks, or every node.
func (b *builder) localSide(bp bgpPeer) []string {
	if bp.Spec.Node != "" {
		return []string{bp.Spec.Node}
	}
	sel := bp.nodeSel
	var out []string
	for _, n := range b.nodes {
		if sel == nil || sel.Evaluate(n.labels) {
			out = append(out, n.name)
		}
	}
	return out
}

func (b *builder) selectNodes(sel selector.Selector) []*node {
	var out []*node
	for _, n := range b.nodes {
		if sel.Evaluate(n.labels) {
			out = append(out, n)
		}
	}
	return out
}

// v1Peer is the value of Calico's peer_v4/<ip> keys.
type v1Peer struct {
	IP          string `json:"ip"`
	ASNum       string `json:"as_num"`
	RRClusterID string `json:"rr_cluster_id"`
}

func (pr peering) v1() v1Peer {
	return v1Peer{IP: pr.ip.String(), ASNum: pr.as.String(), RRClusterID: pr.rr}
}

// peerKeys writes the standard peer keys of every node.
func (b *builder) peerKeys(p *peerings) {
	for _, pr := range p.global {
		b.setJSON(GlobalPrefix+"/peer_"+ipFamily(pr.ip).String()+"/"+pr.ip.String(), pr.v1())
	}
	for local, list := range p.host {
		for _, pr := range list {
			b.setJSON(HostPrefix+"/"+local+"/peer_"+ipFamily(pr.ip).String()+"/"+pr.ip.String(), pr.v1())
		}
	}
}

// localKeys writes this node's precomputed keys: router id, AS, log level, mesh state and its sessions.
func (b *builder) localKeys(p *peerings) {
	me := b.byName[b.in.NodeName]
	b.set(b.local("router_id"), b.routerID(me))
	b.set(b.local("local_as_num"), b.asOf(me).String())
	level := birdLogLevel(b.in.LogLevel)
	if level == "" {
		level = b.nodeLevel[b.in.NodeName]
	}
	if level == "" {
		level = b.logLevel
	}
	b.set(b.local("effective_loglevel"), level)
	meshState := MeshDisabled
	switch {
	case me != nil && me.rr != "":
		meshState = MeshRouteReflector
	case b.mesh:
		meshState = MeshEnabled
	}
	b.set(b.local("node_mesh_state"), meshState)
	if me == nil {
		return
	}
	for _, f := range families {
		for _, peer := range b.sessions(me, f, p, meshState == MeshEnabled) {
			b.setJSON(b.local("peers_"+f.String()+"/"+peer.Name), peer)
		}
	}
}

// sessions lists me's BGP sessions of one family: global peers, then node-specific ones, then the mesh with
// every other node that has an address of the family, is not a route reflector and is not already a peer.
func (b *builder) sessions(me *node, f family, p *peerings, mesh bool) []Peer {
	myIP := me.ip[f]
	if !myIP.IsValid() {
		return nil
	}
	var out []Peer
	taken := map[dest]bool{{myIP, 0}: true}
	meshTaken := map[netip.Addr]bool{myIP: true} // any explicit session to an address replaces the mesh one
	explicit := func(typ, prefix string, list []peering) {
		for _, pr := range list {
			if ipFamily(pr.ip) != f || taken[pr.dest()] || pr.ip == myIP {
				continue
			}
			taken[pr.dest()], meshTaken[pr.ip] = true, true
			out = append(out, b.explicitPeer(me, f, typ, prefix, pr))
		}
	}
	explicit(PeerGlobal, "Global", p.global)
	explicit(PeerNode, "Node", p.host[me.name])
	if !mesh {
		return out
	}
	for _, n := range b.nodes {
		ip := n.ip[f]
		if n == me || n.rr != "" || !ip.IsValid() || meshTaken[ip] {
			continue
		}
		meshTaken[ip] = true
		out = append(out, Peer{
			Name: protocolName("Mesh", ip), Type: PeerMesh, IP: ip.String(), Port: int(b.listenPort(n.name)),
			ASNum: b.asOf(n).String(), Node: n.name,
			SourceAddress: myIP.String(),
			// One side of each mesh session connects and the other waits. The address strings decide, as in
			// Calico, so that our nodes and Calico's agree.
			Passive:     ip.String() > myIP.String(),
			RestartTime: b.meshRestart,
		})
	}
	return out
}

// effectiveListenPort is the port a node listens on for BGP, 179 unless a BGPConfiguration sets listenPort.
func (b *builder) effectiveListenPort(name string) uint16 {
	if p := b.listenPort(name); p != 0 {
		return p
	}
	return api.DefaultListenPort
}

// explicitPeer is the session of a global or node-specific peering, with the options of its BGPPeer.
func (b *builder) explicitPeer(me *node, f family, typ, prefix string, pr peering) Peer {
	name := protocolName(prefix, pr.ip)
	if pr.port != 0 {
		name += "_port_" + strconv.Itoa(int(pr.port)) // as Calico names them, so two ports make two sessions
	}
	peer := Peer{Name: name, Type: typ, IP: pr.ip.String(), Port: int(pr.port), ASNum: pr.as.String(), Node: pr.node,
		Password: pr.password, SourceAddress: me.ip[f].String()}
	localAS := b.asOf(me)
	nextHop := api.NextHopModeAuto
	if s := pr.spec; s != nil {
		if d := s.MaxRestartTime; d != nil {
			peer.RestartTime = int(d.Seconds())
		}
		if s.TTLSecurity != nil {
			peer.TTLSecurity = int(*s.TTLSecurity)
		}
		if !pr.reverse {
			if s.LocalASNumber != nil {
				localAS = *s.LocalASNumber
				peer.LocalASNum = localAS.String()
			}
			if s.EffectiveSourceAddress() == api.SourceAddressNone {
				peer.SourceAddress = ""
			}
			if n := s.NumAllowedLocalASNumbers; n != nil {
				peer.AllowLocalAS = int(*n)
			}
			if gw := s.ReachableBy; gw != "" {
				peer.ReachableBy = netip.MustParseAddr(gw).Unmap().String() // checked in parsePeers
				peer.ReachableRoute = netip.PrefixFrom(pr.ip, pr.ip.BitLen()).String()
			}
			nextHop = s.EffectiveNextHopMode()
			if s.KeepOriginalNextHop && pr.as != localAS {
				nextHop = api.NextHopModeKeep // Calico keeps the next hop for eBGP peers only
			}
			peer.ImportFilters, peer.ExportFilters = b.filterFuncs(s.Filters, f)
		}
	}
	switch {
	case nextHop == api.NextHopModeSelf:
		peer.NextHopSelf = true
	case nextHop == api.NextHopModeKeep:
		peer.NextHopKeep = true
	case me.rr != "" && pr.as == localAS:
		peer.NextHopKeep = true
	}
	if me.rr != "" && pr.as == localAS && pr.rr != me.rr {
		peer.RRClient, peer.RRClusterID = true, me.rr
	}
	return peer
}

// routerID is CALICO_ROUTER_ID, "hash" of the node name, or the node's IPv4 address; a node without one falls
// back to the hash, since BIRD needs a router id even for IPv6.
func (b *builder) routerID(me *node) string {
	switch id := b.in.RouterID; {
	case id == "hash":
		return hashToIPv4(b.in.NodeName)
	case id != "":
		if a, err := netip.ParseAddr(id); err == nil && a.Is4() {
			return a.String()
		}
		b.warnf("CALICO_ROUTER_ID %q is not an IPv4 address or \"hash\"; using the node's address", id)
	}
	if me != nil && me.ip[v4].IsValid() {
		return me.ip[v4].String()
	}
	return hashToIPv4(b.in.NodeName)
}
