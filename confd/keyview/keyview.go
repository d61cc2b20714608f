// Package keyview computes the key view that confd renders BIRD's configuration from. It holds two kinds of
// keys. The standard ones are those Calico's templates know (/calico/bgp/v1/global/…, /calico/bgp/v1/host/<node>/…
// for every node, /calico/v1/ipam/v4/pool/…, this node's block affinities), so stock templates and tools keep
// working. The precomputed ones, under /calico/bgp/v1/host/<this node>/, carry every decision the BIRD
// configuration needs (router id, which peers and what kind, which side of a mesh session is passive, route
// reflector roles, which pools BIRD must leave to felix, which blocks to aggregate), so that our templates only
// loop and print. The package is pure: resources in, a map out.
package keyview

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
)

// Key prefixes of the view.
const (
	GlobalPrefix   = "/calico/bgp/v1/global"
	HostPrefix     = "/calico/bgp/v1/host"
	PoolPrefix     = "/calico/v1/ipam"      // + /v4/pool/<cidr with - for />
	AffinityPrefix = "/calico/ipam/v2/host" // + /<node>/ipv4/block/<cidr with - for />
)

// Peer types, as the precomputed peer keys name them.
const (
	PeerMesh   = "mesh"   // node-to-node mesh
	PeerGlobal = "global" // a BGPPeer for every node
	PeerNode   = "node"   // a BGPPeer for some nodes (node, nodeSelector or peerSelector), or its reverse
)

// States of the node-to-node mesh for this node (key node_mesh_state).
const (
	MeshEnabled        = "enabled"
	MeshDisabled       = "disabled"
	MeshRouteReflector = "route_reflector" // this node is a route reflector: it takes no part in the mesh
)

// Input is everything the key view is computed from.
type Input struct {
	// NodeName is this node: the one the precomputed keys are for.
	NodeName          string
	Nodes             []*api.Node
	BGPConfigurations []*api.BGPConfiguration
	BGPPeers          []*api.BGPPeer
	BGPFilters        []*api.BGPFilter
	IPPools           []*api.IPPool
	// Affinities are this node's block affinities as stored: key
	// /calico/ipam/v2/host/<NodeName>/ipv4/block/<cidr with - for /> (or ipv6) → value such as {"state":"confirmed"}.
	// Keys of other nodes are ignored.
	Affinities map[string]string
	// RouterID is CALICO_ROUTER_ID: empty for this node's IPv4 address, "hash" for an id derived from the node
	// name (for IPv6-only nodes), or an IPv4 address.
	RouterID string
	// LogLevel is BGP_LOGSEVERITYSCREEN; when set it wins over BGPConfiguration.
	LogLevel string
	// Secrets are the Kubernetes Secrets of calico-node's namespace that BGP passwords may name: name → key →
	// value. Nil when this node has no Kubernetes API: peers with a password are then left out.
	Secrets map[string]map[string]string
}

// Add files a resource under its kind and reports whether the key view reads that kind at all.
func (in *Input) Add(r api.Resource) bool {
	switch r := r.(type) {
	case *api.Node:
		in.Nodes = append(in.Nodes, r)
	case *api.BGPPeer:
		in.BGPPeers = append(in.BGPPeers, r)
	case *api.BGPConfiguration:
		in.BGPConfigurations = append(in.BGPConfigurations, r)
	case *api.BGPFilter:
		in.BGPFilters = append(in.BGPFilters, r)
	case *api.IPPool:
		in.IPPools = append(in.IPPools, r)
	default:
		return false
	}
	return true
}

