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
