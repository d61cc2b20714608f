package api

import (
	"net/netip"
	"strconv"
	"strings"
)

// IPPool is a range of addresses that workloads are given addresses from, in blocks of BlockSize.
type IPPool struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       IPPoolSpec `json:"spec"`
}

// IPPoolSpec is the spec of an IPPool.
type IPPoolSpec struct {
	CIDR         string `json:"cidr"`
	BlockSize    int    `json:"blockSize,omitempty"`
	IPIPMode     string `json:"ipipMode,omitempty"`
	VXLANMode    string `json:"vxlanMode,omitempty"`
	NATOutgoing  bool   `json:"natOutgoing,omitempty"`
	Disabled     bool   `json:"disabled,omitempty"`
	NodeSelector string `json:"nodeSelector,omitempty"`
	// DisableBGPExport keeps the pool's routes (its blocks and the workload routes inside it) from BGP peers.
	DisableBGPExport bool `json:"disableBGPExport,omitempty"`
	// AllowedUses says what IPAM may hand the pool's addresses to: Workload, Tunnel (a node's IPIP or VXLAN
	// tunnel address) or LoadBalancer (kept for a LoadBalancer controller; this project has none, so such a pool
	// is stored and never used). Unset means [Workload, Tunnel].
	AllowedUses []string `json:"allowedUses,omitempty"`
	// AssignmentMode is Automatic (the default: IPAM picks the pool on its own) or Manual (the pool is used only
	// when it is asked for by name or CIDR).
	AssignmentMode string `json:"assignmentMode,omitempty"`
}

// IPPool allowed uses.
const (
	IPPoolAllowedUseWorkload     = "Workload"
	IPPoolAllowedUseTunnel       = "Tunnel"
	IPPoolAllowedUseLoadBalancer = "LoadBalancer"
)

// IPPool assignment modes.
const (
	AssignmentModeAutomatic = "Automatic"
	AssignmentModeManual    = "Manual"
)

// IPIP and VXLAN encapsulation modes.
const (
	EncapNever       = "Never"
	EncapAlways      = "Always"
	EncapCrossSubnet = "CrossSubnet"
)

// Node is a host running calico-node.
type Node struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NodeSpec `json:"spec"`
}

// NodeSpec is the spec of a Node.
type NodeSpec struct {
	BGP *NodeBGPSpec `json:"bgp,omitempty"`
	// IPv4VXLANTunnelAddr is the node's VXLAN tunnel address (the vxlan.calico device's /32), allocated from a
	// VXLAN pool by calico-node; VXLANTunnelMACAddr is the device's MAC (its VTEP MAC), chosen once and kept.
	IPv4VXLANTunnelAddr string    `json:"ipv4VXLANTunnelAddr,omitempty"`
	VXLANTunnelMACAddr  string    `json:"vxlanTunnelMACAddr,omitempty"`
	OrchRefs            []OrchRef `json:"orchRefs,omitempty"`
}

// NodeBGPSpec holds a node's BGP addresses and identity.
type NodeBGPSpec struct {
	ASNumber                *ASNumber `json:"asNumber,omitempty"`
	IPv4Address             string    `json:"ipv4Address,omitempty"`
	IPv6Address             string    `json:"ipv6Address,omitempty"`
	IPv4IPIPTunnelAddr      string    `json:"ipv4IPIPTunnelAddr,omitempty"`
	RouteReflectorClusterID string    `json:"routeReflectorClusterID,omitempty"`
}

// OrchRef ties a Node to the name an orchestrator knows it by.
type OrchRef struct {
	NodeName     string `json:"nodeName,omitempty"`
	Orchestrator string `json:"orchestrator"`
}

// BGPPeer is a BGP peering for all nodes, one node, or the nodes a selector picks.
type BGPPeer struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       BGPPeerSpec `json:"spec"`
}

