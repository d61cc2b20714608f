// Package rules turns felix's view of the cluster into iptables rules: the static cali-* chains and the hooks into
// the kernel chains, the workload dispatch chains, the per-endpoint chains, and the profile and policy chains
// rendered from api.Rule lists. It is pure: it builds desired.Rule values and never runs iptables.
//
// A Renderer renders for one IP family (Config.IPVersion): the IPv4 tables for iptables or the IPv6 ones for
// ip6tables. The two differ only where the families do: IPv6 has no IPIP rules, lets ICMPv6 neighbour discovery
// and MLD from workloads reach the host, drops workload traffic that fails a reverse-path check (IPv4 has the
// rp_filter sysctl for that), and names its ipsets cali6… instead of cali4…. Rules that cannot match the
// family (ipVersion, an ICMP protocol of the other family, nets only of the other family) are left out.
package rules

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

// Mark bits felix uses inside its chains (taken lowest-first from Calico's default mark mask 0xffff0000).
const (
	MarkAccept   uint32 = 0x10000 // a policy or profile accepted the packet
	MarkPass     uint32 = 0x20000 // a policy passed the packet on to the profiles
	MarkScratch0 uint32 = 0x40000 // a rule's match blocks all matched so far
	MarkScratch1 uint32 = 0x80000 // reserved for match blocks, like Calico
	markAll             = MarkAccept | MarkPass | MarkScratch0 | MarkScratch1
)

// Names of the static chains.
const (
	ChainInput                = "cali-INPUT"
	ChainForward              = "cali-FORWARD"
	ChainOutput               = "cali-OUTPUT"
	ChainPrerouting           = "cali-PREROUTING"
	ChainPostrouting          = "cali-POSTROUTING"
	ChainWorkloadToHost       = "cali-wl-to-host"
	ChainFailsafeIn           = "cali-failsafe-in"
	ChainFailsafeOut          = "cali-failsafe-out"
	ChainFromWorkloadDispatch = "cali-from-wl-dispatch"
	ChainToWorkloadDispatch   = "cali-to-wl-dispatch"
	ChainNATOutgoing          = "cali-nat-outgoing"
)

// Prefixes of the per-endpoint, profile and policy chains.
const (
	PrefixToWorkload     = "cali-tw-"  // traffic to a workload: its ingress policy
	PrefixFromWorkload   = "cali-fw-"  // traffic from a workload: its egress policy
	PrefixProfileIngress = "cali-pri-" // a profile's ingress rules
	PrefixProfileEgress  = "cali-pro-" // a profile's egress rules
	PrefixPolicyIngress  = "cali-pi-"  // a policy's ingress rules
	PrefixPolicyEgress   = "cali-po-"  // a policy's egress rules
)

// Names of the ipsets the static chains refer to.
const (
	IPSetAllPools  = "cali40all-ipam-pools"  // every IPv4 pool CIDR
	IPSetMasqPools = "cali40masq-ipam-pools" // IPv4 pools with natOutgoing
	IPSetAllHosts  = "cali40all-hosts-net"   // the IPv4 addresses of all nodes, for IPIP
	// IPSetAllVXLANHosts are the IPv4 addresses of the other nodes, from which VXLAN is accepted.
	IPSetAllVXLANHosts = "cali40all-vxlan-net"
	IPSetAllPoolsV6    = "cali60all-ipam-pools"  // every IPv6 pool CIDR
	IPSetMasqPoolsV6   = "cali60masq-ipam-pools" // IPv6 pools with natOutgoing
)

// Prefixes of the ipset names of each family (then comes the set's ID, e.g. "s:<hash>" for a selector).
const (
	ipsetPrefixV4 = "cali40"
	ipsetPrefixV6 = "cali60"
)

// Table names.
const (
	TableFilter = "filter"
	TableNAT    = "nat"
	TableMangle = "mangle"
	TableRaw    = "raw"
)

// The endpoint-to-host actions of FelixConfiguration defaultEndpointToHostAction.
const (
	ActionDrop   = "Drop"
	ActionAccept = "Accept"
	ActionReturn = "Return"
)

// maxChainName is the longest chain name felix writes, as in Calico (iptables allows 28 characters).
const maxChainName = 28

