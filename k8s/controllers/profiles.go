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
	"github.com/calico-l3/calico/k8s/conversion"
)

var profileKind = api.KindOf(&api.Profile{})

// newNamespaceController keeps Profile kns.<ns> in step with each namespace: allow-all rules and the namespace's
// labels as pcns.<key>, deleted with the namespace.
func newNamespaceController(f informers.SharedInformerFactory, w *writer, log *slog.Logger) *controller {
	c := newController(Namespace, log)
	inf := f.Core().V1().Namespaces()
	lister := inf.Lister()
	c.watch(inf.Informer(), c.handler(namespacedKey))
	c.sync = func(ctx context.Context, name string) error {
		ns, err := lister.Get(name)
		if apierrors.IsNotFound(err) {
			return w.remove(ctx, profileKind, "", conversion.NamespaceProfileName(name))
		}
		if err != nil {
			return err
		}
		return ensure(ctx, w, conversion.NamespaceProfile(ns))
	}
	c.keys = func(ctx context.Context) ([]string, error) {
		all, err := lister.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, ns := range all {
			keys = append(keys, ns.Name)
		}
		stored, err := storedProfiles(ctx, w, conversion.NamespaceProfilePrefix)
		return append(keys, stored...), err
	}
	return c
}

// newServiceAccountController keeps Profile ksa.<ns>.<sa> in step with each service account: no rules, the
// account's labels as pcsa.<key>, deleted with the account.
func newServiceAccountController(f informers.SharedInformerFactory, w *writer, log *slog.Logger) *controller {
	c := newController(ServiceAccount, log)
	inf := f.Core().V1().ServiceAccounts()
	lister := inf.Lister()
	c.watch(inf.Informer(), c.handler(namespacedKey))
	c.sync = func(ctx context.Context, key string) error {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			return &permanentError{err}
		}
		sa, err := lister.ServiceAccounts(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return w.remove(ctx, profileKind, "", conversion.ServiceAccountProfileName(ns, name))
		}
		if err != nil {
			return err
		}
		return ensure(ctx, w, conversion.ServiceAccountProfile(sa))
	}
	c.keys = func(ctx context.Context) ([]string, error) {
		all, err := lister.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, sa := range all {
			keys = append(keys, sa.Namespace+"/"+sa.Name)
		}
		stored, err := storedProfiles(ctx, w, conversion.ServiceAccountProfilePrefix)
		for _, s := range stored {
			// ksa.<namespace>.<account>: a namespace name has no dots, an account name may.
			if ns, name, ok := strings.Cut(s, "."); ok {
				keys = append(keys, ns+"/"+name)
			}
		}
		return keys, err
	}
	return c
}

// storedProfiles lists the names of stored profiles with prefix, the prefix cut off.
func storedProfiles(ctx context.Context, w *writer, prefix string) ([]string, error) {
	all, _, err := w.ds.List(ctx, profileKind, "")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range all {
		if rest, ok := strings.CutPrefix(r.GetObjectMeta().Name, prefix); ok {
			names = append(names, rest)
		}
	}
	return names, nil
}

// namespacedKey is "<namespace>/<name>" of a namespaced Kubernetes object, "<name>" of another.
func namespacedKey(obj any) (string, bool) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	return key, err == nil
}
