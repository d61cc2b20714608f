package api

import (
	"fmt"
	"math"
	"strings"
)

// Tier is an ordered group of NetworkPolicies and GlobalNetworkPolicies (those whose spec.tier names it). For an
// endpoint, each tier that holds a policy applying to it judges its traffic in turn, lowest order first: a policy
// that allows or denies a packet decides, one that passes it sends it to the next tier, and a packet no policy of
// the tier judged meets the tier's defaultAction (Deny, or Pass to the next tier).
//
// The tier named "default" holds every policy that names no tier. It always exists: when the datastore holds
// none, readers (felix, calicoctl get) use DefaultTier().
type Tier struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       TierSpec `json:"spec"`
}

// TierSpec is the spec of a Tier.
type TierSpec struct {
	// Order places the tier among the others: lower orders judge traffic first, equal orders go by name. Unset,
	// it is DefaultTierOrder.
	Order *float64 `json:"order,omitempty"`
	// DefaultAction is what happens to a packet that no policy of the tier allowed, denied or passed: Deny (the
	// default) drops it, Pass sends it to the next tier.
	DefaultAction string `json:"defaultAction,omitempty"`
}

// The default tier, and the order and action a tier has when its spec leaves them out (as in Calico).
const (
	DefaultTierName  = "default"
	DefaultTierOrder = 1_000_000.0
)

// DefaultTier is the default tier as Calico creates it: order 1,000,000 and defaultAction Deny.
func DefaultTier() *Tier {
	t := SetTypeMeta(&Tier{ObjectMeta: ObjectMeta{Name: DefaultTierName}})
	t.Default()
	return t
}

// Default fills order (1,000,000) and defaultAction (Deny).
func (t *Tier) Default() {
	if t.Spec.Order == nil {
		o := DefaultTierOrder
		t.Spec.Order = &o
	}
	if t.Spec.DefaultAction == "" {
		t.Spec.DefaultAction = ActionDeny
	}
}

// EffectiveOrder is the tier's order, DefaultTierOrder when unset.
func (s TierSpec) EffectiveOrder() float64 {
	if s.Order == nil {
		return DefaultTierOrder
	}
	return *s.Order
}

// EffectiveDefaultAction is the tier's default action, Deny when unset.
func (s TierSpec) EffectiveDefaultAction() string {
	if s.DefaultAction == "" {
		return ActionDeny
	}
	return s.DefaultAction
}

// tierNameRule says what a tier name may be: a DNS label, since a policy name's tier prefix ends at its first dot.
const tierNameRule = labelRule + ", at most 63 characters (a tier name has no dots)"

// Validate checks a Tier: its name, order and default action; the default tier's order and action are fixed.
func (t *Tier) Validate() error {
	var e errs
	e.name(&t.ObjectMeta, dns1123Label, tierNameRule)
	if len(t.Name) > 63 {
		e.add("metadata.name", t.Name, "%s", tierNameRule)
	}
	if t.Namespace != "" {
		e.add("metadata.namespace", t.Namespace, "namespace should not be specified for a non-namespaced resource")
	}
	s := t.Spec
	if s.Order != nil && (math.IsNaN(*s.Order) || math.IsInf(*s.Order, 0)) {
		e.add("spec.order", *s.Order, "order must be a finite number")
	}
	e.oneOf("spec.defaultAction", s.DefaultAction, ActionDeny, ActionPass)
	if t.Name == DefaultTierName {
		if s.EffectiveOrder() != DefaultTierOrder {
			e.add("spec.order", formatFloat(s.EffectiveOrder()), "the default tier's order cannot be changed: it must be 1000000")
		}
		if s.EffectiveDefaultAction() != ActionDeny {
			e.add("spec.defaultAction", s.DefaultAction, "the default tier's defaultAction cannot be changed: it must be Deny")
		}
	}
	return e.err()
}

func formatFloat(f float64) string { return fmt.Sprint(f) }

// TierOf is the tier a policy spec names, "default" when it names none.
func TierOf(specTier string) string {
	if specTier == "" {
		return DefaultTierName
	}
	return specTier
}

// PolicyTier is the tier of a stored policy: the one its spec names or, when it names none (a policy written by
// tooling that predates tiers), the one its name implies, as Calico reads it: the part before the first dot
// ("security" for "security.block-meta"), or default for a name without a dot or one translated from Kubernetes.
func PolicyTier(name, specTier string) string {
	if specTier != "" {
		return specTier
	}
	if strings.HasPrefix(name, KubernetesPolicyPrefix) || !strings.Contains(name, ".") {
		return DefaultTierName
	}
	return prefixOf(name)
}

// policyName checks a NetworkPolicy's or GlobalNetworkPolicy's name against its tier, as Calico 3.30 does: a
// policy of tier T other than default is named "T.<name>"; one of the default tier is named "<name>" or
// "default.<name>". <name> follows rule (checked with valid). It also checks spec.tier itself.
func (e *errs) policyName(m *ObjectMeta, specTier string, valid func(string) bool, rule string) {
	tier := TierOf(specTier)
	if specTier != "" && (len(specTier) > 63 || !dns1123Label.MatchString(specTier)) {
		e.add("spec.tier", specTier, "%s", tierNameRule)
		return
	}
	e.labels("metadata.labels", m.Labels)
	if m.Name == "" {
		e.add("metadata.name", nil, "name is required")
		return
	}
	if len(m.Name) > 253 {
		e.add("metadata.name", m.Name, "name is longer than 253 characters")
		return
	}
	rest, prefixed := strings.CutPrefix(m.Name, tier+".")
	switch {
	case prefixed:
		if !valid(rest) {
			e.add("metadata.name", m.Name, "after the tier prefix '%s.' the name %s", tier, rule)
		}
	case tier != DefaultTierName:
		e.add("metadata.name", m.Name, "a policy in tier '%s' must be named '%s.<name>'", tier, tier)
	case valid(m.Name):
	case strings.Contains(m.Name, ".") && dns1123Label.MatchString(prefixOf(m.Name)) && valid(afterPrefix(m.Name)):
		prefix := prefixOf(m.Name)
		e.add("metadata.name", m.Name, "a policy of the default tier is named '<name>' or 'default.<name>'; "+
			"to put it in tier '%s', set spec.tier: %s", prefix, prefix)
	default:
		e.add("metadata.name", m.Name, "%s", rule)
	}
}

// prefixOf is what comes before the first dot of a policy name; afterPrefix what comes after it.
func prefixOf(name string) string    { p, _, _ := strings.Cut(name, "."); return p }
func afterPrefix(name string) string { _, r, _ := strings.Cut(name, "."); return r }
