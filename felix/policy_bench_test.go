package felix

// The benchmarks of felix's policy path (make bench): how long a newly applied policy takes to be enforced on a
// busy node, what a label change that moves one endpoint between many ipsets costs, and how much memory the
// calculation holds for a large cluster. Each is measured beside its floor, the least the kernel (or the heap)
// could be asked to do for the same thing, in the same run. The first two program throwaway network namespaces
// and need root. Every benchmark does its whole measurement once per b.N iteration and repeats internally, so
// `-benchtime 1x` gives meaningful percentiles:
//
//	go test -run '^$' -bench . -benchtime 1x ./felix/

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/dataplane"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/ipam"
)

const (
	pbHost           = "node1"
	pbLocalEndpoints = 200 // on the busy node of benchmarks 1 and 2
	pbPolicies       = 500 // GlobalNetworkPolicies already present there
	pbAdds           = 20  // policies added one at a time in benchmark 1
	pbColorSets      = 50  // benchmark 2 moves one endpoint out of 50 ipsets and into 50 others
	pbMoves          = 20  // label changes in benchmark 2
	pbRemote         = 10000
	pbRemoteNodes    = 100
)

var (
	pbTiers = []string{"frontend", "backend", "db"}
	pbEnvs  = []string{"prod", "staging"}
)

// BenchmarkPolicyAddOnBusyNode is the time from a new GlobalNetworkPolicy arriving from the datastore to its
// enforcement, on a node with 200 local endpoints and 500 policies already programmed: the event, the
// calculation (State) and the dataplane Apply, which returns once iptables-restore has committed. Each of 20
// adds selects 4 endpoints and lands at a different place in their chains.
//
// The floor beside it is one `iptables-restore --noflush` (and one `ip6tables-restore --noflush` when felix
// programs IPv6 too) into a namespace holding the same ruleset, with only what enforcing the policy requires: its
// own chains declared and filled, and the rules jumping to it inserted into the chains of the endpoints it
// selects. Nothing less can make the kernel enforce the policy (its rules must exist and traffic must reach
// them), nothing else needs to change (the ipsets its rules match on already exist), and one transaction per
// family is the fewest the kernel takes, so no implementation can do better. The floor leaves out felix's hash
// comments, which are only for drift detection.
func BenchmarkPolicyAddOnBusyNode(b *testing.B) {
	pbOnBackend(b, func(b *testing.B) {
		pbNeedRoot(b)
		for range b.N {
			pbPolicyAdds(b)
		}
	})
}

func pbPolicyAdds(b *testing.B) {
	node := pbNewBusyNode(b, nil)
	defer node.close()
	pbMeasurePolicyAdds(b, node, pbAdds, fmt.Sprintf("%d endpoints and %d policies", pbLocalEndpoints, pbPolicies))
}

// pbMeasurePolicyAdds adds pbAddedPolicy(0..adds-1) to a programmed node one at a time and reports the figures of
// BenchmarkPolicyAddOnBusyNode; what describes the node in the log.
func pbMeasurePolicyAdds(b *testing.B, node *pbBusyNode, adds int, what string) {
	ctx := context.Background()
	floorNS := pbNewNetns(b)
	defer floorNS.close(b)
	node.copyTo(b, floorNS)

	var took, calcTook, applyTook, restoreTook, floorTook []time.Duration
	restores, ipsetExecs, execs, floorLines, floorExecs := 0, 0, 0, 0, 0
	prev := node.state
	for k := range adds {
		p := pbAddedPolicy(k)
		st, rep, calc, apply, err := node.step(ctx, node.feed.event(datastore.Added, p))
		if err != nil {
			b.Fatalf("applying policy %s: %v", p.Name, err)
		}
		took = append(took, calc+apply)
		calcTook = append(calcTook, calc)
		applyTook = append(applyTook, apply)
		restoreTook = append(restoreTook, rep.RunTime("iptables-restore")+rep.RunTime("ip6tables-restore"))
		restores += rep.Runs("iptables-restore") + rep.Runs("ip6tables-restore")
		ipsetExecs += rep.Runs("ipset")
		execs += len(rep.Execs)

		chain := rules.ChainName(rules.PrefixPolicyIngress, p.Name)
		if !slices.Contains(rep.ChainsWritten, "filter/"+chain) {
			b.Fatalf("adding policy %s: expected chain filter/%s written, got %v", p.Name, chain, rep.ChainsWritten)
		}
		if !pbSameSetNames(prev.IPSets, st.IPSets) {
			b.Fatalf("adding policy %s changed the ipsets; the floor assumes it needs none", p.Name)
		}
		saved := node.ns.mustRun(b, "", "iptables-save", "-t", "filter")
		if !strings.Contains(saved, "-j "+chain) || !strings.Contains(saved, ":"+chain+" ") {
			b.Fatalf("after adding policy %s the kernel has no chain %s or no jump to it", p.Name, chain)
		}

		var floor time.Duration
		for _, fam := range pbFamilies {
			if fam.tables(st) == nil {
				continue
			}
			script, lines := pbChainEdits(fam.tables(prev)[rules.TableFilter], fam.tables(st)[rules.TableFilter])
			if lines == 0 {
				continue
			}
			_, d, err := floorNS.run(script, fam.restore, "--noflush", "--wait")
			if err != nil {
				b.Fatalf("floor for policy %s: %v\n%s", p.Name, err, script)
			}
			floor += d
			floorLines += lines
			floorExecs++
		}
		floorTook = append(floorTook, floor)
		prev = st
	}

	p50, p99, floor := pbPercentile(took, 50), pbPercentile(took, 99), pbPercentile(floorTook, 50)
	b.ReportMetric(pbMS(p50), "p50-ms")
	b.ReportMetric(pbMS(p99), "p99-ms")
	b.ReportMetric(pbMS(pbPercentile(calcTook, 50)), "calc-p50-ms")
	b.ReportMetric(pbMS(pbPercentile(applyTook, 50)), "apply-p50-ms")
	b.ReportMetric(pbMS(pbPercentile(restoreTook, 50)), "restore-p50-ms")
	b.ReportMetric(pbMS(floor), "floor-ms")
	b.ReportMetric(pbMS(pbPercentile(floorTook, 99)), "floor-p99-ms")
	b.ReportMetric(float64(p50)/float64(floor), "p50/floor")
	b.ReportMetric(float64(restores)/float64(adds), "restores/add")
	b.ReportMetric(float64(ipsetExecs)/float64(adds), "ipset-execs/add")
	b.ReportMetric(float64(execs)/float64(adds), "execs/add")
	b.ReportMetric(float64(floorLines)/float64(adds), "floor-lines/add")
	b.ReportMetric(float64(floorExecs)/float64(adds), "floor-execs/add")
	b.Logf("add one policy to %s (%d rules), %d adds: p50 %.1f ms (calc %.1f, apply %.1f, "+
		"of which ip(6)tables-restore %.1f), p99 %.1f ms (the slowest of %d); per add %.2f ip(6)tables-restore, %.2f ipset, "+
		"%.2f execs in all; floor (%.2f ip(6)tables-restore --noflush of %.0f lines in all) p50 %.1f ms, ratio %.1f",
		what, node.rules, adds, pbMS(p50), pbMS(pbPercentile(calcTook, 50)),
		pbMS(pbPercentile(applyTook, 50)), pbMS(pbPercentile(restoreTook, 50)), pbMS(p99), adds,
		float64(restores)/float64(adds), float64(ipsetExecs)/float64(adds), float64(execs)/float64(adds), float64(floorExecs)/float64(adds),
		float64(floorLines)/float64(adds), pbMS(floor), float64(p50)/float64(floor))
}

// --- the scale benchmarks: a node with 1,000 and 10,000 local endpoints

// pbScaleSizes are the endpoint counts of the scale benchmarks. FELIX_BENCH_ENDPOINTS (a comma-separated list,
// e.g. 500) replaces them, for trying the benchmarks out at a small size.
var pbScaleSizes = pbSizes(os.Getenv("FELIX_BENCH_ENDPOINTS"), []int{1000, 10000})

// pbScalePolicyAdds is how many policies BenchmarkPolicyAddAtScale adds; FELIX_BENCH_POLICY_ADDS replaces it (at
// 10,000 endpoints each add takes seconds).
var pbScalePolicyAdds = pbCount(os.Getenv("FELIX_BENCH_POLICY_ADDS"), pbScaleSamples)

