package confd

import (
	"context"
	"maps"
	"sync"
)

// memSource is an in-memory Source for tests: a key map guarded by a mutex, a revision bumped on every
// change and a change channel with room for one signal.
type memSource struct {
	mu      sync.Mutex
	kv      map[string]string
	rev     uint64
	changed chan struct{}
}

func newMemSource(kv map[string]string) *memSource {
	return &memSource{kv: maps.Clone(kv), rev: 1, changed: make(chan struct{}, 1)}
}

func (s *memSource) Snapshot(ctx context.Context) (map[string]string, uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.kv), s.rev, nil
}

func (s *memSource) Changed() <-chan struct{} { return s.changed }

// Set stores one key and signals the change.
func (s *memSource) Set(key, value string) {
	s.mu.Lock()
	s.kv[key] = value
	s.rev++
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default: // a signal is already pending; the reader will see this change too
	}
}
