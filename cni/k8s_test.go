package cni

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The Kubernetes mode against a real kube-apiserver: kubelet's part is played as kubelet plays it, by creating
// the Pod object (with nodeName) and then running the plugin with kubelet's CNI_ARGS and a network namespace.

const k8sNetwork = "k8s-pod-network"

// kenv is env plus an API server and a kubeconfig for the plugin.
type kenv struct {
	*env
	kube       *kubetest.Server
	kubeconfig string
}

func newKEnv(t *testing.T) *kenv {
	t.Helper()
	e := newEnv(t)
	s := kubetest.Start(t, kubetest.Options{})
	return &kenv{env: e, kube: s, kubeconfig: s.Kubeconfig}
}

// k8sConf is a network config in Kubernetes mode (policy k8s, this env's kubeconfig); extra as for env.conf.
func (k *kenv) k8sConf(extra map[string]any) []byte {
	all := map[string]any{"policy": map[string]any{"type": "k8s"}, "kubernetes": map[string]any{"kubeconfig": k.kubeconfig}}
	for key, v := range extra {
		all[key] = v
	}
	return k.conf(k8sNetwork, "1.0.0", all)
}

// createPod creates a pod object as the scheduler leaves it: bound to a node.
func (k *kenv) createPod(ns, name, node string, labels, annotations map[string]string) *corev1.Pod {
	k.t.Helper()
	ctx := context.Background()
	k.kube.EnsureServiceAccount(k.t, ns, "default")
	p, err := k.kube.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	return p
}

func (k *kenv) getPod(ns, name string) *corev1.Pod {
	k.t.Helper()
	p, err := k.kube.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return p
}

// execPod runs the plugin with kubelet's CNI_ARGS for a pod.
func (k *kenv) execPod(command string, conf []byte, containerID string, p *pod, podNS, podName string) (string, string, *types.Error) {
	k.t.Helper()
	return k.execPlugin("calico", command, conf, containerID, p.path, "eth0",
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE="+podNS+";K8S_POD_NAME="+podName+";K8S_POD_INFRA_CONTAINER_ID="+containerID)
}

func (k *kenv) mustExecPod(command string, conf []byte, containerID string, p *pod, podNS, podName string) string {
	k.t.Helper()
	out, stderr, cerr := k.execPod(command, conf, containerID, p, podNS, podName)
	if cerr != nil {
		k.t.Fatalf("calico %s for pod %s/%s: %v\nstderr: %s", command, podNS, podName, cerr, stderr)
	}
	return out
}

func (k *kenv) podEndpoint(ns, pod string) *api.WorkloadEndpoint {
	k.t.Helper()
	r, err := k.ds.Get(context.Background(), endpointKind, ns, conversion.EndpointName(testNode, pod, "eth0"))
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		k.t.Fatal(err)
	}
	return r.(*api.WorkloadEndpoint)
}

func (k *kenv) profile(name string) *api.Profile {
	k.t.Helper()
	r, err := k.ds.Get(context.Background(), api.KindOf(&api.Profile{}), "", name)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		k.t.Fatal(err)
	}
	return r.(*api.Profile)
}

