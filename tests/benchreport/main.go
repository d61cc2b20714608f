// Command benchreport turns `go test -bench` output into the table and JSON that `make bench` prints, adding the
// ratios of each measured figure to the baseline measured beside it in the same run (the machine is shared and
// noisy, so only same-run ratios mean much).
//
//	go test -run '^$' -bench . ./... | go run ./tests/benchreport -json bin/bench.json
//
// With -from it reads such a JSON file back instead, and with -markdown it writes docs/performance.md from it: the
// targets the figures are held to, every figure beside its floor, and the machine they ran on.
//
//	go run ./tests/benchreport -from bin/bench.json -markdown docs/performance.md
//
// Several benchmark outputs may be named at once (felix's run apart from the rest, say); they are read as one.
// With -over the outputs are laid over the figures of an earlier report, so a rerun of a few benchmarks updates it:
//
//	go run ./tests/benchreport -over docs/performance.md -json bin/bench.json -markdown docs/performance.md bin/felix.txt
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is one benchmark line: its package, name and every reported metric.
type Result struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`
	Runs    int                `json:"runs"`
	Metrics map[string]float64 `json:"metrics"`
	// Source is the output file the result was read from, when there were several: which run it belongs to.
	Source string `json:"source,omitempty"`
}

// Ratio compares a figure with its same-run baseline.
type Ratio struct {
	What     string  `json:"what"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
	// Where the two figures come from: the subject benchmark and its package, the figure's metric and the
	// baseline's (in the subject benchmark, or in BaselineBench when another benchmark measured it).
	Package        string `json:"package,omitempty"`
	Benchmark      string `json:"benchmark,omitempty"`
	Metric         string `json:"metric,omitempty"`
	BaselineMetric string `json:"baseline_metric,omitempty"`
	BaselineBench  string `json:"baseline_benchmark,omitempty"`
}

// Machine is what the figures were measured on.
type Machine struct {
	CPUs            int    `json:"cpus"`
	CPU             string `json:"cpu,omitempty"`
	MemoryMB        int    `json:"memory_mb,omitempty"`
	Kernel          string `json:"kernel,omitempty"`
	IPTables        string `json:"iptables,omitempty"`         // iptables -V
	IPTablesBackend string `json:"iptables_backend,omitempty"` // nf_tables or legacy
	Go              string `json:"go,omitempty"`
	Date            string `json:"date,omitempty"`
}

// Report is what -json writes and -from reads.
type Report struct {
	Machine Machine  `json:"machine"`
	Results []Result `json:"results"`
	Ratios  []Ratio  `json:"ratios"`
}

