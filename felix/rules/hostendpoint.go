package rules

import (
	"sort"

	"github.com/calico-l3/calico/felix/desired"
)

// AllInterfaces is the interfaceName of a host endpoint that stands for every interface of the host.
const AllInterfaces = "*"

// allInterfacesChainName is what the all-interfaces endpoint's chains are named after.
const allInterfacesChainName = "any-interface-at-all"

// Names of the host endpoint dispatch chains and prefixes of the per-endpoint chains. The same names are used in
// the filter, mangle (pre-DNAT) and raw (untracked) tables, each holding its own kind of policy.
const (
	ChainFromHostEndpoint        = "cali-from-host-endpoint" // traffic arriving on a host interface
	ChainToHostEndpoint          = "cali-to-host-endpoint"   // traffic the host sends out of one
	ChainFromHostEndpointForward = "cali-from-hep-forward"   // forwarded traffic arriving on one
	ChainToHostEndpointForward   = "cali-to-hep-forward"     // forwarded traffic leaving by one
	// ChainWorkloadToHostEndpoint is the all-interfaces endpoint's ingress policy for workload traffic to the
	// host (with DefaultEndpointToHostAction Return): its chain without the failsafe ports, which are never
	// opened to workloads.
	ChainWorkloadToHostEndpoint = "cali-wl-to-hep"

	PrefixFromHostEndpoint        = "cali-fh-"   // ingress to the host through an interface
	PrefixToHostEndpoint          = "cali-th-"   // egress from the host through an interface
	PrefixFromHostEndpointForward = "cali-fhfw-" // forwarded traffic arriving on an interface
	PrefixToHostEndpointForward   = "cali-thfw-" // forwarded traffic leaving by an interface
)

// HostEndpoint is what the chains of one of this host's host endpoints depend on. Each list names policies
// (Policy.Name) in the order they run.
type HostEndpoint struct {
	Iface string // the interface, or AllInterfaces
	// IngressPolicies and EgressPolicies are the normal policies: traffic to and from the host's own processes.
	IngressPolicies, EgressPolicies []string
	// ForwardIngressPolicies and ForwardEgressPolicies are the applyOnForward ones among them, which also police
	// traffic forwarded through the interface.
	ForwardIngressPolicies, ForwardEgressPolicies []string
	// PreDNATPolicies police incoming traffic before DNAT (mangle table).
	PreDNATPolicies []string
	// UntrackedIngressPolicies and UntrackedEgressPolicies run before connection tracking (raw table).
	UntrackedIngressPolicies, UntrackedEgressPolicies []string
	Profiles                                          []string
}

func (h HostEndpoint) chainIface() string {
	if h.Iface == AllInterfaces {
		return allInterfacesChainName
	}
	return h.Iface
}

// HostEndpoints returns the chains of this host's host endpoints by table (filter, mangle, raw): the dispatch
// chains, and per endpoint its chains in each table that has policy for it. The static chains jump to the
// dispatch chains when the Config has HostEndpoints set. An interface named by one endpoint is dispatched to it
// before the all-interfaces endpoint, which takes every other interface but workload interfaces and lo.
func (r *Renderer) HostEndpoints(heps []HostEndpoint) map[string]map[string][]desired.Rule {
	sorted := append([]HostEndpoint(nil), heps...)
	sort.Slice(sorted, func(i, j int) bool {
		// The all-interfaces endpoint sorts last: named interfaces are matched first.
		a, b := sorted[i].Iface == AllInterfaces, sorted[j].Iface == AllInterfaces
		if a != b {
			return b
		}
		return sorted[i].Iface < sorted[j].Iface
	})
	filter, mangle, raw := map[string][]desired.Rule{}, map[string][]desired.Rule{}, map[string][]desired.Rule{}
	var fromF, toF, fromFwd, toFwd, fromMangle, fromRaw, toRaw []desired.Rule
	for _, h := range sorted {
		name := h.chainIface()
		fh, th := ChainName(PrefixFromHostEndpoint, name), ChainName(PrefixToHostEndpoint, name)
		fhfw, thfw := ChainName(PrefixFromHostEndpointForward, name), ChainName(PrefixToHostEndpointForward, name)
		filter[fh] = hostChain(h.IngressPolicies, PrefixPolicyIngress, h.Profiles, PrefixProfileIngress, ChainFailsafeIn)
		filter[th] = hostChain(h.EgressPolicies, PrefixPolicyEgress, h.Profiles, PrefixProfileEgress, ChainFailsafeOut)
		filter[fhfw] = forwardChain(h.ForwardIngressPolicies, PrefixPolicyIngress)
		filter[thfw] = forwardChain(h.ForwardEgressPolicies, PrefixPolicyEgress)
		fromF = append(fromF, r.dispatchTo(h.Iface, "-i", fh)...)
		toF = append(toF, r.dispatchTo(h.Iface, "-o", th)...)
		fromFwd = append(fromFwd, r.dispatchTo(h.Iface, "-i", fhfw)...)
		toFwd = append(toFwd, r.dispatchTo(h.Iface, "-o", thfw)...)
		if len(h.PreDNATPolicies) > 0 {
			mangle[fh] = preTrackChain(h.PreDNATPolicies, PrefixPolicyIngress, ChainFailsafeIn)
			fromMangle = append(fromMangle, r.dispatchTo(h.Iface, "-i", fh)...)
		}
		if len(h.UntrackedIngressPolicies) > 0 {
			raw[fh] = preTrackChain(h.UntrackedIngressPolicies, PrefixPolicyIngress, ChainFailsafeIn)
			fromRaw = append(fromRaw, r.dispatchTo(h.Iface, "-i", fh)...)
		}
		if len(h.UntrackedEgressPolicies) > 0 {
			raw[th] = preTrackChain(h.UntrackedEgressPolicies, PrefixPolicyEgress, ChainFailsafeOut)
			toRaw = append(toRaw, r.dispatchTo(h.Iface, "-o", th)...)
		}
		if h.Iface == AllInterfaces {
			// Workload traffic to the host never gets the failsafe ports.
			filter[ChainWorkloadToHostEndpoint] = hostChain(h.IngressPolicies, PrefixPolicyIngress, h.Profiles, PrefixProfileIngress, "")
		}
	}
	filter[ChainFromHostEndpoint], filter[ChainToHostEndpoint] = fromF, toF
	filter[ChainFromHostEndpointForward], filter[ChainToHostEndpointForward] = fromFwd, toFwd
	mangle[ChainFromHostEndpoint] = fromMangle
	raw[ChainFromHostEndpoint], raw[ChainToHostEndpoint] = fromRaw, toRaw
	if len(fromMangle) > 0 {
		mangle[ChainFailsafeIn] = failsafe(r.cfg.FailsafeInbound)
	}
	if len(fromRaw) > 0 {
		raw[ChainFailsafeIn] = failsafe(r.cfg.FailsafeInbound)
	}
	if len(toRaw) > 0 {
		raw[ChainFailsafeOut] = failsafe(r.cfg.FailsafeOutbound)
	}
	return map[string]map[string][]desired.Rule{TableFilter: filter, TableMangle: mangle, TableRaw: raw}
}

