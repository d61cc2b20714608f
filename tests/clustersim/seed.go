package clustersim

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// Resources lists every resource of the cluster, shared ones first, then per node its Node and endpoints, then
// the policies.
func (s Sizes) Resources() []api.Resource {
	out := Shared()
	for i := range s.Nodes {
		out = append(out, s.NodeResource(i))
		for _, w := range s.NodeEndpoints(i) {
			out = append(out, w)
		}
	}
	for p := range s.Policies {
		out = append(out, s.Policy(p))
	}
	return out
}

// Seed writes the cluster into the datastore as calico-node, the CNI plugin and calicoctl would (resources
// through Create, block affinities as IPAM stores them), with workers writes in flight.
func Seed(ctx context.Context, ds *datastore.Etcd, s Sizes, workers int) error {
	res := s.Resources()
	workers = max(1, workers)
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(res) || ctx.Err() != nil {
					return
				}
				if _, err := ds.Create(ctx, res[i]); err != nil {
					errs <- fmt.Errorf("seeding %s: %w", api.ID(res[i]), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for i := range s.Nodes {
		for k, v := range s.Affinities(i) {
			if _, err := ds.Raw().Put(ctx, k, v); err != nil {
				return fmt.Errorf("seeding block affinity %s: %w", k, ds.Classify(err))
			}
		}
	}
	return nil
}

// EncodedBytes is the size of the cluster's resources as JSON with their keys: the generated data, for scaling
// the measured stored size to other sizes.
func (s Sizes) EncodedBytes() (int64, error) {
	var n int64
	for _, r := range s.Resources() {
		api.SetTypeMeta(r)
		b, err := api.Marshal(r)
		if err != nil {
			return 0, fmt.Errorf("encoding %s: %w", api.ID(r), err)
		}
		m := r.GetObjectMeta()
		n += int64(len(b) + len(datastore.ResourceKey(api.KindOf(r), m.Namespace, m.Name)))
	}
	for i := range s.Nodes {
		for k, v := range s.Affinities(i) {
			n += int64(len(k) + len(v))
		}
	}
	return n, nil
}

// StoredBytes is the size of the keys and values etcd holds under the prefixes: the raw data a watcher of them
// receives in its listing.
func StoredBytes(ctx context.Context, cli *clientv3.Client, prefixes ...string) (int64, int, error) {
	var n int64
	keys := 0
	for _, p := range prefixes {
		resp, err := cli.Get(ctx, p, clientv3.WithPrefix())
		if err != nil {
			return 0, 0, fmt.Errorf("listing %s: %w", p, err)
		}
		for _, kv := range resp.Kvs {
			n += int64(len(kv.Key) + len(kv.Value))
		}
		keys += len(resp.Kvs)
	}
	return n, keys, nil
}

// DecodeCost is the CPU one watcher spends decoding the value stored at key into a resource, as every felix and
// confd watch does for every resource it receives: the mean over times decodes of this process's CPU, so call it
// while nothing else in the process is busy.
func DecodeCost(ctx context.Context, cli *clientv3.Client, key string, times int) (time.Duration, error) {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", key, err)
	}
	if len(resp.Kvs) != 1 {
		return 0, fmt.Errorf("%s is not stored", key)
	}
	kv := resp.Kvs[0]
	times = max(1, times)
	before, err := ReadProc(os.Getpid())
	if err != nil {
		return 0, err
	}
	for range times {
		if _, err := datastore.DecodeResource(key, kv.Value, kv.ModRevision); err != nil {
			return 0, err
		}
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		return 0, err
	}
	return (after.CPU - before.CPU) / time.Duration(times), nil
}
