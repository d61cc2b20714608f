package clustersim

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/selector"
)

func TestSizesFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Sizes
		wantErr string
	}{
		{"nothing set gives the issue's sizes", nil, DefaultSizes, ""},
		{"each variable overrides its size", map[string]string{"SIM_NODES": "50", "SIM_ENDPOINTS": "2500", "SIM_POLICIES": "0"},
			Sizes{Nodes: 50, Endpoints: 2500, Policies: 0}, ""},
		{"a size that is not a number is refused", map[string]string{"SIM_NODES": "many"}, Sizes{}, "SIM_NODES"},
		{"too few endpoints for a tier on every node are refused", map[string]string{"SIM_NODES": "10", "SIM_ENDPOINTS": "20"},
			Sizes{}, "one per tier"},
		{"a cluster without nodes is refused", map[string]string{"SIM_NODES": "0"}, Sizes{}, "at least one node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SizesFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("expected an error mentioning %q, got %v (sizes %v)", tc.wantErr, err, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("expected %v, got %v (err %v)", tc.want, got, err)
			}
		})
	}
}

// TestEndpointsSpreadEvenlyInTheirNodesBlocks checks the shape the benchmark depends on: every endpoint exists
// once, nodes differ by at most one endpoint, every address is unique and inside one of its own node's blocks,
// and every node holds every tier.
func TestEndpointsSpreadEvenlyInTheirNodesBlocks(t *testing.T) {
	s := Sizes{Nodes: 7, Endpoints: 450, Policies: 8}
	seen := map[netip.Addr]string{}
	names := map[string]bool{}
	total, least, most := 0, s.Endpoints, 0
	for i := range s.Nodes {
		var blocks []netip.Prefix
		for key := range s.Affinities(i) {
			host, cidr, ok := ipam.ParseAffinityKey(key)
			if !ok || host != NodeName(i) {
				t.Fatalf("node %d: affinity key %s is not this node's", i, key)
			}
			blocks = append(blocks, cidr)
		}
		tunnel := netip.MustParseAddr(s.NodeResource(i).Spec.BGP.IPv4IPIPTunnelAddr)
		seen[tunnel] = "tunnel of " + NodeName(i)
		eps := s.NodeEndpoints(i)
		total += len(eps)
		least, most = min(least, len(eps)), max(most, len(eps))
		tiersHere := map[string]bool{}
		for _, w := range eps {
			if w.Spec.Node != NodeName(i) {
				t.Errorf("endpoint %s is on %s, want %s", w.Name, w.Spec.Node, NodeName(i))
			}
			if names[w.Namespace+"/"+w.Name] {
				t.Errorf("endpoint %s/%s generated twice", w.Namespace, w.Name)
			}
			names[w.Namespace+"/"+w.Name] = true
			addr := netip.MustParsePrefix(w.Spec.IPNetworks[0]).Addr()
			if other, dup := seen[addr]; dup {
				t.Errorf("address %s of %s is also the %s", addr, w.Name, other)
			}
			seen[addr] = w.Name
			inBlock := false
			for _, b := range append(blocks, netip.PrefixFrom(tunnel, 26).Masked()) {
				inBlock = inBlock || b.Contains(addr)
			}
			if !inBlock || !PoolCIDR.Contains(addr) {
				t.Errorf("address %s of %s is outside node %d's blocks %v", addr, w.Name, i, blocks)
			}
			tiersHere[w.Labels["tier"]] = true
		}
		if len(tiersHere) != len(tiers) {
			t.Errorf("node %d holds tiers %v, want all of %v", i, tiersHere, tiers)
		}
	}
	if total != s.Endpoints || most-least > 1 {
		t.Errorf("expected %d endpoints spread within one of each other, got %d (from %d to %d per node)",
			s.Endpoints, total, least, most)
	}
}

// TestProbeSelectsEndpointsOnEveryNode: the benchmark waits for every node to compute each probe, which only
// happens on a node where the probe selects a local endpoint.
func TestProbeSelectsEndpointsOnEveryNode(t *testing.T) {
	s := Sizes{Nodes: 5, Endpoints: 15, Policies: 0}
	for k := range 6 {
		sel := selector.MustParse(Probe("p", k).Spec.Selector)
		for i := range s.Nodes {
			selected := 0
			for _, w := range s.NodeEndpoints(i) {
				if sel.Evaluate(w.Labels) {
					selected++
				}
			}
			if selected == 0 {
				t.Errorf("probe %d (%s) selects nothing on node %d", k, Probe("p", k).Spec.Selector, i)
			}
		}
	}
}

// TestEveryResourceIsValid: the cluster is one calicoctl and the CNI plugin would accept.
func TestEveryResourceIsValid(t *testing.T) {
	s := Sizes{Nodes: 3, Endpoints: 30, Policies: 8}
	for _, r := range append(s.Resources(), Probe("p", 0)) {
		r.Default()
		if err := r.Validate(); err != nil {
			t.Errorf("%s is invalid: %v", api.ID(r), err)
		}
	}
}

// TestPoliciesSelectSomething: every generated policy selects at least one endpoint, so that the nodes really
// compute it.
func TestPoliciesSelectSomething(t *testing.T) {
	s := Sizes{Nodes: 4, Endpoints: 200, Policies: 40}
	var all []*api.WorkloadEndpoint
	for i := range s.Nodes {
		all = append(all, s.NodeEndpoints(i)...)
	}
	for p := range s.Policies {
		r := s.Policy(p)
		var sel, ns string
		switch r := r.(type) {
		case *api.GlobalNetworkPolicy:
			sel = r.Spec.Selector
		case *api.NetworkPolicy:
			sel, ns = r.Spec.Selector, r.Namespace
		}
		parsed := selector.MustParse(sel)
		selected := 0
		for _, w := range all {
			if (ns == "" || w.Namespace == ns) && parsed.Evaluate(w.Labels) {
				selected++
			}
		}
		if selected == 0 {
			t.Errorf("policy %d (%s in %q) selects no endpoint", p, sel, ns)
		}
	}
}