func pbCount(env string, def int) int {
	if env == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(env, &n); err != nil || n < 1 {
		panic(fmt.Sprintf("FELIX_BENCH_POLICY_ADDS=%q: want a positive count", env))
	}
	return n
}

const (
	pbScaleSamples  = 50 // endpoints added, endpoints removed, policies added
	pbScalePolicies = 5  // policies selecting every endpoint of a scale node
)

func pbSizes(env string, def []int) []int {
	if env == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 2*pbScaleSamples {
			panic(fmt.Sprintf("FELIX_BENCH_ENDPOINTS=%q: want sizes of at least %d", env, 2*pbScaleSamples))
		}
		out = append(out, n)
	}
	return out
}

// pbScaleIface is the interface of the i-th endpoint of a scale node. Like the CNI plugin's (a hash of the
// workload), the names are spread over the whole name space, so that an endpoint added or removed lands anywhere in
// the sorted dispatch chains, not only at their end: 44 bits of splitmix64 of i (pbPrepareNode checks that the
// ones it uses do not collide).
func pbScaleIface(i int) string {
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return fmt.Sprintf("cali%011x", x>>20)
}

// pbScaleEndpoint is the i-th endpoint of a scale node: labelled as the busy node's, with a spread interface name.
func pbScaleEndpoint(i int) *api.WorkloadEndpoint {
	w := pbLocalEndpoint(i)
	w.Spec.InterfaceName = pbScaleIface(i)
	return w
}

// pbScalePolicy is the j-th of the policies of a scale node: it selects every endpoint, allows TCP 80 from 10 of
// the 50 apps (so that together the policies match on one selector ipset per app) and, on egress, DNS.
func pbScalePolicy(j int) *api.GlobalNetworkPolicy {
	tcp, udp := api.ProtocolFromString("TCP"), api.ProtocolFromString("UDP")
	var ingress []api.Rule
	for a := j * 10; a < j*10+10; a++ {
		ingress = append(ingress, api.Rule{Action: api.ActionAllow, Protocol: &tcp,
			Source:      api.EntityRule{Selector: fmt.Sprintf("app == 'app%d'", a%50)},
			Destination: api.EntityRule{Ports: []api.Port{pbPort(80, 80)}}})
	}
	egress := []api.Rule{{Action: api.ActionAllow, Protocol: &udp,
		Destination: api.EntityRule{Selector: "k8s-app == 'kube-dns'", Ports: []api.Port{pbPort(53, 53)}}}}
	order := float64(j)
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("all-%d", j)},
		Spec: api.GlobalNetworkPolicySpec{Order: &order, Selector: "all()",
			Types:   []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress},
			Ingress: ingress, Egress: egress}}
}

// pbScaleSpec is a scale node of n endpoints with interfaces for extra more.
func pbScaleSpec(n, extra int) pbNodeSpec {
	var res []api.Resource
	for j := range pbScalePolicies {
		res = append(res, pbScalePolicy(j))
	}
	return pbNodeSpec{endpoints: n, links: n + extra, endpoint: pbScaleEndpoint, resources: res}
}

// pbLogBackend states which iptables the figures are of (nf_tables or legacy); benchreport reads the line of the
// default runs as the machine's backend. A run on FELIX_BENCH_BACKEND says so in its name and its own line.
func pbLogBackend(b *testing.B) {
	program := "iptables"
	if pbBackend != "" {
		program = "iptables-" + pbBackend
	}
	out, err := exec.Command(program, "-V").CombinedOutput()
	if err != nil {
		b.Fatalf("%s -V: %v: %s", program, err, out)
	}
	if pbBackend != "" {
		b.Logf("felix and its floors ran on FELIX_BENCH_BACKEND=%s: %s", pbBackend, strings.TrimSpace(string(out)))
		return
	}
	b.Logf("iptables backend: %s", strings.TrimSpace(string(out)))
}

// BenchmarkColdStartWithPolicies is felix programming a node from cold: 1,000 or 10,000 local endpoints, one
// profile and 5 policies selecting every endpoint (with 52 selector ipsets). The calculation (the first listing
// and the first State) is timed apart from the dataplane's Resync, which writes the ipsets, iptables, routes and
// sysctls. The floor, as for BenchmarkColdStart, is one bare `ipset restore` of the final sets and one bare
// `iptables-restore` of the final ruleset (iptables-save after felix) into a fresh namespace, and the same for
// ip6tables, which felix programs too (the IPv6 tables hold the same endpoint chains). Median of 3 rounds (the
// lower of 2 at 10,000). The rules figure counts IPv4 rules.
func BenchmarkColdStartWithPolicies(b *testing.B) { pbAtScale(b, pbColdStart) }

// pbAtScale runs one sub-benchmark "endpoints=<n>" per size of pbScaleSizes, each calling run b.N times.
func pbAtScale(b *testing.B, run func(b *testing.B, n int)) {
	pbOnBackend(b, func(b *testing.B) {
		pbNeedRoot(b)
		for _, n := range pbScaleSizes {
			b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
				for range b.N {
					run(b, n)
				}
			})
		}
	})
}

// pbBackend is the iptables backend the kernel benchmarks run on. FELIX_BENCH_BACKEND=legacy runs them on the
// legacy tables: felix with iptablesBackend Legacy, and the floors through iptables-legacy-restore, under the
// sub-benchmark name "legacy". Empty (the default) runs felix on Auto and the floors through the host's
// iptables-restore, which on a fresh namespace are the same backend.
var pbBackend = func() string {
	switch v := strings.ToLower(os.Getenv("FELIX_BENCH_BACKEND")); v {
	case "", "legacy", "nft":
		return v
	default:
		panic(fmt.Sprintf("FELIX_BENCH_BACKEND=%q: want legacy or nft", v))
	}
}()

// pbOnBackend runs a kernel benchmark on pbBackend: as it is by default, or as the sub-benchmark named after the
// backend.
func pbOnBackend(b *testing.B, run func(b *testing.B)) {
	if pbBackend == "" {
		run(b)
		return
	}
	b.Run(pbBackend, run)
}

// pbProgram is the name of an iptables program of pbBackend ("iptables-restore" → "iptables-legacy-restore").
func pbProgram(program string) string {
	if pbBackend == "" || !strings.HasPrefix(program, "ip") || !strings.Contains(program, "tables-") {
		return program
	}
	return strings.Replace(program, "tables-", "tables-"+pbBackend+"-", 1)
}

type pbColdRound struct {
	calc, felix, felixKernelExecs, floorSets, floorRules time.Duration
	rules, restores, execs                               int
}

func pbColdStart(b *testing.B, n int) {
	pbLogBackend(b)
	rounds := 3
	if n > 1000 {
		rounds = 2
	}
	var all []pbColdRound
	for range rounds {
		all = append(all, pbColdStartRound(b, n))
	}
	med := func(f func(pbColdRound) time.Duration) time.Duration {
		var xs []time.Duration
		for _, r := range all {
			xs = append(xs, f(r))
		}
		return pbPercentile(xs, 50)
	}
	calcT := med(func(r pbColdRound) time.Duration { return r.calc })
	felixT := med(func(r pbColdRound) time.Duration { return r.felix })
	kernelT := med(func(r pbColdRound) time.Duration { return r.felixKernelExecs })
	floorT := med(func(r pbColdRound) time.Duration { return r.floorSets + r.floorRules })
	floorSets := med(func(r pbColdRound) time.Duration { return r.floorSets })
	floorRules := med(func(r pbColdRound) time.Duration { return r.floorRules })
	r := all[0]
	b.ReportMetric(float64(n), "endpoints")
	b.ReportMetric(float64(r.rules), "rules")
	b.ReportMetric(pbMS(calcT), "calc-ms")
	b.ReportMetric(pbMS(felixT), "felix-ms")
	b.ReportMetric(pbMS(kernelT), "felix-ipset-iptables-ms")
	b.ReportMetric(pbMS(floorT), "floor-ms")
	b.ReportMetric(pbMS(floorSets), "floor-ipset-ms")
	b.ReportMetric(pbMS(floorRules), "floor-iptables-ms")
	b.ReportMetric(float64(felixT)/float64(floorT), "felix/floor")
	b.ReportMetric(float64(r.restores), "restores")
	b.ReportMetric(float64(r.execs), "execs")
	b.Logf("cold start, %d endpoints, 1 profile, %d policies selecting all (%d rules), median of %d: calculation %.1f ms; "+
		"dataplane Resync %.1f ms, of which ipset and ip(6)tables execs (%d, %d ip(6)tables-restore) %.1f ms and routes, "+
		"sysctls and netlink %.1f ms; floor (one bare ipset restore %.1f ms + one bare iptables-restore and one "+
		"ip6tables-restore %.1f ms) %.1f ms; "+
		"ratio %.2f (execs alone %.2f)",
		n, pbScalePolicies, r.rules, rounds, pbMS(calcT), pbMS(felixT), r.execs, r.restores, pbMS(kernelT),
		pbMS(felixT-kernelT), pbMS(floorSets), pbMS(floorRules), pbMS(floorT), float64(felixT)/float64(floorT),
		float64(kernelT)/float64(floorT))
}

