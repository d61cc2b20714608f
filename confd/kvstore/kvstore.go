// Package kvstore is the read-only key store that confd templates query: a set of slash-separated key paths
// (such as /host/node1/ip_addr_v4) with string values, plus the lookups templates need (exact key, glob,
// children of a directory). A Store is built once per render and never changes afterwards, so it needs no
// locking.
package kvstore

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// ErrNotFound is returned (wrapped, with the key) when a key is not in the store.
var ErrNotFound = errors.New("key not found")

// KVPair is one key and its value; templates read it as .Key and .Value.
type KVPair struct {
	Key   string
	Value string
}

// Store maps key paths to values.
type Store struct {
	kv map[string]string
}

// New returns a store over kv. The store uses kv directly, so the caller must not modify it afterwards.
func New(kv map[string]string) *Store {
	if kv == nil {
		kv = map[string]string{}
	}
	return &Store{kv: kv}
}

// Len returns the number of keys in the store.
func (s *Store) Len() int { return len(s.kv) }

// Get returns the pair stored under key.
func (s *Store) Get(key string) (KVPair, error) {
	v, ok := s.kv[key]
	if !ok {
		return KVPair{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return KVPair{Key: key, Value: v}, nil
}

// GetValue returns the value stored under key. When the key is missing it returns def[0] if a default was
// given, and an error otherwise.
func (s *Store) GetValue(key string, def ...string) (string, error) {
	if len(def) > 1 {
		return "", fmt.Errorf("getting %s: at most one default value allowed, got %d", key, len(def))
	}
	v, ok := s.kv[key]
	if ok {
		return v, nil
	}
	if len(def) == 1 {
		return def[0], nil
	}
	return "", fmt.Errorf("%w: %s", ErrNotFound, key)
}

// Exists reports whether key is in the store.
func (s *Store) Exists(key string) bool {
	_, ok := s.kv[key]
	return ok
}

// GetAll returns the pairs whose key matches the path.Match pattern, sorted by key.
func (s *Store) GetAll(pattern string) ([]KVPair, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("matching %q: %w", pattern, err)
	}
	prefix, suffix := literalEnds(pattern)
	var out []KVPair
	for k, v := range s.kv {
		// The literal ends are a cheap necessary condition; path.Match decides.
		if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, suffix) {
			continue
		}
		if ok, _ := path.Match(pattern, k); ok {
			out = append(out, KVPair{Key: k, Value: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// literalEnds returns the text before the first and after the last special character of a path.Match
// pattern; every key the pattern matches starts and ends with them.
func literalEnds(pattern string) (prefix, suffix string) {
	const special = `*?[]\`
	first := strings.IndexAny(pattern, special)
	if first < 0 {
		return pattern, ""
	}
	return pattern[:first], pattern[strings.LastIndexAny(pattern, special)+1:]
}

// GetAllValues returns the values of the keys matching the path.Match pattern, sorted as strings.
func (s *Store) GetAllValues(pattern string) ([]string, error) {
	pairs, err := s.GetAll(pattern)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.Value
	}
	sort.Strings(out)
	return out, nil
}

// All returns every pair in the store, sorted by key.
func (s *Store) All() []KVPair {
	out := make([]KVPair, 0, len(s.kv))
	for k, v := range s.kv {
		out = append(out, KVPair{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// List returns the sorted, unique names of the direct children of dir: for keys /a/b/c and /a/d it returns
// [b d] for dir /a. Only whole path segments match, so /a lists nothing from a key /ab/c.
func (s *Store) List(dir string) []string {
	return s.children(dir, false)
}

// ListDir is List restricted to children that have children of their own (directories, not leaf keys).
func (s *Store) ListDir(dir string) []string {
	return s.children(dir, true)
}

func (s *Store) children(dir string, dirsOnly bool) []string {
	prefix := path.Clean("/"+dir) + "/"
	if prefix == "//" {
		prefix = "/"
	}
	seen := map[string]bool{}
	for k := range s.kv {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || rest == "" {
			continue
		}
		child, _, hasMore := strings.Cut(rest, "/")
		if child == "" || dirsOnly && !hasMore {
			continue
		}
		seen[child] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
