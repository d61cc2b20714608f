package controllers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// apiCheckInterval is how often the API server's /readyz is asked while it answers; while it does not, the
// informers' own retries go on and the check repeats at the same pace.
var apiCheckInterval = 5 * time.Second

// apiHealth tracks whether the API server answers. The informers retry with backoff by themselves (and log
// their attempts only at debug level); this logs one line when the API server is lost and one when it answers
// again, and makes the controllers unready in between.
type apiHealth struct {
	kube    kubernetes.Interface
	log     *slog.Logger
	failing atomic.Bool
	since   time.Time
	poke    chan struct{}
}

func newAPIHealth(kube kubernetes.Interface, log *slog.Logger) *apiHealth {
	return &apiHealth{kube: kube, log: log, poke: make(chan struct{}, 1)}
}

// run checks the API server every apiCheckInterval, and at once when an informer reports an error.
func (h *apiHealth) run(ctx context.Context) {
	t := time.NewTicker(apiCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.poke:
		}
		h.check(ctx)
	}
}

func (h *apiHealth) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, apiCheckInterval)
	defer cancel()
	err := h.kube.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
	case err != nil && !h.failing.Load():
		h.failing.Store(true)
		h.since = time.Now()
		h.log.Warn("Kubernetes API server unreachable; informers retry with backoff", "error", err)
	case err == nil && h.failing.Load():
		h.failing.Store(false)
		h.log.Info("Kubernetes API server reachable again", "after", time.Since(h.since).Round(time.Millisecond))
	}
}

// watchError is every informer's watch error handler: it has the API server checked now.
func (h *apiHealth) watchError(_ *cache.Reflector, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return // the server closed a watch; the reflector simply watches again
	}
	h.log.Debug("Informer list or watch failed", "error", err)
	select {
	case h.poke <- struct{}{}:
	default:
	}
}
