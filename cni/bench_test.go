package cni

import (
	"fmt"
	"math"
	"slices"
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
