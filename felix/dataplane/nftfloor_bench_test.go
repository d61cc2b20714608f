package dataplane

// What a native nftables writer would buy over iptables-restore on the nf_tables backend, measured on felix's own
// ruleset: a node of N local endpoints with one profile and 5 policies selecting all of them, computed by felix's
// calculation (felix/calc) and rendered as felix writes it (renderTable, planTable, with the hash comments). The
// nft side is the same ruleset in tables of our own, translated rule by rule with iptables-restore-translate and
// ipset-translate (iptables' own translators), so both sides match the same packets the same way.
//
//	go test -run '^$' -bench NativeNftables -benchtime 1x ./felix/dataplane/
//
// FELIX_NFT_ENDPOINTS (a comma-separated list) replaces the sizes 1000 and 10000.

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/ipam"
)

const (
	nftHost     = "node1"
	nftPolicies = 5  // policies selecting every endpoint
	nftSamples  = 20 // endpoints added one at a time
)

// sizesFromEnv are the endpoint counts of a scale benchmark: 1000 and 10000, or the comma-separated sizes in the
// environment variable named.
func sizesFromEnv(tb testing.TB, variable string) []int {
	env := os.Getenv(variable)
	if env == "" {
		return []int{1000, 10000}
	}
	var out []int
	for _, f := range strings.Split(env, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
			tb.Fatalf("%s=%q: want positive sizes", variable, env)
		}
		out = append(out, n)
	}
	return out
}

// nftIface is the interface of the i-th endpoint: like the CNI plugin's (a hash of the workload), names are spread
// over the whole name space, so that an added endpoint lands anywhere in the sorted dispatch chains.
func nftIface(i int) string {
	x := uint64(i) + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return fmt.Sprintf("cali%011x", x>>20)
}

// nftAddr is the k-th address of the node's blocks, 10.65.0.0/16 and up.
func nftAddr(k int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 65 + byte(k>>16), byte(k >> 8), byte(k)})
}

// nftNode feeds felix's calculation a node's datastore as its first listing does; add feeds one more endpoint.
type nftNode struct {
	tb  testing.TB
	c   *calc.Calculator
	rev int64
}

func newNftNode(tb testing.TB, n int) *nftNode {
	f := &nftNode{tb: tb, c: calc.New(nftHost, calc.DefaultConfig())}
	prefixes := []string{datastore.ResourcePrefix, datastore.IPAMPrefix + "host/"}
	for _, p := range prefixes {
		f.c.OnEvent(p, datastore.Event{Type: datastore.Resync})
	}
	f.send(&api.IPPool{ObjectMeta: api.ObjectMeta{Name: "default-ipv4-ippool"},
		Spec: api.IPPoolSpec{CIDR: "10.64.0.0/14", IPIPMode: api.EncapNever, NATOutgoing: true}})
	f.send(&api.Profile{ObjectMeta: api.ObjectMeta{Name: "net1"}, Spec: api.ProfileSpec{
		Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(net1)"}}},
		Egress:        []api.Rule{{Action: api.ActionAllow}},
		LabelsToApply: map[string]string{"net1": ""},
	}})
	for k := 0; k*64 <= n+nftSamples+1; k++ {
		f.rev++
		key := ipam.AffinityKey(nftHost, netip.PrefixFrom(nftAddr(k*64), 26))
		f.c.OnEvent(prefixes[1], datastore.Event{Type: datastore.Added, Key: key,
			Value: []byte(`{"state":"confirmed"}`), Revision: f.rev})
	}
	for j := range nftPolicies {
		f.send(nftPolicy(j))
	}
	for i := range n {
		f.send(nftEndpoint(i))
	}
	for _, p := range prefixes {
		f.c.OnEvent(p, datastore.Event{Type: datastore.InSync})
	}
	return f
}

// send feeds r as the watch delivers it: validated, encoded and decoded.
func (f *nftNode) send(r api.Resource) {
	f.tb.Helper()
	api.SetTypeMeta(r)
	if err := r.Validate(); err != nil {
		f.tb.Fatalf("invalid benchmark resource: %v", err)
	}
	f.rev++
	ev, err := datastore.StoredEvent(datastore.Added, r, f.rev)
	if err != nil {
		f.tb.Fatal(err)
	}
	f.c.OnEvent(datastore.ResourcePrefix, ev)
}