// sameLine pairs two metrics reported by one benchmark: the figure and its floor or baseline.
var sameLine = []struct{ metric, baseline, what string }{
	{"felix-ms", "floor-ms", "felix programming vs one bare iptables-restore of the final ruleset"},
	{"naive-ms", "felix-ms", "one `iptables -A` per rule vs felix"},
	{"add+del-p50-ms", "exec-baseline-p50-ms", "CNI ADD+DEL p50 vs one exec of the plugin binary"},
	{"p50-ms", "floor-ms", "p50 vs the minimal write of the same change"},
	{"heap-MB", "floor-MB", "calc heap vs the raw endpoint data"},
	{"add-to-ping-p50-ms", "floor-p50-ms", "CNI ADD on one host until a pod elsewhere pings it vs a hand-written route"},
	{"kubectl-p50-ms", "calicoctl-p50-ms", "p50 of kubectl NetworkPolicy → enforced vs calicoctl Calico policy → enforced"},
	{"kubectl-p99-ms", "calicoctl-p99-ms", "p99 of kubectl NetworkPolicy → enforced vs calicoctl Calico policy → enforced"},
	{"kdd-assign-p50-ms", "etcd-assign-p50-ms", "p50 of IPAM assign on the Kubernetes datastore vs on etcd"},
	{"kdd-assign-p50-ms", "apiget-p50-ms", "p50 of KDD IPAM assign vs one bare API GET of a custom resource"},
	{"kdd-policy-p50-ms", "etcd-policy-p50-ms", "p50 of a GlobalNetworkPolicy → enforced, Kubernetes datastore vs etcd"},
	{"kdd-policy-p99-ms", "etcd-policy-p99-ms", "p99 (max of 30) of a GlobalNetworkPolicy → enforced, Kubernetes datastore vs etcd"},
	{"add-p50-ms", "exec-floor-p50-ms", "p50 of a CNI ADD process vs a bare exec of the plugin"},
	{"add-p50-ms", "exec-floor-concurrent-p50-ms", "ADD p50 vs a bare exec of the plugin at the same concurrency"},
	{"felix-iptables-ms", "floor-ms", "felix's iptables execs vs one bare iptables-restore of the final ruleset"},
	{"felix-ipset-iptables-ms", "floor-ms", "felix's ipset and ip(6)tables execs vs bare restores of the final sets and rulesets"},
	{"p99-ms", "floor-p99-ms", "p99 vs the p99 of the minimal write of the same change"},
	{"add-p50-ms", "add-floor-p50-ms", "p50 of one endpoint added vs the minimal write of the same change"},
	{"add-p99-ms", "add-floor-p99-ms", "p99 of one endpoint added vs the p99 of the minimal write of the same change"},
	{"del-p50-ms", "del-floor-p50-ms", "p50 of one endpoint removed vs the minimal write of the same change"},
	{"del-p99-ms", "del-floor-p99-ms", "p99 of one endpoint removed vs the p99 of the minimal write of the same change"},
	{"assigns/s", "txns/s", "IPAM assignments/s vs bare etcd transactions/s at the same concurrency"},
	{"existing-block-add-to-reply-p50-ms", "floor-p50-ms", "CNI ADD → first reply from another host, pod in an existing block, vs a hand-added route"},
	{"new-block-add-to-reply-p50-ms", "floor-p50-ms", "CNI ADD → first reply from another host, first pod of a new block, vs a hand-added route"},
	{"cycle-ms", "floor-cycle-ms", "one pod create+delete cycle through CNI with felix, confd and BIRD vs the same veth, address and route by hand"},
	{"bird-cpu-ms-per-1k-cycles-last", "bird-cpu-ms-per-1k-cycles-first", "BIRD's CPU per 1,000 soak cycles, last fifth vs first (confd restarts BIRD for its stale interfaces)"},
	{"felix-apply-ms-last", "felix-apply-ms-first", "felix's mean apply in the soak's last tenth vs its first"},
	{"bird-cpu-ms-per-1k-veths-last", "bird-cpu-ms-per-1k-veths-first", "BIRD's CPU per 1,000 churned veths, last batch vs first (stock BIRD keeps deleted interfaces)"},
	{"nft-add-p50-ms", "ipt-add-p50-ms", "one endpoint added through nft -f vs iptables-restore --noflush of the same lines"},
	{"nft-cold-ms", "ipt-floor-ms", "a cold load through nft -f vs bare ipset + ip(6)tables-restore of the same ruleset"},
	{"burst-last-reply-ms", "burst-floor-last-ms", "100 pods added at once: the last one's first reply vs the last of 100 hand-added routes"},
	{"burst-reply-p50-ms", "burst-floor-p50-ms", "100 pods added at once: p50 of first replies vs p50 of 100 hand-added routes"},
	{"unmarshal-ns", "json-floor-ns", "api.Unmarshal of a stored WorkloadEndpoint (what a watcher decodes per event) vs plain encoding/json"},
	{"add-last-ms", "exec-floor-concurrent-last-ms", "CNI ADD processes started at once on one node: the last ADD vs the last of as many bare execs started at once"},
}

// target is a goal an issue sets for one figure: the metric itself at most limit (an absolute limit, in the
// metric's unit) or, with baseline set, the metric at most limit times the baseline metric of the same benchmark.
// With atLeast the figure must reach the limit instead (a throughput, or a share of a floor's throughput).
type target struct {
	bench            *regexp.Regexp
	metric, baseline string
	limit            float64
	atLeast          bool
	what             string
	floor            string // for an absolute limit: the floor metric measured beside it, shown for comparison
}

