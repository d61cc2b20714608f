package calicoctl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// The default tier always exists, as in Calico: calico-node's startup creates it, and until then (a datastore no
// node has started on) calicoctl shows the one api.DefaultTier() describes, as felix uses it.

// getOrImplied reads one resource, giving the default tier when it is asked for and not stored.
func getOrImplied(ctx context.Context, ds datastore.Client, k *api.Kind, namespace, name string) (api.Resource, error) {
	r, err := ds.Get(ctx, k, namespace, name)
	if k.Name == "Tier" && name == api.DefaultTierName && errors.Is(err, datastore.ErrNotFound) {
		return api.DefaultTier(), nil
	}
	return r, err
}

// withTiersInOrder adds the default tier to a listing of tiers that lacks it and sorts the tiers as they run:
// by order, then by name. Other kinds are returned as listed.
func withTiersInOrder(k *api.Kind, items []api.Resource) []api.Resource {
	if k.Name != "Tier" {
		return items
	}
	if !slices.ContainsFunc(items, func(r api.Resource) bool { return r.GetObjectMeta().Name == api.DefaultTierName }) {
		items = append(items, api.DefaultTier())
	}
	slices.SortStableFunc(items, func(a, b api.Resource) int {
		ta, tb := a.(*api.Tier), b.(*api.Tier)
		return cmp.Or(cmp.Compare(ta.Spec.EffectiveOrder(), tb.Spec.EffectiveOrder()), cmp.Compare(ta.Name, tb.Name))
	})
	return items
}

// checkTiered checks a policy about to be written against the tiers: its tier must exist, and a policy of the
// default tier may not be created under the other spelling of a stored one's name ("x" and "default.x" are one
// policy in Calico).
func checkTiered(ctx context.Context, ds datastore.Client, r, cur api.Resource) error {
	var tier string
	switch p := r.(type) {
	case *api.NetworkPolicy:
		tier = p.Spec.Tier
	case *api.GlobalNetworkPolicy:
		tier = p.Spec.Tier
	default:
		return nil
	}
	tier = api.TierOf(tier)
	tierKind, _ := api.LookupKind("Tier")
	if _, err := getOrImplied(ctx, ds, tierKind, "", tier); errors.Is(err, datastore.ErrNotFound) {
		return api.FieldError{Field: "spec.tier", Value: tier, Reason: "tier does not exist: create the Tier first"}
	} else if err != nil {
		return fmt.Errorf("reading tier %s: %w", tier, err)
	}
	if cur != nil || tier != api.DefaultTierName {
		return nil
	}
	m := r.GetObjectMeta()
	other := api.DefaultTierName + "." + m.Name
	if rest, ok := strings.CutPrefix(m.Name, api.DefaultTierName+"."); ok {
		other = rest
	}
	k := api.KindOf(r)
	_, err := ds.Get(ctx, k, m.Namespace, other)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s names the same policy of the default tier as %s, which exists",
			datastore.ErrAlreadyExists, m.Name, other)
	case errors.Is(err, datastore.ErrNotFound):
		return nil
	}
	return fmt.Errorf("reading %s %s: %w", k.Name, other, err)
}

// checkTierDelete refuses to delete the default tier, and a tier that still holds policies (they would be left
// in a tier that does not exist).
func checkTierDelete(ctx context.Context, ds datastore.Client, k *api.Kind, name string) error {
	if k.Name != "Tier" {
		return nil
	}
	if name == api.DefaultTierName {
		return errors.New("the default tier cannot be deleted")
	}
	var held []string
	for _, kindName := range []string{"GlobalNetworkPolicy", "NetworkPolicy"} {
		pk, _ := api.LookupKind(kindName)
		items, _, err := ds.List(ctx, pk, "")
		if err != nil {
			return fmt.Errorf("listing %s: %w", pk.Plural, err)
		}
		for _, r := range items {
			if tierOf(r) == name {
				held = append(held, api.ID(r))
			}
		}
	}
	if len(held) > 0 {
		return fmt.Errorf("tier %s still holds policies; delete them first: %s", name, strings.Join(held, ", "))
	}
	return nil
}

func tierOf(r api.Resource) string {
	switch p := r.(type) {
	case *api.NetworkPolicy:
		return api.PolicyTier(p.Name, p.Spec.Tier)
	case *api.GlobalNetworkPolicy:
		return api.PolicyTier(p.Name, p.Spec.Tier)
	}
	return ""
}
