package api

import "net"

// Labels felix and selectors rely on, added to every WorkloadEndpoint.
const (
	LabelNamespace    = "projectcalico.org/namespace"
	LabelOrchestrator = "projectcalico.org/orchestrator"
	DefaultNamespace  = "default"
)

// Default fills blockSize (26 for IPv4, 122 for IPv6), ipipMode and vxlanMode (Never) and nodeSelector (all()).
func (p *IPPool) Default() {
	if p.Spec.BlockSize == 0 {
		if ip, _, err := net.ParseCIDR(p.Spec.CIDR); err == nil && ip.To4() == nil {
			p.Spec.BlockSize = 122
		} else {
			p.Spec.BlockSize = 26
		}
	}
	if p.Spec.IPIPMode == "" {
		p.Spec.IPIPMode = EncapNever
	}
	if p.Spec.VXLANMode == "" {
		p.Spec.VXLANMode = EncapNever
	}
	if p.Spec.NodeSelector == "" {
		p.Spec.NodeSelector = "all()"
	}
}

// IsIPv6 says whether the pool is an IPv6 pool.
func (p *IPPool) IsIPv6() bool {
	ip, _, err := net.ParseCIDR(p.Spec.CIDR)
	return err == nil && ip.To4() == nil
}

// Default fills the namespace and the types from the rules present: Ingress unless there are only egress rules,
// Egress when there are egress rules.
func (p *NetworkPolicy) Default() {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	p.Spec.Types = defaultTypes(p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
}

// Default fills the types from the rules present.
func (p *GlobalNetworkPolicy) Default() {
	p.Spec.Types = defaultTypes(p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
}

func defaultTypes(types []PolicyType, ingress, egress []Rule) []PolicyType {
	if len(types) > 0 {
		return types
	}
	switch {
	case len(ingress) > 0 && len(egress) > 0:
		return []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
	case len(egress) > 0:
		return []PolicyType{PolicyTypeEgress}
	default:
		return []PolicyType{PolicyTypeIngress}
	}
}

// Default fills the namespace and adds the namespace and orchestrator labels that selectors match on.
func (w *WorkloadEndpoint) Default() {
	if w.Namespace == "" {
		w.Namespace = DefaultNamespace
	}
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[LabelNamespace] = w.Namespace
	if w.Spec.Orchestrator != "" {
		w.Labels[LabelOrchestrator] = w.Spec.Orchestrator
	}
}

// Default does nothing: the kinds below have no write-time defaults (their readers apply them).
func (*Node) Default()               {}
func (*BGPPeer) Default()            {}
func (*BGPFilter) Default()          {}
func (*BGPConfiguration) Default()   {}
func (*Profile) Default()            {}
func (*GlobalNetworkSet) Default()   {}
func (*HostEndpoint) Default()       {}
func (*ClusterInformation) Default() {}
func (*FelixConfiguration) Default() {}
