package dataplane

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/calico-l3/calico/felix/desired"
)

// DefaultVXLANName is the VXLAN device felix manages when the desired state names none, and the one it deletes
// when no VXLAN is wanted.
const DefaultVXLANName = "vxlan.calico"

// defaultVXLANPort is the IANA VXLAN port. A port of 0 means this one, not the kernel's default (8472, from
// before IANA assigned one), which no other node would expect.
const defaultVXLANPort = 4789

// vxlanObs is what felix sees of the VXLAN device and the entries on it.
type vxlanObs struct {
	Exists      bool
	IsVXLAN     bool // false: a device of another type holds the name
	VNI, Port   int
	Local       netip.Addr // the outer source address; invalid when none is set
	ParentIndex int        // the interface the device sends through; 0 when none is set
	Learning    bool
	MTU         int
	MAC         string // as net.HardwareAddr prints it
	Up          bool   // administratively up
	Addrs       []netip.Prefix
	Neighs      []vxlanNeigh // IPv4 neighbour entries
	FDB         []vxlanFDB   // forwarding database entries
}

// vxlanNeigh is a neighbour entry: another node's tunnel address and its VTEP MAC.
type vxlanNeigh struct {
	IP        netip.Addr
	MAC       string
	Permanent bool
}

func (n vxlanNeigh) String() string { return n.IP.String() + " lladdr " + n.MAC }

// vxlanFDB is a forwarding database entry: a VTEP MAC and the host address its frames are sent to.
type vxlanFDB struct {
	MAC       string
	Dst       netip.Addr
	Permanent bool
}

func (f vxlanFDB) String() string { return f.MAC + " dst " + f.Dst.String() }

// vxlanPlan is what it takes to make the VXLAN device match. Delete comes first, then Create; a created device
// has no addresses or entries, so the rest of the plan adds all of them.
type vxlanPlan struct {
	Delete   bool
	Why      string // why the device is deleted, for the log
	Create   bool
	MTU      int    // 0: leave the MTU alone
	MAC      string // "": leave the MAC alone
	Up       bool
	AddAddr  netip.Prefix // invalid: add nothing
	DelAddrs []netip.Prefix
	// Entries are deleted before they are set, so a VTEP whose host address changed loses its old FDB entry
	// before the new one is written.
	DelNeighs []vxlanNeigh
	DelFDB    []vxlanFDB
	SetNeighs []vxlanNeigh
	SetFDB    []vxlanFDB
	Skipped   []desired.VTEP // VTEPs that cannot be programmed: an address or MAC is missing or invalid
}

func (p vxlanPlan) empty() bool {
	return !p.Delete && !p.Create && p.MTU == 0 && p.MAC == "" && !p.Up && !p.AddAddr.IsValid() &&
		len(p.DelAddrs)+len(p.DelNeighs)+len(p.DelFDB)+len(p.SetNeighs)+len(p.SetFDB) == 0
}