// nftEndpoint is the i-th local endpoint: one of 50 apps, a few of them DNS servers.
func nftEndpoint(i int) *api.WorkloadEndpoint {
	labels := map[string]string{"app": fmt.Sprintf("app%d", i%50)}
	if i%100 == 1 {
		labels["k8s-app"] = "kube-dns"
	}
	return &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-cni-%08x-eth0", nftHost, i), Namespace: "default", Labels: labels},
		Spec: api.WorkloadEndpointSpec{Orchestrator: "cni", Node: nftHost, Endpoint: "eth0", InterfaceName: nftIface(i),
			IPNetworks: []string{netip.PrefixFrom(nftAddr(i+1), 32).String()}, Profiles: []string{"net1"}},
	}
}

// nftPolicy is the j-th policy: it selects every endpoint, allows TCP 80 from 10 of the 50 apps and, on egress,
// DNS.
func nftPolicy(j int) *api.GlobalNetworkPolicy {
	tcp, udp := api.ProtocolFromString("TCP"), api.ProtocolFromString("UDP")
	var ingress []api.Rule
	for a := j * 10; a < j*10+10; a++ {
		ingress = append(ingress, api.Rule{Action: api.ActionAllow, Protocol: &tcp,
			Source:      api.EntityRule{Selector: fmt.Sprintf("app == 'app%d'", a%50)},
			Destination: api.EntityRule{Ports: []api.Port{{MinPort: 80, MaxPort: 80}}}})
	}
	egress := []api.Rule{{Action: api.ActionAllow, Protocol: &udp,
		Destination: api.EntityRule{Selector: "k8s-app == 'kube-dns'", Ports: []api.Port{{MinPort: 53, MaxPort: 53}}}}}
	order := float64(j)
	return &api.GlobalNetworkPolicy{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("all-%d", j)},
		Spec: api.GlobalNetworkPolicySpec{Order: &order, Selector: "all()",
			Types:   []api.PolicyType{api.PolicyTypeIngress, api.PolicyTypeEgress},
			Ingress: ingress, Egress: egress}}
}

// BenchmarkNativeNftables loads felix's ruleset for N endpoints into fresh namespaces twice, with
// iptables-restore (into the iptables-nft tables) and natively with one `nft -f` (into tables of our own), then
// adds endpoints one at a time to both: the endpoint's two chains of about 18 rules and its rule in each dispatch
// chain, in both families. Each figure is a median over the samples, as wall time (-ms) and as the CPU time of the
// commands themselves (-cpu-ms, steadier on a shared machine), beside its baseline from the same run:
//   - nft-add against ipt-add: one `nft -f` of the added chains and rules of both families, against one
//     iptables-restore --noflush and one ip6tables-restore --noflush of exactly those lines (no rewrite of any other
//     rule: the least iptables can be told);
//   - nft-tiny and ipt-tiny: one chain declared in the loaded namespace, the fixed cost of one transaction through
//     each tool at this size (nft-tiny-empty: the same into a namespace holding one small table, so the difference
//     is what nft reads of the loaded ruleset); nft-jump and ipt-jump: one chain with one rule jumping to felix's
//     dispatch chain, after which the kernel checks the chains reachable from the hooks;
//   - nft-cold-ms against ipt-floor-ms: the whole ruleset with its sets in one `nft -f`, against the floor of
//     BenchmarkColdStartWithPolicies (one ipset restore plus one bare iptables-restore and ip6tables-restore of
//     the saved ruleset); ipt-cold-noflush-ms is felix's own cold scripts through --noflush.
func BenchmarkNativeNftables(b *testing.B) {
	for _, tool := range []string{"nft", "iptables-restore-translate", "ip6tables-restore-translate"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s (Debian packages nftables and iptables): %v", tool, err)
		}
	}
	for _, n := range sizesFromEnv(b, "FELIX_NFT_ENDPOINTS") {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			for range b.N {
				nftMeasure(b, n)
			}
		})
	}
}

// nftRuleset is one family's part of felix's ruleset as iptables-restore lines and as nft commands, split into
// what is loaded first (base) and what each sample endpoint adds.
type nftRuleset struct {
	f            family
	base         string   // iptables-restore --noflush input
	adds         []string // per sample: its chains declared and filled, its dispatch rules inserted
	nftBase      []string // nft commands: tables, base chains, sets, chains, rules
	nftAdds      [][]string
	rules, chain int // rules and chains in base
}

