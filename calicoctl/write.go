package calicoctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// staleVersionError says the resourceVersion a user gave is no longer the stored one.
type staleVersionError struct{ given, latest string }

func (e staleVersionError) Error() string {
	return fmt.Sprintf("Resource version '%s' is out of date (latest: %s). Update the resource YAML/JSON in order to make changes.",
		e.given, e.latest)
}

// createOne stores a new resource. The server owns resourceVersion, uid and creationTimestamp, so values copied
// from another resource's output are dropped.
func createOne(ctx context.Context, ds datastore.Client, r api.Resource, skipExists bool) error {
	m := r.GetObjectMeta()
	m.ResourceVersion, m.UID, m.CreationTimestamp = "", "", ""
	if err := beforeWrite(ctx, ds, r, nil); err != nil {
		return err
	}
	if err := checkTiered(ctx, ds, r, nil); err != nil {
		return err
	}
	_, err := ds.Create(ctx, r)
	if skipExists && errors.Is(err, datastore.ErrAlreadyExists) {
		return nil
	}
	return err
}

// applyOne creates the resource, or updates the stored one whatever its version.
func applyOne(ctx context.Context, ds datastore.Client, r api.Resource) error {
	m := r.GetObjectMeta()
	cur, err := ds.Get(ctx, api.KindOf(r), m.Namespace, m.Name)
	if errors.Is(err, datastore.ErrNotFound) {
		return createOne(ctx, ds, r, false)
	}
	if err != nil {
		return err
	}
	m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	return updateOne(ctx, ds, r, cur)
}

// replaceOne updates a stored resource: at the resourceVersion the file gives, or at the stored one if it
// gives none.
func replaceOne(ctx context.Context, ds datastore.Client, r api.Resource) error {
	m := r.GetObjectMeta()
	cur, err := ds.Get(ctx, api.KindOf(r), m.Namespace, m.Name)
	if err != nil {
		return err
	}
	latest := cur.GetObjectMeta().ResourceVersion
	switch m.ResourceVersion {
	case "":
		m.ResourceVersion = latest
	case latest:
	default:
		return staleVersionError{m.ResourceVersion, latest}
	}
	return updateOne(ctx, ds, r, cur)
}

// updateOne writes r over cur if nobody changed cur in between, keeping cur's identity.
func updateOne(ctx context.Context, ds datastore.Client, r, cur api.Resource) error {
	if err := beforeWrite(ctx, ds, r, cur); err != nil {
		return err
	}
	if err := checkTiered(ctx, ds, r, cur); err != nil {
		return err
	}
	m, c := r.GetObjectMeta(), cur.GetObjectMeta()
	m.UID, m.CreationTimestamp = c.UID, c.CreationTimestamp
	given := m.ResourceVersion
	_, err := ds.Update(ctx, r)
	if errors.Is(err, datastore.ErrConflict) {
		return staleOr(ctx, ds, api.KindOf(r), m.Namespace, m.Name, given, err)
	}
	return err
}

// deleteOne deletes a resource; with a resourceVersion only if it is still the stored one.
func deleteOne(ctx context.Context, ds datastore.Client, k *api.Kind, namespace, name, version string, skipNotExists bool) error {
	if err := checkTierDelete(ctx, ds, k, name); err != nil {
		return err
	}
	if k.Name == "IPPool" {
		v, err := retirePool(ctx, ds, k, name, version)
		if err != nil && !errors.Is(err, datastore.ErrNotFound) {
			return err
		}
		if version != "" && v != "" {
			version = v
		}
	}
	_, err := ds.Delete(ctx, k, namespace, name, version)
	switch {
	case skipNotExists && errors.Is(err, datastore.ErrNotFound):
		return nil
	case errors.Is(err, datastore.ErrConflict):
		return staleOr(ctx, ds, k, namespace, name, version, err)
	}
	return err
}

// staleOr turns a conflict into the message naming the latest version, or returns err if that cannot be read.
func staleOr(ctx context.Context, ds datastore.Client, k *api.Kind, namespace, name, given string, err error) error {
	cur, getErr := ds.Get(ctx, k, namespace, name)
	if getErr != nil {
		return err
	}
	return staleVersionError{given, cur.GetObjectMeta().ResourceVersion}
}