func pbColdStartRound(b *testing.B, n int) pbColdRound {
	node := pbPrepareNode(b, pbScaleSpec(n, 0))
	defer node.close()
	rep, took := node.program(b)
	var kernel time.Duration
	for _, p := range []string{"ipset", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore"} {
		kernel += rep.RunTime(p)
	}
	sets := node.ns.mustRun(b, "", "ipset", "save")
	floorNS := pbNewNetns(b)
	defer floorNS.close(b)
	_, floorSets, err := floorNS.run(sets, "ipset", "restore")
	if err != nil {
		b.Fatal(err)
	}
	var floorRules time.Duration
	for _, fam := range pbFamilies {
		if fam.tables(node.state) == nil {
			continue
		}
		_, d, err := floorNS.run(node.ns.mustRun(b, "", fam.save), fam.restore, "--wait")
		if err != nil {
			b.Fatal(err)
		}
		floorRules += d
	}
	return pbColdRound{calc: node.calcTook, felix: took, felixKernelExecs: kernel, floorSets: floorSets,
		floorRules: floorRules, rules: node.rules, restores: rep.Runs("iptables-restore") + rep.Runs("ip6tables-restore"), execs: len(rep.Execs)}
}

// BenchmarkEndpointChurn is one local endpoint added to, then one removed from, a node of 1,000 or 10,000
// endpoints with one profile and 5 policies selecting all of them: the event, State and Apply, 50 of each. The
// added endpoints' interfaces exist already (the CNI plugin creates them first); the removed ones are spread over
// the node and keep their interfaces. Spread interface names put each change anywhere in the dispatch trees (see
// rules.Renderer.Dispatch).
//
// The floor of each change is the least the kernel must be told, in the same run, into a namespace holding the
// same ipsets and ruleset: one `ipset restore` of the members that change, and per family (felix programs IPv6
// too) one `ip(6)tables-restore --noflush` declaring and filling (or flushing and deleting) the endpoint's two
// chains and writing only the dispatch rules that differ: usually one rule inserted (or deleted) in a leaf of each
// dispatch tree; when a leaf splits or merges, the child chains made or removed too. The route and the
// interface's sysctls, which felix also writes, are not in it. Besides the figures beside the floor, the log says
// where felix's time goes (calculation, apply, and in apply each program's execs) and fits the restore time to the
// number of dispatch rules felix writes.
func BenchmarkEndpointChurn(b *testing.B) { pbAtScale(b, pbChurn) }

// pbChange is the figures of one kind of change of pbChurn.
type pbChange struct {
	took, apply, restore, floor []time.Duration
	conntrack                   []time.Duration            // deleting a removed endpoint's conntrack entries (netlink)
	execs                       map[string][]time.Duration // time in each program's execs, per change
	inProcess                   []time.Duration            // apply less all execs: planning, netlink, sysctls
	rewrites                    []int                      // dispatch rules felix writes, see pbDispatchRewrites
	restores, floorLines        int
}

// pbDispatchRewrites is how many rules of the dispatch chains (both trees, every family felix programs) an update
// from prev to next writes: felix keeps the rules a changed chain starts and ends with and writes those between
// (a rule's hash covers the rule alone), every rule of a new chain, and flushes every rule of a deleted one.
func pbDispatchRewrites(prev, next *desired.State) int {
	n := 0
	for _, fam := range pbFamilies {
		old, cur := pbDispatchChains(fam.tables(prev)), pbDispatchChains(fam.tables(next))
		for name, nr := range cur {
			or := old[name]
			head, tail := pbCommonEnds(or, nr)
			n += max(len(nr), len(or)) - head - tail
		}
		for name, or := range old {
			if _, ok := cur[name]; !ok {
				n += len(or)
			}
		}
	}
	return n
}

// pbCommonEnds is how many rules two versions of a chain start with alike (head) and, after those, end with alike
// (tail): what felix keeps of a changed chain.
func pbCommonEnds(or, nr []desired.Rule) (head, tail int) {
	for head < len(or) && head < len(nr) && or[head] == nr[head] {
		head++
	}
	for tail < len(or)-head && tail < len(nr)-head && or[len(or)-1-tail] == nr[len(nr)-1-tail] {
		tail++
	}
	return head, tail
}

// pbDispatchChains are the filter chains of both dispatch trees: the roots and their children.
func pbDispatchChains(tables map[string]*desired.Table) map[string][]desired.Rule {
	out := map[string][]desired.Rule{}
	if tables == nil || tables[rules.TableFilter] == nil {
		return out
	}
	for name, rs := range tables[rules.TableFilter].Chains {
		if strings.HasPrefix(name, rules.ChainFromWorkloadDispatch) || strings.HasPrefix(name, rules.ChainToWorkloadDispatch) {
			out[name] = rs
		}
	}
	return out
}

