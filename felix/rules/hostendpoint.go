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

// HostEndpoint is what the chains of one of this host's host endpoints depend on. Each list holds the tiers of
// one kind of policy that applies to the endpoint, in the order they run (see Endpoint).
type HostEndpoint struct {
	Iface string // the interface, or AllInterfaces
	// IngressTiers and EgressTiers are the normal policies: traffic to and from the host's own processes.
	IngressTiers, EgressTiers []Tier
	// ForwardIngressTiers and ForwardEgressTiers are the applyOnForward ones among them, which also police
	// traffic forwarded through the interface.
	ForwardIngressTiers, ForwardEgressTiers []Tier
	// PreDNATTiers police incoming traffic before DNAT (mangle table).
	PreDNATTiers []Tier
	// UntrackedIngressTiers and UntrackedEgressTiers run before connection tracking (raw table).
	UntrackedIngressTiers, UntrackedEgressTiers []Tier
	Profiles                                    []string
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
		filter[fh] = hostChain(h.IngressTiers, PrefixPolicyIngress, h.Profiles, PrefixProfileIngress, ChainFailsafeIn)
		filter[th] = hostChain(h.EgressTiers, PrefixPolicyEgress, h.Profiles, PrefixProfileEgress, ChainFailsafeOut)
		filter[fhfw] = forwardChain(h.ForwardIngressTiers, PrefixPolicyIngress)
		filter[thfw] = forwardChain(h.ForwardEgressTiers, PrefixPolicyEgress)
		fromF = append(fromF, r.dispatchTo(h.Iface, "-i", fh)...)
		toF = append(toF, r.dispatchTo(h.Iface, "-o", th)...)
		fromFwd = append(fromFwd, r.dispatchTo(h.Iface, "-i", fhfw)...)
		toFwd = append(toFwd, r.dispatchTo(h.Iface, "-o", thfw)...)
		if len(h.PreDNATTiers) > 0 {
			mangle[fh] = preTrackChain(h.PreDNATTiers, PrefixPolicyIngress, ChainFailsafeIn)
			fromMangle = append(fromMangle, r.dispatchTo(h.Iface, "-i", fh)...)
		}
		if len(h.UntrackedIngressTiers) > 0 {
			raw[fh] = preTrackChain(h.UntrackedIngressTiers, PrefixPolicyIngress, ChainFailsafeIn)
			fromRaw = append(fromRaw, r.dispatchTo(h.Iface, "-i", fh)...)
		}
		if len(h.UntrackedEgressTiers) > 0 {
			raw[th] = preTrackChain(h.UntrackedEgressTiers, PrefixPolicyEgress, ChainFailsafeOut)
			toRaw = append(toRaw, r.dispatchTo(h.Iface, "-o", th)...)
		}
		if h.Iface == AllInterfaces {
			// Workload traffic to the host never gets the failsafe ports.
			filter[ChainWorkloadToHostEndpoint] = hostChain(h.IngressTiers, PrefixPolicyIngress, h.Profiles, PrefixProfileIngress, "")
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
func hostChain(tiers []Tier, policyPrefix string, profiles []string, profilePrefix string, failsafeChain string) []desired.Rule {
	rules := endpointChain(tiers, policyPrefix, profiles, profilePrefix)
	if failsafeChain == "" {
		return rules
	}
	// After the conntrack rules, before the policies.
	out := append([]desired.Rule(nil), rules[:2]...)
	out = append(out, ruleC("", jump(failsafeChain), "Failsafe ports"))
	return append(out, rules[2:]...)
}

// forwardChain is one direction of a host endpoint for forwarded traffic: nothing (so the traffic goes on
// unjudged) without applyOnForward policies; with some, established traffic is accepted and the tiers judge the
// rest, dropping at the end of a tier what none of its policies accepted or passed.
func forwardChain(tiers []Tier, policyPrefix string) []desired.Rule {
	judged := tierRules(tiers, policyPrefix, true)
	if len(judged) == 0 {
		return nil
	}
	rules := []desired.Rule{
		rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
		rule("-m conntrack --ctstate INVALID", "--jump DROP"),
		rule("", clearMark(MarkAccept|MarkPass)),
	}
	return append(rules, judged...)
}

// preTrackChain is a host endpoint's pre-DNAT (mangle) or untracked (raw) policy: the failsafe ports first, then
// the tiers; an accepting policy leaves the accept mark for the caller, and traffic no policy judges goes on (no
// end-of-tier drop: the filter table's policy still judges it).
func preTrackChain(tiers []Tier, policyPrefix, failsafeChain string) []desired.Rule {
	rules := []desired.Rule{ruleC("", jump(failsafeChain), "Failsafe ports"), rule("", clearMark(MarkAccept|MarkPass))}
	return append(rules, tierRules(tiers, policyPrefix, false)...)
}
