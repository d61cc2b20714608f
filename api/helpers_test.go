package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// with applies f to r and returns r, so table rows can start from a valid sample and change one thing.
func with[T any](r T, f func(T)) T {
	f(r)
	return r
}

func proto(name string) *Protocol { return ptr(ProtocolFromString(name)) }

func ports(ps ...string) []Port {
	out := make([]Port, len(ps))
	for i, s := range ps {
		p, err := ParsePort(s)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

// validationCase is one row of a validation table: field "" means the resource must be valid; otherwise
// Validate must report field with a reason containing reason.
type validationCase struct {
	name   string
	r      Resource
	field  string
	reason string
}

func runValidation(t *testing.T, cases []validationCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Helper()
			checkValidation(t, c.r.Validate(), c.field, c.reason)
		})
	}
}

func checkValidation(t *testing.T, err error, field, reason string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("expected the resource to be valid, got:\n%v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("expected an error on %s with reason containing %q, got none", field, reason)
	}
	var ve ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("expected a ValidationError, got %T: %v", err, err)
	}
	for _, fe := range ve {
		if fe.Field == field && strings.Contains(fe.Reason, reason) {
			return
		}
	}
	t.Fatalf("expected an error on %s with reason containing %q, got:\n%v", field, reason, err)
}

// Minimal valid resources of every kind.

func validIPPool() *IPPool {
	return &IPPool{ObjectMeta: ObjectMeta{Name: "pool1"}, Spec: IPPoolSpec{CIDR: "10.0.0.0/16"}}
}

func validNode() *Node {
	return &Node{ObjectMeta: ObjectMeta{Name: "node1"}, Spec: NodeSpec{BGP: &NodeBGPSpec{IPv4Address: "10.0.0.1/24"}}}
}

func validBGPFilter() *BGPFilter {
	return &BGPFilter{ObjectMeta: ObjectMeta{Name: "filter1"}, Spec: BGPFilterSpec{
		ImportV4: []BGPFilterRule{{Action: FilterReject, MatchOperator: FilterIn, CIDR: "10.0.0.0/8"}},
	}}
}

func validBGPPeer() *BGPPeer {
	return &BGPPeer{ObjectMeta: ObjectMeta{Name: "peer1"}, Spec: BGPPeerSpec{PeerIP: "192.168.0.1", ASNumber: ptr(ASNumber(64513))}}
}

func validBGPConfiguration() *BGPConfiguration {
	return &BGPConfiguration{ObjectMeta: ObjectMeta{Name: "default"}}
}

func validProfile() *Profile {
	return &Profile{ObjectMeta: ObjectMeta{Name: "net1"}, Spec: ProfileSpec{
		Ingress: []Rule{{Action: ActionAllow, Source: EntityRule{Selector: "has(net1)"}}},
		Egress:  []Rule{{Action: ActionAllow}},
	}}
}

func validNetworkPolicy() *NetworkPolicy {
	return &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "allow-dns", Namespace: "default"}, Spec: NetworkPolicySpec{
		Selector: "role == 'db'",
		Ingress:  []Rule{{Action: ActionAllow, Protocol: proto("UDP"), Destination: EntityRule{Ports: ports("53")}}},
	}}
}

func validGlobalNetworkPolicy() *GlobalNetworkPolicy {
	return &GlobalNetworkPolicy{ObjectMeta: ObjectMeta{Name: "allow-ssh"}, Spec: GlobalNetworkPolicySpec{
		Selector: "all()",
		Ingress:  []Rule{{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: ports("22")}}},
	}}
}

