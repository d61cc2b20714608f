package ipam

import (
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/internal/benchstat"
)

// Benchmarks: go test -run '^$' -bench . ./ipam
//
// BenchmarkAutoAssign runs 1, 2 or 8 nodes, each assigning one address at a time (as a CNI plugin does, one
// request per host at a time) and keeping at most 32 of them, releasing the oldest by handle when it has more.
// It reports the latency of AutoAssign alone (p50, p99), assignments per second (the releases share the time),
// and the p50 as a multiple of the p50 of a bare etcd transaction measured on the same etcd just before.
// BenchmarkEtcdTxn is that bare transaction on its own: a guarded put of one key per client.

func BenchmarkAutoAssign(b *testing.B) {
	c := newCluster(b)
	c.pool("bench", "10.0.0.0/12", 26)
	for _, nodes := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			baseline := benchstat.Percentile(txnLatencies(b, c, nodes, 200), 50)
			ipams := make([]*IPAM, nodes)
			for i := range ipams {
				ipams[i] = c.ipam()
			}
			var lat benchstat.Latencies
			b.ResetTimer()
			start := time.Now()
			benchstat.Split(b.N, nodes, func(node, ops int) {
				m := ipams[node]
				host := fmt.Sprintf("bench-%d-%d", nodes, node)
				var held []string
				for i := range ops {
					handle := fmt.Sprintf("%s.%d.%d", host, b.N, i)
					t0 := time.Now()
					_, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: handle, Host: host})
					lat.Add(time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
					if held = append(held, handle); len(held) > 32 {
						if err := m.ReleaseByHandle(ctx, held[0]); err != nil {
							b.Error(err)
							return
						}
						held = held[1:]
					}
				}
				for _, h := range held {
					_ = m.ReleaseByHandle(ctx, h)
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			p50 := benchstat.Percentile(lat.All(), 50)
			b.ReportMetric(benchstat.Ms(p50), "p50-ms")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(lat.All(), 99)), "p99-ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "assigns/s")
			b.ReportMetric(float64(p50)/float64(baseline), "p50/txn-p50")
			var conflicts int64
			for _, m := range ipams {
				conflicts += m.Stats().Conflicts
			}
			b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/op")
		})
	}
}

func BenchmarkEtcdTxn(b *testing.B) {
	c := newCluster(b)
	for _, clients := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.ResetTimer()
			start := time.Now()
			lat := txnLatencies(b, c, clients, b.N)
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(lat, 50)), "p50-ms")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(lat, 99)), "p99-ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "txns/s")
		})
	}
}

// txnLatencies runs n guarded single-key puts split over clients (one key and one connection each) and returns
// their benchstat.Latencies.
func txnLatencies(b *testing.B, c *cluster, clients, n int) []time.Duration {
	conns := make([]*clientv3.Client, clients)
	for i := range conns {
		conns[i] = connect(b, c.endpoint).Raw()
	}
	var lat benchstat.Latencies
	benchstat.Split(n, clients, func(client, ops int) {
		cli := conns[client]
		key := fmt.Sprintf("/bench/txn/%d", client)
		resp, err := cli.Put(ctx, key, "0")
		if err != nil {
			b.Error(err)
			return
		}
		rev := resp.Header.Revision
		for i := range ops {
			t0 := time.Now()
			tr, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
				Then(clientv3.OpPut(key, fmt.Sprint(i))).Commit()
			lat.Add(time.Since(t0))
			if err != nil || !tr.Succeeded {
				b.Errorf("txn on %s: succeeded %v, error %v", key, err == nil && tr.Succeeded, err)
				return
			}
			rev = tr.Header.Revision
		}
	})
	return lat.All()
}