func nftMeasure(b *testing.B, n int) {
	samples := nftSamples
	if n > 1000 {
		samples = nftSamples / 2
	}
	node := newNftNode(b, n)
	for k := range samples {
		node.send(nftEndpoint(n + k))
	}
	st := node.c.State()
	var ifaces []string
	for k := range samples {
		ifaces = append(ifaces, nftIface(n+k))
	}
	scratch, _ := testNetns(b)
	var sets []*nftRuleset
	for _, f := range families {
		if f.tablesOf(st) != nil {
			sets = append(sets, nftSplit(b, scratch, f, st, ifaces))
		}
	}
	nftScript := func(parts func(*nftRuleset) []string) string {
		var s strings.Builder
		for _, rs := range sets {
			for _, l := range parts(rs) {
				s.WriteString(l + "\n")
			}
		}
		return s.String()
	}

	// Cold loads.
	iptNS, _ := testNetns(b)
	setScript := ipsetRestoreScript(st.IPSets)
	nftRun(b, iptNS, setScript, "ipset", "restore")
	var iptCold cost
	for _, rs := range sets {
		iptCold = iptCold.plus(nftRun(b, iptNS, rs.base, rs.f.restore, "--noflush", "--wait"))
	}
	floorNS, _ := testNetns(b)
	floor := nftRun(b, floorNS, setScript, "ipset", "restore")
	for _, rs := range sets {
		saved := nftOut(b, iptNS, rs.f.save)
		floor = floor.plus(nftRun(b, floorNS, saved, rs.f.restore, "--wait"))
	}
	nftNS, _ := testNetns(b)
	nftCold := nftRun(b, nftNS, nftScript(func(rs *nftRuleset) []string { return rs.nftBase }), "nft", "-f", "-")
	emptyNS, _ := testNetns(b)
	nftRun(b, emptyNS, "add table ip felix_probe\nadd chain ip felix_probe target\n", "nft", "-f", "-")

	// One endpoint added, and the fixed cost of one transaction: a chain declared, and a chain declared with a
	// rule jumping to one of felix's (the kernel then checks the chains reachable from its hooks for loops).
	var iptAdd, nftAdd, iptTiny, nftTiny, nftTinyEmpty, iptJump, nftJump []cost
	for k := range samples {
		var c cost
		for _, rs := range sets {
			c = c.plus(nftRun(b, iptNS, rs.adds[k], rs.f.restore, "--noflush", "--wait"))
		}
		iptAdd = append(iptAdd, c)
		nftAdd = append(nftAdd, nftRun(b, nftNS, nftScript(func(rs *nftRuleset) []string { return rs.nftAdds[k] }), "nft", "-f", "-"))
		probe, jump := fmt.Sprintf("felix-probe-%d", k), fmt.Sprintf("felix-jump-%d", k)
		iptTiny = append(iptTiny, nftRun(b, iptNS, "*filter\n:"+probe+" - [0:0]\nCOMMIT\n", "iptables-restore", "--noflush", "--wait"))
		nftTiny = append(nftTiny, nftRun(b, nftNS, "add chain ip calico_filter "+probe+"\n", "nft", "-f", "-"))
		nftTinyEmpty = append(nftTinyEmpty, nftRun(b, emptyNS, "add chain ip felix_probe "+probe+"\n", "nft", "-f", "-"))
		iptJump = append(iptJump, nftRun(b, iptNS, fmt.Sprintf("*filter\n:%s - [0:0]\n-A %s --jump %s\nCOMMIT\n", jump, jump,
			rules.ChainFromWorkloadDispatch), "iptables-restore", "--noflush", "--wait"))
		nftJump = append(nftJump, nftRun(b, nftNS, fmt.Sprintf("add chain ip calico_filter %s\nadd rule ip calico_filter %s jump %s\n",
			jump, jump, rules.ChainFromWorkloadDispatch), "nft", "-f", "-"))
	}
	// Both sides now hold the samples' chains, with the same number of rules.
	last := rules.ChainName(rules.PrefixToWorkload, ifaces[len(ifaces)-1])
	iptRules := strings.Count(nftOut(b, iptNS, "iptables-save", "-t", "filter"), "\n-A "+last+" ")
	nftRules := strings.Count(nftOut(b, nftNS, "nft", "list", "chain", "ip", "calico_filter", last), "counter packets")
	if iptRules == 0 || iptRules != nftRules {
		b.Fatalf("chain %s holds %d rules in iptables and %d in nft; want the same, more than 0", last, iptRules, nftRules)
	}

	var baseRules, addLines int
	for _, rs := range sets {
		baseRules += rs.rules
		addLines += len(rs.nftAdds[0])
	}
	b.ReportMetric(float64(n), "endpoints")
	b.ReportMetric(float64(baseRules), "rules")
	b.ReportMetric(float64(iptRules), "rules/endpoint-chain")
	report := func(name string, cs []cost) (wall, cpu time.Duration) {
		wall, cpu = p50Cost(cs)
		b.ReportMetric(ms(wall), name+"-p50-ms")
		b.ReportMetric(ms(cpu), name+"-cpu-p50-ms")
		return wall, cpu
	}
	nftAddWall, nftAddCPU := report("nft-add", nftAdd)
	iptAddWall, iptAddCPU := report("ipt-add", iptAdd)
	b.ReportMetric(float64(nftAddWall)/float64(iptAddWall), "nft-add/ipt-add")
	b.ReportMetric(float64(nftAddCPU)/float64(iptAddCPU), "nft-add/ipt-add-cpu")
	nftTinyWall, _ := report("nft-tiny", nftTiny)
	nftTinyEmptyWall, _ := report("nft-tiny-empty", nftTinyEmpty)
	iptTinyWall, _ := report("ipt-tiny", iptTiny)
	nftJumpWall, _ := report("nft-jump", nftJump)
	iptJumpWall, _ := report("ipt-jump", iptJump)
	b.ReportMetric(ms(nftCold.wall), "nft-cold-ms")
	b.ReportMetric(ms(nftCold.cpu), "nft-cold-cpu-ms")
	b.ReportMetric(ms(floor.wall), "ipt-floor-ms")
	b.ReportMetric(ms(floor.cpu), "ipt-floor-cpu-ms")
	b.ReportMetric(ms(iptCold.wall), "ipt-cold-noflush-ms")
	b.ReportMetric(float64(nftCold.wall)/float64(floor.wall), "nft-cold/ipt-floor")
	b.Logf("iptables backend: %s; nft: %s", strings.TrimSpace(nftOut(b, scratch, "iptables", "-V")),
		strings.TrimSpace(nftOut(b, scratch, "nft", "--version")))
	b.Logf("%d endpoints, %d rules in both families; %d samples. One endpoint added (%d nft commands, both "+
		"families): nft -f p50 %.1f ms (CPU %.1f ms), ip(6)tables-restore --noflush of the same lines p50 %.1f ms "+
		"(CPU %.1f ms), ratio %.2f (CPU %.2f). One transaction: a chain declared, nft %.1f ms (%.1f ms into a "+
		"near-empty namespace), iptables-restore %.1f ms; a chain with one jump, nft %.1f ms, iptables-restore %.1f "+
		"ms. Cold: nft -f of everything with its sets %.1f ms (CPU %.1f ms); ipset restore + bare "+
		"ip(6)tables-restore %.1f ms (CPU %.1f ms), ratio %.2f; felix's cold scripts with --noflush %.1f ms",
		n, baseRules, samples, addLines, ms(nftAddWall), ms(nftAddCPU), ms(iptAddWall), ms(iptAddCPU),
		float64(nftAddWall)/float64(iptAddWall), float64(nftAddCPU)/float64(iptAddCPU), ms(nftTinyWall),
		ms(nftTinyEmptyWall), ms(iptTinyWall), ms(nftJumpWall), ms(iptJumpWall), ms(nftCold.wall), ms(nftCold.cpu),
		ms(floor.wall), ms(floor.cpu), float64(nftCold.wall)/float64(floor.wall), ms(iptCold.wall))
}

