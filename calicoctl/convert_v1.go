package calicoctl

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/calico-l3/calico/api"
)

// This file converts manifests of the pre-v3 calicoctl (apiVersion: v1, kinds ipPool, profile, policy, bgpPeer,
// hostEndpoint, workloadEndpoint and node) to projectcalico.org/v3 resources, following the rules of Calico's
// `calicoctl convert`: names are normalised (and given a hash suffix when that changed them), an IP pool is named
// after its CIDR, a policy becomes a GlobalNetworkPolicy of the default tier, profile tags become labels, tags in
// rules become selectors and the calico/k8s_ns label becomes projectcalico.org/namespace. It does no I/O.

// convertibleV1Kinds are the kinds convertV1 handles, by their lower-case name.
var convertibleV1Kinds = map[string]func(js []byte) (api.Resource, error){
	"ippool":           convertV1IPPool,
	"profile":          convertV1Profile,
	"policy":           convertV1Policy,
	"bgppeer":          convertV1BGPPeer,
	"hostendpoint":     convertV1HostEndpoint,
	"workloadendpoint": convertV1WorkloadEndpoint,
	"node":             convertV1Node,
}

const convertibleKindsText = "bgpPeer, hostEndpoint, ipPool, node, policy, profile and workloadEndpoint"

// convertV1 converts every document of a v1 manifest (YAML or JSON; several documents, a list, or a kind: List
// with items) in order. The first document that cannot be converted stops it, with an *api.DocumentError.
func convertV1(data []byte) ([]api.Resource, error) {
	var out []api.Resource
	err := api.EachItem(data, func(_ int, item []byte) error {
		r, err := convertV1Document(item)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// v1Head is what every v1 document starts with.
type v1Head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func convertV1Document(js []byte) (api.Resource, error) {
	var head v1Head
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("a resource must be an object with apiVersion, kind, metadata and spec: %w", err)
	}
	switch head.APIVersion {
	case "v1":
	case api.Group:
		return nil, fmt.Errorf("apiVersion '%s' is already the current format: convert reads manifests of apiVersion v1", head.APIVersion)
	case "":
		return nil, errors.New("apiVersion is missing: convert reads manifests of apiVersion v1")
	default:
		return nil, fmt.Errorf("apiVersion '%s' is not supported: convert reads manifests of apiVersion v1", head.APIVersion)
	}
	conv, ok := convertibleV1Kinds[strings.ToLower(head.Kind)]
	if !ok {
		if head.Kind == "" {
			return nil, errors.New("kind is missing")
		}
		return nil, fmt.Errorf("conversion for the resource type '%s' is not supported: convert handles the v1 kinds %s",
			head.Kind, convertibleKindsText)
	}
	r, err := conv(js)
	if err != nil {
		return nil, err
	}
	return api.SetTypeMeta(r), nil
}

// decodeV1 decodes a v1 document strictly, so that a misspelt field is an error rather than lost.
func decodeV1(js []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return api.FieldTypeError(dec.Decode(into))
}

// v1TypeMeta is accepted (and ignored) by every v1 kind.
type v1TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ---- names ----

var (
	nonNameChar   = regexp.MustCompile(`[^-.a-z0-9]+`)
	dotDashSeq    = regexp.MustCompile(`[.-]*[.][.-]*`)
	edgeDotsDashs = regexp.MustCompile(`^[.-]*(.*?)[.-]*$`)
)

// normalizeV1Name lower-cases a v1 name, turns '/' into '.', any other character outside [-.a-z0-9] into '-',
// runs of '.' and '-' holding a '.' into one '.', and trims '.' and '-' from both ends, as Calico's upgrade did.
func normalizeV1Name(name string) string {
	name = strings.ToLower(name)
	name = strings.ReplaceAll(name, "/", ".")
	name = nonNameChar.ReplaceAllString(name, "-")
	name = dotDashSeq.ReplaceAllString(name, ".")
	return edgeDotsDashs.FindStringSubmatch(name)[1]
}

// convertV1Name normalises a name and, when that changed it, appends "-" and the first 8 hex digits of the SHA-1
// of the original, so that two v1 names never normalise to the same v3 name.
func convertV1Name(v1Name string) string {
	return qualifiedV1Name(v1Name, normalizeV1Name(v1Name))
}

// convertV1NameNoDots is convertV1Name with the dots of the normalised name turned into dashes.
func convertV1NameNoDots(v1Name string) string {
	return qualifiedV1Name(v1Name, strings.ReplaceAll(normalizeV1Name(v1Name), ".", "-"))
}

func qualifiedV1Name(orig, final string) string {
	if orig == final {
		return orig
	}
	sum := sha1.Sum([]byte(orig))
	return final + "-" + hex.EncodeToString(sum[:])[:8]
}

// convertV1ProfileName renames the Kubernetes namespace profiles "k8s_ns.<ns>" to "kns.<ns>".
func convertV1ProfileName(name string) string {
	if ns, ok := strings.CutPrefix(name, "k8s_ns."); ok {
		return convertV1Name("kns." + ns)
	}
	return convertV1Name(name)
}

func convertV1ProfileNames(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, convertV1ProfileName(n))
	}
	return out
}

