package rules

import (
	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

// Endpoint is what the chains of one local workload endpoint depend on.
type Endpoint struct {
	Iface string // host-side interface, e.g. cali1a2b3c4d5e6
	// IngressTiers and EgressTiers are the tiers of the policies that apply to the endpoint in each direction, in
	// the order they run; a tier without such a policy is left out.
	IngressTiers []Tier
	EgressTiers  []Tier
	// Profiles are the endpoint's profiles in its own order.
	Profiles []string
}

// Tier is one tier of the policies that apply to an endpoint in one direction.
type Tier struct {
	Name string
	// DefaultAction is what happens to a packet no policy of the tier allowed, denied or passed: Pass sends it to
	// the next tier (or the profiles after the last); anything else (Deny, the default) drops it.
	DefaultAction string
	// Policies are the names (Policy.Name) of the tier's policies, in the order they run.
	Policies []string
}

// Endpoint returns the endpoint's cali-tw-<iface> (ingress) and cali-fw-<iface> (egress) chains.
func (r *Renderer) Endpoint(ep Endpoint) map[string][]desired.Rule {
	return map[string][]desired.Rule{
		ChainName(PrefixToWorkload, ep.Iface):   endpointChain(ep.IngressTiers, PrefixPolicyIngress, ep.Profiles, PrefixProfileIngress),
		ChainName(PrefixFromWorkload, ep.Iface): endpointChain(ep.EgressTiers, PrefixPolicyEgress, ep.Profiles, PrefixProfileEgress),
	}
}

// endpointChain is one direction of an endpoint: established traffic is accepted, then the tiers judge the packet
// in order, then the profiles, and anything left is dropped.
func endpointChain(tiers []Tier, policyPrefix string, profiles []string, profilePrefix string) []desired.Rule {
	rules := []desired.Rule{
		rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
		rule("-m conntrack --ctstate INVALID", "--jump DROP"),
		rule("", clearMark(MarkAccept)),
	}
	rules = append(rules, tierRules(tiers, policyPrefix, true)...)
	for _, p := range profiles {
		rules = append(rules,
			rule("", jump(ChainName(profilePrefix, p))),
			ruleC(markSet(MarkAccept), "--jump RETURN", "Return if profile accepted"))
	}
	return append(rules, ruleC("", "--jump DROP", "Drop if no profiles matched"))
}

// tierRules runs the tiers in order. Within a tier, the policies run in order until one sets the pass bit (on to
// the next tier) or the accept bit (return to the caller with it set); a Deny rule drops the packet in the policy
// chain itself. A packet that leaves a tier with neither bit meets the end of the tier: with endOfTierDrop, unless
// the tier's default action is Pass, it is dropped there. Without endOfTierDrop (pre-DNAT and untracked policy,
// which leave the rest to the filter table) it goes on.
func tierRules(tiers []Tier, policyPrefix string, endOfTierDrop bool) []desired.Rule {
	var rules []desired.Rule
	for _, t := range tiers {
		if len(t.Policies) == 0 {
			continue // a tier judges only the endpoints it has a policy for
		}
		rules = append(rules, ruleC("", clearMark(MarkPass), "Start of tier "+t.Name))
		for _, p := range t.Policies {
			rules = append(rules,
				rule(markClear(MarkPass), jump(ChainName(policyPrefix, p))),
				ruleC(markSet(MarkAccept), "--jump RETURN", "Return if policy accepted"))
		}
		if endOfTierDrop && t.DefaultAction != api.ActionPass {
			rules = append(rules, ruleC(markClear(MarkPass), "--jump DROP", "End of tier "+t.Name+": drop if no policy passed packet"))
		}
	}
	return rules
}
