package dataplane

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/calico-l3/calico/felix/desired"
)

// The benchmarks program real network namespaces (root; skipped in -short mode) and are meant to run once:
// `go test -run '^$' -bench . -benchtime 1x ./felix/dataplane/` (what `make bench` does).

func benchIface(i int) string { return fmt.Sprintf("cali%011x", i) }

// benchUplink is the host interface holding the node's address in benchmark namespaces.
const benchUplink = "eth0"

// benchAddr is the address of the k-th address of the node's pool range 10.65.0.0/16.
func benchAddr(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 65, byte(k >> 8), byte(k)}) }

// benchState is the desired state of a node with n local workloads, shaped like what felix's calculation and
// rules layers produce: static chains and hooks, dispatch chains, to/from chains per endpoint that apply one
// profile, the profile's chains, NAT outgoing with its ipsets, a /32 route per workload, a blackhole per block
// of 64 and the interface sysctls.
func benchState(n int) *desired.State {
	filter := &desired.Table{
		Name: "filter",
		Chains: map[string][]desired.Rule{
			"cali-FORWARD": {
				{Action: "--jump MARK --set-mark 0/0xe0000"},
				{Match: "-i cali+", Action: "--jump cali-from-wl-dispatch"},
				{Match: "-o cali+", Action: "--jump cali-to-wl-dispatch"},
				{Match: "-m mark --mark 0x10000/0x10000", Action: "--jump ACCEPT", Comment: "Policy explicitly accepted packet."},
			},
			"cali-INPUT": {
				{Match: "-m mark --mark 0x10000/0x10000", Action: "--jump ACCEPT"},
				{Match: "-i cali+", Action: "--goto cali-wl-to-host"},
			},
			"cali-wl-to-host": {
				{Action: "--jump cali-from-wl-dispatch"},
				{Action: "--jump DROP", Comment: "Configured DefaultEndpointToHostAction"},
			},
			"cali-OUTPUT": {
				{Match: "-m mark --mark 0x10000/0x10000", Action: "--jump ACCEPT"},
				{Match: "-o cali+", Action: "--jump RETURN"},
			},
		},
		Hooks: map[string][]desired.Rule{
			"INPUT":   {{Action: "--jump cali-INPUT"}},
			"FORWARD": {{Action: "--jump cali-FORWARD"}},
			"OUTPUT":  {{Action: "--jump cali-OUTPUT"}},
		},
	}
	for _, dir := range []string{"pri", "pro"} {
		filter.Chains["cali-"+dir+"-kns.default"] = []desired.Rule{
			{Action: "--jump MARK --set-mark 0x10000/0x10000"},
			{Match: "-m mark --mark 0x10000/0x10000", Action: "--jump RETURN"},
		}
	}
	st := &desired.State{
		Interfaces: map[string]desired.Interface{},
		Sysctls:    map[string]string{"net/ipv4/ip_forward": "1"},
		Tables: map[string]*desired.Table{
			"filter": filter,
			"nat":    natTable(),
		},
		IPSets: poolSets(),
	}
	var from, to []desired.Rule
	for i := range n {
		ifc := benchIface(i)
		from = append(from, desired.Rule{Match: "-i " + ifc, Action: "--goto cali-fw-" + ifc})
		to = append(to, desired.Rule{Match: "-o " + ifc, Action: "--goto cali-tw-" + ifc})
		for _, c := range []struct{ chain, profile string }{{"cali-tw-", "cali-pri-kns.default"}, {"cali-fw-", "cali-pro-kns.default"}} {
			filter.Chains[c.chain+ifc] = []desired.Rule{
				{Match: "-m conntrack --ctstate RELATED,ESTABLISHED", Action: "--jump ACCEPT"},
				{Match: "-m conntrack --ctstate INVALID", Action: "--jump DROP"},
				{Action: "--jump MARK --set-mark 0/0x10000"},
				{Action: "--jump " + c.profile},
				{Match: "-m mark --mark 0x10000/0x10000", Action: "--jump RETURN", Comment: "Return if profile accepted"},
				{Action: "--jump DROP", Comment: "Drop if no profiles matched"},
			}
		}
		st.Routes = append(st.Routes, desired.Route{Dst: netip.PrefixFrom(benchAddr(i+1), 32), Iface: ifc})
		st.Interfaces[ifc] = desired.Interface{Name: ifc, Sysctls: map[string]string{
			"net/ipv4/conf/" + ifc + "/proxy_arp":    "1",
			"net/ipv4/neigh/" + ifc + "/proxy_delay": "0",
			"net/ipv4/conf/" + ifc + "/forwarding":   "1",
			"net/ipv4/conf/" + ifc + "/rp_filter":    "1",
		}}
	}
	for k := 0; k <= n; k += 64 { // the blocks holding addresses 1..n
		st.Routes = append(st.Routes, desired.Route{Dst: netip.PrefixFrom(benchAddr(k), 26), Type: desired.Blackhole})
	}
	filter.Chains["cali-from-wl-dispatch"] = append(from, desired.Rule{Action: "--jump DROP", Comment: "Unknown interface"})
	filter.Chains["cali-to-wl-dispatch"] = append(to, desired.Rule{Action: "--jump DROP", Comment: "Unknown interface"})
	return st
}

