package policy

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calico-l3/calico/api"
)

const orch = "projectcalico.org/orchestrator == 'k8s'"

func knp(spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: spec}
}

func calico(sel string, types []api.PolicyType, ingress, egress []api.Rule) *api.NetworkPolicy {
	order := 1000.0
	return &api.NetworkPolicy{
		TypeMeta:   api.TypeMeta{Kind: "NetworkPolicy", APIVersion: "projectcalico.org/v3"},
		ObjectMeta: api.ObjectMeta{Name: "knp.default.web", Namespace: "shop"},
		Spec:       api.NetworkPolicySpec{Order: &order, Selector: sel, Types: types, Ingress: ingress, Egress: egress},
	}
}

func labels(kv ...string) *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := 0; i < len(kv); i += 2 {
		s.MatchLabels[kv[i]] = kv[i+1]
	}
	return s
}

func proto(s string) *api.Protocol                { p := api.ProtocolFromString(s); return &p }
func k8sProto(p corev1.Protocol) *corev1.Protocol { return &p }
func intPort(p int) *intstr.IntOrString           { v := intstr.FromInt32(int32(p)); return &v }
func namedPort(n string) *intstr.IntOrString      { v := intstr.FromString(n); return &v }
func int32p(v int32) *int32                       { return &v }

var (
	ingressOnly = []api.PolicyType{api.PolicyTypeIngress}
	egressOnly  = []api.PolicyType{api.PolicyTypeEgress}
	both        = []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress}
	webPods     = metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	webSel      = orch + " && app == 'web'"
)

func TestTranslate(t *testing.T) {
	cases := []struct {
		name string
		in   *networkingv1.NetworkPolicy
		want *api.NetworkPolicy
	}{
		{
			"an empty podSelector with only Ingress and no rules denies all ingress to every pod of the namespace",
			knp(networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}),
			calico(orch, ingressOnly, nil, nil),
		},
		{
			"a rule from pods with a label allows those pods, leaving felix to scope them to the policy's namespace",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: labels("role", "frontend")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Selector: orch + " && role == 'frontend'"}},
			}, nil),
		},
		{
			"a rule from namespaces with a label allows every pod of those namespaces",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: labels("team", "db")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Selector: orch, NamespaceSelector: "team == 'db'"}},
			}, nil),
		},
		{
			"an empty namespaceSelector allows pods of all namespaces",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}, PodSelector: labels("app", "mon")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Selector: orch + " && app == 'mon'", NamespaceSelector: "all()"}},
			}, nil),
		},
		{
			"a podSelector and namespaceSelector in one peer both have to match",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: labels("role", "client"), NamespaceSelector: labels("team", "db")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Selector: orch + " && role == 'client'", NamespaceSelector: "team == 'db'"}},
			}, nil),
		},
		{
			"a podSelector and namespaceSelector as two peers are two rules, either of which allows",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{PodSelector: labels("role", "client")}, {NamespaceSelector: labels("team", "db")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Selector: orch + " && role == 'client'"}},
				{Action: "Allow", Source: api.EntityRule{Selector: orch, NamespaceSelector: "team == 'db'"}},
			}, nil),
		},
		{
			"a named port becomes a TCP rule to that port name",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{Ports: []networkingv1.NetworkPolicyPort{{Port: namedPort("http")}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Protocol: proto("TCP"), Destination: api.EntityRule{Ports: []api.Port{{PortName: "http"}}}},
			}, nil),
		},
		{
			"a numeric port with endPort becomes a port range, and each port × peer is its own rule",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					From: []networkingv1.NetworkPolicyPeer{{PodSelector: labels("role", "a")}, {PodSelector: labels("role", "b")}},
					Ports: []networkingv1.NetworkPolicyPort{
						{Protocol: k8sProto(corev1.ProtocolSCTP), Port: intPort(8000), EndPort: int32p(8080)},
						{Protocol: k8sProto(corev1.ProtocolUDP)},
					},
				},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Protocol: proto("SCTP"), Source: api.EntityRule{Selector: orch + " && role == 'a'"},
					Destination: api.EntityRule{Ports: []api.Port{{MinPort: 8000, MaxPort: 8080}}}},
				{Action: "Allow", Protocol: proto("UDP"), Source: api.EntityRule{Selector: orch + " && role == 'a'"}},
				{Action: "Allow", Protocol: proto("SCTP"), Source: api.EntityRule{Selector: orch + " && role == 'b'"},
					Destination: api.EntityRule{Ports: []api.Port{{MinPort: 8000, MaxPort: 8080}}}},
				{Action: "Allow", Protocol: proto("UDP"), Source: api.EntityRule{Selector: orch + " && role == 'b'"}},
			}, nil),
		},
		{
			"an ipBlock with except becomes nets and notNets, as network addresses",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{
				{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.1.2.3/16", Except: []string{"10.1.5.0/24", "10.1.9.9/32"}}}}},
			}}),
			calico(webSel, ingressOnly, []api.Rule{
				{Action: "Allow", Source: api.EntityRule{Nets: []string{"10.1.0.0/16"}, NotNets: []string{"10.1.5.0/24", "10.1.9.9/32"}}},
			}, nil),
		},
		{
			"egress is denied except UDP 53 to one CIDR",
			knp(networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.96.0.10/32"}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: k8sProto(corev1.ProtocolUDP), Port: intPort(53)}},
				}},
			}),
			calico(orch, egressOnly, nil, []api.Rule{
				{Action: "Allow", Protocol: proto("UDP"),
					Destination: api.EntityRule{Nets: []string{"10.96.0.10/32"}, Ports: []api.Port{{MinPort: 53, MaxPort: 53}}}},
			}),
		},
		{
			"without policyTypes and without egress rules the policy covers ingress only",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Ingress: []networkingv1.NetworkPolicyIngressRule{{}}}),
			calico(webSel, ingressOnly, []api.Rule{{Action: "Allow"}}, nil),
		},
		{
			"without policyTypes but with egress rules the policy covers ingress and egress, denying ingress",
			knp(networkingv1.NetworkPolicySpec{PodSelector: webPods, Egress: []networkingv1.NetworkPolicyEgressRule{
				{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}},
			}}),
			calico(webSel, both, nil, []api.Rule{{Action: "Allow", Destination: api.EntityRule{Selector: orch}}}),
		},
		{
			"policyTypes Ingress alone drops egress rules, as Kubernetes ignores them",
			knp(networkingv1.NetworkPolicySpec{
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
			}),
			calico(orch, ingressOnly, nil, nil),
		},
		{
			"matchLabels sorted by key come before matchExpressions of all four operators in order",
			knp(networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{
				MatchLabels: map[string]string{"tier": "web", "app": "shop"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "staging"}},
					{Key: "example.com/zone", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}},
					{Key: "canary", Operator: metav1.LabelSelectorOpExists},
					{Key: "legacy", Operator: metav1.LabelSelectorOpDoesNotExist},
				},
			}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}),
			calico(orch+" && app == 'shop' && tier == 'web' && env in { 'prod', 'staging' } && "+
				"example.com/zone not in { 'a' } && has(canary) && ! has(legacy)", ingressOnly, nil, nil),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Translate(c.in)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			wantJSON, _ := json.MarshalIndent(c.want, "", "  ")
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("got\n%s\nwant\n%s", gotJSON, wantJSON)
			}
		})
	}
}

