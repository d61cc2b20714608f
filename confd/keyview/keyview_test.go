package keyview

import (
	"encoding/json"
	"flag"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
)

// -update is accepted so that `go test ./confd/... -update`, which rewrites the goldens in confd/testdata, also
// runs here; this package has no golden files of its own.
var _ = flag.Bool("update", false, "accepted for go test ./confd/... -update; no golden files here")

func newNode(name, ipv4, ipv6 string, mods ...func(*api.Node)) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	if ipv4 != "" || ipv6 != "" {
		n.Spec.BGP = &api.NodeBGPSpec{IPv4Address: ipv4, IPv6Address: ipv6}
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func withLabels(kv ...string) func(*api.Node) {
	return func(n *api.Node) {
		n.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withAS(as api.ASNumber) func(*api.Node) {
	return func(n *api.Node) { n.Spec.BGP.ASNumber = &as }
}

func withRR(id string) func(*api.Node) {
	return func(n *api.Node) { n.Spec.BGP.RouteReflectorClusterID = id }
}

func asn(n api.ASNumber) *api.ASNumber { return &n }

func boolp(b bool) *bool { return &b }

func peer(name string, spec api.BGPPeerSpec) *api.BGPPeer {
	return &api.BGPPeer{ObjectMeta: api.ObjectMeta{Name: name}, Spec: spec}
}

func bgpConfig(name string, spec api.BGPConfigurationSpec) *api.BGPConfiguration {
	return &api.BGPConfiguration{ObjectMeta: api.ObjectMeta{Name: name}, Spec: spec}
}

func pool(name, cidr, ipip, vxlan string) *api.IPPool {
	return &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: ipip, VXLANMode: vxlan, NATOutgoing: true}}
}

// meshOff disables the node-to-node mesh.
var meshOff = bgpConfig("default", api.BGPConfigurationSpec{NodeToNodeMeshEnabled: boolp(false)})

// localPeers decodes every peers_v4 and peers_v6 key of node, sorted by family then name.
func localPeers(t *testing.T, view map[string]string, node string) []Peer {
	t.Helper()
	var keys []string
	for k := range view {
		rest, ok := strings.CutPrefix(k, HostPrefix+"/"+node+"/")
		if ok && (strings.HasPrefix(rest, "peers_v4/") || strings.HasPrefix(rest, "peers_v6/")) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Peer
	for _, k := range keys {
		var p Peer
		if err := json.Unmarshal([]byte(view[k]), &p); err != nil {
			t.Fatalf("key %s holds %q, not a peer: %v", k, view[k], err)
		}
		if !strings.HasSuffix(k, "/"+p.Name) {
			t.Errorf("key %s holds the peer named %s", k, p.Name)
		}
		out = append(out, p)
	}
	return out
}

func TestBuild(t *testing.T) {
	three := []*api.Node{
		newNode("node1", "10.0.0.1/24", ""),
		newNode("node2", "10.0.0.2/24", ""),
		newNode("node3", "10.0.0.3/24", ""),
	}
	tests := []struct {
		name  string
		in    Input
		want  map[string]string // keys that must hold exactly these values
		never []string          // keys that must not exist
		peers []Peer            // every peers_v4/peers_v6 key of in.NodeName
		warns []string          // substrings, one per expected warning
	}{
		{
			name: "a single node gets the default global keys, its own keys and no peers",
			in:   Input{NodeName: "node1", Nodes: []*api.Node{newNode("node1", "10.0.0.1/24", "")}},
			want: map[string]string{
				"/calico/bgp/v1/global/as_num":                 "64512",
				"/calico/bgp/v1/global/node_mesh":              `{"enabled":true}`,
				"/calico/bgp/v1/global/loglevel":               "info",
				"/calico/bgp/v1/host/node1/ip_addr_v4":         "10.0.0.1",
				"/calico/bgp/v1/host/node1/ip_addr_v6":         "",
				"/calico/bgp/v1/host/node1/network_v4":         "10.0.0.0/24",
				"/calico/bgp/v1/host/node1/rr_cluster_id":      "",
				"/calico/bgp/v1/host/node1/router_id":          "10.0.0.1",
				"/calico/bgp/v1/host/node1/local_as_num":       "64512",
				"/calico/bgp/v1/host/node1/effective_loglevel": "info",
				"/calico/bgp/v1/host/node1/node_mesh_state":    "enabled",
			},
			never: []string{"/calico/bgp/v1/host/node1/as_num", "/calico/bgp/v1/host/node1/network_v6"},
		},
		{
			name: "three nodes form a full mesh in which the side with the greater address waits",
			in:   Input{NodeName: "node2", Nodes: three},
			peers: []Peer{
				{Name: "Mesh_10_0_0_1", Type: "mesh", IP: "10.0.0.1", ASNum: "64512", Node: "node1"},
				{Name: "Mesh_10_0_0_3", Type: "mesh", IP: "10.0.0.3", ASNum: "64512", Node: "node3", Passive: true},
			},
		},
		{
			name: "mesh passivity compares address strings, as Calico does, so 10.0.0.10 waits for 10.0.0.9",
			in: Input{NodeName: "a", Nodes: []*api.Node{
				newNode("a", "10.0.0.10", ""), newNode("b", "10.0.0.9", ""),
			}},
			peers: []Peer{{Name: "Mesh_10_0_0_9", Type: "mesh", IP: "10.0.0.9", ASNum: "64512", Node: "b", Passive: true}},
		},
		{
			name: "with the mesh disabled a node has no sessions unless BGPPeers ask for them",
			in:   Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff}},
			want: map[string]string{
				"/calico/bgp/v1/global/node_mesh":           `{"enabled":false}`,
				"/calico/bgp/v1/host/node1/node_mesh_state": "disabled",
			},
		},
		{
			name: "a node that is not registered yet still gets a router id but no sessions",
			in:   Input{NodeName: "node9", Nodes: three},
			want: map[string]string{
				"/calico/bgp/v1/host/node9/router_id":    hashToIPv4("node9"),
				"/calico/bgp/v1/host/node9/local_as_num": "64512",
			},
			never: []string{"/calico/bgp/v1/host/node9/ip_addr_v4"},
		},
		{
			name: "a global peer is a session of every node next to the mesh",
			in: Input{NodeName: "node1", Nodes: three, BGPPeers: []*api.BGPPeer{
				peer("tor", api.BGPPeerSpec{PeerIP: "192.0.2.1", ASNumber: asn(65000)}),
			}},
			want: map[string]string{
				"/calico/bgp/v1/global/peer_v4/192.0.2.1": `{"ip":"192.0.2.1","as_num":"65000","rr_cluster_id":""}`,
			},
			never: []string{"/calico/bgp/v1/host/node1/peer_v4/192.0.2.1"},
			peers: []Peer{
				{Name: "Global_192_0_2_1", Type: "global", IP: "192.0.2.1", ASNum: "65000"},
				{Name: "Mesh_10_0_0_2", Type: "mesh", IP: "10.0.0.2", ASNum: "64512", Node: "node2", Passive: true},
				{Name: "Mesh_10_0_0_3", Type: "mesh", IP: "10.0.0.3", ASNum: "64512", Node: "node3", Passive: true},
			},
		},
		{
			name: "a global peer at a Calico node's address replaces the mesh session to it and is skipped by that node",
			in: Input{NodeName: "node2", Nodes: three, Secrets: testSecrets, BGPPeers: []*api.BGPPeer{
				peer("to-node1", api.BGPPeerSpec{PeerIP: "10.0.0.1", ASNumber: asn(64512), Password: secretRef("bgp", "s3cret")}),
			}},
			peers: []Peer{
				{Name: "Global_10_0_0_1", Type: "global", IP: "10.0.0.1", ASNum: "64512", Node: "node1", Password: "s3cret"},
				{Name: "Mesh_10_0_0_3", Type: "mesh", IP: "10.0.0.3", ASNum: "64512", Node: "node3", Passive: true},
			},
		},
		{
			name: "the node a global peer points at gets a session back to every other node",
			in: Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff},
				BGPPeers: []*api.BGPPeer{peer("to-node1", api.BGPPeerSpec{PeerIP: "10.0.0.1", ASNumber: asn(64512)})}},
			want: map[string]string{
				"/calico/bgp/v1/host/node1/peer_v4/10.0.0.2": `{"ip":"10.0.0.2","as_num":"64512","rr_cluster_id":""}`,
			},
			never: []string{"/calico/bgp/v1/host/node1/peer_v4/10.0.0.1"},
			peers: []Peer{
				{Name: "Node_10_0_0_2", Type: "node", IP: "10.0.0.2", ASNum: "64512", Node: "node2"},
				{Name: "Node_10_0_0_3", Type: "node", IP: "10.0.0.3", ASNum: "64512", Node: "node3"},
			},
		},
		{
			name: "a peer at a Calico node's address but with another AS gets no session back",
			in: Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff},
				BGPPeers: []*api.BGPPeer{peer("to-node1", api.BGPPeerSpec{PeerIP: "10.0.0.1", ASNumber: asn(65009)})}},
			never: []string{"/calico/bgp/v1/host/node1/peer_v4/10.0.0.2"},
		},
		{
			name: "a node-specific peer is a session of that node only",
			in: Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff},
				Secrets: testSecrets, BGPPeers: []*api.BGPPeer{peer("rack1-tor", api.BGPPeerSpec{Node: "node1", PeerIP: "192.0.2.1", ASNumber: asn(65001), Password: secretRef("bgp", "pw")})}},
			want: map[string]string{
				"/calico/bgp/v1/host/node1/peer_v4/192.0.2.1": `{"ip":"192.0.2.1","as_num":"65001","rr_cluster_id":""}`,
			},
			never: []string{"/calico/bgp/v1/global/peer_v4/192.0.2.1", "/calico/bgp/v1/host/node2/peer_v4/192.0.2.1"},
			peers: []Peer{{Name: "Node_192_0_2_1", Type: "node", IP: "192.0.2.1", ASNum: "65001", Password: "pw"}},
		},
		{
			name: "a node-specific peer to an address a global peer already covers is dropped",
			in: Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff},
				BGPPeers: []*api.BGPPeer{
					peer("a-global", api.BGPPeerSpec{PeerIP: "192.0.2.1", ASNumber: asn(65000)}),
					peer("b-node", api.BGPPeerSpec{Node: "node1", PeerIP: "192.0.2.1", ASNumber: asn(65001)}),
				}},
			never: []string{"/calico/bgp/v1/host/node1/peer_v4/192.0.2.1"},
			peers: []Peer{{Name: "Global_192_0_2_1", Type: "global", IP: "192.0.2.1", ASNum: "65000"}},
		},
		{
			name: "nodeSelector and peerSelector peer the selected nodes, and the selected peers peer back",
			in: Input{NodeName: "spine", BGPConfigurations: []*api.BGPConfiguration{meshOff},
				Nodes: []*api.Node{
					newNode("leaf1", "10.0.1.1/24", "", withLabels("rack", "r1")),
					newNode("leaf2", "10.0.1.2/24", "", withLabels("rack", "r1")),
					newNode("other", "10.0.2.1/24", "", withLabels("rack", "r2")),
					newNode("spine", "10.0.9.1/24", "", withLabels("spine", "true")),
				},
				BGPPeers: []*api.BGPPeer{peer("r1-to-spine", api.BGPPeerSpec{NodeSelector: "rack == 'r1'", PeerSelector: "has(spine)"})}},
			want: map[string]string{
				"/calico/bgp/v1/host/leaf1/peer_v4/10.0.9.1": `{"ip":"10.0.9.1","as_num":"64512","rr_cluster_id":""}`,
				"/calico/bgp/v1/host/spine/peer_v4/10.0.1.2": `{"ip":"10.0.1.2","as_num":"64512","rr_cluster_id":""}`,
			},
			never: []string{"/calico/bgp/v1/host/other/peer_v4/10.0.9.1", "/calico/bgp/v1/host/spine/peer_v4/10.0.2.1"},
			peers: []Peer{
				{Name: "Node_10_0_1_1", Type: "node", IP: "10.0.1.1", ASNum: "64512", Node: "leaf1"},
				{Name: "Node_10_0_1_2", Type: "node", IP: "10.0.1.2", ASNum: "64512", Node: "leaf2"},
			},
		},
		{
			name: "a peerSelector without a nodeSelector applies to every node except the selected one itself",
			in: Input{NodeName: "spine", BGPConfigurations: []*api.BGPConfiguration{meshOff},
				Nodes: []*api.Node{
					newNode("leaf1", "10.0.1.1/24", ""),
					newNode("spine", "10.0.9.1/24", "", withLabels("spine", "true")),
				},
				BGPPeers: []*api.BGPPeer{peer("all-to-spine", api.BGPPeerSpec{PeerSelector: "has(spine)"})}},
			want:  map[string]string{"/calico/bgp/v1/host/leaf1/peer_v4/10.0.9.1": `{"ip":"10.0.9.1","as_num":"64512","rr_cluster_id":""}`},
			never: []string{"/calico/bgp/v1/host/spine/peer_v4/10.0.9.1"},
			peers: []Peer{{Name: "Node_10_0_1_1", Type: "node", IP: "10.0.1.1", ASNum: "64512", Node: "leaf1"}},
		},
		{
			name: "a route reflector treats the nodes peered to it as clients and keeps their next hops",
			in: Input{NodeName: "rr1", BGPConfigurations: []*api.BGPConfiguration{meshOff},
				Nodes: []*api.Node{
					newNode("n1", "10.0.0.11/24", ""),
					newNode("n2", "10.0.0.12/24", ""),
					newNode("rr1", "10.0.0.2/24", "", withLabels("route-reflector", "true"), withRR("224.0.0.1")),
					newNode("rr2", "10.0.0.3/24", "", withLabels("route-reflector", "true"), withRR("224.0.0.1")),
				},
				BGPPeers: []*api.BGPPeer{peer("peer-with-rrs", api.BGPPeerSpec{NodeSelector: "all()", PeerSelector: "route-reflector == 'true'"})}},
			want: map[string]string{
				"/calico/bgp/v1/host/rr1/rr_cluster_id":     "224.0.0.1",
				"/calico/bgp/v1/host/rr1/node_mesh_state":   "route_reflector",
				"/calico/bgp/v1/host/n1/peer_v4/10.0.0.2":   `{"ip":"10.0.0.2","as_num":"64512","rr_cluster_id":"224.0.0.1"}`,
				"/calico/bgp/v1/host/rr1/peer_v4/10.0.0.11": `{"ip":"10.0.0.11","as_num":"64512","rr_cluster_id":""}`,
			},
			peers: []Peer{
				{Name: "Node_10_0_0_11", Type: "node", IP: "10.0.0.11", ASNum: "64512", Node: "n1", RRClient: true, RRClusterID: "224.0.0.1", NextHopKeep: true},
				{Name: "Node_10_0_0_12", Type: "node", IP: "10.0.0.12", ASNum: "64512", Node: "n2", RRClient: true, RRClusterID: "224.0.0.1", NextHopKeep: true},
				{Name: "Node_10_0_0_3", Type: "node", IP: "10.0.0.3", ASNum: "64512", Node: "rr2", NextHopKeep: true},
			},
		},
		{
			name: "a route reflector client peers with the reflectors and not as their client",
			in: Input{NodeName: "n1", BGPConfigurations: []*api.BGPConfiguration{meshOff},
				Nodes: []*api.Node{
					newNode("n1", "10.0.0.11/24", ""),
					newNode("rr1", "10.0.0.2/24", "", withLabels("route-reflector", "true"), withRR("224.0.0.1")),
				},
				BGPPeers: []*api.BGPPeer{peer("peer-with-rrs", api.BGPPeerSpec{NodeSelector: "all()", PeerSelector: "route-reflector == 'true'"})}},
			peers: []Peer{{Name: "Node_10_0_0_2", Type: "node", IP: "10.0.0.2", ASNum: "64512", Node: "rr1"}},
		},
		{
			name: "with the mesh on, route reflectors stay out of it and the other nodes mesh among themselves",
			in: Input{NodeName: "n1",
				Nodes: []*api.Node{
					newNode("n1", "10.0.0.11/24", ""),
					newNode("n2", "10.0.0.12/24", ""),
					newNode("rr1", "10.0.0.2/24", "", withRR("224.0.0.1")),
				}},
			peers: []Peer{{Name: "Mesh_10_0_0_12", Type: "mesh", IP: "10.0.0.12", ASNum: "64512", Node: "n2", Passive: true}},
		},
		{
			name: "a route reflector never makes an eBGP peer its client",
			in: Input{NodeName: "rr1", Nodes: []*api.Node{newNode("rr1", "10.0.0.2/24", "", withRR("224.0.0.1"))},
				BGPPeers: []*api.BGPPeer{peer("upstream", api.BGPPeerSpec{PeerIP: "192.0.2.1", ASNumber: asn(65000)})}},
			peers: []Peer{{Name: "Global_192_0_2_1", Type: "global", IP: "192.0.2.1", ASNum: "65000"}},
		},
		{
			name: "a node's own AS number is its local AS and what its peers expect",
			in: Input{NodeName: "node1",
				BGPConfigurations: []*api.BGPConfiguration{bgpConfig("default", api.BGPConfigurationSpec{ASNumber: asn(64600)})},
				Nodes: []*api.Node{
					newNode("node1", "10.0.0.1/24", ""),
					newNode("node2", "10.0.0.2/24", "", withAS(65002)),
				}},
			want: map[string]string{
				"/calico/bgp/v1/global/as_num":              "64600",
				"/calico/bgp/v1/host/node2/as_num":          "65002",
				"/calico/bgp/v1/host/node1/local_as_num":    "64600",
				"/calico/bgp/v1/host/node2/ip_addr_v4":      "10.0.0.2",
				"/calico/bgp/v1/host/node2/rr_cluster_id":   "",
				"/calico/bgp/v1/host/node1/node_mesh_state": "enabled",
			},
			never: []string{"/calico/bgp/v1/host/node1/as_num", "/calico/bgp/v1/host/node2/local_as_num"},
			peers: []Peer{{Name: "Mesh_10_0_0_2", Type: "mesh", IP: "10.0.0.2", ASNum: "65002", Node: "node2", Passive: true}},
		},
		{
			name: "IPv6 addresses give IPv6 keys and an IPv6 mesh beside the IPv4 one",
			in: Input{NodeName: "node1", Nodes: []*api.Node{
				newNode("node1", "10.0.0.1/24", "fd00::1/64"),
				newNode("node2", "10.0.0.2/24", "fd00::2/64"),
				newNode("v4only", "10.0.0.3/24", ""),
			}},
			want: map[string]string{
				"/calico/bgp/v1/host/node1/ip_addr_v6":  "fd00::1",
				"/calico/bgp/v1/host/node1/network_v6":  "fd00::/64",
				"/calico/bgp/v1/host/v4only/ip_addr_v6": "",
			},
			peers: []Peer{
				{Name: "Mesh_10_0_0_2", Type: "mesh", IP: "10.0.0.2", ASNum: "64512", Node: "node2", Passive: true},
				{Name: "Mesh_10_0_0_3", Type: "mesh", IP: "10.0.0.3", ASNum: "64512", Node: "v4only", Passive: true},
				{Name: "Mesh_fd00__2", Type: "mesh", IP: "fd00::2", ASNum: "64512", Node: "node2", Passive: true},
			},
		},
		{
			name: "an IPv6-only node falls back to a router id hashed from its name",
			in:   Input{NodeName: "node6", Nodes: []*api.Node{newNode("node6", "", "fd00::6")}},
			want: map[string]string{
				"/calico/bgp/v1/host/node6/router_id":  hashToIPv4("node6"),
				"/calico/bgp/v1/host/node6/network_v6": "fd00::6/128",
				"/calico/bgp/v1/host/node6/ip_addr_v4": "",
			},
		},
		{
			name: "CALICO_ROUTER_ID=hash hashes the node name even when the node has an IPv4 address",
			in:   Input{NodeName: "node1", RouterID: "hash", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}},
			want: map[string]string{"/calico/bgp/v1/host/node1/router_id": hashToIPv4("node1")},
		},
		{
			name: "an explicit CALICO_ROUTER_ID is used as it is",
			in:   Input{NodeName: "node1", RouterID: "1.2.3.4", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}},
			want: map[string]string{"/calico/bgp/v1/host/node1/router_id": "1.2.3.4"},
		},
		{
			name:  "a CALICO_ROUTER_ID that is no IPv4 address is reported and the node address used",
			in:    Input{NodeName: "node1", RouterID: "fd00::1", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}},
			want:  map[string]string{"/calico/bgp/v1/host/node1/router_id": "10.0.0.1"},
			warns: []string{`CALICO_ROUTER_ID "fd00::1"`},
		},
		{
			name: "IP pools get Calico's pool keys and say which pools felix routes",
			in: Input{NodeName: "node1", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}, IPPools: []*api.IPPool{
				pool("always", "192.168.0.0/18", "Always", ""),
				pool("cross", "192.168.64.0/18", "CrossSubnet", "Never"),
				pool("never", "192.168.128.0/18", "Never", ""),
				pool("vxlan", "192.168.192.0/18", "", "Always"),
				pool("v6", "fd00:1::/48", "", ""),
			}},
			want: map[string]string{
				"/calico/v1/ipam/v4/pool/192.168.0.0-18":              `{"cidr":"192.168.0.0/18","ipip":"tunl0","ipip_mode":"always","masquerade":true,"ipam":true,"disabled":false}`,
				"/calico/v1/ipam/v4/pool/192.168.64.0-18":             `{"cidr":"192.168.64.0/18","ipip":"tunl0","ipip_mode":"cross-subnet","masquerade":true,"ipam":true,"disabled":false}`,
				"/calico/v1/ipam/v4/pool/192.168.128.0-18":            `{"cidr":"192.168.128.0/18","ipip":"","ipip_mode":"","masquerade":true,"ipam":true,"disabled":false}`,
				"/calico/v1/ipam/v6/pool/fd00:1::-48":                 `{"cidr":"fd00:1::/48","ipip":"","ipip_mode":"","masquerade":true,"ipam":true,"disabled":false}`,
				"/calico/bgp/v1/host/node1/pools_v4/192.168.0.0-18":   `{"cidr":"192.168.0.0/18","ipip_mode":"Always","vxlan_mode":"Never","felix_routes":true}`,
				"/calico/bgp/v1/host/node1/pools_v4/192.168.64.0-18":  `{"cidr":"192.168.64.0/18","ipip_mode":"CrossSubnet","vxlan_mode":"Never","felix_routes":true}`,
				"/calico/bgp/v1/host/node1/pools_v4/192.168.128.0-18": `{"cidr":"192.168.128.0/18","ipip_mode":"Never","vxlan_mode":"Never","felix_routes":false}`,
				"/calico/bgp/v1/host/node1/pools_v4/192.168.192.0-18": `{"cidr":"192.168.192.0/18","ipip_mode":"Never","vxlan_mode":"Always","felix_routes":true}`,
				"/calico/bgp/v1/host/node1/pools_v6/fd00:1::-48":      `{"cidr":"fd00:1::/48","ipip_mode":"Never","vxlan_mode":"Never","felix_routes":false}`,
			},
		},
		{
			name: "this node's block affinities are copied and aggregated unless still pending",
			in: Input{NodeName: "node1", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}, Affinities: map[string]string{
				"/calico/ipam/v2/host/node1/ipv4/block/192.168.0.0-26":  `{"state":"confirmed"}`,
				"/calico/ipam/v2/host/node1/ipv4/block/192.168.0.64-26": `{"state":"pending"}`,
				"/calico/ipam/v2/host/node1/ipv4/block/192.168.1.0-26":  `{}`,
				"/calico/ipam/v2/host/node1/ipv6/block/fd00:1::-122":    `{"state":"confirmed"}`,
				"/calico/ipam/v2/host/node2/ipv4/block/192.168.9.0-26":  `{"state":"confirmed"}`,
			}},
			want: map[string]string{
				"/calico/ipam/v2/host/node1/ipv4/block/192.168.0.0-26": `{"state":"confirmed"}`,
				"/calico/bgp/v1/host/node1/blocks_v4/192.168.0.0-26":   `{"cidr":"192.168.0.0/26","state":"confirmed","aggregate":true}`,
				"/calico/bgp/v1/host/node1/blocks_v4/192.168.0.64-26":  `{"cidr":"192.168.0.64/26","state":"pending","aggregate":false}`,
				"/calico/bgp/v1/host/node1/blocks_v4/192.168.1.0-26":   `{"cidr":"192.168.1.0/26","state":"confirmed","aggregate":true}`,
				"/calico/bgp/v1/host/node1/blocks_v6/fd00:1::-122":     `{"cidr":"fd00:1::/122","state":"confirmed","aggregate":true}`,
				"/calico/ipam/v2/host/node1/ipv6/block/fd00:1::-122":   `{"state":"confirmed"}`,
				"/calico/bgp/v1/host/node1/effective_loglevel":         "info",
				"/calico/bgp/v1/host/node1/node_mesh_state":            "enabled",
				"/calico/bgp/v1/host/node1/router_id":                  "10.0.0.1",
				"/calico/bgp/v1/host/node1/local_as_num":               "64512",
				"/calico/bgp/v1/host/node1/rr_cluster_id":              "",
				"/calico/bgp/v1/host/node1/ip_addr_v4":                 "10.0.0.1",
				"/calico/bgp/v1/host/node1/network_v4":                 "10.0.0.1/32",
				"/calico/bgp/v1/host/node1/ip_addr_v6":                 "",
				"/calico/bgp/v1/global/as_num":                         "64512",
				"/calico/bgp/v1/global/loglevel":                       "info",
				"/calico/bgp/v1/global/node_mesh":                      `{"enabled":true}`,
			},
			never: []string{"/calico/ipam/v2/host/node2/ipv4/block/192.168.9.0-26", "/calico/bgp/v1/host/node1/blocks_v4/192.168.9.0-26"},
		},
		{
			name: "the log level comes from BGP_LOGSEVERITYSCREEN, else the node's configuration, else the global one",
			in: Input{NodeName: "node1", Nodes: three[:1], BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{LogSeverityScreen: "Warning"}),
				bgpConfig("node.node2", api.BGPConfigurationSpec{LogSeverityScreen: "Debug"}),
			}},
			want: map[string]string{
				"/calico/bgp/v1/global/loglevel":               "none",
				"/calico/bgp/v1/host/node2/loglevel":           "debug",
				"/calico/bgp/v1/host/node1/effective_loglevel": "none",
			},
			never: []string{"/calico/bgp/v1/host/node1/loglevel"},
		},
		{
			name: "a per-node log level wins over the global one for that node",
			in: Input{NodeName: "node2", Nodes: three[1:2], BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("node.node2", api.BGPConfigurationSpec{LogSeverityScreen: "Debug"}),
			}},
			want: map[string]string{"/calico/bgp/v1/host/node2/effective_loglevel": "debug"},
		},
		{
			name: "BGP_LOGSEVERITYSCREEN wins over every BGPConfiguration",
			in: Input{NodeName: "node2", Nodes: three[1:2], LogLevel: "INFO", BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("node.node2", api.BGPConfigurationSpec{LogSeverityScreen: "Debug"}),
			}},
			want: map[string]string{"/calico/bgp/v1/host/node2/effective_loglevel": "info"},
		},
		{
			name: "peers BIRD cannot use are reported and left out",
			in: Input{NodeName: "node1", Nodes: three, BGPConfigurations: []*api.BGPConfiguration{meshOff}, Secrets: testSecrets, BGPPeers: []*api.BGPPeer{
				peer("bad-selector", api.BGPPeerSpec{NodeSelector: "rack ==", PeerIP: "192.0.2.1", ASNumber: asn(65000)}),
				peer("bad-password", api.BGPPeerSpec{PeerIP: "192.0.2.2", ASNumber: asn(65000), Password: secretRef("bgp", "quote")}),
				peer("bad-ip", api.BGPPeerSpec{PeerIP: "192.0.2", ASNumber: asn(65000)}),
			}},
			warns: []string{"BGPPeer(bad-ip)", "BGPPeer(bad-password)", "BGPPeer(bad-selector)"},
		},
		{
			name:  "node addresses of the wrong family are reported and left out",
			in:    Input{NodeName: "node1", Nodes: []*api.Node{newNode("node1", "fd00::1", "")}},
			want:  map[string]string{"/calico/bgp/v1/host/node1/ip_addr_v4": ""},
			warns: []string{"Node(node1): ignoring IPv4 address"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, warns := Build(tt.in)
			for k, want := range tt.want {
				got, ok := view[k]
				switch {
				case !ok:
					t.Errorf("key %s is missing; want %q", k, want)
				case got != want:
					t.Errorf("key %s = %q; want %q", k, got, want)
				}
			}
			for _, k := range tt.never {
				if v, ok := view[k]; ok {
					t.Errorf("key %s = %q; want no such key", k, v)
				}
			}
			// The table leaves out the usual source address, the node's own (TestPeerOptions covers it).
			got := localPeers(t, view, tt.in.NodeName)
			for i, p := range got {
				own := view[HostPrefix+"/"+tt.in.NodeName+"/ip_addr_v4"]
				if strings.Contains(p.IP, ":") {
					own = view[HostPrefix+"/"+tt.in.NodeName+"/ip_addr_v6"]
				}
				if p.SourceAddress == own {
					got[i].SourceAddress = ""
				}
			}
			if !reflect.DeepEqual(got, tt.peers) {
				t.Errorf("peers of %s:\n got  %+v\n want %+v", tt.in.NodeName, got, tt.peers)
			}
			if len(warns) != len(tt.warns) {
				t.Fatalf("got %d warnings %q; want %d containing %q", len(warns), warns, len(tt.warns), tt.warns)
			}
			sort.Strings(warns)
			for i, w := range tt.warns {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q does not mention %q", warns[i], w)
				}
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	in := Input{NodeName: "rr1", BGPConfigurations: []*api.BGPConfiguration{meshOff},
		Nodes: []*api.Node{
			newNode("n2", "10.0.0.12/24", ""),
			newNode("rr1", "10.0.0.2/24", "", withLabels("rr", "y"), withRR("1.1.1.1")),
			newNode("n1", "10.0.0.11/24", ""),
		},
		BGPPeers: []*api.BGPPeer{
			peer("z", api.BGPPeerSpec{NodeSelector: "all()", PeerSelector: "has(rr)"}),
			peer("a", api.BGPPeerSpec{Node: "n1", PeerIP: "10.0.0.2", ASNumber: asn(64512)}),
		}}
	first, _ := Build(in)
	// Reverse the inputs: the view must not depend on their order.
	in.Nodes[0], in.Nodes[2] = in.Nodes[2], in.Nodes[0]
	in.BGPPeers[0], in.BGPPeers[1] = in.BGPPeers[1], in.BGPPeers[0]
	second, _ := Build(in)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("the view depends on input order:\n first  %v\n second %v", first, second)
	}
}

