package keyview

import (
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

func TestAdvertisementKeys(t *testing.T) {
	dual := []*api.Node{newNode("node1", "10.0.0.1/24", "fd00::1/64"), newNode("node2", "10.0.0.2/24", "fd00::2/64")}
	h := HostPrefix + "/node1/"
	tests := []struct {
		name  string
		in    Input
		want  map[string]string // keys that must hold exactly these values
		never []string          // keys that must not exist
		warns []string          // substrings, one per expected warning
	}{
		{
			name:  "without options BIRD listens on every address on port 179 and nothing more is advertised",
			in:    Input{NodeName: "node1", Nodes: dual},
			never: []string{h + "listen_v4", h + "listen_v6", h + "ignored_interfaces", GlobalPrefix + "/listen_port"},
		},
		{
			name: "listenPort and bindMode NodeIP make BIRD listen on the node's address of each family on that port",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{ListenPort: 178, BindMode: api.BindModeNodeIP}),
			}},
			want: map[string]string{
				h + "listen_v4":               `{"address":"10.0.0.1","port":178}`,
				h + "listen_v6":               `{"address":"fd00::1","port":178}`,
				GlobalPrefix + "/listen_port": "178",
			},
		},
		{
			name: "bindMode None with the default port leaves BIRD's listening alone",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{BindMode: api.BindModeNone}),
			}},
			never: []string{h + "listen_v4", h + "listen_v6"},
		},
		{
			name: "a node's own listenPort wins over the cluster's",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{ListenPort: 178}),
				bgpConfig("node.node1", api.BGPConfigurationSpec{ListenPort: 1179}),
			}},
			want: map[string]string{
				h + "listen_v4":   `{"port":1179}`,
				h + "listen_port": "1179",
			},
		},
		{
			name: "ignored interfaces, service ranges of both families and pools without BGP export",
			in: Input{NodeName: "node1", Nodes: dual,
				BGPConfigurations: []*api.BGPConfiguration{bgpConfig("default", api.BGPConfigurationSpec{
					IgnoredInterfaces:      []string{"eth1", "docker*"},
					ServiceClusterIPs:      []api.ServiceIPBlock{{CIDR: "10.96.0.0/12"}, {CIDR: "fd00:96::/108"}},
					ServiceExternalIPs:     []api.ServiceIPBlock{{CIDR: "104.244.42.129"}},
					ServiceLoadBalancerIPs: []api.ServiceIPBlock{{CIDR: "198.51.100.0/24"}},
				})},
				IPPools: []*api.IPPool{{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.IPPoolSpec{CIDR: "10.244.0.0/16", DisableBGPExport: true}}},
			},
			want: map[string]string{
				h + "ignored_interfaces":                  `["eth1","docker*"]`,
				h + "service_routes_v4/10.96.0.0-12":      `{"cidr":"10.96.0.0/12"}`,
				h + "service_routes_v4/104.244.42.129-32": `{"cidr":"104.244.42.129/32"}`,
				h + "service_routes_v4/198.51.100.0-24":   `{"cidr":"198.51.100.0/24"}`,
				h + "service_routes_v6/fd00:96::-108":     `{"cidr":"fd00:96::/108"}`,
				h + "pools_v4/10.244.0.0-16":              `{"cidr":"10.244.0.0/16","ipip_mode":"Never","vxlan_mode":"Never","felix_routes":false,"disable_bgp_export":true}`,
				PoolPrefix + "/v4/pool/10.244.0.0-16":     `{"cidr":"10.244.0.0/16","ipip":"","ipip_mode":"","masquerade":false,"ipam":true,"disabled":false,"disableBGPExport":true}`,
			},
		},
		{
			name: "prefix advertisements add named and literal communities, standard and large, per family and in order",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{
					Communities: []api.Community{{Name: "large", Value: "63400:300:100"}, {Name: "std", Value: "63400:120"}},
					PrefixAdvertisements: []api.PrefixAdvertisement{
						{CIDR: "192.168.0.0/16", Communities: []string{"large", "std", "65535:65281"}},
						{CIDR: "fd00:10::/48", Communities: []string{"1:2:3"}},
						{CIDR: "10.0.0.0/8", Communities: []string{"std"}},
					},
				}),
			}},
			want: map[string]string{
				h + "communities_v4/0000": `{"cidr":"192.168.0.0/16","add":[` +
					`{"attribute":"bgp_large_community","value":"(63400, 300, 100)"},` +
					`{"attribute":"bgp_community","value":"(63400, 120)"},` +
					`{"attribute":"bgp_community","value":"(65535, 65281)"}]}`,
				h + "communities_v4/0001": `{"cidr":"10.0.0.0/8","add":[{"attribute":"bgp_community","value":"(63400, 120)"}]}`,
				h + "communities_v6/0000": `{"cidr":"fd00:10::/48","add":[{"attribute":"bgp_large_community","value":"(1, 2, 3)"}]}`,
			},
		},
		{
			name: "a node's own prefix advertisements replace the cluster's, with names of its own configuration",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{
					Communities:          []api.Community{{Name: "c", Value: "1:1"}},
					PrefixAdvertisements: []api.PrefixAdvertisement{{CIDR: "192.168.0.0/16", Communities: []string{"c"}}},
				}),
				bgpConfig("node.node1", api.BGPConfigurationSpec{
					Communities:          []api.Community{{Name: "c", Value: "2:2"}},
					PrefixAdvertisements: []api.PrefixAdvertisement{{CIDR: "10.10.0.0/16", Communities: []string{"c"}}},
				}),
			}},
			want:  map[string]string{h + "communities_v4/0000": `{"cidr":"10.10.0.0/16","add":[{"attribute":"bgp_community","value":"(2, 2)"}]}`},
			never: []string{h + "communities_v4/0001"},
		},
		{
			name: "what validation refuses is left out with a warning",
			in: Input{NodeName: "node1", Nodes: dual, BGPConfigurations: []*api.BGPConfiguration{
				bgpConfig("default", api.BGPConfigurationSpec{
					IgnoredInterfaces:    []string{`eth"1`},
					ServiceClusterIPs:    []api.ServiceIPBlock{{CIDR: "10.96.0.0/33"}},
					PrefixAdvertisements: []api.PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"missing"}}},
				}),
			}},
			never: []string{h + "ignored_interfaces", h + "communities_v4/0000"},
			warns: []string{"ignoredInterfaces", "service range", "missing"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, warns := Build(tt.in)
			for k, v := range tt.want {
				if got, ok := view[k]; !ok || got != v {
					t.Errorf("%s = %q (present %t); want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.never {
				if v, ok := view[k]; ok {
					t.Errorf("%s = %q; want no such key", k, v)
				}
			}
			if len(warns) != len(tt.warns) {
				t.Fatalf("warnings %q; want %d containing %q", warns, len(tt.warns), tt.warns)
			}
			for i, w := range tt.warns {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %d = %q; want it to mention %q", i, warns[i], w)
				}
			}
		})
	}
}