// planVXLAN compares the VXLAN device with the desired one. parentIndex is the interface that holds
// want.LocalAddr, 0 when unknown (it is then not compared).
//
// Without a desired device an existing one is deleted: unlike tunl0 it belongs to felix alone. With one, the
// device is recreated when it is of another type or a setting the kernel cannot change in place (VNI, port, local
// address, parent interface, learning) differs; otherwise its MTU and MAC are set where they differ, it is set
// up and made to carry exactly the desired /32. Each valid VTEP gets a permanent neighbour entry (tunnel address →
// MAC) and a permanent FDB entry (MAC → host address); every other permanent entry is deleted, including an
// all-zero FDB entry (a default destination, which the kernel never lists on a device created without one, as
// felix creates it). Entries that are not permanent are the kernel's and left to it.
func planVXLAN(have vxlanObs, want *desired.VXLAN, parentIndex int) (vxlanPlan, error) {
	var p vxlanPlan
	if want == nil {
		if have.Exists {
			p.Delete, p.Why = true, "not wanted"
		}
		return p, nil
	}
	wantMAC := ""
	if want.MAC != "" {
		mac, err := net.ParseMAC(want.MAC)
		if err != nil || len(mac) != 6 {
			return p, fmt.Errorf("VXLAN device %s: invalid MAC %q", vxlanName(want), want.MAC)
		}
		wantMAC = mac.String()
	}
	port := cmp.Or(want.Port, defaultVXLANPort)
	switch {
	case !have.Exists:
		p.Create = true
	case !have.IsVXLAN:
		p.Why = "not a VXLAN device"
	case have.VNI != want.VNI:
		p.Why = fmt.Sprintf("VNI %d, want %d", have.VNI, want.VNI)
	case have.Port != port:
		p.Why = fmt.Sprintf("port %d, want %d", have.Port, port)
	case have.Local != want.LocalAddr:
		p.Why = fmt.Sprintf("local address %s, want %s", have.Local, want.LocalAddr)
	case parentIndex != 0 && have.ParentIndex != parentIndex:
		p.Why = fmt.Sprintf("parent interface %d, want %d", have.ParentIndex, parentIndex)
	case have.Learning:
		p.Why = "learning on"
	}
	if p.Why != "" {
		p.Delete, p.Create = true, true
	}
	if p.Create {
		have = vxlanObs{} // what is left of the old device goes with it
	}

	if want.MTU > 0 && want.MTU != have.MTU {
		p.MTU = want.MTU
	}
	if wantMAC != "" && wantMAC != have.MAC {
		p.MAC = wantMAC
		have.Neighs = nil // the kernel flushes a device's neighbour entries, permanent ones too, when its MAC changes
	}
	p.Up = !have.Up
	addr := want.Address
	if !addr.Is4() {
		addr = netip.Addr{} // an IPv4 device address only
	}
	p.DelAddrs, p.AddAddr = planDeviceAddr(have.Addrs, addr)

	neighs := map[netip.Addr]string{} // tunnel address → MAC
	fdb := map[string]netip.Addr{}    // MAC → host address
	for _, v := range want.VTEPs {
		mac, err := net.ParseMAC(v.MAC)
		if err != nil || len(mac) != 6 || !v.TunnelAddr.Is4() || !v.HostAddr.Is4() {
			p.Skipped = append(p.Skipped, v)
			continue
		}
		_, dupAddr := neighs[v.TunnelAddr]
		_, dupMAC := fdb[mac.String()]
		if dupAddr || dupMAC {
			p.Skipped = append(p.Skipped, v) // the first VTEP with an address or MAC keeps it
			continue
		}
		neighs[v.TunnelAddr] = mac.String()
		fdb[mac.String()] = v.HostAddr
	}
	haveNeigh := map[netip.Addr]bool{}
	for _, n := range have.Neighs {
		if !n.Permanent {
			continue
		}
		if neighs[n.IP] == n.MAC {
			haveNeigh[n.IP] = true
		} else if _, wanted := neighs[n.IP]; !wanted {
			p.DelNeighs = append(p.DelNeighs, vxlanNeigh{IP: n.IP, MAC: n.MAC, Permanent: true})
		} // a wanted address with another MAC is replaced in place
	}
	haveFDB := map[string]bool{}
	for _, f := range have.FDB {
		if !f.Permanent {
			continue
		}
		if dst, ok := fdb[f.MAC]; ok && dst == f.Dst {
			haveFDB[f.MAC] = true
		} else {
			p.DelFDB = append(p.DelFDB, vxlanFDB{MAC: f.MAC, Dst: f.Dst, Permanent: true})
		}
	}
	for ip, mac := range neighs {
		if !haveNeigh[ip] {
			p.SetNeighs = append(p.SetNeighs, vxlanNeigh{IP: ip, MAC: mac, Permanent: true})
		}
	}
	for mac, dst := range fdb {
		if !haveFDB[mac] {
			p.SetFDB = append(p.SetFDB, vxlanFDB{MAC: mac, Dst: dst, Permanent: true})
		}
	}
	byNeigh := func(a, b vxlanNeigh) int { return a.IP.Compare(b.IP) }
	byFDB := func(a, b vxlanFDB) int { return cmp.Or(cmp.Compare(a.MAC, b.MAC), a.Dst.Compare(b.Dst)) }
	slices.SortFunc(p.SetNeighs, byNeigh)
	slices.SortFunc(p.DelNeighs, byNeigh)
	slices.SortFunc(p.SetFDB, byFDB)
	slices.SortFunc(p.DelFDB, byFDB)
	return p, nil
}