// targets are the scale goals of issue 16; the markdown report says which are met. felix's hold on either iptables
// backend: the runs on the legacy tables (FELIX_BENCH_BACKEND=legacy) are named ".../legacy/...".
var targets = []target{
	{bench: regexp.MustCompile(`^BenchmarkColdStartWithPolicies/(legacy/)?endpoints=10000$`), metric: "felix-ms", baseline: "floor-ms", limit: 1.5,
		what: "felix: cold start of 10,000 endpoints ≤ 1.5× bare ipset restore + iptables-restore of the same ruleset"},
	{bench: regexp.MustCompile(`^BenchmarkEndpointChurn/(legacy/)?endpoints=1000$`), metric: "add-p99-ms", limit: 30,
		what: "felix: one endpoint added to 1,000: p99 ≤ 30 ms", floor: "add-floor-p99-ms"},
	{bench: regexp.MustCompile(`^BenchmarkEndpointChurn/(legacy/)?endpoints=1000$`), metric: "del-p99-ms", limit: 30,
		what: "felix: one endpoint removed from 1,000: p99 ≤ 30 ms", floor: "del-floor-p99-ms"},
	{bench: regexp.MustCompile(`^BenchmarkEndpointChurn/(legacy/)?endpoints=10000$`), metric: "add-p99-ms", limit: 100,
		what: "felix: one endpoint added to 10,000: p99 ≤ 100 ms", floor: "add-floor-p99-ms"},
	{bench: regexp.MustCompile(`^BenchmarkEndpointChurn/(legacy/)?endpoints=10000$`), metric: "del-p99-ms", limit: 100,
		what: "felix: one endpoint removed from 10,000: p99 ≤ 100 ms", floor: "del-floor-p99-ms"},
	{bench: regexp.MustCompile(`^BenchmarkPolicyAddAtScale/(legacy/)?endpoints=10000$`), metric: "p99-ms", baseline: "floor-p99-ms", limit: 2,
		what: "felix: one policy added on a node of 10,000 endpoints: p99 ≤ 2× the restore of just the chains that change"},
	{bench: regexp.MustCompile(`^BenchmarkAutoAssign/nodes=8$`), metric: "assigns/txn", limit: 0.5, atLeast: true,
		what: "IPAM, 8 concurrent nodes in-process: assignments/s ≥ 50 % of bare etcd transactions/s (each assignment here also pays a release)"},
	{bench: regexp.MustCompile(`^BenchmarkAutoAssignBurst/nodes=8$`), metric: "assigns/txn", limit: 0.5, atLeast: true,
		what: "IPAM, 8 concurrent nodes in-process: assignments/s ≥ 50 % of bare etcd transactions/s (assignments only, pods starting)"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "leaked-cali-chains", limit: 0,
		what: "churn soak: no cali chain left beyond the live pods"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "leaked-ipset-members", limit: 0,
		what: "churn soak: no ipset member left beyond the live pods"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "leaked-ipam-allocations", limit: 0,
		what: "churn soak: no IPAM allocation left beyond the live pods"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "leaked-endpoints", limit: 0,
		what: "churn soak: no workload endpoint left beyond the live pods"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "bird-cpu-ms-per-1k-cycles-last", baseline: "bird-cpu-ms-per-1k-cycles-first",
		limit: 1.5, what: "churn soak: BIRD's CPU per 1,000 cycles stays flat (last fifth ≤ 1.5× the first)"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "felix-apply-ms-last", baseline: "felix-apply-ms-first",
		limit: 1.5, what: "churn soak: felix's apply time stays flat (last tenth ≤ 1.5× the first)"},
	{bench: regexp.MustCompile(`^BenchmarkChurnSoak$`), metric: "ping-lost", limit: 0,
		what: "churn soak: no ping lost between pods on two hosts during the churn"},
	{bench: regexp.MustCompile(`^BenchmarkConvergenceByBlock/hosts=\d+$`), metric: "existing-block-add-to-reply-p50-ms", baseline: "floor-p50-ms", limit: 3,
		what: "convergence: CNI ADD on one host → first reply from another, pod in an existing block: p50 ≤ 3× a hand-added route"},
	{bench: regexp.MustCompile(`^BenchmarkConvergenceByBlock/hosts=\d+$`), metric: "new-block-add-to-reply-p50-ms", baseline: "floor-p50-ms", limit: 3,
		what: "convergence: CNI ADD on one host → first reply from another, first pod of a new block: p50 ≤ 3× a hand-added route"},
}

// crossLine pairs a benchmark with a baseline benchmark of the same package whose name matches after rewriting.
var crossLine = []struct {
	subject  *regexp.Regexp
	baseline string // replacement applied to the subject name
	metric   string
	what     string
}{
	{regexp.MustCompile(`^BenchmarkRender$`), "BenchmarkPlainTemplate", "ns/op", "confd render vs plain text/template over a map"},
	{regexp.MustCompile(`^BenchmarkAutoAssign/nodes=(\d+)$`), "BenchmarkEtcdTxn/clients=$1", "p50-ms", "IPAM assign p50 vs a bare etcd txn p50 at the same concurrency"},
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

// backendRE finds the line felix's benchmarks log to say which iptables they measured.
var backendRE = regexp.MustCompile(`iptables backend: (iptables v\S+ \((\S+)\))`)

func parse(r io.Reader) []Result {
	res, _ := parseAll(r)
	return res
}

// parseAll reads benchmark results and the iptables version the benchmarks logged (iptables -V), if any.
func parseAll(r io.Reader) ([]Result, string) {
	var out []Result
	backend := ""
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := backendRE.FindStringSubmatch(line); m != nil {
			backend = m[1]
			continue
		}
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		runs, _ := strconv.Atoi(m[3])
		res := Result{Package: pkg, Name: m[1], Runs: runs, Metrics: map[string]float64{}}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				res.Metrics[f[i+1]] = v
			}
		}
		out = merge(out, res)
	}
	return out, backend
}

