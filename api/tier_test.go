package api

import (
	"math"
	"testing"
)

func TestTierValidation(t *testing.T) {
	cases := []struct {
		name   string
		tier   Tier
		field  string // "" means valid
		reason string
	}{
		{"a tier with an order and action Pass is accepted",
			Tier{ObjectMeta: ObjectMeta{Name: "security"}, Spec: TierSpec{Order: ptr(100.0), DefaultAction: ActionPass}}, "", ""},
		{"a tier without order or action is accepted", Tier{ObjectMeta: ObjectMeta{Name: "app"}}, "", ""},
		{"a tier with action Allow is rejected",
			Tier{ObjectMeta: ObjectMeta{Name: "app"}, Spec: TierSpec{DefaultAction: ActionAllow}}, "spec.defaultAction", "must be one of Deny, Pass"},
		{"a tier with an infinite order is rejected",
			Tier{ObjectMeta: ObjectMeta{Name: "app"}, Spec: TierSpec{Order: ptr(math.Inf(1))}}, "spec.order", "finite"},
		{"a tier with a namespace is rejected",
			Tier{ObjectMeta: ObjectMeta{Name: "app", Namespace: "ns"}}, "metadata.namespace", "non-namespaced"},
		{"the default tier at order 1000000 is accepted", *DefaultTier(), "", ""},
		{"the default tier without an order is accepted", Tier{ObjectMeta: ObjectMeta{Name: "default"}}, "", ""},
		{"the default tier at another order is rejected",
			Tier{ObjectMeta: ObjectMeta{Name: "default"}, Spec: TierSpec{Order: ptr(99.0)}}, "spec.order", "must be 1000000"},
		{"the default tier with action Pass is rejected",
			Tier{ObjectMeta: ObjectMeta{Name: "default"}, Spec: TierSpec{DefaultAction: ActionPass}}, "spec.defaultAction", "must be Deny"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkValidation(t, c.tier.Validate(), c.field, c.reason)
		})
	}
}

func TestTierDefaultsAreOrderOneMillionAndDeny(t *testing.T) {
	tier := &Tier{ObjectMeta: ObjectMeta{Name: "app"}}
	tier.Default()
	if tier.Spec.Order == nil || *tier.Spec.Order != 1_000_000 || tier.Spec.DefaultAction != ActionDeny {
		t.Errorf("defaulted tier spec = %+v, want order 1000000 and defaultAction Deny", tier.Spec)
	}
	kind, err := LookupKind("tiers")
	if err != nil || kind.Name != "Tier" || kind.Namespaced {
		t.Errorf("LookupKind(tiers) = %v, %v; want the cluster-scoped kind Tier", kind, err)
	}
}

func TestTieredPolicyNames(t *testing.T) {
	cases := []struct {
		name, policy, tier string
		field, reason      string // field "" means valid
	}{
		{"a plain name in the default tier is accepted", "allow-dns", "", "", ""},
		{"a plain name with spec.tier default is accepted", "allow-dns", "default", "", ""},
		{"a default. prefixed name in the default tier is accepted", "default.allow-dns", "", "", ""},
		{"a tier-prefixed name in its tier is accepted", "security.block-meta", "security", "", ""},
		{"a plain name in another tier is rejected", "block-meta", "security", "metadata.name", "must be named 'security.<name>'"},
		{"a name prefixed with another tier is rejected", "platform.block-meta", "security", "metadata.name", "must be named 'security.<name>'"},
		{"a tier-prefixed name without spec.tier is rejected, naming the field to set", "security.block-meta", "",
			"metadata.name", "set spec.tier: security"},
		{"an empty name after the tier prefix is rejected", "security.", "security", "metadata.name", "after the tier prefix 'security.'"},
		{"a dotted name after the tier prefix is rejected", "security.a.b", "security", "metadata.name", "after the tier prefix"},
		{"an invalid spec.tier is rejected", "Sec.x", "Sec", "spec.tier", "at most 63 characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gnp := validGlobalNetworkPolicy()
			gnp.Name, gnp.Spec.Tier = c.policy, c.tier
			checkValidation(t, gnp.Validate(), c.field, c.reason)
			np := validNetworkPolicy()
			np.Name, np.Spec.Tier = c.policy, c.tier
			checkValidation(t, np.Validate(), c.field, c.reason)
		})
	}
}

func TestPoliciesDefaultToTheDefaultTier(t *testing.T) {
	np, gnp := validNetworkPolicy(), validGlobalNetworkPolicy()
	np.Default()
	gnp.Default()
	if np.Spec.Tier != "default" || gnp.Spec.Tier != "default" {
		t.Errorf("defaulted tiers: NetworkPolicy %q, GlobalNetworkPolicy %q; want default for both", np.Spec.Tier, gnp.Spec.Tier)
	}
	np = validNetworkPolicy()
	np.Spec.Tier = "security"
	np.Default()
	if np.Spec.Tier != "security" {
		t.Errorf("Default changed tier security to %q", np.Spec.Tier)
	}
}

func TestAKubernetesPolicyStaysInTheDefaultTier(t *testing.T) {
	np := validNetworkPolicy()
	np.Name, np.Spec.Tier = KubernetesPolicyPrefix+"web.v1", "security"
	checkValidation(t, np.Validate(), "spec.tier", "default tier")
}

func TestAStoredPolicyWithoutSpecTierIsInTheTierItsNameImplies(t *testing.T) {
	cases := []struct{ name, policy, specTier, want string }{
		{"spec.tier wins over the name", "security.x", "default", "default"},
		{"a dotted name implies the tier before its first dot", "security.x", "", "security"},
		{"a plain name is in the default tier", "x", "", "default"},
		{"a policy translated from Kubernetes is in the default tier", "knp.default.web", "", "default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PolicyTier(c.policy, c.specTier); got != c.want {
				t.Errorf("PolicyTier(%q, %q) = %q, want %q", c.policy, c.specTier, got, c.want)
			}
		})
	}
}
