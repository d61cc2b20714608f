package api

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEveryKindHasAValidSample(t *testing.T) {
	for _, k := range Kinds {
		build, ok := validSamples[k.Name]
		if !ok {
			t.Errorf("no valid sample for kind %s: add one to validSamples", k.Name)
			continue
		}
		r := SetTypeMeta(build())
		if err := r.Validate(); err != nil {
			t.Errorf("the valid sample of %s is rejected:\n%v", k.Name, err)
		}
	}
}

// validName gives a valid name for each kind, since configuration kinds and ClusterInformation restrict theirs.
func validName(kind string) string {
	switch kind {
	case "BGPConfiguration", "FelixConfiguration":
		return "node.rack1.host-2"
	case "ClusterInformation":
		return "default"
	case "NetworkPolicy", "GlobalNetworkPolicy":
		return "allow-dns"
	case "Tier":
		return "security"
	}
	return "rack1.host-2"
}

func TestNamesOfEveryKind(t *testing.T) {
	for _, k := range Kinds {
		good := validName(k.Name)
		cases := []struct {
			name, metaName, reason string // reason "" means accepted
		}{
			{"a lowercase name is accepted", good, ""},
			{"a missing name is rejected", "", "name is required"},
			{"an uppercase name is rejected", strings.ToUpper(good), "must consist of lower case alphanumeric"},
			{"a name longer than 253 characters is rejected", good + strings.Repeat("a", 254-len(good)), "longer than 253 characters"},
			{"a name starting with a dash is rejected", "-" + good, "must consist of lower case alphanumeric"},
			{"a name ending with a dot is rejected", good + ".", "must consist of lower case alphanumeric"},
			{"a name with an underscore is rejected", good + "_x", "must consist of lower case alphanumeric"},
		}
		if k.Name != "ClusterInformation" && k.Name != "Tier" {
			cases = append(cases, struct{ name, metaName, reason string }{
				"a name of exactly 253 characters is accepted", good + strings.Repeat("a", 253-len(good)), ""})
		}
		switch k.Name {
		case "NetworkPolicy", "GlobalNetworkPolicy":
			cases = append(cases,
				struct{ name, metaName, reason string }{
					"a dotted name is rejected because it names a tier the policy is not in", "allow.dns", "set spec.tier: allow"},
				struct{ name, metaName, reason string }{
					"a name with two dots is rejected because policy names are DNS labels", "allow.dns.x", "lower case alphanumeric characters or '-'"})
		case "Tier":
			cases = append(cases,
				struct{ name, metaName, reason string }{"a dotted name is rejected", "a.b", "at most 63 characters"},
				struct{ name, metaName, reason string }{"a name of 64 characters is rejected", strings.Repeat("a", 64), "at most 63 characters"})
		case "BGPConfiguration", "FelixConfiguration":
			cases = append(cases,
				struct{ name, metaName, reason string }{"the name default is accepted", "default", ""},
				struct{ name, metaName, reason string }{"a name other than default or node.<name> is rejected", "global", "must be 'default'"})
		case "ClusterInformation":
			cases = append(cases, struct{ name, metaName, reason string }{
				"a name other than default is rejected", "other", "the only ClusterInformation is named 'default'"})
		default:
			cases = append(cases, struct{ name, metaName, reason string }{
				"a dotted DNS subdomain name is accepted", "a.b-c.d", ""})
		}
		for _, c := range cases {
			t.Run(k.Name+"/"+c.name, func(t *testing.T) {
				r := validSamples[k.Name]()
				r.GetObjectMeta().Name = c.metaName
				field := "metadata.name"
				if c.reason == "" {
					field = ""
				}
				checkValidation(t, r.Validate(), field, c.reason)
			})
		}
	}
}

func TestLabelsOfEveryKind(t *testing.T) {
	cases := []struct {
		name   string
		labels map[string]string
		field  string
		reason string
	}{
		{"plain, prefixed and empty-valued labels are accepted",
			map[string]string{"app": "web", "projectcalico.org/namespace": "ns1", "net1": "", "a.b_c-d": "X.y_z-1"}, "", ""},
		{"a key starting with a dash is rejected", map[string]string{"-app": "web"}, "metadata.labels", "invalid label key"},
		{"a key with a space is rejected", map[string]string{"bad key": "web"}, "metadata.labels", "invalid label key"},
		{"a key of 64 characters is rejected", map[string]string{strings.Repeat("k", 64): "v"}, "metadata.labels", "invalid label key"},
		{"a key with an uppercase prefix is rejected", map[string]string{"Example.com/app": "web"}, "metadata.labels", "invalid label key"},
		{"a key with an empty prefix is rejected", map[string]string{"/app": "web"}, "metadata.labels", "invalid label key"},
		{"a key with an empty name after the prefix is rejected", map[string]string{"example.com/": "web"}, "metadata.labels", "invalid label key"},
		{"a value with a space is rejected", map[string]string{"app": "my web"}, "metadata.labels.app", "invalid label value"},
		{"a value of 64 characters is rejected", map[string]string{"app": strings.Repeat("v", 64)}, "metadata.labels.app", "invalid label value"},
		{"a value ending with a dash is rejected", map[string]string{"app": "web-"}, "metadata.labels.app", "invalid label value"},
	}
	for _, k := range Kinds {
		for _, c := range cases {
			t.Run(k.Name+"/"+c.name, func(t *testing.T) {
				r := validSamples[k.Name]()
				r.GetObjectMeta().Labels = c.labels
				checkValidation(t, r.Validate(), c.field, c.reason)
			})
		}
	}
}

func TestNamespaceOnlyOnNamespacedKinds(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k.Name, func(t *testing.T) {
			r := validSamples[k.Name]()
			r.GetObjectMeta().Namespace = "team-a"
			if k.Namespaced {
				checkValidation(t, r.Validate(), "", "")
				r.GetObjectMeta().Namespace = "Team_A"
				checkValidation(t, r.Validate(), "metadata.namespace", "lower case alphanumeric characters or '-'")
				return
			}
			checkValidation(t, r.Validate(), "metadata.namespace", "namespace should not be specified for a non-namespaced resource")
		})
	}
}

func TestErrorText(t *testing.T) {
	cases := []struct {
		name string
		r    Resource
		want string
	}{
		{"one field with a value and a reason reads as Calico prints it",
			with(validIPPool(), func(p *IPPool) { p.Spec.CIDR = "10.0.1.0/33" }),
			"error with field spec.cidr = '10.0.1.0/33' (invalid CIDR)"},
		{"a field without a value leaves out the value part",
			with(validIPPool(), func(p *IPPool) { p.Spec.CIDR = "" }),
			"error with field spec.cidr (cidr is required)"},
		{"a peer IP that is not an address names the field and the value",
			with(validBGPPeer(), func(p *BGPPeer) { p.Spec.PeerIP = "192.168.0.256" }),
			"error with field spec.peerIP = '192.168.0.256' (invalid IP address)"},
		{"several fields are listed one per line",
			with(validIPPool(), func(p *IPPool) {
				p.Name = "Pool1"
				p.Spec.CIDR = "10.0.1.1/16"
				p.Spec.IPIPMode = "sometimes"
			}),
			"error with the following fields:\n" +
				"-  metadata.name = 'Pool1' (" + subdomainRule + ")\n" +
				"-  spec.cidr = '10.0.1.1/16' (IPPool CIDR is not strictly masked: use 10.0.0.0/16)\n" +
				"-  spec.ipipMode = 'sometimes' (must be one of Always, CrossSubnet, Never)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.r.Validate()
			if err == nil {
				t.Fatalf("expected error %q, got none", c.want)
			}
			if err.Error() != c.want {
				t.Fatalf("expected error text:\n%s\ngot:\n%s", c.want, err)
			}
		})
	}
}

func TestFieldErrorText(t *testing.T) {
	cases := []struct {
		name string
		fe   FieldError
		want string
	}{
		{"field, value and reason", FieldError{"spec.blockSize", 19, "too small"}, "error with field spec.blockSize = '19' (too small)"},
		{"field and value", FieldError{"interfaceName", "wibblywobblyeth0", ""}, "error with field interfaceName = 'wibblywobblyeth0'"},
		{"field only", FieldError{"spec.node", nil, ""}, "error with field spec.node"},
		{"an empty string value is left out", FieldError{"spec.ports[0].name", "", "required"}, "error with field spec.ports[0].name (required)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.fe.Error(); got != c.want {
				t.Fatalf("expected %q, got %q", c.want, got)
			}
		})
	}
}