// merge adds res to results; a benchmark run again later in the input (a rerun of a few benchmarks laid over a
// full run) replaces its earlier result in place.
func merge(results []Result, res Result) []Result {
	if i := slices.IndexFunc(results, func(o Result) bool { return o.Package == res.Package && o.Name == res.Name }); i >= 0 {
		results[i] = res
		return results
	}
	return append(results, res)
}

func ratios(results []Result) []Ratio {
	var out []Ratio
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Package+" "+r.Name] = r
	}
	for _, r := range results {
		for _, p := range sameLine {
			v, ok1 := r.Metrics[p.metric]
			b, ok2 := r.Metrics[p.baseline]
			if ok1 && ok2 && b > 0 {
				out = append(out, Ratio{What: r.Name + ": " + p.what, Value: v, Baseline: b, Ratio: v / b,
					Package: r.Package, Benchmark: r.Name, Metric: p.metric, BaselineMetric: p.baseline})
			}
		}
		for _, p := range crossLine {
			if !p.subject.MatchString(r.Name) {
				continue
			}
			baseName := p.subject.ReplaceAllString(r.Name, p.baseline)
			base, ok := byName[r.Package+" "+baseName]
			v, ok1 := r.Metrics[p.metric]
			b, ok2 := base.Metrics[p.metric]
			if ok && ok1 && ok2 && b > 0 {
				out = append(out, Ratio{What: r.Name + ": " + p.what, Value: v, Baseline: b, Ratio: v / b,
					Package: r.Package, Benchmark: r.Name, Metric: p.metric, BaselineMetric: p.metric, BaselineBench: baseName})
			}
		}
	}
	return out
}

func main() {
	jsonPath := flag.String("json", "", "also write the results, ratios and machine as JSON to this file")
	from := flag.String("from", "", "read a JSON file written by -json instead of benchmark output")
	mdPath := flag.String("markdown", "", "write the targets, figures, floors, ratios and the machine as markdown to this file")
	over := flag.String("over", "", "lay the benchmark outputs over the figures of this earlier markdown report (docs/performance.md)")
	flag.Parse()
	var rep Report
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			fail(err)
		}
	} else {
		// Several outputs (one per package run, say) read in order: each names its packages in its "pkg:" lines,
		// and each result remembers its file.
		var ipt string
		if *over != "" {
			f, err := os.Open(*over)
			if err != nil {
				fail(err)
			}
			rep.Results, err = readMarkdown(f, filepath.Base(*over))
			f.Close()
			if err != nil {
				fail(fmt.Errorf("%s: %w", *over, err))
			}
		}
		if flag.NArg() == 0 && *over == "" {
			rep.Results, ipt = parseAll(os.Stdin)
		}
		for _, name := range flag.Args() {
			f, err := os.Open(name)
			if err != nil {
				fail(err)
			}
			results, backend := parseAll(f)
			f.Close()
			for _, r := range results {
				r.Source = filepath.Base(name)
				rep.Results = merge(rep.Results, r)
			}
			if backend != "" {
				ipt = backend
			}
		}
		rep.Ratios = ratios(rep.Results)
		rep.Machine = thisMachine(ipt)
	}
	printTables(os.Stdout, rep)
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonPath, b, 0o644); err != nil {
			fail(err)
		}
		fmt.Println("\nJSON written to", *jsonPath)
	}
	if *mdPath != "" {
		src := *from
		if src == "" {
			src = *jsonPath
		}
		if err := os.WriteFile(*mdPath, []byte(markdown(rep, src)), 0o644); err != nil {
			fail(err)
		}
		fmt.Println("markdown written to", *mdPath)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func printTables(out io.Writer, rep Report) {
	w := tabwriter.NewWriter(out, 4, 1, 2, ' ', 0)
	fmt.Fprintln(w, "PACKAGE\tBENCHMARK\tRUNS\tFIGURES")
	for _, r := range rep.Results {
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var figs []string
		for _, k := range keys {
			figs = append(figs, fmt.Sprintf("%s %s", strconv.FormatFloat(r.Metrics[k], 'g', 4, 64), k))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", strings.TrimPrefix(r.Package, modulePrefix), r.Name, r.Runs, strings.Join(figs, ", "))
	}
	w.Flush()
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 4, 1, 2, ' ', 0)
	fmt.Fprintln(w, "RATIO\tVALUE\tBASELINE\tCOMPARISON")
	for _, r := range rep.Ratios {
		fmt.Fprintf(w, "%.2fx\t%.4g\t%.4g\t%s\n", r.Ratio, r.Value, r.Baseline, r.What)
	}
	w.Flush()
	if m := rep.Machine; m.IPTables != "" {
		fmt.Fprintf(out, "\niptables: %s (backend %s)\n", m.IPTables, m.IPTablesBackend)
	}
}