// BGPPeerSpec is the spec of a BGPPeer.
type BGPPeerSpec struct {
	Node         string    `json:"node,omitempty"`
	NodeSelector string    `json:"nodeSelector,omitempty"`
	PeerIP       string    `json:"peerIP,omitempty"`
	ASNumber     *ASNumber `json:"asNumber,omitempty"`
	PeerSelector string    `json:"peerSelector,omitempty"`
	// Password is the session's TCP MD5 password, kept in a Kubernetes Secret in calico-node's namespace.
	Password *BGPPassword `json:"password,omitempty"`
	// SourceAddress is UseNodeIP (the default: the session's source is the node's address) or None (the kernel
	// picks it).
	SourceAddress string `json:"sourceAddress,omitempty"`
	// MaxRestartTime is how long the peer's routes are kept after its session drops (BGP graceful restart);
	// BIRD's default, 120s, when unset.
	MaxRestartTime *Duration `json:"maxRestartTime,omitempty"`
	// NumAllowedLocalASNumbers is how many times our own AS may appear in a route's AS path before we drop it
	// (0: BIRD's default, none).
	NumAllowedLocalASNumbers *int32 `json:"numAllowedLocalASNumbers,omitempty"`
	// TTLSecurity, when not 0, enables GTSM: the peer must be at most this many hops away.
	TTLSecurity *uint8 `json:"ttlSecurity,omitempty"`
	// KeepOriginalNextHop keeps the next hop of routes sent to an eBGP peer instead of putting ours in.
	KeepOriginalNextHop bool `json:"keepOriginalNextHop,omitempty"`
	// NextHopMode is Auto (default), Self or Keep.
	NextHopMode string `json:"nextHopMode,omitempty"`
	// ReachableBy is a gateway address through which the peer is reached: a static route to the peer through it
	// keeps the session off routes learned over BGP (such as a default route from the peer itself).
	ReachableBy string `json:"reachableBy,omitempty"`
	// Filters names BGPFilters applied, in order, to the routes imported from and exported to this peer.
	Filters []string `json:"filters,omitempty"`
	// ReversePeering is Auto (default: the Calico nodes on the remote side peer back automatically) or Manual
	// (another BGPPeer must configure the other direction).
	ReversePeering string `json:"reversePeering,omitempty"`
	// LocalASNumber is the AS this node presents to the peer instead of its own.
	LocalASNumber *ASNumber `json:"localASNumber,omitempty"`
}

// Values of BGPPeerSpec enumerations.
const (
	SourceAddressUseNodeIP = "UseNodeIP"
	SourceAddressNone      = "None"
	NextHopModeAuto        = "Auto"
	NextHopModeSelf        = "Self"
	NextHopModeKeep        = "Keep"
	ReversePeeringAuto     = "Auto"
	ReversePeeringManual   = "Manual"
)

// EffectiveSourceAddress is the source address mode, UseNodeIP when unset.
func (s BGPPeerSpec) EffectiveSourceAddress() string {
	if s.SourceAddress == "" {
		return SourceAddressUseNodeIP
	}
	return s.SourceAddress
}

// EffectiveNextHopMode is the next hop mode, Auto when unset.
func (s BGPPeerSpec) EffectiveNextHopMode() string {
	if s.NextHopMode == "" {
		return NextHopModeAuto
	}
	return s.NextHopMode
}

// SplitPeerIP splits peerIP into its address and port: "10.0.0.1" gives port 0, "10.0.0.1:1790" and
// "[fd00::1]:1790" give 1790. ok is false when peerIP is neither form.
func SplitPeerIP(peerIP string) (ip netip.Addr, port uint16, ok bool) {
	if a, err := netip.ParseAddr(peerIP); err == nil && a.Zone() == "" {
		return a.Unmap(), 0, true
	}
	ap, err := netip.ParseAddrPort(peerIP)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return netip.Addr{}, 0, false
	}
	return ap.Addr().Unmap(), ap.Port(), true
}

// BGPFilter is a set of rules for the routes exchanged with the BGPPeers that name it in spec.filters.
type BGPFilter struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       BGPFilterSpec `json:"spec"`
}

// BGPFilterSpec is the spec of a BGPFilter: rules per direction and address family, applied in order; the first
// rule that matches decides, and a route that matches none goes on to the peer's usual import or export logic.
type BGPFilterSpec struct {
	ExportV4 []BGPFilterRule `json:"exportV4,omitempty"`
	ImportV4 []BGPFilterRule `json:"importV4,omitempty"`
	ExportV6 []BGPFilterRule `json:"exportV6,omitempty"`
	ImportV6 []BGPFilterRule `json:"importV6,omitempty"`
}

