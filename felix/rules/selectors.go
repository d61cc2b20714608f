package rules

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/selector"
)

// LabelNamespaceName is the label a namespace carries with its own name; outside Kubernetes it is the only one.
const LabelNamespaceName = "projectcalico.org/name"

// NamespaceLabelPrefix marks the labels an endpoint inherits from its namespace: profile kns.<ns> applies each
// namespace label k=v as pcns.k=v (as in Calico), and a namespaceSelector is evaluated against them.
const NamespaceLabelPrefix = "pcns."

// maxIPSetName is the longest name ipset accepts.
const maxIPSetName = 31

// SelectorSet is the group of endpoints (and GlobalNetworkSets) a rule's selector picks. Felix keeps one ipset of
// their addresses per SelectorSet, named Name. With a NamedPort it is a named-port set instead: it holds, for
// every endpoint the selectors pick that has a port of that name and protocol, the endpoint's addresses with
// that port.
type SelectorSet struct {
	Name     string            // the ipset name, e.g. "cali40s:5y5I3VdRZfDU01O--xXAPx2" (IPv6: "cali60s:…")
	Selector selector.Selector // over the member's labels (own, profiles', namespace)
	// NamespaceSelector, when set, also requires the member's namespace to match it; the namespace's labels are
	// NamespaceLabels(ns, member labels). Members without a namespace (GlobalNetworkSets) then never match.
	NamespaceSelector selector.Selector
	// NamedPort is the port of a named-port set ("n:<hash>" sets); the zero value for a selector set.
	NamedPort NamedPort
}

// NamedPort is a port name of endpoints (api.EndpointPort.Name) together with the protocol a rule matches it with.
type NamedPort struct {
	Name     string
	Protocol uint8 // IP protocol number: TCP, UDP or SCTP
}

// IPSetType is the type of the set's ipset: hash:net, or hash:ip,port for a named-port set.
func (s SelectorSet) IPSetType() desired.IPSetType {
	if s.NamedPort.Name != "" {
		return desired.HashIPPort
	}
	return desired.HashNet
}

// Member writes an address with a port as a member of the named-port set p: "10.0.0.1,tcp:8080".
func (p NamedPort) Member(addr netip.Addr, port uint16) string {
	return addr.String() + "," + protocolNames[p.Protocol] + ":" + strconv.Itoa(int(port))
}

// Contains says whether a member with these labels, in this namespace ("" for none), belongs to the set.
func (s SelectorSet) Contains(labels map[string]string, namespace string) bool {
	if s.NamespaceSelector != nil && (namespace == "" || !s.NamespaceSelector.Evaluate(NamespaceLabels(namespace, labels))) {
		return false
	}
	return s.Selector.Evaluate(labels)
}

// NamespaceLabels are the labels a namespaceSelector is evaluated against for a member in namespace: the
// namespace labels the member inherited (its pcns.-prefixed labels, without the prefix) and the namespace's name,
// which always wins. Outside Kubernetes, where no profile applies pcns. labels, only the name is there.
func NamespaceLabels(namespace string, labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if rest, ok := strings.CutPrefix(k, NamespaceLabelPrefix); ok {
			out[rest] = v
		}
	}
	out[LabelNamespaceName] = namespace
	return out
}

// entitySets returns the ipsets an entity's selector and notSelector match on (nil when there is none), named for
// the Renderer's family. In a NetworkPolicy (namespace != "") a selector picks endpoints of the policy's own
// namespace unless the rule has a namespaceSelector, as in Calico; a notSelector is not limited to the namespace,
// but a notSelector alone still limits the rule to the namespace's endpoints (as the selector all() would).
func (r *Renderer) entitySets(e api.EntityRule, namespace string) (pos, neg *SelectorSet, err error) {
	prefix := r.ipsetPrefix()
	if e.Selector != "" || e.NamespaceSelector != "" || (namespace != "" && e.NotSelector != "") {
		sel := e.Selector
		if sel == "" {
			sel = "all()"
		}
		switch {
		case e.NamespaceSelector != "":
			s, err := parse(sel)
			if err != nil {
				return nil, nil, err
			}
			ns, err := parse(e.NamespaceSelector)
			if err != nil {
				return nil, nil, err
			}
			pos = &SelectorSet{Name: combinedSetName(prefix, s, ns), Selector: s, NamespaceSelector: ns}
		case namespace != "":
			s, err := parse(sel)
			if err != nil {
				return nil, nil, err
			}
			s, err = parse(fmt.Sprintf("(%s) && %s == %q", s.String(), api.LabelNamespace, namespace))
			if err != nil {
				return nil, nil, err
			}
			pos = &SelectorSet{Name: setName(prefix, s), Selector: s}
		default:
			s, err := parse(sel)
			if err != nil {
				return nil, nil, err
			}
			pos = &SelectorSet{Name: setName(prefix, s), Selector: s}
		}
	}
	if e.NotSelector != "" {
		s, err := parse(e.NotSelector)
		if err != nil {
			return nil, nil, err
		}
		neg = &SelectorSet{Name: setName(prefix, s), Selector: s}
	}
	return pos, neg, nil
}

func parse(s string) (selector.Selector, error) {
	sel, err := selector.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("parsing selector: %w", err)
	}
	return sel, nil
}

// selectAll is the selector "all()".
var selectAll = selector.MustParse("all()")

// namedPortSet is the named-port set of the endpoints that sel picks (all endpoints when sel is nil) and their
// port name with protocol proto, named "n:" and a hash of the three, as in Calico.
func (r *Renderer) namedPortSet(sel *SelectorSet, name string, proto uint8) SelectorSet {
	s := SelectorSet{Selector: selectAll, NamedPort: NamedPort{Name: name, Protocol: proto}}
	if sel != nil {
		s.Selector, s.NamespaceSelector = sel.Selector, sel.NamespaceSelector
	}
	id := s.Selector.String()
	if s.NamespaceSelector != nil {
		id += " ns:" + s.NamespaceSelector.String()
	}
	sum := sha256.Sum224([]byte(fmt.Sprintf("n:%s port:%d/%s", id, proto, name)))
	s.Name = truncate(r.ipsetPrefix()+"n:"+base64.RawURLEncoding.EncodeToString(sum[:]), maxIPSetName)
	return s
}

// setName is Calico's ipset name for a selector: the family's prefix ("cali40" or "cali60") + its unique ID, cut
// to 31 characters.
func setName(prefix string, s selector.Selector) string {
	return truncate(prefix+s.UniqueID(), maxIPSetName)
}

// combinedSetName names the set of a selector limited by a namespaceSelector, in the same "s:" ID space.
func combinedSetName(prefix string, s, ns selector.Selector) string {
	sum := sha256.Sum224([]byte("s:" + s.String() + " ns:" + ns.String()))
	return truncate(prefix+"s:"+base64.RawURLEncoding.EncodeToString(sum[:]), maxIPSetName)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
