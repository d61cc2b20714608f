package conversion

import (
	"net"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
)

func TestEndpointNamesDoubleDashesInsideEachPart(t *testing.T) {
	for _, tc := range []struct{ node, pod, iface, want string }{
		{"host1", "net-test", "eth0", "host1-k8s-net--test-eth0"},
		{"host-1", "web", "eth0", "host--1-k8s-web-eth0"},
		{"host1", "a--b", "net-1", "host1-k8s-a----b-net--1"},
	} {
		if got := EndpointName(tc.node, tc.pod, tc.iface); got != tc.want {
			t.Errorf("EndpointName(%q, %q, %q) = %q, want %q", tc.node, tc.pod, tc.iface, got, tc.want)
		}
	}
}

func TestHostVethNameIsCaliAndElevenHexOfSha1OfNamespaceDotPod(t *testing.T) {
	// `echo -n default.net-test | sha1sum` prints 8e807cde39b4700f…
	if got, want := HostVethName("default", "net-test"), "cali8e807cde39b"; got != want {
		t.Errorf("HostVethName = %q, want %q", got, want)
	}
	if HostVethName("default", "net-test") == HostVethName("kube-system", "net-test") {
		t.Error("pods of the same name in two namespaces share a host veth name")
	}
}

func pod(ns, name, sa string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: sa, NodeName: "host1"},
	}
}

func TestPodEndpointCarriesCalicosLabelsProfilesAndNames(t *testing.T) {
	p := pod("prod", "web-1", "web", map[string]string{"app": "web"})
	p.Spec.Containers = []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 80},
		{ContainerPort: 8080}, // unnamed: not a named port
		{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
	}}}
	wep := PodEndpoint(p, "host1", "eth0", "abc123")
	if wep.Name != "host1-k8s-web--1-eth0" || wep.Namespace != "prod" {
		t.Errorf("endpoint %s/%s, want prod/host1-k8s-web--1-eth0", wep.Namespace, wep.Name)
	}
	wantLabels := map[string]string{"app": "web", LabelNamespace: "prod", LabelOrchestrator: "k8s", LabelServiceAccount: "web"}
	if !reflect.DeepEqual(wep.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", wep.Labels, wantLabels)
	}
	if want := []string{"kns.prod", "ksa.prod.web"}; !reflect.DeepEqual(wep.Spec.Profiles, want) {
		t.Errorf("profiles %v, want %v", wep.Spec.Profiles, want)
	}
	wantPorts := []api.EndpointPort{{Name: "http", Protocol: api.ProtocolFromString("TCP"), Port: 80},
		{Name: "dns", Protocol: api.ProtocolFromString("UDP"), Port: 53}}
	if !reflect.DeepEqual(wep.Spec.Ports, wantPorts) {
		t.Errorf("ports %+v, want %+v", wep.Spec.Ports, wantPorts)
	}
	s := wep.Spec
	if s.Orchestrator != "k8s" || s.Pod != "web-1" || s.Node != "host1" || s.ContainerID != "abc123" || s.Endpoint != "eth0" ||
		s.InterfaceName != HostVethName("prod", "web-1") {
		t.Errorf("spec %+v", s)
	}
	wep.Spec.IPNetworks = []string{"10.0.0.1/32"}
	if err := wep.Validate(); err != nil {
		t.Errorf("the endpoint does not validate: %v", err)
	}
	if p.Labels[LabelNamespace] != "" {
		t.Error("PodEndpoint changed the pod's own labels")
	}
}

func TestAPodWithoutServiceAccountHasOnlyItsNamespaceProfile(t *testing.T) {
	wep := PodEndpoint(pod("default", "p", "", nil), "n", "eth0", "c")
	if want := []string{"kns.default"}; !reflect.DeepEqual(wep.Spec.Profiles, want) {
		t.Errorf("profiles %v, want %v", wep.Spec.Profiles, want)
	}
	if _, ok := wep.Labels[LabelServiceAccount]; ok {
		t.Errorf("labels %v carry a service account", wep.Labels)
	}
}

