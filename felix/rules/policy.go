package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

// Rendered is what a profile or policy renders to: its chains and the selector ipsets their rules match on.
type Rendered struct {
	Chains map[string][]desired.Rule
	IPSets []SelectorSet // sorted by name, no duplicates
}

// Policy is a NetworkPolicy or GlobalNetworkPolicy as the renderer needs it.
type Policy struct {
	// Name names the policy's chains: "<name>" for a GlobalNetworkPolicy, "<namespace>/<name>" for a
	// NetworkPolicy.
	Name string
	// Namespace is a NetworkPolicy's namespace, which its rule selectors are limited to; "" for a global policy.
	Namespace string
	// Ingress and Egress say which directions the policy applies to (its types); only those chains are rendered.
	Ingress, Egress           bool
	IngressRules, EgressRules []api.Rule
}

// Profile renders a profile's cali-pri-<name> and cali-pro-<name> chains.
func (r *Renderer) Profile(name string, spec api.ProfileSpec) (Rendered, error) {
	out := newRendered()
	if err := r.addChain(&out, ChainName(PrefixProfileIngress, name), spec.Ingress, ""); err != nil {
		return Rendered{}, fmt.Errorf("profile %s ingress %w", name, err)
	}
	if err := r.addChain(&out, ChainName(PrefixProfileEgress, name), spec.Egress, ""); err != nil {
		return Rendered{}, fmt.Errorf("profile %s egress %w", name, err)
	}
	return out.finish(), nil
}

// Policy renders a policy's cali-pi-<name> and cali-po-<name> chains, for the directions it applies to. A packet
// that no rule matches leaves the chain with neither the accept nor the pass bit, so the endpoint drops it.
func (r *Renderer) Policy(p Policy) (Rendered, error) {
	out := newRendered()
	if p.Ingress {
		if err := r.addChain(&out, ChainName(PrefixPolicyIngress, p.Name), p.IngressRules, p.Namespace); err != nil {
			return Rendered{}, fmt.Errorf("policy %s ingress %w", p.Name, err)
		}
	}
	if p.Egress {
		if err := r.addChain(&out, ChainName(PrefixPolicyEgress, p.Name), p.EgressRules, p.Namespace); err != nil {
			return Rendered{}, fmt.Errorf("policy %s egress %w", p.Name, err)
		}
	}
	return out.finish(), nil
}

type rendered struct {
	Rendered
	sets map[string]SelectorSet
}

func newRendered() rendered {
	return rendered{Rendered: Rendered{Chains: map[string][]desired.Rule{}}, sets: map[string]SelectorSet{}}
}

func (r *rendered) finish() Rendered {
	for _, s := range r.sets {
		r.IPSets = append(r.IPSets, s)
	}
	sort.Slice(r.IPSets, func(i, j int) bool { return r.IPSets[i].Name < r.IPSets[j].Name })
	return r.Rendered
}

func (r *Renderer) addChain(out *rendered, chain string, list []api.Rule, namespace string) error {
	rules := []desired.Rule{}
	for i, apiRule := range list {
		rs, sets, err := r.rule(apiRule, namespace)
		if err != nil {
			return fmt.Errorf("rule %d: %w", i+1, err)
		}
		rules = append(rules, rs...)
		for _, s := range sets {
			out.sets[s.Name] = s
		}
	}
	out.Chains[chain] = rules
	return nil
}

// maxMultiport is how many ports one multiport match holds; a range takes two.
const maxMultiport = 15

