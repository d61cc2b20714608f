package main

import (
	"net/netip"
	"reflect"
	"testing"
)

const statusOutput = `Calico process is running.

IPv4 BGP status
+---------------+-------------------+-------+----------+--------------------------------------------+
| PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |                    INFO                    |
+---------------+-------------------+-------+----------+--------------------------------------------+
| 100.88.183.12 | node-to-node mesh | up    | 13:54:30 | Established                                |
| 100.88.183.13 | node-to-node mesh | start | 13:54:42 | Passive Received: Administrative shutdown  |
+---------------+-------------------+-------+----------+--------------------------------------------+

IPv6 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| fd00::3      | node-to-node mesh | up    | 13:54:30 | Established |
+--------------+-------------------+-------+----------+-------------+
`

func TestPeerStatesReadsTheIPv4TableOfNodeStatus(t *testing.T) {
	got := peerStates(statusOutput)
	want := map[string]string{"100.88.183.12": "Established", "100.88.183.13": "Passive Received: Administrative shutdown"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("peerStates = %v, want %v", got, want)
	}
}

func TestAllEstablished(t *testing.T) {
	for _, tc := range []struct {
		name  string
		peers []string
		want  bool
	}{
		{"holds when every wanted peer is Established", []string{"100.88.183.12"}, true},
		{"fails when one peer is not Established", []string{"100.88.183.12", "100.88.183.13"}, false},
		{"fails when a wanted peer is missing from the table", []string{"100.88.183.99"}, false},
		{"ignores IPv6 peers", []string{"fd00::3"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, why := allEstablished(statusOutput, tc.peers); got != tc.want {
				t.Errorf("allEstablished(%v) = %t (%s), want %t", tc.peers, got, why, tc.want)
			}
		})
	}
}

const host1Routes = `default via 100.88.183.254 dev eth0
10.65.55.64/26 via 100.88.183.13 dev eth0 proto bird
10.65.119.0 dev cali405886c2b3e proto 80 scope link
blackhole 10.65.119.0/26 proto 80
10.65.119.1 dev cali8425660bc0b proto 80 scope link
10.65.183.64/26 via 100.88.183.12 dev eth0 proto static
100.88.183.0/24 dev eth0 proto kernel scope link src 100.88.183.11
`

func TestMissingRoutes(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		want routeWants
		miss []string
	}{
		{"finds nothing missing when the blackhole, a BGP route and the pod routes are there",
			routeWants{OwnBlocks: []netip.Prefix{p("10.65.119.0/26")},
				PeerBlocks: map[netip.Prefix]netip.Addr{p("10.65.55.64/26"): a("100.88.183.13")},
				LocalPods:  []netip.Addr{a("10.65.119.0"), a("10.65.119.1")}}, nil},
		{"reports a peer block that is not from BIRD",
			routeWants{PeerBlocks: map[netip.Prefix]netip.Addr{p("10.65.183.64/26"): a("100.88.183.12")}},
			[]string{"10.65.183.64/26 via 100.88.183.12 proto bird"}},
		{"reports a peer block via the wrong host",
			routeWants{PeerBlocks: map[netip.Prefix]netip.Addr{p("10.65.55.64/26"): a("100.88.183.12")}},
			[]string{"10.65.55.64/26 via 100.88.183.12 proto bird"}},
		{"reports a missing blackhole and a pod without a cali route",
			routeWants{OwnBlocks: []netip.Prefix{p("10.65.7.0/26")}, LocalPods: []netip.Addr{a("10.65.55.64")}},
			[]string{"blackhole 10.65.7.0/26", "10.65.55.64 dev cali*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := missingRoutes(host1Routes, tc.want); !reflect.DeepEqual(got, tc.miss) {
				t.Errorf("missingRoutes = %q, want %q", got, tc.miss)
			}
		})
	}
}

func TestMissingHops(t *testing.T) {
	trace := `traceroute to 10.65.183.64 (10.65.183.64), 30 hops max, 60 byte packets
 1  100.88.183.11  0.242 ms
 2  100.88.183.12  0.120 ms
 3  10.65.183.64  0.044 ms
`
	if got := missingHops(trace, "100.88.183.11", "100.88.183.12", "10.65.183.64"); len(got) != 0 {
		t.Errorf("every hop is in the trace, yet missingHops = %v", got)
	}
	if got := missingHops(trace, "100.88.183.1", "10.65.183.6"); !reflect.DeepEqual(got, []string{"100.88.183.1", "10.65.183.6"}) {
		t.Errorf("prefixes of real hops must not count: missingHops = %v", got)
	}
}