func TestIPPoolValidation(t *testing.T) {
	v6 := func(f func(*IPPool)) *IPPool {
		p := validIPPool()
		p.Spec.CIDR = "fd00:10::/48"
		p.Spec.BlockSize = 122
		f(p)
		return p
	}
	set := func(f func(*IPPool)) *IPPool { return with(validIPPool(), f) }
	uses := func(u ...string) *IPPool { return set(func(p *IPPool) { p.Spec.AllowedUses = u }) }
	runValidation(t, []validationCase{
		{"an IPv4 pool is accepted", validIPPool(), "", ""},
		{"an IPv6 pool is accepted", v6(func(*IPPool) {}), "", ""},
		{"a pool without a CIDR is rejected", set(func(p *IPPool) { p.Spec.CIDR = "" }), "spec.cidr", "cidr is required"},
		{"a CIDR with a /33 mask is rejected", set(func(p *IPPool) { p.Spec.CIDR = "10.0.1.0/33" }), "spec.cidr", "invalid CIDR"},
		{"a CIDR that is not an address is rejected", set(func(p *IPPool) { p.Spec.CIDR = "ten.0.0.0/8" }), "spec.cidr", "invalid CIDR"},
		{"a bare address is rejected", set(func(p *IPPool) { p.Spec.CIDR = "10.0.0.0" }), "spec.cidr", "invalid CIDR"},
		{"a CIDR with host bits set is rejected with the masked form", set(func(p *IPPool) { p.Spec.CIDR = "10.0.1.1/16" }), "spec.cidr", "not strictly masked: use 10.0.0.0/16"},
		{"an IPv6 CIDR with host bits set is rejected", v6(func(p *IPPool) { p.Spec.CIDR = "fd00:10::1/48" }), "spec.cidr", "not strictly masked: use fd00:10::/48"},
		{"the IPv4 link-local range is rejected", set(func(p *IPPool) { p.Spec.CIDR = "169.254.0.0/16" }), "spec.cidr", "link-local"},
		{"a pool inside the IPv4 link-local range is rejected", set(func(p *IPPool) { p.Spec.CIDR = "169.254.10.0/24" }), "spec.cidr", "link-local"},
		{"a pool containing the IPv4 link-local range is rejected", set(func(p *IPPool) { p.Spec.CIDR = "169.0.0.0/8" }), "spec.cidr", "link-local"},
		{"a pool next to the IPv4 link-local range is accepted", set(func(p *IPPool) { p.Spec.CIDR = "169.253.0.0/16" }), "", ""},
		{"a pool inside the IPv6 link-local range is rejected", v6(func(p *IPPool) { p.Spec.CIDR = "fe80::/64" }), "spec.cidr", "link-local"},
		{"a pool containing the IPv6 link-local range is rejected", v6(func(p *IPPool) { p.Spec.CIDR = "fe00::/8" }), "spec.cidr", "link-local"},
		{"an IPv4 block size of 19 is rejected", set(func(p *IPPool) { p.Spec.BlockSize = 19 }), "spec.blockSize", "between 20 and 32 for IPv4"},
		{"an IPv4 block size of 20 is accepted", set(func(p *IPPool) { p.Spec.BlockSize = 20 }), "", ""},
		{"an IPv4 block size of 32 is accepted", set(func(p *IPPool) { p.Spec.BlockSize = 32 }), "", ""},
		{"an IPv4 block size of 33 is rejected", set(func(p *IPPool) { p.Spec.BlockSize = 33 }), "spec.blockSize", "between 20 and 32 for IPv4"},
		{"an IPv6 block size on an IPv4 pool is rejected", set(func(p *IPPool) { p.Spec.BlockSize = 122 }), "spec.blockSize", "between 20 and 32 for IPv4"},
		{"an IPv6 block size of 115 is rejected", v6(func(p *IPPool) { p.Spec.BlockSize = 115 }), "spec.blockSize", "between 116 and 128 for IPv6"},
		{"an IPv6 block size of 116 is accepted", v6(func(p *IPPool) { p.Spec.BlockSize = 116 }), "", ""},
		{"an IPv6 block size of 128 is accepted", v6(func(p *IPPool) { p.Spec.BlockSize = 128 }), "", ""},
		{"an IPv6 block size of 129 is rejected", v6(func(p *IPPool) { p.Spec.BlockSize = 129 }), "spec.blockSize", "between 116 and 128 for IPv6"},
		{"an IPv4 block size on an IPv6 pool is rejected", v6(func(p *IPPool) { p.Spec.BlockSize = 26 }), "spec.blockSize", "between 116 and 128 for IPv6"},
		{"a pool as large as one block is accepted", set(func(p *IPPool) { p.Spec.CIDR, p.Spec.BlockSize = "10.0.0.0/26", 26 }), "", ""},
		{"a pool smaller than one block is rejected", set(func(p *IPPool) { p.Spec.CIDR, p.Spec.BlockSize = "10.0.0.0/27", 26 }), "spec.cidr", "IP pool size is too small for use with Calico IPAM"},
		{"an IPv6 pool smaller than one block is rejected", v6(func(p *IPPool) { p.Spec.CIDR = "fd00:10::/123" }), "spec.cidr", "IP pool size is too small"},
		{"a disabled pool smaller than one block is accepted", set(func(p *IPPool) {
			p.Spec.CIDR, p.Spec.BlockSize, p.Spec.Disabled = "10.0.0.0/27", 26, true
		}), "", ""},
		{"ipipMode CrossSubnet is accepted", set(func(p *IPPool) { p.Spec.IPIPMode = EncapCrossSubnet }), "", ""},
		{"ipipMode Always is accepted", set(func(p *IPPool) { p.Spec.IPIPMode = EncapAlways }), "", ""},
		{"a lowercase ipipMode is rejected", set(func(p *IPPool) { p.Spec.IPIPMode = "always" }), "spec.ipipMode", "must be one of Always, CrossSubnet, Never"},
		{"the v1 ipipMode cross-subnet is rejected", set(func(p *IPPool) { p.Spec.IPIPMode = "cross-subnet" }), "spec.ipipMode", "must be one of"},
		{"vxlanMode Always is accepted", set(func(p *IPPool) { p.Spec.VXLANMode = EncapAlways }), "", ""},
		{"an unknown vxlanMode is rejected", set(func(p *IPPool) { p.Spec.VXLANMode = "On" }), "spec.vxlanMode", "must be one of Always, CrossSubnet, Never"},
		{"IPIP on an IPv6 pool is rejected", v6(func(p *IPPool) { p.Spec.IPIPMode = EncapAlways }), "spec.ipipMode", "IPIP is not supported on an IPv6 pool"},
		{"ipipMode Never on an IPv6 pool is accepted", v6(func(p *IPPool) { p.Spec.IPIPMode = EncapNever }), "", ""},
		{"VXLAN on an IPv6 pool is accepted", v6(func(p *IPPool) { p.Spec.VXLANMode = EncapAlways }), "", ""},
		{"IPIP together with VXLAN is rejected", set(func(p *IPPool) { p.Spec.IPIPMode, p.Spec.VXLANMode = EncapAlways, EncapCrossSubnet }), "spec.vxlanMode", "IPIP and VXLAN cannot both be enabled"},
		{"IPIP with vxlanMode Never is accepted", set(func(p *IPPool) { p.Spec.IPIPMode, p.Spec.VXLANMode = EncapAlways, EncapNever }), "", ""},
		{"a node selector is accepted", set(func(p *IPPool) { p.Spec.NodeSelector = "rack == 'r1' && has(bgp)" }), "", ""},
		{"the all() node selector is accepted", set(func(p *IPPool) { p.Spec.NodeSelector = "all()" }), "", ""},
		{"a node selector with string operators is accepted", set(func(p *IPPool) {
			p.Spec.NodeSelector = `rack starts with "r1" && zone ends with '-a' && !(host contains "test")`
		}), "", ""},
		{"a node selector with bad syntax is rejected", set(func(p *IPPool) { p.Spec.NodeSelector = "rack == " }), "spec.nodeSelector", "selector"},
		{"an unbalanced node selector is rejected", set(func(p *IPPool) { p.Spec.NodeSelector = "has(rack" }), "spec.nodeSelector", "selector"},
		{"allowedUses Workload and Tunnel is accepted", uses(IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel), "", ""},
		{"a Tunnel-only pool is accepted", uses(IPPoolAllowedUseTunnel), "", ""},
		{"a Tunnel-only IPIP pool is accepted", with(uses(IPPoolAllowedUseTunnel), func(p *IPPool) { p.Spec.IPIPMode = EncapAlways }), "", ""},
		{"a Workload-only VXLAN pool is accepted", with(uses(IPPoolAllowedUseWorkload), func(p *IPPool) { p.Spec.VXLANMode = EncapAlways }), "", ""},
		{"a LoadBalancer-only pool is accepted", uses(IPPoolAllowedUseLoadBalancer), "", ""},
		{"an unknown use is rejected naming its index", uses(IPPoolAllowedUseWorkload, "Service"), "spec.allowedUses[1]", "unknown use"},
		{"a lowercase use is rejected", uses("workload"), "spec.allowedUses[0]", "unknown use"},
		{"LoadBalancer together with Workload is rejected", uses(IPPoolAllowedUseLoadBalancer, IPPoolAllowedUseWorkload),
			"spec.allowedUses[1]", "LoadBalancer cannot be used at the same time as Workload"},
		{"Tunnel together with LoadBalancer is rejected", uses(IPPoolAllowedUseTunnel, IPPoolAllowedUseLoadBalancer),
			"spec.allowedUses[0]", "LoadBalancer cannot be used at the same time as Tunnel"},
		{"IPIP on a LoadBalancer pool is rejected", with(uses(IPPoolAllowedUseLoadBalancer), func(p *IPPool) { p.Spec.IPIPMode = EncapCrossSubnet }),
			"spec.ipipMode", "IPIP cannot be enabled on a LoadBalancer pool"},
		{"VXLAN on a LoadBalancer pool is rejected", with(uses(IPPoolAllowedUseLoadBalancer), func(p *IPPool) { p.Spec.VXLANMode = EncapAlways }),
			"spec.vxlanMode", "VXLAN cannot be enabled on a LoadBalancer pool"},
		{"a LoadBalancer pool kept from BGP is rejected", with(uses(IPPoolAllowedUseLoadBalancer), func(p *IPPool) { p.Spec.DisableBGPExport = true }),
			"spec.disableBGPExport", "must be exported over BGP"},
		{"a LoadBalancer pool for some nodes only is rejected", with(uses(IPPoolAllowedUseLoadBalancer), func(p *IPPool) { p.Spec.NodeSelector = "rack == 'r1'" }),
			"spec.nodeSelector", "must select all nodes"},
		{"assignmentMode Automatic is accepted", set(func(p *IPPool) { p.Spec.AssignmentMode = AssignmentModeAutomatic }), "", ""},
		{"assignmentMode Manual is accepted", set(func(p *IPPool) { p.Spec.AssignmentMode = AssignmentModeManual }), "", ""},
		{"an unknown assignmentMode is rejected", set(func(p *IPPool) { p.Spec.AssignmentMode = "manual" }), "spec.assignmentMode", "must be one of Automatic, Manual"},
	})
}

func TestPoolsOverlap(t *testing.T) {
	pool := func(name, cidr string) *IPPool {
		return &IPPool{ObjectMeta: ObjectMeta{Name: name}, Spec: IPPoolSpec{CIDR: cidr}}
	}
	cases := []struct {
		name      string
		candidate *IPPool
		existing  []*IPPool
		want      string // "" means no overlap
	}{
		{"a pool inside an existing pool overlaps",
			pool("new", "10.0.128.0/17"), []*IPPool{pool("old", "10.0.0.0/16")},
			"error with field spec.cidr = '10.0.128.0/17' (IPPool(new) CIDR overlaps with IPPool(old) CIDR 10.0.0.0/16)"},
		{"a pool containing an existing pool overlaps",
			pool("new", "10.0.0.0/8"), []*IPPool{pool("a", "192.168.0.0/16"), pool("b", "10.1.0.0/16")},
			"error with field spec.cidr = '10.0.0.0/8' (IPPool(new) CIDR overlaps with IPPool(b) CIDR 10.1.0.0/16)"},
		{"an identical CIDR under another name overlaps",
			pool("new", "fd00::/48"), []*IPPool{pool("old", "fd00::/48")},
			"error with field spec.cidr = 'fd00::/48' (IPPool(new) CIDR overlaps with IPPool(old) CIDR fd00::/48)"},
		{"the stored copy of the same pool does not count", pool("p", "10.0.0.0/16"), []*IPPool{pool("p", "10.0.0.0/16")}, ""},
		{"adjacent pools do not overlap", pool("new", "10.1.0.0/16"), []*IPPool{pool("old", "10.0.0.0/16")}, ""},
		{"IPv4 and IPv6 pools never overlap", pool("new", "::/0"), []*IPPool{pool("old", "10.0.0.0/16")}, ""},
		{"no existing pools means no overlap", pool("new", "10.0.0.0/16"), nil, ""},
		{"an invalid candidate CIDR is left to Validate", pool("new", "bogus"), []*IPPool{pool("old", "10.0.0.0/16")}, ""},
		{"an existing pool with an invalid CIDR is skipped", pool("new", "10.0.0.0/16"), []*IPPool{pool("old", "bogus")}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := PoolsOverlap(c.candidate, c.existing)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("expected no overlap, got: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("expected %q, got no error", c.want)
			case c.want != "" && err.Error() != c.want:
				t.Fatalf("expected %q, got %q", c.want, err)
			}
		})
	}
}

