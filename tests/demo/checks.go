package main

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// peerStates reads the IPv4 table of `calicoctl node status`: peer address → its INFO column ("Established",
// "Active", "Connect", …).
func peerStates(status string) map[string]string {
	states := map[string]string{}
	inV4 := false
	for _, line := range strings.Split(status, "\n") {
		switch {
		case strings.HasPrefix(line, "IPv4 BGP status"):
			inV4 = true
			continue
		case strings.HasPrefix(line, "IPv6 BGP status"):
			inV4 = false
		}
		if !inV4 || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 5 {
			continue
		}
		addr := strings.TrimSpace(cells[0])
		if _, err := netip.ParseAddr(addr); err != nil {
			continue // the header row
		}
		states[addr] = strings.TrimSpace(cells[4])
	}
	return states
}

// allEstablished says whether every wanted peer is Established, or which are not.
func allEstablished(status string, peers []string) (bool, string) {
	states := peerStates(status)
	var not []string
	for _, p := range peers {
		if !strings.HasPrefix(states[p], "Established") {
			not = append(not, fmt.Sprintf("%s=%q", p, states[p]))
		}
	}
	return len(not) == 0, strings.Join(not, " ")
}

// routeWants is what a host's routing table must hold once its node, its peers and its pods are up.
type routeWants struct {
	OwnBlocks  []netip.Prefix              // blackholes felix installs for the host's blocks
	PeerBlocks map[netip.Prefix]netip.Addr // other hosts' blocks, learned over BGP, via those hosts
	LocalPods  []netip.Addr                // /32s to the host's workload interfaces
}

// blockOf is the /size block an address falls in.
func blockOf(ip netip.Addr, size int) netip.Prefix {
	p, _ := ip.Prefix(size)
	return p
}

// missingRoutes lists, in a stable order, what `ip route` output lacks of want.
func missingRoutes(ipRoute string, want routeWants) []string {
	type route struct {
		dst   string
		words []string
	}
	var routes []route
	for _, line := range strings.Split(ipRoute, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		r := route{dst: f[0], words: f}
		if f[0] == "blackhole" && len(f) > 1 {
			r.dst = f[1]
		}
		routes = append(routes, r)
	}
	has := func(dst string, match func(words []string) bool) bool {
		for _, r := range routes {
			if r.dst == dst && match(r.words) {
				return true
			}
		}
		return false
	}
	// after says whether words hold key followed by a value that match accepts.
	after := func(words []string, key string, match func(string) bool) bool {
		for i := 0; i+1 < len(words); i++ {
			if words[i] == key && match(words[i+1]) {
				return true
			}
		}
		return false
	}
	is := func(v string) func(string) bool { return func(s string) bool { return s == v } }
	var missing []string
	for _, b := range want.OwnBlocks {
		if !has(b.String(), func(w []string) bool { return w[0] == "blackhole" }) {
			missing = append(missing, "blackhole "+b.String())
		}
	}
	var peers []netip.Prefix
	for b := range want.PeerBlocks {
		peers = append(peers, b)
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].String() < peers[j].String() })
	for _, b := range peers {
		via := want.PeerBlocks[b].String()
		if !has(b.String(), func(w []string) bool { return after(w, "via", is(via)) && after(w, "proto", is("bird")) }) {
			missing = append(missing, b.String()+" via "+via+" proto bird")
		}
	}
	isCali := func(s string) bool { return strings.HasPrefix(s, "cali") }
	for _, ip := range want.LocalPods {
		if !has(ip.String(), func(w []string) bool { return after(w, "dev", isCali) }) {
			missing = append(missing, ip.String()+" dev cali*")
		}
	}
	return missing
}
