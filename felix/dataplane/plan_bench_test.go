package dataplane

import (
	"context"
	"fmt"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

// BenchmarkPlanEndpointChurn is felix's own work per change of BenchmarkEndpointChurn (package felix) without the
// kernel, so that it can be measured steadily on a shared machine: on the node of BenchmarkNativeNftables (N local
// endpoints, 5 policies selecting all, one profile), endpoints are added and removed one at a time, and each
// change is timed in two parts: the calculation (the event and State), and what Apply works out before it runs
// anything (rendering every table of both families, planning them against what the last plan left, planning
// the ipsets). Sizes as BenchmarkNativeNftables (FELIX_NFT_ENDPOINTS).
func BenchmarkPlanEndpointChurn(b *testing.B) {
	for _, n := range sizesFromEnv(b, "FELIX_NFT_ENDPOINTS") {
		b.Run(fmt.Sprintf("endpoints=%d", n), func(b *testing.B) {
			for range b.N {
				planChurn(b, n)
			}
		})
	}
}

func planChurn(b *testing.B, n int) {
	node := newNftNode(b, n)
	memos := map[tableID]*tableMemo{}
	have := map[tableID]tableState{}
	var sets ipsetState
	var setMemo ipsetMemo
	plan := func(st *desired.State) {
		for _, f := range families {
			want := f.tablesOf(st)
			for _, name := range tableNames(want) {
				id := tableID{f.version, name}
				if memos[id] == nil {
					memos[id] = newTableMemo()
				}
				rt, err := renderTable(want[name], memos[id], false)
				if err != nil {
					b.Fatal(err)
				}
				have[id] = planTable(name, rt, have[id]).after
			}
		}
		p, err := planIPSets(st.IPSets, sets, 0, nil, &setMemo)
		if err != nil {
			b.Fatal(err)
		}
		sets = p.after
	}
	plan(node.c.State()) // the cold start
	const changes = 2 * nftSamples
	var calcTook, planTook []time.Duration
	for k := range changes {
		start := time.Now()
		ep := nftEndpoint(n + k)
		if k < changes/2 {
			node.send(ep)
		} else {
			ep = nftEndpoint(k * (n / changes))
			node.c.OnEvent(datastore.ResourcePrefix, datastore.Event{Type: datastore.Deleted,
				Key: datastore.ResourceKey(api.KindOf(ep), ep.Namespace, ep.Name)})
		}
		st := node.c.State()
		calcDone := time.Now()
		if _, ok := st.Tables[rules.TableFilter].Chains[rules.ChainName(rules.PrefixToWorkload, ep.Spec.InterfaceName)]; ok != (k < changes/2) {
			b.Fatalf("change %d: endpoint %s's chain is present: %v", k, ep.Name, ok)
		}
		// Labelled, so that a CPU profile can tell the changes from the cold start: -tagfocus phase=change.
		pprof.Do(context.Background(), pprof.Labels("phase", "change"), func(context.Context) { plan(st) })
		calcTook, planTook = append(calcTook, calcDone.Sub(start)), append(planTook, time.Since(calcDone))
	}
	b.ReportMetric(ms(percentile(calcTook, 50)), "calc-p50-ms")
	b.ReportMetric(ms(percentile(planTook, 50)), "plan-p50-ms")
	b.ReportMetric(ms(percentile(calcTook, 99)), "calc-p99-ms")
	b.ReportMetric(ms(percentile(planTook, 99)), "plan-p99-ms")
}
