package cni

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkCNIAddDel100Pods measures what a runtime sees: the built plugin executed, as a runtime executes it, to
// ADD 100 pods (each in its own namespace, all attached at once) and then DEL them, against a private etcd.
// Beside it runs the baseline every invocation pays, the plugin executed for VERSION (process start, no work),
// so the ratio shows how much of an ADD or DEL is ours.
func BenchmarkCNIAddDel100Pods(b *testing.B) {
	const pods = 100
	e := newEnv(b)
	conf := e.conf("bench-net", "1.0.0", map[string]any{"log_level": "warning"})
	run := func(command, containerID, netns string) {
		b.Helper()
		if _, stderr, cniErr := e.execPlugin("calico", command, conf, containerID, netns, "eth0"); cniErr != nil {
			b.Fatalf("%s %s: %+v\n%s", command, containerID, cniErr, stderr)
		}
	}
	netns := make([]*pod, pods)
	for i := range netns {
		netns[i] = newPod(b)
	}

	var adds, dels, pairs, baseline []time.Duration
	b.ResetTimer()
	for range b.N {
		addTook := make([]time.Duration, pods)
		for i, p := range netns {
			start := time.Now()
			run("ADD", fmt.Sprintf("bench-%03d", i), p.path)
			addTook[i] = time.Since(start)
		}
		for i, p := range netns {
			start := time.Now()
			run("DEL", fmt.Sprintf("bench-%03d", i), p.path)
			took := time.Since(start)
			adds, dels, pairs = append(adds, addTook[i]), append(dels, took), append(pairs, addTook[i]+took)
		}
		for range pods {
			start := time.Now()
			run("VERSION", "", "")
			baseline = append(baseline, time.Since(start))
		}
	}
	b.StopTimer()

	if eps := e.allEndpoints(); len(eps) != 0 {
		b.Errorf("expected no endpoints after the DELs, got %d", len(eps))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(pairs, 50)), "add+del-p50-ms")
	b.ReportMetric(ms(percentile(pairs, 99)), "add+del-p99-ms")
	b.ReportMetric(ms(percentile(adds, 50)), "add-p50-ms")
	b.ReportMetric(ms(percentile(adds, 99)), "add-p99-ms")
	b.ReportMetric(ms(percentile(dels, 50)), "del-p50-ms")
	b.ReportMetric(ms(percentile(dels, 99)), "del-p99-ms")
	b.ReportMetric(ms(percentile(baseline, 50)), "exec-baseline-p50-ms")
	b.ReportMetric(float64(percentile(pairs, 50))/float64(2*percentile(baseline, 50)), "add+del/2-execs")
	b.ReportMetric(0, "ns/op") // one op is 100 pods; the latencies above are the figures that matter
}

// percentile is the nearest-rank percentile of durations.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func TestPercentileIsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i))
	}
	if p50, p99, p100 := percentile(ds, 50), percentile(ds, 99), percentile(ds, 100); p50 != 50 || p99 != 99 || p100 != 100 {
		t.Errorf("expected p50=50 p99=99 p100=100 of 1..100, got %d %d %d", p50, p99, p100)
	}
}

// BenchmarkCNIProcessPerAdd is IPAM at scale as runtimes drive it: a plugin process per ADD. For 1, 2 and 8 nodes
// (each a nodename in the network config, all on this host and one private etcd), every node runs its ADDs one
// after another, as a kubelet does, while the nodes run concurrently; each ADD is the built plugin exec'd with the
// CNI_* variables into a fresh network namespace. Then every node DELs its pods the same way. 20 pods per node at 1
// and 2 nodes, 10 per node at 8 (80 ADDs) to stay well under a minute on 2 cores.
//
// The floor (exec-floor-p50-ms) is the same binary exec'd for VERSION (process start, no datastore, no netlink),
// one at a time, 20 times: add-p50-ms over it is what an ADD costs beyond starting the plugin. Beside it,
// exec-floor-concurrent-p50-ms is that exec at the same concurrency as the ADDs, so that add-p50-ms over it
// separates our work from process start under CPU contention (on a 2-core host 8 concurrent execs of a 75 MB
// binary are themselves slow).
//
// The invariants are read from etcd after the ADDs (ipam.Check clean, one address and one handle per ADD, no
// address twice, every address with its pod's handle) and after the DELs (no address, no handle, no endpoint, no
// host veth); a broken invariant fails the benchmark.
//
// burst=50 is one node whose runtime starts 50 pods at once: every ADD process starts together (then every DEL),
// all competing for the node's blocks; its floor is 50 bare execs started together, and add-last-ms is when the
// last ADD returned.
func BenchmarkCNIProcessPerAdd(b *testing.B) {
	for _, c := range []struct{ nodes, pods, parallel int }{{1, 20, 1}, {2, 20, 1}, {8, 10, 1}} {
		b.Run(fmt.Sprintf("nodes=%d", c.nodes), func(b *testing.B) { benchProcessPerAdd(b, c.nodes, c.pods, c.parallel) })
	}
	b.Run("burst=50", func(b *testing.B) { benchProcessPerAdd(b, 1, 50, 50) })
}

