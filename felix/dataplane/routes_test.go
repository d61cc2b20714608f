package dataplane

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

func TestPlanRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	links := map[string]int{"cali1": 11, "cali2": 12, "tunl0": 5}
	wl := func(dst, iface string) desired.Route { return desired.Route{Dst: pfx(dst), Iface: iface} }
	kwl := func(dst string, idx int) kernelRoute { return kernelRoute{Dst: pfx(dst), LinkIndex: idx} }
	block := desired.Route{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}
	kblock := kernelRoute{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}
	remote := desired.Route{Dst: pfx("10.65.1.0/26"), Iface: "tunl0", Gateway: addr("192.0.2.2"), OnLink: true}
	kremote := kernelRoute{Dst: pfx("10.65.1.0/26"), LinkIndex: 5, Gateway: addr("192.0.2.2"), OnLink: true}

	tests := []struct {
		name string
		want []desired.Route
		have []kernelRoute
		plan routePlan
	}{
		{
			name: "missing routes are added: workload, blackhole and onlink via the tunnel",
			want: []desired.Route{wl("10.65.0.1/32", "cali1"), block, remote},
			plan: routePlan{Add: []kernelRoute{kwl("10.65.0.1/32", 11), kblock, kremote}},
		},
		{
			name: "routes the kernel already has are left alone",
			want: []desired.Route{wl("10.65.0.1/32", "cali1"), block, remote},
			have: []kernelRoute{kremote, kblock, kwl("10.65.0.1/32", 11)},
		},
		{
			name: "felix routes that are not desired are removed",
			want: []desired.Route{block},
			have: []kernelRoute{kblock, kwl("10.65.0.2/32", 12)},
			plan: routePlan{Del: []kernelRoute{kwl("10.65.0.2/32", 12)}},
		},
		{
			name: "a route whose interface is missing waits, and the kernel's route for it is kept meanwhile",
			want: []desired.Route{wl("10.65.0.3/32", "cali3"), wl("10.65.0.4/32", "cali4")},
			have: []kernelRoute{kwl("10.65.0.3/32", 13)},
			plan: routePlan{Skipped: []desired.Route{wl("10.65.0.3/32", "cali3"), wl("10.65.0.4/32", "cali4")}},
		},
		{
			name: "a workload that moved to another interface has its route replaced",
			want: []desired.Route{wl("10.65.0.1/32", "cali2")},
			have: []kernelRoute{kwl("10.65.0.1/32", 11)},
			plan: routePlan{Replace: []routeChange{{Old: kwl("10.65.0.1/32", 11), New: kwl("10.65.0.1/32", 12)}}},
		},
		{
			name: "a second felix route for the same destination is removed",
			want: []desired.Route{block},
			have: []kernelRoute{kblock, kblock},
			plan: routePlan{Del: []kernelRoute{kblock}},
		},
		{
			name: "a destination written with host bits matches the kernel's masked route",
			want: []desired.Route{{Dst: pfx("10.65.0.7/26"), Type: desired.Blackhole}},
			have: []kernelRoute{kblock},
		},
		{
			name: "a gateway route without an interface accepts whatever interface the kernel chose",
			want: []desired.Route{{Dst: pfx("10.70.0.0/16"), Gateway: addr("192.0.2.9")}},
			have: []kernelRoute{{Dst: pfx("10.70.0.0/16"), LinkIndex: 2, Gateway: addr("192.0.2.9")}},
		},
		{
			name: "an IPv6 workload route is handled like an IPv4 one",
			want: []desired.Route{wl("fd00::1/128", "cali1")},
			have: []kernelRoute{kwl("fd00::2/128", 11)},
			plan: routePlan{Add: []kernelRoute{kwl("fd00::1/128", 11)}, Del: []kernelRoute{kwl("fd00::2/128", 11)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planRoutes(tc.want, tc.have, links)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", tc.plan); g != w {
				t.Errorf("plan:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestPlanRoutesRejects(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name  string
		route []desired.Route
		want  string
	}{
		{"two routes for one destination", []desired.Route{{Dst: pfx("10.0.0.0/26"), Type: desired.Blackhole}, {Dst: pfx("10.0.0.1/26"), Type: desired.Blackhole}}, "two desired routes"},
		{"a blackhole with an interface", []desired.Route{{Dst: pfx("10.0.0.0/26"), Type: desired.Blackhole, Iface: "cali1"}}, "blackhole route"},
		{"a unicast route going nowhere", []desired.Route{{Dst: pfx("10.0.0.0/26")}}, "neither interface nor gateway"},
		{"an onlink route without gateway", []desired.Route{{Dst: pfx("10.0.0.0/26"), Iface: "tunl0", OnLink: true}}, "needs both"},
		{"a gateway of the other family", []desired.Route{{Dst: pfx("10.0.0.0/26"), Gateway: netip.MustParseAddr("fd00::1")}}, "other IP family"},
		{"no destination", []desired.Route{{Iface: "cali1"}}, "without a destination"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planRoutes(tc.route, nil, map[string]int{"cali1": 1, "tunl0": 2})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOnlyWorkloadRoutesFlushConntrack(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		route kernelRoute
		want  bool
	}{
		{kernelRoute{Dst: pfx("10.65.0.1/32"), LinkIndex: 3}, true},
		{kernelRoute{Dst: pfx("fd00::1/128"), LinkIndex: 3}, true},
		{kernelRoute{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}, false},
		{kernelRoute{Dst: pfx("10.65.1.1/32"), LinkIndex: 3, Gateway: netip.MustParseAddr("192.0.2.2")}, false},
		{kernelRoute{Dst: pfx("10.65.1.0/26"), LinkIndex: 3}, false},
	}
	for _, tc := range tests {
		if got := tc.route.isWorkload(); got != tc.want {
			t.Errorf("%s: isWorkload %v, want %v", tc.route, got, tc.want)
		}
	}
}
