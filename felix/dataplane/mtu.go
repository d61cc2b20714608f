package dataplane

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// HostMTU returns the MTU of the interface that holds addr (the node's own address), the interface encapsulated
// traffic leaves by. It returns 0 and no error when no interface holds addr.
func (d *Dataplane) HostMTU(addr netip.Addr) (int, error) {
	if !addr.IsValid() {
		return 0, nil
	}
	family := netlink.FAMILY_V4
	if addr.Is6() {
		family = netlink.FAMILY_V6
	}
	var addrs []netlink.Addr
	if err := retryDump(func() (err error) { addrs, err = d.nl.AddrList(nil, family); return err }); err != nil {
		return 0, fmt.Errorf("listing addresses to find the interface of %s: %w", addr, err)
	}
	for _, a := range addrs {
		if p, ok := ipNetToPrefix(a.IPNet); ok && p.Addr() == addr {
			link, err := d.nl.LinkByIndex(a.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("finding the interface of %s: %w", addr, err)
			}
			return link.Attrs().MTU, nil
		}
	}
	return 0, nil
}