func validGlobalNetworkSet() *GlobalNetworkSet {
	return &GlobalNetworkSet{ObjectMeta: ObjectMeta{Name: "external"}, Spec: GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24"}}}
}

func validWorkloadEndpoint() *WorkloadEndpoint {
	return &WorkloadEndpoint{ObjectMeta: ObjectMeta{Name: "node1-cni-abc123-eth0", Namespace: "default"}, Spec: WorkloadEndpointSpec{
		Orchestrator:  "cni",
		Node:          "node1",
		ContainerID:   "abc123",
		Endpoint:      "eth0",
		InterfaceName: "caliabc123",
		IPNetworks:    []string{"10.0.0.5/32"},
		Profiles:      []string{"net1"},
	}}
}

func validHostEndpoint() *HostEndpoint {
	return &HostEndpoint{ObjectMeta: ObjectMeta{Name: "node1-eth0"}, Spec: HostEndpointSpec{Node: "node1", InterfaceName: "eth0"}}
}

func validClusterInformation() *ClusterInformation {
	return &ClusterInformation{ObjectMeta: ObjectMeta{Name: "default"}, Spec: ClusterInformationSpec{ClusterGUID: "0a1b2c", DatastoreReady: ptr(true)}}
}

func validFelixConfiguration() *FelixConfiguration {
	return &FelixConfiguration{ObjectMeta: ObjectMeta{Name: "default"}}
}

// validSamples gives a minimal valid resource of every kind, keyed by kind name.
var validSamples = map[string]func() Resource{
	"BGPConfiguration":    func() Resource { return validBGPConfiguration() },
	"BGPFilter":           func() Resource { return validBGPFilter() },
	"BGPPeer":             func() Resource { return validBGPPeer() },
	"ClusterInformation":  func() Resource { return validClusterInformation() },
	"FelixConfiguration":  func() Resource { return validFelixConfiguration() },
	"GlobalNetworkPolicy": func() Resource { return validGlobalNetworkPolicy() },
	"GlobalNetworkSet":    func() Resource { return validGlobalNetworkSet() },
	"HostEndpoint":        func() Resource { return validHostEndpoint() },
	"IPPool":              func() Resource { return validIPPool() },
	"NetworkPolicy":       func() Resource { return validNetworkPolicy() },
	"Node":                func() Resource { return validNode() },
	"Profile":             func() Resource { return validProfile() },
	"Tier":                func() Resource { return &Tier{ObjectMeta: ObjectMeta{Name: "security"}} },
	"WorkloadEndpoint":    func() Resource { return validWorkloadEndpoint() },
}

// fullSamples gives a resource of every kind with every field set, for round trips.
var fullSamples = map[string]func() Resource{
	"IPPool": func() Resource {
		return &IPPool{ObjectMeta: ObjectMeta{Name: "pool1", Labels: map[string]string{"zone": "a"}}, Spec: IPPoolSpec{
			CIDR: "10.10.0.0/16", BlockSize: 24, IPIPMode: EncapCrossSubnet, VXLANMode: EncapNever,
			NATOutgoing: true, Disabled: true, NodeSelector: "zone == 'a'", DisableBGPExport: true,
			AllowedUses: []string{IPPoolAllowedUseTunnel, IPPoolAllowedUseWorkload}, AssignmentMode: AssignmentModeManual,
		}}
	},
	"Node": func() Resource {
		return &Node{ObjectMeta: ObjectMeta{Name: "node1", Annotations: map[string]string{"note": "rack 4"}}, Spec: NodeSpec{
			BGP: &NodeBGPSpec{
				ASNumber: ptr(ASNumber(65001)), IPv4Address: "10.0.0.1/24", IPv6Address: "fd00::1/64",
				IPv4IPIPTunnelAddr: "10.10.1.1", RouteReflectorClusterID: "224.0.0.1",
			},
			OrchRefs: []OrchRef{{NodeName: "k8s-node1", Orchestrator: "k8s"}},
		}}
	},
	"BGPPeer": func() Resource {
		return &BGPPeer{ObjectMeta: ObjectMeta{Name: "tor1"}, Spec: BGPPeerSpec{
			Node: "node1", PeerIP: "192.168.0.254:1790", ASNumber: ptr(ASNumber(65546)), Password: &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "bgp-passwords", Key: "tor1"}},
			SourceAddress: SourceAddressNone, MaxRestartTime: &Duration{300 * time.Second},
			NumAllowedLocalASNumbers: ptr(int32(2)), TTLSecurity: ptr(uint8(1)), NextHopMode: NextHopModeSelf,
			ReachableBy: "192.168.0.1", Filters: []string{"f1", "f2"}, ReversePeering: ReversePeeringManual,
			LocalASNumber: ptr(ASNumber(65001)),
		}}
	},
	"BGPFilter": func() Resource {
		return &BGPFilter{ObjectMeta: ObjectMeta{Name: "f1"}, Spec: BGPFilterSpec{
			ExportV4: []BGPFilterRule{{Action: FilterAccept, MatchOperator: FilterIn, CIDR: "10.0.0.0/8",
				PrefixLength: &BGPFilterPrefixLength{Min: ptr(int32(16)), Max: ptr(int32(24))}, Source: FilterSourceRemotePeers, Interface: "eth*"}},
			ImportV4: []BGPFilterRule{{Action: FilterReject}},
			ExportV6: []BGPFilterRule{{Action: FilterReject, MatchOperator: FilterNotEqual, CIDR: "fd00::/64"}},
			ImportV6: []BGPFilterRule{{Action: FilterAccept, Interface: "*.calico"}},
		}}
	},
	"BGPConfiguration": func() Resource {
		return &BGPConfiguration{ObjectMeta: ObjectMeta{Name: "default"}, Spec: BGPConfigurationSpec{
			LogSeverityScreen: "Info", NodeToNodeMeshEnabled: ptr(false), ASNumber: ptr(ASNumber(64600)),
			NodeMeshMaxRestartTime: &Duration{90 * time.Second},
			ServiceClusterIPs:      []ServiceIPBlock{{CIDR: "10.96.0.0/12"}},
			ServiceExternalIPs:     []ServiceIPBlock{{CIDR: "104.244.42.129/32"}},
			ServiceLoadBalancerIPs: []ServiceIPBlock{{CIDR: "fd00:96::/112"}},
			Communities:            []Community{{Name: "large", Value: "64600:300:100"}},
			PrefixAdvertisements:   []PrefixAdvertisement{{CIDR: "10.10.0.0/16", Communities: []string{"large", "64600:120"}}},
			ListenPort:             178, BindMode: BindModeNodeIP, IgnoredInterfaces: []string{"eth1", "docker*"},
			ProgramClusterRoutes: ProgramClusterRoutesEnabled,
		}}
	},
	"Profile": func() Resource {
		return &Profile{ObjectMeta: ObjectMeta{Name: "net1"}, Spec: ProfileSpec{
			Ingress:       []Rule{{Action: ActionAllow, Source: EntityRule{Selector: "has(net1)"}}},
			Egress:        []Rule{{Action: ActionAllow}},
			LabelsToApply: map[string]string{"net1": ""},
		}}
	},
	"Tier": func() Resource {
		return &Tier{ObjectMeta: ObjectMeta{Name: "security"}, Spec: TierSpec{Order: ptr(100.0), DefaultAction: ActionPass}}
	},
	"NetworkPolicy": func() Resource {
		return &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "security.db", Namespace: "team-a"}, Spec: NetworkPolicySpec{
			Tier: "security", Order: ptr(100.5), Selector: "role == 'db'", Types: []PolicyType{PolicyTypeIngress, PolicyTypeEgress},
			Ingress: []Rule{{
				Action: ActionAllow, IPVersion: ptr(4), Protocol: proto("TCP"),
				Source: EntityRule{
					Nets: []string{"10.0.0.0/8"}, NotNets: []string{"10.1.0.0/16"}, Selector: "role == 'web'",
					NotSelector: "quarantine == 'true'", NamespaceSelector: "all()", NotPorts: ports("1:1023"),
				},
				Destination: EntityRule{Ports: ports("5432", "8000:8080", "metrics")},
			}},
			Egress: []Rule{
				{Action: ActionAllow, Protocol: &Protocol{Number: 17}, Destination: EntityRule{Ports: ports("53")}},
				{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(8), Code: ptr(0)}},
				{Action: ActionDeny, Protocol: proto("ICMPv6"), NotICMP: &ICMPFields{Type: ptr(128)}},
				{Action: ActionLog, NotProtocol: proto("SCTP")},
				{Action: ActionPass},
			},
		}}
	},
	"GlobalNetworkPolicy": func() Resource {
		return &GlobalNetworkPolicy{ObjectMeta: ObjectMeta{Name: "edge"}, Spec: GlobalNetworkPolicySpec{
			Order: ptr(10.0), Selector: "has(edge)", Types: []PolicyType{PolicyTypeIngress},
			Ingress:    []Rule{{Action: ActionDeny, Source: EntityRule{Nets: []string{"198.51.100.0/24"}}}},
			PreDNAT:    true,
			DoNotTrack: false, ApplyOnForward: true,
		}}
	},
	"GlobalNetworkSet": func() Resource {
		return &GlobalNetworkSet{ObjectMeta: ObjectMeta{Name: "external", Labels: map[string]string{"trust": "low"}},
			Spec: GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24", "2001:db8::/32"}}}
	},
	"WorkloadEndpoint": func() Resource {
		return &WorkloadEndpoint{ObjectMeta: ObjectMeta{Name: "node1-k8s-web--1-eth0", Namespace: "team-a",
			Labels: map[string]string{"app": "web", LabelNamespace: "team-a", LabelOrchestrator: "k8s"}},
			Spec: WorkloadEndpointSpec{
				Orchestrator: "k8s", Workload: "web-1", Node: "node1", ContainerID: "abc123", Pod: "web-1", Endpoint: "eth0",
				IPNetworks:  []string{"10.0.0.5/32", "fd00::5/128"},
				IPNATs:      []IPNAT{{InternalIP: "10.0.0.5", ExternalIP: "172.16.0.5"}},
				IPv4Gateway: "169.254.1.1", IPv6Gateway: "fe80::1",
				Profiles:      []string{"kns.team-a"},
				InterfaceName: "cali0123456789a", MAC: "ee:ee:ee:ee:ee:ee",
				Ports: []EndpointPort{{Name: "http", Protocol: ProtocolFromString("TCP"), Port: 8080}},
			}}
	},
	"HostEndpoint": func() Resource {
		return &HostEndpoint{ObjectMeta: ObjectMeta{Name: "node1-eth0", Labels: map[string]string{"role": "edge"}},
			Spec: HostEndpointSpec{
				Node: "node1", InterfaceName: "eth0", ExpectedIPs: []string{"192.0.2.10", "2001:db8::10"},
				Profiles: []string{"edge"}, Ports: []EndpointPort{{Name: "bgp", Protocol: ProtocolFromString("TCP"), Port: 179}},
			}}
	},
	"ClusterInformation": func() Resource {
		return &ClusterInformation{ObjectMeta: ObjectMeta{Name: "default"}, Spec: ClusterInformationSpec{
			ClusterGUID: "5f0c9d3a8b1e4f27a6c2d9e0b3f41a7c", ClusterType: "bgp,etcd", CalicoVersion: "v3.3.0", DatastoreReady: ptr(true),
		}}
	},
	"FelixConfiguration": func() Resource {
		return &FelixConfiguration{ObjectMeta: ObjectMeta{Name: "node.node1"}, Spec: FelixConfigurationSpec{
			IPv6Support:                 ptr(false),
			RouteRefreshInterval:        &Duration{90 * time.Second},
			IptablesRefreshInterval:     &Duration{10 * time.Second},
			IpsetsRefreshInterval:       &Duration{10 * time.Second},
			IptablesLockTimeout:         &Duration{500 * time.Millisecond},
			InterfacePrefix:             "cali,tap",
			ChainInsertMode:             "Append",
			DefaultEndpointToHostAction: "Return",
			IptablesFilterAllowAction:   "Accept",
			IptablesMarkMask:            ptr(uint32(0xffff0000)),
			IptablesBackend:             "Legacy",
			LogPrefix:                   "calico-packet",
			LogSeverityScreen:           "Warning",
			IPIPEnabled:                 ptr(true),
			IPIPMTU:                     ptr(1440),
			ReportingInterval:           &Duration{0},
			HealthEnabled:               ptr(true),
			HealthHost:                  "127.0.0.1",
			HealthPort:                  ptr(9099),
			PrometheusMetricsEnabled:    ptr(true),
			PrometheusMetricsPort:       ptr(9091),
			FailsafeInboundHostPorts:    &[]ProtoPort{{Protocol: "TCP", Port: 22}, {Protocol: "UDP", Port: 68}},
			FailsafeOutboundHostPorts:   &[]ProtoPort{},
		}}
	},
}