// BGPFilterRule is one rule of a BGPFilter. Its matches (all optional) must all hold for Action to apply.
type BGPFilterRule struct {
	// Action is Accept or Reject.
	Action string `json:"action"`
	// MatchOperator (Equal, NotEqual, In, NotIn) compares the route's prefix with CIDR; the two go together.
	MatchOperator string `json:"matchOperator,omitempty"`
	CIDR          string `json:"cidr,omitempty"`
	// PrefixLength bounds the length of prefixes In (or NotIn) CIDR.
	PrefixLength *BGPFilterPrefixLength `json:"prefixLength,omitempty"`
	// Source RemotePeers matches routes learned over BGP.
	Source string `json:"source,omitempty"`
	// Interface matches routes through interfaces whose name matches this glob (such as "eth*").
	Interface string `json:"interface,omitempty"`
}

// BGPFilterPrefixLength bounds a prefix length; an unset bound is the CIDR's own length (min) or the family's
// maximum (max).
type BGPFilterPrefixLength struct {
	Min *int32 `json:"min,omitempty"`
	Max *int32 `json:"max,omitempty"`
}

// Values of BGPFilterRule fields.
const (
	FilterAccept            = "Accept"
	FilterReject            = "Reject"
	FilterEqual             = "Equal"
	FilterNotEqual          = "NotEqual"
	FilterIn                = "In"
	FilterNotIn             = "NotIn"
	FilterSourceRemotePeers = "RemotePeers"
)

// BGPConfiguration holds cluster-wide (name "default") or per-node ("node.<name>") BGP settings.
type BGPConfiguration struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       BGPConfigurationSpec `json:"spec"`
}

// BGPConfigurationSpec is the spec of a BGPConfiguration.
type BGPConfigurationSpec struct {
	LogSeverityScreen     string    `json:"logSeverityScreen,omitempty"`
	NodeToNodeMeshEnabled *bool     `json:"nodeToNodeMeshEnabled,omitempty"`
	ASNumber              *ASNumber `json:"asNumber,omitempty"`
	// NodeMeshMaxRestartTime is how long mesh peers keep a node's routes after its BGP session drops
	// unexpectedly (BGP graceful restart); BIRD's default, 120s, when unset.
	NodeMeshMaxRestartTime *Duration `json:"nodeMeshMaxRestartTime,omitempty"`
	// ServiceClusterIPs, ServiceExternalIPs and ServiceLoadBalancerIPs are ranges of Kubernetes service
	// addresses that every node advertises to its BGP peers (cluster-wide configuration only).
	ServiceClusterIPs      []ServiceIPBlock `json:"serviceClusterIPs,omitempty"`
	ServiceExternalIPs     []ServiceIPBlock `json:"serviceExternalIPs,omitempty"`
	ServiceLoadBalancerIPs []ServiceIPBlock `json:"serviceLoadBalancerIPs,omitempty"`
	// Communities names BGP community values for PrefixAdvertisements.
	Communities []Community `json:"communities,omitempty"`
	// PrefixAdvertisements adds communities to the routes a node advertises inside a CIDR.
	PrefixAdvertisements []PrefixAdvertisement `json:"prefixAdvertisements,omitempty"`
	// ListenPort is the port BIRD listens on for BGP, and the port the other nodes' mesh and selector
	// sessions connect to; 179 when unset. A per-node configuration overrides the cluster's.
	ListenPort uint16 `json:"listenPort,omitempty"`
	// BindMode is None (the default: listen on every address) or NodeIP (listen on the node's BGP address only).
	BindMode string `json:"bindMode,omitempty"`
	// IgnoredInterfaces are interface names or globs whose routes BIRD does not read as direct routes.
	IgnoredInterfaces []string `json:"ignoredInterfaces,omitempty"`
	// ProgramClusterRoutes is Enabled (the default: BIRD installs the routes to other nodes' blocks of pools
	// without encapsulation) or Disabled (felix would); only Enabled can be honoured, see Validate.
	ProgramClusterRoutes string `json:"programClusterRoutes,omitempty"`
}

