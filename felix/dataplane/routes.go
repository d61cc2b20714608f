package dataplane

import (
	"fmt"
	"net/netip"

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

// routePlan is what it takes to make felix's routes match.
type routePlan struct {
	Add     []kernelRoute
	Replace []routeChange
	Del     []kernelRoute
	Skipped []desired.Route // their interface does not exist (yet)
}

// planRoutes compares the desired routes with felix's routes in the kernel (have). ifindex maps the names of
// the links that exist to their index. A route whose interface is missing is skipped (kept if the kernel still
// has it); it is added once the interface appears and the caller applies again.
func planRoutes(want []desired.Route, have []kernelRoute, ifindex map[string]int) (routePlan, error) {
	var p routePlan
	wanted := map[netip.Prefix]kernelRoute{}
	waiting := map[netip.Prefix]bool{}
	var order []netip.Prefix
	for _, r := range want {
		kr, err := toKernelRoute(r, ifindex)
		if err != nil {
			return routePlan{}, err
		}
		dst := r.Dst.Masked()
		if _, dup := wanted[dst]; dup || waiting[dst] {
			return routePlan{}, fmt.Errorf("two desired routes for %s", dst)
		}
		if kr == nil {
			p.Skipped = append(p.Skipped, r)
			waiting[dst] = true
			continue
		}
		wanted[dst] = *kr
		order = append(order, dst)
	}
	present := map[netip.Prefix]bool{}
	for _, h := range have {
		w, ok := wanted[h.Dst]
		switch {
		case present[h.Dst]:
			p.Del = append(p.Del, h) // a second felix route for the same destination
		case waiting[h.Dst]:
			present[h.Dst] = true // left alone until its interface is back
		case !ok:
			p.Del = append(p.Del, h)
		case !w.matches(h):
			p.Replace = append(p.Replace, routeChange{Old: h, New: w})
			present[h.Dst] = true
		default:
			present[h.Dst] = true
		}
	}
	for _, dst := range order {
		if !present[dst] {
			p.Add = append(p.Add, wanted[dst])
		}
	}
	return p, nil
}

// matches says whether the kernel route h is the desired route w. A desired gateway route without an
// interface leaves the choice of interface to the kernel.
func (w kernelRoute) matches(h kernelRoute) bool {
	if w.LinkIndex == 0 && w.Gateway.IsValid() {
		h.LinkIndex = 0
	}
	return w == h
}

// toKernelRoute resolves a desired route; nil when its interface does not exist.
func toKernelRoute(r desired.Route, ifindex map[string]int) (*kernelRoute, error) {
	if !r.Dst.IsValid() {
		return nil, fmt.Errorf("route without a destination: %+v", r)
	}
	kr := kernelRoute{Dst: r.Dst.Masked(), Type: r.Type}
	switch r.Type {
	case desired.Blackhole:
		if r.Iface != "" || r.Gateway.IsValid() {
			return nil, fmt.Errorf("blackhole route %s with an interface or gateway", r.Dst)
		}
		return &kr, nil
	case desired.Unicast:
	default:
		return nil, fmt.Errorf("route %s: unknown type %d", r.Dst, r.Type)
	}
	if r.Iface == "" && !r.Gateway.IsValid() {
		return nil, fmt.Errorf("route %s has neither interface nor gateway", r.Dst)
	}
	if r.OnLink && (r.Iface == "" || !r.Gateway.IsValid()) {
		return nil, fmt.Errorf("onlink route %s needs both interface and gateway", r.Dst)
	}
	if r.Gateway.IsValid() && r.Gateway.Is4() != r.Dst.Addr().Is4() {
		return nil, fmt.Errorf("route %s: gateway %s is of the other IP family", r.Dst, r.Gateway)
	}
	kr.Gateway, kr.OnLink = r.Gateway, r.OnLink
	if r.Iface != "" {
		idx, ok := ifindex[r.Iface]
		if !ok {
			return nil, nil
		}
		kr.LinkIndex = idx
	}
	return &kr, nil
}
