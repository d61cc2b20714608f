// Command benchreport turns `go test -bench` output into the table and JSON that `make bench` prints, adding the
// ratios of each measured figure to the baseline measured beside it in the same run (the machine is shared and
// noisy, so only same-run ratios mean much).
//
//	go test -run '^$' -bench . ./... | go run ./tests/benchreport -json bin/bench.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
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
}

// Ratio compares a figure with its same-run baseline.
type Ratio struct {
	What     string  `json:"what"`
	Value    float64 `json:"value"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"`
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

func parse(r io.Reader) []Result {
	var out []Result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
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
		out = append(out, res)
	}
	return out
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
				out = append(out, Ratio{What: r.Name + ": " + p.what, Value: v, Baseline: b, Ratio: v / b})
			}
		}
		for _, p := range crossLine {
			if !p.subject.MatchString(r.Name) {
				continue
			}
			base, ok := byName[r.Package+" "+p.subject.ReplaceAllString(r.Name, p.baseline)]
			v, ok1 := r.Metrics[p.metric]
			b, ok2 := base.Metrics[p.metric]
			if ok && ok1 && ok2 && b > 0 {
				out = append(out, Ratio{What: r.Name + ": " + p.what, Value: v, Baseline: b, Ratio: v / b})
			}
		}
	}
	return out
}

func main() {
	jsonPath := flag.String("json", "", "also write the results and ratios as JSON to this file")
	flag.Parse()
	var in io.Reader = os.Stdin
	if flag.NArg() > 0 {
		f, err := os.Open(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	results := parse(in)
	rs := ratios(results)
	w := tabwriter.NewWriter(os.Stdout, 4, 1, 2, ' ', 0)
	fmt.Fprintln(w, "PACKAGE\tBENCHMARK\tRUNS\tFIGURES")
	for _, r := range results {
		keys := make([]string, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var figs []string
		for _, k := range keys {
			figs = append(figs, fmt.Sprintf("%s %s", strconv.FormatFloat(r.Metrics[k], 'g', 4, 64), k))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", strings.TrimPrefix(r.Package, "github.com/calico-l3/calico/"), r.Name, r.Runs, strings.Join(figs, ", "))
	}
	w.Flush()
	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 4, 1, 2, ' ', 0)
	fmt.Fprintln(w, "RATIO\tVALUE\tBASELINE\tCOMPARISON")
	for _, r := range rs {
		fmt.Fprintf(w, "%.2fx\t%.4g\t%.4g\t%s\n", r.Ratio, r.Value, r.Baseline, r.What)
	}
	w.Flush()
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(map[string]any{"results": results, "ratios": rs}, "", "  ")
		if err := os.WriteFile(*jsonPath, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("\nJSON written to", *jsonPath)
	}
}