func TestBuildWithoutNodeNameHasNoLocalKeys(t *testing.T) {
	view, _ := Build(Input{Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")},
		IPPools: []*api.IPPool{pool("p", "10.1.0.0/16", "", "")}})
	for k := range view {
		if strings.HasPrefix(k, HostPrefix+"//") {
			t.Errorf("key %s was built for an empty node name", k)
		}
	}
	if _, ok := view["/calico/v1/ipam/v4/pool/10.1.0.0-16"]; !ok {
		t.Errorf("the pool key is missing from %v", view)
	}
}

// TestSessionsBetweenCalicoNodesAreConfiguredOnBothEnds builds the view of every node of a mixed cluster (mesh,
// route reflectors, selector peerings, a global peer at a node's address, dual stack) and checks that each
// session one Calico node has with another is matched by the other's session back, and that exactly one end of
// each mesh session waits.
func TestSessionsBetweenCalicoNodesAreConfiguredOnBothEnds(t *testing.T) {
	var nodes []*api.Node
	for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.0.11", "10.0.0.100", "10.0.1.5", "192.168.7.3"} {
		v6 := ""
		if i%2 == 0 {
			v6 = "fd00::" + strings.ReplaceAll(ip, ".", ":")
		}
		nodes = append(nodes, newNode("n"+ip, ip+"/16", v6, withLabels("rack", []string{"a", "b"}[i%2])))
	}
	nodes = append(nodes,
		newNode("rr1", "10.0.5.1/16", "fd00::5:1", withLabels("rr", "yes"), withRR("1.1.1.1")),
		newNode("rr2", "10.0.5.2/16", "", withLabels("rr", "yes"), withRR("1.1.1.1")),
	)
	peers := []*api.BGPPeer{
		peer("clients-to-rrs", api.BGPPeerSpec{NodeSelector: "rack == 'b'", PeerSelector: "has(rr)"}),
		peer("rrs-with-each-other", api.BGPPeerSpec{NodeSelector: "has(rr)", PeerSelector: "has(rr)"}),
		peer("to-a-node", api.BGPPeerSpec{PeerIP: "10.0.0.9", ASNumber: asn(64512)}),
		peer("rack-a-to-n10", api.BGPPeerSpec{NodeSelector: "rack == 'a'", PeerIP: "10.0.0.10", ASNumber: asn(64512)}),
	}
	type end struct{ from, to string } // node names
	sessions := map[end]Peer{}
	ipToNode := map[string]string{}
	for _, n := range nodes {
		ipToNode[strings.Split(n.Spec.BGP.IPv4Address, "/")[0]] = n.Name
		if n.Spec.BGP.IPv6Address != "" {
			ipToNode[n.Spec.BGP.IPv6Address] = n.Name
		}
	}
	for _, n := range nodes {
		view, warns := Build(Input{NodeName: n.Name, Nodes: nodes, BGPPeers: peers})
		if len(warns) > 0 {
			t.Fatalf("warnings: %q", warns)
		}
		for _, p := range localPeers(t, view, n.Name) {
			other, ok := ipToNode[p.IP]
			if !ok {
				t.Errorf("%s has a session %s to %s, which is no node's address", n.Name, p.Name, p.IP)
				continue
			}
			if other == n.Name {
				t.Errorf("%s has a session %s with itself", n.Name, p.Name)
			}
			sessions[end{n.Name, other + "/" + p.IP}] = p
		}
	}
	if len(sessions) == 0 {
		t.Fatal("no sessions at all")
	}
	for e, p := range sessions {
		toNode, toIP, _ := strings.Cut(e.to, "/")
		var fromIP string
		for ip, name := range ipToNode {
			if name == e.from && strings.Contains(ip, ":") == strings.Contains(toIP, ":") {
				fromIP = ip
			}
		}
		back, ok := sessions[end{toNode, e.from + "/" + fromIP}]
		if !ok {
			t.Errorf("%s has session %s to %s, but %s has none back to %s", e.from, p.Name, toNode, toNode, fromIP)
			continue
		}
		if p.Type == PeerMesh && back.Type == PeerMesh && p.Passive == back.Passive {
			t.Errorf("mesh session %s–%s: passive on %s is %t and on %s is %t; want exactly one end passive",
				e.from, toNode, e.from, p.Passive, toNode, back.Passive)
		}
		if (p.Type == PeerMesh) != (back.Type == PeerMesh) && (p.Passive || back.Passive) {
			t.Errorf("session %s–%s is mesh on one end only, and one end is passive", e.from, toNode)
		}
	}
}