func TestNodeValidation(t *testing.T) {
	bgp := func(f func(*NodeBGPSpec)) *Node {
		n := &Node{ObjectMeta: ObjectMeta{Name: "node1"}, Spec: NodeSpec{BGP: &NodeBGPSpec{IPv4Address: "10.0.0.1/24"}}}
		f(n.Spec.BGP)
		return n
	}
	runValidation(t, []validationCase{
		{"a node without BGP is accepted", &Node{ObjectMeta: ObjectMeta{Name: "node1"}}, "", ""},
		{"an IPv4 address with a prefix length is accepted", validNode(), "", ""},
		{"an IPv4 address without a prefix length is accepted", bgp(func(b *NodeBGPSpec) { b.IPv4Address = "10.0.0.1" }), "", ""},
		{"an IPv6-only node is accepted", bgp(func(b *NodeBGPSpec) { b.IPv4Address, b.IPv6Address = "", "fd00::1/64" }), "", ""},
		{"a node with only an AS number is accepted", bgp(func(b *NodeBGPSpec) { b.IPv4Address, b.ASNumber = "", ptr(ASNumber(65001)) }), "", ""},
		{"an empty bgp section is rejected", bgp(func(b *NodeBGPSpec) { *b = NodeBGPSpec{} }), "spec.bgp", "should not be empty"},
		{"an IPv4 address out of range is rejected", bgp(func(b *NodeBGPSpec) { b.IPv4Address = "10.0.0.256" }), "spec.bgp.ipv4Address", "invalid IP address"},
		{"an IPv4 address with a bad prefix is rejected", bgp(func(b *NodeBGPSpec) { b.IPv4Address = "10.0.0.1/33" }), "spec.bgp.ipv4Address", "invalid IP address or CIDR"},
		{"an IPv6 address in ipv4Address is rejected", bgp(func(b *NodeBGPSpec) { b.IPv4Address = "fd00::1/64" }), "spec.bgp.ipv4Address", "must be an IPv4 address"},
		{"an IPv4 address in ipv6Address is rejected", bgp(func(b *NodeBGPSpec) { b.IPv6Address = "10.0.0.1/24" }), "spec.bgp.ipv6Address", "must be an IPv6 address"},
		{"an IPv4 tunnel address is accepted", bgp(func(b *NodeBGPSpec) { b.IPv4IPIPTunnelAddr = "10.10.1.1" }), "", ""},
		{"a tunnel address with a prefix length is rejected", bgp(func(b *NodeBGPSpec) { b.IPv4IPIPTunnelAddr = "10.10.1.1/32" }), "spec.bgp.ipv4IPIPTunnelAddr", "invalid IP address"},
		{"an IPv6 tunnel address is rejected", bgp(func(b *NodeBGPSpec) { b.IPv4IPIPTunnelAddr = "fd00::1" }), "spec.bgp.ipv4IPIPTunnelAddr", "must be an IPv4 address"},
		{"a route reflector cluster ID in IPv4 form is accepted", bgp(func(b *NodeBGPSpec) { b.RouteReflectorClusterID = "224.0.0.1" }), "", ""},
		{"a route reflector cluster ID that is a plain number is rejected", bgp(func(b *NodeBGPSpec) { b.RouteReflectorClusterID = "1" }), "spec.bgp.routeReflectorClusterID", "invalid IP address"},
		{"a route reflector cluster ID in IPv6 form is rejected", bgp(func(b *NodeBGPSpec) { b.RouteReflectorClusterID = "fd00::1" }), "spec.bgp.routeReflectorClusterID", "must be an IPv4 address"},
		{"an orchRef with an orchestrator is accepted", with(validNode(), func(n *Node) { n.Spec.OrchRefs = []OrchRef{{NodeName: "k1", Orchestrator: "k8s"}} }), "", ""},
		{"an orchRef without an orchestrator is rejected", with(validNode(), func(n *Node) { n.Spec.OrchRefs = []OrchRef{{NodeName: "k1"}} }), "spec.orchRefs[0].orchestrator", "required"},
	})
}

func TestBGPPeerValidation(t *testing.T) {
	set := func(f func(*BGPPeerSpec)) *BGPPeer {
		p := validBGPPeer()
		f(&p.Spec)
		return p
	}
	runValidation(t, []validationCase{
		{"a global peer with peerIP and asNumber is accepted", validBGPPeer(), "", ""},
		{"a peer for one node is accepted", set(func(s *BGPPeerSpec) { s.Node = "node1" }), "", ""},
		{"a peer for the nodes a selector picks is accepted", set(func(s *BGPPeerSpec) { s.NodeSelector = "rack == 'r1'" }), "", ""},
		{"an IPv6 peer is accepted", set(func(s *BGPPeerSpec) { s.PeerIP = "fd00::254" }), "", ""},
		{"a password in a Secret is accepted", set(func(s *BGPPeerSpec) {
			s.Password = &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "bgp-passwords", Key: "rack1.tor"}}
		}), "", ""},
		{"a password without secretKeyRef is rejected", set(func(s *BGPPeerSpec) { s.Password = &BGPPassword{} }), "spec.password.secretKeyRef", "is required"},
		{"a password Secret without a key is rejected", set(func(s *BGPPeerSpec) {
			s.Password = &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "bgp-passwords"}}
		}), "spec.password.secretKeyRef.key", "must be a Secret key"},
		{"a password Secret with an invalid name is rejected", set(func(s *BGPPeerSpec) {
			s.Password = &BGPPassword{SecretKeyRef: &SecretKeySelector{Name: "BGP", Key: "k"}}
		}), "spec.password.secretKeyRef.name", "must name a Secret"},
		{"a peer selector without asNumber is accepted", set(func(s *BGPPeerSpec) {
			s.PeerIP, s.ASNumber, s.NodeSelector, s.PeerSelector = "", nil, "has(rr)", "has(rr)"
		}), "", ""},
		{"node and peer selectors with string operators are accepted", set(func(s *BGPPeerSpec) {
			s.PeerIP, s.ASNumber, s.NodeSelector, s.PeerSelector = "", nil, `rack starts with "r1"`, `role contains "rr" && zone ends with "-a"`
		}), "", ""},
		{"a node selector with starts but no with is rejected", set(func(s *BGPPeerSpec) { s.NodeSelector = `rack starts "r1"` }), "spec.nodeSelector", `expected "with" after "starts"`},
		{"node together with nodeSelector is rejected", set(func(s *BGPPeerSpec) { s.Node, s.NodeSelector = "node1", "all()" }), "spec.nodeSelector", "node and nodeSelector cannot both be set"},
		{"a node name with uppercase letters is rejected", set(func(s *BGPPeerSpec) { s.Node = "Node1" }), "spec.node", "lower case"},
		{"a node selector with bad syntax is rejected", set(func(s *BGPPeerSpec) { s.NodeSelector = "rack ==" }), "spec.nodeSelector", "selector"},
		{"a peer selector with bad syntax is rejected", set(func(s *BGPPeerSpec) { s.PeerIP, s.ASNumber, s.PeerSelector = "", nil, "has(" }), "spec.peerSelector", "selector"},
		{"peerIP together with peerSelector is rejected", set(func(s *BGPPeerSpec) { s.PeerSelector = "has(rr)" }), "spec.peerSelector", "peerIP and peerSelector cannot both be set"},
		{"asNumber together with peerSelector is rejected", set(func(s *BGPPeerSpec) { s.PeerIP, s.PeerSelector = "", "has(rr)" }), "spec.asNumber", "asNumber must be empty with peerSelector"},
		{"a peer with neither peerIP nor peerSelector is rejected", set(func(s *BGPPeerSpec) { s.PeerIP, s.ASNumber = "", nil }), "spec.peerIP", "one of peerIP or peerSelector is required"},
		{"a peerIP out of range is rejected", set(func(s *BGPPeerSpec) { s.PeerIP = "192.168.0.256" }), "spec.peerIP", "invalid IP address"},
		{"a peerIP with a prefix length is rejected", set(func(s *BGPPeerSpec) { s.PeerIP = "192.168.0.1/32" }), "spec.peerIP", "invalid IP address"},
		{"a peerIP without asNumber is rejected", set(func(s *BGPPeerSpec) { s.ASNumber = nil }), "spec.asNumber", "asNumber is required with peerIP"},
		{"a 4-byte AS number is accepted", set(func(s *BGPPeerSpec) { s.ASNumber = ptr(ASNumber(4294967295)) }), "", ""},
		{"an IPv4 peerIP with a port is accepted", set(func(s *BGPPeerSpec) { s.PeerIP = "10.0.0.1:1790" }), "", ""},
		{"an IPv6 peerIP with a port in brackets is accepted", set(func(s *BGPPeerSpec) { s.PeerIP = "[fd00::1]:1790" }), "", ""},
		{"an IPv6 peerIP with a port but no brackets is rejected", set(func(s *BGPPeerSpec) { s.PeerIP = "fd00::1:1790:x" }), "spec.peerIP", "invalid IP address"},
		{"a peerIP with port 0 is rejected", set(func(s *BGPPeerSpec) { s.PeerIP = "10.0.0.1:0" }), "spec.peerIP", "invalid IP address"},
		{"a peerIP with a port out of range is rejected", set(func(s *BGPPeerSpec) { s.PeerIP = "10.0.0.1:65536" }), "spec.peerIP", "invalid IP address"},
		{"sourceAddress None is accepted", set(func(s *BGPPeerSpec) { s.SourceAddress = "None" }), "", ""},
		{"sourceAddress UseNodeIP is accepted", set(func(s *BGPPeerSpec) { s.SourceAddress = "UseNodeIP" }), "", ""},
		{"an unknown sourceAddress is rejected", set(func(s *BGPPeerSpec) { s.SourceAddress = "NodeIP" }), "spec.sourceAddress", "must be one of UseNodeIP, None"},
		{"every nextHopMode is accepted", set(func(s *BGPPeerSpec) { s.NextHopMode = "Keep" }), "", ""},
		{"an unknown nextHopMode is rejected", set(func(s *BGPPeerSpec) { s.NextHopMode = "keep" }), "spec.nextHopMode", "must be one of Auto, Self, Keep"},
		{"keepOriginalNextHop with nextHopMode Auto is accepted", set(func(s *BGPPeerSpec) { s.KeepOriginalNextHop, s.NextHopMode = true, "Auto" }), "", ""},
		{"keepOriginalNextHop with nextHopMode Self is rejected", set(func(s *BGPPeerSpec) { s.KeepOriginalNextHop, s.NextHopMode = true, "Self" }), "spec.nextHopMode", "cannot both be set"},
		{"keepOriginalNextHop with nextHopMode Keep is rejected", set(func(s *BGPPeerSpec) { s.KeepOriginalNextHop, s.NextHopMode = true, "Keep" }), "spec.nextHopMode", "cannot both be set"},
		{"a maxRestartTime in whole seconds is accepted", set(func(s *BGPPeerSpec) { s.MaxRestartTime = &Duration{5 * time.Minute} }), "", ""},
		{"a maxRestartTime below a second is rejected", set(func(s *BGPPeerSpec) { s.MaxRestartTime = &Duration{500 * time.Millisecond} }), "spec.maxRestartTime", "whole seconds"},
		{"a negative numAllowedLocalASNumbers is rejected", set(func(s *BGPPeerSpec) { s.NumAllowedLocalASNumbers = ptr(int32(-1)) }), "spec.numAllowedLocalASNumbers", "must not be negative"},
		{"ttlSecurity and localASNumber are accepted", set(func(s *BGPPeerSpec) { s.TTLSecurity, s.LocalASNumber = ptr(uint8(2)), ptr(ASNumber(65001)) }), "", ""},
		{"a reachableBy gateway of peerIP's family is accepted", set(func(s *BGPPeerSpec) { s.ReachableBy = "192.168.0.254" }), "", ""},
		{"a reachableBy that is not an address is rejected", set(func(s *BGPPeerSpec) { s.ReachableBy = "gw" }), "spec.reachableBy", "invalid IP address"},
		{"a reachableBy of the other family is rejected", set(func(s *BGPPeerSpec) { s.ReachableBy = "fd00::1" }), "spec.reachableBy", "same IP family"},
		{"a reachableBy that is peerIP itself is rejected", set(func(s *BGPPeerSpec) { s.ReachableBy = "192.168.0.1" }), "spec.reachableBy", "must not be peerIP"},
		{"a reachableBy with a peerSelector is rejected", set(func(s *BGPPeerSpec) {
			s.PeerIP, s.ASNumber, s.PeerSelector, s.ReachableBy = "", nil, "has(rr)", "10.0.0.1"
		}), "spec.reachableBy", "needs peerIP"},
		{"filters naming BGPFilters are accepted", set(func(s *BGPPeerSpec) { s.Filters = []string{"a", "b.c"} }), "", ""},
		{"a filter name that is not a resource name is rejected", set(func(s *BGPPeerSpec) { s.Filters = []string{"a", "B_c"} }), "spec.filters[1]", "name of a BGPFilter"},
		{"reversePeering Manual is accepted", set(func(s *BGPPeerSpec) { s.ReversePeering = "Manual" }), "", ""},
		{"an unknown reversePeering is rejected", set(func(s *BGPPeerSpec) { s.ReversePeering = "Off" }), "spec.reversePeering", "must be one of Auto, Manual"},
	})
}

