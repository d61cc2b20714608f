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
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
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
	pbNeedRoot(b)
	for range b.N {
		pbPolicyAdds(b)
	}
}

func pbPolicyAdds(b *testing.B) {
	ctx := context.Background()
	node := pbNewBusyNode(b, nil)
	defer node.close()
	floorNS := pbNewNetns(b)
	defer floorNS.close(b)
	node.copyTo(b, floorNS)

	var took, calcTook, applyTook, restoreTook, floorTook []time.Duration
	restores, ipsetExecs, execs, floorLines, floorExecs := 0, 0, 0, 0, 0
	prev := node.state
	for k := range pbAdds {
		p := pbAddedPolicy(k)
		ev := node.feed.event(datastore.Added, p)

		start := time.Now()
		node.feed.c.OnEvent(datastore.ResourcePrefix, ev)
		st := node.feed.c.State()
		calcDone := time.Now()
		rep, err := node.dp.Apply(ctx, st)
		end := time.Now()
		if err != nil {
			b.Fatalf("applying policy %s: %v", p.Name, err)
		}
		took = append(took, end.Sub(start))
		calcTook = append(calcTook, calcDone.Sub(start))
		applyTook = append(applyTook, end.Sub(calcDone))
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
	b.ReportMetric(float64(restores)/pbAdds, "restores/add")
	b.ReportMetric(float64(ipsetExecs)/pbAdds, "ipset-execs/add")
	b.ReportMetric(float64(execs)/pbAdds, "execs/add")
	b.ReportMetric(float64(floorLines)/pbAdds, "floor-lines/add")
	b.ReportMetric(float64(floorExecs)/pbAdds, "floor-execs/add")
	b.Logf("add one policy to %d endpoints and %d policies (%d rules), %d adds: p50 %.1f ms (calc %.1f, apply %.1f, "+
		"of which ip(6)tables-restore %.1f), p99 %.1f ms (the slowest of %d); per add %.2f ip(6)tables-restore, %.2f ipset, "+
		"%.2f execs in all; floor (%.2f ip(6)tables-restore --noflush of %.0f lines in all) p50 %.1f ms, ratio %.1f",
		pbLocalEndpoints, pbPolicies, node.rules, pbAdds, pbMS(p50), pbMS(pbPercentile(calcTook, 50)),
		pbMS(pbPercentile(applyTook, 50)), pbMS(pbPercentile(restoreTook, 50)), pbMS(p99), pbAdds,
		float64(restores)/pbAdds, float64(ipsetExecs)/pbAdds, float64(execs)/pbAdds, float64(floorExecs)/pbAdds,
		float64(floorLines)/pbAdds, pbMS(floor), float64(p50)/float64(floor))
}

// BenchmarkLabelChangeAcross100IPSets is the cost of relabelling one endpoint on the busy node of
// BenchmarkPolicyAddOnBusyNode so that it leaves 50 selector ipsets and joins 50 others (its color goes from
// blue to green and back; 50 more policies each match on `color in {'blue', 'cK'}` and
// `color in {'green', 'cK'}`): the event, State and Apply. The floor is one `ipset restore` with exactly the 100
// del and add lines, into a namespace holding the same sets.
func BenchmarkLabelChangeAcross100IPSets(b *testing.B) {
	pbNeedRoot(b)
	for range b.N {
		pbLabelMoves(b)
	}
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

// pbBusyNode is a Calculator fed the busy node's datastore and a dataplane that has programmed its State into a
// fresh namespace holding one cali interface per local endpoint.
type pbBusyNode struct {
	ns    *pbNetns
	dp    *dataplane.Dataplane
	feed  *pbFeeder
	state *desired.State
	rules int // iptables rules in the namespace
	tb    testing.TB
}

func pbNewBusyNode(b *testing.B, extra []api.Resource) *pbBusyNode {
	n := &pbBusyNode{tb: b, ns: pbNewNetns(b)}
	ok := false
	defer func() {
		if !ok {
			n.close()
		}
	}()
	var script strings.Builder
	for i := range pbLocalEndpoints {
		// veth pairs with both ends here: this kernel may lack the dummy driver, and veth is what CNI creates.
		fmt.Fprintf(&script, "link add %s type veth peer name pb%d\nlink set %s up\nlink set pb%d up\n",
			pbIface(i), i, pbIface(i), i)
	}
	n.ns.mustRun(b, script.String(), "ip", "-batch", "-")

	n.feed = &pbFeeder{tb: b, c: calc.New(pbHost, calc.DefaultConfig())}
	n.feed.sync(func() {
		n.feed.send(datastore.Added, pbPool())
		n.feed.send(datastore.Added, pbProfile())
		for k := 0; k*64 <= pbLocalEndpoints; k++ {
			n.feed.affinity(pbHost, netip.PrefixFrom(pbAddr(k*64), 26))
		}
		for i := range pbLocalEndpoints {
			n.feed.send(datastore.Added, pbLocalEndpoint(i))
		}
		for j := range pbPolicies {
			n.feed.send(datastore.Added, pbPolicy(j))
		}
		for _, r := range extra {
			n.feed.send(datastore.Added, r)
		}
	})
	if !n.feed.c.InSync(watched...) {
		b.Fatal("the calculator is not in sync after a complete listing")
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dp, err := dataplane.New(dataplane.Config{NetnsPath: n.ns.path, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	n.dp = dp
	n.state = n.feed.c.State()
	// Like felix after it first syncs with the datastore.
	rep, err := dp.Resync(context.Background(), n.state)
	if err != nil {
		b.Fatalf("programming the busy node: %v", err)
	}
	if len(rep.RoutesWaiting) > 0 || len(rep.InterfacesWaiting) > 0 {
		b.Fatalf("programming the busy node: routes %v and interfaces %v wait for interfaces that should exist",
			rep.RoutesWaiting, rep.InterfacesWaiting)
	}
	n.rules = strings.Count(n.ns.mustRun(b, "", "iptables-save"), "\n-A ")
	ok = true
	return n
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
	m := r.GetObjectMeta()
	key := datastore.ResourceKey(api.KindOf(r), m.Namespace, m.Name)
	value, err := json.Marshal(r)
	if err != nil {
		f.tb.Fatal(err)
	}
	f.rev++
	res, err := datastore.DecodeResource(key, value, f.rev)
	if err != nil {
		f.tb.Fatal(err)
	}
	return datastore.Event{Type: typ, Key: key, Value: value, Resource: res, Revision: f.rev}
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
		head := 0
		for head < len(or) && head < len(nr) && or[head] == nr[head] {
			head++
		}
		tail := 0
		for tail < len(or)-head && tail < len(nr)-head && or[len(or)-1-tail] == nr[len(nr)-1-tail] {
			tail++
		}
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
	return "*filter\n" + strings.Join(all, "\n") + "\nCOMMIT\n", len(all)
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
		if _, err := exec.LookPath(tool); err != nil {
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