// addBenchLinks creates the workload interfaces [from, to) as veth pairs, both ends up, with one ip -batch. The
// first call in a namespace also gives it an uplink holding the node's address, created before any workload
// interface as on a real node: the kernel picks a source address for each new link route by searching the
// interfaces in creation order, so without one every route add walks all the workload interfaces (quadratic at
// thousands of endpoints, and nothing a real node pays).
func addBenchLinks(b testing.TB, ns string, from, to int) {
	b.Helper()
	var script strings.Builder
	if from == 0 {
		script.WriteString("link add " + benchUplink + " type veth peer name " + benchUplink + "p\n")
		script.WriteString("address add 10.0.0.1/24 dev " + benchUplink + "\nlink set " + benchUplink + " up\n")
	}
	for i := from; i < to; i++ {
		fmt.Fprintf(&script, "link add %s type veth peer name p%d\nlink set %s up\nlink set p%d up\n", benchIface(i), i, benchIface(i), i)
	}
	d := newTestDataplane(b, "/run/netns/"+ns)
	var rep Report
	if _, err := d.run(context.Background(), &rep, script.String(), "ip", "-batch", "-"); err != nil {
		b.Fatalf("creating %d interfaces: %v", to-from, err)
	}
}

// BenchmarkColdStart programs n endpoints into an empty namespace and compares with, in the same run, one bare
// iptables-restore of the final ruleset (the floor) and, for small n, the same rules written with one
// `iptables -A` per rule (the naive baseline).
func BenchmarkColdStart(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			for range b.N {
				benchColdStart(b, n)
			}
		})
	}
}

// coldRound is one measurement of a cold start and of the floor beside it.
type coldRound struct {
	felix, felixIptables, floor, floorScript time.Duration
	restores, rules, routes                  int
	sets                                     string // ipset save of the final state, for the naive baseline
}

