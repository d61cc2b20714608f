package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
pkg: github.com/calico-l3/calico/confd
BenchmarkRender-2           	     100	   9000000 ns/op	 2070000 B/op
BenchmarkPlainTemplate-2    	     300	   3000000 ns/op
pkg: github.com/calico-l3/calico/ipam
BenchmarkAutoAssign/nodes=2-2         	     50	   4000000 ns/op	 4.0 p50-ms	 49 p99-ms
BenchmarkEtcdTxn/clients=2-2         	     50	   1000000 ns/op	 1.0 p50-ms
pkg: github.com/calico-l3/calico/felix/dataplane
BenchmarkColdStart/endpoints=10-2   1   5 ns/op   30 felix-ms   10 floor-ms   90 naive-ms
pkg: github.com/calico-l3/calico/tests/e2e
BenchmarkKubernetesNetworkPolicyEnforced-2   1   9 ns/op   150 calicoctl-p50-ms   300 calicoctl-p99-ms   300 kubectl-p50-ms   1200 kubectl-p99-ms
pkg: github.com/calico-l3/calico/datastore/kdd
BenchmarkIPAMOnKubernetesDatastore/nodes=8-2   1   9 ns/op   5 apiget-p50-ms   7 etcd-assign-p50-ms   140 kdd-assign-p50-ms   300 kdd-assign-p99-ms   80 kdd-apiserver-req/s-per-node
BenchmarkPolicyEnforcedKubernetesDatastoreVsEtcd-2   1   9 ns/op   60 etcd-policy-p50-ms   200 etcd-policy-p99-ms   150 kdd-policy-p50-ms   300 kdd-policy-p99-ms
pkg: github.com/calico-l3/calico/cni
BenchmarkCNIProcessPerAdd/nodes=8-2   1   0 ns/op   90 add-p50-ms   400 add-p99-ms   40 adds/s   30 del-p50-ms   15 exec-floor-p50-ms   45 exec-floor-concurrent-p50-ms   10 pods/node
`

func TestParseAndRatios(t *testing.T) {
	res := parse(strings.NewReader(sample))
	if len(res) != 9 || res[0].Package != "github.com/calico-l3/calico/confd" || res[0].Metrics["B/op"] != 2070000 || res[2].Name != "BenchmarkAutoAssign/nodes=2" {
		t.Fatalf("parse: got %+v", res)
	}
	got := map[string]float64{}
	for _, r := range ratios(res) {
		got[r.What[:strings.Index(r.What, ":")]+" "+r.What[strings.Index(r.What, ":")+2:][:10]] = r.Ratio
	}
	want := map[string]float64{
		"BenchmarkRender confd rend": 3, "BenchmarkAutoAssign/nodes=2 IPAM assig": 4,
		"BenchmarkColdStart/endpoints=10 felix prog": 3, "BenchmarkColdStart/endpoints=10 one `iptab": 3,
		"BenchmarkKubernetesNetworkPolicyEnforced p50 of kub": 2, "BenchmarkKubernetesNetworkPolicyEnforced p99 of kub": 4,
		"BenchmarkIPAMOnKubernetesDatastore/nodes=8 p50 of IPA": 20, "BenchmarkIPAMOnKubernetesDatastore/nodes=8 p50 of KDD": 28,
		"BenchmarkPolicyEnforcedKubernetesDatastoreVsEtcd p50 of a G": 2.5, "BenchmarkPolicyEnforcedKubernetesDatastoreVsEtcd p99 (max o": 1.5,
		"BenchmarkCNIProcessPerAdd/nodes=8 p50 of a C": 6, "BenchmarkCNIProcessPerAdd/nodes=8 ADD p50 vs": 2,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// A benchmark that appears again later (a rerun laid over a full run) keeps only its later result, in its place.
func TestALaterResultReplacesAnEarlierOne(t *testing.T) {
	rerun := sample + `pkg: github.com/calico-l3/calico/confd
BenchmarkRender-2           	     100	   4500000 ns/op
`
	res := parse(strings.NewReader(rerun))
	if len(res) != 9 || res[0].Name != "BenchmarkRender" || res[0].Metrics["ns/op"] != 4500000 || res[0].Metrics["B/op"] != 0 {
		t.Fatalf("expected 9 results with BenchmarkRender first at 4500000 ns/op alone, got %+v", res)
	}
}

const scaleSample = `pkg: github.com/calico-l3/calico/felix
BenchmarkColdStartWithPolicies/endpoints=10000-2   1   9 ns/op   30000 felix-ms   20000 floor-ms   24000 felix-ipset-iptables-ms
--- BENCH: BenchmarkColdStartWithPolicies/endpoints=10000-2
    policy_bench_test.go:250: iptables backend: iptables v1.8.9 (nf_tables)
BenchmarkEndpointChurn/endpoints=1000-2   1   9 ns/op   20 add-p50-ms   25 add-p99-ms   10 add-floor-p50-ms   20 add-floor-p99-ms   40 del-p50-ms   60 del-p99-ms   10 del-floor-p50-ms   30 del-floor-p99-ms
BenchmarkPolicyAddAtScale/endpoints=10000-2   1   9 ns/op   100 p50-ms   300 p99-ms   50 floor-ms   100 floor-p99-ms
pkg: github.com/calico-l3/calico/confd
BenchmarkRender-2           	     100	   9000000 ns/op
BenchmarkPlainTemplate-2    	     300	   3000000 ns/op
pkg: github.com/calico-l3/calico/ipam
BenchmarkAutoAssign/nodes=8-2   1000   9 ns/op   600 assigns/s   2000 txns/s   0.3 assigns/txn
`

