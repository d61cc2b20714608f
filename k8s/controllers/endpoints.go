package controllers

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/k8s/conversion"
)

var endpointKind = api.KindOf(&api.WorkloadEndpoint{})

// newEndpointController keeps the labels of each pod's WorkloadEndpoints equal to the pod's (plus the labels
// Calico adds), and touches nothing else of them. It watches the endpoints too, so that an endpoint the CNI
// plugin writes with labels read just before a relabel is corrected at once.
func newEndpointController(f informers.SharedInformerFactory, w *writer, log *slog.Logger) *controller {
	c := newController(WorkloadEndpoint, log)
	inf := f.Core().V1().Pods()
	lister := inf.Lister()
	c.watch(inf.Informer(), c.handler(namespacedKey))
	idx := &endpointIndex{byPod: map[string]map[string]bool{}, podOf: map[string]string{}}
	c.start = func(ctx context.Context) { go idx.follow(ctx, w.ds, c.enqueue) }
	c.synced = append(c.synced, idx.inSync.Load)
	c.sync = func(ctx context.Context, key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return &permanentError{err}
		}
		pod, err := lister.Pods(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return nil // its endpoints go with CNI DEL, or with its node
		}
		if err != nil {
			return err
		}
		want := conversion.PodLabels(pod)
		for _, wepName := range idx.endpointsOf(key) {
			r, err := w.ds.Get(ctx, endpointKind, ns, wepName)
			if errors.Is(err, datastore.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			wep := r.(*api.WorkloadEndpoint)
			if wep.Spec.Orchestrator != conversion.Orchestrator || maps.Equal(wep.Labels, want) {
				continue
			}
			wep.Labels = maps.Clone(want)
			if _, err := w.ds.Update(ctx, wep); err != nil {
				return err
			}
			w.wrote("Updated labels of", wep)
		}
		return nil
	}
	c.keys = func(context.Context) ([]string, error) { return idx.pods(), nil }
	return c
}

// endpointIndex maps pods to the names of their Kubernetes WorkloadEndpoints, from a watch of the datastore.
type endpointIndex struct {
	mu     sync.Mutex
	byPod  map[string]map[string]bool // "<ns>/<pod>" → endpoint names
	podOf  map[string]string          // "<ns>/<endpoint>" → "<ns>/<pod>"
	inSync atomic.Bool
}

// follow applies the watch's events until ctx ends, calling changed with the pod of each added or changed
// endpoint.
func (x *endpointIndex) follow(ctx context.Context, ds datastore.Client, changed func(podKey string)) {
	for ev := range ds.Watch(ctx, datastore.KindPrefix(endpointKind, ""), 0) {
		switch ev.Type {
		case datastore.Resync:
			x.mu.Lock()
			x.byPod, x.podOf = map[string]map[string]bool{}, map[string]string{}
			x.mu.Unlock()
		case datastore.InSync:
			x.inSync.Store(true)
		case datastore.Added, datastore.Modified:
			wep, ok := ev.Resource.(*api.WorkloadEndpoint)
			if !ok || wep.Spec.Orchestrator != conversion.Orchestrator || wep.Spec.Pod == "" {
				continue
			}
			pod := wep.Namespace + "/" + wep.Spec.Pod
			x.mu.Lock()
			if x.byPod[pod] == nil {
				x.byPod[pod] = map[string]bool{}
			}
			x.byPod[pod][wep.Name] = true
			x.podOf[wep.Namespace+"/"+wep.Name] = pod
			x.mu.Unlock()
			changed(pod)
		case datastore.Deleted:
			_, ns, name, ok := datastore.ParseResourceKey(ev.Key)
			if !ok {
				continue
			}
			x.mu.Lock()
			if pod, ok := x.podOf[ns+"/"+name]; ok {
				delete(x.podOf, ns+"/"+name)
				delete(x.byPod[pod], name)
				if len(x.byPod[pod]) == 0 {
					delete(x.byPod, pod)
				}
			}
			x.mu.Unlock()
		}
	}
}

func (x *endpointIndex) endpointsOf(pod string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Sorted(maps.Keys(x.byPod[pod]))
}

func (x *endpointIndex) pods() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Sorted(maps.Keys(x.byPod))
}