func benchColdStart(b *testing.B, n int) {
	b.StopTimer()
	rounds := 5 // the median of several rounds: one exec on a busy machine varies by tens of milliseconds
	if n >= 1000 {
		rounds = 3
	}
	all := inRounds(b, rounds, func(s *scope) coldRound { return coldStartRound(s, n) })
	med := func(f func(coldRound) time.Duration) time.Duration { return medianOf(all, f) }
	felix := med(func(r coldRound) time.Duration { return r.felix })
	felixIpt := med(func(r coldRound) time.Duration { return r.felixIptables })
	floor := med(func(r coldRound) time.Duration { return r.floor })
	floorScript := med(func(r coldRound) time.Duration { return r.floorScript })
	r := all[0]
	b.ReportMetric(float64(r.rules), "rules")
	b.ReportMetric(ms(felix), "felix-ms")
	b.ReportMetric(ms(felixIpt), "felix-iptables-ms")
	b.ReportMetric(float64(r.restores), "restores")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(ms(floorScript), "floor-script-ms")
	b.ReportMetric(float64(felixIpt)/float64(floor), "felix-iptables/floor")
	summary := fmt.Sprintf("cold start, %d endpoints (%d rules, %d routes), median of %d: felix %.1f ms in all; its iptables part "+
		"(1 iptables-save, %d iptables-restore) %.1f ms; floor (one bare iptables-restore of the final ruleset) %.1f ms, "+
		"ratio %.2f; felix's own writes as one iptables-restore --noflush %.1f ms",
		n, r.rules, r.routes, rounds, ms(felix), r.restores, ms(felixIpt), ms(floor), float64(felixIpt)/float64(floor), ms(floorScript))

	if n <= 100 {
		// The naive baseline, once (it is slow and varies little): one iptables exec per chain and per rule.
		ctx := context.Background()
		s := &scope{TB: b}
		defer s.close()
		_, path := testNetns(s)
		nd := newTestDataplane(s, path)
		var scratch Report
		if _, err := nd.run(ctx, &scratch, r.sets, ipsetCmd, "restore"); err != nil {
			b.Fatal(err)
		}
		cmds := naiveCommands(b, benchState(n))
		start := time.Now()
		for _, args := range cmds {
			if _, err := nd.run(ctx, &scratch, "", "iptables", args...); err != nil {
				b.Fatal(err)
			}
		}
		naive := time.Since(start)
		b.ReportMetric(ms(naive), "naive-ms")
		b.ReportMetric(float64(len(cmds)), "naive-execs")
		b.ReportMetric(float64(naive)/float64(felixIpt), "naive/felix-iptables")
		summary += fmt.Sprintf("; naive (%d iptables execs) %.1f ms = %.1fx felix's iptables part, %.1fx felix in all",
			len(cmds), ms(naive), float64(naive)/float64(felixIpt), float64(naive)/float64(felix))
	}
	b.Log(summary)
}

// coldStartRound programs n endpoints into a fresh namespace, then writes the resulting ruleset (iptables-save)
// with one bare iptables-restore into another fresh namespace holding the same ipsets: the floor. A bare
// restore also declares and sets the policy of every kernel chain, which nf_tables makes cost more than the
// rules themselves when there are few; so beside it, felix's own cold writes as one script in one
// iptables-restore --noflush.
func coldStartRound(s *scope, n int) coldRound {
	ctx := context.Background()
	b := s.TB.(*testing.B)
	ns, path := testNetns(s)
	addBenchLinks(s, ns, 0, n)
	st := benchState(n)
	d := newTestDataplane(s, path)

	b.StartTimer()
	start := time.Now()
	rep, err := d.Apply(ctx, st)
	felix := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.RoutesAdded) != len(st.Routes) {
		b.Fatalf("added %d routes, want %d", len(rep.RoutesAdded), len(st.Routes))
	}
	var scratch Report
	final, err := d.run(ctx, &scratch, "", iptablesSave)
	if err != nil {
		b.Fatal(err)
	}
	sets, err := d.run(ctx, &scratch, "", ipsetCmd, "save")
	if err != nil {
		b.Fatal(err)
	}

	// felix's own writes from cold, as one script: what it ran, without its reads and split per table.
	var script strings.Builder
	for _, name := range tableNames(st.Tables) {
		rt, err := renderTable(st.Tables[name], nil, false)
		if err != nil {
			b.Fatal(err)
		}
		script.WriteString(planTable(name, rt, tableState{}).script)
	}
	floor := func(input string, args ...string) time.Duration {
		_, path := testNetns(s)
		fd := newTestDataplane(s, path)
		if _, err := fd.run(ctx, &scratch, sets, ipsetCmd, "restore"); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := fd.run(ctx, &scratch, input, iptablesRestore, args...); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	return coldRound{
		felix: felix, felixIptables: rep.RunTime(iptablesSave) + rep.RunTime(iptablesRestore),
		floor: floor(final), floorScript: floor(script.String(), "--noflush"),
		restores: rep.Runs(iptablesRestore), rules: strings.Count(final, "\n-A "), routes: len(st.Routes), sets: sets,
	}
}

// scope runs the cleanups registered on it when closed, so that one benchmark round's namespaces (and their
// thousands of interfaces) are gone before the next round.
type scope struct {
	testing.TB
	cleanups []func()
}