func TestNamespaceAndServiceAccountProfiles(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"team": "db"}}}
	prof := NamespaceProfile(ns)
	if prof.Name != "kns.prod" {
		t.Errorf("name %q", prof.Name)
	}
	wantLabels := map[string]string{"pcns.projectcalico.org/name": "prod", "pcns.team": "db"}
	if !reflect.DeepEqual(prof.Spec.LabelsToApply, wantLabels) {
		t.Errorf("labelsToApply %v, want %v", prof.Spec.LabelsToApply, wantLabels)
	}
	allowAll := []api.Rule{{Action: api.ActionAllow}}
	if !reflect.DeepEqual(prof.Spec.Ingress, allowAll) || !reflect.DeepEqual(prof.Spec.Egress, allowAll) {
		t.Errorf("rules %+v / %+v, want allow all both ways", prof.Spec.Ingress, prof.Spec.Egress)
	}
	if err := prof.Validate(); err != nil {
		t.Error(err)
	}

	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web", Labels: map[string]string{"tier": "fe"}}}
	sp := ServiceAccountProfile(sa)
	if sp.Name != "ksa.prod.web" || len(sp.Spec.Ingress)+len(sp.Spec.Egress) != 0 {
		t.Errorf("service account profile %+v", sp)
	}
	if want := map[string]string{"pcsa.projectcalico.org/name": "web", "pcsa.tier": "fe"}; !reflect.DeepEqual(sp.Spec.LabelsToApply, want) {
		t.Errorf("labelsToApply %v, want %v", sp.Spec.LabelsToApply, want)
	}
	if err := sp.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseIPAMAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        IPAMRequest
		wantErr     string
	}{
		{"no annotations ask for nothing", nil, IPAMRequest{}, ""},
		{"ipv4pools takes names and CIDRs", map[string]string{AnnotationIPv4Pools: `["pool-a","10.1.0.0/16"]`},
			IPAMRequest{IPv4Pools: []string{"pool-a", "10.1.0.0/16"}}, ""},
		{"ipv6pools takes IPv6 CIDRs", map[string]string{AnnotationIPv6Pools: `["fd00::/64"]`},
			IPAMRequest{IPv6Pools: []string{"fd00::/64"}}, ""},
		{"ipAddrs takes one of each family", map[string]string{AnnotationIPAddrs: `["10.1.2.3","fd00::5"]`},
			IPAMRequest{IPs: []net.IP{net.ParseIP("10.1.2.3").To4(), net.ParseIP("fd00::5")}}, ""},
		{"ipv4pools that is not JSON is refused by name", map[string]string{AnnotationIPv4Pools: `pool-a`},
			IPAMRequest{}, "annotation cni.projectcalico.org/ipv4pools: \"pool-a\" is not a JSON list"},
		{"an IPv6 CIDR in ipv4pools is refused", map[string]string{AnnotationIPv4Pools: `["fd00::/64"]`},
			IPAMRequest{}, "wrong IP version"},
		{"a bad CIDR is refused", map[string]string{AnnotationIPv4Pools: `["10.1.0.0/99"]`}, IPAMRequest{}, "neither a pool name nor a CIDR"},
		{"an empty pool name is refused", map[string]string{AnnotationIPv4Pools: `[""]`}, IPAMRequest{}, "empty pool name"},
		{"ipAddrs with a non-address is refused", map[string]string{AnnotationIPAddrs: `["10.1.2.300"]`}, IPAMRequest{}, "not an IP address"},
		{"ipAddrs with two IPv4 addresses is refused", map[string]string{AnnotationIPAddrs: `["10.1.2.3","10.1.2.4"]`}, IPAMRequest{}, "got 2 and 0"},
		{"ipAddrs with pools is refused", map[string]string{AnnotationIPAddrs: `["10.1.2.3"]`, AnnotationIPv4Pools: `["a"]`}, IPAMRequest{}, "cannot be combined"},
		{"ipAddrsNoIpam is refused", map[string]string{AnnotationIPAddrsNoIPAM: `["10.1.2.3"]`}, IPAMRequest{}, "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIPAMAnnotations(tc.annotations)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
