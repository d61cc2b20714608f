package calc

import (
	"maps"
	"runtime"
	"testing"
	"weak"

	"github.com/calico-l3/calico/api"
)

func TestLabelSetsShareOnlyEqualMaps(t *testing.T) {
	var s labelSets
	a := s.share(map[string]string{"app": "web", "tier": "front"})
	if b := s.share(map[string]string{"tier": "front", "app": "web"}); b != a {
		t.Error("equal label maps are not shared")
	}
	// Maps that differ, some only where joined strings would run together.
	for _, m := range []map[string]string{
		{},
		{"app": "web"},
		{"app": "web", "tier": "fron"},
		{"app": "webtier", "": "front"},
		{"apptier": "web", "": "front"},
		{"app": "web\x00tier", "x": "front"},
	} {
		if got := s.share(maps.Clone(m)); got == a || !maps.Equal(got.labels, m) {
			t.Errorf("share(%q) = %q, want a set of its own labels", m, got.labels)
		}
	}
}

func TestLabelSetsForgetSetsNoEndpointHolds(t *testing.T) {
	var s labelSets
	func() {
		for i := range 100 {
			s.share(map[string]string{"pod": string(rune('a' + i%26)), "n": string(rune('A' + i/26))})
		}
	}()
	runtime.GC()
	held := s.share(map[string]string{"app": "kept"})
	for range 200 {
		s.share(map[string]string{"app": "kept"})
	}
	if len(s.byHash) != 1 || s.byHash[s.hash(held.labels)].Value() != held {
		t.Errorf("after collection %d hashes are left, want only the one of the set still held", len(s.byHash))
	}
	runtime.KeepAlive(held)
}

// Endpoints of equal labels share one map, and a profile's labelsToApply changing for one of them leaves the
// other's labels as they were.
func TestEndpointsShareLabelsUntilAProfileSetsThemApart(t *testing.T) {
	plain := func(name string) *api.Profile { return &api.Profile{ObjectMeta: api.ObjectMeta{Name: name}} }
	c := newCalc(t, added(plain("p1")), added(plain("p2")),
		added(withLabels(wep("node2", "ep1", "cali1", "10.0.0.1/32", "p1"), "app", "web")),
		added(withLabels(wep("node2", "ep2", "cali2", "10.0.0.2/32", "p2"), "app", "web")))
	ep1, ep2 := c.endpoints[keyOf(wep("node2", "ep1", "", ""))], c.endpoints[keyOf(wep("node2", "ep2", "", ""))]
	if ep1.labelSet != ep2.labelSet {
		t.Fatal("two endpoints of the same labels hold two maps")
	}
	if len(c.groups) != 1 {
		t.Errorf("two endpoints of the same labels and namespace are in %d groups, want 1", len(c.groups))
	}
	blue := plain("p1")
	blue.Spec.LabelsToApply = map[string]string{"color": "blue"}
	c.OnEvent(res, added(blue))
	if ep1.labels["color"] != "blue" || ep2.labels["color"] != "" {
		t.Errorf("after p1 applies color=blue: ep1 %q, ep2 %q; want only ep1 blue", ep1.labels, ep2.labels)
	}
	if ep1.labelSet == ep2.labelSet {
		t.Error("endpoints of different labels still share a map")
	}
	checkGroups(t, c)
	if len(c.groups) != 2 {
		t.Errorf("endpoints of different labels are in %d groups, want 2", len(c.groups))
	}
	c.OnEvent(res, added(plain("p1")))
	if ep1.labelSet != ep2.labelSet || len(ep1.labels) != len(ep2.labels) {
		t.Errorf("after p1 applies nothing again: ep1 %q, ep2 %q; want one shared map", ep1.labels, ep2.labels)
	}
	checkGroups(t, c)
	if len(c.groups) != 1 {
		t.Errorf("after p1 applies nothing again the endpoints are in %d groups, want 1", len(c.groups))
	}
}

func TestLabelSetsTellCollidingHashesApart(t *testing.T) {
	var s labelSets
	other := s.share(map[string]string{"app": "db"})
	want := map[string]string{"app": "web"}
	s.byHash[s.hash(want)] = weak.Make(other) // as if both hashed alike
	got := s.share(maps.Clone(want))
	if got == other || !maps.Equal(got.labels, want) {
		t.Errorf("share(%q) = %q: a colliding hash returned another set", want, got.labels)
	}
	runtime.KeepAlive(other)
}
