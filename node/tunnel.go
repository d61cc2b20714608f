package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/selector"
)

// TunnelHandle is the IPAM handle that holds a node's IPIP tunnel address.
func TunnelHandle(node string) string { return "ipip-tunnel-addr-" + node }

// AllocateTunnelAddr makes Node.spec.bgp.ipv4IPIPTunnelAddr right for the current pools: an address from an
// enabled IPIP pool that selects this node when there is one, nothing otherwise. An address that is still valid is
// kept. felix gives tunl0 whatever address this stores; m is the IPAM of ds.
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
		ipipPools := tunnelPools(pools, n.Labels)
		current := ""
		if n.Spec.BGP != nil {
			current = n.Spec.BGP.IPv4IPIPTunnelAddr
		}
		if current != "" && len(ipipPools) > 0 && inAny(ipipPools, current) && heldBy(ctx, m, current, TunnelHandle(name)) {
			log.Info("Keeping the IPIP tunnel address", "node", name, "address", current)
			return nil
		}
		// The address is missing, stale or no longer needed: give back whatever the handle holds.
		if err := m.ReleaseByHandle(ctx, TunnelHandle(name)); err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return fmt.Errorf("releasing the old tunnel address of %s: %w", name, err)
		}
		next := ""
		if len(ipipPools) > 0 {
			var names []string
			for _, p := range ipipPools {
				names = append(names, p.Name)
			}
			v4, _, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: TunnelHandle(name), Host: name, IPv4Pools: names,
				Attrs: map[string]string{"node": name, "type": "ipipTunnelAddress"}})
			if err != nil {
				_ = m.ReleaseByHandle(ctx, TunnelHandle(name))
				return fmt.Errorf("allocating an IPIP tunnel address for %s: %w", name, err)
			}
			next = v4[0].IP.String()
		}
		if next == current {
			return nil
		}
		if n.Spec.BGP == nil {
			n.Spec.BGP = &api.NodeBGPSpec{}
		}
		n.Spec.BGP.IPv4IPIPTunnelAddr = next
		if _, err := ds.Update(ctx, n); err != nil {
			_ = m.ReleaseByHandle(ctx, TunnelHandle(name))
			if errors.Is(err, datastore.ErrConflict) {
				continue
			}
			return fmt.Errorf("writing the tunnel address of %s: %w", name, err)
		}
		if next == "" {
			log.Info("No IPIP pool: removed the IPIP tunnel address", "node", name, "was", current)
		} else {
			log.Info("Assigned the IPIP tunnel address", "node", name, "address", next)
		}
		return nil
	}
	return fmt.Errorf("writing the tunnel address of %s: too many concurrent updates of the node", name)
}

// tunnelPools are the enabled IPv4 pools with IPIP on whose nodeSelector matches the node's labels.
func tunnelPools(list []api.Resource, labels map[string]string) []*api.IPPool {
	var out []*api.IPPool
	for _, r := range list {
		p := r.(*api.IPPool)
		if p.Spec.Disabled || p.IsIPv6() || p.Spec.IPIPMode == "" || p.Spec.IPIPMode == api.EncapNever {
			continue
		}
		if sel, err := selector.Parse(p.Spec.NodeSelector); err != nil || !sel.Evaluate(labels) {
			continue
		}
		out = append(out, p)
	}
	return out
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
