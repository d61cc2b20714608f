package dataplane

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// InterfaceAddrs returns every address of the host's interfaces with the interface that holds it.
func (d *Dataplane) InterfaceAddrs() (map[netip.Addr]string, error) {
	var addrs []netlink.Addr
	if err := retryDump(func() (err error) { addrs, err = d.nl.AddrList(nil, netlink.FAMILY_ALL); return err }); err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	links, err := d.linkNames()
	if err != nil {
		return nil, err
	}
	byIndex := make(map[int]string, len(links))
	for name, l := range links {
		byIndex[l.index] = name
	}
	out := map[netip.Addr]string{}
	for _, a := range addrs {
		p, ok := ipNetToPrefix(a.IPNet)
		if !ok {
			continue
		}
		name := byIndex[a.LinkIndex]
		if name == "" {
			link, err := d.nl.LinkByIndex(a.LinkIndex)
			if err != nil {
				continue // gone meanwhile
			}
			name = link.Attrs().Name
		}
		out[p.Addr()] = name
	}
	return out, nil
}
