package clustersim

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/internal/benchstat"
)

// BenchmarkNodePolicyWrite is what one simulated node of BenchmarkClusterSimulation computes for one policy
// write, without etcd and without the other nodes sharing its cores: felix's calculation of node 0 is fed the
// whole cluster (SIM_NODES, SIM_ENDPOINTS and SIM_POLICIES, defaults the issue's) as its first listing delivers
// it, then SIM_WRITES probe policies (default 20) are added and deleted again, each write followed by one State,
// as a node's felix does. write-p50-ms and write-p99-ms are the event and State together, decode-p50-ms the
// decoding of the stored policy alone (what every node pays even for a policy that selects nothing of its own),
// first-state-ms the first State after the listing (the end of a node's initial sync: every selector ipset of
// the node's policies built from the whole cluster), and heap-MB the calculation's live heap after it. Then as
// many pods are started and stopped on another node, as cluster-wide churn reaches every node:
// remote-pod-p50-ms and remote-pod-p99-ms are each event and its State.
func BenchmarkNodePolicyWrite(b *testing.B) {
	sizes, err := SizesFromEnv(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	writes := envInt(b, "SIM_WRITES", 20)
	for range b.N {
		nodePolicyWrites(b, sizes, writes)
	}
}

func nodePolicyWrites(b *testing.B, s Sizes, writes int) {
	b.StopTimer()
	before := liveHeap()
	c := calc.New(NodeName(0), calc.DefaultConfig())
	for _, p := range FelixPrefixes {
		c.OnEvent(p, datastore.Event{Type: datastore.Resync})
	}
	rev := int64(0)
	send := func(typ datastore.EventType, r api.Resource) {
		rev++
		api.SetTypeMeta(r)
		if typ == datastore.Deleted {
			c.OnEvent(datastore.ResourcePrefix, datastore.Event{Type: typ, Revision: rev,
				Key: datastore.ResourceKey(api.KindOf(r), r.GetObjectMeta().Namespace, r.GetObjectMeta().Name)})
			return
		}
		ev, err := datastore.StoredEvent(typ, r, rev)
		if err != nil {
			b.Fatal(err)
		}
		c.OnEvent(datastore.ResourcePrefix, ev)
	}
	for _, r := range s.Resources() {
		send(datastore.Added, r)
	}
	for i := range s.Nodes {
		for k, v := range s.Affinities(i) {
			rev++
			c.OnEvent(FelixPrefixes[1], datastore.Event{Type: datastore.Added, Key: k, Value: []byte(v), Revision: rev})
		}
	}
	for _, p := range FelixPrefixes {
		c.OnEvent(p, datastore.Event{Type: datastore.InSync})
	}
	if !c.InSync(FelixPrefixes...) {
		b.Fatal("the calculation is not in sync after its listing")
	}
	start := time.Now()
	pprof.Do(context.Background(), pprof.Labels("phase", "first-state"), func(context.Context) { c.State() })
	first := time.Since(start)
	heap := liveHeap() - before

	// step feeds one event and computes the State, as a node's felix does, adding the time to took. Labelled, so
	// that a CPU profile can tell the phases apart: -tagfocus phase=write (phase=remote-pod, phase=first-state).
	step := func(phase string, typ datastore.EventType, r api.Resource, took *[]time.Duration) (st *desired.State) {
		pprof.Do(context.Background(), pprof.Labels("phase", phase), func(context.Context) {
			start := time.Now()
			send(typ, r)
			st = c.State()
			*took = append(*took, time.Since(start))
		})
		return st
	}
	var took, decode []time.Duration
	b.StartTimer()
	for k := range writes {
		probe := Probe(fmt.Sprintf("sim-probe-%d", k), k)
		api.SetTypeMeta(probe)
		ev, err := datastore.StoredEvent(datastore.Added, probe, rev+1)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := datastore.DecodeResource(ev.Key, ev.Value, ev.Revision); err != nil {
			b.Fatal(err)
		}
		decode = append(decode, time.Since(start))

		st := step("write", datastore.Added, probe, &took)
		if _, ok := st.Tables[rules.TableFilter].Chains[ProbeChain(probe.Name)]; !ok {
			b.Fatalf("write %d: node 0's state lacks the probe's chain %s", k, ProbeChain(probe.Name))
		}
		step("write", datastore.Deleted, probe, &took)
	}
	// A pod started and stopped on another node, as cluster-wide churn delivers it to every node.
	remote := s.NodeEndpoints(1)[0]
	var churn []time.Duration
	for k := range writes {
		w := *remote
		w.Name = fmt.Sprintf("%s-churn-%d", remote.Name, k)
		step("remote-pod", datastore.Added, &w, &churn)
		step("remote-pod", datastore.Deleted, &w, &churn)
	}
	b.StopTimer()
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(churn, 50)), "remote-pod-p50-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(churn, 99)), "remote-pod-p99-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(took, 50)), "write-p50-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(took, 99)), "write-p99-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(decode, 50)), "decode-p50-ms")
	b.ReportMetric(benchstat.Ms(first), "first-state-ms")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
	b.ReportMetric(float64(s.Endpoints), "endpoints")
	b.ReportMetric(float64(s.EndpointsOn(0)), "local-endpoints")
}