// benchProcessPerAdd runs podsPerNode ADDs (then DELs) on every node, parallel at a time on each.
func benchProcessPerAdd(b *testing.B, nodes, podsPerNode, parallel int) {
	const network, ifName = "bench-net", "eth0"
	e := newEnv(b)
	// A pool with a block for every node, so that the figures are of the usual path (a node's own block).
	e.addPool("bench-pool", "10.20.0.0/20", 26)
	confs := make([][]byte, nodes)
	for n := range confs {
		// Each node has its own IPAM lock, as each host has its own /var/run.
		confs[n] = e.conf(network, "1.0.0", map[string]any{"log_level": "warning", "nodename": fmt.Sprintf("bench-node-%d", n),
			"ipam_lock_file": filepath.Join(e.stateDir, fmt.Sprintf("ipam-%d.lock", n)),
			"ipam":           map[string]any{"ipv4_pools": []string{"bench-pool"}}})
	}
	ctx := context.Background()
	total := nodes * podsPerNode

	// perNode runs f(node, i) for i in [0, count) on every node, conc at a time on each and the nodes
	// concurrently, and returns each call's duration, the wall time of the whole and the errors.
	perNode := func(count, conc int, f func(node, i int) error) (took []time.Duration, wall time.Duration, err error) {
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
		)
		start := time.Now()
		for n := range nodes {
			for w := range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < count; i += conc {
						s := time.Now()
						err := f(n, i)
						mu.Lock()
						if err != nil {
							errs = append(errs, err)
						} else {
							took = append(took, time.Since(s))
						}
						mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		return took, time.Since(start), errors.Join(errs...)
	}

	var adds, dels, floor, floorConc []time.Duration
	var addWall, addLast time.Duration
	b.ResetTimer()
	for iter := range b.N {
		b.StopTimer()
		pods := make([][]*pod, nodes)
		ids := make([][]string, nodes)
		expect := map[string]bool{} // handles the ADDs must leave
		for n := range nodes {
			for i := range podsPerNode {
				id := fmt.Sprintf("bench-%d-n%d-%03d", iter, n, i)
				pods[n] = append(pods[n], newPod(b))
				ids[n] = append(ids[n], id)
				expect[HandleID(network, id, ifName)] = true
				removeVethAtCleanup(b, HostVethName(WorkloadID(network, id, ifName)))
			}
		}
		b.StartTimer()

		took, wall, err := perNode(podsPerNode, parallel, func(n, i int) error {
			return execCNI(e.binDir, "ADD", confs[n], ids[n][i], pods[n][i].path, ifName)
		})
		if err != nil {
			b.Fatalf("ADDs: %v", err)
		}
		adds, addWall, addLast = append(adds, took...), addWall+wall, max(addLast, wall)

		b.StopTimer()
		rep, err := e.ipam.Check(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Allocations != total || rep.Handles != total {
			b.Fatalf("after %d ADDs: Check found %d allocations, %d handles (want %d each), problems: %v", total, rep.Allocations, rep.Handles, total, rep.Problems)
		}
		allocs, err := e.ipam.Allocations(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(allocs) != total {
			b.Fatalf("after %d ADDs: %d allocations", total, len(allocs))
		}
		seenAddr, seenHandle := map[netip.Addr]bool{}, map[string]bool{}
		for _, a := range allocs {
			if seenAddr[a.Addr] {
				b.Fatalf("address %s allocated twice", a.Addr)
			}
			seenAddr[a.Addr] = true
			if a.Handle == "" || !expect[a.Handle] || seenHandle[a.Handle] {
				b.Fatalf("address %s has handle %q: want one of the pods' handles, each once", a.Addr, a.Handle)
			}
			seenHandle[a.Handle] = true
			if !inPool(a.Addr.String(), "10.20.0.0/20") {
				b.Fatalf("address %s is outside bench-pool", a.Addr)
			}
		}
		b.StartTimer()

		took, _, err = perNode(podsPerNode, parallel, func(n, i int) error {
			return execCNI(e.binDir, "DEL", confs[n], ids[n][i], pods[n][i].path, ifName)
		})
		if err != nil {
			b.Fatalf("DELs: %v", err)
		}
		dels = append(dels, took...)

		b.StopTimer()
		rep, err = e.ipam.Check(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Allocations != 0 || rep.Handles != 0 {
			b.Fatalf("after the DELs: Check found %d allocations, %d handles (want none), problems: %v", rep.Allocations, rep.Handles, rep.Problems)
		}
		if allocs, err := e.ipam.Allocations(ctx); err != nil || len(allocs) != 0 {
			b.Fatalf("after the DELs: allocations %v (%v)", allocs, err)
		}
		if eps := e.allEndpoints(); len(eps) != 0 {
			b.Fatalf("after the DELs: endpoints left: %v", eps)
		}
		for n := range nodes {
			for i, p := range pods[n] {
				if veth := HostVethName(WorkloadID(network, ids[n][i], ifName)); hostLinkExists(veth) {
					b.Fatalf("after the DELs: host veth %s of %s is still there", veth, ids[n][i])
				}
				p.remove(b)
				if _, err := os.Stat(p.path); !errors.Is(err, os.ErrNotExist) {
					b.Fatalf("netns %s still there after removing it (%v)", p.path, err)
				}
			}
		}

		// The floors: processes doing nothing useful, one at a time and then at the same concurrency.
		for range 20 {
			s := time.Now()
			if err := execCNI(e.binDir, "VERSION", confs[0], "", "", ""); err != nil {
				b.Fatalf("VERSION: %v", err)
			}
			floor = append(floor, time.Since(s))
		}
		took, _, err = perNode(max(3, parallel), parallel, func(n, i int) error { return execCNI(e.binDir, "VERSION", confs[n], "", "", "") })
		if err != nil {
			b.Fatalf("VERSION: %v", err)
		}
		floorConc = append(floorConc, took...)
		b.StartTimer()
	}
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(adds, 50)), "add-p50-ms")
	b.ReportMetric(ms(percentile(adds, 99)), "add-p99-ms")
	b.ReportMetric(float64(len(adds))/addWall.Seconds(), "adds/s")
	if parallel > 1 {
		b.ReportMetric(ms(addLast), "add-last-ms")
		b.ReportMetric(ms(slices.Max(floorConc)), "exec-floor-concurrent-last-ms")
	}
	b.ReportMetric(ms(percentile(dels, 50)), "del-p50-ms")
	b.ReportMetric(ms(percentile(floor, 50)), "exec-floor-p50-ms")
	b.ReportMetric(ms(percentile(floorConc, 50)), "exec-floor-concurrent-p50-ms")
	b.ReportMetric(float64(podsPerNode), "pods/node")
	b.ReportMetric(0, "ns/op") // one op is every node's ADDs and DELs; the figures above are what matter
}

// execCNI runs the plugin as a runtime does, safe to call from any goroutine; a failure is an error carrying the
// plugin's stdout (the CNI error JSON) and stderr.
func execCNI(binDir, command string, conf []byte, containerID, netnsPath, ifName string) error {
	cmd := exec.Command(filepath.Join(binDir, "calico"))
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID="+containerID, "CNI_NETNS="+netnsPath,
		"CNI_IFNAME="+ifName, "CNI_PATH="+binDir)
	cmd.Stdin = bytes.NewReader(conf)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v\nstdout: %s\nstderr: %s", command, containerID, err, out.String(), errOut.String())
	}
	return nil
}
