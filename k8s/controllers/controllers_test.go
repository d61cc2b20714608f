package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/internal/syncbuf"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The controllers against a real kube-apiserver and a real etcd for Calico's datastore (a separate one, so that
// it can be stopped while the API server keeps answering).

type fixture struct {
	t    *testing.T
	kube kubernetes.Interface
	api  *kubetest.Server
	etcd *etcdtest.Server
	ds   *datastore.Etcd
	ipam *ipam.IPAM
	logs *syncbuf.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := kubetest.Start(t, kubetest.Options{})
	e := etcdtest.StartServer(t)
	ds, err := datastore.New(datastore.Config{Endpoints: []string{e.Endpoint}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return &fixture{t: t, kube: s.Client, api: s, etcd: e, ds: ds, ipam: ipam.New(ds), logs: &syncbuf.Buffer{}}
}

// start runs a Manager until the test ends (or the returned stop is called) and waits until it is ready.
func (f *fixture) start(cfg Config) (*Manager, func()) {
	f.t.Helper()
	cfg.Kube, cfg.Datastore, cfg.IPAM = f.kube, f.ds, f.ipam
	if cfg.Enabled == nil {
		cfg.Enabled = All
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = time.Minute
	}
	cfg.Log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	f.t.Cleanup(stop)
	f.eventually("the controllers are ready", 30*time.Second, func() error {
		if !m.Ready() {
			return fmt.Errorf("status %v", m.Status().Controllers)
		}
		return nil
	})
	return m, stop
}

func (f *fixture) eventually(what string, within time.Duration, check func() error) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: not within %s: %v\nlogs:\n%s", what, within, err, f.logs.Tail(40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) get(k *api.Kind, ns, name string) (api.Resource, error) {
	return f.ds.Get(context.Background(), k, ns, name)
}

func (f *fixture) gone(k *api.Kind, ns, name string) func() error {
	return func() error {
		_, err := f.get(k, ns, name)
		if errors.Is(err, datastore.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("%s %s/%s still exists (%v)", k.Name, ns, name, err)
	}
}

func (f *fixture) revision() int64 {
	_, rev, err := f.ds.List(context.Background(), nodeKind, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

func (f *fixture) createNamespace(name string, labels map[string]string) {
	f.t.Helper()
	_, err := f.kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
}

// deleteNamespace deletes a namespace and finalizes it, the part the (absent) controller-manager plays.
func (f *fixture) deleteNamespace(name string) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.kube.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
	ns, err := f.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	ns.Spec.Finalizers = nil
	if _, err := f.kube.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) createPod(ns, name, node string, labels map[string]string) *corev1.Pod {
	f.t.Helper()
	f.api.EnsureServiceAccount(f.t, ns, "default")
	p, err := f.kube.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "default",
			Containers: []corev1.Container{{Name: "c", Image: "busybox",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// networkPod does what the CNI plugin does for a pod: an address under the sandbox's handle, the endpoint, the
// annotations.
func (f *fixture) networkPod(p *corev1.Pod, containerID string) net.IP {
	f.t.Helper()
	ctx := context.Background()
	handle := "k8s-pod-network." + containerID
	v4, _, err := f.ipam.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: p.Spec.NodeName,
		Attrs: map[string]string{"node": p.Spec.NodeName, "namespace": p.Namespace, "pod": p.Name, "containerID": containerID}})
	if err != nil || len(v4) != 1 {
		f.t.Fatalf("assigning an address to %s/%s: %v %v", p.Namespace, p.Name, v4, err)
	}
	wep := conversion.PodEndpoint(p, p.Spec.NodeName, "eth0", containerID)
	wep.Spec.IPNetworks = []string{v4[0].IP.String() + "/32"}
	wep.Spec.MAC = "ee:ee:ee:00:00:01"
	if _, err := f.ds.Create(ctx, wep); err != nil {
		f.t.Fatal(err)
	}
	p.Annotations = map[string]string{conversion.AnnotationPodIP: v4[0].IP.String() + "/32",
		conversion.AnnotationPodIPs: v4[0].IP.String() + "/32", conversion.AnnotationContainerID: containerID}
	if _, err := f.kube.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	return v4[0].IP
}

func (f *fixture) pool(cidr string) {
	f.t.Helper()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "pool"}, Spec: api.IPPoolSpec{CIDR: cidr, BlockSize: 26}}
	p.Default()
	if _, err := f.ds.Create(context.Background(), p); err != nil {
		f.t.Fatal(err)
	}
}

func TestProfilesFollowNamespacesAndServiceAccounts(t *testing.T) {
	f := newFixture(t)
	// Left over from before: a profile whose namespace is gone, and a user's own profile the controllers must
	// never touch.
	for _, name := range []string{"kns.ghost", "users-own"} {
		if _, err := f.ds.Create(context.Background(), &api.Profile{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	f.createNamespace("prod", map[string]string{"team": "db"})
	f.start(Config{Enabled: []string{Namespace, ServiceAccount}})

	f.eventually("kns.ghost is removed", 5*time.Second, f.gone(profileKind, "", "kns.ghost"))
	if _, err := f.get(profileKind, "", "users-own"); err != nil {
		t.Fatalf("a profile the controllers do not own was touched: %v", err)
	}
	wantLabels := func(name string, want map[string]string) func() error {
		return func() error {
			r, err := f.get(profileKind, "", name)
			if err != nil {
				return err
			}
			p := r.(*api.Profile)
			if fmt.Sprint(p.Spec.LabelsToApply) != fmt.Sprint(want) {
				return fmt.Errorf("labelsToApply %v, want %v", p.Spec.LabelsToApply, want)
			}
			return nil
		}
	}
	f.eventually("kns.prod carries the namespace's labels", 5*time.Second,
		wantLabels("kns.prod", map[string]string{"pcns.projectcalico.org/name": "prod", "pcns.team": "db",
			"pcns.kubernetes.io/metadata.name": "prod"}))
	r, _ := f.get(profileKind, "", "kns.prod")
	if p := r.(*api.Profile); len(p.Spec.Ingress) != 1 || p.Spec.Ingress[0].Action != api.ActionAllow ||
		len(p.Spec.Egress) != 1 || p.Spec.Egress[0].Action != api.ActionAllow {
		t.Errorf("kns.prod must allow everything both ways, got ingress %v egress %v", p.Spec.Ingress, p.Spec.Egress)
	}
	for _, ns := range []string{"default", "kube-system"} {
		f.eventually("kns."+ns+" exists", 5*time.Second, func() error { _, err := f.get(profileKind, "", "kns."+ns); return err })
	}

	// kubectl label namespace prod team=web --overwrite
	ns, _ := f.kube.CoreV1().Namespaces().Get(context.Background(), "prod", metav1.GetOptions{})
	ns.Labels["team"] = "web"
	f.kube.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{})
	f.eventually("kns.prod follows the relabel", 5*time.Second,
		wantLabels("kns.prod", map[string]string{"pcns.projectcalico.org/name": "prod", "pcns.team": "web",
			"pcns.kubernetes.io/metadata.name": "prod"}))

	_, err := f.kube.CoreV1().ServiceAccounts("prod").Create(context.Background(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "db.reader", Labels: map[string]string{"tier": "data"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.eventually("ksa.prod.db.reader carries the account's labels", 5*time.Second,
		wantLabels("ksa.prod.db.reader", map[string]string{"pcsa.projectcalico.org/name": "db.reader", "pcsa.tier": "data"}))
	if err := f.kube.CoreV1().ServiceAccounts("prod").Delete(context.Background(), "db.reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually("ksa.prod.db.reader goes with the account", 5*time.Second, f.gone(profileKind, "", "ksa.prod.db.reader"))

	f.deleteNamespace("prod")
	f.eventually("kns.prod goes with the namespace", 5*time.Second, f.gone(profileKind, "", "kns.prod"))
}

func TestPoliciesFollowKubernetesNetworkPolicies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createNamespace("prod", nil)
	// A translated policy whose Kubernetes policy was deleted while the controllers were down, and a user's own
	// Calico policy in the same namespace.
	for _, name := range []string{"knp.default.ghost", "users-own"} {
		p := &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "prod"}}
		p.Default()
		if _, err := f.ds.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	f.start(Config{Enabled: []string{Policy}})
	f.eventually("knp.default.ghost is removed", 5*time.Second, f.gone(policyKind, "prod", "knp.default.ghost"))
	if _, err := f.get(policyKind, "prod", "users-own"); err != nil {
		t.Fatalf("a policy the controllers do not own was touched: %v", err)
	}

	tcp := corev1.ProtocolTCP
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "allow-http", Namespace: "prod"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "frontend"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &intstr.IntOrString{Type: intstr.String, StrVal: "http"}}},
			}},
		},
	}
	if _, err := f.kube.NetworkingV1().NetworkPolicies("prod").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	selectorIs := func(want string) func() error {
		return func() error {
			r, err := f.get(policyKind, "prod", "knp.default.allow-http")
			if err != nil {
				return err
			}
			p := r.(*api.NetworkPolicy)
			if p.Spec.Selector != want {
				return fmt.Errorf("selector %q, want %q", p.Spec.Selector, want)
			}
			if p.Spec.Order == nil || *p.Spec.Order != 1000 {
				return fmt.Errorf("order %v, want 1000", p.Spec.Order)
			}
			return nil
		}
	}
	f.eventually("knp.default.allow-http appears", 5*time.Second,
		selectorIs(`projectcalico.org/orchestrator == 'k8s' && app == 'web'`))

	np, _ = f.kube.NetworkingV1().NetworkPolicies("prod").Get(ctx, "allow-http", metav1.GetOptions{})
	np.Spec.PodSelector.MatchLabels["app"] = "api"
	if _, err := f.kube.NetworkingV1().NetworkPolicies("prod").Update(ctx, np, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually("knp.default.allow-http follows the update", 5*time.Second,
		selectorIs(`projectcalico.org/orchestrator == 'k8s' && app == 'api'`))

	if err := f.kube.NetworkingV1().NetworkPolicies("prod").Delete(ctx, "allow-http", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually("knp.default.allow-http goes with it", 5*time.Second, f.gone(policyKind, "prod", "knp.default.allow-http"))
}

func TestEndpointLabelsFollowPodLabelsAndNothingElseChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pool("10.65.0.0/16")
	f.createNamespace("prod", nil)
	p := f.createPod("prod", "web-1", "host1", map[string]string{"app": "web"})
	f.networkPod(p, "c1")
	wepName := conversion.EndpointName("host1", "web-1", "eth0")
	before, _ := f.get(endpointKind, "prod", wepName)
	f.start(Config{Enabled: []string{WorkloadEndpoint}})

	// kubectl label pod web-1 role=frontend --overwrite
	p, _ = f.kube.CoreV1().Pods("prod").Get(ctx, "web-1", metav1.GetOptions{})
	p.Labels["role"] = "frontend"
	if _, err := f.kube.CoreV1().Pods("prod").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var after *api.WorkloadEndpoint
	f.eventually("the endpoint's labels follow the pod's", 5*time.Second, func() error {
		r, err := f.get(endpointKind, "prod", wepName)
		if err != nil {
			return err
		}
		after = r.(*api.WorkloadEndpoint)
		if after.Labels["role"] != "frontend" {
			return fmt.Errorf("labels %v", after.Labels)
		}
		return nil
	})
	for _, k := range []string{"app", conversion.LabelNamespace, conversion.LabelOrchestrator, conversion.LabelServiceAccount} {
		if after.Labels[k] == "" {
			t.Errorf("label %s lost: %v", k, after.Labels)
		}
	}
	b, _ := json.Marshal(before.(*api.WorkloadEndpoint).Spec)
	a, _ := json.Marshal(after.Spec)
	if string(a) != string(b) {
		t.Errorf("the controller changed the endpoint's spec:\nbefore %s\nafter  %s", b, a)
	}

	// An endpoint written (by a CNI ADD) with labels read before a relabel is corrected too, without waiting for
	// a resync: the controller watches endpoints as well.
	p2 := f.createPod("prod", "web-2", "host1", map[string]string{"app": "web"})
	f.networkPod(p2, "c2")
	r, err := f.get(endpointKind, "prod", conversion.EndpointName("host1", "web-2", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	r.GetObjectMeta().Labels["app"] = "stale"
	if _, err := f.ds.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.eventually("a stale endpoint written after the relabel is corrected", 5*time.Second, func() error {
		r, err := f.get(endpointKind, "prod", conversion.EndpointName("host1", "web-2", "eth0"))
		if err != nil {
			return err
		}
		if got := r.GetObjectMeta().Labels["app"]; got != "web" {
			return fmt.Errorf("app=%q", got)
		}
		return nil
	})
}

func TestARestartChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pool("10.65.0.0/16")
	f.createNamespace("prod", map[string]string{"team": "db"})
	p := f.createPod("prod", "web-1", "host1", map[string]string{"app": "web"})
	f.networkPod(p, "c1")
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny", Namespace: "prod"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	if _, err := f.kube.NetworkingV1().NetworkPolicies("prod").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host1"}}
	if _, err := f.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, stop := f.start(Config{})
	if m.Writes() == 0 {
		t.Fatal("the first start must have written the profiles and the policy")
	}
	stop()
	rev := f.revision()
	m2, _ := f.start(Config{})
	time.Sleep(500 * time.Millisecond) // events after readiness would show here
	if w := m2.Writes(); w != 0 || f.revision() != rev {
		t.Fatalf("a restart wrote %d times (etcd revision %d → %d)\nlogs:\n%s", w, rev, f.revision(), f.logs.Tail(30))
	}
}

