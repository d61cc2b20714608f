package kdd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/benchstat"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/ipam"
)

// Benchmarks: go test -run '^$' -bench . -benchtime 1x ./datastore/kdd
//
// BenchmarkIPAMOnKubernetesDatastore runs the workload of ipam's BenchmarkAutoAssign (1, 2 or 8 nodes, each
// assigning one address at a time, as a CNI plugin does, and keeping at most 32, releasing the oldest by handle
// when it has more) twice in each sub-benchmark, against one API server and the etcd it stores into:
//
//   - on the Kubernetes datastore, each node its own kdd.Client and allocator: kdd-assign-p50-ms,
//     kdd-assign-p99-ms (AutoAssign alone), kdd-assigns/s (the releases share the time);
//   - on etcd (ipam.New over datastore.New), same etcd, Calico's /calico keys beside the API server's
//     /registry: etcd-assign-p50-ms, etcd-assign-p99-ms, etcd-assigns/s;
//   - the floor: one bare API request, a GET of one custom resource (the IPPool) through the dynamic client, at
//     the same concurrency: apiget-p50-ms.
//
// And the load the Kubernetes datastore run put on the API server, from the server's own /metrics, scraped just
// before and just after it: kdd-apiserver-req/s-per-node and kdd-apiserver-req/assign count
// apiserver_request_total (every verb) for Calico's custom resources and core Nodes, the only objects the IPAM
// store touches; kdd-apiserver-watches is the change in apiserver_longrunning_requests{verb="WATCH"} (a gauge
// of open watches) for those same resources over the run: the watches the IPAM clients hold open (request_total
// counts a watch only when it ends). The API server's own Node authorizer watches Nodes throughout, hence the
// difference rather than the level.
// apiserver-all-req/s is every resource request the server served in that time, its own controllers included.
//
// The number of assignments is fixed (kddAssigns per sub-benchmark, whatever b.N): run it with -benchtime 1x.

const (
	kddAssigns = 300 // assignments per sub-benchmark, shared between the nodes
	kddHold    = 32  // addresses each node keeps
	apiGets    = 200 // GETs for the floor
)

func BenchmarkIPAMOnKubernetesDatastore(b *testing.B) {
	ctx := context.Background()
	if !testing.Verbose() { // the allocator's event log (blocks claimed, deleted) would bury the figures
		prev := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
		b.Cleanup(func() { slog.SetDefault(prev) })
	}
	etcd := etcdtest.Start(b)
	s := kubetest.Start(b, kubetest.Options{EtcdEndpoint: etcd})
	s.InstallCalicoCRDs(b)
	admin, err := New(s.Config, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	// The same pool in both datastores: a custom resource in the API server, a /calico key in etcd.
	if _, err := admin.Create(ctx, pool("bench", "10.0.0.0/12")); err != nil {
		b.Fatal(err)
	}
	etcdDS := benchEtcd(b, etcd)
	if _, err := etcdDS.Create(ctx, pool("bench", "10.0.0.0/12")); err != nil {
		b.Fatal(err)
	}

	for _, nodes := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			clients := make([]*Client, nodes)
			kddIPAMs := make([]*ipam.IPAM, nodes)
			etcdIPAMs := make([]*ipam.IPAM, nodes)
			hosts := make([]string, nodes)
			for i := range nodes {
				hosts[i] = fmt.Sprintf("bench-%d-%d", nodes, i)
				if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: hosts[i]}},
					metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				if clients[i], err = New(s.Config, 5*time.Second); err != nil {
					b.Fatal(err)
				}
				kddIPAMs[i] = ipam.NewWithStore(clients[i].IPAMStore())
				etcdIPAMs[i] = ipam.New(benchEtcd(b, etcd))
			}

			// The floor: a bare GET of one custom resource, at the same concurrency.
			var gets benchstat.Latencies
			benchstat.Split(apiGets, nodes, func(node, ops int) {
				r := clients[node].dyn.Resource(crdGVR("ippools"))
				for range ops {
					t0 := time.Now()
					_, err := r.Get(ctx, "bench", metav1.GetOptions{})
					gets.Add(time.Since(t0))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})

			b.ResetTimer()
			before := scrapeAPIServer(b, s)
			kddLat, kddElapsed := assignWorkload(b, kddIPAMs, hosts, "kdd")
			after := scrapeAPIServer(b, s)
			etcdLat, etcdElapsed := assignWorkload(b, etcdIPAMs, hosts, "etcd")
			b.StopTimer()

			b.ReportMetric(benchstat.Ms(benchstat.Percentile(kddLat, 50)), "kdd-assign-p50-ms")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(kddLat, 99)), "kdd-assign-p99-ms")
			b.ReportMetric(kddAssigns/kddElapsed.Seconds(), "kdd-assigns/s")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(etcdLat, 50)), "etcd-assign-p50-ms")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(etcdLat, 99)), "etcd-assign-p99-ms")
			b.ReportMetric(kddAssigns/etcdElapsed.Seconds(), "etcd-assigns/s")
			b.ReportMetric(benchstat.Ms(benchstat.Percentile(gets.All(), 50)), "apiget-p50-ms")

			calico := after.calico - before.calico
			b.ReportMetric(calico/kddElapsed.Seconds()/float64(nodes), "kdd-apiserver-req/s-per-node")
			b.ReportMetric(calico/kddAssigns, "kdd-apiserver-req/assign")
			b.ReportMetric(after.calicoWatches-before.calicoWatches, "kdd-apiserver-watches")
			b.ReportMetric((after.all-before.all)/kddElapsed.Seconds(), "apiserver-all-req/s")
			b.Logf("nodes=%d: during the KDD run the API server served %.0f requests for Calico's objects by verb %v, "+
				"%.0f in all; open watches before/after: %.0f/%.0f on Calico's objects and Nodes %v, %.0f/%.0f in all",
				nodes, calico, after.byVerbMinus(before), after.all-before.all,
				before.calicoWatches, after.calicoWatches, after.watched, before.allWatches, after.allWatches)
		})
	}
}

