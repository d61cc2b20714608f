package calicoctl

import (
	"bytes"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

func kind(t *testing.T, name string) *api.Kind {
	t.Helper()
	k, err := api.LookupKind(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWriteTable(t *testing.T) {
	as := api.ASNumber(65001)
	p1 := pool("10.1.0.0/16", 26)
	p1.Name, p1.Spec.IPIPMode, p1.Spec.NATOutgoing, p1.Spec.NodeSelector = "pool1", "Always", true, "all()"
	p2 := pool("fd00::/64", 122)
	p2.Name, p2.Spec.NodeSelector = "pool2", "rack == 'a'"
	n1 := api.SetTypeMeta(&api.Node{})
	n1.Name, n1.Spec.BGP = "node1", &api.NodeBGPSpec{IPv4Address: "10.0.0.1/24"}
	n2 := api.SetTypeMeta(&api.Node{})
	n2.Name, n2.Spec.BGP = "node2", &api.NodeBGPSpec{IPv4Address: "10.0.0.2/24", ASNumber: &as}
	peer := api.SetTypeMeta(&api.BGPPeer{})
	peer.Name, peer.Spec.PeerIP, peer.Spec.ASNumber = "rr", "10.0.0.9", &as
	selPeer := api.SetTypeMeta(&api.BGPPeer{})
	selPeer.Name, selPeer.Spec.NodeSelector, selPeer.Spec.PeerSelector = "to-rrs", "rack == 'a'", "has(rr)"
	filter := api.SetTypeMeta(&api.BGPFilter{})
	filter.Name = "edge"
	wep := api.SetTypeMeta(&api.WorkloadEndpoint{})
	wep.Name, wep.Namespace = "node1-cni-abc-eth0", "ns1"
	wep.Spec = api.WorkloadEndpointSpec{Workload: "abc", Node: "node1", IPNetworks: []string{"10.1.0.5/32"}, InterfaceName: "cali0123"}

	tests := []struct {
		name   string
		format string
		kind   string
		items  []api.Resource
		showNS bool
		want   string
	}{
		{"ip pools by default show name, cidr and selector", formatPS, "IPPool", []api.Resource{p1, p2}, false, "" +
			"NAME    CIDR          SELECTOR      \n" +
			"pool1   10.1.0.0/16   all()         \n" +
			"pool2   fd00::/64     rack == 'a'   \n\n"},
		{"ip pools wide show nat, encapsulation and disabled", formatWide, "IPPool", []api.Resource{p1, p2}, false, "" +
			"NAME    CIDR          NAT     IPIPMODE   VXLANMODE   DISABLED   SELECTOR      \n" +
			"pool1   10.1.0.0/16   true    Always     Never       false      all()         \n" +
			"pool2   fd00::/64     false   Never      Never       false      rack == 'a'   \n\n"},
		{"nodes wide show an inherited AS number in parentheses", formatWide, "Node", []api.Resource{n1, n2}, false, "" +
			"NAME    ASN       IPV4          IPV6   \n" +
			"node1   (64512)   10.0.0.1/24          \n" +
			"node2   65001     10.0.0.2/24          \n\n"},
		{"a global peer shows (global) as its node", formatPS, "BGPPeer", []api.Resource{peer}, false, "" +
			"NAME   PEERIP     NODE       ASN     \n" +
			"rr     10.0.0.9   (global)   65001   \n\n"},
		{"a peer selector peering shows its node selector and no ASN, wide as in ps", formatWide, "BGPPeer", []api.Resource{selPeer}, false, "" +
			"NAME     PEERIP   NODE          ASN   \n" +
			"to-rrs            rack == 'a'         \n\n"},
		{"a BGP filter shows its name only", formatWide, "BGPFilter", []api.Resource{filter}, false, "" +
			"NAME   \n" +
			"edge   \n\n"},
		{"namespaced kinds get a NAMESPACE column first when asked", formatPS, "WorkloadEndpoint", []api.Resource{wep}, true, "" +
			"NAMESPACE   WORKLOAD   NODE    NETWORKS      INTERFACE   \n" +
			"ns1         abc        node1   10.1.0.5/32   cali0123    \n\n"},
		{"cluster-scoped kinds never get a NAMESPACE column", formatPS, "IPPool", nil, true,
			"NAME   CIDR   SELECTOR   \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeTable(&b, tt.format, kind(t, tt.kind), tt.items, tt.showNS, tableContext{defaultAS: api.DefaultASNumber}); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("table:\n got\n%s\nwant\n%s", show(b.String()), show(tt.want))
			}
		})
	}
}

// show makes trailing spaces visible in failure messages.
func show(s string) string { return strings.ReplaceAll(s, " \n", "·\n") }

func TestEveryKindHasColumns(t *testing.T) {
	for _, k := range api.Kinds {
		c, ok := columnsByKind[k.Name]
		if !ok || len(c.ps) == 0 || len(c.wide) == 0 {
			t.Errorf("kind %s: want ps and wide columns, got %+v", k.Name, c)
		}
	}
}

func TestWriteObjectList(t *testing.T) {
	p := pool("10.1.0.0/16", 26)
	p.Name = "pool1"
	tests := []struct {
		name   string
		format string
		items  []api.Resource
		want   string
	}{
		{"an empty list in YAML has empty items", formatYAML, nil,
			"apiVersion: projectcalico.org/v3\nitems: []\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"42\"\n"},
		{"a list in JSON is indented by two spaces", formatJSON, []api.Resource{p}, `{
  "apiVersion": "projectcalico.org/v3",
  "kind": "IPPoolList",
  "metadata": {
    "resourceVersion": "42"
  },
  "items": [
    {
      "kind": "IPPool",
      "apiVersion": "projectcalico.org/v3",
      "metadata": {
        "name": "pool1"
      },
      "spec": {
        "cidr": "10.1.0.0/16",
        "blockSize": 26
      }
    }
  ]
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeObject(&b, tt.format, newResourceList(kind(t, "IPPool"), tt.items, 42)); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