// pbFit fits y = a + b·x by least squares: the fixed cost and the cost per unit of x.
func pbFit(xs []int, ys []time.Duration) (a, b float64) {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		x, y := float64(xs[i]), pbMS(ys[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	if d := n*sxx - sx*sx; d != 0 {
		b = (n*sxy - sx*sy) / d
	}
	return (sy - b*sx) / n, b
}

func pbChurn(b *testing.B, n int) {
	pbLogBackend(b)
	ctx := context.Background()
	node := pbPrepareNode(b, pbScaleSpec(n, pbScaleSamples))
	defer node.close()
	node.program(b)
	floorNS := pbNewNetns(b)
	defer floorNS.close(b)
	node.copyTo(b, floorNS)

	prev := node.state
	change := func(c *pbChange, typ datastore.EventType, ep *api.WorkloadEndpoint) {
		st, rep, calc, apply, err := node.step(ctx, node.feed.event(typ, ep))
		if err != nil {
			b.Fatalf("%s endpoint %s: %v", typ, ep.Name, err)
		}
		c.took = append(c.took, calc+apply)
		c.apply = append(c.apply, apply)
		c.restore = append(c.restore, rep.RunTime("iptables-restore")+rep.RunTime("ip6tables-restore"))
		c.restores += rep.Runs("iptables-restore") + rep.Runs("ip6tables-restore")
		c.conntrack = append(c.conntrack, rep.ConntrackTime)
		var execs time.Duration
		for _, e := range rep.Execs {
			execs += e.Duration
		}
		if c.execs == nil {
			c.execs = map[string][]time.Duration{}
		}
		for _, prog := range []string{"iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "ipset"} {
			c.execs[prog] = append(c.execs[prog], rep.RunTime(prog))
		}
		c.execs["conntrack (netlink)"] = append(c.execs["conntrack (netlink)"], rep.ConntrackTime)
		c.execs["ipset (netlink)"] = append(c.execs["ipset (netlink)"], rep.IPSetNetlinkTime)
		c.inProcess = append(c.inProcess, apply-execs-rep.ConntrackTime-rep.IPSetNetlinkTime)
		c.rewrites = append(c.rewrites, pbDispatchRewrites(prev, st))
		chain := "filter/" + rules.ChainName(rules.PrefixToWorkload, ep.Spec.InterfaceName)
		if typ == datastore.Added && !slices.Contains(rep.ChainsWritten, chain) ||
			typ == datastore.Deleted && !slices.Contains(rep.ChainsDeleted, chain) {
			b.Fatalf("%s endpoint %s: chain %s not written or deleted: written %v, deleted %v", typ, ep.Name, chain,
				rep.ChainsWritten, rep.ChainsDeleted)
		}

		if !pbSameSetNames(prev.IPSets, st.IPSets) {
			b.Fatalf("%s endpoint %s changed the ipsets themselves; the floor assumes only members change", typ, ep.Name)
		}
		var floor time.Duration
		if script, lines := pbSetEdits(prev.IPSets, st.IPSets); lines > 0 {
			_, d, err := floorNS.run(script, "ipset", "restore")
			if err != nil {
				b.Fatalf("floor: %v\n%s", err, script)
			}
			floor += d
			c.floorLines += lines
		}
		for _, fam := range pbFamilies {
			if fam.tables(st) == nil {
				continue
			}
			var script strings.Builder
			for _, name := range slices.Sorted(maps.Keys(fam.tables(st))) {
				if s, lines := pbTableEdits(name, fam.tables(prev)[name], fam.tables(st)[name]); lines > 0 {
					script.WriteString(s)
					c.floorLines += lines
				}
			}
			if script.Len() > 0 {
				_, d, err := floorNS.run(script.String(), fam.restore, "--noflush", "--wait")
				if err != nil {
					b.Fatalf("floor: %v\n%s", err, script.String())
				}
				floor += d
			}
		}
		c.floor = append(c.floor, floor)
		prev = st
	}

	var add, del pbChange
	for k := range pbScaleSamples {
		change(&add, datastore.Added, pbScaleEndpoint(n+k))
	}
	for k := range pbScaleSamples {
		change(&del, datastore.Deleted, pbScaleEndpoint(k*(n/pbScaleSamples)+3))
	}
	for _, c := range []struct {
		op string
		c  *pbChange
	}{{"add", &add}, {"del", &del}} {
		b.ReportMetric(pbMS(pbPercentile(c.c.took, 50)), c.op+"-p50-ms")
		b.ReportMetric(pbMS(pbPercentile(c.c.took, 99)), c.op+"-p99-ms")
		b.ReportMetric(pbMS(pbPercentile(c.c.apply, 50)), c.op+"-apply-p50-ms")
		b.ReportMetric(pbMS(pbPercentile(c.c.restore, 50)), c.op+"-restore-p50-ms")
		b.ReportMetric(pbMS(pbPercentile(c.c.floor, 50)), c.op+"-floor-p50-ms")
		b.ReportMetric(pbMS(pbPercentile(c.c.floor, 99)), c.op+"-floor-p99-ms")
		b.ReportMetric(float64(c.c.restores)/pbScaleSamples, c.op+"-restores")
		fixed, perRule := pbFit(c.c.rewrites, c.c.restore)
		b.ReportMetric(perRule*1000, c.op+"-restore-us/dispatch-rule")
		b.ReportMetric(float64(pbPercentileInt(c.c.rewrites, 50)), c.op+"-dispatch-rules-p50")
		b.ReportMetric(float64(pbPercentileInt(c.c.rewrites, 99)), c.op+"-dispatch-rules-p99")
		b.Logf("%s one endpoint, %d endpoints (%d rules), %d samples: p50 %.1f ms, p99 %.1f ms (apply p50 %.1f, of which "+
			"ip(6)tables-restore %.1f; %.2f ip(6)tables-restore per change); floor (ipset restore + ip(6)tables-restore --noflush, "+
			"%.1f lines) p50 %.1f ms, p99 %.1f ms; ratios p50 %.1f, p99 %.1f",
			c.op, n, node.rules, pbScaleSamples, pbMS(pbPercentile(c.c.took, 50)), pbMS(pbPercentile(c.c.took, 99)),
			pbMS(pbPercentile(c.c.apply, 50)), pbMS(pbPercentile(c.c.restore, 50)), float64(c.c.restores)/pbScaleSamples,
			float64(c.c.floorLines)/pbScaleSamples, pbMS(pbPercentile(c.c.floor, 50)), pbMS(pbPercentile(c.c.floor, 99)),
			float64(pbPercentile(c.c.took, 50))/float64(pbPercentile(c.c.floor, 50)),
			float64(pbPercentile(c.c.took, 99))/float64(pbPercentile(c.c.floor, 99)))
		where := fmt.Sprintf("calculation %.1f (%.1f) ms, apply %.1f (%.1f) ms, of which",
			pbMS(pbPercentile(pbSub(c.c.took, c.c.apply), 50)), pbMS(pbPercentile(pbSub(c.c.took, c.c.apply), 99)),
			pbMS(pbPercentile(c.c.apply, 50)), pbMS(pbPercentile(c.c.apply, 99)))
		for _, prog := range slices.Sorted(maps.Keys(c.c.execs)) {
			where += fmt.Sprintf(" %s %.1f (%.1f),", prog, pbMS(pbPercentile(c.c.execs[prog], 50)),
				pbMS(pbPercentile(c.c.execs[prog], 99)))
		}
		b.Logf("%s: where the time goes, p50 (p99): %s and in felix's own process (planning, netlink, sysctls) %.1f (%.1f)",
			c.op, where, pbMS(pbPercentile(c.c.inProcess, 50)), pbMS(pbPercentile(c.c.inProcess, 99)))
		b.Logf("%s: ip(6)tables-restore time = %.1f ms + %.1f µs per dispatch rule written (p50 %d, p99 %d, max %d such "+
			"rules per change, both trees and families; bound %d interfaces per dispatch chain): felix writes the "+
			"rules of a dispatch chain between those it keeps at its start and end", c.op, fixed, perRule*1000,
			pbPercentileInt(c.c.rewrites, 50), pbPercentileInt(c.c.rewrites, 99), slices.Max(c.c.rewrites), rules.DispatchBound)
	}
}

// pbSub returns a[i]-b[i] for each i.
func pbSub(a, b []time.Duration) []time.Duration {
	out := make([]time.Duration, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

// pbPercentileInt is pbPercentile for counts.
func pbPercentileInt(samples []int, p int) int {
	s := slices.Sorted(slices.Values(samples))
	return s[(len(s)*p+99)/100-1]
}

// BenchmarkPolicyAddAtScale is BenchmarkPolicyAddOnBusyNode on a scale node (1,000 or 10,000 endpoints, one
// profile, 5 policies selecting all of them): pbScalePolicyAdds policies added one at a time, each selecting the
// endpoints of one app (a fiftieth of the node), with the same figures and the same floor (the iptables-restore
// --noflush of just the rules that change, in the chains that change).
func BenchmarkPolicyAddAtScale(b *testing.B) {
	pbAtScale(b, func(b *testing.B, n int) {
		pbLogBackend(b)
		node := pbPrepareNode(b, pbScaleSpec(n, 0))
		node.program(b)
		pbMeasurePolicyAdds(b, node, pbScalePolicyAdds,
			fmt.Sprintf("%d endpoints and %d policies selecting all", n, pbScalePolicies))
		node.close()
	})
}

// BenchmarkLabelChangeAcross100IPSets is the cost of relabelling one endpoint on the busy node of
// BenchmarkPolicyAddOnBusyNode so that it leaves 50 selector ipsets and joins 50 others (its color goes from
// blue to green and back; 50 more policies each match on `color in {'blue', 'cK'}` and
// `color in {'green', 'cK'}`): the event, State and Apply. The floor is one `ipset restore` with exactly the 100
// del and add lines, into a namespace holding the same sets.
func BenchmarkLabelChangeAcross100IPSets(b *testing.B) {
	pbOnBackend(b, func(b *testing.B) {
		pbNeedRoot(b)
		for range b.N {
			pbLabelMoves(b)
		}
	})
}

func pbLabelMoves(b *testing.B) {
	ctx := context.Background()
	var extra []api.Resource
	for k := range pbColorSets {
		extra = append(extra, pbColorPolicy(k))
	}
	node := pbNewBusyNode(b, extra)
	defer node.close()
	floorNS := pbNewNetns(b)
	defer floorNS.close(b)
	floorNS.mustRun(b, node.ns.mustRun(b, "", "ipset", "save"), "ipset", "restore")

	var took, calcTook, floorTook []time.Duration
	ipsetExecs, restores, execs, chains := 0, 0, 0, 0
	prev := node.state
	mover := pbLocalEndpoint(0)
	for k := range pbMoves {
		color := []string{"green", "blue"}[k%2]
		mover.Labels["color"] = color
		ev := node.feed.event(datastore.Modified, mover)

		start := time.Now()
		node.feed.c.OnEvent(datastore.ResourcePrefix, ev)
		st := node.feed.c.State()
		calcDone := time.Now()
		rep, err := node.dp.Apply(ctx, st)
		end := time.Now()
		if err != nil {
			b.Fatalf("relabelling the endpoint %s: %v", color, err)
		}
		took = append(took, end.Sub(start))
		calcTook = append(calcTook, calcDone.Sub(start))
		ipsetExecs += rep.Runs("ipset")
		restores += rep.Runs("iptables-restore") + rep.Runs("ip6tables-restore")
		execs += len(rep.Execs)
		chains += len(rep.ChainsWritten)

		script, lines := pbSetEdits(prev.IPSets, st.IPSets)
		if lines != 2*pbColorSets || len(rep.IPSetsWritten) != 2*pbColorSets {
			b.Fatalf("relabelling the endpoint %s: expected %d ipsets to change by one member each, got %d member "+
				"changes and sets written %v", color, 2*pbColorSets, lines, rep.IPSetsWritten)
		}
		_, d, err := floorNS.run(script, "ipset", "restore")
		if err != nil {
			b.Fatalf("floor: %v", err)
		}
		floorTook = append(floorTook, d)
		prev = st
	}
	pbCheckSets(b, node.ns, prev.IPSets)

	p50, floor := pbPercentile(took, 50), pbPercentile(floorTook, 50)
	b.ReportMetric(pbMS(p50), "p50-ms")
	b.ReportMetric(pbMS(pbPercentile(took, 99)), "p99-ms")
	b.ReportMetric(pbMS(pbPercentile(calcTook, 50)), "calc-p50-ms")
	b.ReportMetric(pbMS(floor), "floor-ms")
	b.ReportMetric(float64(p50)/float64(floor), "p50/floor")
	b.ReportMetric(float64(ipsetExecs)/pbMoves, "ipset-execs/change")
	b.ReportMetric(float64(restores)/pbMoves, "restores/change")
	b.ReportMetric(float64(execs)/pbMoves, "execs/change")
	b.Logf("move one endpoint between %d ipsets, %d changes: p50 %.1f ms (calc %.1f), p99 %.1f ms; %.2f ipset, %.2f "+
		"ip(6)tables-restore runs and %.1f chains written per change; floor (one ipset restore of %d lines) p50 %.1f ms, ratio %.1f",
		2*pbColorSets, pbMoves, pbMS(p50), pbMS(pbPercentile(calcTook, 50)), pbMS(pbPercentile(took, 99)),
		float64(ipsetExecs)/pbMoves, float64(restores)/pbMoves, float64(chains)/pbMoves, 2*pbColorSets, pbMS(floor),
		float64(p50)/float64(floor))
}

// BenchmarkCalcMemory10kRemoteEndpoints is the live heap of felix's calculation for a cluster of 10,000
// endpoints on 100 other nodes (six labels each, in the CNI profile) and 10 local ones whose 50 policies match on
// 100 selectors over the remote endpoints. It is measured after GC once the Calculator has seen every event and
// computed one State (which fills its label caches); the State itself is reported apart, since felix drops it
// after each Apply. The floor is the raw data: every endpoint's labels and IP as Go strings, measured the same
// way. The time of one State, which felix computes on every update, is reported beside it.
func BenchmarkCalcMemory10kRemoteEndpoints(b *testing.B) {
	for range b.N {
		pbCalcMemory(b)
	}
}

func pbCalcMemory(b *testing.B) {
	base := pbLiveHeap()
	f := &pbFeeder{tb: b, c: calc.New(pbHost, calc.DefaultConfig())}
	f.sync(func() {
		f.send(datastore.Added, pbPool())
		f.send(datastore.Added, pbProfile())
		for i := range pbRemote {
			f.send(datastore.Added, pbRemoteEndpoint(i))
		}
		for i := range 10 {
			f.send(datastore.Added, pbLocalEndpoint(i))
		}
		for k := range 50 {
			f.send(datastore.Added, pbSelectorPolicy(k))
		}
	})
	fed := pbLiveHeap()

	var stateTook []time.Duration
	var st *desired.State
	for range 5 {
		start := time.Now()
		st = f.c.State()
		stateTook = append(stateTook, time.Since(start))
	}
	sets, members := 0, 0
	for name, s := range st.IPSets {
		if strings.HasPrefix(name, "cali40s:") {
			sets++
			members += len(s.Members)
		}
	}
	if sets < 100 || members < 2*pbRemote {
		b.Fatalf("expected at least 100 selector ipsets holding every remote endpoint twice, got %d sets with %d members",
			sets, members)
	}
	withState := pbLiveHeap()
	runtime.KeepAlive(st)
	st = nil
	steady := pbLiveHeap()
	runtime.KeepAlive(f.c)
	f = nil

	floorBase := pbLiveHeap()
	raw := make([][]string, pbRemote)
	for i := range raw {
		w := pbRemoteEndpoint(i)
		var fields []string
		for _, k := range slices.Sorted(maps.Keys(w.Labels)) {
			fields = append(fields, strings.Clone(k), strings.Clone(w.Labels[k]))
		}
		raw[i] = append(fields, strings.Clone(strings.TrimSuffix(w.Spec.IPNetworks[0], "/32")))
	}
	floor := pbLiveHeap() - floorBase
	runtime.KeepAlive(raw)

	heap := steady - base
	b.ReportMetric(pbMB(heap), "heap-MB")
	b.ReportMetric(float64(heap)/pbRemote, "bytes/endpoint")
	b.ReportMetric(pbMB(fed-base), "heap-before-state-MB")
	b.ReportMetric(pbMB(withState-steady), "state-MB")
	b.ReportMetric(pbMB(floor), "floor-MB")
	b.ReportMetric(float64(floor)/pbRemote, "floor-bytes/endpoint")
	b.ReportMetric(float64(heap)/float64(floor), "heap/floor")
	b.ReportMetric(pbMS(pbPercentile(stateTook, 50)), "state-ms")
	b.Logf("calculation for %d remote endpoints and %d selector ipsets (%d members): %.1f MB live after GC "+
		"(%.1f MB before the first State), %.0f bytes per endpoint; raw labels and IPs %.1f MB (%.0f bytes per "+
		"endpoint), ratio %.1f; one State %.1f MB, computed in %.1f ms",
		pbRemote, sets, members, pbMB(heap), pbMB(fed-base), float64(heap)/pbRemote, pbMB(floor),
		float64(floor)/pbRemote, float64(heap)/float64(floor), pbMB(withState-steady), pbMS(pbPercentile(stateTook, 50)))
}

// --- the busy node of benchmarks 1 and 2

// step feeds one watch event to the node's calculation and applies the new state, as felix's loop does, timing the
// calculation (the event and State) and the apply apart.
//
// Labelled, so that a CPU profile can tell the changes from the cold start and the floors: -tagfocus phase=change.
func (n *pbBusyNode) step(ctx context.Context, ev datastore.Event) (st *desired.State, rep dataplane.Report, calc, apply time.Duration, err error) {
	pprof.Do(ctx, pprof.Labels("phase", "change"), func(ctx context.Context) {
		start := time.Now()
		n.feed.c.OnEvent(datastore.ResourcePrefix, ev)
		st = n.feed.c.State()
		calcDone := time.Now()
		rep, err = n.dp.Apply(ctx, st)
		calc, apply = calcDone.Sub(start), time.Since(calcDone)
	})
	return st, rep, calc, apply, err
}

// pbBusyNode is a Calculator fed the busy node's datastore and a dataplane that has programmed its State into a
// fresh namespace holding one cali interface per local endpoint.
type pbBusyNode struct {
	ns    *pbNetns
	dp    *dataplane.Dataplane
	feed  *pbFeeder
	state *desired.State
	rules int // iptables rules in the namespace
	tb    testing.TB

	calcTook time.Duration // the first listing and State
}

func pbNewBusyNode(b *testing.B, extra []api.Resource) *pbBusyNode {
	var res []api.Resource
	for j := range pbPolicies {
		res = append(res, pbPolicy(j))
	}
	n := pbPrepareNode(b, pbNodeSpec{endpoints: pbLocalEndpoints, endpoint: pbLocalEndpoint,
		resources: append(res, extra...)})
	n.program(b)
	return n
}

// pbNodeSpec says what a benchmark node holds: its local endpoints 0..endpoints-1 (and interfaces for links
// endpoints, at least as many), the pool, profile and block affinities, then resources (policies).
type pbNodeSpec struct {
	endpoints, links int
	endpoint         func(i int) *api.WorkloadEndpoint
	resources        []api.Resource
}

// pbPrepareNode creates the namespace with one veth per link and a Calculator in sync with the node's
// datastore, and opens a dataplane on the namespace; nothing is programmed yet. The calculation is timed into
// n.calcTook (the first listing and the first State).
func pbPrepareNode(b *testing.B, spec pbNodeSpec) *pbBusyNode {
	n := &pbBusyNode{tb: b, ns: pbNewNetns(b)}
	ok := false
	defer func() {
		if !ok {
			n.close()
		}
	}()
	links := max(spec.links, spec.endpoints)
	seen := map[string]bool{}
	for i := range links {
		ifc := spec.endpoint(i).Spec.InterfaceName
		if seen[ifc] {
			b.Fatalf("two endpoints have interface %s", ifc)
		}
		seen[ifc] = true
	}
	// The node's own uplink and address come first, as on a real node. Without any address the kernel, choosing a
	// source for each new route, walks every interface (quadratic in the endpoints: ~100 s of a 10,000-endpoint
	// cold start was that walk, which no real node pays).
	n.ns.mustRun(b, "link add eth0 type veth peer name eth0p\naddress add 10.0.0.1/24 dev eth0\nlink set eth0 up\nlink set eth0p up\n",
		"ip", "-batch", "-")
	for from := 0; from < links; from += 2000 { // ip -batch in slices, so a failure says where
		var script strings.Builder
		for i := from; i < min(from+2000, links); i++ {
			// veth pairs with both ends here: this kernel may lack the dummy driver, and veth is what CNI creates.
			ifc := spec.endpoint(i).Spec.InterfaceName
			fmt.Fprintf(&script, "link add %s type veth peer name pb%d\nlink set %s up\nlink set pb%d up\n", ifc, i, ifc, i)
		}
		n.ns.mustRun(b, script.String(), "ip", "-batch", "-")
	}

	start := time.Now()
	n.feed = &pbFeeder{tb: b, c: calc.New(pbHost, calc.DefaultConfig())}
	n.feed.sync(func() {
		n.feed.send(datastore.Added, pbPool())
		n.feed.send(datastore.Added, pbProfile())
		for k := 0; k*64 <= links; k++ {
			n.feed.affinity(pbHost, netip.PrefixFrom(pbAddr(k*64), 26))
		}
		for i := range spec.endpoints {
			n.feed.send(datastore.Added, spec.endpoint(i))
		}
		for _, r := range spec.resources {
			n.feed.send(datastore.Added, r)
		}
	})
	if !n.feed.c.InSync(watched...) {
		b.Fatal("the calculator is not in sync after a complete listing")
	}
	n.state = n.feed.c.State()
	n.calcTook = time.Since(start)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dp, err := dataplane.New(dataplane.Config{NetnsPath: n.ns.path, IptablesBackend: map[string]string{
		"legacy": dataplane.BackendLegacy, "nft": dataplane.BackendNFT}[pbBackend], Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	n.dp = dp
	ok = true
	return n
}

// program programs the node's State from cold, like felix after it first syncs with the datastore (a Resync),
// and returns the report and how long it took.
func (n *pbBusyNode) program(b *testing.B) (dataplane.Report, time.Duration) {
	start := time.Now()
	rep, err := n.dp.Resync(context.Background(), n.state)
	took := time.Since(start)
	if err != nil {
		b.Fatalf("programming the node: %v", err)
	}
	if len(rep.RoutesWaiting) > 0 || len(rep.InterfacesWaiting) > 0 {
		b.Fatalf("programming the node: routes %v and interfaces %v wait for interfaces that should exist",
			rep.RoutesWaiting, rep.InterfacesWaiting)
	}
	n.rules = strings.Count(n.ns.mustRun(b, "", "iptables-save"), "\n-A ")
	return rep, took
}

func (n *pbBusyNode) close() {
	if n.dp != nil {
		n.dp.Close()
	}
	n.ns.close(n.tb)
}

// copyTo loads the node's ipsets and iptables (and ip6tables when felix programs them) into another namespace,
// for a floor measured against the same ruleset.
func (n *pbBusyNode) copyTo(b *testing.B, to *pbNetns) {
	to.mustRun(b, n.ns.mustRun(b, "", "ipset", "save"), "ipset", "restore")
	for _, fam := range pbFamilies {
		if fam.tables(n.state) != nil {
			to.mustRun(b, n.ns.mustRun(b, "", fam.save), fam.restore)
		}
	}
}

// pbFamilies are the iptables families felix programs and where a State holds the tables of each; a family whose
// tables are nil is not programmed.
var pbFamilies = []struct {
	save, restore string
	tables        func(*desired.State) map[string]*desired.Table
}{
	{"iptables-save", "iptables-restore", func(st *desired.State) map[string]*desired.Table { return st.Tables }},
	{"ip6tables-save", "ip6tables-restore", func(st *desired.State) map[string]*desired.Table { return st.Tables6 }},
}

func pbIface(i int) string { return fmt.Sprintf("cali%011x", i) }

// pbAddr is the k-th address of the busy node's blocks, 10.65.0.0/16.
func pbAddr(k int) netip.Addr { return netip.AddrFrom4([4]byte{10, 65, byte(k >> 8), byte(k)}) }

func pbPool() *api.IPPool {
	return &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "default-ipv4-ippool"},
		Spec: api.IPPoolSpec{CIDR: "10.64.0.0/14", IPIPMode: api.EncapNever, NATOutgoing: true}}
}

// pbProfile is the profile the CNI plugin writes for its network.
func pbProfile() *api.Profile {
	return &api.Profile{ObjectMeta: api.ObjectMeta{Name: "net1"}, Spec: api.ProfileSpec{
		Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(net1)"}}},
		Egress:        []api.Rule{{Action: api.ActionAllow}},
		LabelsToApply: map[string]string{"net1": ""},
	}}
}

// pbLocalEndpoint is the i-th endpoint of the busy node. Its labels spread it over 50 apps, 3 tiers, 2
// environments and 20 teams; a few are monitoring or DNS. Endpoint 0 is blue, the others have one of 50 colors.
func pbLocalEndpoint(i int) *api.WorkloadEndpoint {
	labels := map[string]string{
		"app":   fmt.Sprintf("app%d", i%50),
		"tier":  pbTiers[i%3],
		"env":   pbEnvs[i%2],
		"team":  fmt.Sprintf("team%d", i%20),
		"color": fmt.Sprintf("c%d", i%pbColorSets),
	}
	if i == 0 {
		labels["color"] = "blue"
	}
	if i%40 == 0 {
		labels["role"] = "monitoring"
	}
	if i%100 == 1 {
		labels["k8s-app"] = "kube-dns"
	}
	return &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-cni-%08x-eth0", pbHost, i), Namespace: "default", Labels: labels},
		Spec: api.WorkloadEndpointSpec{Orchestrator: "cni", Node: pbHost, Endpoint: "eth0", InterfaceName: pbIface(i),
			IPNetworks: []string{netip.PrefixFrom(pbAddr(i+1), 32).String()}, Profiles: []string{"net1"}},
	}
}

// pbPolicy is the j-th of the busy node's policies: one of five selector shapes (one app, one app in one
// environment, two apps, a tier of one app, a team), ingress, egress or both, with port, net, ICMP, Log and Pass
// rules, most of them ordered and every tenth not.
func pbPolicy(j int) *api.GlobalNetworkPolicy {
	app := func(n int) string { return fmt.Sprintf("app%d", n%50) }
	var sel string
	switch j % 5 {
	case 0:
		sel = fmt.Sprintf("app == '%s'", app(j))
	case 1:
		sel = fmt.Sprintf("app == '%s' && env == 'prod'", app(j))
	case 2:
		sel = fmt.Sprintf("app in {'%s', '%s'}", app(j), app(j+17))
	case 3:
		sel = fmt.Sprintf("tier == '%s' && app == '%s'", pbTiers[j%3], app(j))
	case 4:
		sel = fmt.Sprintf("team == 'team%d'", j%20)
	}
	tcp, udp, icmp := api.ProtocolFromString("TCP"), api.ProtocolFromString("UDP"), api.ProtocolFromString("ICMP")
	echo := 8
	ingress := []api.Rule{{Action: api.ActionAllow, Protocol: &tcp,
		Source:      api.EntityRule{Selector: fmt.Sprintf("app == '%s'", app(j+1))},
		Destination: api.EntityRule{Ports: []api.Port{pbPort(80, 80), pbPort(443, 443), pbPort(8000, 8100)}}}}
	if j%4 == 0 {
		ingress = append(ingress, api.Rule{Action: api.ActionDeny,
			Source: api.EntityRule{Nets: []string{fmt.Sprintf("192.168.%d.0/24", j%256)}}})
	}
	if j%7 == 0 {
		ingress = append(ingress, api.Rule{Action: api.ActionAllow, Protocol: &icmp, ICMP: &api.ICMPFields{Type: &echo},
			Source: api.EntityRule{Selector: "role == 'monitoring'"}})
	}
	egress := []api.Rule{
		{Action: api.ActionAllow, Protocol: &udp,
			Destination: api.EntityRule{Selector: "k8s-app == 'kube-dns'", Ports: []api.Port{pbPort(53, 53)}}},
		{Action: api.ActionAllow, Protocol: &tcp,
			Destination: api.EntityRule{Selector: fmt.Sprintf("tier == 'db' && env == '%s'", pbEnvs[j%2]),
				Ports: []api.Port{pbPort(5432, 5432)}}},
	}
	if j%6 == 0 {
		egress = append(egress, api.Rule{Action: api.ActionDeny, Destination: api.EntityRule{NotNets: []string{"10.0.0.0/8"}}})
	}
	if j%9 == 0 {
		egress = append([]api.Rule{{Action: api.ActionLog, Protocol: &tcp}}, egress...)
	}
	if j%11 == 0 {
		egress = append(egress, api.Rule{Action: api.ActionPass})
	}
	p := &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("policy-%03d", j)},
		Spec: api.GlobalNetworkPolicySpec{Selector: sel}}
	if j%10 != 9 {
		order := float64(j % 100 * 10)
		p.Spec.Order = &order
	}
	switch j % 3 {
	case 0:
		p.Spec.Types, p.Spec.Ingress = []api.PolicyType{api.PolicyTypeIngress}, ingress
	case 1:
		p.Spec.Types, p.Spec.Egress = []api.PolicyType{api.PolicyTypeEgress}, egress
	case 2:
		p.Spec.Types, p.Spec.Ingress, p.Spec.Egress = []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress}, ingress, egress
	}
	return p
}

