package ipam

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/datastore"
)

// Store is where IPAM keeps its keys (Calico's etcd layout, see the package comment): etcd itself, or the
// Kubernetes datastore's custom resources behind the same keys (datastore/kdd). The allocator only reads keys
// and commits guarded changes; each store says how close to atomic it can make them.
type Store interface {
	// Read runs the gets, at one revision where the store can give one; one result per get.
	Read(ctx context.Context, gets ...Get) ([][]KV, error)
	// Commit applies ops if every guard holds; false (and no error) when one does not.
	Commit(ctx context.Context, guards []Guard, ops []Op) (bool, error)
}

// revisionStore is a Store that says at which revision a commit took effect. Every key the commit wrote then has
// that mod revision, so the allocator can keep what it wrote as though it had read it back (see cache).
type revisionStore interface {
	Store
	// CommitAt is Commit, also returning the revision of a commit that succeeded.
	CommitAt(ctx context.Context, guards []Guard, ops []Op) (ok bool, rev int64, err error)
}

// Get reads one key, or every key under a prefix; with KeysOnly the values may be left out.
type Get struct {
	Key              string
	Prefix, KeysOnly bool
}

// KV is one key read, with the version to guard a later change on.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Guard is a condition of a commit: Key still has ModRevision Rev (0: still absent), or, with NoneUnder, no key
// exists under the prefix Key, or, with NoneAfter, no key under the prefix Key was created or changed after
// revision Rev. NoneAfter is given only to stores that implement CommitAt (revisions are global there).
type Guard struct {
	Key       string
	Rev       int64
	NoneUnder bool
	NoneAfter bool
}

// Op is one change of a commit: a put of Value, or a delete.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// etcdStore is IPAM on etcd: every commit is one transaction.
type etcdStore struct {
	cli *clientv3.Client
	ds  *datastore.Etcd // for its request timeout and its classification of transport errors
}

// EtcdStore is the store of an etcd datastore.
func EtcdStore(ds *datastore.Etcd) Store { return etcdStore{cli: ds.Raw(), ds: ds} }

func (s etcdStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.ds.RequestTimeout())
}

func (s etcdStore) Read(ctx context.Context, gets ...Get) ([][]KV, error) {
	ops := make([]clientv3.Op, len(gets))
	for i, g := range gets {
		var opts []clientv3.OpOption
		if g.Prefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		if g.KeysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		ops[i] = clientv3.OpGet(g.Key, opts...)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("reading IPAM state: %w", s.ds.Classify(err))
	}
	out := make([][]KV, len(resp.Responses))
	for i, r := range resp.Responses {
		kvs := r.GetResponseRange().Kvs
		out[i] = make([]KV, len(kvs))
		for j, kv := range kvs {
			out[i][j] = KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
		}
	}
	return out, nil
}

func (s etcdStore) Commit(ctx context.Context, guards []Guard, ops []Op) (bool, error) {
	ok, _, err := s.CommitAt(ctx, guards, ops)
	return ok, err
}

// CommitAt runs one transaction; a write transaction's header revision is the mod revision of every key it wrote.
func (s etcdStore) CommitAt(ctx context.Context, guards []Guard, ops []Op) (bool, int64, error) {
	cmps := make([]clientv3.Cmp, len(guards))
	for i, g := range guards {
		switch {
		case g.NoneUnder:
			// Compared over a whole prefix, "create revision = 0" holds only when no key exists under it.
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(g.Key), "=", 0).WithPrefix()
		case g.NoneAfter:
			// Over a prefix, a comparison must hold for every key under it (and holds when there is none).
			cmps[i] = clientv3.Compare(clientv3.ModRevision(g.Key), "<", g.Rev+1).WithPrefix()
		default:
			cmps[i] = clientv3.Compare(clientv3.ModRevision(g.Key), "=", g.Rev)
		}
	}
	eops := make([]clientv3.Op, len(ops))
	for i, o := range ops {
		if o.Delete {
			eops[i] = clientv3.OpDelete(o.Key)
		} else {
			eops[i] = clientv3.OpPut(o.Key, string(o.Value))
		}
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(eops...).Commit()
	if err != nil {
		return false, 0, fmt.Errorf("etcd transaction: %w", s.ds.Classify(err))
	}
	return resp.Succeeded, resp.Header.Revision, nil
}
