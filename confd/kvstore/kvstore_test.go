package kvstore

import (
	"errors"
	"reflect"
	"testing"
)

func testStore() *Store {
	return New(map[string]string{
		"/global/as_num":              "64512",
		"/host/node1/ip_addr_v4":      "10.0.0.1",
		"/host/node1/as_num":          "64513",
		"/host/node10/ip_addr_v4":     "10.0.0.10",
		"/host/node2/ip_addr_v4":      "10.0.0.2",
		"/host/node2/peer_v4/1.2.3.4": `{"ip":"1.2.3.4"}`,
	})
}

func TestGet(t *testing.T) {
	s := testStore()
	got, err := s.Get("/global/as_num")
	if err != nil || got != (KVPair{Key: "/global/as_num", Value: "64512"}) {
		t.Errorf("Get(/global/as_num) = %+v, %v; want {/global/as_num 64512}, nil", got, err)
	}
	if _, err := s.Get("/global/missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(/global/missing) error = %v; want ErrNotFound", err)
	}
}

func TestGetValue(t *testing.T) {
	s := testStore()
	tests := []struct {
		name    string
		key     string
		def     []string
		want    string
		wantErr bool
	}{
		{name: "a present key returns its value", key: "/global/as_num", want: "64512"},
		{name: "a present key ignores the default", key: "/global/as_num", def: []string{"1"}, want: "64512"},
		{name: "a missing key with a default returns the default", key: "/nope", def: []string{"d"}, want: "d"},
		{name: "a missing key with an empty default returns empty", key: "/nope", def: []string{""}, want: ""},
		{name: "a missing key without a default is an error", key: "/nope", wantErr: true},
		{name: "two defaults are an error", key: "/nope", def: []string{"a", "b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetValue(tt.key, tt.def...)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("GetValue(%q, %q) = %q, %v; want %q, error=%v", tt.key, tt.def, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestGetAll(t *testing.T) {
	s := testStore()
	got, err := s.GetAll("/host/*/ip_addr_v4")
	if err != nil {
		t.Fatal(err)
	}
	want := []KVPair{
		{"/host/node1/ip_addr_v4", "10.0.0.1"},
		{"/host/node10/ip_addr_v4", "10.0.0.10"},
		{"/host/node2/ip_addr_v4", "10.0.0.2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetAll(/host/*/ip_addr_v4) = %v; want %v", got, want)
	}
	if _, err := s.GetAll("/host/["); err == nil {
		t.Error("GetAll with a malformed pattern returned no error; want ErrBadPattern")
	}
	none, err := s.GetAll("/nothing/*")
	if err != nil || len(none) != 0 {
		t.Errorf("GetAll(/nothing/*) = %v, %v; want empty, nil", none, err)
	}
}

func TestGetAllValuesSortsValuesNotKeys(t *testing.T) {
	s := New(map[string]string{"/a/1": "zeta", "/a/2": "alpha", "/a/3": "mu"})
	got, err := s.GetAllValues("/a/*")
	if want := []string{"alpha", "mu", "zeta"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetAllValues(/a/*) = %v, %v; want %v", got, err, want)
	}
}

func TestAllIsSortedByKey(t *testing.T) {
	s := New(map[string]string{"/b": "2", "/a": "1"})
	if got, want := s.All(), []KVPair{{"/a", "1"}, {"/b", "2"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("All() = %v; want %v", got, want)
	}
}

func TestListAndListDir(t *testing.T) {
	s := testStore()
	tests := []struct {
		name    string
		dir     string
		dirOnly bool
		want    []string
	}{
		{name: "host lists every node once, sorted", dir: "/host", want: []string{"node1", "node10", "node2"}},
		{name: "a trailing slash is ignored", dir: "/host/", want: []string{"node1", "node10", "node2"}},
		{name: "a node lists its leaves and directories", dir: "/host/node2", want: []string{"ip_addr_v4", "peer_v4"}},
		{name: "node1 does not see node10's keys", dir: "/host/node1", want: []string{"as_num", "ip_addr_v4"}},
		{name: "the root lists the top level", dir: "/", want: []string{"global", "host"}},
		{name: "a leaf key has no children", dir: "/global/as_num", want: []string{}},
		{name: "a missing directory has no children", dir: "/missing", want: []string{}},
		{name: "lsdir keeps only children with children", dir: "/host/node2", dirOnly: true, want: []string{"peer_v4"}},
		{name: "lsdir of host returns every node", dir: "/host", dirOnly: true, want: []string{"node1", "node10", "node2"}},
		{name: "lsdir of a directory of leaves is empty", dir: "/global", dirOnly: true, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if tt.dirOnly {
				got = s.ListDir(tt.dir)
			} else {
				got = s.List(tt.dir)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("list(%q, dirsOnly=%v) = %q; want %q", tt.dir, tt.dirOnly, got, tt.want)
			}
		})
	}
}

func TestExists(t *testing.T) {
	s := testStore()
	if !s.Exists("/global/as_num") {
		t.Error("Exists(/global/as_num) = false; want true")
	}
	if s.Exists("/global") {
		t.Error("Exists(/global) = true for a directory; want false (only keys exist)")
	}
}

func TestNilMapMakesAnEmptyStore(t *testing.T) {
	s := New(nil)
	if s.Len() != 0 || s.Exists("/a") || len(s.List("/")) != 0 {
		t.Errorf("New(nil) is not an empty store: len %d", s.Len())
	}
}

func TestGetAllPatterns(t *testing.T) {
	s := New(map[string]string{
		"/a/x/v":   "1",
		"/a/y/v":   "2",
		"/a/y/w":   "3",
		"/a/*/v":   "star",
		"/b/x/v":   "4",
		"/a/x/v/z": "5",
		"/a/[x]":   "6",
	})
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{name: "a star matches one segment", pattern: "/a/*/v", want: []string{"/a/*/v", "/a/x/v", "/a/y/v"}},
		{name: "a literal pattern matches exactly one key", pattern: "/a/x/v", want: []string{"/a/x/v"}},
		{name: "a question mark matches one character", pattern: "/?/x/v", want: []string{"/a/x/v", "/b/x/v"}},
		{name: "a character class", pattern: "/a/[xy]/w", want: []string{"/a/y/w"}},
		{name: "a negated class", pattern: "/a/[^x]/v", want: []string{"/a/*/v", "/a/y/v"}},
		{name: "an escaped star is literal", pattern: `/a/\*/v`, want: []string{"/a/*/v"}},
		{name: "an escaped bracket is literal", pattern: `/a/\[x]`, want: []string{"/a/[x]"}},
		{name: "a trailing star", pattern: "/a/x/*", want: []string{"/a/x/v"}},
		{name: "a leading star", pattern: "*", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs, err := s.GetAll(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, p := range pairs {
				got = append(got, p.Key)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GetAll(%q) keys = %q; want %q", tt.pattern, got, tt.want)
			}
		})
	}
}