func vxlanName(want *desired.VXLAN) string {
	if want != nil && want.Name != "" {
		return want.Name
	}
	return DefaultVXLANName
}

// --- the kernel edge

// syncVXLAN makes the VXLAN device and its entries match (see planVXLAN).
func (d *Dataplane) syncVXLAN(want *desired.VXLAN, rep *Report) error {
	name := vxlanName(want)
	var obs vxlanObs
	// Looked up directly rather than in the link table, as for the tunnel.
	link, err := d.nl.LinkByName(name)
	switch {
	case err == nil:
		if obs, err = d.observeVXLAN(link); err != nil {
			return err
		}
	case !isGone(err):
		return fmt.Errorf("looking up %s: %w", name, err)
	case want == nil:
		return nil
	}
	parent := 0
	if want != nil && want.LocalAddr.IsValid() {
		if parent, err = d.addrIndex(want.LocalAddr); err != nil {
			return err
		}
	}
	p, err := planVXLAN(obs, want, parent)
	if err != nil {
		return err
	}
	for _, v := range p.Skipped {
		d.log.Warn("VXLAN peer not programmed: its tunnel address, MAC or host address is missing, invalid or taken",
			"device", name, "node", v.Node, "tunnelAddr", v.TunnelAddr, "mac", v.MAC, "hostAddr", v.HostAddr)
	}
	if p.empty() {
		return nil
	}
	note := func(change string) {
		rep.VXLANChanges = append(rep.VXLANChanges, change)
		d.log.Info("VXLAN device changed", "device", name, "change", change)
	}
	if p.Delete {
		if err := d.nl.LinkDel(link); err != nil && !isGone(err) {
			return fmt.Errorf("deleting VXLAN device %s (%s): %w", name, p.Why, err)
		}
		note("deleted: " + p.Why)
	}
	if want == nil {
		return nil // an unwanted device is only deleted
	}
	if p.Create {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = name, want.MTU
		if p.MAC != "" {
			attrs.HardwareAddr, _ = net.ParseMAC(p.MAC)
		}
		v := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: want.VNI, Port: cmp.Or(want.Port, defaultVXLANPort),
			VtepDevIndex: parent, Learning: false}
		if want.LocalAddr.IsValid() {
			v.SrcAddr = want.LocalAddr.AsSlice()
		}
		if err := d.nl.LinkAdd(v); err != nil {
			return fmt.Errorf("creating VXLAN device %s (VNI %d, port %d, local %s): %w", name, v.VxlanId, v.Port,
				want.LocalAddr, err)
		}
		if link, err = d.nl.LinkByName(name); err != nil {
			return fmt.Errorf("finding VXLAN device %s after creating it: %w", name, err)
		}
		d.noteLink(link)
		note("created")
	}
	if p.MAC != "" && link.Attrs().HardwareAddr.String() != p.MAC {
		mac, _ := net.ParseMAC(p.MAC)
		if err := d.nl.LinkSetHardwareAddr(link, mac); err != nil {
			return fmt.Errorf("setting MAC %s on %s: %w", p.MAC, name, err)
		}
		note("mac " + p.MAC)
	}
	if err := d.applyDevice(link, name, p.MTU, p.DelAddrs, false, p.Up, p.AddAddr, note); err != nil {
		return err
	}

	// One entry failing does not stop the others.
	idx := link.Attrs().Index
	var errs []error
	for _, n := range p.DelNeighs {
		if err := d.nl.NeighDel(neighEntry(idx, n)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing neighbour %s from %s: %w", n, name, err))
			continue
		}
		note("removed neighbour " + n.String())
	}
	for _, f := range p.DelFDB {
		if err := d.nl.NeighDel(fdbEntry(idx, f)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing FDB entry %s from %s: %w", f, name, err))
			continue
		}
		note("removed fdb " + f.String())
	}
	for _, n := range p.SetNeighs {
		if err := d.nl.NeighSet(neighEntry(idx, n)); err != nil {
			errs = append(errs, fmt.Errorf("setting neighbour %s on %s: %w", n, name, err))
			continue
		}
		note("neighbour " + n.String())
	}
	for _, f := range p.SetFDB {
		if err := d.nl.NeighSet(fdbEntry(idx, f)); err != nil {
			errs = append(errs, fmt.Errorf("setting FDB entry %s on %s: %w", f, name, err))
			continue
		}
		note("fdb " + f.String())
	}
	return errors.Join(errs...)
}

