package kdd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/kubeclient"
)

// newClient runs a kube-apiserver with Calico's CRDs installed (manifests/crds.yaml) and returns a Client for
// it, and the etcd the API server stores into.
func newClient(t *testing.T, extraArgs ...string) (*Client, string) {
	t.Helper()
	s, etcd := newServer(t, extraArgs...)
	c, err := New(s.Config, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, etcd
}

// kubeClient is a full clientset on c's credentials, for tests to create the Kubernetes objects the datastore
// reads.
func kubeClient(t *testing.T, c *Client) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// newServer runs a kube-apiserver with Calico's CRDs installed and returns it and its etcd.
func newServer(t *testing.T, extraArgs ...string) (*kubetest.Server, string) {
	t.Helper()
	etcd := etcdtest.Start(t)
	s := kubetest.Start(t, kubetest.Options{EtcdEndpoint: etcd, ExtraArgs: extraArgs})
	s.InstallCalicoCRDs(t)
	return s, etcd
}

func pool(name, cidr string) *api.IPPool {
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"zone": "a"}},
		Spec: api.IPPoolSpec{CIDR: cidr, BlockSize: 26, IPIPMode: api.EncapAlways, NATOutgoing: true}}
	p.Default()
	return p
}

var (
	poolKind   = api.KindOf(&api.IPPool{})
	policyKind = api.KindOf(&api.NetworkPolicy{})
)