func (s *scope) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *scope) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// naiveCommands lists the iptables invocations that write st's tables one chain and one rule at a time.
func naiveCommands(b testing.TB, st *desired.State) [][]string {
	var cmds [][]string
	for _, table := range sortedKeys(st.Tables) {
		rt, err := renderTable(st.Tables[table], nil, false)
		if err != nil {
			b.Fatal(err)
		}
		chains := sortedKeys(rt.chains)
		for _, c := range chains {
			cmds = append(cmds, []string{"-w", "-t", table, "-N", c})
		}
		add := func(op, chain string, rules []renderedRule) {
			for _, r := range rules {
				args, err := splitArgs(r.spec)
				if err != nil {
					b.Fatal(err)
				}
				cmds = append(cmds, append([]string{"-w", "-t", table, op, chain}, args...))
			}
		}
		for _, c := range chains {
			add("-A", c, rt.chains[c].rules)
		}
		for _, c := range sortedKeys(rt.hooks) {
			add("-A", c, rt.hooks[c].rules)
		}
	}
	return cmds
}

// BenchmarkAddEndpointTo1000 measures adding one endpoint to a node that already has 1000: the time of each
// Apply (p50, p99) and its iptables-restore runs.
func BenchmarkAddEndpointTo1000(b *testing.B) {
	const base, adds = 1000, 100
	for range b.N {
		b.StopTimer()
		ctx := context.Background()
		ns, path := testNetns(b)
		addBenchLinks(b, ns, 0, base+adds)
		d := newTestDataplane(b, path)
		if _, err := d.Apply(ctx, benchState(base)); err != nil {
			b.Fatal(err)
		}
		var took, restoreTook []time.Duration
		restores := 0
		for k := 1; k <= adds; k++ {
			st := benchState(base + k)
			b.StartTimer()
			start := time.Now()
			rep, err := d.Apply(ctx, st)
			took = append(took, time.Since(start))
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			wantRoute := benchAddr(base+k).String() + "/32 "
			if !slices.ContainsFunc(rep.RoutesAdded, func(r string) bool { return strings.HasPrefix(r, wantRoute) }) || len(rep.ChainsWritten) != 4 {
				b.Fatalf("adding endpoint %d: added routes %v, wrote chains %v; want its /32 and 4 chains (its two, two dispatch)",
					base+k, rep.RoutesAdded, rep.ChainsWritten)
			}
			restores += rep.Runs(iptablesRestore)
			restoreTook = append(restoreTook, rep.RunTime(iptablesRestore))
		}
		p50, p99 := percentile(took, 50), percentile(took, 99)
		b.ReportMetric(ms(p50), "p50-ms")
		b.ReportMetric(ms(p99), "p99-ms")
		b.ReportMetric(ms(percentile(restoreTook, 50)), "restore-p50-ms")
		b.ReportMetric(float64(restores)/adds, "restores/add")
		b.Logf("add one endpoint to %d (%d samples): p50 %.1f ms, p99 %.1f ms; %.2f iptables-restore runs per add, "+
			"p50 %.1f ms of them", base, adds, ms(p50), ms(p99), float64(restores)/adds, ms(percentile(restoreTook, 50)))
	}
}

// percentile returns the p-th percentile (nearest rank) of the samples.
// inRounds runs round the given number of times, each in a scope of its own that is closed after it.
func inRounds[R any](b *testing.B, rounds int, round func(*scope) R) []R {
	all := make([]R, 0, rounds)
	for range rounds {
		s := &scope{TB: b}
		all = append(all, round(s))
		s.close()
	}
	return all
}

// medianOf is the median over rounds of one figure of each round.
func medianOf[R any](rounds []R, figure func(R) time.Duration) time.Duration {
	xs := make([]time.Duration, 0, len(rounds))
	for _, r := range rounds {
		xs = append(xs, figure(r))
	}
	return percentile(xs, 50)
}

