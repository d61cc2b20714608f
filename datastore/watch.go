package datastore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
)

// EventType says what an Event means.
type EventType int

// Event types. A consumer that applies them in order keeps a copy of the store that is always right:
// on Resync it forgets everything, the Added events that follow are the complete current state, and InSync says
// the listing is over and live changes follow.
const (
	Added EventType = iota
	Modified
	Deleted
	Resync
	InSync
)

func (t EventType) String() string {
	return [...]string{"Added", "Modified", "Deleted", "Resync", "InSync"}[t]
}

// Event is one change under a watched prefix.
type Event struct {
	Type     EventType
	Key      string
	Value    []byte       // the new value; for Deleted, the last value
	Resource api.Resource // Value decoded, when Key is a resource key
	Revision int64
}

// Watch streams the changes under prefix. With fromRevision 0 it first lists the prefix (Resync, Added…, InSync).
// With fromRevision > 0 it delivers the changes made at and after that revision. When etcd has compacted away
// revisions the watch still needs, or the watch breaks, it resyncs: Resync, the full listing, InSync, then live
// changes. It survives etcd restarts (retrying with backoff, never polling while connected) and closes the channel
// when ctx ends.
func (e *Etcd) Watch(ctx context.Context, prefix string, fromRevision int64) <-chan Event {
	ch := make(chan Event, 256)
	go e.watchLoop(ctx, prefix, fromRevision, ch)
	return ch
}

func (e *Etcd) watchLoop(ctx context.Context, prefix string, rev int64, ch chan<- Event) {
	defer close(ch)
	emit := func(ev Event) bool {
		select {
		case ch <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	backoff := newBackoff()
	for ctx.Err() == nil {
		if rev == 0 {
			next, ok := e.resync(ctx, prefix, emit, backoff)
			if !ok {
				return
			}
			rev = next
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := e.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithPrevKV())
		for resp := range wch {
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				slog.Info("watch revision compacted, resyncing", "prefix", prefix, "revision", rev, "compacted", resp.CompactRevision)
				rev = 0
				break
			}
			if err := resp.Err(); err != nil {
				slog.Warn("watch broken, will restart", "prefix", prefix, "revision", rev, "err", err)
				break
			}
			backoff.reset()
			for _, ev := range resp.Events {
				if !emit(toEvent(ev)) {
					cancel()
					return
				}
				rev = ev.Kv.ModRevision + 1
			}
		}
		cancel()
		if ctx.Err() == nil && rev != 0 {
			if !backoff.wait(ctx) {
				return
			}
		}
	}
}

// listPage is how many keys one request of a listing returns. A prefix of 50,000 endpoints is about 40 MB; one
// request for all of it can outlast the request timeout on a busy etcd, and retrying it from the start never ends.
// Pages of this size each take milliseconds, and each gets the whole timeout.
const listPage = 500

// resync lists the prefix and emits Resync, Added for each key, InSync. It reads the prefix in pages of listPage
// keys, every page at the first page's revision, so the listing is one consistent snapshot however long it takes.
// It retries (from the first page, after a new Resync) until it succeeds or ctx ends, and returns the revision to
// watch from.
func (e *Etcd) resync(ctx context.Context, prefix string, emit func(Event) bool, b *backoff) (int64, bool) {
	for {
		rev, ok, err := e.list(ctx, prefix, emit)
		if err == nil {
			b.reset()
			return rev + 1, ok
		}
		if !ok {
			return 0, false
		}
		slog.Warn("listing for watch failed, retrying", "prefix", prefix, "err", e.wrap(err))
		if !b.wait(ctx) {
			return 0, false
		}
	}
}

// list emits one listing of the prefix, page by page. ok is false when emit refused (ctx ended).
func (e *Etcd) list(ctx context.Context, prefix string, emit func(Event) bool) (rev int64, ok bool, err error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		lctx, cancel := e.ctx(ctx)
		resp, err := e.cli.Get(lctx, from, opts...)
		cancel()
		if err != nil {
			return 0, ctx.Err() == nil, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
			if !emit(Event{Type: Resync, Revision: rev}) {
				return 0, false, nil
			}
		}
		for _, kv := range resp.Kvs {
			if !emit(newEvent(Added, kv)) {
				return 0, false, nil
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return rev, emit(Event{Type: InSync, Revision: rev}), nil
}

func toEvent(ev *clientv3.Event) Event {
	switch {
	case ev.Type == mvccpb.DELETE:
		out := Event{Type: Deleted, Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}
		if ev.PrevKv != nil {
			out.Value = ev.PrevKv.Value
			out.Resource = decodeIfResource(out.Key, ev.PrevKv.Value, ev.PrevKv.ModRevision)
		}
		return out
	case ev.IsCreate():
		return newEvent(Added, ev.Kv)
	default:
		return newEvent(Modified, ev.Kv)
	}
}

func newEvent(t EventType, kv *mvccpb.KeyValue) Event {
	key := string(kv.Key)
	return Event{Type: t, Key: key, Value: kv.Value, Revision: kv.ModRevision,
		Resource: decodeIfResource(key, kv.Value, kv.ModRevision)}
}

func decodeIfResource(key string, value []byte, rev int64) api.Resource {
	if !strings.HasPrefix(key, ResourcePrefix) {
		return nil
	}
	r, err := DecodeResource(key, value, rev)
	if err != nil {
		slog.Warn("ignoring undecodable resource in watch", "key", key, "err", err)
		return nil
	}
	return r
}

// backoff spaces out retries: 100ms doubling to 5s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	if b.d *= 2; b.d > 5*time.Second {
		b.d = 5 * time.Second
	}
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// StoredEvent is the event a watch delivers when r is stored at revision rev: the value as the datastore writes it,
// decoded as a watch decodes it. It lets benchmarks feed consumers exactly what etcd would, without etcd.
func StoredEvent(typ EventType, r api.Resource, rev int64) (Event, error) {
	api.SetTypeMeta(r)
	m := r.GetObjectMeta()
	key := ResourceKey(api.KindOf(r), m.Namespace, m.Name)
	value, err := marshal(r)
	if err != nil {
		return Event{}, fmt.Errorf("encoding %s: %w", key, err)
	}
	res, err := DecodeResource(key, value, rev)
	if err != nil {
		return Event{}, err
	}
	return Event{Type: typ, Key: key, Value: value, Resource: res, Revision: rev}, nil
}