func TestBGPConfigurationValidation(t *testing.T) {
	set := func(f func(*BGPConfiguration)) *BGPConfiguration { return with(validBGPConfiguration(), f) }
	runValidation(t, []validationCase{
		{"the cluster-wide configuration is accepted", validBGPConfiguration(), "", ""},
		{"a per-node configuration is accepted", set(func(c *BGPConfiguration) { c.Name = "node.node1" }), "", ""},
		{"a configuration named after something else is rejected", set(func(c *BGPConfiguration) { c.Name = "global" }), "metadata.name", "must be 'default'"},
		{"node. without a node name is rejected", set(func(c *BGPConfiguration) { c.Name = "node." }), "metadata.name", "lower case"},
		{"log severity Warning is accepted", set(func(c *BGPConfiguration) { c.Spec.LogSeverityScreen = "Warning" }), "", ""},
		{"log severity Debug is accepted", set(func(c *BGPConfiguration) { c.Spec.LogSeverityScreen = "Debug" }), "", ""},
		{"a lowercase log severity is rejected", set(func(c *BGPConfiguration) { c.Spec.LogSeverityScreen = "info" }), "spec.logSeverityScreen", "must be one of Debug, Info, Warning, Error, Fatal"},
		{"an unknown log severity is rejected", set(func(c *BGPConfiguration) { c.Spec.LogSeverityScreen = "Trace" }), "spec.logSeverityScreen", "must be one of"},
		{"mesh off with an AS number is accepted", set(func(c *BGPConfiguration) {
			c.Spec.NodeToNodeMeshEnabled, c.Spec.ASNumber = ptr(false), ptr(ASNumber(65000))
		}), "", ""},
		{"listenPort 178 is accepted", set(func(c *BGPConfiguration) { c.Spec.ListenPort = 178 }), "", ""},
		{"bindMode NodeIP is accepted", set(func(c *BGPConfiguration) { c.Spec.BindMode = "NodeIP" }), "", ""},
		{"bindMode None is accepted", set(func(c *BGPConfiguration) { c.Spec.BindMode = "None" }), "", ""},
		{"an unknown bindMode is rejected", set(func(c *BGPConfiguration) { c.Spec.BindMode = "NodeIPs" }), "spec.bindMode", "must be one of None, NodeIP"},
		{"programClusterRoutes Enabled is accepted", set(func(c *BGPConfiguration) { c.Spec.ProgramClusterRoutes = "Enabled" }), "", ""},
		{"programClusterRoutes Disabled is refused: felix does not program routes of pools without encapsulation",
			set(func(c *BGPConfiguration) { c.Spec.ProgramClusterRoutes = "Disabled" }), "spec.programClusterRoutes", "Disabled is not supported"},
		{"an unknown programClusterRoutes is rejected", set(func(c *BGPConfiguration) { c.Spec.ProgramClusterRoutes = "On" }), "spec.programClusterRoutes", "must be one of Enabled, Disabled"},
		{"ignored interface names and globs are accepted", set(func(c *BGPConfiguration) {
			c.Spec.IgnoredInterfaces = []string{"eth1", "docker*", "vlan.10", "br-x_1"}
		}), "", ""},
		{"ignoring every interface is rejected", set(func(c *BGPConfiguration) { c.Spec.IgnoredInterfaces = []string{"eth0", "*"} }), "spec.ignoredInterfaces[1]", "other than '*'"},
		{"an ignored interface BIRD cannot quote is rejected", set(func(c *BGPConfiguration) { c.Spec.IgnoredInterfaces = []string{`eth"0`} }), "spec.ignoredInterfaces[0]", "interface name"},
		{"an ignored interface name longer than 15 characters is rejected", set(func(c *BGPConfiguration) {
			c.Spec.IgnoredInterfaces = []string{"averylonginterface"}
		}), "spec.ignoredInterfaces[0]", "1-15"},
		{"service ranges as CIDRs and addresses of both families are accepted", set(func(c *BGPConfiguration) {
			c.Spec.ServiceClusterIPs = []ServiceIPBlock{{CIDR: "10.96.0.0/12"}, {CIDR: "fd00:96::/108"}}
			c.Spec.ServiceExternalIPs = []ServiceIPBlock{{CIDR: "104.244.42.129"}}
			c.Spec.ServiceLoadBalancerIPs = []ServiceIPBlock{{CIDR: "198.51.100.0/24"}}
		}), "", ""},
		{"a service range that is not a CIDR is rejected", set(func(c *BGPConfiguration) {
			c.Spec.ServiceClusterIPs = []ServiceIPBlock{{CIDR: "10.96.0.0/33"}}
		}), "spec.serviceClusterIPs[0].cidr", "invalid CIDR"},
		{"a service range that is not strictly masked is rejected", set(func(c *BGPConfiguration) {
			c.Spec.ServiceExternalIPs = []ServiceIPBlock{{CIDR: "172.217.3.1/24"}}
		}), "spec.serviceExternalIPs[0].cidr", "did you mean 172.217.3.0/24"},
		{"a service range without a cidr is rejected", set(func(c *BGPConfiguration) {
			c.Spec.ServiceLoadBalancerIPs = []ServiceIPBlock{{}}
		}), "spec.serviceLoadBalancerIPs[0].cidr", "cidr is required"},
		{"named standard and large communities used by prefix advertisements are accepted", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "large", Value: "4294967295:0:1"}, {Name: "std", Value: "65535:65281"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "192.168.0.0/16", Communities: []string{"large", "std", "64512:1", "1:2:3"}}}
		}), "", ""},
		{"a standard community with a number over 16 bits is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "c", Value: "65536:1"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"c"}}}
		}), "spec.communities[0].value", "16-bit"},
		{"a large community with a number over 32 bits is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "c", Value: "1:4294967296:1"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"c"}}}
		}), "spec.communities[0].value", "32-bit"},
		{"a community value of four parts is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "c", Value: "1:2:3:4"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"c"}}}
		}), "spec.communities[0].value", "aa:nn"},
		{"a community without a name is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Value: "1:2"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"1:2"}}}
		}), "spec.communities[0].name", "name is required"},
		{"a community name that is not a resource name is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "No_Export", Value: "1:2"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"No_Export"}}}
		}), "spec.communities[0].name", "lower case"},
		{"a community defined twice is rejected", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "c", Value: "1:2"}, {Name: "c", Value: "1:3"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"c"}}}
		}), "spec.communities[1].name", "defined twice"},
		{"communities no prefix advertisement uses are rejected, as in Calico", set(func(c *BGPConfiguration) {
			c.Spec.Communities = []Community{{Name: "c", Value: "1:2"}}
		}), "spec.communities", "not used in spec.prefixAdvertisements"},
		{"a prefix advertisement naming an undefined community is rejected", set(func(c *BGPConfiguration) {
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8", Communities: []string{"1:2", "missing"}}}
		}), "spec.prefixAdvertisements[0].communities[1]", "not a community defined in spec.communities"},
		{"a prefix advertisement without communities is rejected", set(func(c *BGPConfiguration) {
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0.0/8"}}
		}), "spec.prefixAdvertisements[0].communities", "communities are required"},
		{"a prefix advertisement with an invalid cidr is rejected", set(func(c *BGPConfiguration) {
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "10.0.0/8", Communities: []string{"1:2"}}}
		}), "spec.prefixAdvertisements[0].cidr", "invalid CIDR"},
		{"a per-node configuration may set listenPort, communities and prefix advertisements", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ListenPort = "node.node1", 1790
			c.Spec.Communities = []Community{{Name: "c", Value: "1:2"}}
			c.Spec.PrefixAdvertisements = []PrefixAdvertisement{{CIDR: "fd00::/64", Communities: []string{"c"}}}
		}), "", ""},
		{"a per-node configuration may not set the mesh", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.NodeToNodeMeshEnabled = "node.node1", ptr(true)
		}), "spec.nodeToNodeMeshEnabled", "only be set in the cluster-wide BGPConfiguration"},
		{"a per-node configuration may not set the AS number", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ASNumber = "node.node1", ptr(ASNumber(65000))
		}), "spec.asNumber", "spec.bgp.asNumber on the Node"},
		{"a per-node configuration may not set service cluster IPs", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ServiceClusterIPs = "node.node1", []ServiceIPBlock{{CIDR: "10.96.0.0/12"}}
		}), "spec.serviceClusterIPs", "only be set in the cluster-wide"},
		{"a per-node configuration may not set service external IPs", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ServiceExternalIPs = "node.node1", []ServiceIPBlock{{CIDR: "10.97.0.0/16"}}
		}), "spec.serviceExternalIPs", "only be set in the cluster-wide"},
		{"a per-node configuration may not set service load balancer IPs", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ServiceLoadBalancerIPs = "node.node1", []ServiceIPBlock{{CIDR: "10.98.0.0/16"}}
		}), "spec.serviceLoadBalancerIPs", "only be set in the cluster-wide"},
		{"a per-node configuration may not set bindMode", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.BindMode = "node.node1", "NodeIP"
		}), "spec.bindMode", "only be set in the cluster-wide"},
		{"a per-node configuration may not set ignoredInterfaces", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.IgnoredInterfaces = "node.node1", []string{"eth1"}
		}), "spec.ignoredInterfaces", "only be set in the cluster-wide"},
		{"a per-node configuration may not set programClusterRoutes", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.ProgramClusterRoutes = "node.node1", "Enabled"
		}), "spec.programClusterRoutes", "only be set in the cluster-wide"},
		{"a per-node configuration may not set the mesh restart time", set(func(c *BGPConfiguration) {
			c.Name, c.Spec.NodeMeshMaxRestartTime = "node.node1", &Duration{time.Minute}
		}), "spec.nodeMeshMaxRestartTime", "only be set in the cluster-wide"},
	})
}

