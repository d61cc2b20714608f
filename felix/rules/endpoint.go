package rules

import (
	"sort"

	"github.com/calico-l3/calico/felix/desired"
)

// Endpoint is what the chains of one local workload endpoint depend on.
type Endpoint struct {
	Iface string // host-side interface, e.g. cali1a2b3c4d5e6
	// IngressPolicies and EgressPolicies are the names (Policy.Name) of the policies that apply to the endpoint in
	// each direction, in the order they run.
	IngressPolicies []string
	EgressPolicies  []string
	// Profiles are the endpoint's profiles in its own order.
	Profiles []string
}

// Dispatch returns cali-from-wl-dispatch and cali-to-wl-dispatch: one goto per local workload interface to its
// chain, and a DROP for any other workload-prefixed interface.
func (r *Renderer) Dispatch(ifaces []string) map[string][]desired.Rule {
	sorted := append([]string(nil), ifaces...)
	sort.Strings(sorted)
	from := make([]desired.Rule, 0, len(sorted)+1)
	to := make([]desired.Rule, 0, len(sorted)+1)
	for _, iface := range sorted {
		from = append(from, rule("-i "+iface, goTo(ChainName(PrefixFromWorkload, iface))))
		to = append(to, rule("-o "+iface, goTo(ChainName(PrefixToWorkload, iface))))
	}
	from = append(from, ruleC("", "--jump DROP", "Unknown interface"))
	to = append(to, ruleC("", "--jump DROP", "Unknown interface"))
	return map[string][]desired.Rule{ChainFromWorkloadDispatch: from, ChainToWorkloadDispatch: to}
}

// Endpoint returns the endpoint's cali-tw-<iface> (ingress) and cali-fw-<iface> (egress) chains.
func (r *Renderer) Endpoint(ep Endpoint) map[string][]desired.Rule {
	return map[string][]desired.Rule{
		ChainName(PrefixToWorkload, ep.Iface):   endpointChain(ep.IngressPolicies, PrefixPolicyIngress, ep.Profiles, PrefixProfileIngress),
		ChainName(PrefixFromWorkload, ep.Iface): endpointChain(ep.EgressPolicies, PrefixPolicyEgress, ep.Profiles, PrefixProfileEgress),
	}
}

// endpointChain is one direction of an endpoint: established traffic is accepted, then the policies run in order
// (the first to accept wins; one that passes skips the rest), then the profiles, and anything left is dropped.
func endpointChain(policies []string, policyPrefix string, profiles []string, profilePrefix string) []desired.Rule {
	rules := []desired.Rule{
		rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
		rule("-m conntrack --ctstate INVALID", "--jump DROP"),
		rule("", clearMark(MarkAccept)),
	}
	if len(policies) > 0 {
		rules = append(rules, ruleC("", clearMark(MarkPass), "Start of policies"))
		for _, p := range policies {
			rules = append(rules,
				rule(markClear(MarkPass), jump(ChainName(policyPrefix, p))),
				ruleC(markSet(MarkAccept), "--jump RETURN", "Return if policy accepted"))
		}
		rules = append(rules, ruleC(markClear(MarkPass), "--jump DROP", "Drop if no policies passed packet"))
	}
	for _, p := range profiles {
		rules = append(rules,
			rule("", jump(ChainName(profilePrefix, p))),
			ruleC(markSet(MarkAccept), "--jump RETURN", "Return if profile accepted"))
	}
	return append(rules, ruleC("", "--jump DROP", "Drop if no profiles matched"))
}
