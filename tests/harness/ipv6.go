package harness

import (
	"fmt"
	"net/netip"
)

// Subnet6 is the cluster's IPv6 link subnet, a ULA /64 named after the cluster: fd00:<cluster id>::/64.
func (c *Cluster) Subnet6() netip.Prefix {
	return netip.MustParsePrefix("fd00:" + c.ID + "::/64")
}

// IP6 is the machine's IPv6 address on eth0 once EnableIPv6 has run. Its last group repeats the last octet of the
// IPv4 address in decimal digits, so that host1 (.11) is fd00:<id>::11 and the external router (.254) fd00:<id>::254.
func (h *Host) IP6() netip.Addr {
	s := h.c.Subnet6().Addr().String() // "fd00:<id>::"
	return netip.MustParseAddr(fmt.Sprintf("%s%d", s, h.IP.As4()[3]))
}

// EnableIPv6 makes the cluster dual-stack: the external router and every host get their IP6 on eth0 (without
// duplicate address detection, so the address is usable at once, as BIRD needs for its source address), the
// router forwards IPv6, and each host's IPv6 default route points at the router (unless the cluster has
// NoDefaultRoute). Call it after the last AddHost.
func (c *Cluster) EnableIPv6() error {
	machines := append([]*Host{c.External}, c.Hosts...)
	for _, h := range machines {
		steps := [][]string{
			{"ip", "netns", "exec", h.NetNS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.eth0.disable_ipv6=0"},
			{"ip", "-n", h.NetNS, "-6", "addr", "add", netip.PrefixFrom(h.IP6(), 64).String(), "dev", "eth0", "nodad"},
		}
		if h == c.External {
			steps = append(steps, []string{"ip", "netns", "exec", h.NetNS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"})
		} else if !c.noDefault {
			steps = append(steps, []string{"ip", "-n", h.NetNS, "-6", "route", "add", "default", "via", c.External.IP6().String(), "dev", "eth0"})
		}
		for _, s := range steps {
			if err := run(s...); err != nil {
				return fmt.Errorf("enabling IPv6 on %s: %w", h.Name, err)
			}
		}
	}
	return nil
}