// pbAddedPolicy is the k-th policy a user applies to the busy node: it selects the 4 endpoints of one app, at an
// order that puts it at a different place in their chains each time, and its rules match on ipsets the node
// already has.
func pbAddedPolicy(k int) *api.GlobalNetworkPolicy {
	tcp, udp := api.ProtocolFromString("TCP"), api.ProtocolFromString("UDP")
	order := float64(k*50 + 5)
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("applied-%02d", k)},
		Spec: api.GlobalNetworkPolicySpec{
			Order:    &order,
			Selector: fmt.Sprintf("app == 'app%d'", (k*7+3)%50),
			Types:    []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress},
			Ingress: []api.Rule{{Action: api.ActionAllow, Protocol: &tcp,
				Source:      api.EntityRule{Selector: fmt.Sprintf("app == 'app%d'", (k*5+1)%50)},
				Destination: api.EntityRule{Ports: []api.Port{pbPort(8080, 8080)}}}},
			Egress: []api.Rule{{Action: api.ActionAllow, Protocol: &udp,
				Destination: api.EntityRule{Selector: "k8s-app == 'kube-dns'", Ports: []api.Port{pbPort(53, 53)}}}},
		}}
}

// pbColorPolicy is the k-th of the policies of BenchmarkLabelChangeAcross100IPSets: it selects one team and
// allows from the blue and from the green endpoints, each together with color ck.
func pbColorPolicy(k int) *api.GlobalNetworkPolicy {
	order := 2000.0
	from := func(color string) api.Rule {
		return api.Rule{Action: api.ActionAllow,
			Source: api.EntityRule{Selector: fmt.Sprintf("color in {'%s', 'c%d'}", color, k)}}
	}
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("color-%02d", k)},
		Spec: api.GlobalNetworkPolicySpec{Order: &order, Selector: fmt.Sprintf("team == 'team%d'", k%20),
			Types: []api.PolicyType{api.PolicyTypeIngress}, Ingress: []api.Rule{from("blue"), from("green")}}}
}

