// Package calico is confd's Source over the Calico datastore: it watches the resources BIRD's configuration
// depends on (Nodes, BGPPeers, BGPFilters, BGPConfigurations, IPPools and this node's block affinities), keeps them in
// memory and publishes the key view that package keyview computes from them, with a revision that moves only
// when the view really changed.
package calico

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/confd/keyview"
	"github.com/calico-l3/calico/datastore"
)

// Watcher is what the Source needs from the datastore (datastore.Client has it).
type Watcher interface {
	Watch(ctx context.Context, prefix string, fromRevision int64) <-chan datastore.Event
}

// Config says whose view to build.
type Config struct {
	// NodeName is this node.
	NodeName string
	// RouterID is CALICO_ROUTER_ID ("", "hash" or an IPv4 address).
	RouterID string
	// LogLevel is BGP_LOGSEVERITYSCREEN; empty leaves it to BGPConfiguration.
	LogLevel string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Secrets are the Kubernetes Secrets BGP passwords are read from; nil when this node has no Kubernetes API.
	Secrets Secrets
}

// Secrets is what the Source needs from a Secret store (k8s/secrets.Store has it).
type Secrets interface {
	// Snapshot is name → key → value.
	Snapshot() map[string]map[string]string
	// Changed receives when a Secret changed.
	Changed() <-chan struct{}
}

// Source is the key view of one node, kept up to date from datastore watches. Create it with New, start Run,
// and hand it to the confd engine.
type Source struct {
	w       Watcher
	cfg     Config
	log     *slog.Logger
	changed chan struct{}
	ready   chan struct{} // closed when the first view is published

	mu   sync.Mutex
	view map[string]string // never modified once published
	rev  uint64
}

// New returns a Source that will watch w for cfg.NodeName once Run is called.
func New(w Watcher, cfg Config) *Source {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Source{w: w, cfg: cfg, log: cfg.Logger, changed: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Prefixes are the datastore key prefixes the view of node depends on.
func Prefixes(node string) []string {
	var out []string
	for _, kind := range []string{"Node", "BGPPeer", "BGPFilter", "BGPConfiguration", "IPPool"} {
		k, err := api.LookupKind(kind)
		if err != nil {
			panic(err) // a kind the api package always registers
		}
		out = append(out, datastore.KindPrefix(k, ""))
	}
	return append(out, datastore.IPAMPrefix+"host/"+node+"/")
}

// Snapshot returns the current key view and its revision. It blocks until the Source has been in sync with the
// datastore once, so a partial view is never rendered. The map must not be modified.
func (s *Source) Snapshot(ctx context.Context) (map[string]string, uint64, error) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("waiting for the first sync with the datastore: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view, s.rev, nil
}

// Changed receives after the view changed; several changes may be reported once.
func (s *Source) Changed() <-chan struct{} { return s.changed }

// watchEvent is an event of the watch on Prefixes()[prefix].
type watchEvent struct {
	prefix int
	ev     datastore.Event
}

// cache is what one watch has delivered.
type cache struct {
	items   map[string]datastore.Event // by key
	syncing bool                       // between Resync and InSync
	synced  bool                       // InSync seen at least once
}

// Run watches the datastore and keeps the view current until ctx ends; it then returns nil. It returns an
// error only if a watch stops on its own.
func (s *Source) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prefixes := Prefixes(s.cfg.NodeName)
	events := make(chan watchEvent, 256)
	stopped := make(chan string, len(prefixes))
	for i, p := range prefixes {
		ch := s.w.Watch(ctx, p, 0)
		go func() {
			for {
				select {
				case ev, ok := <-ch:
					if !ok {
						stopped <- p
						return
					}
					select {
					case events <- watchEvent{i, ev}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	caches := make([]cache, len(prefixes))
	var warnings []string
	var secretsChanged <-chan struct{}
	if s.cfg.Secrets != nil {
		secretsChanged = s.cfg.Secrets.Changed()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-secretsChanged:
		case p := <-stopped:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("datastore watch on %s stopped", p)
		case we := <-events:
			apply(caches, we)
			// Take everything already queued as one batch, so a burst rebuilds the view once.
			for more := true; more; {
				select {
				case we := <-events:
					apply(caches, we)
				default:
					more = false
				}
			}
		}
		if !inSync(caches) {
			continue
		}
		view, warns := keyview.Build(s.input(caches))
		if !slices.Equal(warns, warnings) {
			for _, w := range warns {
				s.log.Warn("Ignoring part of the BGP configuration", "reason", w)
			}
			warnings = warns
		}
		s.publish(view)
	}
}

func apply(caches []cache, we watchEvent) {
	c := &caches[we.prefix]
	switch ev := we.ev; ev.Type {
	case datastore.Resync:
		c.items, c.syncing = map[string]datastore.Event{}, true
	case datastore.InSync:
		c.syncing, c.synced = false, true
	case datastore.Added, datastore.Modified:
		if c.items == nil {
			c.items = map[string]datastore.Event{}
		}
		c.items[ev.Key] = ev
	case datastore.Deleted:
		delete(c.items, ev.Key)
	}
}

func inSync(caches []cache) bool {
	for _, c := range caches {
		if c.syncing || !c.synced {
			return false
		}
	}
	return true
}

// input gathers the cached resources for keyview.
func (s *Source) input(caches []cache) keyview.Input {
	in := keyview.Input{NodeName: s.cfg.NodeName, RouterID: s.cfg.RouterID, LogLevel: s.cfg.LogLevel,
		Affinities: map[string]string{}}
	if s.cfg.Secrets != nil {
		in.Secrets = s.cfg.Secrets.Snapshot()
	}
	for _, c := range caches {
		for key, ev := range c.items {
			if ev.Resource != nil {
				in.Add(ev.Resource)
			} else if strings.HasPrefix(key, datastore.IPAMPrefix) {
				in.Affinities[key] = string(ev.Value)
			}
		}
	}
	return in
}

// publish makes view current if it differs from the current one, and says so on Changed.
func (s *Source) publish(view map[string]string) {
	s.mu.Lock()
	first := s.rev == 0
	if !first && maps.Equal(view, s.view) {
		s.mu.Unlock()
		return
	}
	s.view = view
	s.rev++
	rev := s.rev
	s.mu.Unlock()
	if first {
		s.log.Info("In sync with the datastore", "node", s.cfg.NodeName, "keys", len(view))
		close(s.ready)
	} else {
		s.log.Debug("Key view changed", "revision", rev, "keys", len(view))
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
