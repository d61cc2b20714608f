package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestIPPoolDefaults(t *testing.T) {
	defaultUses := []string{IPPoolAllowedUseWorkload, IPPoolAllowedUseTunnel}
	cases := []struct {
		name string
		in   IPPoolSpec
		want IPPoolSpec
	}{
		{"an IPv4 pool gets /26 blocks, no encapsulation and every node",
			IPPoolSpec{CIDR: "10.0.0.0/16"},
			IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 26, IPIPMode: EncapNever, VXLANMode: EncapNever, NodeSelector: "all()",
				AllowedUses: defaultUses, AssignmentMode: AssignmentModeAutomatic}},
		{"an IPv6 pool gets /122 blocks",
			IPPoolSpec{CIDR: "fd00::/48"},
			IPPoolSpec{CIDR: "fd00::/48", BlockSize: 122, IPIPMode: EncapNever, VXLANMode: EncapNever, NodeSelector: "all()",
				AllowedUses: defaultUses, AssignmentMode: AssignmentModeAutomatic}},
		{"fields already set are kept",
			IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 24, IPIPMode: EncapAlways, VXLANMode: EncapCrossSubnet, NodeSelector: "rack == 'a'", NATOutgoing: true,
				AllowedUses: []string{IPPoolAllowedUseTunnel}, AssignmentMode: AssignmentModeManual},
			IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 24, IPIPMode: EncapAlways, VXLANMode: EncapCrossSubnet, NodeSelector: "rack == 'a'", NATOutgoing: true,
				AllowedUses: []string{IPPoolAllowedUseTunnel}, AssignmentMode: AssignmentModeManual}},
		{"an empty allowedUses list gets Calico's default uses",
			IPPoolSpec{CIDR: "10.0.0.0/16", AllowedUses: []string{}},
			IPPoolSpec{CIDR: "10.0.0.0/16", BlockSize: 26, IPIPMode: EncapNever, VXLANMode: EncapNever, NodeSelector: "all()",
				AllowedUses: defaultUses, AssignmentMode: AssignmentModeAutomatic}},
		{"an unparsable CIDR gets the IPv4 block size and fails validation later",
			IPPoolSpec{CIDR: "bogus"},
			IPPoolSpec{CIDR: "bogus", BlockSize: 26, IPIPMode: EncapNever, VXLANMode: EncapNever, NodeSelector: "all()",
				AllowedUses: defaultUses, AssignmentMode: AssignmentModeAutomatic}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &IPPool{ObjectMeta: ObjectMeta{Name: "p"}, Spec: c.in}
			p.Default()
			if !reflect.DeepEqual(p.Spec, c.want) {
				t.Fatalf("expected %+v, got %+v", c.want, p.Spec)
			}
			p.Default()
			if !reflect.DeepEqual(p.Spec, c.want) {
				t.Fatalf("defaulting twice changed the pool: expected %+v, got %+v", c.want, p.Spec)
			}
		})
	}
}

func TestIPPoolIsIPv6(t *testing.T) {
	for cidr, want := range map[string]bool{"10.0.0.0/16": false, "fd00::/48": true, "bogus": false} {
		p := &IPPool{Spec: IPPoolSpec{CIDR: cidr}}
		if got := p.IsIPv6(); got != want {
			t.Errorf("IsIPv6 of %s: expected %v, got %v", cidr, want, got)
		}
	}
}

func TestBGPConfigurationEffectiveValues(t *testing.T) {
	cases := []struct {
		name     string
		spec     BGPConfigurationSpec
		wantAS   ASNumber
		wantMesh bool
	}{
		{"an empty configuration means AS 64512 and the full mesh", BGPConfigurationSpec{}, 64512, true},
		{"a configured AS number is used", BGPConfigurationSpec{ASNumber: ptr(ASNumber(65001))}, 65001, true},
		{"the mesh can be turned off", BGPConfigurationSpec{NodeToNodeMeshEnabled: ptr(false)}, 64512, false},
		{"the mesh can be turned on explicitly", BGPConfigurationSpec{NodeToNodeMeshEnabled: ptr(true)}, 64512, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.spec.EffectiveASNumber(); got != c.wantAS {
				t.Errorf("expected AS %d, got %d", c.wantAS, got)
			}
			if got := c.spec.MeshEnabled(); got != c.wantMesh {
				t.Errorf("expected mesh enabled %v, got %v", c.wantMesh, got)
			}
		})
	}
}

func TestPolicyTypesDefaults(t *testing.T) {
	allow := []Rule{{Action: ActionAllow}}
	in, out := PolicyTypeIngress, PolicyTypeEgress
	cases := []struct {
		name    string
		types   []PolicyType
		ingress []Rule
		egress  []Rule
		want    []PolicyType
	}{
		{"a policy without rules applies to ingress", nil, nil, nil, []PolicyType{in}},
		{"a policy with only ingress rules applies to ingress", nil, allow, nil, []PolicyType{in}},
		{"a policy with only egress rules applies to egress", nil, nil, allow, []PolicyType{out}},
		{"a policy with both applies to both", nil, allow, allow, []PolicyType{in, out}},
		{"types given are kept", []PolicyType{out}, nil, nil, []PolicyType{out}},
		{"types given are kept even if rules disagree, for Validate to report", []PolicyType{in}, nil, allow, []PolicyType{in}},
	}
	for _, c := range cases {
		t.Run("NetworkPolicy/"+c.name, func(t *testing.T) {
			p := &NetworkPolicy{Spec: NetworkPolicySpec{Types: c.types, Ingress: c.ingress, Egress: c.egress}}
			p.Default()
			if !reflect.DeepEqual(p.Spec.Types, c.want) {
				t.Fatalf("expected types %v, got %v", c.want, p.Spec.Types)
			}
		})
		t.Run("GlobalNetworkPolicy/"+c.name, func(t *testing.T) {
			p := &GlobalNetworkPolicy{Spec: GlobalNetworkPolicySpec{Types: c.types, Ingress: c.ingress, Egress: c.egress}}
			p.Default()
			if !reflect.DeepEqual(p.Spec.Types, c.want) {
				t.Fatalf("expected types %v, got %v", c.want, p.Spec.Types)
			}
		})
	}
}