func percentile(samples []time.Duration, p int) time.Duration {
	s := slices.Clone(samples)
	slices.Sort(s)
	return s[(len(s)*p+99)/100-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkColdStartRoutesAndSysctls is the part of a cold start that is neither iptables nor ipsets: listing the
// links, then the sysctls (4 per interface) and the routes (a /32 per endpoint, a blackhole per block) of n
// endpoints, as Resync writes them into a namespace whose interfaces were just created. Beside each, its floor in
// the same run, into a second namespace just like the first: the routes with one `ip -batch` (one netlink request
// per route, as felix sends), the sysctls with one `sysctl -p` of exactly the values felix set (writes only, where
// felix also reads every value first). FELIX_BENCH_ENDPOINTS (comma-separated) replaces the sizes 1000 and 10000.
func BenchmarkColdStartRoutesAndSysctls(b *testing.B) {
	for _, n := range sizesFromEnv(b, "FELIX_BENCH_ENDPOINTS") {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			for range b.N {
				benchRoutesAndSysctls(b, n)
			}
		})
	}
}

// kernelRound is one measurement of benchRoutesAndSysctls.
type kernelRound struct {
	links, sysctls, routes, sysctlsFloor, routesFloor time.Duration
	sysctlsSet, routesAdded                           int
}

func benchRoutesAndSysctls(b *testing.B, n int) {
	b.StopTimer()
	rounds := 3
	if n > 1000 {
		rounds = 1 // creating tens of thousands of interfaces takes minutes
	}
	all := inRounds(b, rounds, func(s *scope) kernelRound { return kernelPartsRound(s, n) })
	med := func(f func(kernelRound) time.Duration) time.Duration { return medianOf(all, f) }
	links := med(func(r kernelRound) time.Duration { return r.links })
	sysctls := med(func(r kernelRound) time.Duration { return r.sysctls })
	routes := med(func(r kernelRound) time.Duration { return r.routes })
	sysctlsFloor := med(func(r kernelRound) time.Duration { return r.sysctlsFloor })
	routesFloor := med(func(r kernelRound) time.Duration { return r.routesFloor })
	felix, floor := links+sysctls+routes, sysctlsFloor+routesFloor
	r := all[0]
	b.ReportMetric(float64(n), "endpoints")
	b.ReportMetric(float64(r.sysctlsSet), "sysctls-set")
	b.ReportMetric(float64(r.routesAdded), "routes-added")
	b.ReportMetric(ms(links), "links-ms")
	b.ReportMetric(ms(sysctls), "sysctls-ms")
	b.ReportMetric(ms(sysctlsFloor), "sysctls-floor-ms")
	b.ReportMetric(ms(routes), "routes-ms")
	b.ReportMetric(ms(routesFloor), "routes-floor-ms")
	b.ReportMetric(ms(felix), "felix-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(float64(felix)/float64(floor), "felix/floor")
	b.Logf("cold start of %d endpoints without iptables and ipsets, median of %d: links listed in %.1f ms; %d sysctls "+
		"set (of %d read) in %.1f ms, floor (sysctl -p of the same values) %.1f ms; %d routes added in %.1f ms, floor "+
		"(ip -batch) %.1f ms; together %.1f ms against %.1f ms, ratio %.2f",
		n, rounds, ms(links), r.sysctlsSet, 4*n+1, ms(sysctls), ms(sysctlsFloor), r.routesAdded, ms(routes),
		ms(routesFloor), ms(felix), ms(floor), float64(felix)/float64(floor))
}

func kernelPartsRound(s *scope, n int) kernelRound {
	ctx := context.Background()
	b := s.TB.(*testing.B)
	ns, path := testNetns(s)
	addBenchLinks(s, ns, 0, n)
	st := benchState(n)
	d := newTestDataplane(s, path)
	var r kernelRound
	var rep Report

	start := time.Now()
	links, err := d.links(true)
	r.links = time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	err = d.syncSysctls(st, links.byName, &rep)
	r.sysctls = time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	err = d.syncRoutes(ctx, st.Routes, links, true, &rep)
	r.routes = time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.RoutesAdded) != len(st.Routes) || len(rep.SysctlsSet) < 3*n {
		b.Fatalf("added %d routes and set %d sysctls; want %d routes and at least %d sysctls (3 of 4 per interface "+
			"differ from a new interface's)", len(rep.RoutesAdded), len(rep.SysctlsSet), len(st.Routes), 3*n)
	}
	r.sysctlsSet, r.routesAdded = len(rep.SysctlsSet), len(rep.RoutesAdded)

	floorNS, floorPath := testNetns(s)
	addBenchLinks(s, floorNS, 0, n)
	fd := newTestDataplane(s, floorPath)
	var values, routes strings.Builder
	for _, set := range rep.SysctlsSet {
		p, v, _ := strings.Cut(set, "=")
		fmt.Fprintf(&values, "%s = %s\n", p, v)
	}
	for _, rt := range st.Routes {
		if rt.Type == desired.Blackhole {
			fmt.Fprintf(&routes, "route add blackhole %s proto %d\n", rt.Dst, RouteProtocol)
		} else {
			fmt.Fprintf(&routes, "route add %s dev %s proto %d scope link\n", rt.Dst, rt.Iface, RouteProtocol)
		}
	}
	var scratch Report
	start = time.Now()
	if _, err := fd.run(ctx, &scratch, values.String(), "sysctl", "-q", "-p", "/dev/stdin"); err != nil {
		b.Fatal(err)
	}
	r.sysctlsFloor = time.Since(start)
	start = time.Now()
	if _, err := fd.run(ctx, &scratch, routes.String(), "ip", "-batch", "-"); err != nil {
		b.Fatal(err)
	}
	r.routesFloor = time.Since(start)
	return r
}