// cost is what running commands took: wall time, and the CPU time (user and system) of the commands themselves,
// which on a shared machine is the steadier figure (wall time includes waiting for a CPU; work the kernel defers to
// other threads is in neither).
type cost struct{ wall, cpu time.Duration }

func (c cost) plus(d cost) cost { return cost{c.wall + d.wall, c.cpu + d.cpu} }

// p50Cost is the median wall time and the median CPU time of the samples.
func p50Cost(cs []cost) (wall, cpu time.Duration) {
	var ws, cpus []time.Duration
	for _, c := range cs {
		ws, cpus = append(ws, c.wall), append(cpus, c.cpu)
	}
	return percentile(ws, 50), percentile(cpus, 50)
}

// nftSplit renders one family of st as felix writes it and splits it into the base ruleset and the additions of
// the sample interfaces (their two endpoint chains and every rule that goes to them), as iptables-restore input
// and as nft commands.
func nftSplit(b testing.TB, scratch string, f family, st *desired.State, ifaces []string) *nftRuleset {
	rs := &nftRuleset{f: f, adds: make([]string, len(ifaces)), nftAdds: make([][]string, len(ifaces))}
	owner := map[string]int{} // sample chain → sample
	for k, ifc := range ifaces {
		owner[rules.ChainName(rules.PrefixToWorkload, ifc)] = k
		owner[rules.ChainName(rules.PrefixFromWorkload, ifc)] = k
	}
	ph := newNftPlaceholders(f)
	var full, base strings.Builder
	adds := make([][]string, len(ifaces))
	found := make([]int, len(ifaces))
	tables := f.tablesOf(st)
	for _, table := range tableNames(tables) {
		rt, err := renderTable(tables[table], nil, false)
		if err != nil {
			b.Fatal(err)
		}
		chains := sortedKeys(rt.chains)
		if len(chains)+len(rt.hooks) == 0 {
			continue
		}
		ph.table = table
		full.WriteString("*" + table + "\n")
		base.WriteString("*" + table + "\n")
		for _, c := range chains {
			full.WriteString(":" + c + " - [0:0]\n")
			if k, ok := owner[c]; ok {
				adds[k] = append(adds[k], ":"+c+" - [0:0]")
				found[k]++
				continue
			}
			base.WriteString(":" + c + " - [0:0]\n")
			rs.chain++
		}
		line := func(c string, r renderedRule) {
			full.WriteString("-A " + c + " " + ph.replace(b, r.spec) + "\n")
		}
		for _, c := range chains {
			pos := 0 // of the rule in the chain as loaded so far
			for _, r := range rt.chains[c].rules {
				line(c, r)
				if k, ok := owner[c]; ok {
					adds[k] = append(adds[k], "-A "+c+" "+r.spec)
					continue
				}
				if k, ok := owner[r.target]; ok {
					// Inserted where felix's order puts it among the rules loaded before it.
					adds[k] = append(adds[k], fmt.Sprintf("-I %s %d %s", c, pos+1, r.spec))
					continue
				}
				base.WriteString("-A " + c + " " + r.spec + "\n")
				pos++
				rs.rules++
			}
		}
		for _, c := range sortedKeys(rt.hooks) {
			for _, r := range rt.hooks[c].rules {
				line(c, r)
				base.WriteString("-A " + c + " " + r.spec + "\n")
				rs.rules++
			}
		}
		full.WriteString("COMMIT\n")
		base.WriteString("COMMIT\n")
	}
	for k, n := range found {
		if n != 2 {
			b.Fatalf("sample interface %s has %d endpoint chains in %s; want 2", ifaces[k], n, f.iptables)
		}
		rs.adds[k] = "*filter\n" + strings.Join(adds[k], "\n") + "\nCOMMIT\n"
	}
	rs.base = base.String()

	// The nft side: the whole ruleset translated at once, then split the same way.
	out, _ := nftExec(b, scratch, full.String(), f.iptables+"-restore-translate", "-f", "/dev/stdin")
	var tablesSeen []string
	var body []string
	hooks := map[string]bool{} // "table chain" of kernel chains felix hooks into
	for l := range strings.Lines(out) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "# Translated") || strings.HasPrefix(l, "# Completed") {
			continue
		}
		if strings.HasPrefix(l, "#") {
			l = nftICMPv6(b, l)
		}
		w := strings.Fields(l)
		if len(w) < 4 || (w[1] != "table" && len(w) < 5) {
			b.Fatalf("unexpected translation: %s", l)
		}
		table := w[3]
		w[3] = "calico_" + table
		if w[1] == "table" {
			tablesSeen = append(tablesSeen, table)
			continue
		}
		chain := w[4]
		if !strings.HasPrefix(chain, "cali-") {
			hooks[table+" "+chain] = true
		}
		cmd := ph.restore(strings.Join(w, " "))
		if k, ok := owner[chain]; ok {
			rs.nftAdds[k] = append(rs.nftAdds[k], cmd)
			continue
		}
		if target := nftTarget(w); target != "" {
			if k, ok := owner[target]; ok {
				// Dispatch rules match distinct interfaces, so at the top is as good as felix's place.
				w[0] = "insert"
				rs.nftAdds[k] = append(rs.nftAdds[k], ph.restore(strings.Join(w, " ")))
				continue
			}
		}
		body = append(body, cmd)
	}
	for _, table := range slices.Compact(slices.Sorted(slices.Values(tablesSeen))) {
		t := "calico_" + table
		rs.nftBase = append(rs.nftBase, fmt.Sprintf("add table %s %s", ph.family, t))
		for _, hc := range slices.Sorted(maps.Keys(hooks)) {
			if tc := strings.Fields(hc); tc[0] == table {
				spec, ok := nftBaseChains[hc]
				if !ok {
					b.Fatalf("no nft base chain for %s", hc)
				}
				rs.nftBase = append(rs.nftBase, fmt.Sprintf("add chain %s %s %s { %s; policy accept; }", ph.family, t, tc[1], spec))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(ph.used[table])) {
			rs.nftBase = append(rs.nftBase, ph.setCommands(b, t, name, st.IPSets[name])...)
		}
	}
	rs.nftBase = append(rs.nftBase, body...)
	return rs
}

