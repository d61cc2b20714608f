package kdd

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/coreclient"
)

func asn(n api.ASNumber) *api.ASNumber { return &n }

func kubeNode(name string, annotations map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:              name,
		ResourceVersion:   "42",
		UID:               types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))),
		Labels:            map[string]string{"kubernetes.io/hostname": name},
		Annotations:       annotations,
	}}
}

func TestNodeFromKubeReadsCalicoAnnotations(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        *api.NodeBGPSpec
		wantVXLAN   [2]string // spec.ipv4VXLANTunnelAddr and spec.vxlanTunnelMACAddr
	}{
		{"a node without Calico annotations has no BGP spec", map[string]string{"other": "x"}, nil, [2]string{}},
		{"empty annotations count as absent", map[string]string{nodeAnnotationIPv4Address: "", nodeAnnotationIPv4VXLANTunnelAddr: " "},
			nil, [2]string{}},
		{"every BGP annotation fills its field", map[string]string{
			nodeAnnotationIPv4Address:        "172.18.0.11/24",
			nodeAnnotationIPv6Address:        "fd00::11/64",
			nodeAnnotationASNumber:           "64513",
			nodeAnnotationIPv4IPIPTunnelAddr: "10.65.1.0",
			nodeAnnotationRRClusterID:        "244.0.0.1",
		}, &api.NodeBGPSpec{ASNumber: asn(64513), IPv4Address: "172.18.0.11/24", IPv6Address: "fd00::11/64",
			IPv4IPIPTunnelAddr: "10.65.1.0", RouteReflectorClusterID: "244.0.0.1"}, [2]string{}},
		{"the VXLAN annotations fill the spec's VXLAN fields, not spec.bgp", map[string]string{
			nodeAnnotationIPv4VXLANTunnelAddr: "10.66.1.0",
			nodeAnnotationVXLANTunnelMACAddr:  "66:a3:1b:0c:5e:01",
		}, nil, [2]string{"10.66.1.0", "66:a3:1b:0c:5e:01"}},
		{"IPIP and VXLAN tunnel addresses side by side", map[string]string{
			nodeAnnotationIPv4Address:         "172.18.0.11/24",
			nodeAnnotationIPv4IPIPTunnelAddr:  "10.65.1.0",
			nodeAnnotationIPv4VXLANTunnelAddr: "10.66.1.0",
			nodeAnnotationVXLANTunnelMACAddr:  "66:a3:1b:0c:5e:01",
		}, &api.NodeBGPSpec{IPv4Address: "172.18.0.11/24", IPv4IPIPTunnelAddr: "10.65.1.0"}, [2]string{"10.66.1.0", "66:a3:1b:0c:5e:01"}},
		{"a dotted AS number is read", map[string]string{nodeAnnotationASNumber: "1.10"},
			&api.NodeBGPSpec{ASNumber: asn(1<<16 | 10)}, [2]string{}},
		{"a bad AS number is skipped and the rest kept", map[string]string{
			nodeAnnotationIPv4Address: "172.18.0.11/24", nodeAnnotationASNumber: "sixty-four"},
			&api.NodeBGPSpec{IPv4Address: "172.18.0.11/24"}, [2]string{}},
		{"a bad AS number alone leaves no BGP spec", map[string]string{nodeAnnotationASNumber: "99999999999"}, nil, [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nodeFromKube(kubeNode("host-1", tc.annotations))
			if !reflect.DeepEqual(n.Spec.BGP, tc.want) {
				t.Errorf("spec.bgp = %+v, want %+v", n.Spec.BGP, tc.want)
			}
			if got := [2]string{n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr}; got != tc.wantVXLAN {
				t.Errorf("spec.ipv4VXLANTunnelAddr, spec.vxlanTunnelMACAddr = %q, want %q", got, tc.wantVXLAN)
			}
			if n.Kind != "Node" || n.APIVersion != api.Group || n.Name != "host-1" {
				t.Errorf("type or name: %+v %q", n.TypeMeta, n.Name)
			}
			if want := []api.OrchRef{{NodeName: "host-1", Orchestrator: "k8s"}}; !reflect.DeepEqual(n.Spec.OrchRefs, want) {
				t.Errorf("orchRefs = %+v, want %+v", n.Spec.OrchRefs, want)
			}
			if n.ResourceVersion != "42" || n.UID != "uid-host-1" || n.CreationTimestamp != "2026-01-02T02:04:05Z" {
				t.Errorf("metadata = %+v", n.ObjectMeta)
			}
			if !reflect.DeepEqual(n.Labels, map[string]string{"kubernetes.io/hostname": "host-1"}) || n.Annotations != nil {
				t.Errorf("labels %v, annotations %v", n.Labels, n.Annotations)
			}
			if err := n.Validate(); err != nil {
				t.Errorf("derived node does not validate: %v", err)
			}
		})
	}
}

