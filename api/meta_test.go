package api

import (
	"strings"
	"testing"
)

func TestLookupKind(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"IPPool", "IPPool"},
		{"ippool", "IPPool"},
		{"ippools", "IPPool"},
		{"IPPools", "IPPool"},
		{"pool", "IPPool"},
		{"gnp", "GlobalNetworkPolicy"},
		{"globalnetworkpolicies", "GlobalNetworkPolicy"},
		{"policy", "NetworkPolicy"},
		{"wep", "WorkloadEndpoint"},
		{"hep", "HostEndpoint"},
		{"bgpconfig", "BGPConfiguration"},
		{"felixconfigs", "FelixConfiguration"},
		{"clusterinfo", "ClusterInformation"},
		{"Node", "Node"},
		{"profiles", "Profile"},
		{"bgppeer", "BGPPeer"},
		{"gns", "GlobalNetworkSet"},
	}
	for _, c := range cases {
		t.Run(c.in+" names "+c.want, func(t *testing.T) {
			k, err := LookupKind(c.in)
			if err != nil || k.Name != c.want {
				t.Fatalf("expected kind %s, got %v (%v)", c.want, k, err)
			}
		})
	}
	t.Run("an unknown type is not supported", func(t *testing.T) {
		_, err := LookupKind("widgets")
		if err == nil || err.Error() != "resource type 'widgets' is not supported" {
			t.Fatalf("expected \"resource type 'widgets' is not supported\", got %v", err)
		}
	})
}

func TestKindOfAndNew(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k.Name, func(t *testing.T) {
			r := k.New()
			if tm := r.GetTypeMeta(); tm.Kind != k.Name || tm.APIVersion != Group {
				t.Fatalf("expected New to set kind %s and apiVersion %s, got %+v", k.Name, Group, *tm)
			}
			if got := KindOf(r); got != k {
				t.Fatalf("expected KindOf to give %s, got %s", k.Name, got.Name)
			}
			if k.Plural != strings.ToLower(k.Plural) || k.Plural == "" {
				t.Fatalf("expected a lowercase plural for %s, got %q", k.Name, k.Plural)
			}
		})
	}
}

func TestSetTypeMetaAndID(t *testing.T) {
	p := SetTypeMeta(&IPPool{ObjectMeta: ObjectMeta{Name: "pool1"}})
	if p.Kind != "IPPool" || p.APIVersion != Group {
		t.Fatalf("expected IPPool %s, got %+v", Group, p.TypeMeta)
	}
	if got := ID(p); got != "IPPool(pool1)" {
		t.Fatalf("expected IPPool(pool1), got %s", got)
	}
	w := &WorkloadEndpoint{ObjectMeta: ObjectMeta{Name: "w1", Namespace: "team-a"}}
	if got := ID(w); got != "WorkloadEndpoint(team-a/w1)" {
		t.Fatalf("expected WorkloadEndpoint(team-a/w1), got %s", got)
	}
}