// observeVXLAN reads the device, its IPv4 addresses, neighbour entries and FDB entries.
func (d *Dataplane) observeVXLAN(link netlink.Link) (vxlanObs, error) {
	a := link.Attrs()
	obs := vxlanObs{Exists: true, Up: a.Flags&net.FlagUp != 0, MTU: a.MTU, MAC: a.HardwareAddr.String()}
	if v, ok := link.(*netlink.Vxlan); ok {
		obs.IsVXLAN = true
		obs.VNI, obs.Port, obs.ParentIndex, obs.Learning = v.VxlanId, v.Port, v.VtepDevIndex, v.Learning
		if ip, ok := netip.AddrFromSlice(v.SrcAddr); ok {
			obs.Local = ip.Unmap()
		}
	}
	var addrs []netlink.Addr
	if err := retryDump(func() (err error) { addrs, err = d.nl.AddrList(link, netlink.FAMILY_V4); return err }); err != nil {
		return obs, fmt.Errorf("listing addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		if p, ok := ipNetToPrefix(ad.IPNet); ok {
			obs.Addrs = append(obs.Addrs, p)
		}
	}
	var neighs, fdb []netlink.Neigh
	if err := retryDump(func() (err error) { neighs, err = d.nl.NeighList(a.Index, netlink.FAMILY_V4); return err }); err != nil {
		return obs, fmt.Errorf("listing neighbours of %s: %w", a.Name, err)
	}
	for _, n := range neighs {
		if ip, ok := netip.AddrFromSlice(n.IP); ok {
			obs.Neighs = append(obs.Neighs, vxlanNeigh{IP: ip.Unmap(), MAC: n.HardwareAddr.String(),
				Permanent: n.State&netlink.NUD_PERMANENT != 0})
		}
	}
	if err := retryDump(func() (err error) { fdb, err = d.nl.NeighList(a.Index, unix.AF_BRIDGE); return err }); err != nil {
		return obs, fmt.Errorf("listing FDB entries of %s: %w", a.Name, err)
	}
	for _, f := range fdb {
		dst, _ := netip.AddrFromSlice(f.IP)
		obs.FDB = append(obs.FDB, vxlanFDB{MAC: f.HardwareAddr.String(), Dst: dst.Unmap(),
			Permanent: f.State&netlink.NUD_PERMANENT != 0})
	}
	return obs, nil
}

// addrIndex returns the index of the interface that holds addr, 0 when none does.
func (d *Dataplane) addrIndex(addr netip.Addr) (int, error) {
	var addrs []netlink.Addr
	if err := retryDump(func() (err error) { addrs, err = d.nl.AddrList(nil, netlink.FAMILY_V4); return err }); err != nil {
		return 0, fmt.Errorf("finding the interface that holds %s: %w", addr, err)
	}
	for _, a := range addrs {
		if p, ok := ipNetToPrefix(a.IPNet); ok && p.Addr() == addr {
			return a.LinkIndex, nil
		}
	}
	return 0, nil
}

func neighEntry(idx int, n vxlanNeigh) *netlink.Neigh {
	mac, _ := net.ParseMAC(n.MAC)
	return &netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: n.IP.AsSlice(), HardwareAddr: mac}
}

func fdbEntry(idx int, f vxlanFDB) *netlink.Neigh {
	mac, _ := net.ParseMAC(f.MAC)
	e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF, State: netlink.NUD_PERMANENT,
		HardwareAddr: mac}
	if f.Dst.IsValid() {
		e.IP = f.Dst.AsSlice()
	}
	return e
}
