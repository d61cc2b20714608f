package api

import (
	"net"
	"slices"
)

// Labels felix and selectors rely on, added to every WorkloadEndpoint.
const (
	LabelNamespace    = "projectcalico.org/namespace"
	LabelOrchestrator = "projectcalico.org/orchestrator"
	DefaultNamespace  = "default"
)

// Default fills blockSize (26 for IPv4, 122 for IPv6), ipipMode and vxlanMode (Never), nodeSelector (all()),
// allowedUses ([Workload, Tunnel]) and assignmentMode (Automatic), as Calico does.
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
	if len(p.Spec.AllowedUses) == 0 {
		p.Spec.AllowedUses = []string{IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel}
	}
	if p.Spec.AssignmentMode == "" {
		p.Spec.AssignmentMode = AssignmentModeAutomatic
	}
}

// Allows says whether the pool may be used for use (one of the IPPoolAllowedUse values); a pool with no
// allowedUses allows Workload and Tunnel, as Calico reads it.
func (p *IPPool) Allows(use string) bool {
	uses := p.Spec.AllowedUses
	if len(uses) == 0 {
		uses = []string{IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel}
	}
	return slices.Contains(uses, use)
}

// IsManual says whether the pool is used only when asked for (assignmentMode Manual).
func (p *IPPool) IsManual() bool { return p.Spec.AssignmentMode == AssignmentModeManual }

// IsIPv6 says whether the pool is an IPv6 pool.
func (p *IPPool) IsIPv6() bool {
	ip, _, err := net.ParseCIDR(p.Spec.CIDR)
	return err == nil && ip.To4() == nil
}

// Default fills the namespace, the tier ("default") and the types from the rules present: Ingress unless there
// are only egress rules, Egress when there are egress rules.
func (p *NetworkPolicy) Default() {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	p.Spec.Tier = TierOf(p.Spec.Tier)
	p.Spec.Types = defaultTypes(p.Spec.Types, p.Spec.Ingress, p.Spec.Egress)
}

// Default fills the tier ("default") and the types from the rules present.
func (p *GlobalNetworkPolicy) Default() {
	p.Spec.Tier = TierOf(p.Spec.Tier)
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