func TestNodeRoundTripsThroughItsKubernetesNode(t *testing.T) {
	full := &api.NodeBGPSpec{ASNumber: asn(64513), IPv4Address: "172.18.0.11/24", IPv6Address: "fd00::11/64",
		IPv4IPIPTunnelAddr: "10.65.1.0", RouteReflectorClusterID: "244.0.0.1"}
	for _, tc := range []struct {
		name       string
		bgp        *api.NodeBGPSpec
		vxlan, mac string
	}{
		{"all BGP fields are kept", full, "", ""},
		{"all BGP fields and the VXLAN address and MAC are kept", full, "10.66.1.0", "66:a3:1b:0c:5e:01"},
		{"only an IPv4 address is kept", &api.NodeBGPSpec{IPv4Address: "172.18.0.11/24"}, "", ""},
		{"no BGP stays no BGP", nil, "", ""},
		{"a VXLAN address and MAC without BGP are kept", nil, "10.66.1.0", "66:a3:1b:0c:5e:01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := api.SetTypeMeta(&api.Node{ObjectMeta: api.ObjectMeta{Name: "host-1", Labels: map[string]string{"rack": "a"}},
				Spec: api.NodeSpec{BGP: tc.bgp, IPv4VXLANTunnelAddr: tc.vxlan, VXLANTunnelMACAddr: tc.mac,
					OrchRefs: []api.OrchRef{{NodeName: "host-1", Orchestrator: "k8s"}}}})
			k := kubeNode("host-1", map[string]string{"kubeadm.alpha.kubernetes.io/cri-socket": "x"})
			if err := applyNodeToKube(n, k); err != nil {
				t.Fatal(err)
			}
			if k.Annotations["kubeadm.alpha.kubernetes.io/cri-socket"] != "x" {
				t.Errorf("other annotations lost: %v", k.Annotations)
			}
			back := nodeFromKube(k)
			wantLabels := map[string]string{"rack": "a", "kubernetes.io/hostname": "host-1"}
			if !reflect.DeepEqual(back.Spec, n.Spec) || !reflect.DeepEqual(back.Labels, wantLabels) {
				t.Errorf("round trip: got %+v labels %v, want %+v labels %v (the Calico Node's added to the Node's own)",
					back.Spec, back.Labels, n.Spec, wantLabels)
			}
		})
	}
}