func benchEtcd(b *testing.B, endpoint string) *datastore.Etcd {
	b.Helper()
	ds, err := datastore.New(datastore.Config{Endpoints: []string{endpoint}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ds.Close() })
	return ds
}

// assignWorkload is ipam's BenchmarkAutoAssign loop: each node assigns one address at a time and releases the
// oldest beyond kddHold; kddAssigns in all, shared between the nodes. It returns AutoAssign's latencies and
// the wall time of the whole (the releases included, and the final ones excluded).
func assignWorkload(b *testing.B, ipams []*ipam.IPAM, hosts []string, tag string) ([]time.Duration, time.Duration) {
	ctx := context.Background()
	var lat benchstat.Latencies
	leftover := make([][]string, len(ipams))
	start := time.Now()
	benchstat.Split(kddAssigns, len(ipams), func(node, ops int) {
		m, host := ipams[node], hosts[node]
		var held []string
		defer func() { leftover[node] = held }()
		for i := range ops {
			handle := fmt.Sprintf("%s.%s.%d", tag, host, i)
			t0 := time.Now()
			_, _, err := m.AutoAssign(ctx, ipam.AssignArgs{Num4: 1, HandleID: handle, Host: host})
			lat.Add(time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
			if held = append(held, handle); len(held) > kddHold {
				if err := m.ReleaseByHandle(ctx, held[0]); err != nil {
					b.Error(err)
					return
				}
				held = held[1:]
			}
		}
	})
	elapsed := time.Since(start)
	for node, handles := range leftover {
		for _, h := range handles {
			_ = ipams[node].ReleaseByHandle(ctx, h)
		}
	}
	return lat.All(), elapsed
}

// apiLoad is what the API server's /metrics says it has served so far.
type apiLoad struct {
	calico        float64            // apiserver_request_total for Calico's custom resources and core Nodes
	calicoByVerb  map[string]float64 // the same by verb
	all           float64            // apiserver_request_total for every resource
	calicoWatches float64            // apiserver_longrunning_requests{verb="WATCH"} for Calico's resources and Nodes
	watched       []string           // which of those resources have open watches, and how many
	allWatches    float64            // the same for every resource
}

func (a apiLoad) byVerbMinus(before apiLoad) map[string]float64 {
	out := map[string]float64{}
	for v, n := range a.calicoByVerb {
		if d := n - before.calicoByVerb[v]; d != 0 {
			out[v] = d
		}
	}
	return out
}

func scrapeAPIServer(b *testing.B, s *kubetest.Server) apiLoad {
	b.Helper()
	raw, err := s.Client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		b.Fatalf("scraping the API server's /metrics: %v", err)
	}
	load := apiLoad{calicoByVerb: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, labels, value, ok := promSample(sc.Text())
		if !ok || labels["resource"] == "" { // non-resource requests: /metrics, /readyz, discovery
			continue
		}
		calico := labels["group"] == Group || (labels["group"] == "" && labels["resource"] == "nodes")
		switch name {
		case "apiserver_request_total":
			load.all += value
			if calico {
				load.calico += value
				load.calicoByVerb[labels["verb"]] += value
			}
		case "apiserver_longrunning_requests":
			if labels["verb"] != "WATCH" {
				continue
			}
			load.allWatches += value
			if calico && value > 0 {
				load.calicoWatches += value
				load.watched = append(load.watched, fmt.Sprintf("%s.%s(%s):%.0f", labels["resource"], labels["group"], labels["component"], value))
			}
		}
	}
	return load
}

// promSample parses one sample line of the Prometheus text format: name{label="value",...} value.
func promSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	if line == "" || line[0] == '#' {
		return "", nil, 0, false
	}
	labels = map[string]string{}
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], line[j+1:]
		body := line[i+1 : j]
		for body != "" {
			eq := strings.IndexByte(body, '=')
			if eq < 0 || eq+1 >= len(body) || body[eq+1] != '"' {
				return "", nil, 0, false
			}
			key := body[:eq]
			val, tail, err := unquotePrefix(body[eq+1:])
			if err != nil {
				return "", nil, 0, false
			}
			labels[key] = val
			body = strings.TrimPrefix(tail, ",")
		}
	} else {
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			return "", nil, 0, false
		}
		name, rest = line[:sp], line[sp:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return name, labels, v, err == nil
}

// unquotePrefix reads the quoted label value at the start of s and returns it and what follows it.
func unquotePrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			return v, s[i+1:], err
		}
	}
	return "", "", fmt.Errorf("unterminated label value in %q", s)
}