// BGPPassword says where a BGP session's password is: as in Calico, only in a Kubernetes Secret.
type BGPPassword struct {
	SecretKeyRef *SecretKeySelector `json:"secretKeyRef,omitempty"`
}

// SecretKeySelector names one key of a Kubernetes Secret in calico-node's namespace.
type SecretKeySelector struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional,omitempty"`
}

// ServiceIPBlock is one range of service addresses: a CIDR or a single address.
type ServiceIPBlock struct {
	CIDR string `json:"cidr,omitempty"`
}

// Community is a named BGP community value: aa:nn (standard, 16-bit numbers) or aa:nn:mm (large, 32-bit).
type Community struct {
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

// PrefixAdvertisement adds Communities (names from spec.communities, or literal aa:nn and aa:nn:mm values) to
// the routes advertised inside CIDR.
type PrefixAdvertisement struct {
	CIDR        string   `json:"cidr,omitempty"`
	Communities []string `json:"communities,omitempty"`
}

// Values of BGPConfigurationSpec enumerations and the defaults of its unset fields.
const (
	BindModeNone                 = "None"
	BindModeNodeIP               = "NodeIP"
	ProgramClusterRoutesEnabled  = "Enabled"
	ProgramClusterRoutesDisabled = "Disabled"
	DefaultListenPort            = 179
)

// Defaults of BGPConfiguration when a field (or the whole resource) is absent.
const (
	DefaultASNumber ASNumber = 64512
	DefaultMesh              = true
)

// EffectiveASNumber is the configured AS number, or 64512.
func (s BGPConfigurationSpec) EffectiveASNumber() ASNumber {
	if s.ASNumber != nil {
		return *s.ASNumber
	}
	return DefaultASNumber
}

// MeshEnabled says whether the node-to-node mesh is on (default true).
func (s BGPConfigurationSpec) MeshEnabled() bool {
	if s.NodeToNodeMeshEnabled != nil {
		return *s.NodeToNodeMeshEnabled
	}
	return DefaultMesh
}

// Profile is a set of rules and labels shared by the endpoints that name it.
type Profile struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ProfileSpec `json:"spec"`
}

// ProfileSpec is the spec of a Profile.
type ProfileSpec struct {
	Ingress       []Rule            `json:"ingress,omitempty"`
	Egress        []Rule            `json:"egress,omitempty"`
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}

// NetworkPolicy is an ordered set of rules for the endpoints of one namespace that its selector picks.
type NetworkPolicy struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NetworkPolicySpec `json:"spec"`
}

// NetworkPolicySpec is the spec of a NetworkPolicy.
type NetworkPolicySpec struct {
	// Tier names the Tier the policy belongs to ("default" when empty); see Tier for how tiers judge traffic.
	Tier     string       `json:"tier,omitempty"`
	Order    *float64     `json:"order,omitempty"`
	Selector string       `json:"selector,omitempty"`
	Types    []PolicyType `json:"types,omitempty"`
	Ingress  []Rule       `json:"ingress,omitempty"`
	Egress   []Rule       `json:"egress,omitempty"`
}

// GlobalNetworkPolicy is an ordered set of rules for the endpoints of any namespace that its selector picks.
type GlobalNetworkPolicy struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       GlobalNetworkPolicySpec `json:"spec"`
}

// GlobalNetworkPolicySpec is the spec of a GlobalNetworkPolicy.
type GlobalNetworkPolicySpec struct {
	// Tier names the Tier the policy belongs to ("default" when empty).
	Tier           string       `json:"tier,omitempty"`
	Order          *float64     `json:"order,omitempty"`
	Selector       string       `json:"selector,omitempty"`
	Types          []PolicyType `json:"types,omitempty"`
	Ingress        []Rule       `json:"ingress,omitempty"`
	Egress         []Rule       `json:"egress,omitempty"`
	DoNotTrack     bool         `json:"doNotTrack,omitempty"`
	PreDNAT        bool         `json:"preDNAT,omitempty"`
	ApplyOnForward bool         `json:"applyOnForward,omitempty"`
}

// PolicyType is the direction a policy applies to.
type PolicyType string

// Policy types.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// GlobalNetworkSet is a labelled set of CIDRs that rule selectors can pick.
type GlobalNetworkSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       GlobalNetworkSetSpec `json:"spec"`
}

