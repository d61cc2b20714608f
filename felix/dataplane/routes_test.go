package dataplane

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/calico-l3/calico/felix/desired"
)

func TestPlanRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	links := map[string]linkInfo{"cali1": {11}, "cali2": {12}, "tunl0": {5}}
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
			name: "routes that are not desired are removed in order of destination",
			want: []desired.Route{wl("10.65.0.1/32", "cali1")},
			have: []kernelRoute{kwl("10.65.0.9/32", 11), kblock, kwl("10.65.0.1/32", 11), kremote, kwl("10.65.0.3/32", 12)},
			plan: routePlan{Del: []kernelRoute{kblock, kwl("10.65.0.3/32", 12), kwl("10.65.0.9/32", 11), kremote}},
		},
		{
			name: "a waiting route's destination held by another interface's route is left alone too",
			want: []desired.Route{wl("10.65.0.3/32", "cali3"), block},
			have: []kernelRoute{kwl("10.65.0.3/32", 12), kblock},
			plan: routePlan{Skipped: []desired.Route{wl("10.65.0.3/32", "cali3")}},
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
			have, doubles := indexRoutes(tc.have)
			if len(doubles) > 0 {
				t.Fatalf("test case has two routes for one destination: %v", doubles)
			}
			got, err := planRoutes(tc.want, have, links)
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
			_, err := planRoutes(tc.route, nil, map[string]linkInfo{"cali1": {1}, "tunl0": {2}})
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

func TestIndexRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	a := kernelRoute{Dst: pfx("10.65.0.1/32"), LinkIndex: 11}
	a2 := kernelRoute{Dst: pfx("10.65.0.1/32"), LinkIndex: 12}
	b := kernelRoute{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}
	table, doubles := indexRoutes([]kernelRoute{a, b, a2, a})
	if want := (routeTable{a.Dst: a, b.Dst: b}); !maps.Equal(table, want) {
		t.Errorf("indexed %v, want %v", table, want)
	}
	if want := []kernelRoute{a2, a}; !slices.Equal(doubles, want) {
		t.Errorf("doubles %v, want %v: every route after the first for a destination", doubles, want)
	}
}

func TestDriftedRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	wl := func(dst string, idx int) kernelRoute { return kernelRoute{Dst: pfx(dst), LinkIndex: idx} }
	block := kernelRoute{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}
	gw := kernelRoute{Dst: pfx("10.70.0.0/16"), Gateway: netip.MustParseAddr("192.0.2.9")} // the kernel picks the link
	then := routeTable{block.Dst: block, pfx("10.65.0.1/32"): wl("10.65.0.1/32", 11), pfx("10.65.0.2/32"): wl("10.65.0.2/32", 12), gw.Dst: gw}
	tests := []struct {
		name string
		now  []kernelRoute
		want []string
	}{
		{"the kernel holds what felix remembers", []kernelRoute{wl("10.65.0.2/32", 12), block, wl("10.65.0.1/32", 11), {Dst: gw.Dst, Gateway: gw.Gateway, LinkIndex: 2}}, nil},
		{"a route deleted", []kernelRoute{block, wl("10.65.0.1/32", 11), gw}, []string{"10.65.0.2/32"}},
		{"a route moved to another link", []kernelRoute{block, wl("10.65.0.1/32", 13), wl("10.65.0.2/32", 12), gw}, []string{"10.65.0.1/32"}},
		{"a route added", []kernelRoute{block, wl("10.65.0.1/32", 11), wl("10.65.0.2/32", 12), gw, wl("10.65.0.7/32", 12)}, []string{"10.65.0.7/32"}},
		{"a second route for a destination", []kernelRoute{block, wl("10.65.0.1/32", 11), wl("10.65.0.2/32", 12), wl("10.65.0.2/32", 12), gw}, []string{"10.65.0.2/32"}},
		{"everything gone, sorted by address", nil, []string{"10.65.0.0/26", "10.65.0.1/32", "10.65.0.2/32", "10.70.0.0/16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, dst := range driftedRoutes(then, tc.now) {
				got = append(got, dst.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("drifted %v, want %v", got, tc.want)
			}
		})
	}
}