// nftBaseChains are the hooks and priorities of the kernel chains iptables has in each table, for the base chains
// of our own tables.
var nftBaseChains = map[string]string{
	"filter INPUT": "type filter hook input priority 0", "filter FORWARD": "type filter hook forward priority 0",
	"filter OUTPUT":  "type filter hook output priority 0",
	"nat PREROUTING": "type nat hook prerouting priority -100", "nat INPUT": "type nat hook input priority 100",
	"nat OUTPUT": "type nat hook output priority -100", "nat POSTROUTING": "type nat hook postrouting priority 100",
	"mangle PREROUTING": "type filter hook prerouting priority -150", "mangle INPUT": "type filter hook input priority -150",
	"mangle FORWARD": "type filter hook forward priority -150", "mangle OUTPUT": "type route hook output priority -150",
	"mangle POSTROUTING": "type filter hook postrouting priority -150",
	"raw PREROUTING":     "type filter hook prerouting priority -300", "raw OUTPUT": "type filter hook output priority -300",
}

var icmp6Rule = regexp.MustCompile(`^# -t (\S+) -A (\S+) -m comment --comment (\S+) -p ipv6-icmp -m icmp6 ` +
	`--icmpv6-type (\d+) --jump (ACCEPT|DROP)\s*$`)

// nftICMPv6 translates the one kind of rule ip6tables-restore-translate (1.8.9) cannot: an ICMPv6 type given by
// number (felix lets MLD through to the host so).
func nftICMPv6(b testing.TB, comment string) string {
	m := icmp6Rule.FindStringSubmatch(comment)
	if m == nil {
		b.Fatalf("the translator could not translate: %s", comment)
	}
	return fmt.Sprintf("add rule ip6 %s %s icmpv6 type %s counter %s comment %q", m[1], m[2], m[4],
		strings.ToLower(m[5]), m[3])
}

