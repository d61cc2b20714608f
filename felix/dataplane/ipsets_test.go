package dataplane

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

// Real `ipset save` output, with a foreign set that felix must ignore.
const sampleIPSetSave = `create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0xdaf0f38c
add cali40all-ipam-pools 10.1.0.0/16
add cali40all-ipam-pools 10.0.0.1
create cali60all-ipam-pools hash:net family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x9e086ee1
add cali60all-ipam-pools fd00::/64
create docker-set hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x931fdc4b
add docker-set 1.2.3.4
`

func TestParseIPSetSave(t *testing.T) {
	st, err := parseIPSetSave(sampleIPSetSave)
	if err != nil {
		t.Fatal(err)
	}
	want := ipsetState{
		"cali40all-ipam-pools": {Type: desired.HashNet, Family: "inet", Members: map[string]bool{"10.1.0.0/16": true, "10.0.0.1": true}},
		"cali60all-ipam-pools": {Type: desired.HashNet, Family: "inet6", Members: map[string]bool{"fd00::/64": true}},
	}
	if len(driftedSets(want, st)) != 0 {
		t.Errorf("parsed %v, want %v (foreign sets ignored)", st, want)
	}
}

func TestPlanIPSets(t *testing.T) {
	have := func() ipsetState {
		st, err := parseIPSetSave(sampleIPSetSave)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	pools := desired.IPSet{Type: desired.HashNet, Members: []string{"10.1.0.0/16", "10.0.0.1/32"}}
	pools6 := desired.IPSet{Type: desired.HashNet, Members: []string{"fd00::/64"}}
	var many []string
	for i := range 10 {
		many = append(many, fmt.Sprintf("10.65.0.%d", i))
	}

	tests := []struct {
		name        string
		have        ipsetState
		want        map[string]desired.IPSet
		leave       func(family string) bool
		wantUpdate  []string
		wantDestroy []string
	}{
		{
			name: "a missing set is created and filled",
			have: ipsetState{},
			want: map[string]desired.IPSet{"cali40all-ipam-pools": pools},
			wantUpdate: []string{
				"create cali40all-ipam-pools hash:net family inet maxelem 1048576",
				"add cali40all-ipam-pools 10.0.0.1",
				"add cali40all-ipam-pools 10.1.0.0/16",
			},
		},
		{
			name: "sets that match (members written as the kernel prints them) need no write",
			have: have(),
			want: map[string]desired.IPSet{
				"cali40all-ipam-pools": {Type: desired.HashNet, Members: []string{"10.1.7.0/16", "10.0.0.1"}},
				"cali60all-ipam-pools": pools6,
			},
		},
		{
			name: "a named-port set is created as hash:ip,port with its members as the kernel prints them",
			have: have(),
			want: map[string]desired.IPSet{
				"cali40all-ipam-pools": pools, "cali60all-ipam-pools": pools6,
				"cali40n:web": {Type: desired.HashIPPort, Members: []string{"10.0.0.2,TCP:8080", "10.0.0.1,udp:053"}},
				"cali60n:web": {Type: desired.HashIPPort, Members: []string{"fd00:0::1,sctp:80"}},
			},
			wantUpdate: []string{
				"create cali40n:web hash:ip,port family inet maxelem 1048576",
				"add cali40n:web 10.0.0.1,udp:53",
				"add cali40n:web 10.0.0.2,tcp:8080",
				"create cali60n:web hash:ip,port family inet6 maxelem 1048576",
				"add cali60n:web fd00::1,sctp:80",
			},
		},
		{
			name: "a small change is applied member by member",
			have: have(),
			want: map[string]desired.IPSet{
				"cali40all-ipam-pools": {Type: desired.HashNet, Members: []string{"10.1.0.0/16", "10.0.0.1", "10.2.0.0/16", "10.3.0.0/16"}},
				"cali60all-ipam-pools": pools6,
			},
			wantUpdate: []string{"add cali40all-ipam-pools 10.2.0.0/16 -exist", "add cali40all-ipam-pools 10.3.0.0/16 -exist"},
		},
		{
			name: "a set that differs a lot is rebuilt in a temporary set and swapped in",
			have: have(),
			want: map[string]desired.IPSet{
				"cali40all-ipam-pools": {Type: desired.HashNet, Members: []string{"192.168.0.0/24"}},
				"cali60all-ipam-pools": pools6,
			},
			wantUpdate: []string{
				"create cali4tall-ipam-pools hash:net family inet maxelem 1048576",
				"add cali4tall-ipam-pools 192.168.0.0/24",
				"swap cali40all-ipam-pools cali4tall-ipam-pools",
				"destroy cali4tall-ipam-pools",
			},
		},
		{
			name: "stale felix sets are destroyed only in the script that runs after iptables; foreign sets stay",
			have: have(),
			want: map[string]desired.IPSet{"cali40all-ipam-pools": pools},
			wantDestroy: []string{
				"destroy cali60all-ipam-pools",
			},
		},
		{
			name:  "stale sets of a family felix leaves alone stay",
			have:  have(),
			want:  map[string]desired.IPSet{"cali40all-ipam-pools": pools},
			leave: func(family string) bool { return family == desired.FamilyInet6 },
		},
		{
			name: "a set of the wrong type is recreated",
			have: have(),
			want: map[string]desired.IPSet{"cali40all-ipam-pools": {Type: desired.HashIP, Members: []string{"10.0.0.1"}}, "cali60all-ipam-pools": pools6},
			wantUpdate: []string{
				"destroy cali40all-ipam-pools",
				"create cali40all-ipam-pools hash:ip family inet maxelem 1048576",
				"add cali40all-ipam-pools 10.0.0.1",
			},
		},
		{
			name: "a temporary set left by an interrupted rewrite is removed before it is needed again",
			have: ipsetState{
				"cali40s": {Type: desired.HashIP, Family: "inet", Members: map[string]bool{"10.0.0.1": true}},
				"cali4ts": {Type: desired.HashIP, Family: "inet", Members: map[string]bool{"10.0.0.9": true}},
			},
			want: map[string]desired.IPSet{"cali40s": {Type: desired.HashIP, Members: many}},
			wantUpdate: append(append([]string{
				"destroy cali4ts",
				"create cali4ts hash:ip family inet maxelem 1048576",
			}, prefixAll("add cali4ts ", many)...),
				"swap cali40s cali4ts", "destroy cali4ts"),
		},
		{
			name: "a missing IPv6 set is created with family inet6",
			have: ipsetState{},
			want: map[string]desired.IPSet{"cali60s:abc": {Type: desired.HashNet, Members: []string{"fd00:1::5/128", "fd00:2::/64"}}},
			wantUpdate: []string{
				"create cali60s:abc hash:net family inet6 maxelem 1048576",
				"add cali60s:abc fd00:1::5",
				"add cali60s:abc fd00:2::/64",
			},
		},
		{
			name: "an IPv6 set that differs a lot is rebuilt in an IPv6 temporary set",
			have: have(),
			want: map[string]desired.IPSet{
				"cali40all-ipam-pools": pools,
				"cali60all-ipam-pools": {Type: desired.HashNet, Members: []string{"fd01::/64"}},
			},
			wantUpdate: []string{
				"create cali6tall-ipam-pools hash:net family inet6 maxelem 1048576",
				"add cali6tall-ipam-pools fd01::/64",
				"swap cali60all-ipam-pools cali6tall-ipam-pools",
				"destroy cali6tall-ipam-pools",
			},
		},
		{
			name: "removing one member of ten is incremental",
			have: ipsetState{"cali40s": {Type: desired.HashIP, Family: "inet", Members: toSet(append(slices.Clone(many), "10.65.0.99"))}},
			want: map[string]desired.IPSet{"cali40s": {Type: desired.HashIP, Members: many}},
			wantUpdate: []string{
				"del cali40s 10.65.0.99 -exist",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planIPSets(tc.want, tc.have, 0, tc.leave, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := lines(p.update), tc.wantUpdate; !slices.Equal(got, want) {
				t.Errorf("update script:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if got, want := lines(p.destroy), tc.wantDestroy; !slices.Equal(got, want) {
				t.Errorf("destroy script:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// Running the scripts on a model of the kernel gives the desired sets, which then need no write.
			after := runIPSetScript(t, tc.have, p.update+p.destroy)
			if d := driftedSets(p.after, after); len(d) != 0 {
				t.Errorf("after the scripts, sets %v differ from what the plan predicted", d)
			}
			if again, _ := planIPSets(tc.want, after, 0, tc.leave, nil); again.update+again.destroy != "" {
				t.Errorf("planning again still writes:\n%s%s", again.update, again.destroy)
			}
		})
	}
}

func TestPlanIPSetsRejects(t *testing.T) {
	tests := []struct {
		name string
		sets map[string]desired.IPSet
		want string
	}{
		{"a set without the cali prefix", map[string]desired.IPSet{"other": {Type: desired.HashIP}}, "must start with"},
		{"a name longer than ipset allows", map[string]desired.IPSet{"cali40" + strings.Repeat("x", 30): {Type: desired.HashIP}}, "at most 31"},
		{"a member that is no address", map[string]desired.IPSet{"cali40x": {Type: desired.HashIP, Members: []string{"nope"}}}, "member 1"},
		{"a network in a hash:ip set", map[string]desired.IPSet{"cali40x": {Type: desired.HashIP, Members: []string{"10.0.0.0/8"}}}, "is a network"},
		{"an IPv6 member in an IPv4 set", map[string]desired.IPSet{"cali40x": {Type: desired.HashNet, Members: []string{"fd00::/64"}}}, "not of family inet"},
		{"an IPv4 member in an IPv6 set", map[string]desired.IPSet{"cali60x": {Type: desired.HashNet, Members: []string{"10.0.0.0/8"}}}, "not of family inet6"},
		{"an IPv6 member in a set whose name does not say IPv6", map[string]desired.IPSet{"cali-x": {Type: desired.HashNet, Members: []string{"fd00::1"}}}, "not of family inet"},
		{"an unsupported type", map[string]desired.IPSet{"cali40x": {Type: "bitmap:port"}}, "unsupported type"},
		{"a hash:ip,port member without a port", map[string]desired.IPSet{"cali40n:x": {Type: desired.HashIPPort, Members: []string{"10.0.0.1"}}}, "is not <address>"},
		{"a hash:ip,port member of an unknown protocol", map[string]desired.IPSet{"cali40n:x": {Type: desired.HashIPPort, Members: []string{"10.0.0.1,icmp:8"}}}, "is not <address>"},
		{"a hash:ip,port member with a port out of range", map[string]desired.IPSet{"cali40n:x": {Type: desired.HashIPPort, Members: []string{"10.0.0.1,tcp:70000"}}}, "no port number"},
		{"a network in a hash:ip,port set", map[string]desired.IPSet{"cali40n:x": {Type: desired.HashIPPort, Members: []string{"10.0.0.0/30,tcp:80"}}}, "is a network"},
		{"an IPv4 member in an IPv6 hash:ip,port set", map[string]desired.IPSet{"cali60n:x": {Type: desired.HashIPPort, Members: []string{"10.0.0.1,tcp:80"}}}, "not of family inet6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planIPSets(tc.sets, ipsetState{}, 0, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// runIPSetScript runs ipset restore commands against a model of the kernel's sets, failing like ipset does on
// a missing set, an existing set or (without -exist) a duplicate or missing member.
func runIPSetScript(t *testing.T, have ipsetState, script string) ipsetState {
	t.Helper()
	st := ipsetState{}
	for name, s := range have {
		st[name] = setState{Type: s.Type, Family: s.Family, Members: toSet(sortedKeys(s.Members))}
	}
	for _, line := range lines(script) {
		f := strings.Fields(line)
		exist := slices.Contains(f, "-exist")
		s, ok := st[f[1]]
		switch f[0] {
		case "create":
			if ok {
				t.Fatalf("%q: set exists", line)
			}
			st[f[1]] = setState{Type: desired.IPSetType(f[2]), Family: f[4], Members: map[string]bool{}}
		case "add", "del":
			if !ok {
				t.Fatalf("%q: no such set", line)
			}
			if s.Members[f[2]] == (f[0] == "add") && !exist {
				t.Fatalf("%q: member already in or not in the set", line)
			}
			s.Members[f[2]] = f[0] == "add"
			if f[0] == "del" {
				delete(s.Members, f[2])
			}
		case "swap":
			o, ok2 := st[f[2]]
			if !ok || !ok2 || s.Type != o.Type {
				t.Fatalf("%q: sets missing or of different types", line)
			}
			st[f[1]], st[f[2]] = o, s
		case "destroy":
			if !ok {
				t.Fatalf("%q: no such set", line)
			}
			delete(st, f[1])
		default:
			t.Fatalf("unknown ipset command %q", line)
		}
	}
	return st
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func prefixAll(prefix string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = prefix + x
	}
	return out
}

// A change of a few members of existing sets (an endpoint coming or going) goes through netlink, without running
// ipset, for every set type and both families; the kernel then holds exactly the desired members, as ipset would
// have left them.
func TestMemberChangesGoThroughNetlink(t *testing.T) {
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	state := func(k int) *desired.State {
		sets := map[string]desired.IPSet{
			"cali40s:ip":   {Type: desired.HashIP},
			"cali60s:ip":   {Type: desired.HashIP},
			"cali40s:net":  {Type: desired.HashNet},
			"cali40n:port": {Type: desired.HashIPPort},
			"cali60n:port": {Type: desired.HashIPPort},
		}
		add := func(name, member string) {
			s := sets[name]
			s.Members = append(s.Members, member)
			sets[name] = s
		}
		for i := k; i < k+8; i++ { // each step drops member k and adds member k+8
			add("cali40s:ip", fmt.Sprintf("10.65.0.%d", i))
			add("cali60s:ip", fmt.Sprintf("fd00:65::%x", i))
			add("cali40s:net", fmt.Sprintf("10.66.%d.0/24", i))
			add("cali40n:port", fmt.Sprintf("10.65.0.%d,udp:%d", i, 5000+i))
			add("cali60n:port", fmt.Sprintf("fd00:65::%x,sctp:%d", i, 6000+i))
		}
		return &desired.State{IPSets: sets}
	}
	check := func(st *desired.State) {
		t.Helper()
		for name, s := range st.IPSets {
			w, err := normaliseSet(name, s)
			if err != nil {
				t.Fatal(err)
			}
			if got := kernelSetMembers(t, ns, name); !slices.Equal(got, w.Members) {
				t.Errorf("set %s holds %q, want %q", name, got, w.Members)
			}
		}
	}
	if rep := mustApply(t, d, state(0)); rep.Runs(ipsetCmd) == 0 {
		t.Errorf("creating the sets ran no ipset: %v", rep.Execs)
	}
	check(state(0))
	for k := 1; k <= 3; k++ {
		rep := mustApply(t, d, state(k))
		if rep.Runs(ipsetCmd) != 0 || len(rep.IPSetsWritten) != 5 {
			t.Errorf("step %d: ran %v and wrote sets %v; want every set written and no ipset run", k, rep.Execs, rep.IPSetsWritten)
		}
		check(state(k))
	}
	// What felix wrote through netlink reads back as written: a restarted felix finds nothing to do.
	if rep := mustApply(t, newTestDataplane(t, path), state(3)); rep.Changed() {
		t.Errorf("a restarted felix changed sets %v", rep.IPSetsWritten)
	}
}

// Normalising with the memo gives what normalising afresh does, over a walk of sets whose members change a few at
// a time: mostly canonical and sorted as felix's calculation gives them (which the memo checks only where new),
// sometimes unsorted, repeated, written otherwise than the kernel writes them, or invalid.
func TestMemoisedIPSetNormaliseEqualsAFreshOne(t *testing.T) {
	canonical := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.0/24", "10.1.0.0/16", "10.0.0.9"}
	odd := []string{"10.0.0.1/32", "10.0.1.7/24", " 10.0.0.2", "fd00::1", "bogus", "10.0.0.4"}
	ports := []string{"10.0.0.1,tcp:80", "10.0.0.2,udp:53", "10.0.0.1,TCP:80", "10.0.0.3,tcp:99999", "10.0.0.4,sctp:9"}
	for seed := range 6 {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		var memo ipsetMemo
		sets := map[string]desired.IPSet{}
		for step := range 400 {
			name, typ, pool := "cali40net", desired.HashNet, canonical
			switch rng.IntN(3) {
			case 1:
				name, typ, pool = "cali40ip", desired.HashIP, canonical[:3]
			case 2:
				name, typ, pool = "cali40port", desired.HashIPPort, ports[:2]
			}
			members := slices.Clone(sets[name].Members)
			switch r := rng.IntN(10); {
			case r < 6: // felix's calculation: one member more or less, sorted and distinct
				m := pool[rng.IntN(len(pool))]
				if i, found := slices.BinarySearch(members, m); found {
					members = slices.Delete(members, i, i+1)
				} else {
					members = slices.Insert(members, i, m)
				}
			case r < 8: // written otherwise, or invalid
				all := append(append(slices.Clone(odd), ports...), pool...)
				members = append(members, all[rng.IntN(len(all))])
			case r < 9: // unsorted or repeated
				if len(members) > 0 {
					members = append(members, members[0])
				}
				rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
			default:
				members = nil
			}
			sets[name] = desired.IPSet{Type: typ, Members: members}
			verify := rng.IntN(10) == 0
			got, gotErr := memo.normalise(sets, verify)
			want, wantErr := (*ipsetMemo)(nil).normalise(sets, false)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("seed %d step %d: memoised error %v, fresh %v", seed, step, gotErr, wantErr)
			}
			if gotErr != nil {
				delete(sets, name) // as a caller whose state was refused starts again
				continue
			}
			for n, w := range want {
				if g := got[n]; g == nil || g.Type != w.Type || g.Family != w.Family || !slices.Equal(g.Members, w.Members) {
					t.Fatalf("seed %d step %d: set %s memoised %+v, fresh %+v (from %q)", seed, step, n, g, w, sets[n].Members)
				}
			}
		}
	}
}
