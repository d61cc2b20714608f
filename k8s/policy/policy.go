// Package policy translates Kubernetes NetworkPolicy into Calico NetworkPolicy, as calico-kube-controllers writes
// it. It is pure: no API calls.
package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/k8s/conversion"
)

// NamePrefix is the prefix of the Calico name of a Kubernetes NetworkPolicy.
const NamePrefix = api.KubernetesPolicyPrefix

// Order is the order Calico gives every Kubernetes NetworkPolicy.
const Order = 1000.0

// orchestratorTerm limits a selector to Kubernetes pods.
var orchestratorTerm = fmt.Sprintf("%s == '%s'", conversion.LabelOrchestrator, conversion.Orchestrator)

// Translate is the Calico NetworkPolicy that enforces np: named knp.default.<name> in np's namespace, order 1000,
// with one Allow rule per peer and port of each Kubernetes rule. A direction in its types without rules allows
// nothing, so felix drops that traffic unless another policy allows it.
//
// A peer's podSelector becomes the rule's selector. Felix limits a selector in a namespaced policy to the
// policy's own namespace unless the rule also has a namespaceSelector, as Calico does, so the selector is not
// scoped here. A namespaceSelector is written as Calico writes it, over the namespace's own label keys; "{}" is
// all().
func Translate(np *networkingv1.NetworkPolicy) (*api.NetworkPolicy, error) {
	if np == nil {
		return nil, fmt.Errorf("translating NetworkPolicy: policy is nil")
	}
	sel, err := selector("spec.podSelector", &np.Spec.PodSelector, true)
	if err != nil {
		return nil, err
	}
	ingress, egress, err := policyTypes(np.Spec)
	if err != nil {
		return nil, err
	}
	order := Order
	p := &api.NetworkPolicy{
		TypeMeta:   api.TypeMeta{Kind: "NetworkPolicy", APIVersion: "projectcalico.org/v3"},
		ObjectMeta: api.ObjectMeta{Name: NamePrefix + np.Name, Namespace: np.Namespace},
		Spec:       api.NetworkPolicySpec{Order: &order, Selector: sel},
	}
	if ingress {
		p.Spec.Types = append(p.Spec.Types, api.PolicyTypeIngress)
		for i, r := range np.Spec.Ingress {
			rules, err := translateRule(fmt.Sprintf("spec.ingress[%d]", i), "from", r.From, r.Ports, false)
			if err != nil {
				return nil, err
			}
			p.Spec.Ingress = append(p.Spec.Ingress, rules...)
		}
	}
	if egress {
		p.Spec.Types = append(p.Spec.Types, api.PolicyTypeEgress)
		for i, r := range np.Spec.Egress {
			rules, err := translateRule(fmt.Sprintf("spec.egress[%d]", i), "to", r.To, r.Ports, true)
			if err != nil {
				return nil, err
			}
			p.Spec.Egress = append(p.Spec.Egress, rules...)
		}
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("translating NetworkPolicy %s/%s: %w", np.Namespace, np.Name, err)
	}
	return p, nil
}

// policyTypes says which directions np covers: its policyTypes, or when absent Kubernetes' default of Ingress,
// plus Egress when it has egress rules.
func policyTypes(spec networkingv1.NetworkPolicySpec) (ingress, egress bool, err error) {
	if len(spec.PolicyTypes) == 0 {
		return true, len(spec.Egress) > 0, nil
	}
	for i, t := range spec.PolicyTypes {
		switch t {
		case networkingv1.PolicyTypeIngress:
			ingress = true
		case networkingv1.PolicyTypeEgress:
			egress = true
		default:
			return false, false, fmt.Errorf("spec.policyTypes[%d]: %q is not Ingress or Egress", i, t)
		}
	}
	return ingress, egress, nil
}