func pbPort(lo, hi uint16) api.Port { return api.Port{MinPort: lo, MaxPort: hi} }

// --- the cluster of benchmark 3

// pbRemoteEndpoint is the i-th endpoint on another node: 10.66.0.0/16 and up, labelled like a Kubernetes pod.
func pbRemoteEndpoint(i int) *api.WorkloadEndpoint {
	node := fmt.Sprintf("node%d", 2+i%pbRemoteNodes)
	addr := netip.AddrFrom4([4]byte{10, 66 + byte(i>>16), byte(i >> 8), byte(i)})
	return &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-k8s-pod%05d-eth0", node, i), Namespace: "default",
			Labels: map[string]string{
				"app":               fmt.Sprintf("app%d", i%80),
				"tier":              pbTiers[i%3],
				"env":               pbEnvs[i%2],
				"team":              fmt.Sprintf("team%d", i%20),
				"version":           fmt.Sprintf("v%d", i%4),
				"pod-template-hash": fmt.Sprintf("%08x", (i/10)*2654435761%(1<<32)),
			}},
		Spec: api.WorkloadEndpointSpec{Orchestrator: "k8s", Node: node, Endpoint: "eth0",
			InterfaceName: pbIface(i), IPNetworks: []string{netip.PrefixFrom(addr, 32).String()},
			Profiles: []string{"net1"}},
	}
}