func TestAnEtcdOutageIsLoggedOncePerStateChange(t *testing.T) {
	f := newFixture(t)
	m, _ := f.start(Config{Enabled: []string{Namespace}})
	f.etcd.Stop()
	for i := range 3 {
		f.createNamespace(fmt.Sprintf("outage-%d", i), nil)
	}
	f.eventually("the controller reports failing", 15*time.Second, func() error {
		if m.Ready() {
			return fmt.Errorf("still ready")
		}
		return nil
	})
	time.Sleep(3 * time.Second) // several retries with backoff
	f.etcd.Restart()
	f.eventually("the controller recovers", 60*time.Second, func() error {
		for i := range 3 {
			if _, err := f.get(profileKind, "", fmt.Sprintf("kns.outage-%d", i)); err != nil {
				return err
			}
		}
		if !m.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	logs := f.logs.String()
	if n := strings.Count(logs, "Controller cannot sync"); n != 1 {
		t.Errorf("want the failure logged once, got %d times:\n%s", n, f.logs.Tail(40))
	}
	if n := strings.Count(logs, "Controller syncs again"); n != 1 {
		t.Errorf("want the recovery logged once, got %d times:\n%s", n, f.logs.Tail(40))
	}
	if n := strings.Count(logs, "level=DEBUG msg=\"Sync failed"); n < 2 {
		t.Errorf("want the retries at debug level (several), got %d", n)
	}
}

func TestADeletedNodeLeavesNothingBehindAndLivePodsKeepTheirAddresses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pool("10.65.0.0/16")
	f.createNamespace("prod", nil)
	for _, name := range []string{"host1", "host3"} {
		if _, err := f.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.NodeSpec{OrchRefs: []api.OrchRef{{NodeName: name, Orchestrator: "k8s"}}}}
		if _, err := f.ds.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// A Calico Node that stands for no Kubernetes node (a bare-metal host): never removed.
	if _, err := f.ds.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "baremetal"}}); err != nil {
		t.Fatal(err)
	}
	// host3 runs two pods, one of which Kubernetes has already removed, and has a tunnel address and a BGP peer.
	gonePod := f.createPod("prod", "gone", "host3", nil)
	goneIP := f.networkPod(gonePod, "c-gone")
	stayPod := f.createPod("prod", "stays", "host3", nil)
	stayIP := f.networkPod(stayPod, "c-stays")
	if err := f.kube.CoreV1().Pods("prod").Delete(ctx, "gone", forceDelete); err != nil {
		t.Fatal(err)
	}
	tunnel, _, err := f.ipam.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "ipip-tunnel-addr-host3", Host: "host3",
		Attrs: map[string]string{"node": "host3", "type": "ipipTunnelAddress"}})
	if err != nil {
		t.Fatal(err)
	}
	peer := &api.BGPPeer{ObjectMeta: api.ObjectMeta{Name: "host3-tor"}, Spec: api.BGPPeerSpec{Node: "host3", PeerIP: "172.18.0.1", ASNumber: ptr(api.ASNumber(65001))}}
	if _, err := f.ds.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}
	// host1's live pod reports only its IPv4 address; its second address (as a dual-stack IPAM gives) must stay.
	live := f.createPod("prod", "live", "host1", nil)
	liveIP := f.networkPod(live, "c-live")
	extra, _, err := f.ipam.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: "k8s-pod-network.c-live", Host: "host1",
		Attrs: map[string]string{"node": "host1", "namespace": "prod", "pod": "live", "containerID": "c-live"}})
	if err != nil {
		t.Fatal(err)
	}

	f.start(Config{Enabled: []string{Node}, ResyncPeriod: 300 * time.Millisecond, LeakGracePeriod: 2 * time.Second})
	// kubectl delete node host3
	if err := f.kube.CoreV1().Nodes().Delete(ctx, "host3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually("host3's Calico Node is removed", 10*time.Second, f.gone(nodeKind, "", "host3"))
	f.eventually("host3's BGP peer is removed", time.Second, f.gone(bgpPeerKind, "", "host3-tor"))
	held := func(ip net.IP) bool {
		h, _, err := f.ipam.GetAssignmentAttributes(ctx, ip)
		return err == nil && h != ""
	}
	f.eventually("the gone pod's and the tunnel's addresses are released", 5*time.Second, func() error {
		for _, ip := range []net.IP{goneIP, tunnel[0].IP} {
			if held(ip) {
				return fmt.Errorf("%s is still assigned", ip)
			}
		}
		return nil
	})
	if !held(stayIP) {
		t.Errorf("the address of pod prod/stays, which still exists, was released")
	}
	if _, err := f.get(endpointKind, "prod", conversion.EndpointName("host3", "stays", "eth0")); err != nil {
		t.Errorf("the endpoint of pod prod/stays, which still exists, was removed: %v", err)
	}
	if _, err := f.get(endpointKind, "prod", conversion.EndpointName("host3", "gone", "eth0")); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("the endpoint of the gone pod is still there: %v", err)
	}
	blocks, err := f.ipam.Blocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Host == "host3" {
			t.Errorf("block %s is still affine to host3", b.CIDR)
		}
	}

	// Kubernetes' pod GC removes the last pod of the deleted node; its address goes without a grace period.
	f.kube.CoreV1().Pods("prod").Delete(ctx, "stays", forceDelete)
	f.eventually("the last pod's address is released", 5*time.Second, func() error {
		if held(stayIP) {
			return fmt.Errorf("%s still assigned", stayIP)
		}
		return nil
	})
	if _, err := f.get(nodeKind, "", "baremetal"); err != nil {
		t.Errorf("a Calico Node without a Kubernetes node was removed: %v", err)
	}
	// Several grace periods later the live pod on host1 still has both addresses.
	time.Sleep(3 * time.Second)
	for _, ip := range []net.IP{liveIP, extra[0].IP} {
		if !held(ip) {
			t.Errorf("address %s of live pod prod/live was released", ip)
		}
	}
	report, err := f.ipam.Check(ctx)
	if err != nil || !report.OK() {
		t.Errorf("ipam check after the node's removal: %v %v", report.Problems, err)
	}
}

