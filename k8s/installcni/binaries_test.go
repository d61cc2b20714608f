package installcni

import (
	"reflect"
	"testing"
)

func TestPlanBinaries(t *testing.T) {
	a, b := Digest{Size: 10, Sum: [32]byte{1}}, Digest{Size: 10, Sum: [32]byte{2}}
	src := []Binary{{Name: "calico", Path: "/opt/cni/bin/calico", Digest: a}, {Name: "calico-ipam", Path: "/opt/cni/bin/calico-ipam", Digest: a}}
	dir := func(existing map[string]Digest) []BinDir { return []BinDir{{Path: "/host/bin", Existing: existing}} }
	cases := []struct {
		name   string
		dirs   []BinDir
		skip   []string
		update bool
		want   []string // destinations written
	}{
		{"an empty dir gets every binary", dir(nil), nil, true, []string{"/host/bin/calico", "/host/bin/calico-ipam"}},
		{"identical binaries are left alone", dir(map[string]Digest{"calico": a, "calico-ipam": a}), nil, true, nil},
		{"a different binary is replaced", dir(map[string]Digest{"calico": b, "calico-ipam": a}), nil, true, []string{"/host/bin/calico"}},
		{"with UPDATE_CNI_BINARIES=false a different binary stays, a missing one is installed",
			dir(map[string]Digest{"calico": b}), nil, false, []string{"/host/bin/calico-ipam"}},
		{"skipped binaries are never written", dir(nil), []string{"calico-ipam"}, true, []string{"/host/bin/calico"}},
		{"each dir is decided on its own", []BinDir{{Path: "/host/bin", Existing: map[string]Digest{"calico": a, "calico-ipam": a}}, {Path: "/host/second"}},
			nil, true, []string{"/host/second/calico", "/host/second/calico-ipam"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			copies, notes := PlanBinaries(src, c.dirs, c.skip, c.update)
			var got []string
			for _, cp := range copies {
				got = append(got, cp.Dest())
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("wrote %v, want %v (notes %v)", got, c.want, notes)
			}
			if len(copies)+len(notes) != len(src)*len(c.dirs) {
				t.Errorf("every binary in every dir needs a copy or a note: %d copies, %d notes", len(copies), len(notes))
			}
		})
	}
}
