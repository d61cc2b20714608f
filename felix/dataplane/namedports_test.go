package dataplane

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

// namedPortState is sampleState with a rule that accepts traffic to a named port, through a hash:ip,port set.
func namedPortState(members ...string) *desired.State {
	st := sampleState()
	tw := st.Tables["filter"].Chains["cali-tw-cali1234"]
	st.Tables["filter"].Chains["cali-tw-cali1234"] = append([]desired.Rule{
		{Match: "-p tcp -m set --match-set cali40n:web dst,dst", Action: "--jump ACCEPT"}}, tw...)
	st.IPSets["cali40n:web"] = desired.IPSet{Type: desired.HashIPPort, Members: members}
	return st
}

// kernelSetMembers lists a set's members as `ipset save` prints them, sorted.
func kernelSetMembers(t *testing.T, ns, name string) []string {
	t.Helper()
	var out []string
	for _, line := range lines(inNetns(t, ns, "ipset", "save", name)) {
		if m, ok := strings.CutPrefix(line, "add "+name+" "); ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func TestNamedPortSetsAreProgrammedAsHashIPPort(t *testing.T) {
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	st := namedPortState("10.65.0.5,tcp:8080", "10.65.1.7,TCP:9090")
	mustApply(t, d, st)
	kernelMatches(t, ns, st)
	if save := inNetns(t, ns, "ipset", "save", "cali40n:web"); !strings.Contains(save, "create cali40n:web hash:ip,port family inet") {
		t.Errorf("expected cali40n:web to be created as hash:ip,port family inet, got:\n%s", save)
	}
	if got, want := kernelSetMembers(t, ns, "cali40n:web"), []string{"10.65.0.5,tcp:8080", "10.65.1.7,tcp:9090"}; !slices.Equal(got, want) {
		t.Errorf("expected members %q in the kernel, got %q", want, got)
	}
	if save := inNetns(t, ns, "iptables-save", "-t", "filter"); !strings.Contains(save, "--match-set cali40n:web dst,dst") {
		t.Errorf("expected the filter table to match on cali40n:web dst,dst, got:\n%s", save)
	}

	// Members written the way the kernel prints them need no write, now or after a restart.
	if rep := mustApply(t, d, st); len(rep.Execs) != 0 {
		t.Errorf("re-applying the same state ran %v; want nothing", rep.Execs)
	}
	if rep := mustApply(t, newTestDataplane(t, path), st); rep.Changed() {
		t.Errorf("a restarted felix changed ipsets %v; want only reads", rep.IPSetsWritten)
	}

	// A member that moves port is replaced member by member.
	st = namedPortState("10.65.0.5,tcp:8080", "10.65.1.7,tcp:9091", "10.65.2.9,tcp:8080")
	rep := mustApply(t, d, st)
	if !slices.Equal(rep.IPSetsWritten, []string{"cali40n:web"}) {
		t.Errorf("changing the members wrote sets %v; want cali40n:web", rep.IPSetsWritten)
	}
	if got, want := kernelSetMembers(t, ns, "cali40n:web"), []string{"10.65.0.5,tcp:8080", "10.65.1.7,tcp:9091", "10.65.2.9,tcp:8080"}; !slices.Equal(got, want) {
		t.Errorf("expected members %q in the kernel, got %q", want, got)
	}

	// A member removed by hand is put back by a resync.
	inNetns(t, ns, "ipset", "del", "cali40n:web", "10.65.2.9,tcp:8080")
	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Repaired, []string{"ipset cali40n:web"}) {
		t.Errorf("resync repaired %v; want [ipset cali40n:web]", rep.Repaired)
	}
	if got := kernelSetMembers(t, ns, "cali40n:web"); !slices.Contains(got, "10.65.2.9,tcp:8080") {
		t.Errorf("expected the removed member back, got %q", got)
	}
}
