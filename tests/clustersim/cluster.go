// Package clustersim simulates a Calico cluster on one machine, to measure how the datastore design scales with
// the number of nodes: every simulated node runs felix's real calculation and confd's real key view, each fed by
// its own watches over its own connection to one shared etcd, as the two processes of a real calico-node are.
// Nothing touches the kernel. The package holds the cluster's data (this file) and how it is written to etcd
// (seed.go), the simulated node (node.go), the readings of etcd's process and metrics (proc.go) and the model
// that says when a fan-out cache such as Calico's Typha would pay off (fanout.go); BenchmarkClusterSimulation
// puts them together.
package clustersim

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The shape of the workloads: endpoints are spread over namespaces, apps and teams by their cluster-wide index,
// and over tiers by their index on their node, so that every node holds every tier (the probe policies select
// by tier and must reach every node).
const (
	namespaces = 10
	apps       = 20
	teams      = 10
	blockSize  = 64 // addresses in a /26, the default IPAM block
)

var tiers = []string{"frontend", "backend", "db"}

// PoolCIDR is the IPIP pool every endpoint's address comes from; nodes' own addresses are in nodeNet.
var (
	PoolCIDR = netip.MustParsePrefix("10.0.0.0/8")
	nodeNet  = netip.MustParsePrefix("172.16.0.0/12")
)

// Sizes are the dimensions of a simulated cluster.
type Sizes struct {
	Nodes, Endpoints, Policies int
}

// DefaultSizes are the issue's: 1,000 nodes, 50,000 workload endpoints, 1,000 policies.
var DefaultSizes = Sizes{Nodes: 1000, Endpoints: 50000, Policies: 1000}

// SizesFromEnv reads SIM_NODES, SIM_ENDPOINTS and SIM_POLICIES; each one unset keeps its DefaultSizes value.
func SizesFromEnv(getenv func(string) string) (Sizes, error) {
	s := DefaultSizes
	for _, f := range []struct {
		name string
		dst  *int
	}{{"SIM_NODES", &s.Nodes}, {"SIM_ENDPOINTS", &s.Endpoints}, {"SIM_POLICIES", &s.Policies}} {
		v := getenv(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return Sizes{}, fmt.Errorf("%s=%q: not a whole number", f.name, v)
		}
		*f.dst = n
	}
	return s, s.Validate()
}

// Validate checks that the sizes make a cluster the probes can measure: every node needs an endpoint of each
// tier, and every node's blocks must fit in the pool.
func (s Sizes) Validate() error {
	switch {
	case s.Nodes < 1:
		return errors.New("a cluster needs at least one node")
	case s.Endpoints < len(tiers)*s.Nodes:
		return fmt.Errorf("%d endpoints on %d nodes: each node needs at least %d (one per tier)", s.Endpoints, s.Nodes, len(tiers))
	case s.Policies < 0:
		return errors.New("the number of policies cannot be negative")
	case s.Nodes*s.blocksPerNode()*blockSize > 1<<(32-PoolCIDR.Bits()):
		return fmt.Errorf("%d nodes of %d blocks do not fit in %s", s.Nodes, s.blocksPerNode(), PoolCIDR)
	}
	return nil
}

func (s Sizes) String() string {
	return fmt.Sprintf("%d nodes, %d endpoints, %d policies", s.Nodes, s.Endpoints, s.Policies)
}

// NodeName is the name of node i.
func NodeName(i int) string { return fmt.Sprintf("sim-%04d", i) }

// EndpointsOn is how many endpoints node i holds: the endpoints spread evenly, the first nodes taking one more
// when they do not divide.
func (s Sizes) EndpointsOn(i int) int {
	n := s.Endpoints / s.Nodes
	if i < s.Endpoints%s.Nodes {
		n++
	}
	return n
}

// firstEndpoint is the cluster-wide index of node i's first endpoint.
func (s Sizes) firstEndpoint(i int) int { return i*(s.Endpoints/s.Nodes) + min(i, s.Endpoints%s.Nodes) }

// blocksPerNode is how many blocks each node owns: enough for its endpoints and its tunnel address.
func (s Sizes) blocksPerNode() int { return (s.EndpointsOn(0) + 1 + blockSize - 1) / blockSize }

// address is the n-th address of node i's blocks: the first is its IPIP tunnel address, the rest its endpoints'.
func (s Sizes) address(i, n int) netip.Addr {
	a := PoolCIDR.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i*s.blocksPerNode()*blockSize + n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NodeResource is node i's Node resource: its address and IPIP tunnel address.
func (s Sizes) NodeResource(i int) *api.Node {
	a := nodeNet.Addr().As4()
	host := uint32(i + 1)
	addr := netip.AddrFrom4([4]byte{a[0], a[1] | byte(host>>16), byte(host >> 8), byte(host)})
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: NodeName(i)}, Spec: api.NodeSpec{BGP: &api.NodeBGPSpec{
		IPv4Address:        netip.PrefixFrom(addr, nodeNet.Bits()).String(),
		IPv4IPIPTunnelAddr: s.address(i, 0).String(),
	}}}
}

// Affinities are node i's confirmed block affinities, as IPAM stores them (key → value).
func (s Sizes) Affinities(i int) map[string]string {
	out := map[string]string{}
	for b := range s.blocksPerNode() {
		block := netip.PrefixFrom(s.address(i, b*blockSize), 32-6)
		out[ipam.AffinityKey(NodeName(i), block)] = fmt.Sprintf(`{"state":%q}`, ipam.StateConfirmed)
	}
	return out
}