func TestEmptiedNodeFieldsRemoveTheirAnnotations(t *testing.T) {
	all := map[string]string{
		nodeAnnotationIPv4Address: "172.18.0.11/24", nodeAnnotationIPv6Address: "fd00::11/64",
		nodeAnnotationASNumber: "64513", nodeAnnotationIPv4IPIPTunnelAddr: "10.65.1.0",
		nodeAnnotationRRClusterID: "244.0.0.1", nodeAnnotationIPv4VXLANTunnelAddr: "10.66.1.0",
		nodeAnnotationVXLANTunnelMACAddr: "66:a3:1b:0c:5e:01", "keep": "me",
	}
	for _, tc := range []struct {
		name  string
		bgp   *api.NodeBGPSpec
		vxlan [2]string // spec.ipv4VXLANTunnelAddr and spec.vxlanTunnelMACAddr
		want  map[string]string
	}{
		{"nil bgp and no VXLAN fields remove every Calico annotation", nil, [2]string{}, map[string]string{"keep": "me"}},
		{"an emptied field removes only its annotation",
			&api.NodeBGPSpec{ASNumber: asn(64513), IPv4Address: "172.18.0.11/24"}, [2]string{"10.66.1.0", "66:a3:1b:0c:5e:01"},
			map[string]string{nodeAnnotationIPv4Address: "172.18.0.11/24", nodeAnnotationASNumber: "64513",
				nodeAnnotationIPv4VXLANTunnelAddr: "10.66.1.0", nodeAnnotationVXLANTunnelMACAddr: "66:a3:1b:0c:5e:01", "keep": "me"}},
		{"emptied VXLAN fields remove their annotations and leave spec.bgp's",
			&api.NodeBGPSpec{IPv4Address: "172.18.0.11/24", IPv6Address: "fd00::11/64", ASNumber: asn(64513),
				IPv4IPIPTunnelAddr: "10.65.1.0", RouteReflectorClusterID: "244.0.0.1"}, [2]string{},
			map[string]string{nodeAnnotationIPv4Address: "172.18.0.11/24", nodeAnnotationIPv6Address: "fd00::11/64",
				nodeAnnotationASNumber: "64513", nodeAnnotationIPv4IPIPTunnelAddr: "10.65.1.0",
				nodeAnnotationRRClusterID: "244.0.0.1", "keep": "me"}},
		{"a changed field rewrites its annotation",
			&api.NodeBGPSpec{IPv4Address: "172.18.0.12/24", IPv6Address: "fd00::11/64", ASNumber: asn(65000),
				IPv4IPIPTunnelAddr: "10.65.1.0", RouteReflectorClusterID: "244.0.0.1"}, [2]string{"10.66.2.0", "66:a3:1b:0c:5e:02"},
			map[string]string{nodeAnnotationIPv4Address: "172.18.0.12/24", nodeAnnotationIPv6Address: "fd00::11/64",
				nodeAnnotationASNumber: "65000", nodeAnnotationIPv4IPIPTunnelAddr: "10.65.1.0",
				nodeAnnotationRRClusterID: "244.0.0.1", nodeAnnotationIPv4VXLANTunnelAddr: "10.66.2.0",
				nodeAnnotationVXLANTunnelMACAddr: "66:a3:1b:0c:5e:02", "keep": "me"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kubeNode("host-1", copyMap(all))
			n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "host-1"},
				Spec: api.NodeSpec{BGP: tc.bgp, IPv4VXLANTunnelAddr: tc.vxlan[0], VXLANTunnelMACAddr: tc.vxlan[1]}}
			if err := applyNodeToKube(n, k); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(k.Annotations, tc.want) {
				t.Errorf("annotations = %v, want %v", k.Annotations, tc.want)
			}
			if want := map[string]string{"kubernetes.io/hostname": "host-1"}; !reflect.DeepEqual(k.Labels, want) {
				t.Errorf("labels = %v, want the Node's own %v kept: a Calico Node without labels removes none", k.Labels, want)
			}
		})
	}
}