// GlobalNetworkSetSpec is the spec of a GlobalNetworkSet.
type GlobalNetworkSetSpec struct {
	Nets []string `json:"nets,omitempty"`
}

// WorkloadEndpoint is one network interface of a workload (pod, container).
type WorkloadEndpoint struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       WorkloadEndpointSpec `json:"spec"`
}

// WorkloadEndpointSpec is the spec of a WorkloadEndpoint.
type WorkloadEndpointSpec struct {
	Orchestrator  string         `json:"orchestrator,omitempty"`
	Workload      string         `json:"workload,omitempty"`
	Node          string         `json:"node,omitempty"`
	ContainerID   string         `json:"containerID,omitempty"`
	Pod           string         `json:"pod,omitempty"`
	Endpoint      string         `json:"endpoint,omitempty"`
	IPNetworks    []string       `json:"ipNetworks,omitempty"`
	IPNATs        []IPNAT        `json:"ipNATs,omitempty"`
	IPv4Gateway   string         `json:"ipv4Gateway,omitempty"`
	IPv6Gateway   string         `json:"ipv6Gateway,omitempty"`
	Profiles      []string       `json:"profiles,omitempty"`
	InterfaceName string         `json:"interfaceName,omitempty"`
	MAC           string         `json:"mac,omitempty"`
	Ports         []EndpointPort `json:"ports,omitempty"`
}

// IPNAT is a 1:1 NAT mapping of a workload address.
type IPNAT struct {
	InternalIP string `json:"internalIP"`
	ExternalIP string `json:"externalIP"`
}

// EndpointPort is a named port of an endpoint, usable in rules by name.
type EndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
}

// HostEndpoint is a host's own interface, protected by policy.
type HostEndpoint struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HostEndpointSpec `json:"spec"`
}

// HostEndpointSpec is the spec of a HostEndpoint.
type HostEndpointSpec struct {
	Node          string         `json:"node,omitempty"`
	InterfaceName string         `json:"interfaceName,omitempty"`
	ExpectedIPs   []string       `json:"expectedIPs,omitempty"`
	Profiles      []string       `json:"profiles,omitempty"`
	Ports         []EndpointPort `json:"ports,omitempty"`
}

// ClusterInformation (name "default") records cluster-wide facts written at node startup.
type ClusterInformation struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ClusterInformationSpec `json:"spec"`
}

// ClusterInformationSpec is the spec of a ClusterInformation.
type ClusterInformationSpec struct {
	ClusterGUID    string `json:"clusterGUID,omitempty"`
	ClusterType    string `json:"clusterType,omitempty"`
	CalicoVersion  string `json:"calicoVersion,omitempty"`
	DatastoreReady *bool  `json:"datastoreReady,omitempty"`
}

// ParseCommunity reads a community value: aa:nn (a standard community, two 16-bit numbers) or aa:nn:mm (a large
// community, three 32-bit numbers). ok is false for anything else.
func ParseCommunity(v string) (parts []uint32, ok bool) {
	fields := strings.Split(v, ":")
	bits := 16
	switch len(fields) {
	case 2:
	case 3:
		bits = 32
	default:
		return nil, false
	}
	for _, f := range fields {
		if f == "" || strings.TrimLeft(f, "0123456789") != "" {
			return nil, false
		}
		n, err := strconv.ParseUint(f, 10, bits)
		if err != nil {
			return nil, false
		}
		parts = append(parts, uint32(n))
	}
	return parts, true
}

// ResolveCommunity gives the value of a community as a prefix advertisement names it: the value of the community
// of that name in s.Communities, or the name itself when it is a literal aa:nn or aa:nn:mm.
func (s BGPConfigurationSpec) ResolveCommunity(nameOrValue string) (parts []uint32, ok bool) {
	for _, c := range s.Communities {
		if c.Name == nameOrValue {
			return ParseCommunity(c.Value)
		}
	}
	return ParseCommunity(nameOrValue)
}

// EffectiveBindMode is the bind mode, None when unset.
func (s BGPConfigurationSpec) EffectiveBindMode() string {
	if s.BindMode == "" {
		return BindModeNone
	}
	return s.BindMode
}
