package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
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

func TestVTEPMACIsChosenOnceAndClearedWithTheAddress(t *testing.T) {
	cases := []struct {
		name, addr, current string
		want                string // "" none, "keep" the current one, "new" a freshly chosen one
		changed             bool
	}{
		{"no VXLAN address and no MAC: nothing", "", "", "", false},
		{"no VXLAN address any more: the MAC goes too", "", "66:a3:1b:0c:5e:01", "", true},
		{"an address and no MAC: a new MAC", "10.3.0.1", "", "new", true},
		{"an address and a valid MAC: kept", "10.3.0.1", "66:a3:1b:0c:5e:01", "keep", false},
		{"a universally administered unicast MAC is kept too", "10.3.0.1", "00:16:3e:0c:5e:01", "keep", false},
		{"a multicast MAC cannot be a VTEP: replaced", "10.3.0.1", "01:00:5e:00:00:01", "new", true},
		{"garbage: replaced", "10.3.0.1", "not-a-mac", "new", true},
		{"an EUI-64 is not an Ethernet MAC: replaced", "10.3.0.1", "02:00:5e:10:00:00:00:01", "new", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, changed := vtepMAC(c.addr, c.current)
			if changed != c.changed {
				t.Errorf("changed: got %t, want %t", changed, c.changed)
			}
			switch c.want {
			case "":
				if got != "" {
					t.Errorf("got %q, want no MAC", got)
				}
			case "keep":
				if got != c.current {
					t.Errorf("got %q, want the current %q kept", got, c.current)
				}
			case "new":
				checkVTEPMAC(t, got)
			}
		})
	}
}

func TestRandomMACsAreLocallyAdministeredUnicast(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		mac := randomMAC().String()
		checkVTEPMAC(t, mac)
		seen[mac] = true
	}
	if len(seen) < 190 {
		t.Errorf("200 random MACs gave only %d distinct ones", len(seen))
	}
}

func checkVTEPMAC(t *testing.T, mac string) {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || hw[0]&0x02 == 0 || hw[0]&0x01 != 0 {
		t.Errorf("MAC %q should be a 6-byte locally administered (0x02 set) unicast (0x01 clear) address (%v)", mac, err)
	}
}

func TestTunnelPoolsPicksEnabledIPv4PoolsOfTheEncapsulationThatSelectTheNode(t *testing.T) {
	pool := func(name, cidr, ipip, vxlan, sel string, disabled bool) api.Resource {
		p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: ipip, VXLANMode: vxlan,
			NodeSelector: sel, Disabled: disabled}}
		p.Default()
		return p
	}
	list := []api.Resource{
		pool("plain", "10.1.0.0/16", "", "", "", false),
		pool("ipip", "10.2.0.0/16", "Always", "", "", false),
		pool("ipip-cross", "10.3.0.0/16", "CrossSubnet", "Never", "", false),
		pool("vxlan", "10.4.0.0/16", "", "Always", "", false),
		pool("vxlan-cross", "10.5.0.0/16", "Never", "CrossSubnet", "", false),
		pool("vxlan-disabled", "10.6.0.0/16", "", "Always", "", true),
		pool("vxlan-v6", "fd00:1::/48", "", "Always", "", false),
		pool("vxlan-rack1", "10.7.0.0/16", "", "Always", `rack == "r1"`, false),
		pool("vxlan-bad-selector", "10.8.0.0/16", "", "Always", `rack ==`, false),
	}
	workloadOnly := pool("ipip-workload-only", "10.9.0.0/16", "Always", "", "", false)
	workloadOnly.(*api.IPPool).Spec.AllowedUses = []string{api.IPPoolAllowedUseWorkload}
	tunnelOnly := pool("vxlan-tunnel-only", "10.10.0.0/16", "", "Always", "", false)
	tunnelOnly.(*api.IPPool).Spec.AllowedUses = []string{api.IPPoolAllowedUseTunnel}
	list = append(list, workloadOnly, tunnelOnly)
	cases := []struct {
		name        string
		e           encap
		labels      map[string]string
		want        []string
		wantRefused []string
	}{
		{"IPIP pools in either mode that allow Tunnel use", ipipEncap, nil, []string{"ipip", "ipip-cross"}, []string{"ipip-workload-only"}},
		{"VXLAN pools in either mode, enabled and IPv4 only", vxlanEncap, nil, []string{"vxlan", "vxlan-cross", "vxlan-tunnel-only"}, nil},
		{"a VXLAN pool whose selector picks the node", vxlanEncap, map[string]string{"rack": "r1"},
			[]string{"vxlan", "vxlan-cross", "vxlan-rack1", "vxlan-tunnel-only"}, nil},
		{"not a VXLAN pool whose selector excludes the node", vxlanEncap, map[string]string{"rack": "r2"},
			[]string{"vxlan", "vxlan-cross", "vxlan-tunnel-only"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pools, refused := tunnelPools(list, c.labels, c.e.mode)
			var got []string
			for _, p := range pools {
				got = append(got, p.Name)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("got %v, want %v", got, c.want)
			}
			if strings.Join(refused, ",") != strings.Join(c.wantRefused, ",") {
				t.Errorf("refused %v, want %v", refused, c.wantRefused)
			}
		})
	}
}