// ipName spells an address for a resource name: 10-0-0-1, or for IPv6 all eight groups as four hex digits.
func ipName(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return strings.ReplaceAll(v4.String(), ".", "-")
	}
	ip = ip.To16()
	groups := make([]string, 0, 8)
	for i := 0; i < len(ip); i += 2 {
		groups = append(groups, fmt.Sprintf("%.2x%.2x", ip[i], ip[i+1]))
	}
	return strings.Join(groups, "-")
}

// cidrName names an IP pool after its CIDR: 10.0.0.0/16 is 10-0-0-0-16 and fd00::/64 is fd00---64.
func cidrName(n *net.IPNet) string {
	s := strings.ReplaceAll(n.String(), ".", "-")
	s = strings.ReplaceAll(s, ":", "-")
	return strings.ReplaceAll(s, "/", "-")
}

// ---- addresses ----

// parseV1Net reads a v1 CIDR, or an address meaning a single-address network, keeping the address as written.
func parseV1Net(field, s string) (net.IP, *net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, nil, fmt.Errorf("error with field %s = '%s' (not a valid CIDR or IP address)", field, s)
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return ip, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return nil, nil, fmt.Errorf("error with field %s = '%s' (not a valid CIDR)", field, s)
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return ip, n, nil
}

// v1Network is the masked network of a v1 CIDR ("10.0.20.1/24" is 10.0.20.0/24).
func v1Network(field, s string) (string, error) {
	_, n, err := parseV1Net(field, s)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

func v1Networks(field string, in []string) ([]string, error) {
	var out []string
	for i, s := range in {
		n, err := v1Network(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// byFamily puts IPv4 entries before IPv6 ones, keeping their order otherwise, as v1 stored the families apart.
func byFamily(items []string) []string {
	sort.SliceStable(items, func(i, j int) bool {
		return !strings.Contains(items[i], ":") && strings.Contains(items[j], ":")
	})
	return items
}

// ---- selectors, rules, protocols ----

// convertV1Selector renames the Kubernetes namespace label of v1 selectors.
func convertV1Selector(sel string) string {
	return strings.ReplaceAll(sel, "calico/k8s_ns", api.LabelNamespace)
}

// mergeTag turns a v1 tag into a selector on a label of that name, and-ed with the selector there is.
func mergeTag(sel, tag string) string {
	switch {
	case tag == "":
		return sel
	case sel == "":
		return tag + " == ''"
	}
	return fmt.Sprintf("(%s) && %s == ''", sel, tag)
}

// v1ProtocolNames maps the lower-case protocol names of v1 to the v3 spelling.
var v1ProtocolNames = map[string]string{"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPv6", "sctp": "SCTP", "udplite": "UDPLite"}

func convertV1Protocol(field string, raw json.RawMessage) (*api.Protocol, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if name, ok := v1ProtocolNames[strings.ToLower(s)]; ok {
			raw, _ = json.Marshal(name)
		}
	}
	var p api.Protocol
	if err := p.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("error with field %s: %w", field, err)
	}
	return &p, nil
}

func convertV1Ports(field string, raw []json.RawMessage) ([]api.Port, error) {
	var out []api.Port
	for i, r := range raw {
		var p api.Port
		if err := p.UnmarshalJSON(r); err != nil {
			return nil, fmt.Errorf("error with field %s[%d]: %w", field, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// convertV1Action maps allow, deny, log and pass (or next-tier) to Allow, Deny, Log and Pass; no action is Allow.
func convertV1Action(field, a string) (string, error) {
	switch strings.ToLower(a) {
	case "", "allow":
		return api.ActionAllow, nil
	case "deny":
		return api.ActionDeny, nil
	case "log":
		return api.ActionLog, nil
	case "pass", "next-tier":
		return api.ActionPass, nil
	}
	return "", fmt.Errorf("error with field %s = '%s' (the action must be allow, deny, log or pass)", field, a)
}

type v1ICMP struct {
	Type *int `json:"type,omitempty"`
	Code *int `json:"code,omitempty"`
}

func (i *v1ICMP) v3() *api.ICMPFields {
	if i == nil || (i.Type == nil && i.Code == nil) {
		return nil
	}
	return &api.ICMPFields{Type: i.Type, Code: i.Code}
}

type v1EntityRule struct {
	Tag         string            `json:"tag"`
	Net         string            `json:"net"`
	Nets        []string          `json:"nets"`
	Selector    string            `json:"selector"`
	Ports       []json.RawMessage `json:"ports"`
	NotTag      string            `json:"notTag"`
	NotNet      string            `json:"notNet"`
	NotNets     []string          `json:"notNets"`
	NotSelector string            `json:"notSelector"`
	NotPorts    []json.RawMessage `json:"notPorts"`
}

func (e v1EntityRule) v3(field string) (api.EntityRule, error) {
	var out api.EntityRule
	var err error
	nets := e.Nets
	if e.Net != "" {
		nets = append([]string{e.Net}, nets...)
	}
	if out.Nets, err = v1Networks(field+".nets", nets); err != nil {
		return out, err
	}
	notNets := e.NotNets
	if e.NotNet != "" {
		notNets = append([]string{e.NotNet}, notNets...)
	}
	if out.NotNets, err = v1Networks(field+".notNets", notNets); err != nil {
		return out, err
	}
	out.Selector = mergeTag(convertV1Selector(e.Selector), e.Tag)
	out.NotSelector = mergeTag(convertV1Selector(e.NotSelector), e.NotTag)
	if out.Ports, err = convertV1Ports(field+".ports", e.Ports); err != nil {
		return out, err
	}
	if out.NotPorts, err = convertV1Ports(field+".notPorts", e.NotPorts); err != nil {
		return out, err
	}
	return out, nil
}

type v1Rule struct {
	Action      string          `json:"action"`
	IPVersion   *int            `json:"ipVersion"`
	Protocol    json.RawMessage `json:"protocol"`
	NotProtocol json.RawMessage `json:"notProtocol"`
	ICMP        *v1ICMP         `json:"icmp"`
	NotICMP     *v1ICMP         `json:"notICMP"`
	Source      v1EntityRule    `json:"source"`
	Destination v1EntityRule    `json:"destination"`
}

func convertV1Rules(field string, rules []v1Rule) ([]api.Rule, error) {
	var out []api.Rule
	for i, r := range rules {
		f := fmt.Sprintf("%s[%d]", field, i)
		var v3 api.Rule
		var err error
		if v3.Action, err = convertV1Action(f+".action", r.Action); err != nil {
			return nil, err
		}
		v3.IPVersion = r.IPVersion
		if v3.Protocol, err = convertV1Protocol(f+".protocol", r.Protocol); err != nil {
			return nil, err
		}
		if v3.NotProtocol, err = convertV1Protocol(f+".notProtocol", r.NotProtocol); err != nil {
			return nil, err
		}
		v3.ICMP, v3.NotICMP = r.ICMP.v3(), r.NotICMP.v3()
		if v3.Source, err = r.Source.v3(f + ".source"); err != nil {
			return nil, err
		}
		if v3.Destination, err = r.Destination.v3(f + ".destination"); err != nil {
			return nil, err
		}
		out = append(out, v3)
	}
	return out, nil
}

type v1EndpointPort struct {
	Name     string          `json:"name"`
	Protocol json.RawMessage `json:"protocol"`
	Port     uint16          `json:"port"`
}

func convertV1EndpointPorts(field string, ports []v1EndpointPort) ([]api.EndpointPort, error) {
	var out []api.EndpointPort
	for i, p := range ports {
		proto, err := convertV1Protocol(fmt.Sprintf("%s[%d].protocol", field, i), p.Protocol)
		if err != nil {
			return nil, err
		}
		ep := api.EndpointPort{Name: p.Name, Port: p.Port}
		if proto != nil {
			ep.Protocol = *proto
		}
		out = append(out, ep)
	}
	return out, nil
}

// ---- kinds ----

// convertV1IPPool names the pool after its CIDR and turns ipip.enabled/mode into ipipMode (cross-subnet is
// CrossSubnet, any other mode Always, not enabled Never); the rest takes Calico's defaults for converted pools.
func convertV1IPPool(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			CIDR string `json:"cidr"`
		} `json:"metadata"`
		Spec struct {
			IPIP *struct {
				Enabled bool   `json:"enabled"`
				Mode    string `json:"mode"`
			} `json:"ipip"`
			NATOutgoing bool `json:"nat-outgoing"`
			Disabled    bool `json:"disabled"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	if v1.Metadata.CIDR == "" {
		return nil, errors.New("metadata.cidr is required: the pool's name and spec.cidr are made from it")
	}
	_, n, err := parseV1Net("metadata.cidr", v1.Metadata.CIDR)
	if err != nil {
		return nil, err
	}
	ipip := api.EncapNever
	if v1.Spec.IPIP != nil && v1.Spec.IPIP.Enabled {
		ipip = api.EncapAlways
		if strings.EqualFold(v1.Spec.IPIP.Mode, "cross-subnet") {
			ipip = api.EncapCrossSubnet
		}
	}
	blockSize := 26
	if n.IP.To4() == nil {
		blockSize = 122
	}
	return &api.IPPool{
		ObjectMeta: api.ObjectMeta{Name: cidrName(n)},
		Spec: api.IPPoolSpec{
			CIDR:         n.String(),
			BlockSize:    blockSize,
			IPIPMode:     ipip,
			VXLANMode:    api.EncapNever,
			NATOutgoing:  v1.Spec.NATOutgoing,
			Disabled:     v1.Spec.Disabled,
			NodeSelector: "all()",
			AllowedUses:  []string{api.IPPoolAllowedUseWorkload, api.IPPoolAllowedUseTunnel},
		},
	}, nil
}

// convertV1Profile merges the labels and tags (each tag a label with an empty value) into labelsToApply.
func convertV1Profile(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
			Tags   []string          `json:"tags"`
		} `json:"metadata"`
		Spec struct {
			Ingress []v1Rule `json:"ingress"`
			Egress  []v1Rule `json:"egress"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	if v1.Metadata.Name == "" {
		return nil, errors.New("metadata.name is required")
	}
	p := &api.Profile{ObjectMeta: api.ObjectMeta{Name: convertV1ProfileName(v1.Metadata.Name)}}
	labels := v1.Metadata.Labels
	if labels == nil && len(v1.Metadata.Tags) > 0 {
		labels = map[string]string{}
	}
	for _, t := range v1.Metadata.Tags {
		if v, ok := labels[t]; ok {
			//lint:ignore ST1005 Calico's own message, which operators search for
			return nil, fmt.Errorf("Tag: '%s' and Label '%s == %s' have the same value for Profile: %s. Change the Label key before proceeding",
				t, t, v, p.Name)
		}
		labels[t] = ""
	}
	p.Spec.LabelsToApply = labels
	var err error
	if p.Spec.Ingress, err = convertV1Rules("spec.ingress", v1.Spec.Ingress); err != nil {
		return nil, err
	}
	if p.Spec.Egress, err = convertV1Rules("spec.egress", v1.Spec.Egress); err != nil {
		return nil, err
	}
	return p, nil
}

// convertV1Policy makes a GlobalNetworkPolicy "<tier>.<name>" (tier "default" unless metadata.tier names one),
// with the types the rules imply when none are given.
func convertV1Policy(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Name        string            `json:"name"`
			Tier        string            `json:"tier"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Order          *float64 `json:"order"`
			Selector       string   `json:"selector"`
			Ingress        []v1Rule `json:"ingress"`
			Egress         []v1Rule `json:"egress"`
			DoNotTrack     bool     `json:"doNotTrack"`
			PreDNAT        bool     `json:"preDNAT"`
			ApplyOnForward bool     `json:"applyOnForward"`
			Types          []string `json:"types"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	if v1.Metadata.Name == "" {
		return nil, errors.New("metadata.name is required")
	}
	tier := convertV1NameNoDots(v1.Metadata.Tier)
	if tier == "" {
		tier = "default"
	}
	s := v1.Spec
	p := &api.GlobalNetworkPolicy{
		ObjectMeta: api.ObjectMeta{
			Name:        tier + "." + convertV1NameNoDots(v1.Metadata.Name),
			Labels:      map[string]string{"projectcalico.org/tier": tier},
			Annotations: v1.Metadata.Annotations,
		},
		Spec: api.GlobalNetworkPolicySpec{
			Tier:           tier,
			Order:          s.Order,
			Selector:       convertV1Selector(s.Selector),
			DoNotTrack:     s.DoNotTrack,
			PreDNAT:        s.PreDNAT,
			ApplyOnForward: s.ApplyOnForward || s.DoNotTrack || s.PreDNAT,
		},
	}
	var err error
	if p.Spec.Ingress, err = convertV1Rules("spec.ingress", s.Ingress); err != nil {
		return nil, err
	}
	if p.Spec.Egress, err = convertV1Rules("spec.egress", s.Egress); err != nil {
		return nil, err
	}
	for i, t := range s.Types {
		switch strings.ToLower(t) {
		case "ingress":
			p.Spec.Types = append(p.Spec.Types, api.PolicyTypeIngress)
		case "egress":
			p.Spec.Types = append(p.Spec.Types, api.PolicyTypeEgress)
		default:
			return nil, fmt.Errorf("error with field spec.types[%d] = '%s' (invalid policy type: must be ingress or egress)", i, t)
		}
	}
	if len(p.Spec.Types) == 0 {
		switch {
		case len(s.Egress) == 0:
			p.Spec.Types = []api.PolicyType{api.PolicyTypeIngress}
		case len(s.Ingress) == 0:
			p.Spec.Types = []api.PolicyType{api.PolicyTypeEgress}
		default:
			p.Spec.Types = []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress}
		}
	}
	return p, nil
}

// convertV1BGPPeer names a global peer after its address (192-168-1-1) and a node's peer "<node>.<address>".
func convertV1BGPPeer(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Scope  string `json:"scope"`
			Node   string `json:"node"`
			PeerIP string `json:"peerIP"`
		} `json:"metadata"`
		Spec struct {
			ASNumber *api.ASNumber `json:"asNumber"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	ip := net.ParseIP(v1.Metadata.PeerIP)
	if ip == nil {
		return nil, fmt.Errorf("error with field metadata.peerIP = '%s' (a peer needs a valid IP address)", v1.Metadata.PeerIP)
	}
	p := &api.BGPPeer{Spec: api.BGPPeerSpec{PeerIP: ip.String(), ASNumber: v1.Spec.ASNumber}}
	switch v1.Metadata.Scope {
	case "global":
		if v1.Metadata.Node != "" {
			return nil, fmt.Errorf("error with field metadata.node = '%s' (a peer of scope global has no node)", v1.Metadata.Node)
		}
		p.Name = ipName(ip)
	case "node":
		if v1.Metadata.Node == "" {
			return nil, errors.New("metadata.node is required for a peer of scope node")
		}
		p.Spec.Node = normalizeV1Name(v1.Metadata.Node)
		p.Name = p.Spec.Node + "." + ipName(ip)
	default:
		return nil, fmt.Errorf("error with field metadata.scope = '%s' (must be global or node)", v1.Metadata.Scope)
	}
	return p, nil
}

// convertV1HostEndpoint names the endpoint "<node>.<name>", normalised.
func convertV1HostEndpoint(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Name   string            `json:"name"`
			Node   string            `json:"node"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			InterfaceName string           `json:"interfaceName"`
			ExpectedIPs   []string         `json:"expectedIPs"`
			Profiles      []string         `json:"profiles"`
			Ports         []v1EndpointPort `json:"ports"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	if v1.Metadata.Name == "" || v1.Metadata.Node == "" {
		return nil, errors.New("metadata.name and metadata.node are required")
	}
	var ips []string
	for i, s := range v1.Spec.ExpectedIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("error with field spec.expectedIPs[%d] = '%s' (not a valid IP address)", i, s)
		}
		ips = append(ips, ip.String())
	}
	ports, err := convertV1EndpointPorts("spec.ports", v1.Spec.Ports)
	if err != nil {
		return nil, err
	}
	node := normalizeV1Name(v1.Metadata.Node)
	return &api.HostEndpoint{
		ObjectMeta: api.ObjectMeta{Name: convertV1Name(node + "." + v1.Metadata.Name), Labels: v1.Metadata.Labels},
		Spec: api.HostEndpointSpec{
			Node:          node,
			InterfaceName: v1.Spec.InterfaceName,
			ExpectedIPs:   byFamily(ips),
			Profiles:      convertV1ProfileNames(v1.Spec.Profiles),
			Ports:         ports,
		},
	}, nil
}

// convertV1WorkloadEndpoint splits a Kubernetes workload "<namespace>.<pod>" into namespace and pod and names the
// endpoint from node, orchestrator, workload and endpoint as Calico does ("-" doubled inside each part). Like
// Calico's convert, the output carries no namespace: give it with -n when creating the endpoint.
func convertV1WorkloadEndpoint(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Name             string            `json:"name"`
			Workload         string            `json:"workload"`
			Orchestrator     string            `json:"orchestrator"`
			Node             string            `json:"node"`
			ActiveInstanceID string            `json:"activeInstanceID"`
			Labels           map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			InterfaceName string   `json:"interfaceName"`
			MAC           string   `json:"mac"`
			IPNetworks    []string `json:"ipNetworks"`
			IPNATs        []struct {
				InternalIP string `json:"internalIP"`
				ExternalIP string `json:"externalIP"`
			} `json:"ipNATs"`
			IPv4Gateway string           `json:"ipv4Gateway"`
			IPv6Gateway string           `json:"ipv6Gateway"`
			Profiles    []string         `json:"profiles"`
			Ports       []v1EndpointPort `json:"ports"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	m := v1.Metadata
	if m.Name == "" || m.Node == "" || m.Orchestrator == "" || m.Workload == "" {
		return nil, errors.New("metadata.name, metadata.node, metadata.orchestrator and metadata.workload are required")
	}
	w := &api.WorkloadEndpoint{}
	s := &w.Spec
	s.Node = normalizeV1Name(m.Node)
	s.Orchestrator = convertV1Name(m.Orchestrator)
	s.Endpoint = convertV1Name(m.Name)
	var workloadPart string
	switch m.Orchestrator {
	case "k8s":
		// The namespace is dropped from the output, as Calico's convert drops every namespace.
		_, pod, ok := strings.Cut(m.Workload, ".")
		if !ok {
			return nil, fmt.Errorf("malformed k8s workload ID '%s': workload was not added through the Calico CNI plugin and cannot be converted", m.Workload)
		}
		s.Pod, s.ContainerID, workloadPart = pod, m.ActiveInstanceID, pod
	case "cni":
		s.ContainerID, workloadPart = m.Workload, m.Workload
	case "libnetwork":
		s.Workload, workloadPart = "libnetwork", "libnetwork"
	default:
		s.Workload = convertV1Name(m.Workload)
		workloadPart = s.Workload
	}
	w.Name = joinEscaped(s.Node, s.Orchestrator, workloadPart, s.Endpoint)
	if len(m.Labels) > 0 {
		w.Labels = map[string]string{}
		for k, v := range m.Labels {
			if k == "calico/k8s_ns" {
				k = api.LabelNamespace
			}
			w.Labels[k] = v
		}
	}
	nets, err := v1Networks("spec.ipNetworks", v1.Spec.IPNetworks)
	if err != nil {
		return nil, err
	}
	s.IPNetworks = byFamily(nets)
	for i, nat := range v1.Spec.IPNATs {
		in, ex := net.ParseIP(nat.InternalIP), net.ParseIP(nat.ExternalIP)
		if in == nil || ex == nil {
			return nil, fmt.Errorf("error with field spec.ipNATs[%d] (internalIP and externalIP must be IP addresses)", i)
		}
		s.IPNATs = append(s.IPNATs, api.IPNAT{InternalIP: in.String(), ExternalIP: ex.String()})
	}
	s.IPv4Gateway, s.IPv6Gateway = v1.Spec.IPv4Gateway, v1.Spec.IPv6Gateway
	if v1.Spec.MAC != "" {
		mac, err := net.ParseMAC(v1.Spec.MAC)
		if err != nil {
			return nil, fmt.Errorf("error with field spec.mac = '%s' (not a valid MAC address)", v1.Spec.MAC)
		}
		s.MAC = mac.String()
	}
	s.Profiles = convertV1ProfileNames(v1.Spec.Profiles)
	s.InterfaceName = v1.Spec.InterfaceName
	if s.Ports, err = convertV1EndpointPorts("spec.ports", v1.Spec.Ports); err != nil {
		return nil, err
	}
	return w, nil
}

// joinEscaped joins the parts of a WorkloadEndpoint name with '-', doubling the '-' inside each part.
func joinEscaped(parts ...string) string {
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, "-", "--")
	}
	return strings.Join(parts, "-")
}

// convertV1Node keeps the BGP addresses with their prefix lengths (10.244.0.1/24).
func convertV1Node(js []byte) (api.Resource, error) {
	var v1 struct {
		v1TypeMeta
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			BGP *struct {
				ASNumber    *api.ASNumber `json:"asNumber"`
				IPv4Address string        `json:"ipv4Address"`
				IPv6Address string        `json:"ipv6Address"`
			} `json:"bgp"`
			OrchRefs []api.OrchRef `json:"orchRefs"`
		} `json:"spec"`
	}
	if err := decodeV1(js, &v1); err != nil {
		return nil, err
	}
	if v1.Metadata.Name == "" {
		return nil, errors.New("metadata.name is required")
	}
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: normalizeV1Name(v1.Metadata.Name)}}
	if b := v1.Spec.BGP; b != nil {
		if b.IPv4Address == "" && b.IPv6Address == "" {
			return nil, errors.New("spec.bgp needs ipv4Address or ipv6Address")
		}
		n.Spec.BGP = &api.NodeBGPSpec{ASNumber: b.ASNumber}
		for _, a := range []struct {
			field, value string
			into         *string
		}{{"spec.bgp.ipv4Address", b.IPv4Address, &n.Spec.BGP.IPv4Address}, {"spec.bgp.ipv6Address", b.IPv6Address, &n.Spec.BGP.IPv6Address}} {
			if a.value == "" {
				continue
			}
			ip, network, err := parseV1Net(a.field, a.value)
			if err != nil {
				return nil, err
			}
			*a.into = (&net.IPNet{IP: ip, Mask: network.Mask}).String()
		}
	}
	n.Spec.OrchRefs = v1.Spec.OrchRefs
	return n, nil
}