func copyMap(m map[string]string) map[string]string {
	c := map[string]string{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func TestNodeFieldsAKubernetesNodeCannotHoldAreRefusedByName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		node  api.Node
		field string
	}{
		{"an orchRef to another node", api.Node{ObjectMeta: api.ObjectMeta{Name: "host-1"},
			Spec: api.NodeSpec{OrchRefs: []api.OrchRef{{NodeName: "host-2", Orchestrator: "k8s"}}}}, "spec.orchRefs[0]"},
		{"an orchRef to another orchestrator", api.Node{ObjectMeta: api.ObjectMeta{Name: "host-1"},
			Spec: api.NodeSpec{OrchRefs: []api.OrchRef{{NodeName: "host-1", Orchestrator: "k8s"}, {Orchestrator: "openstack"}}}},
			"spec.orchRefs[1]"},
		{"annotations", api.Node{ObjectMeta: api.ObjectMeta{Name: "host-1", Annotations: map[string]string{"a": "b"}}},
			"metadata.annotations"},
		{"another name", api.Node{ObjectMeta: api.ObjectMeta{Name: "host-2"}}, "metadata.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kubeNode("host-1", map[string]string{nodeAnnotationIPv4Address: "172.18.0.11/24"})
			before := k.DeepCopy()
			err := applyNodeToKube(&tc.node, k)
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want one naming %s", err, tc.field)
			}
			if !reflect.DeepEqual(k, before) {
				t.Errorf("the Kubernetes node changed on error: %+v", k)
			}
		})
	}
}

func TestProfilesComeFromNamespacesServiceAccountsAndTheDefault(t *testing.T) {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	allow := []api.Rule{{Action: api.ActionAllow}}
	for _, tc := range []struct {
		name          string
		got           *api.Profile
		wantName, rv  string
		wantLabels    map[string]string
		ingress, egrs []api.Rule
	}{
		{"a namespace is kns.<ns> with pcns. labels and allow-all rules",
			profileFromNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "7",
				UID: "u1", CreationTimestamp: ts, Labels: map[string]string{"env": "prod"}}}),
			"kns.team-a", "7",
			map[string]string{"pcns.projectcalico.org/name": "team-a", "pcns.env": "prod"}, allow, allow},
		{"a service account is ksa.<ns>.<sa> with pcsa. labels and no rules",
			profileFromServiceAccount(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder",
				Namespace: "team-a", ResourceVersion: "8", UID: "u1", CreationTimestamp: ts,
				Labels: map[string]string{"role": "ci"}}}),
			"ksa.team-a.builder", "8",
			map[string]string{"pcsa.projectcalico.org/name": "builder", "pcsa.role": "ci"}, nil, nil},
		{"the default profile allows everything both ways", defaultAllowProfile(),
			"projectcalico-default-allow", "", nil, allow, allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.got
			if p.Kind != "Profile" || p.APIVersion != api.Group || p.Name != tc.wantName || p.Namespace != "" {
				t.Errorf("identity: %+v %+v", p.TypeMeta, p.ObjectMeta)
			}
			if p.ResourceVersion != tc.rv {
				t.Errorf("resourceVersion = %q, want %q", p.ResourceVersion, tc.rv)
			}
			if tc.rv != "" && (p.UID != "u1" || p.CreationTimestamp != "2026-01-02T03:04:05Z") {
				t.Errorf("uid/creationTimestamp: %+v", p.ObjectMeta)
			}
			if !reflect.DeepEqual(p.Spec.LabelsToApply, tc.wantLabels) {
				t.Errorf("labelsToApply = %v, want %v", p.Spec.LabelsToApply, tc.wantLabels)
			}
			if !reflect.DeepEqual(p.Spec.Ingress, tc.ingress) || !reflect.DeepEqual(p.Spec.Egress, tc.egrs) {
				t.Errorf("rules = %+v / %+v", p.Spec.Ingress, p.Spec.Egress)
			}
			if err := p.Validate(); err != nil {
				t.Errorf("derived profile does not validate: %v", err)
			}
		})
	}
}

