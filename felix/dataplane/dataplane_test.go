package dataplane

import (
	"context"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/felix/desired"
)

// These tests program real network namespaces with iptables-restore, ipset, netlink and /proc/sys; they need
// root and skip in -short mode. Nothing they do reaches the host's own namespace.

// sampleState is a small node: one endpoint's chains in filter, NAT outgoing in nat with its ipsets.
// natTable is felix's NAT-outgoing table for the pool in poolSets.
func natTable() *desired.Table {
	return &desired.Table{
		Name: "nat",
		Chains: map[string][]desired.Rule{
			"cali-POSTROUTING": {{Action: "--jump cali-nat-outgoing"}},
			"cali-nat-outgoing": {{
				Match:  "-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst",
				Action: "--jump MASQUERADE",
			}},
		},
		Hooks: map[string][]desired.Rule{"POSTROUTING": {{Action: "--jump cali-POSTROUTING"}}},
	}
}

// poolSets are the pool ipsets natTable refers to.
func poolSets() map[string]desired.IPSet {
	return map[string]desired.IPSet{
		"cali40all-ipam-pools":  {Type: desired.HashNet, Members: []string{"10.65.0.0/16"}},
		"cali40masq-ipam-pools": {Type: desired.HashNet, Members: []string{"10.65.0.0/16"}},
	}
}

func sampleState() *desired.State {
	return &desired.State{
		Tables: map[string]*desired.Table{
			"filter": sampleTable(),
			"nat":    natTable(),
		},
		IPSets: poolSets(),
	}
}