// pbSelectorPolicy is the k-th of 50 policies on every local endpoint of benchmark 3; together their rules match
// on 100 selectors: each of 80 apps, and each of 20 teams.
func pbSelectorPolicy(k int) *api.GlobalNetworkPolicy {
	from := func(sel string) api.Rule {
		return api.Rule{Action: api.ActionAllow, Source: api.EntityRule{Selector: sel}}
	}
	var ingress []api.Rule
	for _, n := range []int{2 * k, 2*k + 1} {
		if n < 80 {
			ingress = append(ingress, from(fmt.Sprintf("app == 'app%d'", n)))
		} else {
			ingress = append(ingress, from(fmt.Sprintf("team == 'team%d'", n-80)))
		}
	}
	order := float64(k)
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("selectors-%02d", k)},
		Spec: api.GlobalNetworkPolicySpec{Order: &order, Selector: "all()",
			Types: []api.PolicyType{api.PolicyTypeIngress}, Ingress: ingress}}
}

// --- feeding the calculator as the datastore watch does

// pbFeeder turns resources into watch events (encoded and decoded as the etcd watch does) and feeds them to a
// Calculator.
type pbFeeder struct {
	tb  testing.TB
	c   *calc.Calculator
	rev int64
}

// sync runs fill between the Resync and InSync events of every prefix felix watches, like its first listing.
func (f *pbFeeder) sync(fill func()) {
	for _, p := range watched {
		f.c.OnEvent(p, datastore.Event{Type: datastore.Resync})
	}
	fill()
	for _, p := range watched {
		f.c.OnEvent(p, datastore.Event{Type: datastore.InSync})
	}
}

func (f *pbFeeder) send(typ datastore.EventType, r api.Resource) {
	f.c.OnEvent(datastore.ResourcePrefix, f.event(typ, r))
}