// translateRule is the Calico rules of one Kubernetes rule: one per peer (none: from or to anywhere) and port
// (none: any protocol and port). The peer goes on the source for ingress and the destination for egress; the
// ports always go on the destination.
func translateRule(field, peersName string, peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort, egress bool) ([]api.Rule, error) {
	peerRules := []api.EntityRule{{}}
	if len(peers) > 0 {
		peerRules = peerRules[:0]
		for i := range peers {
			e, err := peer(fmt.Sprintf("%s.%s[%d]", field, peersName, i), &peers[i])
			if err != nil {
				return nil, err
			}
			peerRules = append(peerRules, e)
		}
	}
	type protoPort struct {
		proto *api.Protocol
		ports []api.Port
	}
	portRules := []protoPort{{}}
	if len(ports) > 0 {
		portRules = portRules[:0]
		for i := range ports {
			proto, p, err := port(fmt.Sprintf("%s.ports[%d]", field, i), &ports[i])
			if err != nil {
				return nil, err
			}
			portRules = append(portRules, protoPort{proto, p})
		}
	}
	var out []api.Rule
	for _, e := range peerRules {
		for _, pp := range portRules {
			r := api.Rule{Action: api.ActionAllow, Protocol: pp.proto}
			if egress {
				r.Destination = e
			} else {
				r.Source = e
			}
			r.Destination.Ports = pp.ports
			out = append(out, r)
		}
	}
	return out, nil
}

// peer is the EntityRule of one peer: its ipBlock, or its pod selector (Kubernetes pods only) with its namespace
// selector.
func peer(field string, p *networkingv1.NetworkPolicyPeer) (api.EntityRule, error) {
	if p.IPBlock != nil {
		if p.PodSelector != nil || p.NamespaceSelector != nil {
			return api.EntityRule{}, fmt.Errorf("%s: ipBlock cannot be combined with podSelector or namespaceSelector", field)
		}
		return ipBlock(field+".ipBlock", p.IPBlock)
	}
	if p.PodSelector == nil && p.NamespaceSelector == nil {
		return api.EntityRule{}, fmt.Errorf("%s: must have a podSelector, a namespaceSelector or an ipBlock", field)
	}
	var e api.EntityRule
	var err error
	if e.Selector, err = selector(field+".podSelector", p.PodSelector, true); err != nil {
		return e, err
	}
	if p.NamespaceSelector != nil {
		if e.NamespaceSelector, err = selector(field+".namespaceSelector", p.NamespaceSelector, false); err != nil {
			return e, err
		}
		if e.NamespaceSelector == "" {
			e.NamespaceSelector = "all()"
		}
	}
	return e, nil
}

// ipBlock is nets [cidr] and notNets except, each as its network address.
func ipBlock(field string, b *networkingv1.IPBlock) (api.EntityRule, error) {
	cidr, err := netip.ParsePrefix(b.CIDR)
	if err != nil {
		return api.EntityRule{}, fmt.Errorf("%s.cidr: %q is not a CIDR", field, b.CIDR)
	}
	cidr = cidr.Masked()
	e := api.EntityRule{Nets: []string{cidr.String()}}
	for i, s := range b.Except {
		ex, err := netip.ParsePrefix(s)
		if err != nil {
			return api.EntityRule{}, fmt.Errorf("%s.except[%d]: %q is not a CIDR", field, i, s)
		}
		ex = ex.Masked()
		if ex.Addr().Is4() != cidr.Addr().Is4() || ex.Bits() < cidr.Bits() || !cidr.Contains(ex.Addr()) {
			return api.EntityRule{}, fmt.Errorf("%s.except[%d]: %q is not within cidr %q", field, i, s, b.CIDR)
		}
		e.NotNets = append(e.NotNets, ex.String())
	}
	return e, nil
}