// Config is what the rendered rules depend on besides the resources themselves.
type Config struct {
	// IPVersion is the family rendered: 6 for ip6tables, anything else (0 too) means 4, for iptables.
	IPVersion int
	// InterfacePrefixes are the workload interface name prefixes ("cali"); chains match them as "cali+".
	InterfacePrefixes []string
	// EndpointToHostAction is what happens to workload traffic to the host once the workload's egress policy has
	// let it through: Drop (the default), Accept or Return (on to the host's own INPUT rules).
	EndpointToHostAction string
	// FailsafeInbound and FailsafeOutbound are host ports that stay open whatever the policy says.
	FailsafeInbound  []api.ProtoPort
	FailsafeOutbound []api.ProtoPort
	// LogPrefix starts the prefix of packets logged by Log rules ("calico-packet").
	LogPrefix string
	// IPIP says some pool uses IPIP: accept IPIP only from Calico hosts and masquerade host traffic leaving tunl0.
	// IPIP carries IPv4 only, so it is ignored for IPv6.
	IPIP bool
	// HostEndpoints says this host has host endpoints: the static chains then send host traffic through the host
	// endpoint dispatch chains (see HostEndpoints) in the filter, mangle and raw tables.
	HostEndpoints bool
	// AllInterfacesEndpoint says one of them is the all-interfaces endpoint, whose ingress policy then also
	// judges workload traffic to the host when EndpointToHostAction is Return.
	AllInterfacesEndpoint bool
	// VXLANPort, when not 0, says VXLAN is on (some pool uses it): accept VXLAN (UDP to this port) only from other
	// Calico hosts and masquerade host traffic leaving vxlan.calico. IPv4 only, like IPIP.
	VXLANPort int
	// NATOutgoing says some pool of this family has natOutgoing: cali-nat-outgoing masquerades traffic from
	// those pools (ipset cali40masq-ipam-pools, or cali60masq-ipam-pools for IPv6).
	NATOutgoing bool
}

// Renderer renders chains for one Config.
type Renderer struct {
	cfg Config
}

// New returns a Renderer for cfg.
func New(cfg Config) *Renderer {
	if len(cfg.InterfacePrefixes) == 0 {
		cfg.InterfacePrefixes = []string{"cali"}
	}
	if cfg.LogPrefix == "" {
		cfg.LogPrefix = "calico-packet"
	}
	if cfg.IPVersion == 6 {
		cfg.IPIP, cfg.VXLANPort = false, 0
	} else {
		cfg.IPVersion = 4
	}
	return &Renderer{cfg: cfg}
}

// IPVersion is the family the Renderer renders for: 4 or 6.
func (r *Renderer) IPVersion() int { return r.cfg.IPVersion }

func (r *Renderer) v6() bool { return r.cfg.IPVersion == 6 }

// ipsetPrefix starts the names of this family's ipsets: "cali40" or "cali60".
func (r *Renderer) ipsetPrefix() string {
	if r.v6() {
		return ipsetPrefixV6
	}
	return ipsetPrefixV4
}

// poolSets are the names of this family's all-pools and masq-pools ipsets.
func (r *Renderer) poolSets() (all, masq string) {
	if r.v6() {
		return IPSetAllPoolsV6, IPSetMasqPoolsV6
	}
	return IPSetAllPools, IPSetMasqPools
}

// ChainName joins a chain prefix and a name. When the result would be longer than 28 characters, the name is
// replaced by "_" and a hash of it, as Calico does, so that long policy and profile names still fit.
func ChainName(prefix, name string) string {
	if len(prefix)+len(name) < maxChainName || (len(prefix)+len(name) == maxChainName && !strings.HasPrefix(name, "_")) {
		return prefix + name
	}
	sum := sha256.Sum256([]byte(name))
	return prefix + "_" + base64.RawURLEncoding.EncodeToString(sum[:])[:maxChainName-1-len(prefix)]
}

// Small builders for the rules every chain uses.

func rule(match, action string) desired.Rule { return desired.Rule{Match: match, Action: action} }

func ruleC(match, action, comment string) desired.Rule {
	return desired.Rule{Match: match, Action: action, Comment: comment}
}

func jump(chain string) string { return "--jump " + chain }
func goTo(chain string) string { return "--goto " + chain }

// markSet matches packets with all of the bits set; markClear with all of them clear.
func markSet(bits uint32) string   { return fmt.Sprintf("-m mark --mark %#x/%#x", bits, bits) }
func markClear(bits uint32) string { return fmt.Sprintf("-m mark --mark 0/%#x", bits) }

// setMark sets the bits; clearMark clears them.
func setMark(bits uint32) string   { return fmt.Sprintf("--jump MARK --set-mark %#x/%#x", bits, bits) }
func clearMark(bits uint32) string { return fmt.Sprintf("--jump MARK --set-mark 0/%#x", bits) }

// joinMatch joins match fragments, skipping empty ones.
func joinMatch(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}