func TestResourcesRoundTripWithCompareAndSwap(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()

	created, err := c.Create(ctx, pool("p1", "10.65.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	m := created.GetObjectMeta()
	if m.ResourceVersion == "" || m.UID == "" || m.CreationTimestamp == "" {
		t.Errorf("want resourceVersion, uid and creationTimestamp from the API server, got %+v", m)
	}
	got, err := c.Get(ctx, poolKind, "", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(*api.IPPool); p.Spec.CIDR != "10.65.0.0/16" || p.Spec.BlockSize != 26 || p.Spec.IPIPMode != api.EncapAlways ||
		!p.Spec.NATOutgoing || p.Labels["zone"] != "a" || p.Kind != "IPPool" || p.APIVersion != api.Group {
		t.Errorf("read back %+v", p)
	}
	if _, err := c.Create(ctx, pool("p1", "10.66.0.0/16")); !errors.Is(err, datastore.ErrAlreadyExists) {
		t.Errorf("a second create: want ErrAlreadyExists, got %v", err)
	}

	stale := got.(*api.IPPool)
	fresh := *stale
	fresh.Spec.NATOutgoing = false
	updated, err := c.Update(ctx, &fresh)
	if err != nil {
		t.Fatal(err)
	}
	stale.Spec.Disabled = true
	if _, err := c.Update(ctx, stale); !errors.Is(err, datastore.ErrConflict) {
		t.Errorf("an update on a stale resourceVersion: want ErrConflict, got %v", err)
	}
	if _, err := c.Delete(ctx, poolKind, "", "p1", stale.ResourceVersion); !errors.Is(err, datastore.ErrConflict) {
		t.Errorf("a delete on a stale resourceVersion: want ErrConflict, got %v", err)
	}
	stale.ResourceVersion = ""
	applied, err := c.Apply(ctx, stale)
	if err != nil || !applied.(*api.IPPool).Spec.Disabled {
		t.Fatalf("apply: %v %+v", err, applied)
	}
	if applied.GetObjectMeta().UID != m.UID {
		t.Errorf("apply replaced the object's identity: uid %s → %s", m.UID, applied.GetObjectMeta().UID)
	}
	_ = updated

	np := &api.NetworkPolicy{ObjectMeta: api.ObjectMeta{Name: "allow-web", Namespace: "prod"},
		Spec: api.NetworkPolicySpec{Selector: "app == 'web'", Ingress: []api.Rule{{Action: api.ActionAllow}}}}
	np.Default()
	if _, err := c.Create(ctx, np); err == nil || !strings.Contains(err.Error(), "prod") {
		t.Errorf("a policy in a namespace that does not exist: want the API server's refusal naming it, got %v", err)
	}
	np.Namespace = "default"
	if _, err := c.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	list, rev, err := c.List(ctx, policyKind, "")
	if err != nil || len(list) != 1 || rev == 0 || list[0].GetObjectMeta().Namespace != "default" {
		t.Errorf("list of policies: %v rev %d %v", list, rev, err)
	}

	deleted, err := c.Delete(ctx, poolKind, "", "p1", "")
	if err != nil || deleted.(*api.IPPool).Spec.CIDR != "10.65.0.0/16" {
		t.Fatalf("delete: %v %+v", err, deleted)
	}
	if _, err := c.Get(ctx, poolKind, "", "p1"); !errors.Is(err, datastore.ErrNotFound) {
		t.Errorf("after delete: want ErrNotFound, got %v", err)
	}
}

func TestDerivedResourcesComeFromKubernetesObjectsAndAreReadOnly(t *testing.T) {
	c, _ := newClient(t)
	s := kubeClient(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Watch(ctx, datastore.ResourcePrefix, 0)

	if _, err := s.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod",
		Labels: map[string]string{"team": "db"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host1",
		Annotations: map[string]string{"projectcalico.org/IPv4Address": "172.18.0.11/24"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{"cni.projectcalico.org/podIPs": "10.65.0.7/32", "cni.projectcalico.org/containerID": "c1"}},
		Spec: corev1.PodSpec{NodeName: "host1", ServiceAccountName: "default", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := s.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "deny"},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	if _, err := s.NetworkingV1().NetworkPolicies("default").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Reads.
	profile, err := c.Get(ctx, api.KindOf(&api.Profile{}), "", "kns.prod")
	if err != nil || profile.(*api.Profile).Spec.LabelsToApply["pcns.team"] != "db" {
		t.Errorf("kns.prod from the namespace: %v %v", profile, err)
	}
	node, err := c.Get(ctx, api.KindOf(&api.Node{}), "", "host1")
	if err != nil || node.(*api.Node).Spec.BGP == nil || node.(*api.Node).Spec.BGP.IPv4Address != "172.18.0.11/24" {
		t.Errorf("Node host1 from the Kubernetes Node: %+v %v", node, err)
	}
	weps, _, err := c.List(ctx, api.KindOf(&api.WorkloadEndpoint{}), "default")
	if err != nil || len(weps) != 1 || weps[0].(*api.WorkloadEndpoint).Spec.IPNetworks[0] != "10.65.0.7/32" ||
		weps[0].GetObjectMeta().Labels["app"] != "web" {
		t.Errorf("the pod's WorkloadEndpoint: %v %v", weps, err)
	}
	pols, _, err := c.List(ctx, policyKind, "default")
	if err != nil || len(pols) != 1 || pols[0].GetObjectMeta().Name != "knp.default.deny" {
		t.Errorf("the Kubernetes NetworkPolicy as knp.default.deny: %v %v", pols, err)
	}

	// The watch of everything sees them under their etcd-layout keys.
	want := map[string]bool{
		datastore.ResourceKey(api.KindOf(&api.Profile{}), "", "kns.prod"):                           false,
		datastore.ResourceKey(api.KindOf(&api.Node{}), "", "host1"):                                 false,
		datastore.ResourceKey(api.KindOf(&api.WorkloadEndpoint{}), "default", "host1-k8s-web-eth0"): false,
		datastore.ResourceKey(policyKind, "default", "knp.default.deny"):                            false,
	}
	deadline := time.After(15 * time.Second)
	for missing := len(want); missing > 0; {
		select {
		case ev := <-ch:
			if seen, ok := want[ev.Key]; ok && !seen && (ev.Type == datastore.Added || ev.Type == datastore.Modified) {
				want[ev.Key] = true
				missing--
			}
		case <-deadline:
			t.Fatalf("the watch did not show every derived resource: %v", want)
		}
	}

	// Writes: a Node's Calico fields go to the Kubernetes Node's annotations; the rest is refused, naming what
	// to change instead.
	n := node.(*api.Node)
	n.Spec.BGP.IPv4IPIPTunnelAddr = "10.65.3.1"
	n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr = "10.66.3.1", "66:a3:1b:0c:5e:03"
	stored, err := c.Update(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	kn, _ := s.CoreV1().Nodes().Get(ctx, "host1", metav1.GetOptions{})
	if kn.Annotations["projectcalico.org/IPv4IPIPTunnelAddr"] != "10.65.3.1" ||
		kn.Annotations["projectcalico.org/IPv4VXLANTunnelAddr"] != "10.66.3.1" ||
		kn.Annotations["projectcalico.org/VXLANTunnelMACAddr"] != "66:a3:1b:0c:5e:03" {
		t.Errorf("the tunnel addresses and VTEP MAC did not reach the Kubernetes Node's annotations: %v", kn.Annotations)
	}
	if sn := stored.(*api.Node); sn.Spec.IPv4VXLANTunnelAddr != "10.66.3.1" || sn.Spec.VXLANTunnelMACAddr != "66:a3:1b:0c:5e:03" {
		t.Errorf("the stored Node should read back its VXLAN fields, got %+v", sn.Spec)
	}
	p := profile.(*api.Profile)
	if _, err := c.Update(ctx, p); !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "Namespace") {
		t.Errorf("updating a derived profile: want ErrReadOnly naming the Namespace, got %v", err)
	}
	pol := pols[0]
	if _, err := c.Delete(ctx, policyKind, "default", pol.GetObjectMeta().Name, ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("deleting a translated policy: want ErrReadOnly, got %v", err)
	}
}

func TestWatchListsThenFollowsAndResyncsAfterCompaction(t *testing.T) {
	// Without the watch cache, and with watches the API server ends every second or two, a watch resumed from
	// a version etcd has compacted away meets 410 Gone, as in a real cluster whose cache has moved on.
	c, etcd := newClient(t, "--watch-cache=false", "--min-request-timeout=1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Create(ctx, pool("p1", "10.65.0.0/16")); err != nil {
		t.Fatal(err)
	}
	ch := c.Watch(ctx, datastore.KindPrefix(poolKind, ""), 0)
	next := func() datastore.Event {
		t.Helper()
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed")
			}
			return ev
		case <-time.After(15 * time.Second):
			t.Fatal("no event within 15s")
		}
		return datastore.Event{}
	}
	for _, want := range []string{"Resync ", "Added " + datastore.ResourceKey(poolKind, "", "p1"), "InSync "} {
		if ev := next(); ev.Type.String()+" "+ev.Key != want {
			t.Fatalf("want %s, got %s %s", want, ev.Type, ev.Key)
		}
	}
	if _, err := c.Create(ctx, pool("p2", "10.66.0.0/16")); err != nil {
		t.Fatal(err)
	}
	ev := next()
	if ev.Type != datastore.Added || ev.Key != datastore.ResourceKey(poolKind, "", "p2") || ev.Resource.(*api.IPPool).Spec.CIDR != "10.66.0.0/16" {
		t.Fatalf("want p2 Added under its etcd-layout key, got %s %s %v", ev.Type, ev.Key, ev.Resource)
	}
	if _, err := c.Delete(ctx, poolKind, "", "p2", ""); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Type != datastore.Deleted || ev.Key != datastore.ResourceKey(poolKind, "", "p2") {
		t.Fatalf("want p2 Deleted, got %s %s", ev.Type, ev.Key)
	}

	// Other writes move etcd past the last version the watch saw; compacting there leaves the watch's next
	// resume nothing to start from.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var rev int64
	for i := range 5 {
		resp, err := cli.Put(ctx, fmt.Sprintf("/unrelated/%d", i), "x")
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		ev := next()
		got = append(got, ev.Type.String()+" "+ev.Key)
	}
	want := []string{"Resync ", "Added " + datastore.ResourceKey(poolKind, "", "p1"), "InSync "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("after compaction: want %v, got %v", want, got)
	}
}

// A client without the RBAC to do something is told so, in words that point at the cause.
func TestRBACDenialsSayWhatToCheck(t *testing.T) {
	s, _ := newServer(t)
	s.EnsureServiceAccount(t, "default", "nobody")
	cfg, err := kubeclient.Config(s.KubeconfigForToken(t, s.Token(t, "default", "nobody", time.Hour)), 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.List(context.Background(), poolKind, "")
	if err == nil || !strings.Contains(err.Error(), "forbids it (check the RBAC") || !strings.Contains(err.Error(), "ippools") {
		t.Errorf("listing pools without RBAC: want an error naming ippools and pointing at RBAC, got %v", err)
	}
	if _, err := c.Create(context.Background(), pool("p", "10.65.0.0/16")); err == nil || !strings.Contains(err.Error(), "forbids it") {
		t.Errorf("creating a pool without RBAC: got %v", err)
	}
}