// kernelMatches checks with the real iptables-save (and ip6tables-save when st has IPv6 tables) that the
// namespace holds st's tables: planning against what the kernel reports writes nothing.
func kernelMatches(t *testing.T, ns string, st *desired.State) {
	t.Helper()
	for _, f := range families {
		want := f.tablesOf(st)
		if want == nil {
			continue
		}
		tables, err := parseSave(inNetns(t, ns, f.save))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range tableNames(want) {
			rt, err := renderTable(want[name], nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if p := planTable(name, rt, tables[name]); p.script != "" {
				t.Errorf("%s table %s in the kernel differs from the desired state; it would take:\n%s", f.iptables, name, p.script)
			}
		}
	}
}

func mustApply(t *testing.T, d *Dataplane, st *desired.State) Report {
	t.Helper()
	rep, err := d.Apply(context.Background(), st)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return rep
}

func TestApplyWritesEachTableOnceAndReapplyRunsNothing(t *testing.T) {
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	st := sampleState()

	rep := mustApply(t, d, st)
	if got := rep.Runs(iptablesRestore); got != 2 {
		t.Errorf("first apply ran iptables-restore %d times, want 2 (filter and nat)", got)
	}
	if len(rep.ChainsWritten) != 7 || len(rep.HooksWritten) != 2 || len(rep.IPSetsWritten) != 2 {
		t.Errorf("first apply wrote chains %v, hooks %v, ipsets %v; want 7 chains, 2 hooks, 2 sets",
			rep.ChainsWritten, rep.HooksWritten, rep.IPSetsWritten)
	}
	kernelMatches(t, ns, st)
	save := inNetns(t, ns, "iptables-save", "-t", "nat")
	if !strings.Contains(save, "--match-set cali40masq-ipam-pools src") || !strings.Contains(save, "-A POSTROUTING -m comment --comment \"cali:") {
		t.Errorf("nat table lacks the masquerade rule or the hook:\n%s", save)
	}

	rep = mustApply(t, d, st)
	if len(rep.Execs) != 0 || rep.Changed() {
		t.Errorf("re-applying the same state ran %v and changed=%v; want no command and no change", rep.Execs, rep.Changed())
	}

	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs(iptablesRestore) != 0 || len(rep.Repaired) != 0 || rep.Changed() {
		t.Errorf("resync of an untouched kernel: %d restores, repaired %v, changed %v; want none",
			rep.Runs(iptablesRestore), rep.Repaired, rep.Changed())
	}

	// A new felix (a restart) adopts what the previous one left: it reads, but writes nothing.
	d2 := newTestDataplane(t, path)
	rep = mustApply(t, d2, st)
	if len(rep.Execs) != 2 || rep.Runs(iptablesSave) != 1 || rep.Runs(ipsetCmd) != 1 || rep.Changed() {
		t.Errorf("a restarted felix ran %v and changed=%v; want only reads (one iptables-save, one ipset save)", rep.Execs, rep.Changed())
	}
}

func TestResyncRepairsHandEdits(t *testing.T) {
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	st := sampleState()
	mustApply(t, d, st)

	inNetns(t, ns, "iptables", "-w", "-D", "cali-fw-cali1234", "2")
	inNetns(t, ns, "iptables", "-w", "-D", "FORWARD", "1")
	inNetns(t, ns, "iptables", "-w", "-A", "FORWARD", "-i", "eth9", "-j", "ACCEPT")
	inNetns(t, ns, "ipset", "del", "cali40all-ipam-pools", "10.65.0.0/16")

	if rep := mustApply(t, d, st); len(rep.Execs) != 0 {
		t.Errorf("apply after a hand edit ran %v; want nothing (an apply trusts what felix wrote; resync checks)", rep.Execs)
	}
	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	wantRepaired := []string{"ipset cali40all-ipam-pools", "iptables filter/FORWARD", "iptables filter/cali-fw-cali1234"}
	if !slices.Equal(rep.Repaired, wantRepaired) {
		t.Errorf("resync repaired %v, want %v", rep.Repaired, wantRepaired)
	}
	if rep.Runs(iptablesRestore) != 1 {
		t.Errorf("resync ran iptables-restore %d times, want once (filter only)", rep.Runs(iptablesRestore))
	}
	kernelMatches(t, ns, st)
	if save := inNetns(t, ns, "iptables-save", "-t", "filter"); !strings.Contains(save, "-A FORWARD -i eth9 -j ACCEPT") {
		t.Errorf("the foreign rule in FORWARD is gone:\n%s", save)
	}
	if sets := inNetns(t, ns, "ipset", "list", "cali40all-ipam-pools"); !strings.Contains(sets, "10.65.0.0/16") {
		t.Errorf("the deleted ipset member was not restored:\n%s", sets)
	}
}

func TestApplyAdoptsAndCleansWhatOthersLeft(t *testing.T) {
	ns, path := testNetns(t)
	// An older felix left a chain with a bare jump to it, a stale ipset, and another program added rules.
	inNetns(t, ns, "ipset", "create", "cali40stale", "hash:ip")
	inNetns(t, ns, "ipset", "create", "docker-set", "hash:ip")
	script := "*filter\n:cali-old - [0:0]\n-A cali-old -m set --match-set cali40stale src -j DROP\n" +
		"-A FORWARD -j cali-old\n-A FORWARD -i docker0 -j ACCEPT\nCOMMIT\n"
	if out, err := tryInNetnsStdin(ns, script, "iptables-restore", "--noflush"); err != nil {
		t.Fatalf("seeding: %v %s", err, out)
	}
	d := newTestDataplane(t, path)
	st := sampleState()
	rep := mustApply(t, d, st)
	if !slices.Equal(rep.ChainsDeleted, []string{"filter/cali-old"}) || !slices.Equal(rep.IPSetsDeleted, []string{"cali40stale"}) {
		t.Errorf("deleted chains %v and sets %v; want filter/cali-old and cali40stale", rep.ChainsDeleted, rep.IPSetsDeleted)
	}
	kernelMatches(t, ns, st)
	save := inNetns(t, ns, "iptables-save", "-t", "filter")
	if !strings.Contains(save, "-A FORWARD -i docker0 -j ACCEPT") || strings.Contains(save, "cali-old") {
		t.Errorf("want the foreign rule kept and cali-old gone:\n%s", save)
	}
	if sets := inNetns(t, ns, "ipset", "list", "-n"); !strings.Contains(sets, "docker-set") || strings.Contains(sets, "cali40stale") {
		t.Errorf("want docker-set kept and cali40stale destroyed; sets: %s", sets)
	}

	// Dropping NAT outgoing removes the chains and the ipsets they used, in one apply.
	st.Tables["nat"] = nil
	st.IPSets = nil
	rep = mustApply(t, d, st)
	if len(rep.IPSetsDeleted) != 2 || len(rep.ChainsDeleted) != 2 {
		t.Errorf("removing NAT outgoing deleted chains %v and sets %v; want 2 of each", rep.ChainsDeleted, rep.IPSetsDeleted)
	}
	kernelMatches(t, ns, st)
}

func tryInNetnsStdin(ns, stdin string, args ...string) (string, error) {
	d, err := New(Config{NetnsPath: "/run/netns/" + ns})
	if err != nil {
		return "", err
	}
	defer d.Close()
	var rep Report
	return d.run(context.Background(), &rep, stdin, args[0], args[1:]...)
}

// addVeth creates a veth pair in the namespace, both ends up.
func addVeth(t *testing.T, ns, name, peer string) {
	t.Helper()
	inNetns(t, ns, "ip", "link", "add", name, "type", "veth", "peer", "name", peer)
	inNetns(t, ns, "ip", "link", "set", name, "up")
	inNetns(t, ns, "ip", "link", "set", peer, "up")
}

func TestRoutes(t *testing.T) {
	ns, path := testNetns(t)
	addVeth(t, ns, "cali1", "peer1")
	inNetns(t, ns, "ip", "route", "add", "10.99.0.0/24", "dev", "cali1", "proto", "static")
	inNetns(t, ns, "ip", "route", "add", "10.65.0.9", "dev", "cali1", "proto", "80")
	d := newTestDataplane(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	links, err := d.WatchLinks(ctx)
	if err != nil {
		t.Fatal(err)
	}

	pfx := netip.MustParsePrefix
	st := &desired.State{Routes: []desired.Route{
		{Dst: pfx("10.65.0.1/32"), Iface: "cali1"},
		{Dst: pfx("10.65.0.2/32"), Iface: "cali2"},
		{Dst: pfx("10.65.0.0/26"), Type: desired.Blackhole},
		{Dst: pfx("10.66.0.0/26"), Iface: "cali1", Gateway: netip.MustParseAddr("192.0.2.2"), OnLink: true},
	}}
	rep := mustApply(t, d, st)
	if !slices.Equal(rep.RoutesWaiting, []string{"10.65.0.2/32 dev cali2"}) || len(rep.RoutesAdded) != 3 || len(rep.RoutesRemoved) != 1 {
		t.Errorf("added %v, removed %v, waiting %v; want 3 added, the stray felix route removed, cali2's route waiting",
			rep.RoutesAdded, rep.RoutesRemoved, rep.RoutesWaiting)
	}
	want := []string{
		"10.65.0.1 dev cali1 scope link",
		"blackhole 10.65.0.0/26",
		"10.66.0.0/26 via 192.0.2.2 dev cali1 onlink",
	}
	checkRoutes(t, ns, want)
	if all := inNetns(t, ns, "ip", "route"); !strings.Contains(all, "10.99.0.0/24 dev cali1 proto static") {
		t.Errorf("the static route of another protocol is gone:\n%s", all)
	}

	// The missing interface appears: the watch says so and the next apply adds its route.
	addVeth(t, ns, "cali2", "peer2")
	select {
	case name := <-waitFor(links, "cali2"):
		if name != "cali2" {
			t.Fatalf("link watch reported %q, want cali2", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no link update for cali2 within 5s")
	}
	rep = mustApply(t, d, st)
	if !slices.Equal(rep.RoutesAdded, []string{"10.65.0.2/32 ifindex " + ifindex(t, ns, "cali2") + " scope link"}) {
		t.Errorf("after cali2 appeared, added %v", rep.RoutesAdded)
	}
	checkRoutes(t, ns, append(want, "10.65.0.2 dev cali2 scope link"))

	// A workload goes: its route is removed and its connections are forgotten.
	if _, err := tryInNetns(ns, "conntrack", "--version"); err != nil {
		t.Skipf("conntrack tool unavailable: %v", err)
	}
	inNetns(t, ns, "conntrack", "-I", "-p", "udp", "-s", "10.65.0.1", "-d", "10.65.0.6", "--sport", "1", "--dport", "2", "--timeout", "100")
	inNetns(t, ns, "conntrack", "-I", "-p", "udp", "-s", "10.65.0.6", "-d", "10.65.0.1", "--sport", "3", "--dport", "4", "--timeout", "100")
	inNetns(t, ns, "conntrack", "-I", "-p", "udp", "-s", "10.65.0.2", "-d", "10.65.0.6", "--sport", "5", "--dport", "6", "--timeout", "100")
	st.Routes = slices.Delete(st.Routes, 0, 1)
	rep = mustApply(t, d, st)
	if !slices.Equal(rep.ConntrackFlushed, []string{"10.65.0.1"}) || rep.Runs("conntrack") != 0 {
		t.Errorf("conntrack flushed %v with %d runs of the tool; want 10.65.0.1 flushed through netlink",
			rep.ConntrackFlushed, rep.Runs("conntrack"))
	}
	left, _ := tryInNetns(ns, "conntrack", "-L")
	if strings.Contains(left, "10.65.0.1") {
		t.Errorf("conntrack entries of the removed workload remain:\n%s", left)
	}
	if !strings.Contains(left, "src=10.65.0.2") {
		t.Errorf("the entry of cali2's workload, which stays, went too:\n%s", left)
	}
	checkRoutes(t, ns, append(slices.Clone(want[1:]), "10.65.0.2 dev cali2 scope link"))
}

func waitFor(links <-chan string, name string) <-chan string {
	out := make(chan string, 1)
	go func() {
		for l := range links {
			if l == name {
				out <- l
				return
			}
		}
	}()
	return out
}

// waitForLinkIndex waits until the dataplane's link table has followed the kernel to the given index of a link.
func waitForLinkIndex(t *testing.T, d *Dataplane, name, index string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.linkTable.mu.Lock()
		got := strconv.Itoa(d.linkTable.byName[name].index)
		d.linkTable.mu.Unlock()
		if got == index {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the link table still has %s at index %s after 5s, want %s", name, got, index)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ifindex(t *testing.T, ns, name string) string {
	t.Helper()
	return strings.TrimSpace(inNetns(t, ns, "cat", "/sys/class/net/"+name+"/ifindex"))
}

// checkRoutes compares felix's routes in the namespace (ip route show proto 80) with want, ignoring order.
func checkRoutes(t *testing.T, ns string, want []string) {
	t.Helper()
	want = slices.Clone(want)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(inNetns(t, ns, "ip", "route", "show", "proto", "80")), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("felix routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSysctls(t *testing.T) {
	ns, path := testNetns(t)
	addVeth(t, ns, "caliA", "peerA")
	hostForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	d := newTestDataplane(t, path)
	ifSysctls := map[string]string{
		"net/ipv4/conf/caliA/proxy_arp":      "1",
		"net/ipv4/neigh/caliA/proxy_delay":   "0",
		"net/ipv4/conf/caliA/forwarding":     "1",
		"net/ipv4/conf/caliA/route_localnet": "1",
	}
	st := &desired.State{
		Sysctls: map[string]string{"net/ipv4/ip_forward": "1"},
		Interfaces: map[string]desired.Interface{
			"caliA":       {Name: "caliA", Sysctls: ifSysctls},
			"caliMissing": {Name: "caliMissing", Sysctls: map[string]string{"net/ipv4/conf/caliMissing/proxy_arp": "1"}},
		},
	}
	rep := mustApply(t, d, st)
	if !slices.Equal(rep.InterfacesWaiting, []string{"caliMissing"}) {
		t.Errorf("interfaces waiting %v, want [caliMissing]", rep.InterfacesWaiting)
	}
	for p, v := range map[string]string{"net/ipv4/ip_forward": "1", "net/ipv4/conf/caliA/proxy_arp": "1",
		"net/ipv4/neigh/caliA/proxy_delay": "0", "net/ipv4/conf/caliA/forwarding": "1", "net/ipv4/conf/caliA/route_localnet": "1"} {
		if got := strings.TrimSpace(inNetns(t, ns, "cat", "/proc/sys/"+p)); got != v {
			t.Errorf("%s = %s in the namespace, want %s", p, got, v)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostForward) {
		t.Errorf("the host's ip_forward changed from %q to %q", hostForward, now)
	}
	if rep = mustApply(t, d, st); len(rep.SysctlsSet) != 0 {
		t.Errorf("second apply set %v; want nothing", rep.SysctlsSet)
	}

	inNetns(t, ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/conf/caliA/proxy_arp")
	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.SysctlsSet, []string{"net/ipv4/conf/caliA/proxy_arp=1"}) {
		t.Errorf("resync set %v, want the hand-changed proxy_arp back to 1", rep.SysctlsSet)
	}

	// The interface is recreated (a new workload with the same name): once felix has heard of the new link,
	// the next apply writes its sysctls again.
	inNetns(t, ns, "ip", "link", "del", "caliA")
	addVeth(t, ns, "caliA", "peerA")
	waitForLinkIndex(t, d, "caliA", ifindex(t, ns, "caliA"))
	if rep = mustApply(t, d, st); len(rep.SysctlsSet) == 0 {
		t.Errorf("a recreated interface got no sysctls")
	}
	if got := strings.TrimSpace(inNetns(t, ns, "cat", "/proc/sys/net/ipv4/conf/caliA/proxy_arp")); got != "1" {
		t.Errorf("proxy_arp of the recreated interface is %s, want 1", got)
	}

	// A new state whose interface carries a new map of other values (the same map is skipped unread): written.
	changed := maps.Clone(ifSysctls)
	changed["net/ipv4/conf/caliA/proxy_arp"] = "0"
	next := *st
	next.Interfaces = map[string]desired.Interface{"caliA": {Name: "caliA", Sysctls: changed}}
	if rep = mustApply(t, d, &next); !slices.Equal(rep.SysctlsSet, []string{"net/ipv4/conf/caliA/proxy_arp=0"}) {
		t.Errorf("a changed value set %v, want proxy_arp=0", rep.SysctlsSet)
	}
	// An equal map that is not the same one: compared, and nothing to write.
	next.Interfaces = map[string]desired.Interface{"caliA": {Name: "caliA", Sysctls: maps.Clone(changed)}}
	if rep = mustApply(t, d, &next); len(rep.SysctlsSet) != 0 {
		t.Errorf("an equal map set %v, want nothing", rep.SysctlsSet)
	}
}

func TestTunnelLifecycle(t *testing.T) {
	ns, path := testNetns(t)
	if _, err := tryInNetns(ns, "ip", "link", "add", "probe0", "type", "ipip"); err != nil {
		t.Skipf("this kernel cannot create IPIP devices: %v", err)
	}
	inNetns(t, ns, "ip", "link", "del", "probe0")
	d := newTestDataplane(t, path)
	st := &desired.State{Tunnel: &desired.Tunnel{Name: "tunl0", Address: netip.MustParseAddr("10.65.0.1"), MTU: 1480}}
	mustApply(t, d, st)
	show := inNetns(t, ns, "ip", "-d", "addr", "show", "tunl0")
	for _, want := range []string{"mtu 1480", "ipip", "inet 10.65.0.1/32", ",UP"} {
		if !strings.Contains(show, want) {
			t.Errorf("tunl0 lacks %q:\n%s", want, show)
		}
	}
	if rep := mustApply(t, d, st); len(rep.TunnelChanges) != 0 {
		t.Errorf("second apply changed the tunnel: %v", rep.TunnelChanges)
	}
	st.Tunnel = nil
	mustApply(t, d, st)
	show = inNetns(t, ns, "ip", "addr", "show", "tunl0")
	if strings.Contains(show, "inet ") || strings.Contains(show, ",UP") {
		t.Errorf("an unwanted tunl0 should be down without addresses:\n%s", show)
	}
}

func TestAFailingPartLeavesTheOthersApplied(t *testing.T) {
	ns, path := testNetns(t)
	if _, err := tryInNetns(ns, "ip", "link", "add", "probe0", "type", "ipip"); err == nil {
		t.Skip("this kernel supports IPIP; the tunnel cannot be made to fail")
	}
	d := newTestDataplane(t, path)
	st := sampleState()
	st.Tunnel = &desired.Tunnel{Name: "tunl0", Address: netip.MustParseAddr("10.65.0.1"), MTU: 1480}
	st.Routes = []desired.Route{{Dst: netip.MustParsePrefix("10.65.0.0/26"), Type: desired.Blackhole}}
	rep, err := d.Apply(context.Background(), st)
	if err == nil || !strings.Contains(err.Error(), "creating IPIP device tunl0") {
		t.Fatalf("got error %v, want one about creating tunl0", err)
	}
	if len(rep.RoutesAdded) != 1 || rep.Runs(iptablesRestore) != 2 {
		t.Errorf("with the tunnel failing, added routes %v and ran iptables-restore %d times; want the route and both tables written",
			rep.RoutesAdded, rep.Runs(iptablesRestore))
	}
	kernelMatches(t, ns, st)
}

// The staged cold start, in a real kernel: with a tiny stageLines the sample state's tables go in as several
// transactions and the kernel holds exactly the desired tables.
func TestAStagedColdStartLeavesTheDesiredTables(t *testing.T) {
	defer func(n int) { stageLines = n }(stageLines)
	stageLines = 2
	ns, path := testNetns(t)
	d := newTestDataplane(t, path)
	st := sampleState()
	rep := mustApply(t, d, st)
	if got := rep.Runs(iptablesRestore); got <= 2 {
		t.Errorf("a cold start with stageLines 2 ran iptables-restore %d times, want more than one per table", got)
	}
	kernelMatches(t, ns, st)
	if rep = mustApply(t, d, st); len(rep.Execs) != 0 {
		t.Errorf("re-applying after a staged start ran %v; want nothing", rep.Execs)
	}
}

// An upgrade, in a real kernel: the tables an older felix wrote (the same rules under chained hashes) are taken
// over by rewriting their hash comments, in stages, without flushing and without a rule other than the desired
// ones at any point; afterwards felix finds nothing to write.
func TestAnOlderFelixsTablesAreRehashedInStages(t *testing.T) {
	ns, path := testNetns(t)
	st := sampleState()
	var script strings.Builder
	for _, name := range []string{"filter", "nat"} {
		script.WriteString(legacyScript(name, mustRender(t, st.Tables[name])))
	}
	file := filepath.Join(t.TempDir(), "older-felix.rules")
	if err := os.WriteFile(file, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mustApply(t, newTestDataplane(t, path), &desired.State{IPSets: st.IPSets}) // the sets its rules use
	inNetns(t, ns, "iptables-restore", file)
	withoutHashes := func() string {
		return regexp.MustCompile(`-m comment --comment "?cali:[A-Za-z0-9_-]+"? `).ReplaceAllString(inNetns(t, ns, "iptables-save"), "")
	}
	before := withoutHashes()

	defer func(n int) { stageLines = n }(stageLines)
	stageLines = 2
	rep := mustApply(t, newTestDataplane(t, path), st)
	if got := rep.Runs(iptablesRestore); got <= 2 {
		t.Errorf("rehashing with stageLines 2 ran iptables-restore %d times, want stages", got)
	}
	if len(rep.ChainsWritten) == 0 || len(rep.ChainsDeleted) != 0 {
		t.Errorf("wrote %v and deleted %v; want the older chains rewritten in place", rep.ChainsWritten, rep.ChainsDeleted)
	}
	kernelMatches(t, ns, st)
	if after := withoutHashes(); stripCounters(after) != stripCounters(before) {
		t.Errorf("the rules themselves changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if rep := mustApply(t, newTestDataplane(t, path), st); rep.Changed() {
		t.Errorf("a restarted felix still wrote %v", rep.ChainsWritten)
	}
}

// stripCounters drops iptables-save's comment lines and chain counters, which differ between two saves.
func stripCounters(save string) string {
	var out []string
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, ":") {
			l, _, _ = strings.Cut(l, " [")
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