// NodeEndpoints are node i's WorkloadEndpoints, shaped as the CNI plugin writes them for Kubernetes pods (name,
// labels, namespace profile, named port, interface, address, MAC).
func (s Sizes) NodeEndpoints(i int) []*api.WorkloadEndpoint {
	var out []*api.WorkloadEndpoint
	first := s.firstEndpoint(i)
	for j := range s.EndpointsOn(i) {
		g := first + j
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", g), Namespace: namespace(g % namespaces),
				Labels: map[string]string{"app": app(g % apps), "tier": tiers[j%len(tiers)], "team": team(g % teams),
					"env": []string{"prod", "staging"}[g%2]}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
		w := conversion.PodEndpoint(pod, NodeName(i), "eth0", fmt.Sprintf("%064x", g))
		w.Spec.IPNetworks = []string{netip.PrefixFrom(s.address(i, 1+j), 32).String()}
		w.Spec.MAC = fmt.Sprintf("02:00:%02x:%02x:%02x:%02x", byte(g>>24), byte(g>>16), byte(g>>8), byte(g))
		out = append(out, w)
	}
	return out
}

func namespace(n int) string { return fmt.Sprintf("ns-%d", n) }
func app(n int) string       { return fmt.Sprintf("app-%d", n) }
func team(n int) string      { return fmt.Sprintf("team-%d", n) }

// Shared are the resources every cluster has once: the default tier, the IPIP pool and the namespaces' profiles.
func Shared() []api.Resource {
	pool := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "default-ipv4-ippool"},
		Spec: api.IPPoolSpec{CIDR: PoolCIDR.String(), IPIPMode: api.EncapAlways, NATOutgoing: true, BlockSize: 26}}
	out := []api.Resource{api.DefaultTier(), pool}
	for n := range namespaces {
		out = append(out, conversion.NamespaceProfile(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: namespace(n), Labels: map[string]string{"team": team(n % teams)}}}))
	}
	return out
}

// Policy is policy p: four kinds in turn, global and namespaced, selecting by app, tier, team and environment,
// with ingress from another app on a port and egress to the database tier, so that the nodes compute selector
// ipsets over the whole cluster as real policies make them.
func (s Sizes) Policy(p int) api.Resource {
	order := float64(100 + p)
	from := api.Rule{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
		Source:      api.EntityRule{Selector: fmt.Sprintf("app == '%s'", app((p+1)%apps))},
		Destination: api.EntityRule{Ports: []api.Port{{MinPort: uint16(8000 + p%100), MaxPort: uint16(8000 + p%100)}}}}
	toDB := api.Rule{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
		Destination: api.EntityRule{Selector: "tier == 'db'", Ports: []api.Port{{MinPort: 5432, MaxPort: 5432}}}}
	both := []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress}
	name := fmt.Sprintf("sim-policy-%d", p)
	switch p % 4 {
	case 0:
		return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.GlobalNetworkPolicySpec{
			Order: &order, Selector: fmt.Sprintf("app == '%s'", app(p%apps)), Types: both,
			Ingress: []api.Rule{from}, Egress: []api.Rule{toDB}}}
	case 1:
		return &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name, Namespace: namespace(p % namespaces)},
			Spec: api.NetworkPolicySpec{Order: &order, Types: both,
				Selector: fmt.Sprintf("tier == '%s' && app != '%s'", tiers[p%len(tiers)], app(p%apps)),
				Ingress:  []api.Rule{from}, Egress: []api.Rule{toDB}}}
	case 2:
		return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.GlobalNetworkPolicySpec{
			Order: &order, Selector: fmt.Sprintf("team == '%s' && env == 'prod'", team(p%teams)),
			Types: []api.PolicyType{api.PolicyTypeIngress}, Ingress: []api.Rule{from}}}
	default:
		return &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name, Namespace: namespace(p % namespaces)},
			Spec: api.NetworkPolicySpec{Order: &order, Types: both,
				Selector: fmt.Sprintf("app in {'%s', '%s'}", app(p%apps), app((p+7)%apps)),
				Ingress:  []api.Rule{from}, Egress: []api.Rule{toDB}}}
	}
}

// Probe is the policy write whose propagation the benchmark times: a new GlobalNetworkPolicy that selects one
// tier, so that it applies to endpoints on every node, and allows ingress from one app, so that each node also
// computes a cluster-wide selector ipset for it.
func Probe(name string, k int) *api.GlobalNetworkPolicy {
	order := 50.0
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.GlobalNetworkPolicySpec{
		Order: &order, Selector: fmt.Sprintf("tier == '%s'", tiers[k%len(tiers)]),
		Types: []api.PolicyType{api.PolicyTypeIngress},
		Ingress: []api.Rule{{Action: api.ActionAllow, Protocol: ptr(api.ProtocolFromString("TCP")),
			Source:      api.EntityRule{Selector: fmt.Sprintf("app == '%s'", app(k%apps))},
			Destination: api.EntityRule{Ports: []api.Port{{MinPort: 443, MaxPort: 443}}}}}}}
}

// ProbeChain is the ingress chain felix renders for the probe policy of that name: a node whose desired state
// holds it has computed the policy.
func ProbeChain(name string) string { return rules.ChainName(rules.PrefixPolicyIngress, name) }

func ptr[T any](v T) *T { return &v }
