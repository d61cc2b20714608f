package dataplane

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/calico-l3/calico/felix/desired"
)

// RouteProtocol is the route protocol number (rtm_protocol) of every route felix programs. Felix lists,
// changes and deletes only routes of this protocol, so routes of the kernel, of BIRD (proto bird, 12) or of an
// operator are never touched. 80 is unassigned in iproute2's rt_protos; `ip route show proto 80` shows felix's
// routes.
const RouteProtocol = 80

// kernelRoute is one felix route as the kernel holds it (or will hold it): the attributes felix compares.
type kernelRoute struct {
	Dst       netip.Prefix
	Type      desired.RouteType
	LinkIndex int        // 0 for a blackhole
	Gateway   netip.Addr // invalid for a link-scope route
	OnLink    bool
}

func (r kernelRoute) String() string {
	switch {
	case r.Type == desired.Blackhole:
		return "blackhole " + r.Dst.String()
	case r.Gateway.IsValid() && r.OnLink:
		return fmt.Sprintf("%s via %s ifindex %d onlink", r.Dst, r.Gateway, r.LinkIndex)
	case r.Gateway.IsValid():
		return fmt.Sprintf("%s via %s", r.Dst, r.Gateway)
	default:
		return fmt.Sprintf("%s ifindex %d scope link", r.Dst, r.LinkIndex)
	}
}

// isWorkload says whether the route leads to a single local address over a link: removing or moving it must
// flush that address's conntrack entries.
func (r kernelRoute) isWorkload() bool {
	return r.Type == desired.Unicast && !r.Gateway.IsValid() && r.Dst.IsSingleIP()
}

// routeChange replaces the felix route for a destination with a different one.
type routeChange struct{ Old, New kernelRoute }

// routeTable is felix's routes in the kernel (or in felix's memory of the kernel), by destination.
type routeTable map[netip.Prefix]kernelRoute

// routePlan is what it takes to make felix's routes match.
type routePlan struct {
	Add     []kernelRoute
	Replace []routeChange
	Del     []kernelRoute
	Skipped []desired.Route // their interface does not exist (yet)
}

// planRoutes compares the desired routes with felix's routes in the kernel (have). links are the links that
// exist, by name. A route whose interface is missing is skipped (kept if the kernel still has it); it is added
// once the interface appears and the caller applies again. Add keeps the order of want; Del is sorted.
func planRoutes(want []desired.Route, have routeTable, links map[string]linkInfo) (routePlan, error) {
	var p routePlan
	wanted := make(map[netip.Prefix]struct{}, len(want))
	kept := 0 // wanted destinations that have a route
	for _, r := range want {
		kr, ok, err := toKernelRoute(r, links)
		if err != nil {
			return routePlan{}, err
		}
		if _, dup := wanted[kr.Dst]; dup {
			return routePlan{}, fmt.Errorf("two desired routes for %s", kr.Dst)
		}
		wanted[kr.Dst] = struct{}{}
		h, present := have[kr.Dst]
		if present {
			kept++
		}
		switch {
		case !ok:
			p.Skipped = append(p.Skipped, r) // the kernel's route, if any, is left alone until its interface is back
		case !present:
			p.Add = append(p.Add, kr)
		case !kr.matches(h):
			p.Replace = append(p.Replace, routeChange{Old: h, New: kr})
		}
	}
	if len(have) > kept { // some route felix has is not wanted
		for dst, h := range have {
			if _, ok := wanted[dst]; !ok {
				p.Del = append(p.Del, h)
			}
		}
		slices.SortFunc(p.Del, func(a, b kernelRoute) int { return comparePrefix(a.Dst, b.Dst) })
	}
	return p, nil
}

// indexRoutes indexes routes as listed from the kernel by destination. A destination can hold more than one
// felix route (of different metrics, say): the first is indexed and the others are returned as doubles, for
// deletion.
func indexRoutes(listed []kernelRoute) (routeTable, []kernelRoute) {
	t := make(routeTable, len(listed))
	var doubles []kernelRoute
	for _, r := range listed {
		if _, ok := t[r.Dst]; ok {
			doubles = append(doubles, r)
			continue
		}
		t[r.Dst] = r
	}
	return t, doubles
}

// driftedRoutes lists, sorted, the destinations whose felix routes in the kernel (now, as just listed) differ
// from what felix remembers having (then): a route gone, added, changed or doubled behind felix's back.
func driftedRoutes(then routeTable, now []kernelRoute) []netip.Prefix {
	seen := make(map[netip.Prefix]bool, len(now))
	var drifted []netip.Prefix
	for _, r := range now {
		if old, ok := then[r.Dst]; seen[r.Dst] || !ok || !old.matches(r) {
			drifted = append(drifted, r.Dst)
		}
		seen[r.Dst] = true
	}
	for dst := range then {
		if !seen[dst] {
			drifted = append(drifted, dst)
		}
	}
	slices.SortFunc(drifted, comparePrefix)
	return slices.Compact(drifted)
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// forgetRoutesVia drops from t the routes through the given links, which the kernel removed with the links (or
// when they were set down), and says how many it dropped.
func (t routeTable) forgetRoutesVia(downed map[int]bool) int {
	if len(downed) == 0 {
		return 0
	}
	n := len(t)
	maps.DeleteFunc(t, func(_ netip.Prefix, r kernelRoute) bool { return r.LinkIndex != 0 && downed[r.LinkIndex] })
	return n - len(t)
}

// matches says whether the kernel route h is the desired route w. A desired gateway route without an
// interface leaves the choice of interface to the kernel.
func (w kernelRoute) matches(h kernelRoute) bool {
	if w.LinkIndex == 0 && w.Gateway.IsValid() {
		h.LinkIndex = 0
	}
	return w == h
}

// toKernelRoute resolves a desired route; ok is false when its interface does not exist.
func toKernelRoute(r desired.Route, links map[string]linkInfo) (kr kernelRoute, ok bool, err error) {
	if !r.Dst.IsValid() {
		return kr, false, fmt.Errorf("route without a destination: %+v", r)
	}
	kr = kernelRoute{Dst: r.Dst.Masked(), Type: r.Type}
	switch r.Type {
	case desired.Blackhole:
		if r.Iface != "" || r.Gateway.IsValid() {
			return kr, false, fmt.Errorf("blackhole route %s with an interface or gateway", r.Dst)
		}
		return kr, true, nil
	case desired.Unicast:
	default:
		return kr, false, fmt.Errorf("route %s: unknown type %d", r.Dst, r.Type)
	}
	if r.Iface == "" && !r.Gateway.IsValid() {
		return kr, false, fmt.Errorf("route %s has neither interface nor gateway", r.Dst)
	}
	if r.OnLink && (r.Iface == "" || !r.Gateway.IsValid()) {
		return kr, false, fmt.Errorf("onlink route %s needs both interface and gateway", r.Dst)
	}
	if r.Gateway.IsValid() && r.Gateway.Is4() != r.Dst.Addr().Is4() {
		return kr, false, fmt.Errorf("route %s: gateway %s is of the other IP family", r.Dst, r.Gateway)
	}
	kr.Gateway, kr.OnLink = r.Gateway, r.OnLink
	if r.Iface != "" {
		l, ok := links[r.Iface]
		if !ok {
			return kr, false, nil
		}
		kr.LinkIndex = l.index
	}
	return kr, true, nil
}
