package node

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
)

func TestTunnelAddressFollowsTheIPIPPools(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	if _, err := h.run("NODENAME", "n1", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"); err != nil {
		t.Fatal(err)
	}
	tunnel := func() string {
		n := h.get("Node", "n1").(*api.Node)
		return n.Spec.BGP.IPv4IPIPTunnelAddr
	}
	// No pool with IPIP: no address.
	plain := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "plain"}, Spec: api.IPPoolSpec{CIDR: "10.1.0.0/16"}}
	plain.Default()
	if _, err := h.ds.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := AllocateTunnelAddr(ctx, h.ds, ipam.New(h.ds), "n1", log); err != nil || tunnel() != "" {
		t.Fatalf("without an IPIP pool: address %q, err %v", tunnel(), err)
	}
	// An IPIP pool: an address from it, held by the node's tunnel handle, kept on the next run.
	ipip := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "ipip"}, Spec: api.IPPoolSpec{CIDR: "10.2.0.0/16", IPIPMode: "Always"}}
	ipip.Default()
	if _, err := h.ds.Create(ctx, ipip); err != nil {
		t.Fatal(err)
	}
	if err := AllocateTunnelAddr(ctx, h.ds, ipam.New(h.ds), "n1", log); err != nil {
		t.Fatal(err)
	}
	first := tunnel()
	if _, n, _ := net.ParseCIDR("10.2.0.0/16"); !n.Contains(net.ParseIP(first)) {
		t.Fatalf("tunnel address %q should come from the IPIP pool", first)
	}
	handle, _, err := ipam.New(h.ds).GetAssignmentAttributes(ctx, net.ParseIP(first))
	if err != nil || handle != TunnelHandle("n1") {
		t.Errorf("the address should be held by %s, got %q (%v)", TunnelHandle("n1"), handle, err)
	}
	if err := AllocateTunnelAddr(ctx, h.ds, ipam.New(h.ds), "n1", log); err != nil || tunnel() != first {
		t.Errorf("a second run should keep %s, got %s (%v)", first, tunnel(), err)
	}
	// IPIP turned off: the address goes back to the pool.
	k, _ := api.LookupKind("IPPool")
	if _, err := h.ds.Delete(ctx, k, "", "ipip", ""); err != nil {
		t.Fatal(err)
	}
	if err := AllocateTunnelAddr(ctx, h.ds, ipam.New(h.ds), "n1", log); err != nil || tunnel() != "" {
		t.Fatalf("after the IPIP pool went: address %q, err %v", tunnel(), err)
	}
	if ips, _ := ipam.New(h.ds).IPsByHandle(ctx, TunnelHandle("n1")); len(ips) != 0 {
		t.Errorf("the handle should hold nothing, holds %v", ips)
	}
}
