package keyview

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/selector"
)

// peering is one configured BGP session as seen from its local side.
type peering struct {
	ip       netip.Addr
	as       api.ASNumber
	rr       string // the remote side's route reflector cluster id
	password string
	node     string // the Calico node at ip, if any
}

// peerings are the sessions the BGPPeers ask for: the global ones (every node) and those of single nodes. Each
// list holds at most one session per address, the first one computed; a node's session to an address that a
// global session already covers is dropped.
type peerings struct {
	global   []peering
	globalIP map[netip.Addr]bool
	host     map[string][]peering
	hostIP   map[string]map[netip.Addr]bool
}

func (p *peerings) addGlobal(pr peering) {
	if p.globalIP[pr.ip] {
		return
	}
	p.globalIP[pr.ip] = true
	p.global = append(p.global, pr)
}

func (p *peerings) addHost(local string, pr peering) {
	if p.globalIP[pr.ip] || p.hostIP[local][pr.ip] {
		return
	}
	if p.hostIP[local] == nil {
		p.hostIP[local] = map[netip.Addr]bool{}
	}
	p.hostIP[local][pr.ip] = true
	p.host[local] = append(p.host[local], pr)
}

// bgpPeer is a BGPPeer with its selectors parsed.
type bgpPeer struct {
	*api.BGPPeer
	nodeSel, peerSel selector.Selector // nil when unset
	peerIP           netip.Addr        // invalid when unset
}

// computePeerings works out every session the BGPPeers ask for, in three passes (as Calico does, so that a
// mixed cluster agrees on who peers with whom):
//  1. global: a BGPPeer with a peerIP and neither node nor nodeSelector is a session of every node;
//  2. node-specific: a BGPPeer with node, nodeSelector or peerSelector gives each of its local nodes (the node,
//     the nodes the nodeSelector picks, or every node) a session to peerIP or to each node the peerSelector picks;
//  3. reverse: the Calico nodes on the remote side of a BGPPeer (those the peerSelector picks, or the node whose
//     address and AS are peerIP and asNumber) get a session back to each of its local nodes, so that both ends
//     of a session between two Calico nodes are configured.
//
// No node peers with itself or with its own address.
func (b *builder) computePeerings() *peerings {
	p := &peerings{globalIP: map[netip.Addr]bool{}, host: map[string][]peering{}, hostIP: map[string]map[netip.Addr]bool{}}
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
		pr := peering{ip: bp.peerIP, as: b.globalAS, password: bp.Spec.Password}
		if bp.Spec.ASNumber != nil {
			pr.as = *bp.Spec.ASNumber
		}
		if n := nodeByIP[bp.peerIP]; n != nil {
			pr.rr, pr.node = n.rr, n.name
		}
		return pr
	}
	toNode := func(n *node, f family, password string) peering {
		return peering{ip: n.ip[f], as: b.asOf(n), rr: n.rr, password: password, node: n.name}
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
						addFor(local, toNode(remote, f, bp.Spec.Password))
					}
				}
			}
		}
	}
	// Pass 3: reverse.
	for _, bp := range peers {
		var remotes []*node
		if bp.peerSel != nil {
			remotes = b.selectNodes(bp.peerSel)
		} else if n := nodeByIP[bp.peerIP]; n != nil && toIP(bp).as == b.asOf(n) {
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
						addFor(remote.name, toNode(local, f, bp.Spec.Password))
					}
				}
			}
		}
	}
	return p
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
			ip, err := netip.ParseAddr(p.Spec.PeerIP)
			if err != nil {
				b.warnf("BGPPeer(%s): ignoring peer: peerIP %q is not an IP address", p.Name, p.Spec.PeerIP)
				continue
			}
			bp.peerIP = ip.Unmap()
		}
		if strings.ContainsAny(p.Spec.Password, "\"\n") {
			b.warnf("BGPPeer(%s): ignoring peer: BIRD cannot quote a password containing a double quote or a newline", p.Name)
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
	myAS := b.asOf(me)
	var out []Peer
	taken := map[netip.Addr]bool{myIP: true}
	explicit := func(typ, prefix string, list []peering) {
		for _, pr := range list {
			if ipFamily(pr.ip) != f || taken[pr.ip] {
				continue
			}
			taken[pr.ip] = true
			peer := Peer{Name: protocolName(prefix, pr.ip), Type: typ, IP: pr.ip.String(), ASNum: pr.as.String(),
				Node: pr.node, Password: pr.password}
			if me.rr != "" && pr.as == myAS {
				peer.NextHopKeep = true
				if pr.rr != me.rr {
					peer.RRClient, peer.RRClusterID = true, me.rr
				}
			}
			out = append(out, peer)
		}
	}
	explicit(PeerGlobal, "Global", p.global)
	explicit(PeerNode, "Node", p.host[me.name])
	if !mesh {
		return out
	}
	for _, n := range b.nodes {
		ip := n.ip[f]
		if n == me || n.rr != "" || !ip.IsValid() || taken[ip] {
			continue
		}
		taken[ip] = true
		out = append(out, Peer{
			Name: protocolName("Mesh", ip), Type: PeerMesh, IP: ip.String(), ASNum: b.asOf(n).String(), Node: n.name,
			// One side of each mesh session connects and the other waits. The address strings decide, as in
			// Calico, so that our nodes and Calico's agree.
			Passive:     ip.String() > myIP.String(),
			RestartTime: b.meshRestart,
		})
	}
	return out
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
