package controllers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// controller is one controller's edge: a queue of keys, filled by informer events and by resyncs, and one worker
// that makes the datastore match Kubernetes for one key at a time. A failed key is retried with exponential
// backoff; the failure is logged when the controller starts failing and when it recovers, not on every attempt.
type controller struct {
	name  string
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]
	// start, when set, starts what the controller watches besides its informers.
	start func(ctx context.Context)
	// informers are the ones the controller reads; synced says whether they (and whatever else it watches)
	// have listed everything.
	informers []cache.SharedIndexInformer
	synced    []cache.InformerSynced
	// sync makes the datastore match Kubernetes for one key.
	sync func(ctx context.Context, key string) error
	// keys lists every key either side holds: what Kubernetes has and what this controller owns in the
	// datastore (so that what was deleted while nobody watched is found).
	keys func(ctx context.Context) ([]string, error)
	// afterResync, when set, runs after each resync has been worked through (the IPAM garbage collector).
	afterResync func(ctx context.Context) error

	failing  atomic.Bool
	failedAt atomic.Int64 // unix nanoseconds of the first failure after success
	ready    atomic.Bool
	mu       sync.Mutex // guards pending
	pending  map[string]bool
}

func newController(name string, log *slog.Logger) *controller {
	return &controller{
		name: name,
		log:  log.With("controller", name),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
	}
}

// watch registers an informer the controller reads, with its event handler. Handlers are added before the
// informers start, so this fails only on a programming error.
func (c *controller) watch(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	if _, err := inf.AddEventHandler(h); err != nil {
		panic(err)
	}
	c.informers = append(c.informers, inf)
	c.synced = append(c.synced, inf.HasSynced)
}

// enqueue is what informer and datastore events call.
func (c *controller) enqueue(key string) { c.queue.Add(key) }

// handler enqueues the key of every added, changed or deleted object.
func (c *controller) handler(keyOf func(obj any) (string, bool)) cache.ResourceEventHandler {
	add := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if key, ok := keyOf(obj); ok {
			c.enqueue(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, obj any) { add(obj) },
		DeleteFunc: add,
	}
}

// run works the queue until ctx ends: it waits for the informers, resyncs, then resyncs again every period.
func (c *controller) run(ctx context.Context, period time.Duration) {
	defer c.queue.ShutDown()
	if c.start != nil {
		c.start(ctx)
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("Controller's caches are in sync; starting")
	go c.work(ctx)
	c.resync(ctx)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.resync(ctx)
		}
	}
}

// resync queues every key either side holds and waits until the worker has been through them. Listing the
// datastore is retried with backoff until it works or ctx ends.
func (c *controller) resync(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		keys, err := c.keys(ctx)
		if err == nil {
			c.waitFor(ctx, keys)
			break
		}
		c.failed(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	if c.afterResync != nil && !c.failing.Load() {
		if err := c.afterResync(ctx); err != nil {
			c.failed(err)
			return
		}
	}
	if ctx.Err() == nil && !c.failing.Load() && !c.ready.Swap(true) {
		c.log.Info("Controller is in sync")
	}
}

// waitFor queues keys and returns once each has been worked successfully (or ctx ends). A key that keeps
// failing keeps the resync waiting, which keeps the controller unready: that is what readiness means here.
func (c *controller) waitFor(ctx context.Context, keys []string) {
	c.mu.Lock()
	c.pending = make(map[string]bool, len(keys))
	for _, k := range keys {
		c.pending[k] = true
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.queue.Add(k)
	}
	for ctx.Err() == nil {
		c.mu.Lock()
		n := len(c.pending)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *controller) work(ctx context.Context) {
	for c.next(ctx) {
	}
}

func (c *controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	err := c.sync(ctx, key)
	var perm *permanentError
	switch {
	case err == nil:
		c.queue.Forget(key)
		c.done(key)
		c.recovered()
	case errors.As(err, &perm):
		// Retrying cannot help (the object cannot be expressed); it is retried when it changes.
		c.queue.Forget(key)
		c.done(key)
		c.log.Error("Cannot sync object; leaving the datastore as it is until the object changes", "key", key, "error", err)
	case ctx.Err() != nil:
	default:
		c.failed(err)
		c.log.Debug("Sync failed; retrying with backoff", "key", key, "error", err)
		c.queue.AddRateLimited(key)
	}
	return true
}

func (c *controller) done(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

// failed logs the first failure after success; later ones until recovery are logged at debug level only.
func (c *controller) failed(err error) {
	if c.failing.Swap(true) {
		return
	}
	c.failedAt.Store(time.Now().UnixNano())
	c.log.Warn("Controller cannot sync; retrying with backoff", "error", err)
}

func (c *controller) recovered() {
	if !c.failing.Load() {
		return
	}
	c.failing.Store(false)
	c.log.Info("Controller syncs again", "after", time.Since(time.Unix(0, c.failedAt.Load())).Round(time.Millisecond))
}

// healthy is whether the controller has finished a resync and is not failing now.
func (c *controller) healthy() bool { return c.ready.Load() && !c.failing.Load() }

// permanentError marks a sync error that retrying will not fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
