package kdd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/internal/kubetest"
)

// newClient runs a kube-apiserver with Calico's CRDs installed (manifests/crds.yaml) and returns a Client for
// it, and the etcd the API server stores into.
func newClient(t *testing.T, extraArgs ...string) (*Client, string) {
	t.Helper()
	etcd := etcdtest.Start(t)
	s := kubetest.Start(t, kubetest.Options{EtcdEndpoint: etcd, ExtraArgs: extraArgs})
	_, file, _, _ := runtime.Caller(0)
	crds := filepath.Join(filepath.Dir(file), "..", "..", "manifests", "crds.yaml")
	if out, err := s.Kubectl(t, "apply", "-f", crds); err != nil {
		t.Fatalf("kubectl apply -f crds.yaml: %v\n%s", err, out)
	}
	if out, err := s.Kubectl(t, "wait", "--for", "condition=established", "--timeout=60s", "crd", "--all"); err != nil {
		t.Fatalf("waiting for the CRDs: %v\n%s", err, out)
	}
	c, err := New(s.Config, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, etcd
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

func TestKindsCalicoDerivesFromKubernetesAreRefusedByName(t *testing.T) {
	c := &Client{}
	for _, k := range []string{"Node", "Profile", "WorkloadEndpoint"} {
		kind, _ := api.LookupKind(k)
		if _, err := c.Get(context.Background(), kind, "default", "x"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s: want ErrUnsupported naming the kind, got %v", k, err)
		}
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
