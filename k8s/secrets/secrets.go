// Package secrets keeps the Kubernetes Secrets of calico-node's namespace in memory, for the BGP passwords that
// BGPPeers name (spec.password.secretKeyRef), as Calico reads them: only from that namespace.
package secrets

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Store holds one namespace's Secrets, kept current by a watch. Its zero value is not usable: create it with
// Watch.
type Store struct {
	lister  func() ([]*corev1.Secret, error)
	synced  cache.InformerSynced
	changed chan struct{}
	stop    context.CancelFunc // ends the watch

	mu   sync.Mutex
	data map[string]map[string]string
}

// Watch starts watching the Secrets of namespace until ctx ends and waits up to syncTimeout for the first
// listing. A watch that cannot sync (no access to Secrets) is an error; the caller then runs without Secrets.
func Watch(ctx context.Context, kube kubernetes.Interface, namespace string, syncTimeout time.Duration, log *slog.Logger) (*Store, error) {
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace))
	inf := f.Core().V1().Secrets()
	s := &Store{synced: inf.Informer().HasSynced, changed: make(chan struct{}, 1)}
	s.lister = func() ([]*corev1.Secret, error) { return inf.Lister().Secrets(namespace).List(labels.Everything()) }
	notify := func() {
		s.refresh()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}); err != nil {
		return nil, fmt.Errorf("watching the Secrets of namespace %s: %w", namespace, err)
	}
	watchCtx, stop := context.WithCancel(ctx)
	s.stop = stop
	f.Start(watchCtx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), s.synced) {
		stop() // no informer is left retrying behind the error
		f.Shutdown()
		return nil, fmt.Errorf("listing the Secrets of namespace %s: not done within %s (may calico-node's service account get, list and watch them?)", namespace, syncTimeout)
	}
	s.refresh()
	log.Info("Watching Secrets for BGP passwords", "namespace", namespace)
	return s, nil
}

// refresh rebuilds the map of Secrets from the informer's cache.
func (s *Store) refresh() {
	list, err := s.lister()
	if err != nil {
		return
	}
	data := make(map[string]map[string]string, len(list))
	for _, sec := range list {
		keys := make(map[string]string, len(sec.Data))
		for k, v := range sec.Data {
			keys[k] = string(v)
		}
		data[sec.Name] = keys
	}
	s.mu.Lock()
	s.data = data
	s.mu.Unlock()
}

// Snapshot is a copy of the Secrets: name → key → value.
func (s *Store) Snapshot() map[string]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string]string, len(s.data))
	for name, keys := range s.data {
		out[name] = maps.Clone(keys)
	}
	return out
}

// Changed receives after a Secret of the namespace was added, changed or removed.
func (s *Store) Changed() <-chan struct{} { return s.changed }