func TestPodsInTwoNamespacesGetEndpointsLabelsProfilesAndAnnotations(t *testing.T) {
	k := newKEnv(t)
	ctx := context.Background()
	if _, err := k.kube.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"team": "db"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	conf := k.k8sConf(nil)
	for _, tc := range []struct{ ns, name string }{{"default", "net-test"}, {"prod", "db-0"}} {
		t.Run(tc.ns+"/"+tc.name, func(t *testing.T) {
			k.createPod(tc.ns, tc.name, testNode, map[string]string{"app": tc.name}, nil)
			p := newPod(t)
			veth := conversion.HostVethName(tc.ns, tc.name)
			removeVethAtCleanup(t, veth)
			res := parseResult(t, k.mustExecPod("ADD", conf, "ctr-"+tc.name, p, tc.ns, tc.name))
			if len(res.IPs) != 1 || !inPool(res.IPs[0].Address, "10.1.240.0/24") {
				t.Fatalf("result addresses %+v, want one from pool1", res.IPs)
			}
			if res.Interfaces[0].Name != veth {
				t.Errorf("host interface %s, want %s (cali + sha1 of namespace.pod)", res.Interfaces[0].Name, veth)
			}
			wep := k.podEndpoint(tc.ns, tc.name)
			if wep == nil {
				t.Fatalf("no endpoint %s in namespace %s; endpoints: %v", conversion.EndpointName(testNode, tc.name, "eth0"), tc.ns, k.allEndpoints())
			}
			wantLabels := map[string]string{"app": tc.name, "projectcalico.org/namespace": tc.ns,
				"projectcalico.org/orchestrator": "k8s", "projectcalico.org/serviceaccount": "default"}
			if !reflect.DeepEqual(wep.Labels, wantLabels) {
				t.Errorf("endpoint labels %v, want %v", wep.Labels, wantLabels)
			}
			if want := []string{"kns." + tc.ns, "ksa." + tc.ns + ".default"}; !reflect.DeepEqual(wep.Spec.Profiles, want) {
				t.Errorf("endpoint profiles %v, want %v", wep.Spec.Profiles, want)
			}
			if s := wep.Spec; s.Orchestrator != "k8s" || s.Pod != tc.name || s.ContainerID != "ctr-"+tc.name || s.InterfaceName != veth ||
				len(s.Ports) != 1 || s.Ports[0].Name != "http" {
				t.Errorf("endpoint spec %+v", s)
			}
			ip := strings.TrimSuffix(res.IPs[0].Address, "/32")
			ann := k.getPod(tc.ns, tc.name).Annotations
			if ann[conversion.AnnotationPodIP] != ip+"/32" || ann[conversion.AnnotationPodIPs] != ip+"/32" ||
				ann[conversion.AnnotationContainerID] != "ctr-"+tc.name {
				t.Errorf("pod annotations %v, want podIP and podIPs %s/32 and containerID ctr-%s", ann, ip, tc.name)
			}
			if held := k.handleIPs(k8sNetwork + ".ctr-" + tc.name); len(held) != 1 || held[0] != ip {
				t.Errorf("handle %s.ctr-%s holds %v, want [%s]", k8sNetwork, tc.name, held, ip)
			}
			k.mustExecPod("CHECK", conf, "ctr-"+tc.name, p, tc.ns, tc.name)
		})
	}
	ns := k.profile("kns.prod")
	if ns == nil || ns.Spec.LabelsToApply["pcns.team"] != "db" || ns.Spec.LabelsToApply["pcns.projectcalico.org/name"] != "prod" ||
		len(ns.Spec.Ingress) != 1 || ns.Spec.Ingress[0].Action != api.ActionAllow {
		t.Errorf("profile kns.prod: %+v, want allow-all with pcns.team=db", ns)
	}
	if sa := k.profile("ksa.prod.default"); sa == nil || sa.Spec.LabelsToApply["pcsa.projectcalico.org/name"] != "default" {
		t.Errorf("profile ksa.prod.default: %+v", sa)
	}

	// DEL of the pod removes everything, even after the Pod object is gone (kubelet deletes sandboxes late).
	if err := k.kube.Client.CoreV1().Pods("prod").Delete(ctx, "db-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := newPod(t)
	k.mustExecPod("DEL", conf, "ctr-db-0", p, "prod", "db-0")
	if wep := k.podEndpoint("prod", "db-0"); wep != nil {
		t.Errorf("endpoint of the deleted pod is still there: %+v", wep)
	}
	if held := k.handleIPs(k8sNetwork + ".ctr-db-0"); len(held) > 0 {
		t.Errorf("the deleted pod's addresses are still held: %v", held)
	}
	if hostLinkExists(conversion.HostVethName("prod", "db-0")) {
		t.Error("the deleted pod's host veth is still there")
	}
}

func TestPodAnnotationsChooseThePoolOrTheAddress(t *testing.T) {
	k := newKEnv(t)
	k.addPool("pool2", "10.2.0.0/24", 26)
	conf := k.k8sConf(nil)
	for _, tc := range []struct {
		name, annotation, value, want string
	}{
		{"pool-by-name", conversion.AnnotationIPv4Pools, `["pool2"]`, "10.2.0."},
		{"pool-by-cidr", conversion.AnnotationIPv4Pools, `["10.2.0.0/24"]`, "10.2.0."},
		{"fixed-address", conversion.AnnotationIPAddrs, `["10.1.240.200"]`, "10.1.240.200/32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k.createPod("default", tc.name, testNode, nil, map[string]string{tc.annotation: tc.value})
			removeVethAtCleanup(t, conversion.HostVethName("default", tc.name))
			res := parseResult(t, k.mustExecPod("ADD", conf, "ctr-"+tc.name, newPod(t), "default", tc.name))
			if len(res.IPs) != 1 || !strings.HasPrefix(res.IPs[0].Address, tc.want) {
				t.Errorf("addresses %+v, want one starting %s", res.IPs, tc.want)
			}
		})
	}
}

