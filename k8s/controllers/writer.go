package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"sync/atomic"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// writer is the controllers' only way to change the datastore: it writes a resource only when what the
// controller owns of it differs, always compare-and-swap on the version it read, and counts what it wrote.
type writer struct {
	ds     datastore.Client
	writes *atomic.Int64
	log    *slog.Logger
}

// ensure makes the stored resource match want: created when missing, replaced (keeping its identity) when its
// labels or spec differ, untouched otherwise. A conflict is returned, for the caller's retry.
func ensure[R api.Resource](ctx context.Context, w *writer, want R) error {
	k := api.KindOf(want)
	m := want.GetObjectMeta()
	want.Default()
	cur, err := w.ds.Get(ctx, k, m.Namespace, m.Name)
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		if _, err := w.ds.Create(ctx, want); err != nil {
			return err
		}
		w.wrote("Created", want)
		return nil
	case err != nil:
		return err
	}
	cur.Default()
	if sameContent(cur, want) {
		return nil
	}
	m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	if _, err := w.ds.Update(ctx, want); err != nil {
		return err
	}
	w.wrote("Updated", want)
	return nil
}

// remove deletes a resource if it exists.
func (w *writer) remove(ctx context.Context, k *api.Kind, namespace, name string) error {
	r, err := w.ds.Delete(ctx, k, namespace, name, "")
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	w.wrote("Deleted", r)
	return nil
}

func (w *writer) wrote(what string, r api.Resource) {
	w.writes.Add(1)
	w.log.Info(what+" "+api.KindOf(r).Name, "name", r.GetObjectMeta().Name, "namespace", r.GetObjectMeta().Namespace)
}

// sameContent compares what a controller owns of a resource: its labels and its spec. Specs are compared as JSON
// so that an empty list and a missing one, which are stored alike, count as equal.
func sameContent(a, b api.Resource) bool {
	if !maps.Equal(a.GetObjectMeta().Labels, b.GetObjectMeta().Labels) {
		return false
	}
	ja, errA := json.Marshal(specOf(a))
	jb, errB := json.Marshal(specOf(b))
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func specOf(r api.Resource) any {
	switch r := r.(type) {
	case *api.Profile:
		return r.Spec
	case *api.NetworkPolicy:
		return r.Spec
	case *api.WorkloadEndpoint:
		return r.Spec
	}
	// Every kind the controllers write is listed above; anything else never compares equal.
	return r
}