func TestParseCommunity(t *testing.T) {
	cases := []struct {
		in   string
		want []uint32
	}{
		{"65000:100", []uint32{65000, 100}},
		{"0:0", []uint32{0, 0}},
		{"4294967295:1:2", []uint32{4294967295, 1, 2}},
		{"65536:1", nil},
		{"1:2:4294967296", nil},
		{"1", nil},
		{"1:", nil},
		{"+1:2", nil},
		{"1:2:3:4", nil},
		{"a:b", nil},
	}
	for _, c := range cases {
		got, ok := ParseCommunity(c.in)
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("ParseCommunity(%q) = %v, %t; want %v", c.in, got, ok, c.want)
		}
	}
}

// ruleHolders puts one rule into each kind that carries rules, and says where the rule's errors are reported.
var ruleHolders = []struct {
	name   string
	prefix string
	build  func(Rule) Resource
}{
	{"Profile ingress", "spec.ingress[0]", func(r Rule) Resource {
		return &Profile{ObjectMeta: ObjectMeta{Name: "p1"}, Spec: ProfileSpec{Ingress: []Rule{r}}}
	}},
	{"NetworkPolicy egress", "spec.egress[1]", func(r Rule) Resource {
		return &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "np1", Namespace: "default"},
			Spec: NetworkPolicySpec{Egress: []Rule{{Action: ActionAllow}, r}}}
	}},
	{"GlobalNetworkPolicy ingress", "spec.ingress[0]", func(r Rule) Resource {
		return &GlobalNetworkPolicy{ObjectMeta: ObjectMeta{Name: "gnp1"}, Spec: GlobalNetworkPolicySpec{Ingress: []Rule{r}}}
	}},
}

func TestRulesAcceptedInProfilesAndPolicies(t *testing.T) {
	cases := []struct {
		name string
		rule Rule
	}{
		{"an Allow rule", Rule{Action: ActionAllow}},
		{"a Deny rule", Rule{Action: ActionDeny}},
		{"a Log rule", Rule{Action: ActionLog}},
		{"a Pass rule", Rule{Action: ActionPass}},
		{"ipVersion 4", Rule{Action: ActionAllow, IPVersion: ptr(4)}},
		{"ipVersion 6", Rule{Action: ActionAllow, IPVersion: ptr(6)}},
		{"protocol TCP", Rule{Action: ActionAllow, Protocol: proto("TCP")}},
		{"protocol UDP", Rule{Action: ActionAllow, Protocol: proto("UDP")}},
		{"protocol ICMP", Rule{Action: ActionAllow, Protocol: proto("ICMP")}},
		{"protocol ICMPv6", Rule{Action: ActionAllow, Protocol: proto("ICMPv6")}},
		{"protocol SCTP", Rule{Action: ActionAllow, Protocol: proto("SCTP")}},
		{"protocol UDPLite", Rule{Action: ActionAllow, Protocol: proto("UDPLite")}},
		{"protocol by number 47", Rule{Action: ActionAllow, Protocol: &Protocol{Number: 47}}},
		{"protocol by number 255", Rule{Action: ActionAllow, Protocol: &Protocol{Number: 255}}},
		{"notProtocol by name", Rule{Action: ActionDeny, NotProtocol: proto("TCP")}},
		{"an ICMP type and code", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(8), Code: ptr(0)}}},
		{"an ICMP type alone", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(254)}}},
		{"an ICMP code of 255", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(3), Code: ptr(255)}}},
		{"ICMP given by number 1", Rule{Action: ActionAllow, Protocol: &Protocol{Number: 1}, ICMP: &ICMPFields{Type: ptr(0)}}},
		{"ICMP with ipVersion 4", Rule{Action: ActionAllow, IPVersion: ptr(4), Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(8)}}},
		{"ICMPv6 with ipVersion 6", Rule{Action: ActionAllow, IPVersion: ptr(6), Protocol: proto("ICMPv6"), ICMP: &ICMPFields{Type: ptr(128)}}},
		{"notICMP with ICMP", Rule{Action: ActionAllow, Protocol: proto("ICMP"), NotICMP: &ICMPFields{Type: ptr(5)}}},
		{"IPv4 source nets", Rule{Action: ActionAllow, Source: EntityRule{Nets: []string{"10.0.0.0/8", "192.168.1.1/32"}}}},
		{"IPv6 destination notNets with ipVersion 6", Rule{Action: ActionAllow, IPVersion: ptr(6), Destination: EntityRule{NotNets: []string{"fd00::/8"}}}},
		{"IPv4 nets on both sides with ipVersion 4", Rule{Action: ActionAllow, IPVersion: ptr(4),
			Source: EntityRule{Nets: []string{"10.0.0.0/8"}}, Destination: EntityRule{NotNets: []string{"10.1.0.0/16"}}}},
		{"selectors on both sides", Rule{Action: ActionAllow,
			Source:      EntityRule{Selector: "role == 'web'", NotSelector: "has(quarantine)", NamespaceSelector: "all()"},
			Destination: EntityRule{Selector: "role in {'db', 'cache'}"}}},
		{"TCP destination ports", Rule{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: ports("80", "443")}}},
		{"UDP port range 1000:2000", Rule{Action: ActionAllow, Protocol: proto("UDP"), Destination: EntityRule{Ports: ports("1000:2000")}}},
		{"SCTP source notPorts", Rule{Action: ActionAllow, Protocol: proto("SCTP"), Source: EntityRule{NotPorts: ports("9")}}},
		{"ports with TCP given by number", Rule{Action: ActionAllow, Protocol: &Protocol{Number: 6}, Destination: EntityRule{Ports: ports("22")}}},
		{"a named port", Rule{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: ports("http-alt")}}},
		{"the full port range 1:65535", Rule{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: ports("1:65535")}}},
	}
	for _, h := range ruleHolders {
		for _, c := range cases {
			t.Run(h.name+"/"+c.name+" is accepted", func(t *testing.T) {
				checkValidation(t, h.build(c.rule).Validate(), "", "")
			})
		}
	}
}