// rule renders one api.Rule for the Renderer's family. A rule is a set of match alternatives (each positive CIDR,
// each group of up to 15 numeric ports and each port name is one alternative per side): the action applies when
// any alternative matches. When a side's notNets cannot go inline (iptables takes one -s and one -d per rule), the rule uses the
// scratch mark bit instead: the alternatives set it, each excluded CIDR clears it, and the action needs it.
//
// A rule is checked whole before it is left out for not matching the family, so that it is valid or invalid for
// both families alike. Named ports match through named-port sets (see SelectorSet): a port name of ports is one
// more alternative beside the numeric ports, a port name of notPorts one more match that must not hold.
func (r *Renderer) rule(ar api.Rule, namespace string) ([]desired.Rule, []SelectorSet, error) {
	proto, err := protocolMatch(ar)
	if err != nil {
		return nil, nil, err
	}
	icmp, err := icmpMatch(ar)
	if err != nil {
		return nil, nil, err
	}
	if err := checkAction(ar.Action); err != nil {
		return nil, nil, err
	}
	var setDims, portDims [][]string
	var sets []SelectorSet
	for _, side := range []struct {
		e    api.EntityRule
		dir  string
		flag string
	}{{ar.Source, "src", "--sports"}, {ar.Destination, "dst", "--dports"}} {
		pos, neg, err := r.entitySets(side.e, namespace)
		if err != nil {
			return nil, nil, err
		}
		hasPorts := len(side.e.Ports)+len(side.e.NotPorts) > 0
		if hasPorts && (ar.Protocol == nil || !ar.Protocol.SupportsPorts()) {
			return nil, nil, fmt.Errorf("rules that specify ports must set protocol to TCP, UDP or SCTP")
		}
		var m []string
		// A named-port set holds only endpoints the selector picks, so with named ports alone the selector's own
		// set adds nothing.
		if pos != nil && (len(portNames(side.e.Ports)) == 0 || len(portGroups(side.e.Ports)) > 0) {
			m = append(m, "-m set --match-set "+pos.Name+" "+side.dir)
			sets = append(sets, *pos)
		}
		if neg != nil {
			m = append(m, "-m set ! --match-set "+neg.Name+" "+side.dir)
			sets = append(sets, *neg)
		}
		setDims = append(setDims, []string{joinMatch(m...)})
		if !hasPorts {
			continue
		}
		namedSet := func(name string) SelectorSet { return r.namedPortSet(pos, name, ar.Protocol.Num()) }
		alts, portSets := portAlternatives(side.flag, side.dir, side.e.Ports, side.e.NotPorts, namedSet)
		portDims = append(portDims, alts)
		sets = append(sets, portSets...)
	}
	if !r.matchesFamily(ar) {
		return nil, nil, nil
	}

	srcNets, srcNotNets := r.prefixes(ar.Source.Nets), r.prefixes(ar.Source.NotNets)
	dstNets, dstNotNets := r.prefixes(ar.Destination.Nets), r.prefixes(ar.Destination.NotNets)
	// iptables allows one -s and one -d per rule, so excluded CIDRs go inline only when they are alone on their side.
	srcBlock := len(srcNotNets) > 1 || (len(srcNotNets) == 1 && len(srcNets) > 0)
	dstBlock := len(dstNotNets) > 1 || (len(dstNotNets) == 1 && len(dstNets) > 0)
	// Each dimension holds alternatives, one of which must match; fragments in rendering order.
	dims := [][]string{{proto},
		netAlternatives("-s", srcNets, srcNotNets, srcBlock),
		netAlternatives("-d", dstNets, dstNotNets, dstBlock)}
	dims = append(dims, setDims...)
	dims = append(dims, portDims...)
	dims = append(dims, []string{icmp})

	matches := crossProduct(dims)
	if !srcBlock && !dstBlock {
		return r.action(ar.Action, matches), sets, nil
	}
	// Match blocks: scratch0 ends up set only if an alternative matched and no excluded CIDR did.
	rules := []desired.Rule{rule("", clearMark(MarkScratch0))}
	for _, m := range matches {
		rules = append(rules, rule(m, setMark(MarkScratch0)))
	}
	for _, side := range []struct {
		block bool
		flag  string
		nets  []netip.Prefix
	}{{srcBlock, "-s", srcNotNets}, {dstBlock, "-d", dstNotNets}} {
		for _, p := range side.nets {
			if side.block {
				rules = append(rules, rule(joinMatch(markSet(MarkScratch0), side.flag+" "+p.String()), clearMark(MarkScratch0)))
			}
		}
	}
	return append(rules, r.action(ar.Action, []string{markSet(MarkScratch0)})...), sets, nil
}