func TestMeshRestartTimeReachesEveryMeshSession(t *testing.T) {
	in := Input{NodeName: "a", Nodes: []*api.Node{newNode("a", "10.0.0.1/24", ""), newNode("b", "10.0.0.2/24", "")},
		BGPConfigurations: []*api.BGPConfiguration{bgpConfig("default", api.BGPConfigurationSpec{
			NodeMeshMaxRestartTime: &api.Duration{Duration: 5 * time.Second}})}}
	view, _ := Build(in)
	peers := localPeers(t, view, "a")
	if len(peers) != 1 || peers[0].RestartTime != 5 {
		t.Errorf("want one mesh peer with restart_time 5, got %+v", peers)
	}
	in.BGPConfigurations = nil
	view, _ = Build(in)
	if peers := localPeers(t, view, "a"); len(peers) != 1 || peers[0].RestartTime != 0 {
		t.Errorf("without the setting BIRD's default applies (0), got %+v", peers)
	}
}

func TestPeerOptions(t *testing.T) {
	nodes := []*api.Node{
		newNode("node1", "10.0.0.1/24", "fd00::1/64"),
		newNode("node2", "10.0.0.2/24", "", withLabels("rr", "y"), withAS(64600)),
	}
	u8 := func(n uint8) *uint8 { return &n }
	i32 := func(n int32) *int32 { return &n }
	filter := &api.BGPFilter{ObjectMeta: api.ObjectMeta{Name: "f"}, Spec: api.BGPFilterSpec{
		ImportV4: []api.BGPFilterRule{{Action: "Reject", MatchOperator: "In", CIDR: "10.0.0.0/8",
			PrefixLength: &api.BGPFilterPrefixLength{Min: i32(4)}}},
		ExportV6: []api.BGPFilterRule{{Action: "Accept"}},
	}}
	tests := []struct {
		name  string
		peers []*api.BGPPeer
		want  map[string]Peer // by name; only these sessions of node1
		warns []string
	}{
		{"a peerIP with a port names the session after it and sources from the node's address",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{PeerIP: "[fd00::fe]:1790", ASNumber: asn(65000)})},
			map[string]Peer{"Global_fd00__fe_port_1790": {Name: "Global_fd00__fe_port_1790", Type: "global", IP: "fd00::fe", Port: 1790, ASNum: "65000", SourceAddress: "fd00::1"}}, nil},
		{"two ports of one address are two sessions",
			[]*api.BGPPeer{peer("a", api.BGPPeerSpec{PeerIP: "10.0.0.9", ASNumber: asn(65000)}), peer("b", api.BGPPeerSpec{PeerIP: "10.0.0.9:1790", ASNumber: asn(65000)})},
			map[string]Peer{
				"Global_10_0_0_9":           {Name: "Global_10_0_0_9", Type: "global", IP: "10.0.0.9", ASNum: "65000", SourceAddress: "10.0.0.1"},
				"Global_10_0_0_9_port_1790": {Name: "Global_10_0_0_9_port_1790", Type: "global", IP: "10.0.0.9", Port: 1790, ASNum: "65000", SourceAddress: "10.0.0.1"},
			}, nil},
		{"every session option of a BGPPeer reaches its session",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{PeerIP: "10.1.0.4", ASNumber: asn(65000), SourceAddress: "None",
				LocalASNumber: asn(65100), NumAllowedLocalASNumbers: i32(2), TTLSecurity: u8(2), NextHopMode: "Self",
				ReachableBy: "10.0.0.254", MaxRestartTime: &api.Duration{Duration: 90 * time.Second}, Filters: []string{"f"}})},
			map[string]Peer{"Global_10_1_0_4": {Name: "Global_10_1_0_4", Type: "global", IP: "10.1.0.4", ASNum: "65000",
				LocalASNum: "65100", AllowLocalAS: 2, TTLSecurity: 2, NextHopSelf: true, ReachableBy: "10.0.0.254",
				ReachableRoute: "10.1.0.4/32", RestartTime: 90, ImportFilters: []string{"'bgp_f_importFilterV4'"}}}, nil},
		{"keepOriginalNextHop keeps the next hop toward an eBGP peer",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{PeerIP: "10.1.0.4", ASNumber: asn(65000), KeepOriginalNextHop: true})},
			map[string]Peer{"Global_10_1_0_4": {Name: "Global_10_1_0_4", Type: "global", IP: "10.1.0.4", ASNum: "65000", SourceAddress: "10.0.0.1", NextHopKeep: true}}, nil},
		{"keepOriginalNextHop does nothing toward an iBGP peer, as in Calico",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{PeerIP: "10.1.0.4", ASNumber: asn(64512), KeepOriginalNextHop: true})},
			map[string]Peer{"Global_10_1_0_4": {Name: "Global_10_1_0_4", Type: "global", IP: "10.1.0.4", ASNum: "64512", SourceAddress: "10.0.0.1"}}, nil},
		{"a peerSelector peering uses the selected node's own AS; Manual leaves out the way back",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{Node: "node2", PeerSelector: "!has(rr)", ReversePeering: "Manual"})},
			map[string]Peer{}, nil},
		{"a peerSelector peering toward a node with its own AS",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{Node: "node1", PeerSelector: "has(rr)", NextHopMode: "Keep"})},
			map[string]Peer{"Node_10_0_0_2": {Name: "Node_10_0_0_2", Type: "node", IP: "10.0.0.2", ASNum: "64600", Node: "node2", SourceAddress: "10.0.0.1", NextHopKeep: true}}, nil},
		{"the way back takes password, restart time, TTL security and the local AS, not the one-sided options",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{Node: "node2", PeerIP: "10.0.0.1", ASNumber: asn(64512), LocalASNumber: asn(64700),
				Password: secretRef("bgp", "pw"), TTLSecurity: u8(1), MaxRestartTime: &api.Duration{Duration: time.Minute}, NextHopMode: "Self", SourceAddress: "None", Filters: []string{"f"}})},
			map[string]Peer{"Node_10_0_0_2": {Name: "Node_10_0_0_2", Type: "node", IP: "10.0.0.2", ASNum: "64700", Node: "node2", SourceAddress: "10.0.0.1",
				Password: "pw", TTLSecurity: 1, RestartTime: 60}}, nil},
		{"a filter that does not exist is reported and skipped",
			[]*api.BGPPeer{peer("p", api.BGPPeerSpec{PeerIP: "fd00::fe", ASNumber: asn(65000), Filters: []string{"nope", "f"}})},
			map[string]Peer{"Global_fd00__fe": {Name: "Global_fd00__fe", Type: "global", IP: "fd00::fe", ASNum: "65000", SourceAddress: "fd00::1", ExportFilters: []string{"'bgp_f_exportFilterV6'"}}},
			[]string{`BGPFilter "nope" does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, warns := Build(Input{NodeName: "node1", Nodes: nodes, BGPConfigurations: []*api.BGPConfiguration{meshOff},
				BGPPeers: tt.peers, BGPFilters: []*api.BGPFilter{filter}, Secrets: testSecrets})
			got := map[string]Peer{}
			for _, p := range localPeers(t, view, "node1") {
				got[p.Name] = p
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sessions of node1:\n got  %+v\n want %+v", got, tt.want)
			}
			if len(warns) != len(tt.warns) {
				t.Fatalf("got warnings %q; want %q", warns, tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q does not mention %q", warns[i], w)
				}
			}
		})
	}
}

func TestFilterKeys(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	long := strings.Repeat("a", 60)
	view, warns := Build(Input{NodeName: "node1", Nodes: []*api.Node{newNode("node1", "10.0.0.1", "")}, BGPFilters: []*api.BGPFilter{
		{ObjectMeta: api.ObjectMeta{Name: "f"}, Spec: api.BGPFilterSpec{ImportV4: []api.BGPFilterRule{
			{Action: "Accept", MatchOperator: "NotIn", CIDR: "10.1.2.3/16", PrefixLength: &api.BGPFilterPrefixLength{Min: i32(8), Max: i32(24)}},
			{Action: "Reject", Source: "RemotePeers", Interface: "eth*"},
			{Action: "Reject"},
		}}},
		{ObjectMeta: api.ObjectMeta{Name: long}, Spec: api.BGPFilterSpec{ExportV4: []api.BGPFilterRule{{Action: "Accept"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "bad"}, Spec: api.BGPFilterSpec{ImportV6: []api.BGPFilterRule{{Action: "Accept", MatchOperator: "In", CIDR: "10.0.0.0/8"}}}},
	}})
	want := `{"name":"f","import":{"func":"'bgp_f_importFilterV4'","rules":[` +
		`{"condition":"((net !~ [ 10.1.0.0/16{16,24} ]))","action":"accept"},` +
		`{"condition":"((source = RTS_BGP) \u0026\u0026 (ifname ~ \"eth*\"))","action":"reject"},` +
		`{"action":"reject"}]}}`
	if got := view[HostPrefix+"/node1/filters_v4/f"]; got != want {
		t.Errorf("filters_v4/f:\n got  %s\n want %s", got, want)
	}
	var lf Filter
	if err := json.Unmarshal([]byte(view[HostPrefix+"/node1/filters_v4/"+long]), &lf); err != nil || lf.Export == nil {
		t.Fatalf("filters_v4/%s: %v %+v", long, err, lf)
	}
	if fn := lf.Export.Func; len(fn) != maxBIRDSymbol+2 || !strings.HasPrefix(fn, "'bgp_aaa") || !strings.HasSuffix(fn, "_exportFilterV4'") {
		t.Errorf("a long filter name must be cut to a %d-character BIRD symbol, got %s", maxBIRDSymbol, fn)
	}
	if _, ok := view[HostPrefix+"/node1/filters_v6/bad"]; ok || len(warns) != 1 || !strings.Contains(warns[0], "BGPFilter(bad)") {
		t.Errorf("a filter BIRD cannot express must be left out with a warning; got warnings %q", warns)
	}
}

// testSecrets are the Secrets calico-node can read in the tests: one Secret "bgp" with a key per password.
var testSecrets = map[string]map[string]string{"bgp": {"s3cret": "s3cret", "pw": "pw", "quote": `a"b`}}

func secretRef(name, key string) *api.BGPPassword {
	return &api.BGPPassword{SecretKeyRef: &api.SecretKeySelector{Name: name, Key: key}}
}

// A peer's password comes from the Secret it names; a peer whose Secret cannot be read is left out (its session
// would fail authentication), unless the reference is optional, when it peers without one.
func TestPeerPasswordsFromSecrets(t *testing.T) {
	optional := func(name, key string) *api.BGPPassword {
		p := secretRef(name, key)
		p.SecretKeyRef.Optional = boolp(true)
		return p
	}
	nodes := []*api.Node{newNode("node1", "10.0.0.1/24", "")}
	tests := []struct {
		name     string
		secrets  map[string]map[string]string
		password *api.BGPPassword
		want     string // the rendered password; "-" when the peer is left out
		warn     string
	}{
		{"the password is the Secret's key", testSecrets, secretRef("bgp", "pw"), "pw", ""},
		{"no Kubernetes API: the peer is left out", nil, secretRef("bgp", "pw"), "-", "no Kubernetes API"},
		{"a missing Secret: the peer is left out", testSecrets, secretRef("other", "pw"), "-", "Secret other does not exist"},
		{"a missing key: the peer is left out", testSecrets, secretRef("bgp", "nope"), "-", `has no key "nope"`},
		{"an optional reference to a missing key peers without a password", testSecrets, optional("bgp", "nope"), "", ""},
		{"an optional reference without Kubernetes peers without a password", nil, optional("bgp", "pw"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, warns := Build(Input{NodeName: "node1", Nodes: nodes, BGPConfigurations: []*api.BGPConfiguration{meshOff}, Secrets: tt.secrets,
				BGPPeers: []*api.BGPPeer{peer("tor", api.BGPPeerSpec{PeerIP: "192.0.2.1", ASNumber: asn(65001), Password: tt.password})}})
			peers := localPeers(t, view, "node1")
			got := "-"
			if len(peers) == 1 {
				got = peers[0].Password
			}
			if got != tt.want {
				t.Errorf("expected password %q, got %q (peers %+v)", tt.want, got, peers)
			}
			if joined := strings.Join(warns, "\n"); (tt.warn == "") != (joined == "") || !strings.Contains(joined, tt.warn) {
				t.Errorf("expected a warning containing %q, got %q", tt.warn, joined)
			}
		})
	}
}
