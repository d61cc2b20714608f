package calicoctl

import (
	"context"
	"fmt"
	"net"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/ipam"
)

// beforeWrite runs the checks and side effects that writing r needs beyond r itself. cur is the stored version
// of r, or nil when r is new.
func beforeWrite(ctx context.Context, ds datastore.Client, r, cur api.Resource) error {
	pool, ok := r.(*api.IPPool)
	if !ok {
		return nil
	}
	if cur != nil {
		if err := poolChangeAllowed(cur.(*api.IPPool), pool); err != nil {
			return err
		}
	}
	// Like today's Calico, writing a pool touches no FelixConfiguration: felix turns IPIP and VXLAN on from the
	// pools' modes itself.
	return checkOverlap(ctx, ds, pool)
}

// poolChangeAllowed rejects a change of the fields a pool's allocated blocks depend on, and (as Calico does) the
// turning of a LoadBalancer pool into one for workloads or tunnels.
func poolChangeAllowed(old, updated *api.IPPool) error {
	if old.Allows(api.IPPoolAllowedUseLoadBalancer) {
		for i, u := range updated.Spec.AllowedUses {
			if u != api.IPPoolAllowedUseLoadBalancer {
				return api.FieldError{Field: fmt.Sprintf("spec.allowedUses[%d]", i), Value: u,
					Reason: "the allowed use of a LoadBalancer IPPool cannot be changed to Workload or Tunnel"}
			}
		}
	}
	if sameCIDR(old.Spec.CIDR, updated.Spec.CIDR) {
		if old.Spec.BlockSize != updated.Spec.BlockSize {
			return api.FieldError{Field: "spec.blockSize", Value: updated.Spec.BlockSize,
				Reason: fmt.Sprintf("blockSize of an IPPool cannot be changed: it is %d", old.Spec.BlockSize)}
		}
		return nil
	}
	return api.FieldError{Field: "spec.cidr", Value: updated.Spec.CIDR,
		Reason: fmt.Sprintf("cidr of an IPPool cannot be changed: it is %s; create a new pool instead", old.Spec.CIDR)}
}

// sameCIDR compares two CIDRs by value, so that two spellings of one IPv6 network are equal.
func sameCIDR(a, b string) bool {
	_, na, errA := net.ParseCIDR(a)
	_, nb, errB := net.ParseCIDR(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return na.String() == nb.String()
}

func checkOverlap(ctx context.Context, ds datastore.Client, pool *api.IPPool) error {
	stored, _, err := ds.List(ctx, api.KindOf(pool), "")
	if err != nil {
		return fmt.Errorf("listing IPPools to check for overlap: %w", err)
	}
	existing := make([]*api.IPPool, 0, len(stored))
	for _, r := range stored {
		existing = append(existing, r.(*api.IPPool))
	}
	return api.PoolsOverlap(pool, existing)
}

// retirePool prepares a pool for deletion as Calico does: it disables the pool so that no new block is claimed
// from it, then gives back every block affinity inside it (empty blocks are deleted; addresses in use stay
// allocated until their workloads release them). It returns the pool's resourceVersion after disabling it.
func retirePool(ctx context.Context, ds datastore.Client, k *api.Kind, name, version string) (string, error) {
	r, err := ds.Get(ctx, k, "", name)
	if err != nil {
		return "", err
	}
	pool := r.(*api.IPPool)
	if version != "" && pool.ResourceVersion != version {
		return "", nil // the delete itself reports the stale version
	}
	if !pool.Spec.Disabled {
		pool.Spec.Disabled = true
		if _, err := ds.Update(ctx, pool); err != nil {
			return "", fmt.Errorf("disabling IPPool(%s) before deleting it: %w", name, err)
		}
	}
	var m *ipam.IPAM
	switch d := ds.(type) {
	case *connect.Datastore:
		m = d.IPAM
	case *datastore.Etcd:
		m = ipam.New(d)
	}
	if m != nil {
		if err := m.ReleasePoolAffinities(ctx, pool.Spec.CIDR); err != nil {
			return "", fmt.Errorf("releasing the blocks of IPPool(%s): %w", name, err)
		}
	}
	return pool.ResourceVersion, nil
}