// A refused ADD takes nothing: no address, endpoint, veth or annotation.
func TestPodsTheNodeMustNotNetworkAreRefusedAndNothingIsTaken(t *testing.T) {
	k := newKEnv(t)
	conf := k.k8sConf(nil)
	for _, tc := range []struct {
		name, node  string
		annotations map[string]string
		wantMsg     string
	}{
		{"elsewhere", "other-node", nil, `scheduled on node "other-node", not on this node "` + testNode + `"`},
		{"bad-pools", testNode, map[string]string{conversion.AnnotationIPv4Pools: "pool1"}, "annotation cni.projectcalico.org/ipv4pools"},
		{"two-v4", testNode, map[string]string{conversion.AnnotationIPAddrs: `["10.1.240.5","10.1.240.6"]`}, "cni.projectcalico.org/ipAddrs"},
		{"taken-address", testNode, map[string]string{conversion.AnnotationIPAddrs: `["10.1.240.9"]`}, "10.1.240.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "taken-address" {
				if err := k.ipam.AssignIP(context.Background(), []byte{10, 1, 240, 9}, "someone-else", nil, testNode); err != nil {
					t.Fatal(err)
				}
			}
			k.createPod("default", tc.name, tc.node, nil, tc.annotations)
			veth := conversion.HostVethName("default", tc.name)
			removeVethAtCleanup(t, veth)
			_, stderr, cerr := k.execPod("ADD", conf, "ctr-"+tc.name, newPod(t), "default", tc.name)
			if cerr == nil || !strings.Contains(cerr.Msg, tc.wantMsg) {
				t.Fatalf("ADD error %v, want one containing %q\nstderr: %s", cerr, tc.wantMsg, stderr)
			}
			if held := k.handleIPs(k8sNetwork + ".ctr-" + tc.name); len(held) > 0 {
				t.Errorf("the refused pod holds %v", held)
			}
			if wep := k.podEndpoint("default", tc.name); wep != nil {
				t.Errorf("the refused pod has an endpoint")
			}
			if hostLinkExists(veth) {
				t.Errorf("the refused pod has a host veth %s", veth)
			}
			if ann := k.getPod("default", tc.name).Annotations[conversion.AnnotationPodIP]; ann != "" {
				t.Errorf("the refused pod was annotated with %s", ann)
			}
		})
	}
}

