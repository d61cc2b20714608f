package node

import (
	"context"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
)

// usesPool creates an IPIP pool allowed only the given uses.
func (h *harness) usesPool(name, cidr string, uses ...string) {
	h.t.Helper()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: api.EncapAlways, AllowedUses: uses}}
	p.Default()
	if err := p.Validate(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.ds.Create(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

func TestTunnelAddressesComeOnlyFromPoolsThatAllowTunnels(t *testing.T) {
	h := tunnelNode(t, nil)
	ctx := context.Background()
	h.usesPool("workloads", "10.5.0.0/16", api.IPPoolAllowedUseWorkload)
	h.usesPool("tunnels", "10.6.0.0/16", api.IPPoolAllowedUseTunnel)
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	if addr := h.node().Spec.BGP.IPv4IPIPTunnelAddr; !inCIDR(addr, "10.6.0.0/16") {
		t.Errorf("IPIP tunnel address %q: want one from the Tunnel-only pool 10.6.0.0/16", addr)
	}
	v4, _, err := ipam.New(h.ds).AutoAssign(ctx, ipam.AssignArgs{Num4: 8, HandleID: "pod1", Host: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v4 {
		if !inCIDR(n.IP.String(), "10.5.0.0/16") {
			t.Errorf("workload address %s: want addresses from the Workload-only pool 10.5.0.0/16 only", n.IP)
		}
	}
}

func TestAnIPIPPoolThatAllowsNoTunnelsGivesAClearError(t *testing.T) {
	h := tunnelNode(t, nil)
	h.usesPool("workloads", "10.5.0.0/16", api.IPPoolAllowedUseWorkload)
	err := h.allocate(h.ds)
	want := "no IPIP tunnel address for n1: IPIP pool(s) workloads select the node but none allows Tunnel use (spec.allowedUses)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if n := h.node(); n.Spec.BGP != nil && n.Spec.BGP.IPv4IPIPTunnelAddr != "" {
		t.Errorf("no pool allows tunnels, yet the node got %q", n.Spec.BGP.IPv4IPIPTunnelAddr)
	}
	if held := h.held(TunnelHandle("n1")); len(held) != 0 {
		t.Errorf("the tunnel handle should hold nothing, holds %v", held)
	}
}