// Peer is one BGP session of this node, the JSON value of /calico/bgp/v1/host/<node>/peers_v4/<Name> (peers_v6
// for IPv6). Templates render one BIRD protocol per Peer without further decisions.
type Peer struct {
	// Name is the BIRD protocol name: Mesh_10_0_0_2, Global_10_0_0_9, Node_fd00__3, Global_10_0_0_9_port_1790.
	Name string `json:"name"`
	// Type is mesh, global or node.
	Type string `json:"type"`
	// IP is the neighbor address, Port its port (0 for BGP's, 179) and ASNum its AS number (a decimal string, as
	// in Calico's peer keys).
	IP    string `json:"ip"`
	Port  int    `json:"port,omitempty"`
	ASNum string `json:"as_num"`
	// SourceAddress is this node's address of the family, the session's source; empty to let the kernel pick
	// (sourceAddress None).
	SourceAddress string `json:"source_address"`
	// LocalASNum, when set, is the AS this node presents to the peer instead of local_as_num.
	LocalASNum string `json:"local_as_num,omitempty"`
	// AllowLocalAS is how many times our AS may appear in the AS path of a route the peer sends; 0: none.
	AllowLocalAS int `json:"allow_local_as,omitempty"`
	// TTLSecurity, when not 0, is GTSM with the peer at most this many hops away (BIRD: ttl security on and
	// multihop <hops>, so that packets must arrive with a TTL of at least 256-hops).
	TTLSecurity int `json:"ttl_security,omitempty"`
	// NextHopSelf puts this node's address as the next hop of every route sent to the peer.
	NextHopSelf bool `json:"next_hop_self,omitempty"`
	// ReachableBy is the gateway of a static route to the peer (ReachableRoute, its address as a /32 or /128),
	// so that the session never follows a route learned over BGP.
	ReachableBy    string `json:"reachable_by,omitempty"`
	ReachableRoute string `json:"reachable_route,omitempty"`
	// ImportFilters and ExportFilters are the BIRD functions of the peer's BGPFilters (see Filter), called in
	// order before the usual import (accept) and export (calico_export_rules) logic.
	ImportFilters []string `json:"import_filters,omitempty"`
	ExportFilters []string `json:"export_filters,omitempty"`
	// Node is the Calico node at IP, when the peer is one.
	Node string `json:"node"`
	// RRClient says this node reflects routes to the peer; RRClusterID is then this node's cluster id.
	RRClient    bool   `json:"rr_client"`
	RRClusterID string `json:"rr_cluster_id"`
	// NextHopKeep keeps the next hop of routes sent to the peer: on the internal sessions of a route reflector
	// (so that reflected routes keep the next hop of the node that originated them instead of pointing at the
	// reflector), and with nextHopMode Keep or keepOriginalNextHop (eBGP peers).
	NextHopKeep bool `json:"next_hop_keep"`
	// Passive says this side waits for the peer to connect (one side of each mesh session).
	Passive bool `json:"passive"`
	// Password is the TCP MD5 password, if any.
	Password string `json:"password"`
	// RestartTime is the graceful restart time in seconds for this session, 0 for BIRD's default.
	RestartTime int `json:"restart_time,omitempty"`
}

// Pool is the JSON value of /calico/bgp/v1/host/<node>/pools_v4/<cidr with - for /> (pools_v6 for IPv6).
type Pool struct {
	CIDR      string `json:"cidr"`
	IPIPMode  string `json:"ipip_mode"`
	VXLANMode string `json:"vxlan_mode"`
	// FelixRoutes says felix programs the routes to remote blocks of this pool (IPIP or VXLAN): BIRD must not
	// install them in the kernel, and must not advertise the ones it learns back from the kernel.
	FelixRoutes bool `json:"felix_routes"`
	// DisableBGPExport says routes inside the pool are never advertised to BGP peers (IPPool disableBGPExport).
	DisableBGPExport bool `json:"disable_bgp_export,omitempty"`
}

// Block is the JSON value of /calico/bgp/v1/host/<node>/blocks_v4/<cidr with - for /> (blocks_v6 for IPv6):
// one block affine to this node.
type Block struct {
	CIDR  string `json:"cidr"`
	State string `json:"state"`
	// Aggregate says the affinity is confirmed: advertise the block as one route and suppress the routes inside it.
	Aggregate bool `json:"aggregate"`
}

// Build computes the key view. The warnings name inputs that were ignored (an unparsable address or selector,
// a password BIRD cannot quote); the view is complete without them.
func Build(in Input) (map[string]string, []string) {
	b := &builder{in: in, keys: map[string]string{}}
	b.loadConfig()
	b.loadNodes()
	b.loadFilters()
	b.globalKeys()
	b.nodeKeys()
	b.poolKeys()
	b.affinityKeys()
	b.filterKeys()
	b.advertisementKeys()
	p := b.computePeerings()
	b.peerKeys(p)
	if in.NodeName != "" {
		b.localKeys(p)
	}
	return b.keys, b.warnings
}

// family is an address family: index 0 is IPv4, 1 is IPv6.
type family int

const (
	v4 family = iota
	v6
)

var families = []family{v4, v6}

func (f family) String() string { return [...]string{"v4", "v6"}[f] }

// ipFamily returns the family of a (valid) address.
func ipFamily(a netip.Addr) family {
	if a.Is4() {
		return v4
	}
	return v6
}

// node is a Node reduced to what the view needs.
type node struct {
	name    string
	labels  map[string]string
	ip      [2]netip.Addr   // invalid when unset
	network [2]netip.Prefix // network of the address as written (a plain address is a /32 or /128)
	as      *api.ASNumber
	rr      string // route reflector cluster id
}

