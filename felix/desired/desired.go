// Package desired is the dataplane state felix wants, as plain data: routes, interface settings, the IPIP tunnel,
// iptables chains and ipsets. The calculation layer produces a State from the datastore; the dataplane layer
// makes the kernel match it. Nothing here touches the kernel.
package desired

import (
	"net/netip"
	"strings"
)

// State is everything felix programs on one host.
type State struct {
	Routes     []Route              // felix-owned routes (felix's route protocol); any other felix route is removed
	Interfaces map[string]Interface // workload interfaces (cali*) and the sysctls each needs once it exists
	Sysctls    map[string]string    // host-wide sysctls, e.g. "net/ipv4/ip_forward": "1"
	Tunnel     *Tunnel              // the IPIP device; nil means it must not exist
	VXLAN      *VXLAN               // the VXLAN device and its peers; nil means it must not exist
	// VethMTU is the MTU workload interfaces should have: the host interface's less the encapsulation in use, or
	// the configured tunnel MTU. Felix writes it where the CNI plugin reads it.
	VethMTU int
	Tables  map[string]*Table // iptables tables by name: "filter", "nat", "mangle", "raw" (IPv4)
	// Tables6 are the ip6tables tables, by name as in Tables. nil means felix leaves ip6tables alone (IPv6
	// support off); a non-nil map, even an empty one, makes felix own its cali- chains and hooks there, so
	// whatever it left in a table absent from the map is removed.
	Tables6 map[string]*Table
	IPSets  map[string]IPSet // by full set name, e.g. "cali40all-ipam-pools", "cali60all-ipam-pools"
}

// RouteType distinguishes a route to an interface or gateway from a blackhole.
type RouteType int

// Route types.
const (
	Unicast RouteType = iota
	Blackhole
)

// Route is one kernel route in the main table.
type Route struct {
	Dst     netip.Prefix
	Type    RouteType
	Iface   string     // outgoing interface: cali… for workloads (scope link), tunl0 for IPIP
	Gateway netip.Addr // next hop, for routes to other hosts' blocks; invalid for a link-scope route
	OnLink  bool       // the gateway is reachable through Iface even though no address says so (IPIP)
}

// Interface holds the per-interface sysctls of a workload interface, as paths relative to /proc/sys
// ("net/ipv4/conf/<if>/proxy_arp") and values.
type Interface struct {
	Name    string
	Sysctls map[string]string
}

// Tunnel is the IPIP device.
type Tunnel struct {
	Name    string     // tunl0
	Address netip.Addr // this node's tunnel address; invalid when none is allocated yet
	MTU     int
}

// VXLAN is the VXLAN device (vxlan.calico) and what felix programs on it. The device is felix's own: it is
// created with these settings, recreated when a setting that cannot change in place (VNI, port, local address)
// differs, and deleted when no pool uses VXLAN.
type VXLAN struct {
	Name      string     // vxlan.calico
	VNI       int        // 4096 by default
	Port      int        // UDP destination port, 4789 by default
	MTU       int        // device MTU
	MAC       string     // the device's MAC (this node's VTEP MAC), e.g. "66:a3:1b:0c:5e:01"; "" leaves the kernel's
	LocalAddr netip.Addr // this node's IP: the outer source address of encapsulated packets
	Address   netip.Addr // this node's tunnel address (the device's /32); invalid while none is allocated
	// VTEPs are the other nodes reachable over VXLAN. For each, felix keeps a permanent neighbour entry (tunnel
	// address → MAC) and a permanent FDB entry (MAC → host address) on the device, and removes every other one.
	VTEPs []VTEP
}

// VTEP is one other node's end of the VXLAN overlay.
type VTEP struct {
	Node       string
	TunnelAddr netip.Addr // the other node's tunnel address, the next hop of routes to its blocks
	MAC        string     // the other node's VTEP MAC
	HostAddr   netip.Addr // the other node's IP: the outer destination
}

// Table is felix's part of one iptables table.
type Table struct {
	Name string
	// Chains felix owns, all named cali-…; each is written whole and in order. A cali- chain that exists in the
	// kernel but not here is deleted.
	Chains map[string][]Rule
	// Hooks are the rules felix inserts at the top of kernel chains (INPUT, FORWARD, …), in order; other rules in
	// those chains are never touched.
	Hooks map[string][]Rule
}

// Rule is one iptables rule: match criteria and an action, in iptables-restore syntax without the chain, e.g.
// Match `-i cali+`, Action `--goto cali-from-wl-dispatch`. Comment is an optional human note; the dataplane adds
// its own hash comment to detect drift.
type Rule struct {
	Match   string
	Action  string
	Comment string
}

// IPSetType is an ipset type.
type IPSetType string

// ipset types felix uses.
const (
	HashIP  IPSetType = "hash:ip"
	HashNet IPSetType = "hash:net"
	// HashIPPort holds address, protocol and port triples written "10.0.0.1,tcp:8080" (IPv6 "fd00::1,tcp:8080"):
	// the named-port sets.
	HashIPPort IPSetType = "hash:ip,port"
)

// IPSet is one ipset and its complete membership (addresses or CIDRs, or for hash:ip,port address-port triples,
// as text). Its address family follows its
// name, as in Calico: see IPSetFamily.
type IPSet struct {
	Type    IPSetType
	Members []string
}

// ipset families.
const (
	FamilyInet  = "inet"  // IPv4
	FamilyInet6 = "inet6" // IPv6
)

// IPSetFamily is the address family of the ipset of this name: felix's IPv6 sets are named cali6… (cali60s:…,
// cali60all-ipam-pools) and hold IPv6 members only (ipset family inet6); every other set is IPv4 (inet). The
// name alone decides, so a set's family can never disagree with its name.
func IPSetFamily(name string) string {
	if strings.HasPrefix(name, "cali6") {
		return FamilyInet6
	}
	return FamilyInet
}
