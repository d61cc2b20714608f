package dataplane

import (
	"net/netip"

	"github.com/calico-l3/calico/felix/desired"
)

// DefaultTunnelName is the IPIP device felix manages when the desired state names none.
const DefaultTunnelName = "tunl0"

// linkObs is what felix sees of the tunnel device.
type linkObs struct {
	Exists bool
	Up     bool // administratively up
	MTU    int
	Addrs  []netip.Prefix // its IPv4 addresses
}

// tunnelPlan is what it takes to make the tunnel device match.
type tunnelPlan struct {
	Create   bool
	MTU      int // 0: leave the MTU alone
	Up, Down bool
	AddAddr  netip.Prefix // invalid: add nothing
	DelAddrs []netip.Prefix
}

func (p tunnelPlan) empty() bool {
	return !p.Create && p.MTU == 0 && !p.Up && !p.Down && !p.AddAddr.IsValid() && len(p.DelAddrs) == 0
}

// planTunnel compares the tunnel device with the desired one.
//
// With a desired tunnel, the device must exist, have the desired MTU, be up and carry exactly the desired /32
// (no address at all while none is allocated).
//
// Without one, felix does not delete the device: tunl0 is the ipip module's fallback device, which the module
// creates on load and which cannot be deleted while the module is loaded. Instead felix takes it out of use: it
// removes its addresses and sets it down, so no route and no traffic goes through it. A device that does not
// exist is left missing.
func planTunnel(have linkObs, want *desired.Tunnel) tunnelPlan {
	var p tunnelPlan
	if want == nil {
		if !have.Exists {
			return p
		}
		p.DelAddrs = append(p.DelAddrs, have.Addrs...)
		p.Down = have.Up
		return p
	}
	p.Create = !have.Exists
	if want.MTU > 0 && want.MTU != have.MTU {
		p.MTU = want.MTU
	}
	p.Up = !have.Up
	p.DelAddrs, p.AddAddr = planDeviceAddr(have.Addrs, want.Address)
	return p
}

// planDeviceAddr makes a felix device hold exactly want as a host prefix (/32, /128), or no address while want is
// invalid: the addresses to delete and the one to add (invalid when none).
func planDeviceAddr(have []netip.Prefix, want netip.Addr) (del []netip.Prefix, add netip.Prefix) {
	var wantAddr netip.Prefix
	if want.IsValid() {
		wantAddr = netip.PrefixFrom(want, want.BitLen())
	}
	found := false
	for _, a := range have {
		if a == wantAddr {
			found = true
			continue
		}
		del = append(del, a)
	}
	if wantAddr.IsValid() && !found {
		add = wantAddr
	}
	return del, add
}
