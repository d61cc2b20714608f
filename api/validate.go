package api

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/calico-l3/calico/selector"
)

// FieldError is one invalid field, printed the way Calico users know:
// error with field spec.cidr = '10.0.1.0/33' (invalid CIDR).
type FieldError struct {
	Field  string
	Value  any
	Reason string
}

func (e FieldError) Error() string {
	s := "error with field " + e.Field
	if e.Value != nil && fmt.Sprint(e.Value) != "" {
		s += fmt.Sprintf(" = '%v'", e.Value)
	}
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// ValidationError lists every invalid field of one resource.
type ValidationError []FieldError

func (v ValidationError) Error() string {
	if len(v) == 1 {
		return v[0].Error()
	}
	var b strings.Builder
	b.WriteString("error with the following fields:")
	for _, e := range v {
		b.WriteString("\n-  " + strings.TrimPrefix(e.Error(), "error with field "))
	}
	return b.String()
}

// errs collects field errors while a resource is checked.
type errs []FieldError

func (e *errs) add(field string, value any, format string, args ...any) {
	*e = append(*e, FieldError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)})
}

func (e errs) err() error {
	if len(e) == 0 {
		return nil
	}
	return ValidationError(e)
}

var (
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	portNameRE       = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelNameRE      = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$`)
	labelValueRE     = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	protocolNames    = []string{"TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite"}
	logSeverities    = []string{"Debug", "Info", "Warning", "Error", "Fatal"}
)

func (e *errs) name(m *ObjectMeta, re *regexp.Regexp, what string) {
	switch {
	case m.Name == "":
		e.add("metadata.name", nil, "name is required")
	case len(m.Name) > 253:
		e.add("metadata.name", m.Name, "name is longer than 253 characters")
	case !re.MatchString(m.Name):
		e.add("metadata.name", m.Name, "%s", what)
	}
	e.labels("metadata.labels", m.Labels)
}

const subdomainRule = "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
const labelRule = "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"

func (e *errs) clusterScoped(m *ObjectMeta) {
	e.name(m, dns1123Subdomain, subdomainRule)
	if m.Namespace != "" {
		e.add("metadata.namespace", m.Namespace, "namespace should not be specified for a non-namespaced resource")
	}
}

func (e *errs) namespaced(m *ObjectMeta, nameRE *regexp.Regexp, rule string) {
	e.name(m, nameRE, rule)
	if m.Namespace != "" && !dns1123Label.MatchString(m.Namespace) {
		e.add("metadata.namespace", m.Namespace, labelRule)
	}
}

func (e *errs) labels(field string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		prefix, name, hasPrefix := strings.Cut(k, "/")
		if !hasPrefix {
			name, prefix = prefix, ""
		}
		if (hasPrefix && (prefix == "" || len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix))) ||
			len(name) == 0 || len(name) > 63 || !labelNameRE.MatchString(name) {
			e.add(field, k, "invalid label key: an optional DNS subdomain prefix and '/', then 1-63 alphanumeric characters, '-', '_' or '.'")
		}
		if v := labels[k]; len(v) > 63 || !labelValueRE.MatchString(v) {
			e.add(field+"."+k, v, "invalid label value: at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric")
		}
	}
}

func (e *errs) selector(field, s string) {
	if s == "" {
		return
	}
	if err := selector.Validate(s); err != nil {
		e.add(field, s, "%v", err)
	}
}

func (e *errs) oneOf(field, value string, allowed ...string) {
	if value == "" {
		return
	}
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	e.add(field, value, "must be one of %s", strings.Join(allowed, ", "))
}

// cidr checks a CIDR and returns its network, or nil.
func (e *errs) cidr(field, s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		e.add(field, s, "invalid CIDR")
		return nil
	}
	return n
}

func (e *errs) ip(field, s string, wantV6 bool) {
	ip := net.ParseIP(s)
	switch {
	case ip == nil:
		e.add(field, s, "invalid IP address")
	case wantV6 && ip.To4() != nil:
		e.add(field, s, "must be an IPv6 address")
	case !wantV6 && ip.To4() == nil:
		e.add(field, s, "must be an IPv4 address")
	}
}

// ipOrCIDR accepts "10.0.0.1" or "10.0.0.1/24" of the wanted family.
func (e *errs) ipOrCIDR(field, s string, wantV6 bool) {
	if strings.Contains(s, "/") {
		ip, _, err := net.ParseCIDR(s)
		if err != nil {
			e.add(field, s, "invalid IP address or CIDR")
			return
		}
		s = ip.String()
	}
	e.ip(field, s, wantV6)
}

// Validate checks an IPPool: CIDR strictly masked and not link-local, block size range for its family and not
// larger than the pool, encapsulation modes, node selector.
func (p *IPPool) Validate() error {
	var e errs
	e.clusterScoped(&p.ObjectMeta)
	s := p.Spec
	if s.CIDR == "" {
		e.add("spec.cidr", nil, "cidr is required")
		return e.err()
	}
	ip, n, err := net.ParseCIDR(s.CIDR)
	if err != nil {
		e.add("spec.cidr", s.CIDR, "invalid CIDR")
		return e.err()
	}
	v6 := ip.To4() == nil
	ones, _ := n.Mask.Size()
	if !ip.Equal(n.IP) {
		e.add("spec.cidr", s.CIDR, "IPPool CIDR is not strictly masked: use %s", n)
	}
	if linkLocal4.Contains(n.IP) || linkLocal6.Contains(n.IP) || (v6 && ones < 10 && n.Contains(linkLocal6.IP)) || (!v6 && ones < 16 && n.Contains(linkLocal4.IP)) {
		e.add("spec.cidr", s.CIDR, "IPPool CIDR must not overlap the link-local range")
	}
	minBlock, maxBlock := 20, 32
	if v6 {
		minBlock, maxBlock = 116, 128
	}
	if s.BlockSize != 0 {
		if s.BlockSize < minBlock || s.BlockSize > maxBlock {
			e.add("spec.blockSize", s.BlockSize, "block size must be between %d and %d for IPv%d pools", minBlock, maxBlock, map[bool]int{false: 4, true: 6}[v6])
		} else if ones > s.BlockSize && !s.Disabled {
			// A disabled pool hands out no blocks, so Calico lets it be smaller than one.
			e.add("spec.cidr", s.CIDR, "IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size (/%d)", s.BlockSize)
		}
	}
	e.oneOf("spec.ipipMode", s.IPIPMode, EncapAlways, EncapCrossSubnet, EncapNever)
	e.oneOf("spec.vxlanMode", s.VXLANMode, EncapAlways, EncapCrossSubnet, EncapNever)
	if v6 && s.IPIPMode != "" && s.IPIPMode != EncapNever {
		e.add("spec.ipipMode", s.IPIPMode, "IPIP is not supported on an IPv6 pool")
	}
	if s.IPIPMode != "" && s.IPIPMode != EncapNever && s.VXLANMode != "" && s.VXLANMode != EncapNever {
		e.add("spec.vxlanMode", s.VXLANMode, "IPIP and VXLAN cannot both be enabled on one pool")
	}
	e.selector("spec.nodeSelector", s.NodeSelector)
	e.oneOf("spec.assignmentMode", s.AssignmentMode, AssignmentModeAutomatic, AssignmentModeManual)
	e.allowedUses(s)
	return e.err()
}

// allowedUses checks an IPPool's uses as Calico does: each one known, and a LoadBalancer pool used for nothing
// else, without encapsulation, exported over BGP and selecting all nodes.
func (e *errs) allowedUses(s IPPoolSpec) {
	lb := slices.Contains(s.AllowedUses, IPPoolAllowedUseLoadBalancer)
	for i, u := range s.AllowedUses {
		field := fmt.Sprintf("spec.allowedUses[%d]", i)
		switch u {
		case IPPoolAllowedUseLoadBalancer:
		case IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel:
			if lb {
				e.add(field, u, "LoadBalancer cannot be used at the same time as %s", u)
			}
		default:
			e.add(field, u, "unknown use: must be one of %s, %s, %s", IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel, IPPoolAllowedUseLoadBalancer)
		}
	}
	if !lb {
		return
	}
	if s.IPIPMode != "" && s.IPIPMode != EncapNever {
		e.add("spec.ipipMode", s.IPIPMode, "IPIP cannot be enabled on a LoadBalancer pool")
	}
	if s.VXLANMode != "" && s.VXLANMode != EncapNever {
		e.add("spec.vxlanMode", s.VXLANMode, "VXLAN cannot be enabled on a LoadBalancer pool")
	}
	if s.DisableBGPExport {
		e.add("spec.disableBGPExport", s.DisableBGPExport, "a LoadBalancer pool's addresses must be exported over BGP")
	}
	if s.NodeSelector != "" && s.NodeSelector != "all()" {
		e.add("spec.nodeSelector", s.NodeSelector, "a LoadBalancer pool must select all nodes: all()")
	}
}

var (
	_, linkLocal4, _ = net.ParseCIDR("169.254.0.0/16")
	_, linkLocal6, _ = net.ParseCIDR("fe80::/10")
)

// PoolsOverlap returns an error naming both pools if the candidate's CIDR overlaps an existing pool of another name.
func PoolsOverlap(candidate *IPPool, existing []*IPPool) error {
	_, a, err := net.ParseCIDR(candidate.Spec.CIDR)
	if err != nil {
		return nil // reported by Validate
	}
	for _, p := range existing {
		if p.Name == candidate.Name {
			continue
		}
		_, b, err := net.ParseCIDR(p.Spec.CIDR)
		if err != nil {
			continue
		}
		if a.Contains(b.IP) || b.Contains(a.IP) {
			return FieldError{Field: "spec.cidr", Value: candidate.Spec.CIDR,
				Reason: fmt.Sprintf("IPPool(%s) CIDR overlaps with IPPool(%s) CIDR %s", candidate.Name, p.Name, p.Spec.CIDR)}
		}
	}
	return nil
}

// Validate checks a Node's BGP addresses and identity.
func (n *Node) Validate() error {
	var e errs
	e.clusterScoped(&n.ObjectMeta)
	if b := n.Spec.BGP; b != nil {
		if *b == (NodeBGPSpec{}) {
			e.add("spec.bgp", nil, "spec.bgp should not be empty: give at least ipv4Address or ipv6Address, or leave bgp out")
		}
		if b.IPv4Address != "" {
			e.ipOrCIDR("spec.bgp.ipv4Address", b.IPv4Address, false)
		}
		if b.IPv6Address != "" {
			e.ipOrCIDR("spec.bgp.ipv6Address", b.IPv6Address, true)
		}
		if b.IPv4IPIPTunnelAddr != "" {
			e.ip("spec.bgp.ipv4IPIPTunnelAddr", b.IPv4IPIPTunnelAddr, false)
		}
		if b.RouteReflectorClusterID != "" {
			e.ip("spec.bgp.routeReflectorClusterID", b.RouteReflectorClusterID, false)
		}
	}
	if n.Spec.IPv4VXLANTunnelAddr != "" {
		e.ip("spec.ipv4VXLANTunnelAddr", n.Spec.IPv4VXLANTunnelAddr, false)
	}
	if m := n.Spec.VXLANTunnelMACAddr; m != "" {
		if hw, err := net.ParseMAC(m); err != nil || len(hw) != 6 {
			e.add("spec.vxlanTunnelMACAddr", m, "must be a MAC address such as 66:a3:1b:0c:5e:01")
		}
	}
	for i, r := range n.Spec.OrchRefs {
		if r.Orchestrator == "" {
			e.add(fmt.Sprintf("spec.orchRefs[%d].orchestrator", i), nil, "orchestrator is required")
		}
	}
	return e.err()
}

// Validate checks a BGPPeer: who peers (node or nodeSelector) and with whom (peerIP+asNumber or peerSelector).
func (p *BGPPeer) Validate() error {
	var e errs
	e.clusterScoped(&p.ObjectMeta)
	s := p.Spec
	if s.Node != "" && s.NodeSelector != "" {
		e.add("spec.nodeSelector", s.NodeSelector, "node and nodeSelector cannot both be set")
	}
	if s.Node != "" && !dns1123Subdomain.MatchString(s.Node) {
		e.add("spec.node", s.Node, "%s", subdomainRule)
	}
	e.selector("spec.nodeSelector", s.NodeSelector)
	e.selector("spec.peerSelector", s.PeerSelector)
	if pw := s.Password; pw != nil {
		switch ref := pw.SecretKeyRef; {
		case ref == nil:
			e.add("spec.password.secretKeyRef", nil, "is required: the password is read from a Kubernetes Secret in calico-node's namespace")
		default:
			if ref.Name == "" || len(ref.Name) > 253 || !dns1123Subdomain.MatchString(ref.Name) {
				e.add("spec.password.secretKeyRef.name", ref.Name, "must name a Secret: %s", subdomainRule)
			}
			if ref.Key == "" || len(ref.Key) > 253 || !secretKeyRE.MatchString(ref.Key) {
				e.add("spec.password.secretKeyRef.key", ref.Key, "must be a Secret key: letters, digits, '-', '_' and '.'")
			}
		}
	}
	switch {
	case s.PeerIP != "" && s.PeerSelector != "":
		e.add("spec.peerSelector", s.PeerSelector, "peerIP and peerSelector cannot both be set")
	case s.PeerSelector != "" && s.ASNumber != nil:
		e.add("spec.asNumber", *s.ASNumber, "asNumber must be empty with peerSelector: each selected node's own AS is used")
	case s.PeerIP == "" && s.PeerSelector == "":
		e.add("spec.peerIP", nil, "one of peerIP or peerSelector is required")
	case s.PeerIP != "":
		if _, _, ok := SplitPeerIP(s.PeerIP); !ok {
			e.add("spec.peerIP", s.PeerIP, "invalid IP address")
		}
		if s.ASNumber == nil {
			e.add("spec.asNumber", nil, "asNumber is required with peerIP")
		}
	}
	e.bgpPeerOptions(s)
	return e.err()
}

// bgpPeerOptions checks the session options of a BGPPeer, as Calico does, and refuses what stock BIRD 1.6
// cannot render faithfully.
func (e *errs) bgpPeerOptions(s BGPPeerSpec) {
	e.oneOf("spec.sourceAddress", s.SourceAddress, SourceAddressUseNodeIP, SourceAddressNone)
	e.oneOf("spec.nextHopMode", s.NextHopMode, NextHopModeAuto, NextHopModeSelf, NextHopModeKeep)
	e.oneOf("spec.reversePeering", s.ReversePeering, ReversePeeringAuto, ReversePeeringManual)
	if s.KeepOriginalNextHop && s.EffectiveNextHopMode() != NextHopModeAuto {
		e.add("spec.nextHopMode", s.NextHopMode, "keepOriginalNextHop and nextHopMode cannot both be set: use nextHopMode Keep alone")
	}
	if d := s.MaxRestartTime; d != nil && (d.Duration < time.Second || d.Duration > 65535*time.Second || d.Duration%time.Second != 0) {
		e.add("spec.maxRestartTime", d.Duration.String(), "must be whole seconds from 1s to 65535s")
	}
	if n := s.NumAllowedLocalASNumbers; n != nil && *n < 0 {
		e.add("spec.numAllowedLocalASNumbers", *n, "must not be negative")
	}
	if s.ReachableBy != "" {
		gw, err := netip.ParseAddr(s.ReachableBy)
		peer, _, ok := SplitPeerIP(s.PeerIP)
		switch {
		case err != nil || gw.Zone() != "":
			e.add("spec.reachableBy", s.ReachableBy, "invalid IP address")
		case s.PeerIP == "":
			e.add("spec.reachableBy", s.ReachableBy, "reachableBy needs peerIP: it is the gateway to that address")
		case ok && gw.Unmap().Is4() != peer.Is4():
			e.add("spec.reachableBy", s.ReachableBy, "must be of the same IP family as peerIP")
		case ok && gw.Unmap() == peer:
			e.add("spec.reachableBy", s.ReachableBy, "must not be peerIP itself")
		}
	}
	for i, f := range s.Filters {
		if f == "" || len(f) > 253 || !dns1123Subdomain.MatchString(f) {
			e.add(fmt.Sprintf("spec.filters[%d]", i), f, "must be the name of a BGPFilter: %s", subdomainRule)
		}
	}
}

// Validate checks a BGPFilter: every rule's action, its match operator and CIDR (which go together, in the rule's
// family), its prefix length bounds and its source and interface matches.
func (f *BGPFilter) Validate() error {
	var e errs
	e.clusterScoped(&f.ObjectMeta)
	e.filterRules("spec.exportV4", f.Spec.ExportV4, false)
	e.filterRules("spec.importV4", f.Spec.ImportV4, false)
	e.filterRules("spec.exportV6", f.Spec.ExportV6, true)
	e.filterRules("spec.importV6", f.Spec.ImportV6, true)
	return e.err()
}

// isFilterInterface says whether s is what BIRD can quote in a string pattern: an interface name of up to 64
// characters with * and ? wildcards.
func isFilterInterface(s string) bool { return isNameOf(s, 64, "_.*?-") }

func (e *errs) filterRules(field string, rules []BGPFilterRule, v6 bool) {
	bits := int32(32)
	if v6 {
		bits = 128
	}
	for i, r := range rules {
		at := fmt.Sprintf("%s[%d]", field, i)
		if r.Action == "" {
			e.add(at+".action", nil, "action is required: Accept or Reject")
		}
		e.oneOf(at+".action", r.Action, FilterAccept, FilterReject)
		e.oneOf(at+".matchOperator", r.MatchOperator, FilterEqual, FilterNotEqual, FilterIn, FilterNotIn)
		e.oneOf(at+".source", r.Source, FilterSourceRemotePeers)
		switch {
		case r.CIDR != "" && r.MatchOperator == "":
			e.add(at+".matchOperator", nil, "matchOperator is required with cidr")
		case r.CIDR == "" && r.MatchOperator != "":
			e.add(at+".cidr", nil, "cidr is required with matchOperator")
		}
		if r.CIDR != "" {
			p, err := netip.ParsePrefix(r.CIDR)
			switch {
			case err != nil:
				e.add(at+".cidr", r.CIDR, "invalid CIDR")
			case p.Addr().Is4() == v6:
				e.add(at+".cidr", r.CIDR, "must be an IPv%d CIDR in %s", map[bool]int{false: 4, true: 6}[v6], field)
			}
		}
		if pl := r.PrefixLength; pl != nil {
			if r.CIDR == "" {
				e.add(at+".prefixLength", nil, "prefixLength needs cidr")
			} else if r.MatchOperator != FilterIn && r.MatchOperator != FilterNotIn && r.MatchOperator != "" {
				e.add(at+".prefixLength", nil, "prefixLength goes with matchOperator In or NotIn")
			}
			for _, b := range []struct {
				name string
				v    *int32
			}{{"min", pl.Min}, {"max", pl.Max}} {
				if b.v != nil && (*b.v < 0 || *b.v > bits) {
					e.add(at+".prefixLength."+b.name, *b.v, "must be from 0 to %d", bits)
				}
			}
			if pl.Min != nil && pl.Max != nil && *pl.Min > *pl.Max {
				e.add(at+".prefixLength", fmt.Sprintf("%d-%d", *pl.Min, *pl.Max), "min must not be greater than max")
			}
		}
		if r.Interface != "" && !isFilterInterface(r.Interface) {
			e.add(at+".interface", r.Interface, "must be an interface name or a glob of one (letters, digits, '.', '-', '_', '*', '?')")
		}
	}
}

// Validate checks a BGPConfiguration: its name ("default" or "node.<node>"), log severity, listen and bind
// options, ignored interfaces, service address ranges, communities and prefix advertisements, and that a
// per-node configuration sets only what Calico reads per node (log severity, listenPort, communities and
// prefixAdvertisements).
func (c *BGPConfiguration) Validate() error {
	var e errs
	e.clusterScoped(&c.ObjectMeta)
	e.configName(c.Name)
	e.oneOf("spec.logSeverityScreen", c.Spec.LogSeverityScreen, logSeverities...)
	if d := c.Spec.NodeMeshMaxRestartTime; d != nil && (d.Duration < time.Second || d.Duration > 65535*time.Second || d.Duration%time.Second != 0) {
		e.add("spec.nodeMeshMaxRestartTime", d.Duration.String(), "must be whole seconds from 1s to 65535s")
	}
	s := c.Spec
	e.oneOf("spec.bindMode", s.BindMode, BindModeNone, BindModeNodeIP)
	e.oneOf("spec.programClusterRoutes", s.ProgramClusterRoutes, ProgramClusterRoutesEnabled, ProgramClusterRoutesDisabled)
	if s.ProgramClusterRoutes == ProgramClusterRoutesDisabled {
		e.add("spec.programClusterRoutes", s.ProgramClusterRoutes, "Disabled is not supported: felix here programs only the routes of IPIP and VXLAN pools, so BIRD must install those of pools without encapsulation (Enabled)")
	}
	for i, name := range s.IgnoredInterfaces {
		if name == "*" || !isIgnoredInterface(name) {
			e.add(fmt.Sprintf("spec.ignoredInterfaces[%d]", i), name, "must be an interface name or a glob of one, other than '*' (1-15 letters, digits, '.', '-', '_', '*')")
		}
	}
	for _, l := range []struct {
		field  string
		blocks []ServiceIPBlock
	}{{"spec.serviceClusterIPs", s.ServiceClusterIPs}, {"spec.serviceExternalIPs", s.ServiceExternalIPs}, {"spec.serviceLoadBalancerIPs", s.ServiceLoadBalancerIPs}} {
		for i, b := range l.blocks {
			e.network(fmt.Sprintf("%s[%d].cidr", l.field, i), b.CIDR)
		}
	}
	e.communities(s)
	if strings.HasPrefix(c.Name, "node.") {
		e.clusterWideOnly(s)
	}
	return e.err()
}

// secretKeyRE is what Kubernetes allows as a key of a Secret's data.
var secretKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

// isIgnoredInterface says whether s is Calico's pattern for ignoredInterfaces: an interface name with *
// wildcards.
func isIgnoredInterface(s string) bool { return isNameOf(s, 15, "_.*-") }

// isInterfaceName says whether s is a Linux interface name as Calico accepts one: up to 15 letters, digits, '_',
// '.' and '-'.
func isInterfaceName(s string) bool { return isNameOf(s, 15, "_.-") }

// isNameOf says whether s has 1 to maxLen characters, each an ASCII letter or digit or one of extra. (A regular
// expression with a counted repetition compiles into a copy of its class per count, at every process start.)
func isNameOf(s string, maxLen int, extra string) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// network checks a required, strictly masked CIDR or a single address (taken as a /32 or /128).
func (e *errs) network(field, s string) {
	if s == "" {
		e.add(field, nil, "cidr is required")
		return
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		e.add(field, s, "invalid CIDR")
	case p.Masked() != p:
		e.add(field, s, "CIDR is not strictly masked: did you mean %s?", p.Masked())
	}
}

// communities checks the named communities and the prefix advertisements that use them, as Calico does: values
// are aa:nn (16-bit numbers) or aa:nn:mm (32-bit), names are resource names and used by some advertisement, and
// an advertisement's communities are names defined here or literal values.
func (e *errs) communities(s BGPConfigurationSpec) {
	names := map[string]bool{}
	for i, c := range s.Communities {
		at := fmt.Sprintf("spec.communities[%d]", i)
		switch {
		case c.Name == "":
			e.add(at+".name", nil, "name is required")
		case len(c.Name) > 253 || !dns1123Subdomain.MatchString(c.Name):
			e.add(at+".name", c.Name, "%s", subdomainRule)
		case names[c.Name]:
			e.add(at+".name", c.Name, "community %q is defined twice", c.Name)
		}
		names[c.Name] = true
		if _, ok := ParseCommunity(c.Value); !ok {
			e.add(at+".value", c.Value, "%s", communityRule)
		}
	}
	if len(s.Communities) > 0 && len(s.PrefixAdvertisements) == 0 {
		e.add("spec.communities", nil, "communities are defined but not used in spec.prefixAdvertisements")
	}
	for i, pa := range s.PrefixAdvertisements {
		at := fmt.Sprintf("spec.prefixAdvertisements[%d]", i)
		e.network(at+".cidr", pa.CIDR)
		if len(pa.Communities) == 0 {
			e.add(at+".communities", nil, "communities are required: names from spec.communities or aa:nn or aa:nn:mm values")
		}
		for j, c := range pa.Communities {
			if _, ok := s.ResolveCommunity(c); !ok {
				e.add(fmt.Sprintf("%s.communities[%d]", at, j), c, "not a community defined in spec.communities nor %s", communityRule)
			}
		}
	}
}

const communityRule = "a community value aa:nn (standard: 16-bit numbers) or aa:nn:mm (large: 32-bit numbers)"

// clusterWideOnly refuses, in a per-node configuration, the fields that only the cluster-wide one ("default")
// carries: Calico refuses the mesh, AS number and service addresses there, and reads the others only from
// "default", so accepting them per node would silently do nothing.
func (e *errs) clusterWideOnly(s BGPConfigurationSpec) {
	const why = "can only be set in the cluster-wide BGPConfiguration 'default'"
	if s.NodeToNodeMeshEnabled != nil {
		e.add("spec.nodeToNodeMeshEnabled", *s.NodeToNodeMeshEnabled, why)
	}
	if s.ASNumber != nil {
		e.add("spec.asNumber", *s.ASNumber, "%s (set spec.bgp.asNumber on the Node instead)", why)
	}
	if s.NodeMeshMaxRestartTime != nil {
		e.add("spec.nodeMeshMaxRestartTime", s.NodeMeshMaxRestartTime.Duration.String(), why)
	}
	for _, l := range []struct {
		field string
		n     int
	}{{"spec.serviceClusterIPs", len(s.ServiceClusterIPs)}, {"spec.serviceExternalIPs", len(s.ServiceExternalIPs)},
		{"spec.serviceLoadBalancerIPs", len(s.ServiceLoadBalancerIPs)}, {"spec.ignoredInterfaces", len(s.IgnoredInterfaces)}} {
		if l.n > 0 {
			e.add(l.field, nil, why)
		}
	}
	if s.BindMode != "" {
		e.add("spec.bindMode", s.BindMode, why)
	}
	if s.ProgramClusterRoutes != "" {
		e.add("spec.programClusterRoutes", s.ProgramClusterRoutes, why)
	}
}

func (e *errs) configName(name string) {
	if name != "" && name != "default" && !strings.HasPrefix(name, "node.") {
		e.add("metadata.name", name, "must be 'default' (cluster-wide) or 'node.<nodename>' (one node)")
	}
}

// Validate checks a Profile's rules and labels.
func (p *Profile) Validate() error {
	var e errs
	e.clusterScoped(&p.ObjectMeta)
	e.rules("spec.ingress", p.Spec.Ingress)
	e.rules("spec.egress", p.Spec.Egress)
	e.labels("spec.labelsToApply", p.Spec.LabelsToApply)
	return e.err()
}

// KubernetesPolicyPrefix begins the name of every NetworkPolicy translated from a Kubernetes NetworkPolicy
// ("knp.default.<kubernetes name>", as Calico names them); the rest is the Kubernetes name, a DNS subdomain.
const KubernetesPolicyPrefix = "knp.default."

// Validate checks a NetworkPolicy: name (against its tier, see policyName), selector, types and rules. Names are
// DNS labels, except those of policies translated from Kubernetes, whose Kubernetes part may hold dots.
func (p *NetworkPolicy) Validate() error {
	var e errs
	if k8sName, ok := strings.CutPrefix(p.Name, KubernetesPolicyPrefix); ok {
		meta := p.ObjectMeta
		meta.Name = k8sName
		e.namespaced(&meta, dns1123Subdomain, "a NetworkPolicy named "+KubernetesPolicyPrefix+"<name> needs a Kubernetes name after the prefix: "+subdomainRule)
		if TierOf(p.Spec.Tier) != DefaultTierName {
			e.add("spec.tier", p.Spec.Tier, "a policy translated from Kubernetes is in the default tier")
		}
	} else {
		e.policyName(&p.ObjectMeta, p.Spec.Tier, dns1123Label.MatchString, labelRule)
		if p.Namespace != "" && !dns1123Label.MatchString(p.Namespace) {
			e.add("metadata.namespace", p.Namespace, labelRule)
		}
	}
	e.policy(p.Spec.Selector, p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
	return e.err()
}

// Validate checks a GlobalNetworkPolicy: name, selector, types, rules and the doNotTrack/preDNAT combinations.
func (p *GlobalNetworkPolicy) Validate() error {
	var e errs
	e.policyName(&p.ObjectMeta, p.Spec.Tier, dns1123Label.MatchString, labelRule)
	if p.Namespace != "" {
		e.add("metadata.namespace", p.Namespace, "namespace should not be specified for a non-namespaced resource")
	}
	s := p.Spec
	e.policy(s.Selector, s.Types, s.Ingress, s.Egress)
	if s.DoNotTrack && s.PreDNAT {
		e.add("spec.preDNAT", true, "preDNAT and doNotTrack cannot both be true")
	}
	if (s.DoNotTrack || s.PreDNAT) && !s.ApplyOnForward {
		e.add("spec.applyOnForward", false, "applyOnForward must be true when doNotTrack or preDNAT is set")
	}
	if s.PreDNAT && len(s.Egress) > 0 {
		e.add("spec.egress", nil, "preDNAT policy cannot have egress rules")
	}
	if s.PreDNAT && slices.Contains(s.Types, PolicyTypeEgress) {
		e.add("spec.types", fmt.Sprint(s.Types), "preDNAT policy cannot have 'Egress' type")
	}
	return e.err()
}

func (e *errs) policy(sel string, types []PolicyType, ingress, egress []Rule) {
	e.selector("spec.selector", sel)
	seen := map[PolicyType]bool{}
	for i, t := range types {
		field := fmt.Sprintf("spec.types[%d]", i)
		switch {
		case t != PolicyTypeIngress && t != PolicyTypeEgress:
			e.add(field, t, "must be Ingress or Egress")
		case seen[t]:
			e.add(field, t, "'%s' type specified more than once", t)
		}
		seen[t] = true
	}
	if len(types) > 0 && len(ingress) > 0 && !seen[PolicyTypeIngress] {
		e.add("spec.types", fmt.Sprint(types), "ingress rules are present but types does not include Ingress")
	}
	if len(types) > 0 && len(egress) > 0 && !seen[PolicyTypeEgress] {
		e.add("spec.types", fmt.Sprint(types), "egress rules are present but types does not include Egress")
	}
	e.rules("spec.ingress", ingress)
	e.rules("spec.egress", egress)
}

func (e *errs) rules(field string, rules []Rule) {
	for i, r := range rules {
		e.rule(fmt.Sprintf("%s[%d]", field, i), r)
	}
}

func (e *errs) rule(field string, r Rule) {
	switch r.Action {
	case "":
		e.add(field+".action", nil, "action is required: Allow, Deny, Log or Pass")
	default:
		e.oneOf(field+".action", r.Action, ActionAllow, ActionDeny, ActionLog, ActionPass)
	}
	if r.IPVersion != nil && *r.IPVersion != 4 && *r.IPVersion != 6 {
		e.add(field+".ipVersion", *r.IPVersion, "must be 4 or 6")
	}
	for _, p := range []struct {
		name string
		p    *Protocol
	}{{"protocol", r.Protocol}, {"notProtocol", r.NotProtocol}} {
		switch {
		case p.p == nil:
		case p.p.Name != "":
			e.oneOf(field+"."+p.name, p.p.Name, protocolNames...)
		case p.p.Number == 0:
			e.add(field+"."+p.name, "0", "protocol number must be between 1 and 255")
		}
	}
	for _, ic := range []struct {
		name string
		f    *ICMPFields
	}{{"icmp", r.ICMP}, {"notICMP", r.NotICMP}} {
		if ic.f == nil {
			continue
		}
		f := field + "." + ic.name
		if r.Protocol == nil || (r.Protocol.Num() != 1 && r.Protocol.Num() != 58) {
			e.add(f, nil, "icmp matches need protocol ICMP or ICMPv6")
		} else if r.IPVersion != nil && (r.Protocol.Num() == 1) != (*r.IPVersion == 4) {
			e.add(f, nil, "protocol %s does not match ipVersion %d", r.Protocol, *r.IPVersion)
		}
		if ic.f.Type != nil && (*ic.f.Type < 0 || *ic.f.Type > 254) {
			e.add(f+".type", *ic.f.Type, "ICMP type must be between 0 and 254")
		}
		if ic.f.Code != nil {
			if ic.f.Type == nil {
				e.add(f+".code", *ic.f.Code, "ICMP code needs an ICMP type")
			} else if *ic.f.Code < 0 || *ic.f.Code > 255 {
				e.add(f+".code", *ic.f.Code, "ICMP code must be between 0 and 255")
			}
		}
	}
	e.entity(field+".source", r.Source, r)
	e.entity(field+".destination", r.Destination, r)
	if netFamilies(r.Source, r.Destination) == 3 {
		e.add(field, nil, "rule contains both IPv4 and IPv6 CIDRs")
	}
}

// netFamilies returns a bit set of the IP families of every valid CIDR the entities match on: 1 for IPv4, 2 for IPv6.
func netFamilies(entities ...EntityRule) int {
	fams := 0
	for _, en := range entities {
		for _, c := range slices.Concat(en.Nets, en.NotNets) {
			if _, n, err := net.ParseCIDR(c); err == nil {
				if n.IP.To4() != nil {
					fams |= 1
				} else {
					fams |= 2
				}
			}
		}
	}
	return fams
}

func (e *errs) entity(field string, en EntityRule, r Rule) {
	for _, set := range []struct {
		name string
		nets []string
	}{{"nets", en.Nets}, {"notNets", en.NotNets}} {
		for i, c := range set.nets {
			f := fmt.Sprintf("%s.%s[%d]", field, set.name, i)
			n := e.cidr(f, c)
			if n != nil && r.IPVersion != nil && (n.IP.To4() != nil) != (*r.IPVersion == 4) {
				e.add(f, c, "CIDR family does not match ipVersion %d", *r.IPVersion)
			}
		}
	}
	e.selector(field+".selector", en.Selector)
	e.selector(field+".notSelector", en.NotSelector)
	e.selector(field+".namespaceSelector", en.NamespaceSelector)
	if len(en.Ports) > 0 || len(en.NotPorts) > 0 {
		if r.Protocol == nil || !r.Protocol.SupportsPorts() {
			f := field + ".ports"
			if len(en.Ports) == 0 {
				f = field + ".notPorts"
			}
			e.add(f, nil, "rules that specify ports must set protocol to TCP, UDP or SCTP")
		}
	}
	// Decoding already rejects bad ports; this catches resources built in code.
	for _, set := range []struct {
		name  string
		ports []Port
	}{{"ports", en.Ports}, {"notPorts", en.NotPorts}} {
		for i, p := range set.ports {
			f := fmt.Sprintf("%s.%s[%d]", field, set.name, i)
			switch {
			case p.PortName != "":
				if !portNameRE.MatchString(p.PortName) {
					e.add(f, p.PortName, "%s", labelRule)
				}
			case p.MinPort == 0:
				e.add(f, p.String(), "port range invalid, port number must be between 1 and 65535")
			case p.MinPort > p.MaxPort:
				e.add(f, p.String(), "port range invalid, the minimum port must not exceed the maximum")
			}
		}
	}
}

// Validate checks a WorkloadEndpoint: node, interface name, addresses, MAC, profiles.
func (w *WorkloadEndpoint) Validate() error {
	var e errs
	e.namespaced(&w.ObjectMeta, dns1123Subdomain, subdomainRule)
	s := w.Spec
	if s.Node == "" {
		e.add("spec.node", nil, "node is required")
	}
	if s.InterfaceName != "" && !isInterfaceName(s.InterfaceName) {
		e.add("spec.interfaceName", s.InterfaceName, "interface names are 1-15 characters of letters, digits, '_', '.' and '-'")
	}
	for i, c := range s.IPNetworks {
		f := fmt.Sprintf("spec.ipNetworks[%d]", i)
		if n := e.cidr(f, c); n != nil {
			if ones, bits := n.Mask.Size(); ones != bits {
				e.add(f, c, "workload addresses must be a single address (/32 or /128)")
			}
		}
	}
	for i, nat := range s.IPNATs {
		e.ipOrCIDR(fmt.Sprintf("spec.ipNATs[%d].internalIP", i), nat.InternalIP, strings.Contains(nat.InternalIP, ":"))
		e.ipOrCIDR(fmt.Sprintf("spec.ipNATs[%d].externalIP", i), nat.ExternalIP, strings.Contains(nat.ExternalIP, ":"))
	}
	if s.IPv4Gateway != "" {
		e.ip("spec.ipv4Gateway", s.IPv4Gateway, false)
	}
	if s.IPv6Gateway != "" {
		e.ip("spec.ipv6Gateway", s.IPv6Gateway, true)
	}
	if s.MAC != "" {
		if _, err := net.ParseMAC(s.MAC); err != nil {
			e.add("spec.mac", s.MAC, "invalid MAC address")
		}
	}
	e.profiles(s.Profiles)
	e.ports(s.Ports)
	return e.err()
}

func (e *errs) profiles(names []string) {
	for i, p := range names {
		if !dns1123Subdomain.MatchString(p) {
			e.add(fmt.Sprintf("spec.profiles[%d]", i), p, "%s", subdomainRule)
		}
	}
}

func (e *errs) ports(ports []EndpointPort) {
	for i, p := range ports {
		f := fmt.Sprintf("spec.ports[%d]", i)
		if !portNameRE.MatchString(p.Name) {
			e.add(f+".name", p.Name, "%s", labelRule)
		}
		if !p.Protocol.SupportsPorts() {
			e.add(f+".protocol", p.Protocol.String(), "named ports need protocol TCP, UDP or SCTP")
		}
		if p.Port == 0 {
			e.add(f+".port", p.Port, "port number must be between 1 and 65535")
		}
	}
}

// Validate checks a HostEndpoint: node, and an interface name or expected IPs.
func (h *HostEndpoint) Validate() error {
	var e errs
	e.clusterScoped(&h.ObjectMeta)
	s := h.Spec
	if s.Node == "" {
		e.add("spec.node", nil, "node is required")
	}
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		e.add("spec.interfaceName", nil, "a host endpoint needs interfaceName or expectedIPs")
	}
	if s.InterfaceName != "" && s.InterfaceName != "*" && !isInterfaceName(s.InterfaceName) {
		e.add("spec.interfaceName", s.InterfaceName, "interface names are 1-15 characters of letters, digits, '_', '.' and '-'")
	}
	for i, ip := range s.ExpectedIPs {
		if net.ParseIP(ip) == nil {
			e.add(fmt.Sprintf("spec.expectedIPs[%d]", i), ip, "invalid IP address")
		}
	}
	e.profiles(s.Profiles)
	e.ports(s.Ports)
	return e.err()
}

// Validate checks a GlobalNetworkSet's CIDRs.
func (g *GlobalNetworkSet) Validate() error {
	var e errs
	e.clusterScoped(&g.ObjectMeta)
	for i, c := range g.Spec.Nets {
		e.cidr(fmt.Sprintf("spec.nets[%d]", i), c)
	}
	return e.err()
}

// Validate checks that a ClusterInformation is named "default".
func (c *ClusterInformation) Validate() error {
	var e errs
	e.clusterScoped(&c.ObjectMeta)
	if c.Name != "" && c.Name != "default" {
		e.add("metadata.name", c.Name, "the only ClusterInformation is named 'default'")
	}
	return e.err()
}

// Validate checks a FelixConfiguration's name and enumerations and ranges.
func (f *FelixConfiguration) Validate() error {
	var e errs
	e.clusterScoped(&f.ObjectMeta)
	e.configName(f.Name)
	s := f.Spec
	e.oneOf("spec.defaultEndpointToHostAction", s.DefaultEndpointToHostAction, "Drop", "Accept", "Return")
	e.oneOf("spec.iptablesFilterAllowAction", s.IptablesFilterAllowAction, "Accept", "Return")
	e.oneOf("spec.chainInsertMode", s.ChainInsertMode, "Insert", "Append")
	e.oneOf("spec.iptablesBackend", s.IptablesBackend, "Auto", "NFT", "Legacy")
	e.oneOf("spec.logSeverityScreen", s.LogSeverityScreen, logSeverities...)
	if s.IPIPMTU != nil && *s.IPIPMTU != 0 && (*s.IPIPMTU < 576 || *s.IPIPMTU > 65535) {
		e.add("spec.ipipMTU", *s.IPIPMTU, "MTU must be 0 (from the host interface) or between 576 and 65535")
	}
	if s.VXLANMTU != nil && *s.VXLANMTU != 0 && (*s.VXLANMTU < 576 || *s.VXLANMTU > 65535) {
		e.add("spec.vxlanMTU", *s.VXLANMTU, "MTU must be 0 (from the host interface) or between 576 and 65535")
	}
	if s.VXLANVNI != nil && (*s.VXLANVNI < 1 || *s.VXLANVNI > 1<<24-1) {
		e.add("spec.vxlanVNI", *s.VXLANVNI, "VNI must be between 1 and 16777215")
	}
	if s.VXLANPort != nil && (*s.VXLANPort < 1 || *s.VXLANPort > 65535) {
		e.add("spec.vxlanPort", *s.VXLANPort, "port number must be between 1 and 65535")
	}
	if s.HealthPort != nil && (*s.HealthPort < 1 || *s.HealthPort > 65535) {
		e.add("spec.healthPort", *s.HealthPort, "port number must be between 1 and 65535")
	}
	if s.PrometheusMetricsPort != nil && (*s.PrometheusMetricsPort < 1 || *s.PrometheusMetricsPort > 65535) {
		e.add("spec.prometheusMetricsPort", *s.PrometheusMetricsPort, "port number must be between 1 and 65535")
	}
	e.protoPorts("spec.failsafeInboundHostPorts", s.FailsafeInboundHostPorts)
	e.protoPorts("spec.failsafeOutboundHostPorts", s.FailsafeOutboundHostPorts)
	if s.InterfacePrefix != "" && !interfacePrefixRE.MatchString(s.InterfacePrefix) {
		e.add("spec.interfacePrefix", s.InterfacePrefix, "comma-separated interface name prefixes")
	}
	return e.err()
}

var interfacePrefixRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+(,[a-zA-Z0-9_.-]+)*$`)

func (e *errs) protoPorts(field string, list *[]ProtoPort) {
	if list == nil {
		return
	}
	for i, pp := range *list {
		e.oneOf(fmt.Sprintf("%s[%d].protocol", field, i), pp.Protocol, "TCP", "UDP", "SCTP")
		if pp.Port == 0 {
			e.add(fmt.Sprintf("%s[%d].port", field, i), pp.Port, "port number must be between 1 and 65535")
		}
	}
}