func checkAction(action string) error {
	switch action {
	case api.ActionAllow, api.ActionPass, api.ActionDeny, api.ActionLog:
		return nil
	}
	return fmt.Errorf("action %q is not one of Allow, Deny, Log, Pass", action)
}

// action applies a rule's (checked) action to each of its match alternatives. Allow and Pass set their mark bit
// on a match and then return from the chain once, so the endpoint chain sees the verdict.
func (r *Renderer) action(action string, matches []string) []desired.Rule {
	var out []desired.Rule
	switch action {
	case api.ActionAllow, api.ActionPass:
		bit := MarkAccept
		if action == api.ActionPass {
			bit = MarkPass
		}
		for _, m := range matches {
			out = append(out, rule(m, setMark(bit)))
		}
		out = append(out, rule(markSet(bit), "--jump RETURN"))
	case api.ActionDeny:
		for _, m := range matches {
			out = append(out, rule(m, "--jump DROP"))
		}
	case api.ActionLog:
		prefix := strings.ReplaceAll(r.cfg.LogPrefix, `"`, "") + ": "
		for _, m := range matches {
			out = append(out, rule(m, fmt.Sprintf("--jump LOG --log-prefix %q --log-level 5", truncate(prefix, 29))))
		}
	}
	return out
}

// Protocol numbers of ICMP for each family.
const (
	protoICMP   = 1
	protoICMPv6 = 58
)

// matchesFamily says whether a rule can match traffic of the Renderer's family at all: its ipVersion, an ICMP
// protocol of the other family, or nets or notNets that are all of the other family rule it out (as in Calico:
// dropping every excluded CIDR would widen the rule to all traffic of the family).
func (r *Renderer) matchesFamily(ar api.Rule) bool {
	if ar.IPVersion != nil && *ar.IPVersion != r.cfg.IPVersion {
		return false
	}
	if ar.Protocol != nil {
		if n := ar.Protocol.Num(); (n == protoICMP && r.v6()) || (n == protoICMPv6 && !r.v6()) {
			return false
		}
	}
	for _, nets := range [][]string{ar.Source.Nets, ar.Destination.Nets, ar.Source.NotNets, ar.Destination.NotNets} {
		if len(nets) > 0 && len(r.prefixes(nets)) == 0 {
			return false
		}
	}
	return true
}

// prefixes parses the CIDRs (or plain addresses) of a list that belong to the Renderer's family and drops the
// rest.
func (r *Renderer) prefixes(nets []string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			a, aerr := netip.ParseAddr(n)
			if aerr != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is6() == r.v6() {
			out = append(out, p.Masked())
		}
	}
	return out
}

func netAlternatives(flag string, nets, notNets []netip.Prefix, useBlock bool) []string {
	neg := ""
	if len(notNets) == 1 && !useBlock {
		neg = "! " + flag + " " + notNets[0].String()
	}
	if len(nets) == 0 {
		return []string{neg}
	}
	out := make([]string, len(nets))
	for i, p := range nets {
		out[i] = joinMatch(flag+" "+p.String(), neg)
	}
	return out
}

var protocolNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite"}

func protocolArg(p api.Protocol) (string, error) {
	n := p.Num()
	if n == 0 {
		return "", fmt.Errorf("protocol %q is not known", p.Name)
	}
	if name, ok := protocolNames[n]; ok {
		return name, nil
	}
	return strconv.Itoa(int(n)), nil
}

func protocolMatch(ar api.Rule) (string, error) {
	var m []string
	if ar.Protocol != nil {
		p, err := protocolArg(*ar.Protocol)
		if err != nil {
			return "", err
		}
		m = append(m, "-p "+p)
	}
	if ar.NotProtocol != nil {
		p, err := protocolArg(*ar.NotProtocol)
		if err != nil {
			return "", err
		}
		m = append(m, "! -p "+p)
	}
	return joinMatch(m...), nil
}

