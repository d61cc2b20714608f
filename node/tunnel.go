package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/selector"
)

// TunnelHandle is the IPAM handle that holds a node's IPIP tunnel address.
func TunnelHandle(node string) string { return "ipip-tunnel-addr-" + node }

// VXLANTunnelHandle is the IPAM handle that holds a node's VXLAN tunnel address.
func VXLANTunnelHandle(node string) string { return "vxlan-tunnel-addr-" + node }

// encap is one encapsulation that may need a tunnel address on the node: which pools ask for it, which handle
// holds the address and which Node field stores it.
type encap struct {
	name     string // for logs and errors: IPIP, VXLAN
	attrType string // the IPAM "type" attribute, as Calico writes it
	handle   func(node string) string
	mode     func(*api.IPPool) string
	addr     func(*api.Node) string
	setAddr  func(*api.Node, string)
}

var (
	ipipEncap = encap{
		name:     "IPIP",
		attrType: "ipipTunnelAddress",
		handle:   TunnelHandle,
		mode:     func(p *api.IPPool) string { return p.Spec.IPIPMode },
		addr: func(n *api.Node) string {
			if n.Spec.BGP == nil {
				return ""
			}
			return n.Spec.BGP.IPv4IPIPTunnelAddr
		},
		setAddr: func(n *api.Node, a string) {
			if n.Spec.BGP == nil {
				if a == "" {
					return
				}
				n.Spec.BGP = &api.NodeBGPSpec{}
			}
			n.Spec.BGP.IPv4IPIPTunnelAddr = a
		},
	}
	vxlanEncap = encap{
		name:     "VXLAN",
		attrType: "vxlanTunnelAddress",
		handle:   VXLANTunnelHandle,
		mode:     func(p *api.IPPool) string { return p.Spec.VXLANMode },
		addr:     func(n *api.Node) string { return n.Spec.IPv4VXLANTunnelAddr },
		setAddr:  func(n *api.Node, a string) { n.Spec.IPv4VXLANTunnelAddr = a },
	}
	encaps = []encap{ipipEncap, vxlanEncap}
)

// tunnelChange is what one attempt did for one encapsulation: the address it allocated (to give back if the node
// write fails) and the addresses its handle held before (to give back once the node no longer names them).
type tunnelChange struct {
	e         encap
	was, next string
	allocated netip.Addr
	stale     []netip.Addr
}

// AllocateTunnelAddr makes the node's tunnel addresses right for the current pools, IPIP and VXLAN independently:
// Node.spec.bgp.ipv4IPIPTunnelAddr is an address from an enabled IPv4 IPIP pool that selects this node,
// spec.ipv4VXLANTunnelAddr one from such a VXLAN pool, each empty when no such pool exists. An address that is
// still valid is kept. With a VXLAN address the node also gets a VTEP MAC (spec.vxlanTunnelMACAddr), chosen once
// and kept; without one the MAC is cleared. Both fields are written in one compare-and-swap update; a replaced
// address is released only after the node stops naming it, and one allocated for a write that failed is released
// at once. felix gives tunl0 and vxlan.calico whatever this stores; m is the IPAM of ds.
func AllocateTunnelAddr(ctx context.Context, ds datastore.Client, m *ipam.IPAM, name string, log *slog.Logger) error {
	nodeKind, _ := api.LookupKind("Node")
	poolKind, _ := api.LookupKind("IPPool")
	for attempt := 0; attempt < 5; attempt++ {
		r, err := ds.Get(ctx, nodeKind, "", name)
		if err != nil {
			return fmt.Errorf("reading node %s: %w", name, err)
		}
		n := r.(*api.Node)
		pools, _, err := ds.List(ctx, poolKind, "")
		if err != nil {
			return fmt.Errorf("listing pools: %w", err)
		}
		var changes []*tunnelChange
		for _, e := range encaps {
			c, err := planTunnel(ctx, m, e, n, pools, log)
			if err != nil {
				giveBack(ctx, m, name, changes, log)
				return err
			}
			if c != nil {
				changes = append(changes, c)
				e.setAddr(n, c.next)
			}
		}
		mac, macChanged := vtepMAC(n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr)
		n.Spec.VXLANTunnelMACAddr = mac
		if len(changes) == 0 && !macChanged {
			return nil
		}
		if n.Spec.BGP != nil && *n.Spec.BGP == (api.NodeBGPSpec{}) {
			n.Spec.BGP = nil
		}
		if _, err := ds.Update(ctx, n); err != nil {
			giveBack(ctx, m, name, changes, log)
			if errors.Is(err, datastore.ErrConflict) {
				continue
			}
			return fmt.Errorf("writing the tunnel addresses of %s: %w", name, err)
		}
		var releaseErr error
		for _, c := range changes {
			for _, a := range c.stale {
				if _, err := m.ReleaseIfHeldBy(ctx, a, c.e.handle(name)); err != nil {
					releaseErr = errors.Join(releaseErr, fmt.Errorf("releasing the old %s tunnel address %s of %s: %w", c.e.name, a, name, err))
				}
			}
			switch {
			case c.next == "":
				log.Info("No "+c.e.name+" pool selects this node: removed the "+c.e.name+" tunnel address", "node", name, "was", c.was)
			case c.next != c.was:
				log.Info("Assigned the "+c.e.name+" tunnel address", "node", name, "address", c.next)
			}
		}
		if macChanged && mac != "" {
			log.Info("Chose the VXLAN tunnel MAC address", "node", name, "mac", mac)
		}
		return releaseErr
	}
	return fmt.Errorf("writing the tunnel addresses of %s: too many concurrent updates of the node", name)
}