func TestNamespacedDefaults(t *testing.T) {
	t.Run("a NetworkPolicy without a namespace lands in default", func(t *testing.T) {
		p := &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "np"}}
		p.Default()
		if p.Namespace != "default" {
			t.Fatalf("expected namespace default, got %q", p.Namespace)
		}
	})
	t.Run("a NetworkPolicy keeps its namespace", func(t *testing.T) {
		p := &NetworkPolicy{ObjectMeta: ObjectMeta{Name: "np", Namespace: "team-a"}}
		p.Default()
		if p.Namespace != "team-a" {
			t.Fatalf("expected namespace team-a, got %q", p.Namespace)
		}
	})
	t.Run("a WorkloadEndpoint gets its namespace and orchestrator as labels", func(t *testing.T) {
		w := &WorkloadEndpoint{ObjectMeta: ObjectMeta{Name: "w", Labels: map[string]string{"app": "web"}}, Spec: WorkloadEndpointSpec{Orchestrator: "cni"}}
		w.Default()
		want := map[string]string{"app": "web", LabelNamespace: "default", LabelOrchestrator: "cni"}
		if w.Namespace != "default" || !reflect.DeepEqual(w.Labels, want) {
			t.Fatalf("expected namespace default and labels %v, got %q and %v", want, w.Namespace, w.Labels)
		}
	})
	t.Run("a WorkloadEndpoint without labels or orchestrator gets only the namespace label", func(t *testing.T) {
		w := &WorkloadEndpoint{ObjectMeta: ObjectMeta{Name: "w", Namespace: "team-a"}}
		w.Default()
		want := map[string]string{LabelNamespace: "team-a"}
		if !reflect.DeepEqual(w.Labels, want) {
			t.Fatalf("expected labels %v, got %v", want, w.Labels)
		}
	})
}

func TestKindsWithoutWriteTimeDefaultsAreUnchanged(t *testing.T) {
	for _, name := range []string{"Node", "BGPPeer", "BGPConfiguration", "Profile", "GlobalNetworkSet", "HostEndpoint", "ClusterInformation", "FelixConfiguration"} {
		t.Run(name, func(t *testing.T) {
			r := fullSamples[name]()
			before := fullSamples[name]()
			r.Default()
			if !reflect.DeepEqual(r, before) {
				t.Fatalf("expected Default to leave %s unchanged, got %+v", name, r)
			}
		})
	}
}

func TestIPPoolAllowsAndIsManual(t *testing.T) {
	cases := []struct {
		name                           string
		spec                           IPPoolSpec
		workload, tunnel, loadBalancer bool
		manual                         bool
	}{
		{"a pool stored without allowedUses allows workloads and tunnels", IPPoolSpec{}, true, true, false, false},
		{"a Tunnel-only pool allows only tunnels", IPPoolSpec{AllowedUses: []string{IPPoolAllowedUseTunnel}}, false, true, false, false},
		{"a LoadBalancer pool allows neither workloads nor tunnels", IPPoolSpec{AllowedUses: []string{IPPoolAllowedUseLoadBalancer}}, false, false, true, false},
		{"a Manual pool says so", IPPoolSpec{AssignmentMode: AssignmentModeManual}, true, true, false, true},
		{"an Automatic pool is not manual", IPPoolSpec{AssignmentMode: AssignmentModeAutomatic}, true, true, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &IPPool{Spec: c.spec}
			got := []bool{p.Allows(IPPoolAllowedUseWorkload), p.Allows(IPPoolAllowedUseTunnel), p.Allows(IPPoolAllowedUseLoadBalancer), p.IsManual()}
			want := []bool{c.workload, c.tunnel, c.loadBalancer, c.manual}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("workload, tunnel, loadBalancer, manual: got %v, want %v", got, want)
			}
		})
	}
}

func TestIPPoolUsesAndModeAreWrittenAsCalicoWritesThem(t *testing.T) {
	p := &IPPool{TypeMeta: TypeMeta{Kind: "IPPool", APIVersion: Group}, ObjectMeta: ObjectMeta{Name: "p"}, Spec: IPPoolSpec{CIDR: "10.0.0.0/16"}}
	p.Default()
	b, err := json.Marshal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cidr":"10.0.0.0/16","blockSize":26,"ipipMode":"Never","vxlanMode":"Never","nodeSelector":"all()",` +
		`"allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}`
	if string(b) != want {
		t.Errorf("defaulted spec:\n got %s\nwant %s", b, want)
	}
}