func TestForgetRoutesVia(t *testing.T) {
	pfx := netip.MustParsePrefix
	wl := func(dst string, idx int) kernelRoute { return kernelRoute{Dst: pfx(dst), LinkIndex: idx} }
	block := kernelRoute{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}
	viaTunnel := kernelRoute{Dst: pfx("10.65.1.0/26"), LinkIndex: 5, Gateway: netip.MustParseAddr("192.0.2.2"), OnLink: true}
	table := routeTable{block.Dst: block, viaTunnel.Dst: viaTunnel, pfx("10.65.0.1/32"): wl("10.65.0.1/32", 11),
		pfx("10.65.0.2/32"): wl("10.65.0.2/32", 12)}
	if n := table.forgetRoutesVia(nil); n != 0 || len(table) != 4 {
		t.Fatalf("no link downed: forgot %d, left %d routes", n, len(table))
	}
	if n := table.forgetRoutesVia(map[int]bool{11: true, 5: true, 99: true}); n != 2 {
		t.Errorf("forgot %d routes, want the 2 through links 11 and 5", n)
	}
	if want := (routeTable{block.Dst: block, pfx("10.65.0.2/32"): wl("10.65.0.2/32", 12)}); !maps.Equal(table, want) {
		t.Errorf("left %v, want %v", table, want)
	}
	var unknown routeTable // felix does not know its routes yet: nothing to forget
	if n := unknown.forgetRoutesVia(map[int]bool{11: true}); n != 0 {
		t.Errorf("an unknown table forgot %d routes", n)
	}
}