func TestScaleFiguresTargetsAndMarkdown(t *testing.T) {
	res, ipt := parseAll(strings.NewReader(scaleSample))
	if ipt != "iptables v1.8.9 (nf_tables)" || len(res) != 6 {
		t.Fatalf("parse: got %q and %+v", ipt, res)
	}
	rep := Report{Results: res, Ratios: ratios(res), Machine: thisMachine(ipt)}
	if rep.Machine.IPTablesBackend != "nf_tables" || rep.Machine.CPUs < 1 {
		t.Fatalf("machine: %+v", rep.Machine)
	}
	got := map[string]float64{}
	for _, r := range rep.Ratios {
		got[r.Benchmark+" "+r.Metric+"/"+r.BaselineMetric] = r.Ratio
	}
	for k, v := range map[string]float64{
		"BenchmarkColdStartWithPolicies/endpoints=10000 felix-ms/floor-ms":                1.5,
		"BenchmarkColdStartWithPolicies/endpoints=10000 felix-ipset-iptables-ms/floor-ms": 1.2,
		"BenchmarkEndpointChurn/endpoints=1000 add-p99-ms/add-floor-p99-ms":               1.25,
		"BenchmarkEndpointChurn/endpoints=1000 del-p50-ms/del-floor-p50-ms":               4,
		"BenchmarkPolicyAddAtScale/endpoints=10000 p99-ms/floor-p99-ms":                   3,
		"BenchmarkPolicyAddAtScale/endpoints=10000 p50-ms/floor-ms":                       2,
		"BenchmarkRender ns/op/ns/op":                                                     3,
	} {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	md := markdown(rep, "bin/bench.json")
	for _, want := range []string{
		"| iptables backend | **nf_tables** |",
		"| felix: one endpoint added to 1,000: p99 ≤ 30 ms | felix | `BenchmarkEndpointChurn/endpoints=1000` | 25 ms (floor 20 ms) | 30 ms | met |",
		"| felix: one endpoint removed from 1,000: p99 ≤ 30 ms | felix | `BenchmarkEndpointChurn/endpoints=1000` | 60 ms (floor 30 ms) | 30 ms | **missed** by 2.0× |",
		"1.50× (30000 felix-ms / 20000 floor-ms) | 1.5× | met |",
		"3.00× (300 p99-ms / 100 floor-p99-ms) | 2× | **missed** by 1.5× |",
		"| felix | `BenchmarkPolicyAddAtScale/endpoints=10000` | 300 p99-ms | 100 floor-p99-ms | **3.00×** |",
		"make bench",
		"| IPAM, 8 concurrent nodes in-process: assignments/s ≥ 50 % of bare etcd transactions/s (each assignment here also pays a release) | ipam | `BenchmarkAutoAssign/nodes=8` | 0.3 assigns/txn | ≥ 0.5 assigns/txn | **missed**: 60% of the limit |",
		"| ipam | `BenchmarkAutoAssign/nodes=8` | 600 assigns/s | 2000 txns/s | **0.30×** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(md, "| confd | `BenchmarkRender` |") {
		t.Errorf("markdown lacks the figures of packages other than felix:\n%s", md)
	}
}

// A report read back from its markdown gives the figures it printed, and a rerun laid over it replaces only the
// benchmarks it ran.
func TestARerunIsLaidOverAnEarlierReport(t *testing.T) {
	res, ipt := parseAll(strings.NewReader(scaleSample))
	rep := Report{Results: res, Ratios: ratios(res), Machine: thisMachine(ipt)}
	back, err := readMarkdown(strings.NewReader(markdown(rep, "bin/bench.json")), "performance.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(res) {
		t.Fatalf("read back %d results, want %d: %+v", len(back), len(res), back)
	}
	for i, r := range res {
		b := back[i]
		if b.Package != r.Package || b.Name != r.Name || b.Source != "performance.md" {
			t.Errorf("result %d read back as %s %s from %q, want %s %s", i, b.Package, b.Name, b.Source, r.Package, r.Name)
		}
		for k, v := range r.Metrics {
			if k == "ns/op" && r.Runs == 1 {
				continue // not printed: a run-once benchmark's ns/op is its setup
			}
			if b.Metrics[k] != v {
				t.Errorf("%s %s read back as %v, want %v", r.Name, k, b.Metrics[k], v)
			}
		}
	}
	rerun, _ := parseAll(strings.NewReader("pkg: github.com/calico-l3/calico/ipam\n" +
		"BenchmarkAutoAssign/nodes=8-2   1000   9 ns/op   1200 assigns/s   2000 txns/s   0.6 assigns/txn\n"))
	for _, r := range rerun {
		r.Source = "ipam.txt"
		back = merge(back, r)
	}
	md := markdown(Report{Results: back, Ratios: ratios(back), Machine: rep.Machine}, "bin/bench.json")
	for _, want := range []string{
		"| ipam | `BenchmarkAutoAssign/nodes=8` | 0.6 assigns/txn | ≥ 0.5 assigns/txn | met |",
		"| ipam | `BenchmarkAutoAssign/nodes=8` | 1200 assigns/s, 0.6 assigns/txn, 9 ns/op, 2000 txns/s | ipam.txt |",
		"| felix | `BenchmarkPolicyAddAtScale/endpoints=10000` | 50 floor-ms, 100 floor-p99-ms, 100 p50-ms, 300 p99-ms | performance.md |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"## Every figure\n\n| Package | Benchmark | Figures |\n|---|---|---|\n| felix | `X` | 12 |\n",
		"## Every figure\n\n| Package | Benchmark | Figures |\n|---|---|---|\n"} {
		if _, err := readMarkdown(strings.NewReader(bad), "p.md"); err == nil {
			t.Errorf("readMarkdown accepted %q", bad)
		}
	}
}
