package clustersim

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/confd/calico"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/internal/benchstat"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// BenchmarkClusterSimulation is issue 16's cluster at scale on one machine: SIM_NODES simulated nodes (felix's
// calculation and confd's key view each, with their own etcd connections and watches, no kernel) on one etcd
// holding SIM_ENDPOINTS workload endpoints spread evenly over the nodes and SIM_POLICIES policies (defaults: the
// issue's 1,000 / 50,000 / 1,000). It measures:
//
//   - the initial sync of every node, SIM_SYNC_PARALLEL nodes at a time (default 4);
//   - for SIM_WRITES (default 20) new GlobalNetworkPolicies each selecting endpoints on every node, the time from
//     the write until every node's felix has computed a state holding the policy's chain (p50-ms and p99-ms of
//     "all nodes done", node-p50-ms and node-p99-ms per node), beside the floor: the same writes seen by one
//     plain etcd watcher on an otherwise idle etcd (floor-ms, floor-p99-ms);
//   - etcd's CPU and RSS (from /proc) and its watcher and watch stream counts (from its /metrics);
//   - the heap per simulated node after GC (heap-MB) beside the floor: the raw keys and values a node watches
//     (floor-MB).
//
// It then says from how many nodes a fan-out cache such as Calico's Typha would pay off (see Model) and what the
// issue's size would cost (see Extrapolate). This machine's cores are shared by etcd and every simulated node,
// so "all nodes done" includes every node's computing one after another; the model separates the two.
//
// The nodes' etcd connections use the datastore's default request timeout, as calico-node's do, unless
// SIM_REQUEST_TIMEOUT (a duration) says otherwise: a node's first listing of every resource is one request, which
// at the size can take longer than the default on a busy machine.
//
// Nodes are started until all run or the RSS of this process and etcd passes SIM_MAX_RSS_GB (default 12): the
// figures are then those of the nodes that did start, and nodes-wanted says how many were asked for. At 1.25
// times that limit the run stops and fails.
func BenchmarkClusterSimulation(b *testing.B) {
	sizes, err := SizesFromEnv(os.Getenv)
	if err != nil {
		b.Fatal(err)
	}
	writes := envInt(b, "SIM_WRITES", 20)
	parallel := envInt(b, "SIM_SYNC_PARALLEL", 4)
	limit := int64(envFloat(b, "SIM_MAX_RSS_GB", 12) * (1 << 30))
	b.Logf("simulating %s; %d policy writes; nodes sync %d at a time; RSS limit %.1f GiB",
		sizes, writes, parallel, float64(limit)/(1<<30))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := etcdtest.StartServer(b)
	etcdPID, err := FindChild("etcd", srv.Endpoint)
	if err != nil {
		b.Fatal(err)
	}
	ds, err := datastore.New(datastore.Config{Endpoints: []string{srv.Endpoint}, RequestTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer ds.Close()

	start := time.Now()
	if err := Seed(ctx, ds, sizes, 16); err != nil {
		b.Fatal(err)
	}
	raw, keys, err := StoredBytes(ctx, ds.Raw(), FelixPrefixes...)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded etcd in %s: %d keys, %.1f MB under felix's prefixes", time.Since(start).Round(time.Millisecond), keys, mb(raw))

	guard := newRSSGuard(ctx, etcdPID, limit)
	plain := newPlainWatcher(b, ctx, srv.Endpoint)

	// The floor: the same policy writes seen by one plain watcher, before any node runs.
	// Background CPU (raft ticks, keepalives) is measured while idle and taken out of each phase's CPU.
	etcdBG0 := idleRate(b, etcdPID, 2*time.Second)
	etcdBefore := readProc(b, etcdPID)
	floorStart := time.Now()
	var floor []time.Duration
	for k := range writes {
		name := fmt.Sprintf("sim-floor-%d", k)
		t0 := time.Now()
		if _, err := ds.Create(ctx, Probe(name, k)); err != nil {
			b.Fatal(err)
		}
		floor = append(floor, plain.wait(b, probeKey(name), t0))
	}
	floorEtcdCPU := net(readProc(b, etcdPID).CPU-etcdBefore.CPU, etcdBG0, time.Since(floorStart)) / time.Duration(writes)
	gnp := api.KindOf(&api.GlobalNetworkPolicy{})
	for k := range writes {
		if _, err := ds.Delete(ctx, gnp, "", fmt.Sprintf("sim-floor-%d", k), ""); err != nil {
			b.Fatal(err)
		}
	}

	// The nodes' initial sync.
	heapIdle := liveHeap()
	selfIdle := readProc(b, os.Getpid())
	etcdIdle := readProc(b, etcdPID)
	metricsIdle := etcdMetrics(b, ctx, srv.Endpoint)
	// Let the collector work harder near the limit rather than let garbage push the RSS past it. (A soft limit
	// well below the point where the guard stops starting nodes makes the collector run without pause and slows
	// every node: the size with a 3 GiB limit showed it.)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	tr := &tracker{nodes: sizes.Nodes}
	nodeCtx, stopNodes := context.WithCancel(ctx)
	defer stopNodes()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	syncStart := time.Now()
	nodeCfg := datastore.Config{Endpoints: []string{srv.Endpoint}, RequestTimeout: envDuration(b, "SIM_REQUEST_TIMEOUT", 0)}
	nodes, syncTook, err := startNodes(nodeCtx, nodeCfg, sizes.Nodes, parallel, tr.observe, quiet, guard)
	defer closeAll(nodes)
	if err != nil {
		b.Fatal(err)
	}
	syncWall := time.Since(syncStart)
	n := len(nodes)
	if n == 0 {
		b.Fatalf("no node started within the RSS limit of %.1f GiB", float64(limit)/(1<<30))
	}
	if n < sizes.Nodes {
		b.Logf("RSS limit of %.1f GiB reached: simulating %d of the %d nodes asked for", float64(limit)/(1<<30), n, sizes.Nodes)
	}
	selfSynced := readProc(b, os.Getpid())
	etcdSynced := readProc(b, etcdPID)
	checkKeyViews(b, ctx, nodes, sizes)
	heapSynced := liveHeap()
	watches := float64(len(FelixPrefixes) + len(calico.Prefixes(NodeName(0))))
	if _, err := WaitWatchers(ctx, srv.Endpoint, metricsIdle[WatchersMetric]+watches*float64(n), time.Minute); err != nil {
		b.Fatal(err)
	}
	metricsSynced := etcdMetrics(b, ctx, srv.Endpoint)
	nodeHeap := max(0, heapSynced-heapIdle) / int64(n)
	etcdBG, selfBG := idleRate(b, etcdPID, 5*time.Second), idleRate(b, os.Getpid(), 5*time.Second)

	// The policy writes, timed until every node has computed them.
	var allDone, perNode, underLoad []time.Duration
	selfBefore, etcdBefore := readProc(b, os.Getpid()), readProc(b, etcdPID)
	metricsBefore := etcdMetrics(b, ctx, srv.Endpoint)
	probeStart := time.Now()
	b.ResetTimer()
	for i := range b.N {
		for k := range writes {
			name := fmt.Sprintf("sim-probe-%d-%d", i, k)
			p := tr.expect(ProbeChain(name), n)
			if _, err := ds.Create(ctx, Probe(name, k)); err != nil {
				b.Fatal(err)
			}
			underLoad = append(underLoad, plain.wait(b, probeKey(name), p.start))
			took, err := p.wait(ctx, 2*time.Minute+time.Duration(n)*200*time.Millisecond)
			if err != nil {
				b.Fatalf("policy write %s: %v", name, err)
			}
			allDone = append(allDone, slicesMax(took))
			perNode = append(perNode, took...)
			if guard.aborted() {
				b.Fatalf("RSS passed %.1f GiB during the policy writes", 1.25*float64(limit)/(1<<30))
			}
		}
	}
	b.StopTimer()
	probeWall := time.Since(probeStart)
	total := time.Duration(b.N * writes)
	selfAfter, etcdAfter := readProc(b, os.Getpid()), readProc(b, etcdPID)
	metricsAfter := etcdMetrics(b, ctx, srv.Endpoint)

	costs := Costs{
		Nodes: n, EtcdCores: runtime.NumCPU(),
		EtcdCPUPerWrite: net(etcdAfter.CPU-etcdBefore.CPU, etcdBG, probeWall) / total, FloorEtcdCPUPerWrite: floorEtcdCPU,
		NodeCPUPerWrite: net(selfAfter.CPU-selfBefore.CPU, selfBG, probeWall) / total / time.Duration(n),
		// While nodes sync, half of them are connected on average.
		EtcdCPUPerSync: net(etcdSynced.CPU-etcdIdle.CPU, etcdBG/2, syncWall) / time.Duration(n),
		NodeCPUPerSync: net(selfSynced.CPU-selfIdle.CPU, selfBG/2, syncWall) / time.Duration(n),
		EtcdRSSIdle:    etcdIdle.RSS, EtcdRSSPerNode: max(0, etcdSynced.RSS-etcdIdle.RSS) / int64(n),
		RawBytes: raw, NodeHeap: nodeHeap, FloorWrite: benchstat.Percentile(floor, 50),
	}
	firstEndpoint := sizes.NodeEndpoints(0)[0]
	decodeEndpoint, err := DecodeCost(ctx, ds.Raw(), datastore.ResourceKey(api.KindOf(firstEndpoint), firstEndpoint.Namespace,
		firstEndpoint.Name), 1000)
	if err != nil {
		b.Fatal(err)
	}
	decodePolicy, err := DecodeCost(ctx, ds.Raw(), probeKey("sim-probe-0-0"), 1000)
	if err != nil {
		b.Fatal(err)
	}
	fan := Model(costs)

	p50, p99 := benchstat.Percentile(allDone, 50), benchstat.Percentile(allDone, 99)
	f50, f99 := benchstat.Percentile(floor, 50), benchstat.Percentile(floor, 99)
	b.ReportMetric(float64(n), "nodes")
	b.ReportMetric(float64(sizes.Nodes), "nodes-wanted")
	b.ReportMetric(float64(sizes.Endpoints), "endpoints")
	b.ReportMetric(float64(sizes.Policies), "policies")
	b.ReportMetric(syncWall.Seconds(), "sync-all-s")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(syncTook, 50)), "sync-node-p50-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(syncTook, 99)), "sync-node-p99-ms")
	b.ReportMetric(benchstat.Ms(p50), "p50-ms")
	b.ReportMetric(benchstat.Ms(p99), "p99-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(perNode, 50)), "node-p50-ms")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(perNode, 99)), "node-p99-ms")
	b.ReportMetric(benchstat.Ms(f50), "floor-ms")
	b.ReportMetric(benchstat.Ms(f99), "floor-p99-ms")
	b.ReportMetric(float64(p50)/float64(f50), "p50/floor")
	b.ReportMetric(float64(p99)/float64(f99), "p99/floor-p99")
	b.ReportMetric(benchstat.Ms(benchstat.Percentile(underLoad, 50)), "watch-under-load-p50-ms")
	b.ReportMetric(mb(nodeHeap), "heap-MB")
	b.ReportMetric(mb(raw), "floor-MB")
	b.ReportMetric(float64(nodeHeap)/float64(raw), "heap/floor")
	b.ReportMetric(mb(max(0, selfSynced.RSS-selfIdle.RSS)/int64(n)), "rss-MB/node")
	b.ReportMetric(float64(guard.peak.Load())/(1<<30), "peak-rss-GB")
	b.ReportMetric(ms(costs.NodeCPUPerSync), "node-cpu-ms/sync")
	b.ReportMetric(ms(costs.NodeCPUPerWrite), "node-cpu-ms/write")
	b.ReportMetric(float64(decodeEndpoint)/float64(time.Microsecond), "decode-us/endpoint")
	b.ReportMetric(float64(decodePolicy)/float64(time.Microsecond), "decode-us/policy")
	b.ReportMetric(ms(costs.EtcdCPUPerSync), "etcd-cpu-ms/node-sync")
	b.ReportMetric(ms(costs.EtcdCPUPerWrite), "etcd-cpu-ms/write")
	b.ReportMetric(ms(costs.FloorEtcdCPUPerWrite), "floor-etcd-cpu-ms/write")
	b.ReportMetric(float64(fan.EtcdCPUPerWatcherWrite)/float64(time.Microsecond), "etcd-cpu-us/watcher/write")
	b.ReportMetric(etcdBG*1000, "etcd-background-cpu-ms/s")
	b.ReportMetric(mb(etcdIdle.RSS), "etcd-idle-rss-MB")
	b.ReportMetric(mb(etcdSynced.RSS), "etcd-rss-MB")
	b.ReportMetric(float64(costs.EtcdRSSPerNode)/1024, "etcd-rss-KB/node")
	b.ReportMetric(metricsSynced[WatchersMetric]-metricsIdle[WatchersMetric], "etcd-watchers")
	b.ReportMetric(metricsSynced[StreamsMetric]-metricsIdle[StreamsMetric], "etcd-watch-streams")
	b.ReportMetric((metricsSynced[SentMetric]-metricsIdle[SentMetric])/float64(n)/(1<<20), "etcd-sent-MB/node-sync")
	b.ReportMetric((metricsAfter[SentMetric]-metricsBefore[SentMetric])/float64(total)/1024, "etcd-sent-KB/write")
	b.ReportMetric(float64(fan.WriteNodes), "fanout-write-nodes")
	b.ReportMetric(float64(fan.SyncNodes), "fanout-sync-nodes")
	b.ReportMetric(float64(fan.MemoryNodes), "fanout-memory-nodes")
	b.ReportMetric(float64(fan.PaysOffAt()), "fanout-pays-off-nodes")
	b.ReportMetric(0, "ns/op") // one op is every policy write; the figures above are what matter

	b.Logf("%d nodes in sync after %.1f s (%d at a time; one node p50 %.0f ms); a policy write reaches every node's "+
		"state p50 %.0f ms, p99 %.0f ms (one node p50 %.0f ms, p99 %.0f ms); one plain watcher on an idle etcd "+
		"sees it p50 %.1f ms, p99 %.1f ms: ratios %.0f and %.0f; the plain watcher beside the nodes p50 %.1f ms",
		n, syncWall.Seconds(), parallel, benchstat.Ms(benchstat.Percentile(syncTook, 50)), benchstat.Ms(p50),
		benchstat.Ms(p99), benchstat.Ms(benchstat.Percentile(perNode, 50)), benchstat.Ms(benchstat.Percentile(perNode, 99)),
		benchstat.Ms(f50), benchstat.Ms(f99), float64(p50)/float64(f50), float64(p99)/float64(f99),
		benchstat.Ms(benchstat.Percentile(underLoad, 50)))
	b.Logf("memory: %.1f MB heap per node after GC against %.1f MB of raw keys and values it watches (%.1fx); "+
		"etcd %.0f MB idle, %.0f MB with the nodes (%.0f KB per node), %.0f watchers on %.0f watch streams",
		mb(nodeHeap), mb(raw), float64(nodeHeap)/float64(raw), mb(etcdIdle.RSS), mb(etcdSynced.RSS),
		float64(costs.EtcdRSSPerNode)/1024, metricsSynced[WatchersMetric]-metricsIdle[WatchersMetric],
		metricsSynced[StreamsMetric]-metricsIdle[StreamsMetric])
	b.Logf("CPU: etcd %.1f ms per write (%.1f ms with one plain watcher: %.1f µs per watching node), %.0f ms per "+
		"node sync; each node %.2f ms per write (decoding the policy: %.0f µs), %.0f ms per sync (decoding the "+
		"endpoints: about %.0f ms)",
		ms(costs.EtcdCPUPerWrite), ms(costs.FloorEtcdCPUPerWrite), float64(fan.EtcdCPUPerWatcherWrite)/float64(time.Microsecond),
		ms(costs.EtcdCPUPerSync), ms(costs.NodeCPUPerWrite), float64(decodePolicy)/float64(time.Microsecond),
		ms(costs.NodeCPUPerSync), ms(decodeEndpoint*time.Duration(sizes.Endpoints)))
	b.Logf("fan-out cache: %s", describe(fan, costs))
	b.Logf("modelled for this run's size with a CPU per node: %s", Extrapolate(costs, fan, n, raw))
	if target, err := DefaultSizes.EncodedBytes(); err == nil {
		if run, err := sizes.EncodedBytes(); err == nil && run > 0 {
			b.Logf("extrapolated to the issue's size: %s", Extrapolate(costs, fan, DefaultSizes.Nodes, raw*target/run))
		}
	}
}

// describe says in words where a fan-out cache pays off.
func describe(f FanOut, c Costs) string {
	says := func(n int, what string) string {
		if n == 0 {
			return "no per-node cost in etcd measured for " + what
		}
		return fmt.Sprintf("from %d nodes for %s", n, what)
	}
	return fmt.Sprintf("pays off from %d nodes: %s (etcd %.1f µs per node per write on %d cores against a node's "+
		"%.2f ms); %s (etcd %.0f ms per node against a node's own %.0f ms); %s (%.0f KB per node against %.0f MB idle)",
		f.PaysOffAt(), says(f.WriteNodes, "policy writes"), float64(f.EtcdCPUPerWatcherWrite)/float64(time.Microsecond),
		c.EtcdCores, ms(c.NodeCPUPerWrite), says(f.SyncNodes, "a resync of every node"), ms(c.EtcdCPUPerSync),
		ms(c.NodeCPUPerSync), says(f.MemoryNodes, "etcd's memory"), float64(c.EtcdRSSPerNode)/1024, mb(c.EtcdRSSIdle))
}

func probeKey(name string) string {
	return datastore.ResourceKey(api.KindOf(&api.GlobalNetworkPolicy{}), "", name)
}

// startNodes starts nodes 0..count-1, parallel of them syncing at a time, until all are in sync or the guard
// says the RSS limit is reached; it returns the nodes started and how long each took to sync.
func startNodes(ctx context.Context, cfg datastore.Config, count, parallel int, observe Observer, log *slog.Logger,
	guard *rssGuard) ([]*Node, []time.Duration, error) {
	var (
		mu    sync.Mutex
		nodes []*Node
		took  []time.Duration
		errs  []error
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range max(1, parallel) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count || guard.over() || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				node, err := StartNode(ctx, cfg, i, observe, log)
				if err == nil {
					sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
					err = node.WaitSynced(sctx)
					cancel()
				}
				mu.Lock()
				if node != nil {
					nodes = append(nodes, node)
				}
				if err != nil {
					errs = append(errs, err)
				} else {
					took = append(took, time.Since(t0))
					// Runs at the size take many minutes: say how far they are.
					if done := len(took); done%max(1, count/20) == 0 || done == count {
						slog.Info("cluster simulation: nodes in sync", "nodes", done, "of", count,
							"peak-rss-GiB", float64(guard.peak.Load())/(1<<30))
					}
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if guard.aborted() {
		return nodes, took, fmt.Errorf("RSS passed 1.25 times the limit while nodes were syncing")
	}
	if len(errs) > 0 {
		return nodes, took, errs[0]
	}
	return nodes, took, nil
}

// closeAll closes the nodes, 16 at a time.
func closeAll(nodes []*Node) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, 16)
	for _, n := range nodes {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			_ = n.Close()
			<-slots
		}()
	}
	wg.Wait()
}

// checkKeyViews fails unless the first and last nodes' key views hold every node's address: confd really built
// the mesh from the datastore.
func checkKeyViews(b *testing.B, ctx context.Context, nodes []*Node, s Sizes) {
	for _, node := range []*Node{nodes[0], nodes[len(nodes)-1]} {
		view, err := node.KeyView(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for i := range s.Nodes {
			key := "/calico/bgp/v1/host/" + NodeName(i) + "/ip_addr_v4"
			if view[key] == "" {
				b.Fatalf("node %s's key view lacks %s (%d keys)", node.Name, key, len(view))
			}
		}
	}
}

// tracker follows one policy write at a time through the nodes' states.
type tracker struct {
	nodes int // node indexes are below this
	cur   atomic.Pointer[probe]
}

// probe is one policy write being followed: took[i] is when node i's felix computed a state holding chain,
// measured from start; written once, by node i's goroutine only.
type probe struct {
	chain     string
	start     time.Time
	took      []time.Duration
	remaining atomic.Int64
	all       chan struct{}
}

// expect starts following the write of a policy whose chain is chain, to be computed by n nodes.
func (t *tracker) expect(chain string, n int) *probe {
	p := &probe{chain: chain, took: make([]time.Duration, t.nodes), all: make(chan struct{})}
	p.remaining.Store(int64(n))
	p.start = time.Now()
	t.cur.Store(p)
	return p
}

func (t *tracker) observe(node int, st *desired.State) {
	p := t.cur.Load()
	if p == nil || p.took[node] != 0 {
		return
	}
	if _, ok := st.Tables[rules.TableFilter].Chains[p.chain]; !ok {
		return
	}
	p.took[node] = max(1, time.Since(p.start))
	if p.remaining.Add(-1) == 0 {
		close(p.all)
	}
}

// wait returns each node's time once every node has computed the write.
func (p *probe) wait(ctx context.Context, timeout time.Duration) ([]time.Duration, error) {
	select {
	case <-p.all:
	case <-time.After(timeout):
		return nil, fmt.Errorf("%d nodes had not computed it after %s", p.remaining.Load(), timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var out []time.Duration
	for _, d := range p.took {
		if d != 0 {
			out = append(out, d)
		}
	}
	return out, nil
}

func slicesMax(d []time.Duration) time.Duration {
	var m time.Duration
	for _, v := range d {
		m = max(m, v)
	}
	return m
}

// plainWatcher is the floor: one etcd watch on the GlobalNetworkPolicies, with no decoding and no calculation.
type plainWatcher struct {
	arrivals chan arrival
}

type arrival struct {
	key string
	at  time.Time
}

func newPlainWatcher(b *testing.B, ctx context.Context, endpoint string) *plainWatcher {
	ds, err := datastore.New(datastore.Config{Endpoints: []string{endpoint}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ds.Close() })
	w := &plainWatcher{arrivals: make(chan arrival, 1024)}
	prefix := datastore.KindPrefix(api.KindOf(&api.GlobalNetworkPolicy{}), "")
	ch := ds.Raw().Watch(ctx, prefix, clientv3.WithPrefix())
	go func() {
		for resp := range ch {
			at := time.Now()
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypePut {
					select {
					case w.arrivals <- arrival{string(ev.Kv.Key), at}:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	// The watch is registered once etcd answers; a write before that would be missed.
	if _, err := ds.Raw().Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		b.Fatal(err)
	}
	return w
}

// wait returns the time from start until the watcher saw key written.
func (w *plainWatcher) wait(b *testing.B, key string, start time.Time) time.Duration {
	timeout := time.After(time.Minute)
	for {
		select {
		case a := <-w.arrivals:
			if a.key == key {
				return a.at.Sub(start)
			}
		case <-timeout:
			b.Fatalf("the plain watcher did not see %s within a minute", key)
		}
	}
}

// rssGuard samples the RSS of this process and etcd: over the limit no more nodes start; over 1.25 times the
// limit the nodes are stopped (through cancel) and the run fails.
type rssGuard struct {
	limit     int64
	peak      atomic.Int64
	overLimit atomic.Bool
	overAbort atomic.Bool
}

func newRSSGuard(ctx context.Context, etcdPID int, limit int64) *rssGuard {
	g := &rssGuard{limit: limit}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			self, err1 := ReadProc(os.Getpid())
			etcd, err2 := ReadProc(etcdPID)
			if err1 != nil || err2 != nil {
				continue
			}
			total := self.RSS + etcd.RSS
			if total > g.peak.Load() {
				g.peak.Store(total)
			}
			if total > limit {
				g.overLimit.Store(true)
			}
			if total > limit+limit/4 {
				g.overAbort.Store(true)
			}
		}
	}()
	return g
}

func (g *rssGuard) over() bool    { return g.overLimit.Load() }
func (g *rssGuard) aborted() bool { return g.overAbort.Load() }

// idleRate is the CPU process pid uses per second of wall time while the benchmark does nothing for d.
func idleRate(b *testing.B, pid int, d time.Duration) float64 {
	before := readProc(b, pid)
	time.Sleep(d)
	return float64(readProc(b, pid).CPU-before.CPU) / float64(d)
}

// net is cpu less the background rate over wall, never below zero.
func net(cpu time.Duration, rate float64, wall time.Duration) time.Duration {
	return max(0, cpu-time.Duration(rate*float64(wall)))
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func readProc(b *testing.B, pid int) ProcStat {
	st, err := ReadProc(pid)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func etcdMetrics(b *testing.B, ctx context.Context, endpoint string) map[string]float64 {
	m, err := Metrics(ctx, endpoint)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 60s", name, v)
	}
	return d
}

func envFloat(b *testing.B, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}
