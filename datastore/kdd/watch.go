package kdd

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// Watch streams the changes under an etcd-layout prefix as datastore.Event values with etcd-layout keys, so that
// a consumer written for etcd reads the same stream: Resync, the listing of every feed behind the prefix as
// Added, InSync, then live changes. When the API server no longer has a version a feed's watch needs (410 Gone)
// it lists everything again (Resync, the listings, InSync): consumers forget what they had on Resync, so a
// partial listing would lose the other feeds' entries. A broken watch is resumed from its last version.
// fromRevision is ignored: resource versions of different resources do not compare, so every watch lists first.
// A prefix this datastore cannot serve closes the channel at once, after logging why.
func (c *Client) Watch(ctx context.Context, prefix string, _ int64) <-chan datastore.Event {
	ch := make(chan datastore.Event, 256)
	feeds, err := feedsForPrefix(prefix)
	if err != nil {
		slog.Error("Kubernetes datastore cannot watch this prefix", "prefix", prefix, "error", err)
		close(ch)
		return ch
	}
	w := &watcher{c: c, feeds: feeds, ch: ch, prefix: prefix}
	go w.loop(ctx)
	return ch
}

// kindOfPrefix reads the kind and namespace of an etcd-layout prefix: a kind's prefix, or a namespace's.
func kindOfPrefix(prefix string) (*api.Kind, string, bool) {
	rest, ok := strings.CutPrefix(prefix, datastore.ResourcePrefix)
	if !ok {
		return nil, "", false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	for _, k := range api.Kinds {
		if k.Plural != parts[0] {
			continue
		}
		switch {
		case len(parts) == 1:
			return k, "", true
		case len(parts) == 2 && k.Namespaced:
			return k, parts[1], true
		}
	}
	return nil, "", false
}

type watcher struct {
	c      *Client
	feeds  []feed
	prefix string
	ch     chan<- datastore.Event
	mu     sync.Mutex // serialises emits from the feeds' goroutines
	// keys remembers, per feed and object, the entries last emitted, to report the ones an object no longer has.
	keys []map[string][]string
}

func (f feed) iface(dyn dynamic.Interface) dynamic.ResourceInterface {
	if f.namespace != "" {
		return dyn.Resource(f.gvr).Namespace(f.namespace)
	}
	return dyn.Resource(f.gvr)
}

// loop lists every feed, watches them all, and starts over when one of them is gone.
func (w *watcher) loop(ctx context.Context) {
	defer close(w.ch)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rvs, ok := w.list(ctx)
		if !ok {
			if !sleep(ctx, &backoff) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		// Watch every feed until one reports Gone (or ctx ends); then list again.
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := range w.feeds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if w.follow(wctx, i, rvs[i]) {
					slog.Info("Kubernetes datastore watch expired; listing again", "prefix", w.prefix,
						"resource", w.feeds[i].gvr.Resource)
					cancel()
				}
			}()
		}
		wg.Wait()
		cancel()
	}
}

// list emits Resync, every feed's listing and InSync; it returns each feed's resourceVersion.
func (w *watcher) list(ctx context.Context) ([]string, bool) {
	rvs := make([]string, len(w.feeds))
	var events []datastore.Event
	w.keys = make([]map[string][]string, len(w.feeds))
	for i, f := range w.feeds {
		lctx, cancel := w.c.ctx(ctx)
		list, err := f.iface(w.c.dyn).List(lctx, metav1.ListOptions{})
		cancel()
		if err != nil {
			slog.Warn("Kubernetes datastore list failed; retrying", "resource", f.gvr.Resource, "error", err)
			return nil, false
		}
		rvs[i] = list.GetResourceVersion()
		w.keys[i] = map[string][]string{}
		for j := range list.Items {
			events = append(events, w.changed(i, datastore.Added, &list.Items[j])...)
		}
	}
	if !w.emit(ctx, datastore.Event{Type: datastore.Resync}) {
		return nil, false
	}
	for _, ev := range events {
		if !w.emit(ctx, ev) {
			return nil, false
		}
	}
	return rvs, w.emit(ctx, datastore.Event{Type: datastore.InSync})
}

// follow watches one feed from rv, resuming after breaks, until ctx ends (false) or the API server says the
// version is gone (true).
func (w *watcher) follow(ctx context.Context, i int, rv string) bool {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		wi, err := w.feeds[i].iface(w.c.dyn).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
				return true
			}
			slog.Warn("Kubernetes datastore watch failed; retrying", "resource", w.feeds[i].gvr.Resource, "error", err)
			if !sleep(ctx, &backoff) {
				return false
			}
			continue
		}
		next, gone := w.drain(ctx, i, wi, rv)
		wi.Stop()
		if gone {
			return true
		}
		if next == rv && !sleep(ctx, &backoff) {
			return false
		}
		if next != rv {
			backoff = 100 * time.Millisecond
		}
		rv = next
	}
	return false
}

// drain delivers one watch's events; it returns the last resourceVersion seen and whether the version is gone.
func (w *watcher) drain(ctx context.Context, i int, wi watch.Interface, rv string) (string, bool) {
	for {
		select {
		case <-ctx.Done():
			return rv, false
		case e, ok := <-wi.ResultChan():
			if !ok {
				return rv, false
			}
			if e.Type == watch.Error {
				status := apierrors.FromObject(e.Object)
				return rv, apierrors.IsGone(status) || apierrors.IsResourceExpired(status)
			}
			u, ok := e.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			rv = u.GetResourceVersion()
			t, ok := map[watch.EventType]datastore.EventType{watch.Added: datastore.Added, watch.Modified: datastore.Modified,
				watch.Deleted: datastore.Deleted}[e.Type]
			if !ok {
				continue // a bookmark: only its version matters
			}
			for _, ev := range w.changed(i, t, u) {
				if !w.emit(ctx, ev) {
					return rv, false
				}
			}
		}
	}
}

// changed turns one object's change into events: its entries as t, and the deletion of entries it had before
// and no longer has.
func (w *watcher) changed(i int, t datastore.EventType, u *unstructured.Unstructured) []datastore.Event {
	id := u.GetNamespace() + "/" + u.GetName()
	rev, _ := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
	var entries []entry
	if t != datastore.Deleted {
		var err error
		if entries, err = w.feeds[i].entries(u); err != nil {
			slog.Warn("Kubernetes datastore skips an object it cannot convert", "resource", w.feeds[i].gvr.Resource,
				"name", id, "error", err)
			entries = nil
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []datastore.Event
	now := map[string]bool{}
	for _, e := range entries {
		now[e.Key] = true
		out = append(out, datastore.Event{Type: t, Key: e.Key, Value: e.Value, Resource: e.Resource, Revision: rev})
	}
	for _, k := range w.keys[i][id] {
		if !now[k] {
			out = append(out, datastore.Event{Type: datastore.Deleted, Key: k, Revision: rev})
		}
	}
	if len(entries) == 0 {
		delete(w.keys[i], id)
	} else {
		keys := make([]string, 0, len(entries))
		for _, e := range entries {
			keys = append(keys, e.Key)
		}
		w.keys[i][id] = keys
	}
	return out
}

func (w *watcher) emit(ctx context.Context, ev datastore.Event) bool {
	select {
	case w.ch <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleep(ctx context.Context, backoff *time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(*backoff):
	}
	*backoff = min(2**backoff, 10*time.Second)
	return true
}