func pod(mut func(p *corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "team-a", ResourceVersion: "99", UID: "pod-uid",
			Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{NodeName: "host-1", ServiceAccountName: "builder"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	mut(p)
	return p
}

func TestPodEndpoints(t *testing.T) {
	withStatus := func(ips ...string) func(p *corev1.Pod) {
		return func(p *corev1.Pod) {
			for _, ip := range ips {
				p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
			}
		}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		nets []string // nil: no endpoint
	}{
		{"a host-network pod has no endpoint", pod(func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Status.PodIPs = []corev1.PodIP{{IP: "172.18.0.11"}}
		}), nil},
		{"an unscheduled pod has no endpoint", pod(func(p *corev1.Pod) {
			p.Spec.NodeName = ""
			p.Annotations = map[string]string{"cni.projectcalico.org/podIP": "10.65.0.5/32"}
		}), nil},
		{"a pod without an address has no endpoint", pod(func(*corev1.Pod) {}), nil},
		{"a pod with only malformed addresses has no endpoint", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cni.projectcalico.org/podIPs": "bogus, ,"}
		}), nil},
		{"a succeeded pod has no endpoint", pod(func(p *corev1.Pod) {
			withStatus("10.65.0.5")(p)
			p.Status.Phase = corev1.PodSucceeded
		}), nil},
		{"a failed pod has no endpoint", pod(func(p *corev1.Pod) {
			withStatus("10.65.0.5")(p)
			p.Status.Phase = corev1.PodFailed
		}), nil},
		{"status podIPs become host networks", pod(withStatus("10.65.0.5")), []string{"10.65.0.5/32"}},
		{"a pod with only status.podIP uses it", pod(func(p *corev1.Pod) { p.Status.PodIP = "10.65.0.6" }),
			[]string{"10.65.0.6/32"}},
		{"annotations are preferred over status", pod(func(p *corev1.Pod) {
			withStatus("10.65.0.5")(p)
			p.Annotations = map[string]string{"cni.projectcalico.org/podIP": "10.65.0.7/32"}
		}), []string{"10.65.0.7/32"}},
		{"podIPs is preferred over podIP", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cni.projectcalico.org/podIP": "10.65.0.7/32",
				"cni.projectcalico.org/podIPs": "10.65.0.8/32"}
		}), []string{"10.65.0.8/32"}},
		{"dual-stack podIPs annotation gives both networks", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cni.projectcalico.org/podIPs": "10.65.0.5/32, fd00:65::5/128"}
		}), []string{"10.65.0.5/32", "fd00:65::5/128"}},
		{"dual-stack status gives /32 and /128", pod(withStatus("10.65.0.5", "fd00:65::5")),
			[]string{"10.65.0.5/32", "fd00:65::5/128"}},
		{"an annotation with a wider prefix becomes the address's host network", pod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"cni.projectcalico.org/podIPs": "10.65.0.5/26,10.65.0.5/32"}
		}), []string{"10.65.0.5/32"}},
		{"a pod being deleted still has its endpoint", pod(func(p *corev1.Pod) {
			withStatus("10.65.0.5")(p)
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}), []string{"10.65.0.5/32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.pod.Annotations = withContainerID(tc.pod.Annotations)
			weps := endpointsFromPod(tc.pod)
			if tc.nets == nil {
				if len(weps) != 0 {
					t.Fatalf("got %d endpoints, want none: %+v", len(weps), weps[0])
				}
				return
			}
			if len(weps) != 1 {
				t.Fatalf("got %d endpoints, want 1", len(weps))
			}
			w := weps[0]
			if !reflect.DeepEqual(w.Spec.IPNetworks, tc.nets) {
				t.Errorf("ipNetworks = %v, want %v", w.Spec.IPNetworks, tc.nets)
			}
			if w.Kind != "WorkloadEndpoint" || w.APIVersion != api.Group || w.Name != "host--1-k8s-web--1-eth0" ||
				w.Namespace != "team-a" || w.ResourceVersion != "99" || w.UID != "pod-uid" {
				t.Errorf("identity: %+v %+v", w.TypeMeta, w.ObjectMeta)
			}
			s := w.Spec
			if s.Node != "host-1" || s.Pod != "web-1" || s.Endpoint != "eth0" || s.Orchestrator != "k8s" ||
				s.ContainerID != "cid-1" || !strings.HasPrefix(s.InterfaceName, "cali") {
				t.Errorf("spec: %+v", s)
			}
			if want := []string{"kns.team-a", "ksa.team-a.builder"}; !reflect.DeepEqual(s.Profiles, want) {
				t.Errorf("profiles = %v, want %v", s.Profiles, want)
			}
			if w.Labels["app"] != "web" || w.Labels["projectcalico.org/namespace"] != "team-a" {
				t.Errorf("labels = %v", w.Labels)
			}
			if err := w.Validate(); err != nil {
				t.Errorf("derived endpoint does not validate: %v", err)
			}
		})
	}
}