// TestListenPortReachesTheSessionsToANode checks that the sessions other nodes open to a node (mesh, peerSelector
// and reverse sessions) use the port that node listens on, its own listenPort before the cluster's.
func TestListenPortReachesTheSessionsToANode(t *testing.T) {
	nodes := []*api.Node{
		newNode("node1", "10.0.0.1/24", ""),
		newNode("node2", "10.0.0.2/24", ""),
		newNode("node3", "10.0.0.3/24", "", withLabels("rack", "r4")),
	}
	configs := []*api.BGPConfiguration{
		bgpConfig("default", api.BGPConfigurationSpec{ListenPort: 178}),
		bgpConfig("node.node2", api.BGPConfigurationSpec{ListenPort: 1790}),
	}
	view, warns := Build(Input{NodeName: "node1", Nodes: nodes, BGPConfigurations: configs})
	if len(warns) > 0 {
		t.Fatalf("warnings: %q", warns)
	}
	want := []Peer{
		{Name: "Mesh_10_0_0_2", Type: "mesh", IP: "10.0.0.2", Port: 1790, ASNum: "64512", SourceAddress: "10.0.0.1", Node: "node2", Passive: true},
		{Name: "Mesh_10_0_0_3", Type: "mesh", IP: "10.0.0.3", Port: 178, ASNum: "64512", SourceAddress: "10.0.0.1", Node: "node3", Passive: true},
	}
	if got := localPeers(t, view, "node1"); !equalPeers(got, want) {
		t.Errorf("mesh sessions of node1:\n got  %+v\n want %+v", got, want)
	}

	noMesh := append([]*api.BGPConfiguration{bgpConfig("default", api.BGPConfigurationSpec{ListenPort: 178, NodeToNodeMeshEnabled: boolp(false)})}, configs[1])
	peers := []*api.BGPPeer{
		peer("to-rack4", api.BGPPeerSpec{Node: "node1", PeerSelector: "rack == 'r4'"}),
		peer("node2-to-node1", api.BGPPeerSpec{Node: "node2", PeerIP: "10.0.0.1", ASNumber: asn(64512)}),
		peer("node2-to-node3-elsewhere", api.BGPPeerSpec{Node: "node2", PeerIP: "10.0.0.3:1000", ASNumber: asn(64512)}),
	}
	view, _ = Build(Input{NodeName: "node1", Nodes: nodes, BGPConfigurations: noMesh, BGPPeers: peers})
	want = []Peer{
		{Name: "Node_10_0_0_2_port_1790", Type: "node", IP: "10.0.0.2", Port: 1790, ASNum: "64512", SourceAddress: "10.0.0.1", Node: "node2"},
		{Name: "Node_10_0_0_3_port_178", Type: "node", IP: "10.0.0.3", Port: 178, ASNum: "64512", SourceAddress: "10.0.0.1", Node: "node3"},
	}
	if got := localPeers(t, view, "node1"); !equalPeers(got, want) {
		t.Errorf("selector and reverse sessions of node1:\n got  %+v\n want %+v", got, want)
	}
	// node3 listens on 178, not 1000: node2's peering with 10.0.0.3:1000 is not node3, so node3 gets no session back.
	view, _ = Build(Input{NodeName: "node3", Nodes: nodes, BGPConfigurations: noMesh, BGPPeers: peers})
	for _, p := range localPeers(t, view, "node3") {
		if p.Node == "node2" {
			t.Errorf("node3 got a reverse session %+v from a peering with another port than its own", p)
		}
	}
}

func equalPeers(a, b []Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Port != b[i].Port || a[i].IP != b[i].IP || a[i].Type != b[i].Type ||
			a[i].Node != b[i].Node || a[i].Passive != b[i].Passive || a[i].ASNum != b[i].ASNum {
			return false
		}
	}
	return true
}