// port is the protocol (TCP when not given) and destination ports (none: any port) of one NetworkPolicyPort.
func port(field string, p *networkingv1.NetworkPolicyPort) (*api.Protocol, []api.Port, error) {
	name := "TCP"
	if p.Protocol != nil {
		name = string(*p.Protocol)
	}
	if !slices.Contains([]string{"TCP", "UDP", "SCTP"}, name) {
		return nil, nil, fmt.Errorf("%s.protocol: %q is not TCP, UDP or SCTP", field, name)
	}
	proto := api.ProtocolFromString(name)
	if p.Port == nil {
		if p.EndPort != nil {
			return nil, nil, fmt.Errorf("%s.endPort: needs a numeric port", field)
		}
		return &proto, nil, nil
	}
	if p.Port.Type == intstr.String {
		if msgs := validation.IsValidPortName(p.Port.StrVal); len(msgs) > 0 {
			return nil, nil, fmt.Errorf("%s.port: %q is not a port name: %s", field, p.Port.StrVal, strings.Join(msgs, "; "))
		}
		if p.EndPort != nil {
			return nil, nil, fmt.Errorf("%s.endPort: cannot be used with the named port %q", field, p.Port.StrVal)
		}
		return &proto, []api.Port{{PortName: p.Port.StrVal}}, nil
	}
	lo := p.Port.IntVal
	if lo < 1 || lo > 65535 {
		return nil, nil, fmt.Errorf("%s.port: %d is not between 1 and 65535", field, lo)
	}
	hi := lo
	if p.EndPort != nil {
		hi = *p.EndPort
		if hi < lo || hi > 65535 {
			return nil, nil, fmt.Errorf("%s.endPort: %d is not between port %d and 65535", field, hi, lo)
		}
	}
	return &proto, []api.Port{{MinPort: uint16(lo), MaxPort: uint16(hi)}}, nil
}

// selector is a Kubernetes label selector in Calico's selector language, as Calico writes it: for pods the
// orchestrator term first, then matchLabels sorted by key, then matchExpressions in order, joined by " && ".
// A nil or empty selector is "" (for pods, the orchestrator term alone).
func selector(field string, s *metav1.LabelSelector, pods bool) (string, error) {
	var terms []string
	if pods {
		terms = append(terms, orchestratorTerm)
	}
	if s == nil {
		return strings.Join(terms, " && "), nil
	}
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := fmt.Sprintf("%s.matchLabels[%q]", field, k)
		if err := labelKey(f, k); err != nil {
			return "", err
		}
		if err := labelValue(f, s.MatchLabels[k]); err != nil {
			return "", err
		}
		terms = append(terms, fmt.Sprintf("%s == '%s'", k, s.MatchLabels[k]))
	}
	for i, e := range s.MatchExpressions {
		f := fmt.Sprintf("%s.matchExpressions[%d]", field, i)
		if err := labelKey(f+".key", e.Key); err != nil {
			return "", err
		}
		for j, v := range e.Values {
			if err := labelValue(fmt.Sprintf("%s.values[%d]", f, j), v); err != nil {
				return "", err
			}
		}
		switch e.Operator {
		case metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn:
			if len(e.Values) == 0 {
				return "", fmt.Errorf("%s.values: operator %s needs at least one value", f, e.Operator)
			}
			op := "in"
			if e.Operator == metav1.LabelSelectorOpNotIn {
				op = "not in"
			}
			terms = append(terms, fmt.Sprintf("%s %s { '%s' }", e.Key, op, strings.Join(e.Values, "', '")))
		case metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist:
			if len(e.Values) > 0 {
				return "", fmt.Errorf("%s.values: operator %s takes no values", f, e.Operator)
			}
			t := fmt.Sprintf("has(%s)", e.Key)
			if e.Operator == metav1.LabelSelectorOpDoesNotExist {
				t = "! " + t
			}
			terms = append(terms, t)
		default:
			return "", fmt.Errorf("%s.operator: %q is not In, NotIn, Exists or DoesNotExist", f, e.Operator)
		}
	}
	return strings.Join(terms, " && "), nil
}

// labelKey and labelValue refuse what Kubernetes would not store, which also keeps quotes out of selectors.
func labelKey(field, k string) error {
	if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
		return fmt.Errorf("%s: %q is not a label key: %s", field, k, strings.Join(msgs, "; "))
	}
	return nil
}

func labelValue(field, v string) error {
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		return fmt.Errorf("%s: %q is not a label value: %s", field, v, strings.Join(msgs, "; "))
	}
	return nil
}