// tunnelNode is a node registered by startup with no pools, for the allocation tests below.
func tunnelNode(t *testing.T, labels map[string]string) *harness {
	t.Helper()
	h := newHarness(t)
	if _, err := h.run("NODENAME", "n1", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"); err != nil {
		t.Fatal(err)
	}
	if labels != nil {
		n := h.get("Node", "n1").(*api.Node)
		n.Labels = labels
		if _, err := h.ds.Update(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *harness) pool(name, cidr, ipip, vxlan, sel string) {
	h.t.Helper()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: ipip, VXLANMode: vxlan, NodeSelector: sel}}
	p.Default()
	if _, err := h.ds.Create(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) allocate(ds datastore.Client) error {
	return AllocateTunnelAddr(context.Background(), ds, ipam.New(h.ds), "n1", slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
}

func (h *harness) node() *api.Node { return h.get("Node", "n1").(*api.Node) }

// held lists what a handle holds.
func (h *harness) held(handle string) []string {
	ips, _ := ipam.New(h.ds).IPsByHandle(context.Background(), handle)
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func inCIDR(addr, cidr string) bool {
	_, n, _ := net.ParseCIDR(cidr)
	return n.Contains(net.ParseIP(addr))
}

func TestVXLANPoolGivesTheNodeAnAddressAndAMACKeptAcrossRestartsAndClearedWithThePool(t *testing.T) {
	h := tunnelNode(t, nil)
	ctx := context.Background()
	h.pool("vxlan", "10.4.0.0/16", "", "Always", "")
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n := h.node()
	addr, mac := n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr
	if !inCIDR(addr, "10.4.0.0/16") {
		t.Fatalf("VXLAN tunnel address %q should come from the VXLAN pool", addr)
	}
	checkVTEPMAC(t, mac)
	if n.Spec.BGP != nil && n.Spec.BGP.IPv4IPIPTunnelAddr != "" {
		t.Errorf("no IPIP pool, yet an IPIP tunnel address %q", n.Spec.BGP.IPv4IPIPTunnelAddr)
	}
	handle, attrs, err := ipam.New(h.ds).GetAssignmentAttributes(ctx, net.ParseIP(addr))
	if err != nil || handle != VXLANTunnelHandle("n1") || attrs["type"] != "vxlanTunnelAddress" || attrs["node"] != "n1" {
		t.Errorf("the address should be held by %s with type vxlanTunnelAddress, got %q %v (%v)", VXLANTunnelHandle("n1"), handle, attrs, err)
	}
	blocks, _ := ipam.New(h.ds).Blocks(ctx)
	for _, b := range blocks {
		if b.CIDR.Contains(netip.MustParseAddr(addr)) && b.Host != "n1" {
			t.Errorf("the address should come from a block affine to n1, its block %s is affine to %q", b.CIDR, b.Host)
		}
	}

	// A restart keeps both, and the node's resource version shows nothing was written.
	rev := n.ResourceVersion
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	if n := h.node(); n.Spec.IPv4VXLANTunnelAddr != addr || n.Spec.VXLANTunnelMACAddr != mac || n.ResourceVersion != rev {
		t.Errorf("a second run should keep %s and %s untouched, got %s and %s (version %s, was %s)", addr, mac,
			n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr, n.ResourceVersion, rev)
	}

	// The pool goes: the address and the MAC go, and the address is back in IPAM.
	k, _ := api.LookupKind("IPPool")
	if _, err := h.ds.Delete(ctx, k, "", "vxlan", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	if n := h.node(); n.Spec.IPv4VXLANTunnelAddr != "" || n.Spec.VXLANTunnelMACAddr != "" {
		t.Errorf("after the VXLAN pool went: address %q and MAC %q, want neither", n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr)
	}
	if held := h.held(VXLANTunnelHandle("n1")); len(held) != 0 {
		t.Errorf("the VXLAN handle should hold nothing, holds %v", held)
	}
}

func TestAMissingMACIsChosenForAKeptVXLANAddress(t *testing.T) {
	h := tunnelNode(t, nil)
	h.pool("vxlan", "10.4.0.0/16", "", "Always", "")
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n := h.node()
	addr := n.Spec.IPv4VXLANTunnelAddr
	n.Spec.VXLANTunnelMACAddr = ""
	if _, err := h.ds.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n = h.node()
	if n.Spec.IPv4VXLANTunnelAddr != addr {
		t.Errorf("the address should be kept: got %s, want %s", n.Spec.IPv4VXLANTunnelAddr, addr)
	}
	checkVTEPMAC(t, n.Spec.VXLANTunnelMACAddr)
}

func TestIPIPAndVXLANPoolsTogetherGiveOneAddressFromEach(t *testing.T) {
	h := tunnelNode(t, nil)
	h.pool("ipip", "10.2.0.0/16", "CrossSubnet", "", "")
	h.pool("vxlan", "10.4.0.0/16", "", "CrossSubnet", "")
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n := h.node()
	if n.Spec.BGP == nil || !inCIDR(n.Spec.BGP.IPv4IPIPTunnelAddr, "10.2.0.0/16") {
		t.Errorf("the IPIP tunnel address should come from the IPIP pool, got %+v", n.Spec.BGP)
	}
	if !inCIDR(n.Spec.IPv4VXLANTunnelAddr, "10.4.0.0/16") {
		t.Errorf("the VXLAN tunnel address %q should come from the VXLAN pool", n.Spec.IPv4VXLANTunnelAddr)
	}
	checkVTEPMAC(t, n.Spec.VXLANTunnelMACAddr)
	if n.Spec.BGP == nil || n.Spec.BGP.IPv4Address != "10.0.0.5/24" {
		t.Errorf("the node's BGP address must survive the tunnel update, got %+v", n.Spec.BGP)
	}
	// Taking the VXLAN pool away leaves the IPIP address alone.
	ipipAddr := n.Spec.BGP.IPv4IPIPTunnelAddr
	k, _ := api.LookupKind("IPPool")
	if _, err := h.ds.Delete(context.Background(), k, "", "vxlan", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n = h.node()
	if n.Spec.BGP.IPv4IPIPTunnelAddr != ipipAddr || n.Spec.IPv4VXLANTunnelAddr != "" || n.Spec.VXLANTunnelMACAddr != "" {
		t.Errorf("want IPIP %s kept and no VXLAN address or MAC, got %q, %q, %q", ipipAddr,
			n.Spec.BGP.IPv4IPIPTunnelAddr, n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr)
	}
	if held := h.held(TunnelHandle("n1")); len(held) != 1 || held[0] != ipipAddr {
		t.Errorf("the IPIP handle should hold just %s, holds %v", ipipAddr, held)
	}
}

func TestAVXLANPoolWhoseSelectorExcludesTheNodeGivesNoAddress(t *testing.T) {
	h := tunnelNode(t, map[string]string{"rack": "r2"})
	h.pool("vxlan-rack1", "10.4.0.0/16", "", "Always", `rack == "r1"`)
	h.pool("ipip-rack1", "10.2.0.0/16", "Always", "", `rack == "r1"`)
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	n := h.node()
	if n.Spec.IPv4VXLANTunnelAddr != "" || n.Spec.VXLANTunnelMACAddr != "" || (n.Spec.BGP != nil && n.Spec.BGP.IPv4IPIPTunnelAddr != "") {
		t.Errorf("no pool selects the node, yet it got %+v", n.Spec)
	}
	if held := append(h.held(VXLANTunnelHandle("n1")), h.held(TunnelHandle("n1"))...); len(held) != 0 {
		t.Errorf("nothing should be allocated, the handles hold %v", held)
	}
}

// failingUpdates is a datastore whose Node updates fail with the given errors, in order, before going through.
type failingUpdates struct {
	datastore.Client
	errs []error
}

func (f *failingUpdates) Update(ctx context.Context, r api.Resource) (api.Resource, error) {
	if _, ok := r.(*api.Node); ok && len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return f.Client.Update(ctx, r)
}

func TestAFailedNodeWriteReleasesWhatItAllocated(t *testing.T) {
	cases := []struct {
		name    string
		errs    []error
		wantErr bool
	}{
		{"a write that fails outright leaves nothing allocated", []error{errors.New("etcd is on fire")}, true},
		{"a conflict is retried and leaves one address per handle", []error{datastore.ErrConflict, datastore.ErrConflict}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := tunnelNode(t, nil)
			h.pool("ipip", "10.2.0.0/16", "Always", "", "")
			h.pool("vxlan", "10.4.0.0/16", "", "Always", "")
			err := h.allocate(&failingUpdates{Client: h.ds, errs: c.errs})
			if (err != nil) != c.wantErr {
				t.Fatalf("got error %v, want an error: %t", err, c.wantErr)
			}
			n := h.node()
			ipipHeld, vxlanHeld := h.held(TunnelHandle("n1")), h.held(VXLANTunnelHandle("n1"))
			if c.wantErr {
				if len(ipipHeld)+len(vxlanHeld) != 0 || n.Spec.IPv4VXLANTunnelAddr != "" {
					t.Errorf("after a failed write nothing should be held, got IPIP %v, VXLAN %v, node %+v", ipipHeld, vxlanHeld, n.Spec)
				}
				return
			}
			if len(ipipHeld) != 1 || ipipHeld[0] != n.Spec.BGP.IPv4IPIPTunnelAddr || len(vxlanHeld) != 1 || vxlanHeld[0] != n.Spec.IPv4VXLANTunnelAddr {
				t.Errorf("each handle should hold exactly the node's address: IPIP %v (node %s), VXLAN %v (node %s)",
					ipipHeld, n.Spec.BGP.IPv4IPIPTunnelAddr, vxlanHeld, n.Spec.IPv4VXLANTunnelAddr)
			}
		})
	}
}

func TestAFailedWriteDoesNotReleaseAKeptAddress(t *testing.T) {
	h := tunnelNode(t, nil)
	h.pool("ipip", "10.2.0.0/16", "Always", "", "")
	if err := h.allocate(h.ds); err != nil {
		t.Fatal(err)
	}
	ipipAddr := h.node().Spec.BGP.IPv4IPIPTunnelAddr
	h.pool("vxlan", "10.4.0.0/16", "", "Always", "")
	if err := h.allocate(&failingUpdates{Client: h.ds, errs: []error{errors.New("etcd is on fire")}}); err == nil {
		t.Fatal("want the write's error")
	}
	if held := h.held(TunnelHandle("n1")); len(held) != 1 || held[0] != ipipAddr {
		t.Errorf("the kept IPIP address %s must stay held, the handle holds %v", ipipAddr, held)
	}
	if held := h.held(VXLANTunnelHandle("n1")); len(held) != 0 {
		t.Errorf("the VXLAN address of the failed write should be released, the handle holds %v", held)
	}
}