// event validates r as calicoctl would and returns the watch event of storing it.
func (f *pbFeeder) event(typ datastore.EventType, r api.Resource) datastore.Event {
	f.tb.Helper()
	api.SetTypeMeta(r)
	if err := r.Validate(); err != nil {
		f.tb.Fatalf("invalid benchmark resource: %v", err)
	}
	f.rev++
	ev, err := datastore.StoredEvent(typ, r, f.rev)
	if err != nil {
		f.tb.Fatal(err)
	}
	return ev
}

// affinity feeds a confirmed block affinity of host.
func (f *pbFeeder) affinity(host string, cidr netip.Prefix) {
	f.rev++
	key := ipam.AffinityKey(host, cidr)
	prefix := watched[len(watched)-1]
	if !strings.HasPrefix(key, prefix) {
		f.tb.Fatalf("affinity key %s is outside felix's watch %s", key, prefix)
	}
	f.c.OnEvent(prefix, datastore.Event{Type: datastore.Added, Key: key, Value: []byte(`{"state":"confirmed"}`), Revision: f.rev})
}

// --- floors

// pbChainEdits returns the iptables-restore --noflush input that turns the filter chains of old into those of
// next with the fewest rule writes, and how many lines it has: new chains declared and filled, each changed chain
// edited only between its common head and tail (old rules there deleted, new ones inserted), removed chains
// flushed and deleted. Rules are written without comments.
func pbChainEdits(old, next *desired.Table) (script string, lines int) {
	return pbTableEdits(rules.TableFilter, old, next)
}

// pbTableEdits is pbChainEdits for any table; either table may be nil (empty).
func pbTableEdits(table string, old, next *desired.Table) (script string, lines int) {
	if old == nil {
		old = &desired.Table{}
	}
	if next == nil {
		next = &desired.Table{}
	}
	var decl, edits, del []string
	spec := func(r desired.Rule) string { return strings.TrimSpace(r.Match + " " + r.Action) }
	for _, name := range slices.Sorted(maps.Keys(next.Chains)) {
		nr := next.Chains[name]
		or, exists := old.Chains[name]
		if !exists {
			decl = append(decl, ":"+name+" - [0:0]")
			for _, r := range nr {
				edits = append(edits, "-A "+name+" "+spec(r))
			}
			continue
		}
		head, tail := pbCommonEnds(or, nr)
		for range or[head : len(or)-tail] {
			edits = append(edits, fmt.Sprintf("-D %s %d", name, head+1))
		}
		for i, r := range nr[head : len(nr)-tail] {
			edits = append(edits, fmt.Sprintf("-I %s %d %s", name, head+1+i, spec(r)))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old.Chains)) {
		if _, ok := next.Chains[name]; !ok {
			edits = append(edits, "-F "+name)
			del = append(del, "-X "+name)
		}
	}
	all := slices.Concat(decl, edits, del)
	if len(all) == 0 {
		return "", 0
	}
	return "*" + table + "\n" + strings.Join(all, "\n") + "\nCOMMIT\n", len(all)
}

// pbSetEdits returns the ipset restore input that turns the members of old's sets into next's, one del or add
// line per member that differs, and the number of lines.
func pbSetEdits(old, next map[string]desired.IPSet) (script string, lines int) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(next)) {
		had := map[string]bool{}
		for _, m := range old[name].Members {
			had[m] = true
		}
		want := map[string]bool{}
		for _, m := range next[name].Members {
			want[m] = true
			if !had[m] {
				fmt.Fprintf(&b, "add %s %s -exist\n", name, m)
				lines++
			}
		}
		for _, m := range old[name].Members {
			if !want[m] {
				fmt.Fprintf(&b, "del %s %s -exist\n", name, m)
				lines++
			}
		}
	}
	return b.String(), lines
}

func pbSameSetNames(a, b map[string]desired.IPSet) bool {
	return slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
}

// pbCheckSets checks that the kernel's selector ipsets hold exactly the desired members.
func pbCheckSets(b *testing.B, n *pbNetns, want map[string]desired.IPSet) {
	got := map[string][]string{}
	for line := range strings.Lines(n.mustRun(b, "", "ipset", "save")) {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "add" {
			got[f[1]] = append(got[f[1]], f[2])
		}
	}
	for name, s := range want {
		if !strings.HasPrefix(name, "cali40s:") && !strings.HasPrefix(name, "cali60s:") {
			continue
		}
		g := slices.Sorted(slices.Values(got[name]))
		w := slices.Sorted(slices.Values(s.Members))
		if !slices.Equal(g, w) {
			b.Fatalf("ipset %s: expected members %v in the kernel, got %v", name, w, g)
		}
	}
}

// --- network namespaces

// pbNeedRoot skips a benchmark that programs network namespaces when it cannot.
func pbNeedRoot(b *testing.B) {
	if testing.Short() {
		b.Skip("programs network namespaces; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		b.Skip("needs root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore", "ipset"} {
		if _, err := exec.LookPath(pbProgram(tool)); err != nil {
			b.Skipf("needs %s: %v", tool, err)
		}
	}
}

// pbNetns is a throwaway network namespace; close deletes it, with everything in it.
type pbNetns struct {
	name, path string
	handle     ns.NetNS
}

var (
	pbPrivateOnce sync.Once
	pbPrivateErr  error
)

// pbNewNetns creates a namespace. It skips when ipsets are not private to a namespace on this kernel: the
// dataplane destroys cali ipsets it does not want, which would then be the host's.
func pbNewNetns(b *testing.B) *pbNetns {
	b.Helper()
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	n := &pbNetns{name: "felixpolbench-" + hex.EncodeToString(id)}
	n.path = "/run/netns/" + n.name
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		b.Fatalf("creating network namespace %s: %v: %s", n.name, err, out)
	}
	h, err := ns.GetNS(n.path)
	if err != nil {
		n.close(b)
		b.Fatalf("opening network namespace %s: %v", n.name, err)
	}
	n.handle = h
	pbPrivateOnce.Do(func() { pbPrivateErr = n.checkIPSetsPrivate() })
	if pbPrivateErr != nil {
		n.close(b)
		b.Skipf("ipsets are not private to a network namespace here, so the benchmark could touch the host's: %v", pbPrivateErr)
	}
	return n
}

func (n *pbNetns) checkIPSetsPrivate() error {
	probe := "pbprobe-" + n.name[len(n.name)-8:]
	if _, _, err := n.run("", "ipset", "create", probe, "hash:ip"); err != nil {
		return err
	}
	defer n.run("", "ipset", "destroy", probe)
	out, err := exec.Command("ipset", "list", "-n").CombinedOutput()
	if err != nil {
		return fmt.Errorf("listing the host's ipsets: %v: %s", err, out)
	}
	if slices.Contains(strings.Fields(string(out)), probe) {
		exec.Command("ipset", "destroy", probe).Run()
		return fmt.Errorf("set %s created in namespace %s is visible on the host", probe, n.name)
	}
	return nil
}

// close deletes the namespace; it is safe to call more than once.
func (n *pbNetns) close(tb testing.TB) {
	if n.handle != nil {
		n.handle.Close()
		n.handle = nil
	}
	if n.name == "" {
		return
	}
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		tb.Errorf("deleting network namespace %s: %v: %s", n.name, err, out)
	}
	n.name = ""
}

// run executes a command inside the namespace the way the dataplane does (the calling thread enters the
// namespace and the command inherits it) and times it the same way.
func (n *pbNetns) run(stdin, program string, args ...string) (string, time.Duration, error) {
	var stdout, stderr bytes.Buffer
	program = pbProgram(program)
	start := time.Now()
	err := n.handle.Do(func(ns.NetNS) error {
		cmd := exec.Command(program, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	took := time.Since(start)
	if err != nil {
		return stdout.String(), took, fmt.Errorf("%s %s in %s: %w: %s", program, strings.Join(args, " "), n.name, err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), took, nil
}

func (n *pbNetns) mustRun(tb testing.TB, stdin, program string, args ...string) string {
	tb.Helper()
	out, _, err := n.run(stdin, program, args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// --- figures

// pbLiveHeap returns the bytes of live heap objects after a full collection.
func pbLiveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// pbPercentile returns the p-th percentile (nearest rank) of the samples.
func pbPercentile(samples []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(samples))
	return s[(len(s)*p+99)/100-1]
}

func pbMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func pbMB(n int64) float64         { return float64(n) / (1 << 20) }