// nftTarget is the chain an nft rule jumps or goes to, "" when none.
func nftTarget(w []string) string {
	for i := 0; i+1 < len(w); i++ {
		if w[i] == "jump" || w[i] == "goto" {
			return w[i+1]
		}
	}
	return ""
}

// nftPlaceholders stands in for ipset matches while iptables' translator runs: it cannot translate `-m set`, so
// each set becomes a source or destination address of a documentation range, which comes back as `@set`.
type nftPlaceholders struct {
	family string // nft family: ip or ip6
	v6     bool
	addr   map[string]string          // set name → placeholder address
	set    map[string]string          // placeholder address → nft set name
	table  string                     // the iptables table whose rules are being replaced
	used   map[string]map[string]bool // per iptables table, the ipsets its rules match on
}

func newNftPlaceholders(f family) *nftPlaceholders {
	p := &nftPlaceholders{family: "ip", addr: map[string]string{}, set: map[string]string{},
		used: map[string]map[string]bool{}}
	if f.version == 6 {
		p.family, p.v6 = "ip6", true
	}
	return p
}

var setMatch = regexp.MustCompile(`-m set (! )?--match-set (\S+) (src|dst)( |$)`)

// replace turns the set matches of an iptables rule into address matches on placeholders.
func (p *nftPlaceholders) replace(b testing.TB, spec string) string {
	out := setMatch.ReplaceAllStringFunc(spec, func(m string) string {
		g := setMatch.FindStringSubmatch(m)
		name := g[2]
		a, ok := p.addr[name]
		if !ok {
			i := len(p.addr) + 1
			if p.v6 {
				a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}).String()
			} else {
				a = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()
			}
			p.addr[name], p.set[a] = a, name
		}
		if p.used[p.table] == nil {
			p.used[p.table] = map[string]bool{}
		}
		p.used[p.table][name] = true
		flag := "-s"
		if g[3] == "dst" {
			flag = "-d"
		}
		return g[1] + flag + " " + a + g[4]
	})
	if strings.Contains(out, "--match-set") {
		b.Fatalf("a set match the benchmark cannot translate: %s", spec)
	}
	return out
}