// Kubelet may run a new sandbox of a pod before the old one's DEL: the late DEL must not take the new sandbox's
// endpoint or veth (both are named after the pod), only the old sandbox's addresses.
func TestADelOfAnOldSandboxLeavesTheNewOneAlone(t *testing.T) {
	k := newKEnv(t)
	conf := k.k8sConf(nil)
	k.createPod("default", "web", testNode, nil, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	oldNS, newNS := newPod(t), newPod(t)
	oldIP := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-1", oldNS, "default", "web")).IPs[0].Address
	newIP := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-2", newNS, "default", "web")).IPs[0].Address
	if wep := k.podEndpoint("default", "web"); wep == nil || wep.Spec.ContainerID != "sandbox-2" || wep.Spec.IPNetworks[0] != newIP {
		t.Fatalf("after the second sandbox's ADD the endpoint is %+v, want sandbox-2 with %s", wep, newIP)
	}
	k.mustExecPod("DEL", conf, "sandbox-1", oldNS, "default", "web")
	wep := k.podEndpoint("default", "web")
	if wep == nil || wep.Spec.ContainerID != "sandbox-2" {
		t.Fatalf("the old sandbox's DEL removed or changed the new sandbox's endpoint: %+v", wep)
	}
	if !hostLinkExists(veth) {
		t.Error("the old sandbox's DEL removed the new sandbox's host veth")
	}
	if held := k.handleIPs(k8sNetwork + ".sandbox-1"); len(held) > 0 {
		t.Errorf("the old sandbox's address %s is still held: %v", oldIP, held)
	}
	if held := k.handleIPs(k8sNetwork + ".sandbox-2"); len(held) != 1 {
		t.Errorf("the new sandbox's handle holds %v, want its one address", held)
	}
	k.mustExecPod("CHECK", conf, "sandbox-2", newNS, "default", "web")
	k.mustExecPod("DEL", conf, "sandbox-2", newNS, "default", "web")
	if wep := k.podEndpoint("default", "web"); wep != nil || hostLinkExists(veth) || len(k.handleIPs(k8sNetwork+".sandbox-2")) > 0 {
		t.Errorf("the current sandbox's DEL left something: endpoint %v, veth %v", wep, hostLinkExists(veth))
	}
}

// With credentials that may read pods but not patch them, the write-back fails after everything else was done:
// the ADD fails and gives everything back.
func TestAFailedAnnotationUndoesTheADD(t *testing.T) {
	k := newKEnv(t)
	ctx := context.Background()
	k.kube.EnsureServiceAccount(t, "kube-system", "reader")
	if _, err := k.kube.Client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "serviceaccounts"},
			Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.kube.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "kube-system", Name: "reader"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k.kubeconfig = k.kube.KubeconfigForToken(t, k.kube.Token(t, "kube-system", "reader", time.Hour))
	conf := k.k8sConf(nil)
	k.createPod("default", "web", testNode, nil, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	var cerr *types.Error
	var stderr string
	// RBAC bindings take effect within moments; until then even the read is refused, also with nothing taken.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, stderr, cerr = k.execPod("ADD", conf, "ctr", newPod(t), "default", "web")
		if cerr == nil || strings.Contains(cerr.Msg, "writing the addresses") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if cerr == nil || !strings.Contains(cerr.Msg, "writing the addresses to pod default/web") || !strings.Contains(cerr.Msg, "not allowed") {
		t.Fatalf("ADD error %v, want the refused pod patch\nstderr: %s", cerr, stderr)
	}
	if held := k.handleIPs(k8sNetwork + ".ctr"); len(held) > 0 {
		t.Errorf("addresses left after the failed ADD: %v", held)
	}
	if wep := k.podEndpoint("default", "web"); wep != nil {
		t.Error("endpoint left after the failed ADD")
	}
	if hostLinkExists(veth) {
		t.Error("host veth left after the failed ADD")
	}
}

// Without policy type k8s a pod keeps Kubernetes' names and labels but is in the network's profile, as in Calico.
func TestWithoutK8sPolicyAPodGetsTheNetworksProfile(t *testing.T) {
	k := newKEnv(t)
	conf := k.conf(k8sNetwork, "1.0.0", map[string]any{"kubernetes": map[string]any{"kubeconfig": k.kubeconfig}})
	k.createPod("default", "plain", testNode, nil, nil)
	removeVethAtCleanup(t, conversion.HostVethName("default", "plain"))
	k.mustExecPod("ADD", conf, "ctr", newPod(t), "default", "plain")
	wep := k.podEndpoint("default", "plain")
	if wep == nil || !reflect.DeepEqual(wep.Spec.Profiles, []string{k8sNetwork}) {
		t.Fatalf("endpoint %+v, want profiles [%s]", wep, k8sNetwork)
	}
	if k.profile(k8sNetwork) == nil || k.profile("kns.default") != nil {
		t.Errorf("want profile %s created and no kns.default", k8sNetwork)
	}
}