// BenchmarkRouteChurn is one endpoint added to, then one removed from, a node of n endpoints, counting only what
// is neither iptables nor ipsets: its /32 route and its 4 interface sysctls (the interfaces exist already, as the
// CNI plugin creates them first). Each change is one Apply, timed. Beside it, in the same run, its floor: the
// same route written with one netlink request and the same sysctls ensured (read, then written), into a second
// namespace holding the same interfaces and routes; and what listing felix's routes costs there, which every
// Apply used to do. A removal's time leaves out the deletion of the removed workload's conntrack
// entries, reported apart. FELIX_BENCH_ENDPOINTS (comma-separated) replaces the sizes 1000 and 10000.
func BenchmarkRouteChurn(b *testing.B) {
	for _, n := range sizesFromEnv(b, "FELIX_BENCH_ENDPOINTS") {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			for range b.N {
				benchRouteChurn(b, n)
			}
		})
	}
}

// routesAndSysctls is benchState(n) without iptables and ipsets.
func routesAndSysctls(n int) *desired.State {
	st := benchState(n)
	st.Tables, st.IPSets = nil, nil
	return st
}

func benchRouteChurn(b *testing.B, n int) {
	b.StopTimer()
	const samples = 50
	ctx := context.Background()
	s := &scope{TB: b}
	defer s.close()
	ns, path := testNetns(s)
	addBenchLinks(s, ns, 0, n+samples)
	d := newTestDataplane(s, path)
	if _, err := d.Resync(ctx, routesAndSysctls(n)); err != nil {
		b.Fatal(err)
	}
	floorNS, floorPath := testNetns(s)
	addBenchLinks(s, floorNS, 0, n+samples)
	fd := newTestDataplane(s, floorPath)
	if _, err := fd.Resync(ctx, routesAndSysctls(n)); err != nil {
		b.Fatal(err)
	}
	floorLinks, err := fd.links(false)
	if err != nil {
		b.Fatal(err)
	}

	var add, del, addFloor, delFloor, listing, conntrack []time.Duration
	change := func(st *desired.State, i int, adding bool) {
		runtime.GC() // the states' garbage (benchState renders every endpoint's chains) is not the Apply's
		b.StartTimer()
		start := time.Now()
		rep, err := d.Apply(ctx, st)
		took := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		// Flushing a removed workload's conntrack entries walks the kernel's conntrack table; the floor does not.
		conntrack = append(conntrack, rep.ConntrackTime)
		took -= rep.ConntrackTime
		route := benchAddr(i+1).String() + "/32 "
		var changed []string // besides the blackhole of a new block
		for _, r := range slices.Concat(rep.RoutesAdded, rep.RoutesRemoved, rep.RoutesReplaced) {
			if !strings.HasPrefix(r, "blackhole ") {
				changed = append(changed, r)
			}
		}
		got := rep.RoutesRemoved
		if adding {
			got = rep.RoutesAdded
		}
		if len(changed) != 1 || !slices.ContainsFunc(got, func(r string) bool { return strings.HasPrefix(r, route) }) {
			b.Fatalf("endpoint %d (adding %v): added %v, removed %v, replaced %v; want only its route", i, adding,
				rep.RoutesAdded, rep.RoutesRemoved, rep.RoutesReplaced)
		}
		if adding && len(rep.SysctlsSet) < 3 {
			b.Fatalf("endpoint %d: set sysctls %v, want at least 3", i, rep.SysctlsSet)
		}

		// The floor: the same route with one netlink request, and on an add the same sysctls ensured.
		r := routeOp{kind: opDelete, route: kernelRoute{Dst: netip.PrefixFrom(benchAddr(i+1), 32), Type: desired.Unicast,
			LinkIndex: floorLinks.byName[benchIface(i)].index}}
		if adding {
			r.kind = opAdd
		}
		iface := st.Interfaces[benchIface(i)]
		start = time.Now()
		if errs := fd.sendRoutes([]routeOp{r}); errs[0] != nil {
			b.Fatal(errs[0])
		}
		if adding {
			err = fd.inNS(func() error {
				for _, p := range sortedKeys(iface.Sysctls) {
					if _, err := ensureSysctl(p, iface.Sysctls[p]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		floor := time.Since(start)
		start = time.Now()
		if _, err := fd.nl.RouteListFiltered(0, &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE); err != nil {
			b.Fatal(err)
		}
		listing = append(listing, time.Since(start))
		if adding {
			add, addFloor = append(add, took), append(addFloor, floor)
		} else {
			del, delFloor = append(del, took), append(delFloor, floor)
		}
	}
	st := routesAndSysctls(n)
	for k := range samples {
		st = routesAndSysctls(n + k + 1)
		change(st, n+k, true)
	}
	for k := range samples {
		i := k * (n / samples)
		st.Routes = slices.DeleteFunc(st.Routes, func(r desired.Route) bool { return r.Iface == benchIface(i) })
		delete(st.Interfaces, benchIface(i))
		change(st, i, false)
	}
	p50 := func(xs []time.Duration) time.Duration { return percentile(xs, 50) }
	b.ReportMetric(ms(p50(add)), "add-p50-ms")
	b.ReportMetric(ms(percentile(add, 99)), "add-p99-ms")
	b.ReportMetric(ms(p50(addFloor)), "add-floor-p50-ms")
	b.ReportMetric(ms(p50(del)), "del-p50-ms")
	b.ReportMetric(ms(percentile(del, 99)), "del-p99-ms")
	b.ReportMetric(ms(p50(delFloor)), "del-floor-p50-ms")
	b.ReportMetric(float64(p50(add))/float64(p50(addFloor)), "add/floor")
	b.ReportMetric(float64(p50(del))/float64(p50(delFloor)), "del/floor")
	b.ReportMetric(ms(p50(listing)), "route-listing-p50-ms")
	b.ReportMetric(ms(percentile(conntrack, 99)), "conntrack-p99-ms")
	b.Logf("%d endpoints, %d adds then %d removals, routes and interface sysctls only: add p50 %.2f ms (p99 %.2f), floor "+
		"(one netlink request, 4 sysctls ensured) %.2f ms, ratio %.1f; remove p50 %.2f ms (p99 %.2f) besides the conntrack "+
		"deletion (p99 %.2f ms), floor (one netlink request) %.2f ms, ratio %.1f; a listing of felix's routes (a plain dump, "+
		"as each apply made before) p50 %.2f ms",
		n, samples, samples, ms(p50(add)), ms(percentile(add, 99)), ms(p50(addFloor)),
		float64(p50(add))/float64(p50(addFloor)), ms(p50(del)), ms(percentile(del, 99)), ms(percentile(conntrack, 99)),
		ms(p50(delFloor)), float64(p50(del))/float64(p50(delFloor)), ms(p50(listing)))
}
