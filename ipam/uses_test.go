package ipam

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

// usesCluster has one pool of each kind of use and a Manual pool; the workload pool holds a single /30 block.
func usesCluster(t *testing.T) (*cluster, *IPAM) {
	c := newCluster(t)
	only := func(uses ...string) func(*api.IPPool) {
		return func(p *api.IPPool) { p.Spec.AllowedUses = uses }
	}
	c.pool("wl", "10.1.0.0/30", 30, only(api.IPPoolAllowedUseWorkload))
	c.pool("tun", "10.2.0.0/24", 28, only(api.IPPoolAllowedUseTunnel))
	c.pool("lb", "10.3.0.0/24", 28, only(api.IPPoolAllowedUseLoadBalancer))
	c.pool("man", "10.4.0.0/24", 28, func(p *api.IPPool) { p.Spec.AssignmentMode = api.AssignmentModeManual })
	c.node("node1", nil)
	return c, c.ipam()
}

func TestAutoAssignUsesOnlyPoolsThatAllowTheUse(t *testing.T) {
	c, m := usesCluster(t)
	// The cases run in order against one cluster: the first one leaves a single free address in the workload pool.
	tests := []struct {
		name    string
		args    AssignArgs
		inPool  string // the CIDR every address must lie in
		wantErr string
	}{
		{"workload addresses come only from the Workload pool",
			AssignArgs{Num4: 3, HandleID: "pod1"}, "10.1.0.0/30", ""},
		{"tunnel addresses come only from the Tunnel pool",
			AssignArgs{Num4: 3, HandleID: "tunnel1", IntendedUse: api.IPPoolAllowedUseTunnel}, "10.2.0.0/24", ""},
		{"a Manual pool is used when it is requested by name",
			AssignArgs{Num4: 1, HandleID: "pod2", IPv4Pools: []string{"man"}}, "10.4.0.0/24", ""},
		{"a Manual pool is used when it is requested by CIDR",
			AssignArgs{Num4: 1, HandleID: "pod3", IPv4Pools: []string{"10.4.0.0/24"}}, "10.4.0.0/24", ""},
		{"a Manual pool is not used when the Automatic pools run dry",
			AssignArgs{Num4: 2, HandleID: "pod4"}, "10.1.0.0/30", "pool(s) wl (10.1.0.0/30): assigned 1 of 2"},
		{"a Tunnel-only pool requested for a workload is refused naming the pool and its uses",
			AssignArgs{Num4: 1, HandleID: "pod5", IPv4Pools: []string{"tun"}}, "", "the given pool tun (10.2.0.0/24) cannot be used for workload addresses: its allowedUses are Tunnel"},
		{"a LoadBalancer pool requested for a workload is refused",
			AssignArgs{Num4: 1, HandleID: "pod6", IPv4Pools: []string{"lb"}}, "", "the given pool lb (10.3.0.0/24) cannot be used for workload addresses: its allowedUses are LoadBalancer"},
		{"a Workload-only pool requested for a tunnel is refused",
			AssignArgs{Num4: 1, HandleID: "tunnel2", IPv4Pools: []string{"wl"}, IntendedUse: api.IPPoolAllowedUseTunnel}, "",
			"the given pool wl (10.1.0.0/30) cannot be used for tunnel addresses: its allowedUses are Workload"},
		{"LoadBalancer addresses are not assigned by IPAM",
			AssignArgs{Num4: 1, HandleID: "svc1", IntendedUse: api.IPPoolAllowedUseLoadBalancer}, "", `cannot assign addresses for use "LoadBalancer"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.args.Host = "node1"
			v4, _, err := m.AutoAssign(ctx, tt.args)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.inPool == "" {
				if len(v4) != 0 {
					t.Errorf("a refused request assigned %v", ips(v4))
				}
				return
			}
			want := netip.MustParsePrefix(tt.inPool)
			for _, n := range v4 {
				if a, _ := netip.AddrFromSlice(n.IP); !want.Contains(a.Unmap()) {
					t.Errorf("assigned %s, want addresses in %s only", n.IP, want)
				}
			}
		})
	}
	for _, key := range c.keys(BlockPrefix(4)) {
		if strings.Contains(key, "10.3.") {
			t.Errorf("a block of the LoadBalancer pool was claimed: %s", key)
		}
	}
	mustCheck(t, m)
}

func TestAssignIPRefusesAddressesOfPoolsThatDoNotAllowWorkloads(t *testing.T) {
	_, m := usesCluster(t)
	tests := []struct {
		name, ip, wantErr string
	}{
		{"an address of the Workload pool can be taken", "10.1.0.2", ""},
		{"an address of a Manual pool can be taken: it is asked for", "10.4.0.9", ""},
		{"an address of the Tunnel-only pool is refused", "10.2.0.9",
			"assigning 10.2.0.9: its pool tun (10.2.0.0/24) cannot be used for workload addresses: its allowedUses are Tunnel"},
		{"an address of the LoadBalancer pool is refused", "10.3.0.9",
			"assigning 10.3.0.9: its pool lb (10.3.0.0/24) cannot be used for workload addresses: its allowedUses are LoadBalancer"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.AssignIP(ctx, net.ParseIP(tt.ip), "pod"+string(rune('a'+i)), nil, "node1")
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErr != "" && errors.Is(err, ErrAddressInUse) {
				t.Errorf("a refused address must not look taken: %v", err)
			}
		})
	}
	mustCheck(t, m)
}