// dispatchTo sends traffic of one interface (dir "-i" or "-o") to chain; for the all-interfaces endpoint, every
// interface but the workloads' and lo.
func (r *Renderer) dispatchTo(iface, dir, chain string) []desired.Rule {
	if iface != AllInterfaces {
		return []desired.Rule{rule(dir+" "+iface, goTo(chain))}
	}
	var out []desired.Rule
	for _, m := range r.workloadIfaces(dir) {
		out = append(out, ruleC(m, "--jump RETURN", "Workload traffic is not host endpoint traffic"))
	}
	return append(out, rule(dir+" lo", "--jump RETURN"), rule("", goTo(chain)))
}

// hostChain is one direction of a host endpoint for the host's own traffic: established traffic is accepted, then
// the failsafe ports (when failsafeChain is set), then the policies in order, then the profiles; anything left is
// dropped, as for a workload.
func hostChain(policies []string, policyPrefix string, profiles []string, profilePrefix string, failsafeChain string) []desired.Rule {
	rules := endpointChain(policies, policyPrefix, profiles, profilePrefix)
	if failsafeChain == "" {
		return rules
	}
	// After the conntrack rules, before the policies.
	out := append([]desired.Rule(nil), rules[:2]...)
	out = append(out, ruleC("", jump(failsafeChain), "Failsafe ports"))
	return append(out, rules[2:]...)
}

// forwardChain is one direction of a host endpoint for forwarded traffic: nothing (so the traffic goes on
// unjudged) without applyOnForward policies; with some, established traffic is accepted, the policies run, and
// what none of them accepted or passed is dropped.
func forwardChain(policies []string, policyPrefix string) []desired.Rule {
	if len(policies) == 0 {
		return nil
	}
	rules := []desired.Rule{
		rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
		rule("-m conntrack --ctstate INVALID", "--jump DROP"),
		rule("", clearMark(MarkAccept|MarkPass)),
	}
	for _, p := range policies {
		rules = append(rules,
			rule(markClear(MarkPass), jump(ChainName(policyPrefix, p))),
			ruleC(markSet(MarkAccept), "--jump RETURN", "Return if policy accepted"))
	}
	return append(rules, ruleC(markClear(MarkPass), "--jump DROP", "Drop if no policies passed packet"))
}

// preTrackChain is a host endpoint's pre-DNAT (mangle) or untracked (raw) policy: the failsafe ports first, then
// the policies; an accepting policy leaves the accept mark for the caller, and traffic no policy judges goes on.
func preTrackChain(policies []string, policyPrefix, failsafeChain string) []desired.Rule {
	rules := []desired.Rule{ruleC("", jump(failsafeChain), "Failsafe ports"), rule("", clearMark(MarkAccept|MarkPass))}
	for _, p := range policies {
		rules = append(rules,
			rule(markClear(MarkPass), jump(ChainName(policyPrefix, p))),
			ruleC(markSet(MarkAccept), "--jump RETURN", "Return if policy accepted"))
	}
	return rules
}
