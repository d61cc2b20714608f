package controllers

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

var (
	nodeKind    = api.KindOf(&api.Node{})
	bgpPeerKind = api.KindOf(&api.BGPPeer{})
)

// newNodeController cleans up after a deleted Kubernetes node: its BGP peerings, its block affinities, then its
// Calico Node. Only Calico Nodes that name a Kubernetes node (an orchRef with orchestrator k8s) are ever removed;
// on the Kubernetes datastore the Calico Node is the Kubernetes Node, already gone, and the cleanup is keyed on
// its name. After each resync it collects leaked addresses (see planGC).
func newNodeController(f informers.SharedInformerFactory, w *writer, m *ipam.IPAM, kdd bool, grace time.Duration, log *slog.Logger) *controller {
	c := newController(Node, log)
	nodes, pods := f.Core().V1().Nodes(), f.Core().V1().Pods()
	c.watch(nodes.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if n, ok := obj.(*corev1.Node); ok {
			c.enqueue(n.Name)
		}
	}})
	// The pod informer is shared with the endpoint controller when both run; here it only needs its cache.
	c.watch(pods.Informer(), cache.ResourceEventHandlerFuncs{})
	gc := &collector{w: w, ipam: m, nodes: nodes.Lister(), pods: pods.Lister(), grace: grace, log: c.log,
		suspects: map[netip.Addr]suspect{}}
	c.sync = func(ctx context.Context, k8sName string) error {
		_, err := nodes.Lister().Get(k8sName)
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		calicoNodes, err := calicoNodesOf(ctx, w)
		if err != nil {
			return err
		}
		cleaned := false
		for _, n := range calicoNodes {
			if kubeNodeName(n) == k8sName {
				if err := cleanupNode(ctx, w, m, n, c.log); err != nil {
					return err
				}
				cleaned = true
			}
		}
		if kdd {
			if err := cleanupNode(ctx, w, m, &api.Node{ObjectMeta: api.ObjectMeta{Name: k8sName}}, c.log); err != nil {
				return err
			}
			cleaned = true
		}
		if cleaned {
			return gc.run(ctx)
		}
		return nil
	}
	c.keys = func(ctx context.Context) ([]string, error) {
		calicoNodes, err := calicoNodesOf(ctx, w)
		var keys []string
		for _, n := range calicoNodes {
			if k := kubeNodeName(n); k != "" {
				keys = append(keys, k)
			}
		}
		if err != nil || !kdd {
			return keys, err
		}
		// On the Kubernetes datastore a deleted node leaves no Calico Node behind to find it by: its block
		// affinities do.
		blocks, err := m.Blocks(ctx)
		for _, b := range blocks {
			if b.Host != "" && !slices.Contains(keys, b.Host) {
				keys = append(keys, b.Host)
			}
		}
		return keys, err
	}
	c.afterResync = gc.run
	return c
}

// kubeNodeName is the Kubernetes node a Calico Node stands for, "" when it names none.
func kubeNodeName(n *api.Node) string {
	for _, r := range n.Spec.OrchRefs {
		if r.Orchestrator == conversion.Orchestrator && r.NodeName != "" {
			return r.NodeName
		}
	}
	return ""
}

func calicoNodesOf(ctx context.Context, w *writer) ([]*api.Node, error) {
	all, _, err := w.ds.List(ctx, nodeKind, "")
	out := make([]*api.Node, 0, len(all))
	for _, r := range all {
		out = append(out, r.(*api.Node))
	}
	return out, err
}

// cleanupNode removes what a deleted node leaves behind, the Calico Node last, so that a cleanup cut short is
// found and finished by the next resync. The endpoints of its pods and their addresses are left to the garbage
// collector, which removes those of pods that are gone at once (their node is gone too).
func cleanupNode(ctx context.Context, w *writer, m *ipam.IPAM, n *api.Node, log *slog.Logger) error {
	log.Info("Cleaning up after deleted Kubernetes node", "node", n.Name, "kubeNode", kubeNodeName(n))
	peers, _, err := w.ds.List(ctx, bgpPeerKind, "")
	if err != nil {
		return err
	}
	for _, r := range peers {
		if r.(*api.BGPPeer).Spec.Node == n.Name {
			if err := w.remove(ctx, bgpPeerKind, "", r.GetObjectMeta().Name); err != nil {
				return err
			}
		}
	}
	if err := m.ReleaseHostAffinities(ctx, n.Name); err != nil {
		return err
	}
	if n.ResourceVersion == "" {
		return nil // on the Kubernetes datastore: the Calico Node was the Kubernetes Node
	}
	return w.remove(ctx, nodeKind, "", n.Name)
}

// collector is the IPAM garbage collector's edge: it reads the state, asks planGC, and releases each leak only
// if the address is still held by the handle it was found under.
type collector struct {
	w     *writer
	ipam  *ipam.IPAM
	nodes listersv1.NodeLister
	pods  listersv1.PodLister
	grace time.Duration
	log   *slog.Logger

	mu       sync.Mutex // one pass at a time
	suspects map[netip.Addr]suspect
}

func (gc *collector) run(ctx context.Context) error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	s, err := gc.read(ctx)
	if err != nil {
		return err
	}
	plan, suspects := planGC(s, gc.suspects, time.Now(), gc.grace)
	for a, sus := range suspects {
		if _, known := gc.suspects[a]; !known {
			gc.log.Info("Address looks leaked; releasing it if it stays so for the grace period", "ip", a,
				"handle", sus.Handle, "gracePeriod", gc.grace)
		}
	}
	gc.suspects = suspects
	for _, wep := range plan.Endpoints {
		if err := gc.w.remove(ctx, endpointKind, wep.Namespace, wep.Name); err != nil {
			return err
		}
	}
	var errs []error
	for _, l := range plan.Leaks {
		released, err := gc.ipam.ReleaseIfHeldBy(ctx, l.Addr, l.Handle)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if released {
			gc.w.writes.Add(1)
			gc.log.Info("Released leaked address", "ip", l.Addr, "handle", l.Handle, "node", l.Attrs["node"],
				"pod", l.Attrs["namespace"]+"/"+l.Attrs["pod"], "reason", l.Reason)
		}
	}
	return errors.Join(errs...)
}

func (gc *collector) read(ctx context.Context) (gcState, error) {
	var s gcState
	var err error
	if s.Allocations, err = gc.ipam.Allocations(ctx); err != nil {
		return s, err
	}
	pods, err := gc.pods.List(labels.Everything())
	if err != nil {
		return s, err
	}
	s.Pods = make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		s.Pods[p.Namespace+"/"+p.Name] = p
	}
	kubeNodes, err := gc.nodes.List(labels.Everything())
	if err != nil {
		return s, err
	}
	s.KubeNodes = map[string]bool{}
	for _, n := range kubeNodes {
		s.KubeNodes[n.Name] = true
	}
	calicoNodes, err := calicoNodesOf(ctx, gc.w)
	if err != nil {
		return s, err
	}
	s.CalicoNodes = map[string]bool{}
	for _, n := range calicoNodes {
		s.CalicoNodes[n.Name] = true
	}
	weps, _, err := gc.w.ds.List(ctx, endpointKind, "")
	if err != nil {
		return s, err
	}
	for _, r := range weps {
		s.Endpoints = append(s.Endpoints, r.(*api.WorkloadEndpoint))
	}
	return s, nil
}
