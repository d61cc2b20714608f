package rules

import (
	"fmt"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

// Static returns the four tables of the Renderer's family with their hooks and static chains. The dispatch,
// endpoint, profile and policy chains are added by the caller. With HostEndpoints, host traffic also goes through
// the host endpoint dispatch chains: untracked policy in raw PREROUTING and OUTPUT, pre-DNAT policy in mangle
// PREROUTING, normal policy in filter INPUT, OUTPUT and (applyOnForward) FORWARD. A packet an untracked or pre-DNAT
// policy accepted carries the accept mark on to the filter table, which then accepts it without normal policy.
func (r *Renderer) Static() map[string]*desired.Table {
	filter := newTable(TableFilter)
	filter.Hooks["INPUT"] = []desired.Rule{rule("", jump(ChainInput))}
	filter.Hooks["FORWARD"] = []desired.Rule{rule("", jump(ChainForward))}
	filter.Hooks["OUTPUT"] = []desired.Rule{rule("", jump(ChainOutput))}
	filter.Chains[ChainInput] = r.filterInput()
	filter.Chains[ChainForward] = r.filterForward()
	filter.Chains[ChainOutput] = r.filterOutput()
	filter.Chains[ChainWorkloadToHost] = r.workloadToHost()
	filter.Chains[ChainFailsafeIn] = failsafe(r.cfg.FailsafeInbound)
	filter.Chains[ChainFailsafeOut] = failsafe(r.cfg.FailsafeOutbound)

	nat := newTable(TableNAT)
	nat.Hooks["PREROUTING"] = []desired.Rule{rule("", jump(ChainPrerouting))}
	nat.Hooks["OUTPUT"] = []desired.Rule{rule("", jump(ChainOutput))}
	nat.Hooks["POSTROUTING"] = []desired.Rule{rule("", jump(ChainPostrouting))}
	// cali-PREROUTING and cali-OUTPUT stay empty: they are where floating-IP DNAT would go.
	nat.Chains[ChainPrerouting] = nil
	nat.Chains[ChainOutput] = nil
	nat.Chains[ChainPostrouting] = r.natPostrouting()
	nat.Chains[ChainNATOutgoing] = r.natOutgoing()

	mangle := newTable(TableMangle)
	mangle.Hooks["PREROUTING"] = []desired.Rule{rule("", jump(ChainPrerouting))}
	mangle.Chains[ChainPrerouting] = nil
	if r.cfg.HostEndpoints {
		mangle.Chains[ChainPrerouting] = []desired.Rule{
			rule("-m conntrack --ctstate RELATED,ESTABLISHED", "--jump ACCEPT"),
			ruleC(markSet(MarkAccept), "--jump ACCEPT", "Accepted by untracked policy"),
			rule("", jump(ChainFromHostEndpoint)),
			ruleC(markSet(MarkAccept), "--jump ACCEPT", "Accepted by pre-DNAT policy"),
		}
	}

	raw := newTable(TableRaw)
	raw.Hooks["PREROUTING"] = []desired.Rule{rule("", jump(ChainPrerouting))}
	// Incoming packets start with no Calico mark bits, so that marks set elsewhere never look like a verdict.
	raw.Chains[ChainPrerouting] = []desired.Rule{rule("", clearMark(markAll))}
	if r.v6() {
		// IPv6 has no rp_filter sysctl: a workload may only send from addresses routed back to its interface.
		for _, m := range r.workloadIfaces("-i") {
			raw.Chains[ChainPrerouting] = append(raw.Chains[ChainPrerouting],
				ruleC(m+" -m rpfilter --invert", "--jump DROP", "Drop workload traffic from addresses it does not own"))
		}
	}

	if r.cfg.HostEndpoints {
		raw.Chains[ChainPrerouting] = append(raw.Chains[ChainPrerouting], rule("", jump(ChainFromHostEndpoint)))
		raw.Chains[ChainPrerouting] = append(raw.Chains[ChainPrerouting], untracked()...)
		raw.Hooks["OUTPUT"] = []desired.Rule{rule("", jump(ChainOutput))}
		raw.Chains[ChainOutput] = append([]desired.Rule{rule("", clearMark(markAll)), rule("", jump(ChainToHostEndpoint))}, untracked()...)
	}

	return map[string]*desired.Table{TableFilter: filter, TableNAT: nat, TableMangle: mangle, TableRaw: raw}
}

// untracked ends raw's chains: what an untracked policy accepted skips connection tracking.
func untracked() []desired.Rule {
	return []desired.Rule{
		ruleC(markSet(MarkAccept), "--jump CT --notrack", "Untracked policy accepted packet"),
		rule(markSet(MarkAccept), "--jump ACCEPT"),
	}
}

// acceptedBefore accepts in the filter table what untracked or pre-DNAT policy accepted (raw clears Calico's
// mark bits first, so only those can have set it).
func acceptedBefore() desired.Rule {
	return ruleC(markSet(MarkAccept), "--jump ACCEPT", "Accepted by untracked or pre-DNAT policy")
}

// toHostEndpoints runs the host endpoint policy of one dispatch chain and accepts what it accepted.
func toHostEndpoints(dispatch string) []desired.Rule {
	return []desired.Rule{
		rule("", clearMark(markAll)),
		rule("", jump(dispatch)),
		ruleC(markSet(MarkAccept), "--jump ACCEPT", "Host endpoint policy accepted packet"),
	}
}

func newTable(name string) *desired.Table {
	return &desired.Table{Name: name, Chains: map[string][]desired.Rule{}, Hooks: map[string][]desired.Rule{}}
}

// workloadIfaces returns one match per interface prefix, e.g. "-i cali+" (dir "-i") or "-o cali+" (dir "-o").
func (r *Renderer) workloadIfaces(dir string) []string {
	out := make([]string, len(r.cfg.InterfacePrefixes))
	for i, p := range r.cfg.InterfacePrefixes {
		out[i] = dir + " " + p + "+"
	}
	return out
}

func (r *Renderer) filterInput() []desired.Rule {
	var rules []desired.Rule
	if r.cfg.HostEndpoints {
		rules = append(rules, acceptedBefore())
	}
	if r.cfg.IPIP {
		rules = append(rules,
			ruleC("-p 4 -m set --match-set "+IPSetAllHosts+" src -m addrtype --dst-type LOCAL", "--jump ACCEPT",
				"Allow IPIP packets from Calico hosts"),
			ruleC("-p 4", "--jump DROP", "Drop IPIP packets from non-Calico hosts"))
	}
	if r.cfg.VXLANPort != 0 {
		vxlan := fmt.Sprintf("-p udp -m udp --dport %d", r.cfg.VXLANPort)
		rules = append(rules,
			ruleC(vxlan+" -m set --match-set "+IPSetAllVXLANHosts+" src -m addrtype --dst-type LOCAL", "--jump ACCEPT",
				"Allow VXLAN packets from Calico hosts"),
			ruleC(vxlan+" -m addrtype --dst-type LOCAL", "--jump DROP", "Drop VXLAN packets from non-Calico hosts"))
	}
	for _, m := range r.workloadIfaces("-i") {
		rules = append(rules, rule(m, goTo(ChainWorkloadToHost)))
	}
	if r.cfg.HostEndpoints {
		rules = append(rules, toHostEndpoints(ChainFromHostEndpoint)...)
	}
	return rules
}

func (r *Renderer) filterForward() []desired.Rule {
	// Start with no Calico bits, whatever other tables' rules may have set.
	rules := []desired.Rule{rule("", clearMark(markAll))}
	if r.cfg.HostEndpoints {
		// What untracked or pre-DNAT policy accepted keeps its accept bit and skips the host endpoints'
		// applyOnForward ingress policy (workload policy still runs: its chains start by clearing the bit).
		rules = []desired.Rule{
			rule("", clearMark(markAll&^MarkAccept)),
			rule(markClear(MarkAccept), jump(ChainFromHostEndpointForward)),
		}
	}
	for _, m := range r.workloadIfaces("-i") {
		rules = append(rules, rule(m, jump(ChainFromWorkloadDispatch)))
	}
	for _, m := range r.workloadIfaces("-o") {
		rules = append(rules, rule(m, jump(ChainToWorkloadDispatch)))
	}
	if r.cfg.HostEndpoints {
		rules = append(rules, rule("", jump(ChainToHostEndpointForward)))
	}
	return append(rules, ruleC(markSet(MarkAccept), "--jump ACCEPT", "Policy explicitly accepted packet."))
}

func (r *Renderer) filterOutput() []desired.Rule {
	var rules []desired.Rule
	if r.cfg.HostEndpoints {
		rules = append(rules, ruleC(markSet(MarkAccept), "--jump ACCEPT", "Accepted by untracked policy"))
	}
	// Traffic from the host to its own workloads is not policed.
	for _, m := range r.workloadIfaces("-o") {
		rules = append(rules, rule(m, "--jump RETURN"))
	}
	if r.cfg.IPIP {
		rules = append(rules, ruleC("-p 4 -m set --match-set "+IPSetAllHosts+" dst -m addrtype --src-type LOCAL",
			"--jump ACCEPT", "Allow IPIP packets to other Calico hosts"))
	}
	if r.cfg.VXLANPort != 0 {
		rules = append(rules, ruleC(fmt.Sprintf("-p udp -m udp --dport %d -m set --match-set %s dst -m addrtype --src-type LOCAL",
			r.cfg.VXLANPort, IPSetAllVXLANHosts), "--jump ACCEPT", "Allow VXLAN packets to other Calico hosts"))
	}
	if r.cfg.HostEndpoints {
		rules = append(rules, toHostEndpoints(ChainToHostEndpoint)...)
	}
	return rules
}

// icmpv6ToHost are the ICMPv6 types a workload may always send to the host, before any policy: MLD query,
// report and done (130-132), router solicitation (133), neighbour solicitation and advertisement (135, 136).
// Without them a workload could not resolve its gateway, the host's link-local address.
var icmpv6ToHost = []int{130, 131, 132, 133, 135, 136}

// workloadToHost runs the workload's egress policy on traffic to the host, then applies the configured action.
// The failsafe ports are not opened here: they keep operators from locking themselves out of a host, and a
// workload must not reach the host's etcd or BGP ports unless DefaultEndpointToHostAction lets it.
func (r *Renderer) workloadToHost() []desired.Rule {
	var rules []desired.Rule
	if r.v6() {
		for _, t := range icmpv6ToHost {
			rules = append(rules, rule(fmt.Sprintf("-p ipv6-icmp -m icmp6 --icmpv6-type %d", t), "--jump ACCEPT"))
		}
	}
	rules = append(rules, rule("", jump(ChainFromWorkloadDispatch)))
	action := EndpointToHostTarget(r.cfg.EndpointToHostAction)
	if action == "RETURN" && r.cfg.HostEndpoints && r.cfg.AllInterfacesEndpoint {
		// Returned traffic meets the all-interfaces endpoint's ingress policy, without its failsafe ports.
		rules = append(rules, rule("", clearMark(markAll)), rule("", jump(ChainWorkloadToHostEndpoint)),
			ruleC(markSet(MarkAccept), "--jump ACCEPT", "Host endpoint policy accepted packet"))
	}
	return append(rules, ruleC("", "--jump "+action, "Configured DefaultEndpointToHostAction"))
}

// EndpointToHostTarget maps a defaultEndpointToHostAction value (any case) to its iptables target; anything
// unknown is DROP.
func EndpointToHostTarget(action string) string {
	switch strings.ToLower(action) {
	case "accept":
		return "ACCEPT"
	case "return":
		return "RETURN"
	default:
		return "DROP"
	}
}

func failsafe(ports []api.ProtoPort) []desired.Rule {
	rules := make([]desired.Rule, 0, len(ports))
	for _, p := range ports {
		proto := strings.ToLower(p.Protocol)
		rules = append(rules, rule(fmt.Sprintf("-p %s -m %s --dport %d", proto, proto, p.Port), "--jump ACCEPT"))
	}
	return rules
}

func (r *Renderer) natPostrouting() []desired.Rule {
	rules := []desired.Rule{rule("", jump(ChainNATOutgoing))}
	if r.cfg.IPIP {
		// Host traffic routed out of tunl0 with a source that is not tunl0's own takes the tunnel address.
		rules = append(rules, rule("-o tunl0 -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL",
			"--jump MASQUERADE"))
	}
	if r.cfg.VXLANPort != 0 {
		// The same for vxlan.calico.
		rules = append(rules, rule("-o vxlan.calico -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL",
			"--jump MASQUERADE"))
	}
	return rules
}

func (r *Renderer) natOutgoing() []desired.Rule {
	if !r.cfg.NATOutgoing {
		return nil
	}
	all, masq := r.poolSets()
	return []desired.Rule{rule("-m set --match-set "+masq+" src -m set ! --match-set "+all+" dst", "--jump MASQUERADE")}
}
