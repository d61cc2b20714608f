package controllers

import (
	"context"
	"log/slog"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/k8s/policy"
)

var policyKind = api.KindOf(&api.NetworkPolicy{})

// newPolicyController keeps Calico NetworkPolicy knp.default.<name> in step with each Kubernetes NetworkPolicy
// <name>, in the same namespace, deleted with it.
func newPolicyController(f informers.SharedInformerFactory, w *writer, log *slog.Logger) *controller {
	c := newController(Policy, log)
	inf := f.Networking().V1().NetworkPolicies()
	lister := inf.Lister()
	c.watch(inf.Informer(), c.handler(namespacedKey))
	c.sync = func(ctx context.Context, key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return &permanentError{err}
		}
		np, err := lister.NetworkPolicies(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return w.remove(ctx, policyKind, ns, policy.NamePrefix+name)
		}
		if err != nil {
			return err
		}
		want, err := policy.Translate(np)
		if err != nil {
			return &permanentError{err}
		}
		return ensure(ctx, w, want)
	}
	c.keys = func(ctx context.Context) ([]string, error) {
		all, err := lister.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, np := range all {
			keys = append(keys, np.Namespace+"/"+np.Name)
		}
		stored, _, err := w.ds.List(ctx, policyKind, "")
		for _, r := range stored {
			m := r.GetObjectMeta()
			if name, ok := strings.CutPrefix(m.Name, policy.NamePrefix); ok {
				keys = append(keys, m.Namespace+"/"+name)
			}
		}
		return keys, err
	}
	return c
}
