package dataplane

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

func TestPlanTunnel(t *testing.T) {
	addr := netip.MustParseAddr("10.65.0.1")
	own := netip.PrefixFrom(addr, 32)
	stray := netip.MustParsePrefix("192.0.2.7/24")
	want := &desired.Tunnel{Name: "tunl0", Address: addr, MTU: 1480}
	tests := []struct {
		name string
		have linkObs
		want *desired.Tunnel
		plan tunnelPlan
	}{
		{"a missing tunnel is created, sized, brought up and addressed", linkObs{}, want,
			tunnelPlan{Create: true, MTU: 1480, Up: true, AddAddr: own}},
		{"the module's fallback device is adopted", linkObs{Exists: true, MTU: 1480}, want,
			tunnelPlan{Up: true, AddAddr: own}},
		{"a tunnel that matches is left alone", linkObs{Exists: true, Up: true, MTU: 1480, Addrs: []netip.Prefix{own}}, want,
			tunnelPlan{}},
		{"a wrong MTU and a stray address are fixed", linkObs{Exists: true, Up: true, MTU: 1440, Addrs: []netip.Prefix{stray, own}}, want,
			tunnelPlan{MTU: 1480, DelAddrs: []netip.Prefix{stray}}},
		{"without an allocated address the tunnel carries none", linkObs{Exists: true, Up: true, MTU: 1480, Addrs: []netip.Prefix{own}},
			&desired.Tunnel{Name: "tunl0", MTU: 1480}, tunnelPlan{DelAddrs: []netip.Prefix{own}}},
		{"an unwanted tunnel is emptied and set down, not deleted", linkObs{Exists: true, Up: true, MTU: 1480, Addrs: []netip.Prefix{own}}, nil,
			tunnelPlan{Down: true, DelAddrs: []netip.Prefix{own}}},
		{"an unwanted tunnel that does not exist stays missing", linkObs{}, nil, tunnelPlan{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planTunnel(tc.have, tc.want)
			if !slices.Equal(got.DelAddrs, tc.plan.DelAddrs) || got.Create != tc.plan.Create || got.MTU != tc.plan.MTU ||
				got.Up != tc.plan.Up || got.Down != tc.plan.Down || got.AddAddr != tc.plan.AddAddr {
				t.Errorf("plan %+v, want %+v", got, tc.plan)
			}
		})
	}
}