func TestSameSysctls(t *testing.T) {
	memo := map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1", "net/ipv4/neigh/cali1/proxy_delay": "0"}
	tests := []struct {
		name string
		want map[string]string
		same bool
	}{
		{"the same values", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1", "net/ipv4/neigh/cali1/proxy_delay": "0"}, true},
		{"the same values with a newline, as read", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1\n", "net/ipv4/neigh/cali1/proxy_delay": "0"}, true},
		{"a value changed", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "0", "net/ipv4/neigh/cali1/proxy_delay": "0"}, false},
		{"a value more", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1", "net/ipv4/neigh/cali1/proxy_delay": "0", "net/ipv4/conf/cali1/rp_filter": "1"}, false},
		{"a value less", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1"}, false},
		{"another value instead", map[string]string{"net/ipv4/conf/cali1/proxy_arp": "1", "net/ipv4/conf/cali1/rp_filter": "0"}, false},
	}
	for _, tc := range tests {
		if got := sameSysctls(memo, tc.want); got != tc.same {
			t.Errorf("%s: same %v, want %v", tc.name, got, tc.same)
		}
	}
}

// routeTo is the route felix reports for a workload address on an interface of the namespace.
func routeTo(t *testing.T, ns, dst, iface string) string {
	return dst + " ifindex " + ifindex(t, ns, iface) + " scope link"
}

func TestApplyWritesOnlyTheChangedRoutesAndResyncRepairs(t *testing.T) {
	ns, path := testNetns(t)
	for _, n := range []string{"1", "2", "3"} {
		addVeth(t, ns, "cali"+n, "peer"+n)
	}
	d := newTestDataplane(t, path)
	pfx := netip.MustParsePrefix
	wl := func(dst, iface string) desired.Route { return desired.Route{Dst: pfx(dst), Iface: iface} }
	st := &desired.State{Routes: []desired.Route{
		{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole}, wl("10.65.0.1/32", "cali1"), wl("10.65.0.2/32", "cali2"),
	}}
	if rep := mustApply(t, d, st); len(rep.RoutesAdded) != 3 {
		t.Fatalf("first apply added %v, want 3 routes", rep.RoutesAdded)
	}

	// An endpoint added, then one removed: each apply writes that endpoint's route and nothing else.
	st.Routes = append(st.Routes, wl("10.65.0.3/32", "cali3"))
	rep := mustApply(t, d, st)
	if want := []string{routeTo(t, ns, "10.65.0.3/32", "cali3")}; !slices.Equal(rep.RoutesAdded, want) ||
		len(rep.RoutesRemoved)+len(rep.RoutesReplaced) > 0 {
		t.Errorf("endpoint added: added %v, removed %v, replaced %v; want only %v added", rep.RoutesAdded,
			rep.RoutesRemoved, rep.RoutesReplaced, want)
	}
	st.Routes = slices.Delete(st.Routes, 1, 2)
	rep = mustApply(t, d, st)
	if want := []string{routeTo(t, ns, "10.65.0.1/32", "cali1")}; !slices.Equal(rep.RoutesRemoved, want) ||
		len(rep.RoutesAdded)+len(rep.RoutesReplaced) > 0 {
		t.Errorf("endpoint removed: removed %v, added %v, replaced %v; want only %v removed", rep.RoutesRemoved,
			rep.RoutesAdded, rep.RoutesReplaced, want)
	}
	want := []string{"blackhole 10.65.0.0/26", "10.65.0.2 dev cali2 scope link", "10.65.0.3 dev cali3 scope link"}
	checkRoutes(t, ns, want)

	// Someone deletes, moves and adds felix routes. An apply plans against what felix wrote, without listing the
	// routing table, so it sees none of it; a resync lists the routes, reports what drifted and repairs it.
	inNetns(t, ns, "ip", "route", "del", "10.65.0.2/32")
	inNetns(t, ns, "ip", "route", "replace", "10.65.0.3/32", "dev", "cali2", "proto", "80", "scope", "link")
	inNetns(t, ns, "ip", "route", "add", "10.65.0.50/32", "dev", "cali2", "proto", "80", "scope", "link")
	if rep = mustApply(t, d, st); rep.Changed() || len(rep.Repaired) > 0 {
		t.Errorf("an apply with nothing desired changed wrote %+v", rep)
	}
	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"route 10.65.0.2/32", "route 10.65.0.3/32", "route 10.65.0.50/32"}; !slices.Equal(rep.Repaired, want) {
		t.Errorf("resync repaired %v, want %v", rep.Repaired, want)
	}
	if len(rep.RoutesAdded) != 1 || len(rep.RoutesReplaced) != 1 || len(rep.RoutesRemoved) != 1 {
		t.Errorf("resync added %v, replaced %v, removed %v; want one of each", rep.RoutesAdded, rep.RoutesReplaced, rep.RoutesRemoved)
	}
	checkRoutes(t, ns, want)

	// RefreshRoutes does the same for the routes alone, on the next apply; the apply after it trusts felix's memory
	// again.
	inNetns(t, ns, "ip", "route", "del", "blackhole", "10.65.0.0/26")
	d.RefreshRoutes()
	rep = mustApply(t, d, st)
	if !slices.Equal(rep.Repaired, []string{"route 10.65.0.0/26"}) || !slices.Equal(rep.RoutesAdded, []string{"blackhole 10.65.0.0/26"}) {
		t.Errorf("apply after RefreshRoutes repaired %v and added %v; want the blackhole back", rep.Repaired, rep.RoutesAdded)
	}
	checkRoutes(t, ns, want)
	if rep, err = d.Resync(context.Background(), st); err != nil || rep.Changed() || len(rep.Repaired) > 0 {
		t.Errorf("a resync after the repairs changed %+v (err %v); want nothing", rep, err)
	}
}

// waitForDowned waits until felix has heard that a link was deleted or set down.
func waitForDowned(t *testing.T, d *Dataplane, index string) {
	t.Helper()
	idx, err := strconv.Atoi(index)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.linkTable.mu.Lock()
		heard := d.linkTable.downed[idx]
		d.linkTable.mu.Unlock()
		if heard {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("felix did not hear within 5s that link %d went down", idx)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRoutesTheKernelRemovesWithTheirLinksAreWrittenAgain(t *testing.T) {
	ns, path := testNetns(t)
	addVeth(t, ns, "cali1", "peer1")
	addVeth(t, ns, "cali2", "peer2")
	d := newTestDataplane(t, path)
	pfx := netip.MustParsePrefix
	st := &desired.State{Routes: []desired.Route{{Dst: pfx("10.65.0.1/32"), Iface: "cali1"}, {Dst: pfx("10.65.0.2/32"), Iface: "cali2"}}}
	mustApply(t, d, st)
	want := []string{"10.65.0.1 dev cali1 scope link", "10.65.0.2 dev cali2 scope link"}

	// The workload's interface is deleted (its route with it) and created again under the same name: the route is
	// added through the new link, not replaced.
	old := ifindex(t, ns, "cali1")
	inNetns(t, ns, "ip", "link", "del", "cali1")
	addVeth(t, ns, "cali1", "peer1")
	waitForDowned(t, d, old)
	waitForLinkIndex(t, d, "cali1", ifindex(t, ns, "cali1"))
	rep := mustApply(t, d, st)
	if w := []string{routeTo(t, ns, "10.65.0.1/32", "cali1")}; !slices.Equal(rep.RoutesAdded, w) || len(rep.RoutesReplaced) > 0 {
		t.Errorf("after cali1 came back, added %v and replaced %v; want %v added", rep.RoutesAdded, rep.RoutesReplaced, w)
	}
	checkRoutes(t, ns, want)

	// A link set down loses its routes too; once it is up again, the next apply writes them again.
	inNetns(t, ns, "ip", "link", "set", "cali2", "down")
	inNetns(t, ns, "ip", "link", "set", "cali2", "up")
	waitForDowned(t, d, ifindex(t, ns, "cali2"))
	rep = mustApply(t, d, st)
	if w := []string{routeTo(t, ns, "10.65.0.2/32", "cali2")}; !slices.Equal(rep.RoutesAdded, w) {
		t.Errorf("after cali2 went down and up, added %v; want %v", rep.RoutesAdded, w)
	}
	checkRoutes(t, ns, want)
	if rep, err := d.Resync(context.Background(), st); err != nil || rep.Changed() || len(rep.Repaired) > 0 {
		t.Errorf("a resync changed %+v (err %v); felix's memory should have matched the kernel", rep, err)
	}
}

func TestRouteAddsThatClashWithTheKernel(t *testing.T) {
	ns, path := testNetns(t)
	addVeth(t, ns, "cali1", "peer1")
	d := newTestDataplane(t, path)
	pfx := netip.MustParsePrefix
	st := &desired.State{Routes: []desired.Route{{Dst: pfx("10.65.0.1/32"), Iface: "cali1"}}}
	mustApply(t, d, st)

	// Someone wrote the very route felix is about to add, in felix's protocol: the add fails, felix lists its
	// routes, finds the route right and reports neither an addition nor a conflict.
	inNetns(t, ns, "ip", "route", "add", "10.65.0.4/32", "dev", "cali1", "proto", "80", "scope", "link")
	st.Routes = append(st.Routes, desired.Route{Dst: pfx("10.65.0.4/32"), Iface: "cali1"})
	if rep := mustApply(t, d, st); len(rep.RoutesAdded)+len(rep.RouteConflicts)+len(rep.RoutesReplaced) > 0 {
		t.Errorf("added %v, replaced %v, conflicts %v; want nothing: the kernel has felix's route already",
			rep.RoutesAdded, rep.RoutesReplaced, rep.RouteConflicts)
	}

	// A route of another protocol holds a destination felix wants: a conflict, reported until it goes.
	inNetns(t, ns, "ip", "route", "add", "10.65.0.5/32", "dev", "cali1", "proto", "static")
	st.Routes = append(st.Routes, desired.Route{Dst: pfx("10.65.0.5/32"), Iface: "cali1"})
	route := routeTo(t, ns, "10.65.0.5/32", "cali1")
	for range 2 {
		if rep := mustApply(t, d, st); !slices.Equal(rep.RouteConflicts, []string{route}) || len(rep.RoutesAdded) > 0 {
			t.Errorf("conflicts %v, added %v; want the conflict %s", rep.RouteConflicts, rep.RoutesAdded, route)
		}
	}
	inNetns(t, ns, "ip", "route", "del", "10.65.0.5/32", "proto", "static")
	if rep := mustApply(t, d, st); !slices.Equal(rep.RoutesAdded, []string{route}) || len(rep.RouteConflicts) > 0 {
		t.Errorf("once the other route went: added %v, conflicts %v; want %s added", rep.RoutesAdded, rep.RouteConflicts, route)
	}
	checkRoutes(t, ns, []string{"10.65.0.1 dev cali1 scope link", "10.65.0.4 dev cali1 scope link", "10.65.0.5 dev cali1 scope link"})
}

func TestLinkName(t *testing.T) {
	attr := func(typ uint16, value []byte) []byte {
		return nl.NewRtAttr(int(typ), value).Serialize()
	}
	mtu := attr(unix.IFLA_MTU, nl.Uint32Attr(1500))
	name := attr(unix.IFLA_IFNAME, nl.ZeroTerminated("cali12345678901"))
	odd := attr(unix.IFLA_QDISC, []byte("noqueue\x00x")) // a length that needs padding
	tests := []struct {
		name  string
		attrs []byte
		want  string
		err   bool
	}{
		{"the name first", slices.Concat(name, mtu), "cali12345678901", false},
		{"the name after other attributes", slices.Concat(mtu, odd, name), "cali12345678901", false},
		{"no name", slices.Concat(mtu, odd), "", true},
		{"an attribute longer than the message", slices.Concat(mtu, name[:len(name)-4]), "", true},
	}
	for _, tc := range tests {
		got, err := linkName(tc.attrs)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: got %q, %v; want %q (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestRoutesAreWrittenInBatches(t *testing.T) {
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	// More routes than one batch holds, twice over, with a failure in the middle of the second batch: every
	// route gets its own answer.
	n := 2*routeBatch + 44
	var st desired.State
	for i := range n {
		st.Routes = append(st.Routes, desired.Route{Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 66, byte(i >> 2), byte(i&3) << 6}), 26),
			Type: desired.Blackhole})
	}
	clash := st.Routes[routeBatch+10].Dst
	inNetns(t, ns, "ip", "route", "add", "blackhole", clash.String(), "proto", "static")
	rep := mustApply(t, d, &st)
	if len(rep.RoutesAdded) != n-1 || !slices.Equal(rep.RouteConflicts, []string{"blackhole " + clash.String()}) {
		t.Errorf("added %d routes with conflicts %v; want %d added and %s in conflict", len(rep.RoutesAdded),
			rep.RouteConflicts, n-1, clash)
	}
	if got := strings.Count(inNetns(t, ns, "ip", "route", "show", "proto", "80"), "\n"); got != n-1 {
		t.Errorf("the kernel holds %d felix routes, want %d", got, n-1)
	}
	st.Routes = nil
	if rep = mustApply(t, d, &st); len(rep.RoutesRemoved) != n-1 {
		t.Errorf("removed %d routes, want %d", len(rep.RoutesRemoved), n-1)
	}
	checkRoutes(t, ns, nil)
}

func TestSameMapIsIdentityNotEquality(t *testing.T) {
	a := map[string]string{"k": "v"}
	b := map[string]string{"k": "v"}
	alias := a
	if !sameMap(a, alias) || sameMap(a, b) || sameMap(nil, nil) || sameMap(a, nil) || sameMap(nil, a) {
		t.Error("sameMap must hold for the same map only, and never for nil")
	}
}