// planTunnel decides one encapsulation's address for the node n: nil when the current one stays, else a change
// with the new address already allocated (or "" when no pool needs one).
func planTunnel(ctx context.Context, m *ipam.IPAM, e encap, n *api.Node, list []api.Resource, log *slog.Logger) (*tunnelChange, error) {
	pools, refused := tunnelPools(list, n.Labels, e.mode)
	if len(pools) == 0 && len(refused) > 0 {
		return nil, fmt.Errorf("no %s tunnel address for %s: %s pool(s) %s select the node but none allows %s use (spec.allowedUses)",
			e.name, n.Name, e.name, strings.Join(refused, ", "), api.IPPoolAllowedUseTunnel)
	}
	handle := e.handle(n.Name)
	current := e.addr(n)
	if current != "" && len(pools) > 0 && inAny(pools, current) && heldBy(ctx, m, current, handle) {
		log.Info("Keeping the "+e.name+" tunnel address", "node", n.Name, "address", current)
		return nil, nil
	}
	held, err := m.IPsByHandle(ctx, handle)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("reading the %s tunnel addresses held by %s: %w", e.name, handle, err)
	}
	c := &tunnelChange{e: e, was: current}
	for _, ip := range held {
		if a, ok := netip.AddrFromSlice(ip); ok {
			c.stale = append(c.stale, a.Unmap())
		}
	}
	if len(pools) == 0 {
		if current == "" && len(c.stale) == 0 {
			return nil, nil
		}
		return c, nil
	}
	var names []string
	for _, p := range pools {
		names = append(names, p.Name)
	}
	v4, _, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: n.Name, IPv4Pools: names,
		IntendedUse: api.IPPoolAllowedUseTunnel, Attrs: map[string]string{"node": n.Name, "type": e.attrType}})
	if err == nil && len(v4) == 0 {
		err = errors.New("IPAM returned no address")
	}
	if err != nil {
		for _, ip := range v4 { // what a failed assignment still handed out
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				_, _ = m.ReleaseIfHeldBy(ctx, a.Unmap(), handle)
			}
		}
		return nil, fmt.Errorf("allocating a %s tunnel address for %s: %w", e.name, n.Name, err)
	}
	a, _ := netip.AddrFromSlice(v4[0].IP)
	c.allocated = a.Unmap()
	c.next = c.allocated.String()
	return c, nil
}

// giveBack releases what the attempt allocated, for a node write that did not happen.
func giveBack(ctx context.Context, m *ipam.IPAM, node string, changes []*tunnelChange, log *slog.Logger) {
	for _, c := range changes {
		if !c.allocated.IsValid() {
			continue
		}
		if _, err := m.ReleaseIfHeldBy(ctx, c.allocated, c.e.handle(node)); err != nil {
			log.Warn("Could not release an unused "+c.e.name+" tunnel address", "node", node, "address", c.allocated.String(), "err", err)
		}
	}
}

// tunnelPools are the enabled IPv4 pools whose mode (as mode reads it) is Always or CrossSubnet, whose
// nodeSelector matches the node's labels and whose allowedUses hold Tunnel; refused names the pools that are
// otherwise such pools but do not allow Tunnel use.
func tunnelPools(list []api.Resource, labels map[string]string, mode func(*api.IPPool) string) (out []*api.IPPool, refused []string) {
	for _, r := range list {
		p := r.(*api.IPPool)
		if m := mode(p); p.Spec.Disabled || p.IsIPv6() || m == "" || m == api.EncapNever {
			continue
		}
		if sel, err := selector.Parse(p.Spec.NodeSelector); err != nil || !sel.Evaluate(labels) {
			continue
		}
		if !p.Allows(api.IPPoolAllowedUseTunnel) {
			refused = append(refused, p.Name)
			continue
		}
		out = append(out, p)
	}
	return out, refused
}

// vtepMAC is the VTEP MAC the node should have given its VXLAN address: none without an address, the current
// one when it is a valid unicast MAC, otherwise a new random locally administered one.
func vtepMAC(addr, current string) (mac string, changed bool) {
	if addr == "" {
		return "", current != ""
	}
	if hw, err := net.ParseMAC(current); err == nil && len(hw) == 6 && hw[0]&0x01 == 0 {
		return current, false
	}
	return randomMAC().String(), true
}

// randomMAC is a random locally administered (bit 0x02 set) unicast (bit 0x01 clear) MAC address.
func randomMAC() net.HardwareAddr {
	hw := make(net.HardwareAddr, 6)
	_, _ = rand.Read(hw)
	hw[0] = hw[0]&^0x01 | 0x02
	return hw
}

func inAny(pools []*api.IPPool, addr string) bool {
	ip := net.ParseIP(addr)
	for _, p := range pools {
		if _, n, err := net.ParseCIDR(p.Spec.CIDR); err == nil && ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

func heldBy(ctx context.Context, m *ipam.IPAM, addr, handle string) bool {
	h, _, err := m.GetAssignmentAttributes(ctx, net.ParseIP(addr))
	return err == nil && h == handle
}