func TestRulesRejectedInProfilesAndPolicies(t *testing.T) {
	cases := []struct {
		name   string
		rule   Rule
		field  string // relative to the rule
		reason string
	}{
		{"a rule without an action", Rule{}, ".action", "action is required"},
		{"a lowercase action", Rule{Action: "allow"}, ".action", "must be one of Allow, Deny, Log, Pass"},
		{"the backend action next-tier", Rule{Action: "next-tier"}, ".action", "must be one of"},
		{"ipVersion 5", Rule{Action: ActionAllow, IPVersion: ptr(5)}, ".ipVersion", "must be 4 or 6"},
		{"a lowercase protocol name", Rule{Action: ActionAllow, Protocol: proto("tcp")}, ".protocol", "must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite"},
		{"an unknown protocol name", Rule{Action: ActionAllow, Protocol: proto("HTTP")}, ".protocol", "must be one of"},
		{"protocol number 0", Rule{Action: ActionAllow, Protocol: &Protocol{}}, ".protocol", "between 1 and 255"},
		{"protocol number 0 written as a string", Rule{Action: ActionAllow, Protocol: proto("0")}, ".protocol", "between 1 and 255"},
		{"protocol 256 written as a string", Rule{Action: ActionAllow, Protocol: proto("256")}, ".protocol", "must be one of"},
		{"an unknown notProtocol name", Rule{Action: ActionDeny, NotProtocol: proto("udp")}, ".notProtocol", "must be one of"},
		{"icmp without a protocol", Rule{Action: ActionAllow, ICMP: &ICMPFields{Type: ptr(8)}}, ".icmp", "need protocol ICMP or ICMPv6"},
		{"icmp with protocol TCP", Rule{Action: ActionAllow, Protocol: proto("TCP"), ICMP: &ICMPFields{Type: ptr(8)}}, ".icmp", "need protocol ICMP or ICMPv6"},
		{"notICMP without a protocol", Rule{Action: ActionAllow, NotICMP: &ICMPFields{Type: ptr(8)}}, ".notICMP", "need protocol ICMP or ICMPv6"},
		{"ICMP type 255", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(255)}}, ".icmp.type", "between 0 and 254"},
		{"a negative ICMP type", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(-1)}}, ".icmp.type", "between 0 and 254"},
		{"ICMP code 256", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(3), Code: ptr(256)}}, ".icmp.code", "between 0 and 255"},
		{"an ICMP code without a type", Rule{Action: ActionAllow, Protocol: proto("ICMP"), ICMP: &ICMPFields{Code: ptr(0)}}, ".icmp.code", "needs an ICMP type"},
		{"notICMP type 255", Rule{Action: ActionAllow, Protocol: proto("ICMPv6"), NotICMP: &ICMPFields{Type: ptr(255)}}, ".notICMP.type", "between 0 and 254"},
		{"ICMP with ipVersion 6", Rule{Action: ActionAllow, IPVersion: ptr(6), Protocol: proto("ICMP"), ICMP: &ICMPFields{Type: ptr(8)}}, ".icmp", "does not match ipVersion 6"},
		{"ICMPv6 with ipVersion 4", Rule{Action: ActionAllow, IPVersion: ptr(4), Protocol: proto("ICMPv6"), ICMP: &ICMPFields{Type: ptr(128)}}, ".icmp", "does not match ipVersion 4"},
		{"an invalid source net", Rule{Action: ActionAllow, Source: EntityRule{Nets: []string{"10.0.0.0/33"}}}, ".source.nets[0]", "invalid CIDR"},
		{"an invalid destination notNet", Rule{Action: ActionAllow, Destination: EntityRule{NotNets: []string{"10.0.0.0/8", "nope"}}}, ".destination.notNets[1]", "invalid CIDR"},
		{"an IPv6 net with ipVersion 4", Rule{Action: ActionAllow, IPVersion: ptr(4), Source: EntityRule{Nets: []string{"fd00::/8"}}}, ".source.nets[0]", "does not match ipVersion 4"},
		{"an IPv4 notNet with ipVersion 6", Rule{Action: ActionAllow, IPVersion: ptr(6), Destination: EntityRule{NotNets: []string{"10.0.0.0/8"}}}, ".destination.notNets[0]", "does not match ipVersion 6"},
		{"IPv4 and IPv6 nets in one rule", Rule{Action: ActionAllow,
			Source: EntityRule{Nets: []string{"10.0.0.0/8"}}, Destination: EntityRule{Nets: []string{"fd00::/8"}}}, "", "rule contains both IPv4 and IPv6 CIDRs"},
		{"IPv4 and IPv6 nets in one list", Rule{Action: ActionAllow, Source: EntityRule{NotNets: []string{"10.0.0.0/8", "fd00::/8"}}}, "", "rule contains both IPv4 and IPv6 CIDRs"},
		{"a source selector with bad syntax", Rule{Action: ActionAllow, Source: EntityRule{Selector: "role == "}}, ".source.selector", "selector"},
		{"a destination notSelector with bad syntax", Rule{Action: ActionAllow, Destination: EntityRule{NotSelector: "has(x"}}, ".destination.notSelector", "selector"},
		{"a namespaceSelector with bad syntax", Rule{Action: ActionAllow, Source: EntityRule{NamespaceSelector: "&&"}}, ".source.namespaceSelector", "selector"},
		{"ports without a protocol", Rule{Action: ActionAllow, Destination: EntityRule{Ports: ports("80")}}, ".destination.ports", "must set protocol to TCP, UDP or SCTP"},
		{"notPorts without a protocol", Rule{Action: ActionAllow, Source: EntityRule{NotPorts: ports("80")}}, ".source.notPorts", "must set protocol to TCP, UDP or SCTP"},
		{"ports with protocol ICMP", Rule{Action: ActionAllow, Protocol: proto("ICMP"), Destination: EntityRule{Ports: ports("80")}}, ".destination.ports", "must set protocol to TCP, UDP or SCTP"},
		{"ports with protocol UDPLite", Rule{Action: ActionAllow, Protocol: proto("UDPLite"), Destination: EntityRule{Ports: ports("80")}}, ".destination.ports", "must set protocol to TCP, UDP or SCTP"},
		{"ports with only notProtocol TCP", Rule{Action: ActionAllow, NotProtocol: proto("TCP"), Destination: EntityRule{Ports: ports("80")}}, ".destination.ports", "must set protocol"},
		{"port 0 built in code", Rule{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: []Port{{}}}}, ".destination.ports[0]", "port number must be between 1 and 65535"},
		{"a reversed port range built in code", Rule{Action: ActionAllow, Protocol: proto("TCP"), Destination: EntityRule{Ports: []Port{{MinPort: 2000, MaxPort: 1000}}}}, ".destination.ports[0]", "port range invalid"},
		{"an uppercase port name built in code", Rule{Action: ActionAllow, Protocol: proto("TCP"), Source: EntityRule{NotPorts: []Port{{PortName: "HTTP"}}}}, ".source.notPorts[0]", "lower case"},
	}
	for _, h := range ruleHolders {
		for _, c := range cases {
			t.Run(h.name+"/"+c.name+" is rejected", func(t *testing.T) {
				checkValidation(t, h.build(c.rule).Validate(), h.prefix+c.field, c.reason)
			})
		}
	}
}

func TestProfileValidation(t *testing.T) {
	runValidation(t, []validationCase{
		{"a CNI network profile is accepted", validProfile(), "", ""},
		{"labelsToApply with an empty value is accepted", with(validProfile(), func(p *Profile) { p.Spec.LabelsToApply = map[string]string{"net1": ""} }), "", ""},
		{"labelsToApply with a bad key is rejected", with(validProfile(), func(p *Profile) { p.Spec.LabelsToApply = map[string]string{"net 1": ""} }), "spec.labelsToApply", "invalid label key"},
		{"labelsToApply with a bad value is rejected", with(validProfile(), func(p *Profile) { p.Spec.LabelsToApply = map[string]string{"net1": "a b"} }), "spec.labelsToApply.net1", "invalid label value"},
	})
}

func TestPolicyTypes(t *testing.T) {
	np := func(types []PolicyType, ingress, egress []Rule) Resource {
		return &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "np1", Namespace: "default"},
			Spec: NetworkPolicySpec{Types: types, Ingress: ingress, Egress: egress}}
	}
	gnp := func(types []PolicyType, ingress, egress []Rule) Resource {
		return &GlobalNetworkPolicy{ObjectMeta: ObjectMeta{Name: "gnp1"},
			Spec: GlobalNetworkPolicySpec{Types: types, Ingress: ingress, Egress: egress}}
	}
	allow := []Rule{{Action: ActionAllow}}
	in, out := PolicyTypeIngress, PolicyTypeEgress
	cases := []struct {
		name    string
		types   []PolicyType
		ingress []Rule
		egress  []Rule
		field   string
		reason  string
	}{
		{"both types with both rule lists are accepted", []PolicyType{in, out}, allow, allow, "", ""},
		{"Egress alone with no rules is accepted (deny all egress)", []PolicyType{out}, nil, nil, "", ""},
		{"a type given twice is rejected", []PolicyType{in, in}, allow, nil, "spec.types[1]", "'Ingress' type specified more than once"},
		{"an unknown type is rejected", []PolicyType{"Both"}, nil, nil, "spec.types[0]", "must be Ingress or Egress"},
		{"a lowercase type is rejected", []PolicyType{"ingress"}, nil, nil, "spec.types[0]", "must be Ingress or Egress"},
		{"ingress rules without the Ingress type are rejected", []PolicyType{out}, allow, nil, "spec.types", "ingress rules are present but types does not include Ingress"},
		{"egress rules without the Egress type are rejected", []PolicyType{in}, nil, allow, "spec.types", "egress rules are present but types does not include Egress"},
	}
	for _, c := range cases {
		for kind, build := range map[string]func([]PolicyType, []Rule, []Rule) Resource{"NetworkPolicy": np, "GlobalNetworkPolicy": gnp} {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				checkValidation(t, build(c.types, c.ingress, c.egress).Validate(), c.field, c.reason)
			})
		}
	}
}

func TestGlobalNetworkPolicyOptions(t *testing.T) {
	set := func(f func(*GlobalNetworkPolicySpec)) *GlobalNetworkPolicy {
		p := validGlobalNetworkPolicy()
		f(&p.Spec)
		return p
	}
	runValidation(t, []validationCase{
		{"doNotTrack with applyOnForward is accepted", set(func(s *GlobalNetworkPolicySpec) { s.DoNotTrack, s.ApplyOnForward = true, true }), "", ""},
		{"preDNAT with applyOnForward and ingress rules is accepted", set(func(s *GlobalNetworkPolicySpec) { s.PreDNAT, s.ApplyOnForward = true, true }), "", ""},
		{"applyOnForward alone is accepted", set(func(s *GlobalNetworkPolicySpec) { s.ApplyOnForward = true }), "", ""},
		{"doNotTrack together with preDNAT is rejected", set(func(s *GlobalNetworkPolicySpec) { s.DoNotTrack, s.PreDNAT, s.ApplyOnForward = true, true, true }), "spec.preDNAT", "preDNAT and doNotTrack cannot both be true"},
		{"doNotTrack without applyOnForward is rejected", set(func(s *GlobalNetworkPolicySpec) { s.DoNotTrack = true }), "spec.applyOnForward", "applyOnForward must be true"},
		{"preDNAT without applyOnForward is rejected", set(func(s *GlobalNetworkPolicySpec) { s.PreDNAT = true }), "spec.applyOnForward", "applyOnForward must be true"},
		{"preDNAT with egress rules is rejected", set(func(s *GlobalNetworkPolicySpec) {
			s.PreDNAT, s.ApplyOnForward, s.Types, s.Egress = true, true, nil, []Rule{{Action: ActionDeny}}
		}), "spec.egress", "preDNAT policy cannot have egress rules"},
		{"preDNAT with the Egress type is rejected", set(func(s *GlobalNetworkPolicySpec) {
			s.PreDNAT, s.ApplyOnForward, s.Ingress, s.Types = true, true, nil, []PolicyType{PolicyTypeEgress}
		}), "spec.types", "preDNAT policy cannot have 'Egress' type"},
		{"a selector with bad syntax is rejected", set(func(s *GlobalNetworkPolicySpec) { s.Selector = "role ==" }), "spec.selector", "selector"},
	})
}

func TestNetworkPolicyValidation(t *testing.T) {
	runValidation(t, []validationCase{
		{"a namespaced policy is accepted", validNetworkPolicy(), "", ""},
		{"a policy without a namespace is accepted before defaulting", with(validNetworkPolicy(), func(p *NetworkPolicy) { p.Namespace = "" }), "", ""},
		{"a namespace with a dot is rejected", with(validNetworkPolicy(), func(p *NetworkPolicy) { p.Namespace = "team.a" }), "metadata.namespace", "lower case"},
		{"a selector with bad syntax is rejected", with(validNetworkPolicy(), func(p *NetworkPolicy) { p.Spec.Selector = "!" }), "spec.selector", "selector"},
	})
}