func TestALeakedAddressOnALiveNodeIsReleasedAfterTheGracePeriod(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.pool("10.65.0.0/16")
	f.createNamespace("prod", nil)
	f.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host1"}}, metav1.CreateOptions{})
	p := f.createPod("prod", "web", "host1", nil)
	ip := f.networkPod(p, "c1")
	// The pod is deleted but its CNI DEL never ran: the endpoint is gone (felix no longer routes it) yet the
	// address stays allocated.
	f.ds.Delete(ctx, endpointKind, "prod", conversion.EndpointName("host1", "web", "eth0"), "")
	f.kube.CoreV1().Pods("prod").Delete(ctx, "web", forceDelete)
	start := time.Now()
	f.start(Config{Enabled: []string{Node}, ResyncPeriod: 200 * time.Millisecond, LeakGracePeriod: 2 * time.Second})
	f.eventually("the leaked address is released", 10*time.Second, func() error {
		if h, _, err := f.ipam.GetAssignmentAttributes(ctx, ip); err == nil && h != "" {
			return fmt.Errorf("%s still held by %s", ip, h)
		}
		return nil
	})
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("released after %s, before the 2s grace period", d)
	}
	// The release is logged just after its write lands: wait for the line rather than race it.
	f.eventually("the suspicion and the release are logged", 5*time.Second, func() error {
		if !strings.Contains(f.logs.String(), "Address looks leaked") || !strings.Contains(f.logs.String(), "Released leaked address") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

// forceDelete removes a pod at once, as Kubernetes' pod GC does for pods of deleted nodes (a pod bound to a node
// otherwise waits for its kubelet, which these tests do not run).
var forceDelete = metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}

func TestALostAPIServerIsLoggedOncePerStateChange(t *testing.T) {
	f := newFixture(t)
	defer func(d time.Duration) { apiCheckInterval = d }(apiCheckInterval)
	apiCheckInterval = 500 * time.Millisecond
	// The controllers reach the API server through a proxy the test can cut.
	p := &cutProxy{target: f.api.Host + ":" + f.api.Port}
	p.up(t)
	t.Cleanup(p.down)
	cfg := *f.api.Config
	cfg.Host = "https://" + p.addr
	kube, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.kube = kube
	m, _ := f.start(Config{Enabled: []string{Namespace}})

	p.down()
	f.eventually("the controllers notice", 30*time.Second, func() error {
		if m.Ready() {
			return fmt.Errorf("still ready")
		}
		return nil
	})
	time.Sleep(3 * time.Second) // several reflector retries
	p.up(t)
	// A namespace created through the real API server shows the informers are back.
	f.kube = f.api.Client
	f.createNamespace("after-outage", nil)
	f.eventually("the controllers recover", 60*time.Second, func() error {
		if _, err := f.get(profileKind, "", "kns.after-outage"); err != nil {
			return err
		}
		if !m.Ready() {
			return fmt.Errorf("not ready: %v", m.Status().Controllers)
		}
		return nil
	})
	logs := f.logs.String()
	if n := strings.Count(logs, "Kubernetes API server unreachable"); n != 1 {
		t.Errorf("want the loss logged once, got %d times:\n%s", n, f.logs.Tail(40))
	}
	if n := strings.Count(logs, "Kubernetes API server reachable again"); n != 1 {
		t.Errorf("want the recovery logged once, got %d times:\n%s", n, f.logs.Tail(40))
	}
}

// cutProxy forwards TCP connections to target until down closes the listener and every connection.
type cutProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func (p *cutProxy) up(t *testing.T) {
	t.Helper()
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

func (p *cutProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestADeletedNodeIsCleanedUpOnTheKubernetesDatastore(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	s.InstallCalicoCRDs(t)
	ds, err := connect.OpenKubernetes(s.Kubeconfig, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "pool"}, Spec: api.IPPoolSpec{CIDR: "10.65.0.0/16", BlockSize: 26}}
	p.Default()
	if _, err := ds.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"host1", "host3"} {
		if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	assign := func(host, handle string, attrs map[string]string) net.IP {
		v4, _, err := ds.IPAM.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: host, Attrs: attrs})
		if err != nil {
			t.Fatal(err)
		}
		return v4[0].IP
	}
	gone := assign("host3", "k8s-pod-network.c1", map[string]string{"node": "host3", "namespace": "default", "pod": "gone", "containerID": "c1"})
	tunnel := assign("host3", "ipip-tunnel-addr-host3", map[string]string{"node": "host3", "type": "ipipTunnelAddress"})
	live := assign("host1", "k8s-pod-network.c2", map[string]string{"node": "host1", "namespace": "default", "pod": "live", "containerID": "c2"})
	if _, err := s.Client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live", Namespace: "default",
		Annotations: map[string]string{conversion.AnnotationContainerID: "c2"}},
		Spec: corev1.PodSpec{NodeName: "host1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	peer := &api.BGPPeer{ObjectMeta: api.ObjectMeta{Name: "host3-tor"}, Spec: api.BGPPeerSpec{Node: "host3", PeerIP: "172.18.0.1", ASNumber: ptr(api.ASNumber(65001))}}
	peer.Default()
	if _, err := ds.Create(ctx, peer); err != nil {
		t.Fatal(err)
	}

	logs := &syncbuf.Buffer{}
	m, err := New(Config{Kube: s.Client, Datastore: ds, IPAM: ds.IPAM, KubernetesDatastore: true, Enabled: []string{Node},
		ResyncPeriod: 500 * time.Millisecond, LeakGracePeriod: time.Hour, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Kube: s.Client, Datastore: ds, IPAM: ds.IPAM, KubernetesDatastore: true, Enabled: []string{Policy}}); err == nil {
		t.Error("a mirroring controller on the Kubernetes datastore must be refused")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); m.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	if err := s.Client.CoreV1().Nodes().Delete(ctx, "host3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held := func(ip net.IP) bool {
		h, _, err := ds.IPAM.GetAssignmentAttributes(ctx, ip)
		return err == nil && h != ""
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, peerErr := ds.Get(ctx, bgpPeerKind, "", "host3-tor")
		blocks, _ := ds.IPAM.Blocks(ctx)
		affine := false
		for _, b := range blocks {
			affine = affine || b.Host == "host3"
		}
		if !held(gone) && !held(tunnel) && !affine && errors.Is(peerErr, datastore.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host3 not cleaned up: gone pod's address held %v, tunnel held %v, blocks still affine %v, peer %v\n%s",
				held(gone), held(tunnel), affine, peerErr, logs.Tail(30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !held(live) {
		t.Error("the live pod's address on host1 was released")
	}
	report, err := ds.IPAM.Check(ctx)
	if err != nil || !report.OK() {
		t.Errorf("ipam check: %v %v", report.Problems, err)
	}
}