type builder struct {
	in       Input
	keys     map[string]string
	warnings []string

	globalAS    api.ASNumber
	mesh        bool
	meshRestart int               // seconds; 0 for BIRD's default
	logLevel    string            // global, normalized
	nodeLevel   map[string]string // per node, normalized
	nodes       []*node           // sorted by name
	byName      map[string]*node
	filters     map[string]*api.BGPFilter
	// global is the spec of BGPConfiguration "default" (zero when absent); perNode are those of "node.<name>".
	global  api.BGPConfigurationSpec
	perNode map[string]api.BGPConfigurationSpec
}

func (b *builder) warnf(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

func (b *builder) set(key, value string) { b.keys[key] = value }

func (b *builder) setJSON(key string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("keyview: encoding %s: %v", key, err)) // only our own plain structs are encoded
	}
	b.keys[key] = string(data)
}

func (b *builder) loadConfig() {
	b.globalAS, b.mesh, b.logLevel = api.DefaultASNumber, api.DefaultMesh, "info"
	b.nodeLevel = map[string]string{}
	b.perNode = map[string]api.BGPConfigurationSpec{}
	for _, c := range b.in.BGPConfigurations {
		switch {
		case c.Name == "default":
			b.global = c.Spec
			b.globalAS = c.Spec.EffectiveASNumber()
			b.mesh = c.Spec.MeshEnabled()
			if d := c.Spec.NodeMeshMaxRestartTime; d != nil {
				b.meshRestart = int(d.Seconds())
			}
			if l := birdLogLevel(c.Spec.LogSeverityScreen); l != "" {
				b.logLevel = l
			}
		case strings.HasPrefix(c.Name, "node."):
			b.perNode[strings.TrimPrefix(c.Name, "node.")] = c.Spec
			if l := birdLogLevel(c.Spec.LogSeverityScreen); l != "" {
				b.nodeLevel[strings.TrimPrefix(c.Name, "node.")] = l
			}
		}
	}
}

// birdLogLevel maps a log severity to what BIRD distinguishes: debug, info, or none (anything quieter); "" when
// unset.
func birdLogLevel(s string) string {
	switch strings.ToLower(s) {
	case "":
		return ""
	case "debug":
		return "debug"
	case "info":
		return "info"
	default:
		return "none"
	}
}

func (b *builder) loadNodes() {
	b.byName = map[string]*node{}
	for _, n := range b.in.Nodes {
		nd := &node{name: n.Name, labels: n.Labels}
		if bgp := n.Spec.BGP; bgp != nil {
			nd.as = bgp.ASNumber
			nd.rr = bgp.RouteReflectorClusterID
			for f, addr := range []string{bgp.IPv4Address, bgp.IPv6Address} {
				if addr == "" {
					continue
				}
				p, ok := parseAddrOrCIDR(addr)
				if !ok || ipFamily(p.Addr()) != family(f) {
					b.warnf("Node(%s): ignoring IP%s address %q: not an IP%s address or CIDR", n.Name, family(f), addr, family(f))
					continue
				}
				nd.ip[f], nd.network[f] = p.Addr(), p.Masked()
			}
		}
		b.nodes = append(b.nodes, nd)
		b.byName[nd.name] = nd
	}
	sort.Slice(b.nodes, func(i, j int) bool { return b.nodes[i].name < b.nodes[j].name })
}