func withContainerID(a map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	a["cni.projectcalico.org/containerID"] = "cid-1"
	return a
}

// TestUpdateNodeWritesAnnotationsCompareAndSwap runs against a real API server: updateNode stores spec.bgp in
// the Kubernetes Node's annotations, a stale resourceVersion is a conflict, and a Calico Node cannot be created
// without its Kubernetes Node.
func TestUpdateNodeWritesAnnotationsCompareAndSwap(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kube := s.Client
	core, err := coreclient.New(s.Config)
	if err != nil {
		t.Fatal(err)
	}

	created, err := kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host-1",
		Labels: map[string]string{"kubernetes.io/hostname": "host-1"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := nodeFromKube(created)
	n.Spec.BGP = &api.NodeBGPSpec{IPv4Address: "172.18.0.11/24", ASNumber: asn(64513), RouteReflectorClusterID: "244.0.0.1"}
	n.Labels["rack"] = "a"
	out, err := updateNode(ctx, core, n)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*api.Node)
	if !reflect.DeepEqual(got.Spec.BGP, n.Spec.BGP) || got.ResourceVersion == n.ResourceVersion {
		t.Errorf("updateNode returned %+v (rv %s), want bgp %+v and a new resourceVersion", got.Spec.BGP,
			got.ResourceVersion, n.Spec.BGP)
	}
	k, err := kube.CoreV1().Nodes().Get(ctx, "host-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{nodeAnnotationIPv4Address: "172.18.0.11/24", nodeAnnotationASNumber: "64513",
		nodeAnnotationRRClusterID: "244.0.0.1"}
	for a, v := range want {
		if k.Annotations[a] != v {
			t.Errorf("annotation %s = %q, want %q (all: %v)", a, k.Annotations[a], v, k.Annotations)
		}
	}
	if k.Labels["rack"] != "a" || k.Labels["kubernetes.io/hostname"] != "host-1" {
		t.Errorf("labels = %v", k.Labels)
	}

	// n still carries the resourceVersion from before the update: stale.
	n.Spec.BGP.IPv4Address = "172.18.0.12/24"
	if _, err := updateNode(ctx, core, n); !errors.Is(err, datastore.ErrConflict) {
		t.Errorf("stale update: err = %v, want ErrConflict", err)
	} else {
		t.Logf("stale update: %v", err)
	}
	if k, _ := kube.CoreV1().Nodes().Get(ctx, "host-1", metav1.GetOptions{}); k.Annotations[nodeAnnotationIPv4Address] != "172.18.0.11/24" {
		t.Errorf("stale update changed the node: %v", k.Annotations)
	}

	// createNode on an existing Kubernetes node is an update whatever the resourceVersion.
	if out, err := createNode(ctx, core, n); err != nil {
		t.Errorf("createNode of an existing Kubernetes node: %v", err)
	} else if ip := out.(*api.Node).Spec.BGP.IPv4Address; ip != "172.18.0.12/24" {
		t.Errorf("createNode stored ipv4Address %q", ip)
	}

	missing := &api.Node{ObjectMeta: api.ObjectMeta{Name: "host-9"}}
	_, err = createNode(ctx, core, missing)
	if err == nil || !strings.Contains(err.Error(), "Kubernetes node host-9 does not exist") {
		t.Errorf("createNode of a missing node: err = %v, want one naming host-9", err)
	} else {
		t.Logf("missing node: %v", err)
	}
}