func TestWorkloadEndpointValidation(t *testing.T) {
	set := func(f func(*WorkloadEndpointSpec)) *WorkloadEndpoint {
		w := validWorkloadEndpoint()
		f(&w.Spec)
		return w
	}
	tcp := ProtocolFromString("TCP")
	runValidation(t, []validationCase{
		{"a CNI workload endpoint is accepted", validWorkloadEndpoint(), "", ""},
		{"a fully populated workload endpoint is accepted", fullSamples["WorkloadEndpoint"](), "", ""},
		{"a workload endpoint without a node is rejected", set(func(s *WorkloadEndpointSpec) { s.Node = "" }), "spec.node", "node is required"},
		{"a 15 character interface name is accepted", set(func(s *WorkloadEndpointSpec) { s.InterfaceName = "cali0123456789a" }), "", ""},
		{"an interface name with '_', '.' and '-' is accepted", set(func(s *WorkloadEndpointSpec) { s.InterfaceName = "tap_1.2-x" }), "", ""},
		{"a 16 character interface name is rejected", set(func(s *WorkloadEndpointSpec) { s.InterfaceName = "wibblywobblyeth0" }), "spec.interfaceName", "1-15 characters"},
		{"an interface name with a space is rejected", set(func(s *WorkloadEndpointSpec) { s.InterfaceName = "eth 0" }), "spec.interfaceName", "1-15 characters"},
		{"an IPv6 /128 address is accepted", set(func(s *WorkloadEndpointSpec) { s.IPNetworks = []string{"10.0.0.5/32", "fd00::5/128"} }), "", ""},
		{"an IPv4 network wider than /32 is rejected", set(func(s *WorkloadEndpointSpec) { s.IPNetworks = []string{"10.0.0.0/24"} }), "spec.ipNetworks[0]", "single address (/32 or /128)"},
		{"an IPv6 network wider than /128 is rejected", set(func(s *WorkloadEndpointSpec) { s.IPNetworks = []string{"10.0.0.5/32", "fd00::/64"} }), "spec.ipNetworks[1]", "single address"},
		{"a bare address without a prefix length is rejected", set(func(s *WorkloadEndpointSpec) { s.IPNetworks = []string{"10.0.0.5"} }), "spec.ipNetworks[0]", "invalid CIDR"},
		{"an IPv4 NAT is accepted", set(func(s *WorkloadEndpointSpec) { s.IPNATs = []IPNAT{{InternalIP: "10.0.0.5", ExternalIP: "172.16.0.5"}} }), "", ""},
		{"a NAT with a bad internal address is rejected", set(func(s *WorkloadEndpointSpec) { s.IPNATs = []IPNAT{{InternalIP: "ten", ExternalIP: "172.16.0.5"}} }), "spec.ipNATs[0].internalIP", "invalid IP address"},
		{"a NAT with a bad external address is rejected", set(func(s *WorkloadEndpointSpec) {
			s.IPNATs = []IPNAT{{InternalIP: "10.0.0.5", ExternalIP: "172.16.0.300"}}
		}), "spec.ipNATs[0].externalIP", "invalid IP address"},
		{"a MAC address is accepted", set(func(s *WorkloadEndpointSpec) { s.MAC = "ee:ee:ee:ee:ee:ee" }), "", ""},
		{"a MAC address that is too short is rejected", set(func(s *WorkloadEndpointSpec) { s.MAC = "ee:ee:ee:ee:ee" }), "spec.mac", "invalid MAC address"},
		{"a MAC address with non-hex digits is rejected", set(func(s *WorkloadEndpointSpec) { s.MAC = "zz:ee:ee:ee:ee:ee" }), "spec.mac", "invalid MAC address"},
		{"both gateways are accepted", set(func(s *WorkloadEndpointSpec) { s.IPv4Gateway, s.IPv6Gateway = "169.254.1.1", "fe80::1" }), "", ""},
		{"an IPv6 address as the IPv4 gateway is rejected", set(func(s *WorkloadEndpointSpec) { s.IPv4Gateway = "fe80::1" }), "spec.ipv4Gateway", "must be an IPv4 address"},
		{"an IPv4 address as the IPv6 gateway is rejected", set(func(s *WorkloadEndpointSpec) { s.IPv6Gateway = "169.254.1.1" }), "spec.ipv6Gateway", "must be an IPv6 address"},
		{"a gateway that is not an address is rejected", set(func(s *WorkloadEndpointSpec) { s.IPv4Gateway = "gw" }), "spec.ipv4Gateway", "invalid IP address"},
		{"a profile name with uppercase letters is rejected", set(func(s *WorkloadEndpointSpec) { s.Profiles = []string{"net1", "Net_2"} }), "spec.profiles[1]", "lower case"},
		{"a named TCP port is accepted", set(func(s *WorkloadEndpointSpec) { s.Ports = []EndpointPort{{Name: "http", Protocol: tcp, Port: 80}} }), "", ""},
		{"a named port with an uppercase name is rejected", set(func(s *WorkloadEndpointSpec) { s.Ports = []EndpointPort{{Name: "HTTP", Protocol: tcp, Port: 80}} }), "spec.ports[0].name", "lower case"},
		{"a named port without a name is rejected", set(func(s *WorkloadEndpointSpec) { s.Ports = []EndpointPort{{Protocol: tcp, Port: 80}} }), "spec.ports[0].name", "lower case"},
		{"a named ICMP port is rejected", set(func(s *WorkloadEndpointSpec) {
			s.Ports = []EndpointPort{{Name: "ping", Protocol: ProtocolFromString("ICMP"), Port: 1}}
		}), "spec.ports[0].protocol", "named ports need protocol TCP, UDP or SCTP"},
		{"a named port 0 is rejected", set(func(s *WorkloadEndpointSpec) { s.Ports = []EndpointPort{{Name: "http", Protocol: tcp}} }), "spec.ports[0].port", "between 1 and 65535"},
		{"a name that is not a DNS subdomain is rejected", with(validWorkloadEndpoint(), func(w *WorkloadEndpoint) { w.Name = "node1-cni-ABC-eth0" }), "metadata.name", "lower case"},
	})
}

func TestHostEndpointValidation(t *testing.T) {
	set := func(f func(*HostEndpointSpec)) *HostEndpoint {
		h := validHostEndpoint()
		f(&h.Spec)
		return h
	}
	runValidation(t, []validationCase{
		{"a host endpoint with an interface is accepted", validHostEndpoint(), "", ""},
		{"a fully populated host endpoint is accepted", fullSamples["HostEndpoint"](), "", ""},
		{"a host endpoint with only expected IPs is accepted", set(func(s *HostEndpointSpec) { s.InterfaceName, s.ExpectedIPs = "", []string{"192.0.2.10"} }), "", ""},
		{"the all-interfaces wildcard is accepted", set(func(s *HostEndpointSpec) { s.InterfaceName = "*" }), "", ""},
		{"a host endpoint without a node is rejected", set(func(s *HostEndpointSpec) { s.Node = "" }), "spec.node", "node is required"},
		{"a host endpoint with neither interface nor IPs is rejected", set(func(s *HostEndpointSpec) { s.InterfaceName = "" }), "spec.interfaceName", "needs interfaceName or expectedIPs"},
		{"a 16 character interface name is rejected", set(func(s *HostEndpointSpec) { s.InterfaceName = "wibblywobblyeth0" }), "spec.interfaceName", "1-15 characters"},
		{"an expected IP out of range is rejected", set(func(s *HostEndpointSpec) { s.ExpectedIPs = []string{"192.0.2.1", "192.0.2.300"} }), "spec.expectedIPs[1]", "invalid IP address"},
		{"an expected IP with a prefix length is rejected", set(func(s *HostEndpointSpec) { s.ExpectedIPs = []string{"192.0.2.1/32"} }), "spec.expectedIPs[0]", "invalid IP address"},
		{"a bad profile name is rejected", set(func(s *HostEndpointSpec) { s.Profiles = []string{"-edge"} }), "spec.profiles[0]", "lower case"},
		{"a named UDP port is accepted", set(func(s *HostEndpointSpec) {
			s.Ports = []EndpointPort{{Name: "dns", Protocol: ProtocolFromString("UDP"), Port: 53}}
		}), "", ""},
		{"a named port without TCP, UDP or SCTP is rejected", set(func(s *HostEndpointSpec) {
			s.Ports = []EndpointPort{{Name: "gre", Protocol: Protocol{Number: 47}, Port: 1}}
		}), "spec.ports[0].protocol", "named ports need protocol"},
	})
}

func TestGlobalNetworkSetValidation(t *testing.T) {
	runValidation(t, []validationCase{
		{"IPv4 and IPv6 nets are accepted", fullSamples["GlobalNetworkSet"](), "", ""},
		{"an invalid net is rejected", with(validGlobalNetworkSet(), func(g *GlobalNetworkSet) { g.Spec.Nets = []string{"10.0.0.0/8", "10.0.0.0/40"} }), "spec.nets[1]", "invalid CIDR"},
	})
}