// parseAddrOrCIDR reads "10.0.0.1/24" or "10.0.0.1" (taken as a /32).
func parseAddrOrCIDR(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// asOf is a node's AS number, or the cluster's.
func (b *builder) asOf(n *node) api.ASNumber {
	if n != nil && n.as != nil {
		return *n.as
	}
	return b.globalAS
}

func (b *builder) globalKeys() {
	b.set(GlobalPrefix+"/as_num", b.globalAS.String())
	b.set(GlobalPrefix+"/node_mesh", fmt.Sprintf(`{"enabled":%t}`, b.mesh))
	b.set(GlobalPrefix+"/loglevel", b.logLevel)
	if p := b.global.ListenPort; p != 0 {
		b.set(GlobalPrefix+"/listen_port", strconv.Itoa(int(p)))
	}
}

func (b *builder) nodeKeys() {
	for _, n := range b.nodes {
		h := HostPrefix + "/" + n.name
		for _, f := range families {
			addr := ""
			if n.ip[f].IsValid() {
				addr = n.ip[f].String()
				b.set(h+"/network_"+f.String(), n.network[f].String())
			}
			b.set(h+"/ip_addr_"+f.String(), addr)
		}
		if n.as != nil {
			b.set(h+"/as_num", n.as.String())
		}
		b.set(h+"/rr_cluster_id", n.rr)
		if p := b.perNode[n.name].ListenPort; p != 0 {
			b.set(h+"/listen_port", strconv.Itoa(int(p)))
		}
	}
	for name, level := range b.nodeLevel {
		b.set(HostPrefix+"/"+name+"/loglevel", level)
	}
}

// v1Pool is the value of Calico's /calico/v1/ipam/v4/pool/<cidr> keys.
type v1Pool struct {
	CIDR       string `json:"cidr"`
	IPIP       string `json:"ipip"`
	IPIPMode   string `json:"ipip_mode"`
	Masquerade bool   `json:"masquerade"`
	IPAM       bool   `json:"ipam"`
	Disabled   bool   `json:"disabled"`
	// DisableBGPExport is spelt as in Calico's pool keys.
	DisableBGPExport bool `json:"disableBGPExport,omitempty"`
}

func (b *builder) poolKeys() {
	for _, p := range b.in.IPPools {
		cidr, err := netip.ParsePrefix(p.Spec.CIDR)
		if err != nil {
			b.warnf("IPPool(%s): ignoring pool with invalid CIDR %q", p.Name, p.Spec.CIDR)
			continue
		}
		cidr = cidr.Masked()
		f := ipFamily(cidr.Addr())
		ipipMode, vxlanMode := orNever(p.Spec.IPIPMode), orNever(p.Spec.VXLANMode)
		v1 := v1Pool{CIDR: cidr.String(), Masquerade: p.Spec.NATOutgoing, IPAM: !p.Spec.Disabled, Disabled: p.Spec.Disabled,
			DisableBGPExport: p.Spec.DisableBGPExport}
		if f == v4 {
			switch ipipMode {
			case api.EncapAlways:
				v1.IPIP, v1.IPIPMode = "tunl0", "always"
			case api.EncapCrossSubnet:
				v1.IPIP, v1.IPIPMode = "tunl0", "cross-subnet"
			}
		}
		seg := cidrSegment(cidr)
		b.setJSON(PoolPrefix+"/"+f.String()+"/pool/"+seg, v1)
		if b.in.NodeName == "" {
			continue
		}
		b.setJSON(b.local("pools_"+f.String()+"/"+seg), Pool{
			CIDR:             cidr.String(),
			IPIPMode:         ipipMode,
			VXLANMode:        vxlanMode,
			FelixRoutes:      (f == v4 && ipipMode != api.EncapNever) || vxlanMode != api.EncapNever,
			DisableBGPExport: p.Spec.DisableBGPExport,
		})
	}
}

func orNever(mode string) string {
	if mode == "" {
		return api.EncapNever
	}
	return mode
}

// cidrSegment is a CIDR as a key segment: 192.168.0.0-16.
func cidrSegment(p netip.Prefix) string {
	return strings.Replace(p.String(), "/", "-", 1)
}

// local is a key of this node's precomputed view.
func (b *builder) local(rel string) string {
	return HostPrefix + "/" + b.in.NodeName + "/" + rel
}

func (b *builder) affinityKeys() {
	if b.in.NodeName == "" {
		return
	}
	keys := make([]string, 0, len(b.in.Affinities))
	for k := range b.in.Affinities {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mine := AffinityPrefix + "/" + b.in.NodeName + "/"
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, mine)
		if !ok {
			continue
		}
		value := b.in.Affinities[k]
		b.set(k, value)
		fam, seg, ok := strings.Cut(rest, "/block/")
		var f family
		switch fam {
		case "ipv4":
			f = v4
		case "ipv6":
			f = v6
		default:
			ok = false
		}
		cidr, err := netip.ParsePrefix(strings.Replace(seg, "-", "/", 1))
		if !ok || err != nil || ipFamily(cidr.Addr()) != f {
			b.warnf("ignoring block affinity %s: not /<node>/ipv4|ipv6/block/<cidr>", k)
			continue
		}
		state := affinityState(value)
		b.setJSON(b.local("blocks_"+f.String()+"/"+cidrSegment(cidr.Masked())), Block{
			CIDR: cidr.Masked().String(), State: state, Aggregate: state == "confirmed",
		})
	}
}

// affinityState reads the state of a stored affinity; an affinity without one (older writers) is confirmed.
func affinityState(value string) string {
	var v struct {
		State string `json:"state"`
	}
	if json.Unmarshal([]byte(value), &v) != nil || v.State == "" {
		return "confirmed"
	}
	return v.State
}

// protocolName is the BIRD protocol name for a peer: the type's prefix and the address with . and : as _.
func protocolName(prefix string, ip netip.Addr) string {
	return prefix + "_" + strings.NewReplacer(".", "_", ":", "_").Replace(ip.String())
}

// hashToIPv4 derives a stable router id from a node name: the first four bytes of its SHA-256.
func hashToIPv4(name string) string {
	sum := sha256.Sum256([]byte(name))
	return netip.AddrFrom4([4]byte(sum[:4])).String()
}