// restore puts the sets back into a translated nft command.
func (p *nftPlaceholders) restore(cmd string) string {
	w := strings.Fields(cmd)
	for i, t := range w {
		if name, ok := p.set[t]; ok {
			w[i] = "@" + nftSetName(name)
		}
	}
	return strings.Join(w, " ")
}

// nftSetName is an ipset name as an nft set name, which cannot hold a colon.
func nftSetName(name string) string { return strings.ReplaceAll(name, ":", "_") }

// setCommands declares an ipset of felix in an nft table, with its members.
func (p *nftPlaceholders) setCommands(b testing.TB, table, name string, s desired.IPSet) []string {
	if s.Type != "hash:net" && s.Type != "hash:ip" {
		b.Fatalf("set %s of type %s: the benchmark writes only address sets to nft", name, s.Type)
	}
	typ := "ipv4_addr"
	if p.v6 {
		typ = "ipv6_addr"
	}
	out := []string{fmt.Sprintf("add set %s %s %s { type %s; flags interval; }", p.family, table, nftSetName(name), typ)}
	if len(s.Members) > 0 {
		out = append(out, fmt.Sprintf("add element %s %s %s { %s }", p.family, table, nftSetName(name),
			strings.Join(s.Members, ", ")))
	}
	return out
}

// ipsetRestoreScript is the ipset restore input that creates sets with their members.
func ipsetRestoreScript(sets map[string]desired.IPSet) string {
	var s strings.Builder
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		set := sets[name]
		fmt.Fprintf(&s, "create %s %s family %s maxelem %d\n", name, set.Type, desired.IPSetFamily(name), defaultMaxElem)
		for _, m := range set.Members {
			fmt.Fprintf(&s, "add %s %s\n", name, m)
		}
	}
	return s.String()
}

// nftRun runs a command in the namespace the way the dataplane does and returns what it cost.
func nftRun(b testing.TB, ns, stdin, program string, args ...string) cost {
	b.Helper()
	_, c := nftExec(b, ns, stdin, program, args...)
	return c
}

func nftOut(b testing.TB, ns, program string, args ...string) string {
	b.Helper()
	out, _ := nftExec(b, ns, "", program, args...)
	return out
}

// nftExec runs a command inside the namespace (the calling thread enters it and the command inherits it) and
// returns its output and cost.
func nftExec(b testing.TB, ns, stdin, program string, args ...string) (string, cost) {
	b.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.Command(program, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := nftDataplane(b, ns).inNS(cmd.Run)
	wall := time.Since(start)
	if err != nil {
		if len(stdin) > 2000 {
			stdin = stdin[:2000] + "…"
		}
		b.Fatalf("%s %s: %v: %s\ninput:\n%s", program, strings.Join(args, " "), err, stderr.String(), stdin)
	}
	return stdout.String(), cost{wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// nftDataplanes are the dataplanes the benchmark runs commands through, by namespace.
var nftDataplanes = map[string]*Dataplane{}

func nftDataplane(b testing.TB, ns string) *Dataplane {
	if d, ok := nftDataplanes[ns]; ok {
		return d
	}
	d := newTestDataplane(b, "/run/netns/"+ns)
	nftDataplanes[ns] = d
	b.Cleanup(func() { delete(nftDataplanes, ns) })
	return d
}