// icmpMatch renders icmp and notICMP for the rule's protocol: ICMP (-m icmp) or ICMPv6 (-m icmp6).
func icmpMatch(ar api.Rule) (string, error) {
	var m []string
	for _, f := range []struct {
		icmp *api.ICMPFields
		neg  string
	}{{ar.ICMP, ""}, {ar.NotICMP, "! "}} {
		if f.icmp == nil || f.icmp.Type == nil {
			continue
		}
		var n uint8
		if ar.Protocol != nil {
			n = ar.Protocol.Num()
		}
		t := strconv.Itoa(*f.icmp.Type)
		if f.icmp.Code != nil {
			t += "/" + strconv.Itoa(*f.icmp.Code)
		}
		switch n {
		case protoICMP:
			m = append(m, "-m icmp "+f.neg+"--icmp-type "+t)
		case protoICMPv6:
			m = append(m, "-m icmp6 "+f.neg+"--icmpv6-type "+t)
		default:
			return "", fmt.Errorf("icmp and notICMP need protocol ICMP or ICMPv6")
		}
	}
	return joinMatch(m...), nil
}

// portAlternatives renders one side's ports as alternatives, any of which may match: one multiport match per
// group of up to 15 numeric ports, and one named-port set match (namedSet gives the set) per port name. notPorts
// become matches that must all hold: negated multiport matches and negated named-port set matches. It also
// returns the named-port sets used.
func portAlternatives(flag, dir string, ports, notPorts []api.Port, namedSet func(string) SelectorSet) ([]string, []SelectorSet) {
	var sets []SelectorSet
	setMatch := func(neg, name string) string {
		s := namedSet(name)
		sets = append(sets, s)
		return "-m set " + neg + "--match-set " + s.Name + " " + dir + "," + dir
	}
	var neg []string
	for _, group := range portGroups(notPorts) {
		neg = append(neg, "-m multiport ! "+flag+" "+group)
	}
	for _, name := range portNames(notPorts) {
		neg = append(neg, setMatch("! ", name))
	}
	negMatch := joinMatch(neg...)
	if len(ports) == 0 {
		return []string{negMatch}, sets
	}
	var out []string
	for _, g := range portGroups(ports) {
		out = append(out, joinMatch("-m multiport "+flag+" "+g, negMatch))
	}
	for _, name := range portNames(ports) {
		out = append(out, joinMatch(setMatch("", name), negMatch))
	}
	return out, sets
}

// portNames lists the named ports, each once, in the order given.
func portNames(ports []api.Port) []string {
	var names []string
	for _, p := range ports {
		if p.PortName != "" && !slices.Contains(names, p.PortName) {
			names = append(names, p.PortName)
		}
	}
	return names
}

// portGroups splits the numeric ports into comma lists that fit one multiport match each.
func portGroups(ports []api.Port) []string {
	var groups []string
	var cur []string
	used := 0
	for _, p := range ports {
		if p.PortName != "" {
			continue
		}
		cost := 1
		if p.MinPort != p.MaxPort {
			cost = 2
		}
		if used+cost > maxMultiport {
			groups = append(groups, strings.Join(cur, ","))
			cur, used = nil, 0
		}
		cur = append(cur, p.String())
		used += cost
	}
	if len(cur) > 0 {
		groups = append(groups, strings.Join(cur, ","))
	}
	return groups
}

// crossProduct returns every way of picking one alternative from each dimension, joined in dimension order.
func crossProduct(dims [][]string) []string {
	out := []string{""}
	for _, alts := range dims {
		next := make([]string, 0, len(out)*len(alts))
		for _, prefix := range out {
			for _, a := range alts {
				next = append(next, joinMatch(prefix, a))
			}
		}
		out = next
	}
	return out
}