func TestFelixConfigurationValidation(t *testing.T) {
	set := func(f func(*FelixConfigurationSpec)) *FelixConfiguration {
		c := validFelixConfiguration()
		f(&c.Spec)
		return c
	}
	runValidation(t, []validationCase{
		{"an empty cluster-wide configuration is accepted", validFelixConfiguration(), "", ""},
		{"a fully populated per-node configuration is accepted", fullSamples["FelixConfiguration"](), "", ""},
		{"a configuration named after something else is rejected", with(validFelixConfiguration(), func(c *FelixConfiguration) { c.Name = "felix" }), "metadata.name", "must be 'default'"},
		{"defaultEndpointToHostAction Drop is accepted", set(func(s *FelixConfigurationSpec) { s.DefaultEndpointToHostAction = "Drop" }), "", ""},
		{"a lowercase defaultEndpointToHostAction is rejected", set(func(s *FelixConfigurationSpec) { s.DefaultEndpointToHostAction = "drop" }), "spec.defaultEndpointToHostAction", "must be one of Drop, Accept, Return"},
		{"defaultEndpointToHostAction Reject is rejected", set(func(s *FelixConfigurationSpec) { s.DefaultEndpointToHostAction = "Reject" }), "spec.defaultEndpointToHostAction", "must be one of"},
		{"iptablesFilterAllowAction Return is accepted", set(func(s *FelixConfigurationSpec) { s.IptablesFilterAllowAction = "Return" }), "", ""},
		{"iptablesFilterAllowAction Drop is rejected", set(func(s *FelixConfigurationSpec) { s.IptablesFilterAllowAction = "Drop" }), "spec.iptablesFilterAllowAction", "must be one of Accept, Return"},
		{"chainInsertMode Insert is accepted", set(func(s *FelixConfigurationSpec) { s.ChainInsertMode = "Insert" }), "", ""},
		{"chainInsertMode Prepend is rejected", set(func(s *FelixConfigurationSpec) { s.ChainInsertMode = "Prepend" }), "spec.chainInsertMode", "must be one of Insert, Append"},
		{"iptablesBackend NFT is accepted", set(func(s *FelixConfigurationSpec) { s.IptablesBackend = "NFT" }), "", ""},
		{"iptablesBackend Legacy is accepted", set(func(s *FelixConfigurationSpec) { s.IptablesBackend = "Legacy" }), "", ""},
		{"iptablesBackend nftables is rejected", set(func(s *FelixConfigurationSpec) { s.IptablesBackend = "nftables" }), "spec.iptablesBackend", "must be one of Auto, NFT, Legacy"},
		{"logSeverityScreen Fatal is accepted", set(func(s *FelixConfigurationSpec) { s.LogSeverityScreen = "Fatal" }), "", ""},
		{"logSeverityScreen Trace is rejected", set(func(s *FelixConfigurationSpec) { s.LogSeverityScreen = "Trace" }), "spec.logSeverityScreen", "must be one of Debug, Info, Warning, Error, Fatal"},
		{"ipipMTU 576 is accepted", set(func(s *FelixConfigurationSpec) { s.IPIPMTU = ptr(576) }), "", ""},
		{"ipipMTU 65535 is accepted", set(func(s *FelixConfigurationSpec) { s.IPIPMTU = ptr(65535) }), "", ""},
		{"ipipMTU 0 (from the host interface) is accepted", set(func(s *FelixConfigurationSpec) { s.IPIPMTU = ptr(0) }), "", ""},
		{"ipipMTU 575 is rejected", set(func(s *FelixConfigurationSpec) { s.IPIPMTU = ptr(575) }), "spec.ipipMTU", "between 576 and 65535"},
		{"vxlanMTU 0 is accepted", set(func(s *FelixConfigurationSpec) { s.VXLANMTU = ptr(0) }), "", ""},
		{"vxlanMTU 100 is rejected", set(func(s *FelixConfigurationSpec) { s.VXLANMTU = ptr(100) }), "spec.vxlanMTU", "between 576 and 65535"},
		{"vxlanVNI 0 is rejected", set(func(s *FelixConfigurationSpec) { s.VXLANVNI = ptr(0) }), "spec.vxlanVNI", "between 1 and 16777215"},
		{"vxlanPort 4789 is accepted", set(func(s *FelixConfigurationSpec) { s.VXLANPort = ptr(4789) }), "", ""},
		{"vxlanPort 70000 is rejected", set(func(s *FelixConfigurationSpec) { s.VXLANPort = ptr(70000) }), "spec.vxlanPort", "between 1 and 65535"},
		{"ipipMTU 65536 is rejected", set(func(s *FelixConfigurationSpec) { s.IPIPMTU = ptr(65536) }), "spec.ipipMTU", "between 576 and 65535"},
		{"healthPort 0 is rejected", set(func(s *FelixConfigurationSpec) { s.HealthPort = ptr(0) }), "spec.healthPort", "between 1 and 65535"},
		{"healthPort 65536 is rejected", set(func(s *FelixConfigurationSpec) { s.HealthPort = ptr(65536) }), "spec.healthPort", "between 1 and 65535"},
		{"prometheusMetricsPort 65535 is accepted", set(func(s *FelixConfigurationSpec) { s.PrometheusMetricsPort = ptr(65535) }), "", ""},
		{"prometheusMetricsPort 70000 is rejected", set(func(s *FelixConfigurationSpec) { s.PrometheusMetricsPort = ptr(70000) }), "spec.prometheusMetricsPort", "between 1 and 65535"},
		{"an empty failsafe list is accepted", set(func(s *FelixConfigurationSpec) { s.FailsafeInboundHostPorts = &[]ProtoPort{} }), "", ""},
		{"an SCTP failsafe port is accepted", set(func(s *FelixConfigurationSpec) {
			s.FailsafeOutboundHostPorts = &[]ProtoPort{{Protocol: "SCTP", Port: 36412}}
		}), "", ""},
		{"a lowercase failsafe protocol is rejected", set(func(s *FelixConfigurationSpec) {
			s.FailsafeInboundHostPorts = &[]ProtoPort{{Protocol: "TCP", Port: 22}, {Protocol: "udp", Port: 68}}
		}), "spec.failsafeInboundHostPorts[1].protocol", "must be one of TCP, UDP, SCTP"},
		{"an ICMP failsafe port is rejected", set(func(s *FelixConfigurationSpec) {
			s.FailsafeOutboundHostPorts = &[]ProtoPort{{Protocol: "ICMP", Port: 1}}
		}), "spec.failsafeOutboundHostPorts[0].protocol", "must be one of"},
		{"failsafe port 0 is rejected", set(func(s *FelixConfigurationSpec) { s.FailsafeOutboundHostPorts = &[]ProtoPort{{Protocol: "TCP"}} }), "spec.failsafeOutboundHostPorts[0].port", "between 1 and 65535"},
		{"several interface prefixes are accepted", set(func(s *FelixConfigurationSpec) { s.InterfacePrefix = "cali,tap,veth" }), "", ""},
		{"an empty interface prefix in a list is rejected", set(func(s *FelixConfigurationSpec) { s.InterfacePrefix = "cali,,tap" }), "spec.interfacePrefix", "comma-separated"},
		{"an interface prefix with a space is rejected", set(func(s *FelixConfigurationSpec) { s.InterfacePrefix = "cali tap" }), "spec.interfacePrefix", "comma-separated"},
	})
}

func TestClusterInformationValidation(t *testing.T) {
	runValidation(t, []validationCase{
		{"the default cluster information is accepted", validClusterInformation(), "", ""},
		{"cluster information with another name is rejected", with(validClusterInformation(), func(c *ClusterInformation) { c.Name = "cluster" }), "metadata.name", "named 'default'"},
		{"cluster information with a namespace is rejected", with(validClusterInformation(), func(c *ClusterInformation) { c.Namespace = "kube-system" }), "metadata.namespace", "non-namespaced"},
	})
}

func TestValidationErrorIsAValidationError(t *testing.T) {
	err := with(validIPPool(), func(p *IPPool) { p.Spec.CIDR = "10.0.0.1/8"; p.Spec.BlockSize = 40 }).Validate()
	var ve ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("expected errors.As to find a ValidationError in %T", err)
	}
	if len(ve) != 2 || ve[0].Field != "spec.cidr" || ve[1].Field != "spec.blockSize" {
		t.Fatalf("expected errors on spec.cidr then spec.blockSize, got %#v", ve)
	}
}

func TestKubernetesPolicyNamesMayHoldDotsAfterThePrefix(t *testing.T) {
	for _, tc := range []struct {
		name, policy, wantErr string
	}{
		{"a translated policy with a dotted Kubernetes name is accepted", "knp.default.allow.dns", ""},
		{"a translated policy with an upper-case Kubernetes name is refused", "knp.default.Allow", "needs a Kubernetes name after the prefix"},
		{"the prefix alone is refused", "knp.default.", "name is required"},
		{"another dotted name is still refused", "knp.other.allow", "lower case alphanumeric characters or '-'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &NetworkPolicy{ObjectMeta: ObjectMeta{Name: tc.policy, Namespace: "prod"}}
			p.Default()
			err := p.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want %s accepted, got %v", tc.policy, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error containing %q for %s, got %v", tc.wantErr, tc.policy, err)
			}
		})
	}
}

func TestBGPFilterValidation(t *testing.T) {
	rule := func(f func(*BGPFilterRule)) *BGPFilter {
		r := BGPFilterRule{Action: FilterAccept, MatchOperator: FilterIn, CIDR: "10.0.0.0/8"}
		f(&r)
		return &BGPFilter{ObjectMeta: ObjectMeta{Name: "f"}, Spec: BGPFilterSpec{ExportV4: []BGPFilterRule{r}}}
	}
	rule6 := func(r BGPFilterRule) *BGPFilter {
		return &BGPFilter{ObjectMeta: ObjectMeta{Name: "f"}, Spec: BGPFilterSpec{ImportV6: []BGPFilterRule{r}}}
	}
	bounds := func(min, max *int32) *BGPFilterPrefixLength { return &BGPFilterPrefixLength{Min: min, Max: max} }
	runValidation(t, []validationCase{
		{"a rule with a CIDR match is accepted", rule(func(*BGPFilterRule) {}), "", ""},
		{"a rule that matches everything is accepted", rule(func(r *BGPFilterRule) { r.MatchOperator, r.CIDR = "", "" }), "", ""},
		{"a rule with every match is accepted", rule(func(r *BGPFilterRule) {
			r.PrefixLength, r.Source, r.Interface = bounds(ptr(int32(16)), ptr(int32(32))), "RemotePeers", "eth*"
		}), "", ""},
		{"a rule without an action is rejected", rule(func(r *BGPFilterRule) { r.Action = "" }), "spec.exportV4[0].action", "action is required"},
		{"a lowercase action is rejected", rule(func(r *BGPFilterRule) { r.Action = "accept" }), "spec.exportV4[0].action", "must be one of Accept, Reject"},
		{"an unknown match operator is rejected", rule(func(r *BGPFilterRule) { r.MatchOperator = "Contains" }), "spec.exportV4[0].matchOperator", "must be one of Equal, NotEqual, In, NotIn"},
		{"a CIDR without a match operator is rejected", rule(func(r *BGPFilterRule) { r.MatchOperator = "" }), "spec.exportV4[0].matchOperator", "matchOperator is required with cidr"},
		{"a match operator without a CIDR is rejected", rule(func(r *BGPFilterRule) { r.CIDR = "" }), "spec.exportV4[0].cidr", "cidr is required with matchOperator"},
		{"an IPv6 CIDR in a v4 rule is rejected", rule(func(r *BGPFilterRule) { r.CIDR = "fd00::/64" }), "spec.exportV4[0].cidr", "must be an IPv4 CIDR"},
		{"an IPv4 CIDR in a v6 rule is rejected", rule6(BGPFilterRule{Action: "Reject", MatchOperator: "Equal", CIDR: "10.0.0.0/8"}), "spec.importV6[0].cidr", "must be an IPv6 CIDR"},
		{"an invalid CIDR is rejected", rule(func(r *BGPFilterRule) { r.CIDR = "10.0.0.0/33" }), "spec.exportV4[0].cidr", "invalid CIDR"},
		{"an unknown source is rejected", rule(func(r *BGPFilterRule) { r.Source = "Peers" }), "spec.exportV4[0].source", "must be one of RemotePeers"},
		{"a prefix length without a CIDR is rejected", rule(func(r *BGPFilterRule) {
			r.MatchOperator, r.CIDR, r.PrefixLength = "", "", bounds(ptr(int32(24)), nil)
		}), "spec.exportV4[0].prefixLength", "needs cidr"},
		{"a prefix length with Equal is rejected", rule(func(r *BGPFilterRule) {
			r.MatchOperator, r.PrefixLength = "Equal", bounds(ptr(int32(24)), nil)
		}), "spec.exportV4[0].prefixLength", "In or NotIn"},
		{"a v4 prefix length above 32 is rejected", rule(func(r *BGPFilterRule) { r.PrefixLength = bounds(nil, ptr(int32(33))) }), "spec.exportV4[0].prefixLength.max", "from 0 to 32"},
		{"a v6 prefix length up to 128 is accepted", rule6(BGPFilterRule{Action: "Accept", MatchOperator: "In", CIDR: "fd00::/48", PrefixLength: bounds(ptr(int32(64)), ptr(int32(128)))}), "", ""},
		{"a negative prefix length is rejected", rule(func(r *BGPFilterRule) { r.PrefixLength = bounds(ptr(int32(-1)), nil) }), "spec.exportV4[0].prefixLength.min", "from 0 to 32"},
		{"a min above max is rejected", rule(func(r *BGPFilterRule) { r.PrefixLength = bounds(ptr(int32(28)), ptr(int32(24))) }), "spec.exportV4[0].prefixLength", "min must not be greater than max"},
		{"an interface glob BIRD cannot quote is rejected", rule(func(r *BGPFilterRule) { r.Interface = `eth"0` }), "spec.exportV4[0].interface", "interface name or a glob"},
		{"a namespace is rejected", with(validBGPFilter(), func(f *BGPFilter) { f.Namespace = "ns" }), "metadata.namespace", "should not be specified"},
	})
}
