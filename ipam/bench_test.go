package ipam

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/internal/benchstat"
)

// Benchmarks: go test -run '^$' -bench . ./ipam
//
// BenchmarkAutoAssign runs 1, 2 or 8 nodes, each assigning one address at a time (as a CNI plugin does, one
// request per host at a time) and keeping at most 32 of them, releasing the oldest by handle when it has more.
// Each node is one allocator with its own connection, long-lived as on a node, so its cache is warm after the
// first assignment. The figure is assigns/s (the releases share the time: in steady state every assignment costs
// an assignment and a release). Its floor is txns/s: bare guarded single-key puts on the same etcd, one client
// per node, as many operations as the run, half just before it and half just after (the machine is shared, so
// the floor brackets the run). The ratio is assigns/txn; the target is 0.5 at nodes=8. As each assignment but a
// node's first 32 is paired with a release, and each needs its own transaction, assigns/txn cannot pass 0.5 even
// if IPAM's transactions cost what the bare one does; ops/txn counts both (assignments and releases per second
// over txns/s) and is the measure of IPAM's cost per operation against etcd's. It also reports the latency of
// AutoAssign alone (p50, p99) and its p50 as a multiple of the bare transaction's p50.
// BenchmarkAutoAssignBurst is the same without the releases in the timed part: every node assigns addresses for
// pods that all start (as when a deployment scales up), so assigns/txn is the assignments alone against the bare
// transaction; the addresses are released untimed afterwards.
// BenchmarkEtcdTxn is that bare transaction on its own.

func BenchmarkAutoAssign(b *testing.B) { benchAutoAssign(b, 32) }

func BenchmarkAutoAssignBurst(b *testing.B) { benchAutoAssign(b, -1) }

// benchAutoAssign runs the AutoAssign benchmarks: each node keeps at most keep addresses, releasing the oldest in
// the timed part, or with keep < 0 keeps them all and releases them untimed.
func benchAutoAssign(b *testing.B, keep int) {
	c := newCluster(b)
	c.pool("bench", "10.0.0.0/12", 26)
	for _, nodes := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			ipams := make([]*IPAM, nodes)
			for i := range ipams {
				ipams[i] = c.ipam()
			}
			floorOps := max(b.N, 200) // enough transactions for a rate even when b.N is 1
			floorStart := time.Now()
			floorLat := txnLatencies(b, c, nodes, floorOps/2)
			floorTime := time.Since(floorStart)
			var lat benchstat.Latencies
			var releases atomic.Int64
			var untimed sync.Mutex
			var rest []string // with keep < 0, the handles to release after the timed part
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
					if held = append(held, handle); keep >= 0 && len(held) > keep {
						if err := m.ReleaseByHandle(ctx, held[0]); err != nil {
							b.Error(err)
							return
						}
						releases.Add(1)
						held = held[1:]
					}
				}
				if keep < 0 {
					untimed.Lock()
					rest = append(rest, held...)
					untimed.Unlock()
					return
				}
				for _, h := range held {
					if err := m.ReleaseByHandle(ctx, h); err != nil {
						b.Error(err)
						return
					}
					releases.Add(1)
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			for _, h := range rest {
				if err := ipams[0].ReleaseByHandle(ctx, h); err != nil {
					b.Error(err)
				}
			}
			floorStart = time.Now()
			floorLat = append(floorLat, txnLatencies(b, c, nodes, floorOps-floorOps/2)...)
			floorTime += time.Since(floorStart)

			p50 := benchstat.Percentile(lat.All(), 50)
			assigns := float64(b.N) / elapsed.Seconds()
			txns := float64(floorOps) / floorTime.Seconds()
			b.ReportMetric(benchstat.Ms(p50), "p50-ms")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(lat.All(), 99)), "p99-ms")
			b.ReportMetric(assigns, "assigns/s")
			b.ReportMetric(txns, "txns/s")
			b.ReportMetric(assigns/txns, "assigns/txn")
			b.ReportMetric((float64(b.N+int(releases.Load()))/elapsed.Seconds())/txns, "ops/txn")
			b.ReportMetric(float64(p50)/float64(benchstat.Percentile(floorLat, 50)), "p50/txn-p50")
			var conflicts, cached int64
			for _, m := range ipams {
				conflicts += m.Stats().Conflicts
				cached += m.Stats().Cached
			}
			b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/op")
			// Assignments and releases made in one transaction from the cache, per assignment (at most 2).
			b.ReportMetric(float64(cached)/float64(b.N), "cached/op")
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