func TestTranslateErrors(t *testing.T) {
	ingressFrom := func(peers ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		return knp(networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peers}}})
	}
	cases := []struct {
		name string
		in   *networkingv1.NetworkPolicy
		want string
	}{
		{"a bad CIDR names its field", ingressFrom(networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{}},
			networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "x"}}),
			`spec.ingress[0].from[1].ipBlock.cidr: "x" is not a CIDR`},
		{"an except outside the cidr is refused", ingressFrom(networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}}}),
			`spec.ingress[0].from[0].ipBlock.except[0]: "192.168.0.0/16" is not within cidr "10.0.0.0/8"`},
		{"a peer with nothing in it is refused", ingressFrom(networkingv1.NetworkPolicyPeer{}),
			"spec.ingress[0].from[0]: must have a podSelector, a namespaceSelector or an ipBlock"},
		{"an unknown operator is refused", ingressFrom(networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Like"}}}}),
			`spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: "Like" is not`},
		{"a label value with a quote is refused", ingressFrom(networkingv1.NetworkPolicyPeer{PodSelector: labels("a", "b'c")}),
			`spec.ingress[0].from[0].podSelector.matchLabels["a"]: "b'c" is not a label value`},
		{"ICMP is not a NetworkPolicy protocol", knp(networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: k8sProto("ICMP")}}}}}),
			`spec.egress[0].ports[0].protocol: "ICMP" is not TCP, UDP or SCTP`},
		{"an endPort below the port is refused", knp(networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: intPort(90), EndPort: int32p(80)}}}}}),
			"spec.ingress[0].ports[0].endPort: 80 is not between port 90 and 65535"},
		{"an endPort with a named port is refused", knp(networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: namedPort("http"), EndPort: int32p(80)}}}}}),
			`spec.ingress[0].ports[0].endPort: cannot be used with the named port "http"`},
		{"port 0 is refused", knp(networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			Ports: []networkingv1.NetworkPolicyPort{{Port: intPort(0)}}}}}),
			"spec.ingress[0].ports[0].port: 0 is not between 1 and 65535"},
		{"a rule mixing IPv4 and IPv6 fails Calico validation", knp(networkingv1.NetworkPolicySpec{Ingress: []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"fd00::/64"}}}}}}}),
			`except[0]: "fd00::/64" is not within cidr`},
		{"a namespace Calico cannot hold fails Calico validation", &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "Bad_NS"}},
			"translating NetworkPolicy Bad_NS/web: "},
		{"a nil policy is an error, not a panic", nil, "policy is nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Translate(c.in)
			if err == nil {
				t.Fatalf("Translate = %+v, want an error containing %q", got, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}
