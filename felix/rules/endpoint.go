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
	return r.EndpointRules(ep.IngressTiers, ep.EgressTiers, ep.Profiles).Chains(ep.Iface)
}

// EndpointRules are the rules of an endpoint's two chains. They depend on its tiers and profiles alone, not on
// its interface, so endpoints with the same policies and profiles (the pods of one deployment) can share them.
type EndpointRules struct {
	Ingress, Egress []desired.Rule
}

// EndpointRules renders the rules of the chains of an endpoint with these tiers and profiles (see Endpoint).
func (r *Renderer) EndpointRules(ingress, egress []Tier, profiles []string) EndpointRules {
	return EndpointRules{
		Ingress: endpointChain(ingress, PrefixPolicyIngress, profiles, PrefixProfileIngress),
		Egress:  endpointChain(egress, PrefixPolicyEgress, profiles, PrefixProfileEgress),
	}
}

// Chains names the rules as the chains of the endpoint with this host-side interface. The chains share e's
// slices.
func (e EndpointRules) Chains(iface string) map[string][]desired.Rule {
	return map[string][]desired.Rule{
		ChainName(PrefixToWorkload, iface):   e.Ingress,
		ChainName(PrefixFromWorkload, iface): e.Egress,
	}
}

// The matches and actions every endpoint chain repeats, built once.
var (
	matchPassClear    = markClear(MarkPass)
	matchAcceptSet    = markSet(MarkAccept)
	actionClearPass   = clearMark(MarkPass)
	actionClearAccept = clearMark(MarkAccept)
)

// endpointChain is one direction of an endpoint: established traffic is accepted, then the tiers judge the packet
// in order, then the profiles, and anything left is dropped.
func endpointChain(tiers []Tier, policyPrefix string, profiles []string, profilePrefix string) []desired.Rule {
	rules := make([]desired.Rule, 0, 4+tierRuleCount(tiers)+2*len(profiles))
	rules = append(rules,
		rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
		rule("-m conntrack --ctstate INVALID", "--jump DROP"),
		rule("", actionClearAccept),
	)
	rules = appendTierRules(rules, tiers, policyPrefix, true)
	for _, p := range profiles {
		rules = append(rules,
			rule("", jump(ChainName(profilePrefix, p))),
			ruleC(matchAcceptSet, "--jump RETURN", "Return if profile accepted"))
	}
	return append(rules, ruleC("", "--jump DROP", "Drop if no profiles matched"))
}

// tierRuleCount is at most how many rules appendTierRules adds for tiers.
func tierRuleCount(tiers []Tier) int {
	n := 0
	for _, t := range tiers {
		n += 2 + 2*len(t.Policies)
	}
	return n
}

// tierRules runs the tiers in order. Within a tier, the policies run in order until one sets the pass bit (on to
// the next tier) or the accept bit (return to the caller with it set); a Deny rule drops the packet in the policy
// chain itself. A packet that leaves a tier with neither bit meets the end of the tier: with endOfTierDrop, unless
// the tier's default action is Pass, it is dropped there. Without endOfTierDrop (pre-DNAT and untracked policy,
// which leave the rest to the filter table) it goes on.
func tierRules(tiers []Tier, policyPrefix string, endOfTierDrop bool) []desired.Rule {
	return appendTierRules(nil, tiers, policyPrefix, endOfTierDrop)
}

// appendTierRules appends tierRules(tiers, policyPrefix, endOfTierDrop) to rules.
func appendTierRules(rules []desired.Rule, tiers []Tier, policyPrefix string, endOfTierDrop bool) []desired.Rule {
	for _, t := range tiers {
		if len(t.Policies) == 0 {
			continue // a tier judges only the endpoints it has a policy for
		}
		rules = append(rules, ruleC("", actionClearPass, "Start of tier "+t.Name))
		for _, p := range t.Policies {
			rules = append(rules,
				rule(matchPassClear, jump(ChainName(policyPrefix, p))),
				ruleC(matchAcceptSet, "--jump RETURN", "Return if policy accepted"))
		}
		if endOfTierDrop && t.DefaultAction != api.ActionPass {
			rules = append(rules, ruleC(matchPassClear, "--jump DROP", "End of tier "+t.Name+": drop if no policy passed packet"))
		}
	}
	return rules
}
