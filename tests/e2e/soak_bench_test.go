package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/tests/harness"
)

// BenchmarkChurnSoak adds and deletes pods through the CNI plugin on host1 (startup, confd, BIRD and felix
// running; host2 is its BGP peer), SOAK_CYCLES times (default 10,000; one cycle is one pod added and deleted, by
// SOAK_WORKERS runtimes at once, default 4), beside 10 steady pods on host1 and one on host2 that pings one of them
// throughout. Every tenth of the run it stops the churn, waits for the node to settle and samples felix's mean
// apply time and RSS, BIRD's CPU time and RSS, BIRD's interface list, host1's cali links, per-workload chains,
// all cali chains, selector ipset members, and etcd's IPAM allocations, handles and workload endpoints. Anything
// beyond what the live pods account for is a leak and fails the benchmark; the growth of the rest is reported as a
// slope per 1,000 cycles.
//
// BIRD 1.6 keeps every interface it has seen in its list (hidden from `show interfaces` once deleted), so each
// churned veth costs BIRD memory and CPU for as long as it runs. confd restarts BIRD once its list holds
// BIRD_STALE_INTERFACE_LIMIT (default 2,000; the benchmark passes its own environment's value on) deleted
// interfaces, several times in a full soak: bird-restarts counts
// the restarts, BIRD's CPU figures count every BIRD of the run (the exited ones through the loop that ran them),
// and ping-lost says whether a restart dropped traffic.
func BenchmarkChurnSoak(b *testing.B) {
	cycles, workers := envInt(b, "SOAK_CYCLES", 10000), envInt(b, "SOAK_WORKERS", 4)
	for i := 0; i < b.N; i++ {
		benchChurnSoak(b, cycles, workers)
	}
}

const soakPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.207.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: false}
`

// steadyPods is how many pods stay on host1 through the soak, beside the churned ones.
const steadyPods = 10

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// soakSample is the state of the node after a batch of cycles, once the churn has stopped and the node settled.
// Felix's apply counters and BIRD's CPU time are cumulative since they started.
type soakSample struct {
	cycles        int
	at            time.Duration // since the churn started
	settle        time.Duration // from the end of the batch until the node matched the live pods
	felixApplies  float64
	felixApplySec float64
	felixRSSKB    int
	birdRSSKB     int
	birdCPU       time.Duration
	count         soakCounts
}

// soakCounts are the things that must follow the live pods: a leak shows as a count beyond what they account for.
type soakCounts struct {
	kernelLinks   int // links in host1's namespace
	birdIfaces    int // interfaces BIRD lists as present
	caliLinks     int // host1's cali* links
	wlChains      int // cali-tw-* and cali-fw-* chains on host1
	caliChains    int // every cali-* chain on host1
	selectorSets  int // cali40s:* ipsets on host1
	setMembers    int // their members, summed
	ipamAllocs    int // allocated addresses in every block
	ipamHandles   int // /calico/ipam/v2/handle/ keys
	endpoints     int // WorkloadEndpoints
	host1Blocks   int // blocks affine to host1
	host2BGPRoute int // routes on host2 learned by BGP
}

// leaks lists what exceeds the live pods: local pods on host1, all pods in the cluster, and the static chain
// count of the first sample.
func (c soakCounts) leaks(local, all, baseChains int) []string {
	var out []string
	check := func(what string, got, want int) {
		if got != want {
			out = append(out, fmt.Sprintf("%s: %d, want %d", what, got, want))
		}
	}
	check("cali links", c.caliLinks, local)
	check("BIRD interfaces (vs kernel links)", c.birdIfaces, c.kernelLinks)
	check("workload chains", c.wlChains, 2*local)
	check("cali chains", c.caliChains, baseChains)
	check("selector ipset members", c.setMembers, c.selectorSets*all)
	check("IPAM allocations", c.ipamAllocs, all)
	check("IPAM handles", c.ipamHandles, all)
	check("workload endpoints", c.endpoints, all)
	return out
}

func benchChurnSoak(b *testing.B, cycles, workers int) {
	env := []string{"FELIX_PROMETHEUSMETRICSENABLED=true"}
	if v := os.Getenv("BIRD_STALE_INTERFACE_LIMIT"); v != "" {
		env = append(env, "BIRD_STALE_INTERFACE_LIMIT="+v) // to see restarts in a shorter soak
	}
	c, nodes := startCluster(b, 2, soakPool, env...)
	h1, h2 := nodes[0], nodes[1]
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Etcd}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { etcd.Close() })

	var steady []*pod
	for i := 0; i < steadyPods; i++ {
		steady = append(steady, addPod(b, c, h1, fmt.Sprintf("st%d", i)))
	}
	prober := addPod(b, c, h2, "probe")
	local, all := steadyPods, steadyPods+1
	waitUntil(b, 60*time.Second, "the prober pings a steady pod on host1", func() (bool, string) {
		return prober.canPing(steady[0].ip), ""
	})
	floor := bareCycles(b, h1, 50, workers)

	ping := startPing(b, prober, steady[0].ip)
	churner := &churner{c: c, n: h1, cnitool: cnitoolPath(b), live: map[string]bool{}}
	b.Cleanup(churner.removeLeftovers)

	var samples []soakSample
	var settled soakCounts
	sample := func(done int, start, batchEnd time.Time) {
		var leaks []string
		deadline := time.Now().Add(60 * time.Second)
		for {
			settled = countSoak(b, etcd, h1, h2)
			base := settled.caliChains
			if len(samples) > 0 {
				base = samples[0].count.caliChains
			}
			if leaks = settled.leaks(local, all, base); len(leaks) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		s := soakSample{cycles: done, at: batchEnd.Sub(start), settle: time.Since(batchEnd), count: settled}
		s.felixApplies, s.felixApplySec = felixApplyCounters(b, h1)
		s.felixRSSKB = rssKB(b, h1.felix.Process.Pid)
		s.birdRSSKB = rssKB(b, h1.birdPid(b))
		// confd restarts BIRD once its list holds BIRD_STALE_INTERFACE_LIMIT deleted interfaces: the BIRDs that
		// exited count through the loop that runs BIRD (it waited for them), the running one by itself.
		s.birdCPU = cpuTime(b, h1.birdPid(b)) + childrenCPUTime(b, h1.birdP.Process.Pid)
		samples = append(samples, s)
		if len(leaks) > 0 {
			b.Errorf("after %d cycles, 60s after the churn stopped: %s", done, strings.Join(leaks, "; "))
		}
	}

	start := time.Now()
	sample(0, start, start)
	batch := max(1, cycles/10)
	var cycleTime time.Duration
	for done := 0; done < cycles && !b.Failed(); {
		n := min(batch, cycles-done)
		t0 := time.Now()
		if err := inParallel(done, n, workers, churner.cycle); err != nil {
			b.Fatal(err)
		}
		cycleTime += time.Since(t0)
		done += n
		sample(done, start, time.Now())
	}
	lost, sent := ping.stop(b)
	logSoakTable(b, samples)
	if len(samples) < 2 {
		return // failed before the first batch; the error says why
	}
	reportSoak(b, samples, cycleTime, floor, lost, sent)
	// How often confd restarted BIRD for its stale interfaces (BIRD_STALE_INTERFACE_LIMIT) during the soak.
	confdLog, err := os.ReadFile(filepath.Join(h1.h.Dir, "confd.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(strings.Count(string(confdLog), "Restarting BIRD: too many deleted interfaces")), "bird-restarts")
}

// churner adds and deletes pods on one node through cnitool, as a container runtime does: each pod has a
// namespace of its own and so a container ID, a host veth name and an address of its own.
type churner struct {
	c       *harness.Cluster
	n       *node
	cnitool string
	mu      sync.Mutex
	live    map[string]bool // pod namespaces created and not yet deleted
}

// inParallel runs fn for i in first..first+n-1, by the given number of workers at once, and stops at the first
// error.
func inParallel(first, n, workers int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for i := first; i < first+n; i++ {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

// cycle adds one pod and deletes it again.
func (ch *churner) cycle(i int) error {
	netns := fmt.Sprintf("cl%s-s%d", ch.c.ID, i)
	if out, err := exec.Command("ip", "netns", "add", netns).CombinedOutput(); err != nil {
		return fmt.Errorf("creating pod namespace %s: %w: %s", netns, err, out)
	}
	ch.mu.Lock()
	ch.live[netns] = true
	ch.mu.Unlock()
	for _, verb := range []string{"add", "del"} {
		cmd := ch.n.h.Command([]string{"CNI_PATH=" + binDir, "NETCONFPATH=" + filepath.Join(ch.n.h.Dir, "net.d"),
			"CNI_CACHE_DIR=" + filepath.Join(ch.n.h.Dir, "cni-cache")}, ch.cnitool, verb, network, "/var/run/netns/"+netns)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cycle %d: cnitool %s: %w\n%s", i, verb, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", netns).CombinedOutput(); err != nil {
		return fmt.Errorf("deleting pod namespace %s: %w: %s", netns, err, out)
	}
	ch.mu.Lock()
	delete(ch.live, netns)
	ch.mu.Unlock()
	return nil
}

// removeLeftovers deletes the namespaces of cycles a failure interrupted (the cluster does not know of them).
func (ch *churner) removeLeftovers() {
	for netns := range ch.live {
		exec.Command("ip", "netns", "del", netns).Run()
	}
}

// bareCycles times count pod-like cycles done by hand on a host, by as many workers at once as the churn uses: a
// namespace, a veth into it with an address and a host route, then the namespace deleted. No datastore, IPAM, felix
// or BIRD work is asked for: the floor a CNI cycle is compared to. It returns the wall time per cycle.
func bareCycles(b *testing.B, n *node, count, workers int) time.Duration {
	start := time.Now()
	err := inParallel(0, count, workers, func(i int) error {
		netns := fmt.Sprintf("cl%s-f%d", n.c.ID, i)
		veth := fmt.Sprintf("flr%d", i)
		addr := fmt.Sprintf("10.251.%d.%d", i/250, i%250+1)
		steps := [][]string{
			{"ip", "netns", "add", netns},
			{"ip", "-n", n.h.NetNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns},
			{"ip", "-n", netns, "addr", "add", addr + "/32", "dev", "eth0"},
			{"ip", "-n", netns, "link", "set", "eth0", "up"},
			{"ip", "-n", n.h.NetNS, "link", "set", veth, "up"},
			{"ip", "-n", n.h.NetNS, "route", "add", addr + "/32", "dev", veth},
			{"ip", "netns", "del", netns},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				exec.Command("ip", "netns", "del", netns).Run()
				return fmt.Errorf("floor cycle: %s: %w: %s", strings.Join(s, " "), err, out)
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start) / time.Duration(count)
}

// countSoak reads the node's kernel, BIRD and etcd state.
func countSoak(b *testing.B, etcd *clientv3.Client, h1, h2 *node) soakCounts {
	var c soakCounts
	links, err := h1.h.Run("ip", "-o", "link", "show")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(links), "\n") {
		c.kernelLinks++
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "cali") {
			c.caliLinks++
		}
	}
	// BIRD may be between a restart for its stale interfaces and its control socket's opening.
	var ifaces string
	waitUntil(b, 20*time.Second, "BIRD on host1 answers", func() (bool, string) {
		var err error
		ifaces, err = h1.h.Run(filepath.Join(binDir, "birdcl"), "-s", filepath.Join(h1.h.Dir, "bird.ctl"), "show", "interfaces")
		return err == nil, fmt.Sprint(err)
	})
	// Each interface is a line "name up|down (index)"; its addresses follow, indented.
	c.birdIfaces = len(regexp.MustCompile(`(?im)^\S+ (up|down) \(index=\d+\)`).FindAllString(ifaces, -1))
	save, err := h1.h.Run("iptables-save")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, ":cali-") {
			c.caliChains++
			if strings.HasPrefix(l, ":cali-tw-") || strings.HasPrefix(l, ":cali-fw-") {
				c.wlChains++
			}
		}
	}
	sets, err := h1.h.Run("ipset", "list")
	if err != nil {
		b.Fatal(err)
	}
	inSelector, inMembers := false, false
	for _, l := range strings.Split(sets, "\n") {
		switch {
		case strings.HasPrefix(l, "Name: "):
			inSelector, inMembers = strings.HasPrefix(l, "Name: cali40s:"), false
			if inSelector {
				c.selectorSets++
			}
		case l == "Members:":
			inMembers = true
		case inMembers && inSelector && strings.TrimSpace(l) != "":
			c.setMembers++
		}
	}
	routes, _ := h2.h.Run("ip", "route", "show", "proto", "bird")
	for _, l := range strings.Split(strings.TrimSpace(routes), "\n") {
		if l != "" {
			c.host2BGPRoute++
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	blocks, err := etcd.Get(ctx, "/calico/ipam/v2/assignment/ipv4/block/", clientv3.WithPrefix())
	if err != nil {
		b.Fatalf("reading IPAM blocks: %v", err)
	}
	for _, kv := range blocks.Kvs {
		var blk ipam.Block
		if err := json.Unmarshal(kv.Value, &blk); err != nil {
			b.Fatalf("block %s: %v", kv.Key, err)
		}
		for _, a := range blk.Allocations {
			if a != nil {
				c.ipamAllocs++
			}
		}
		if blk.Affinity != nil && *blk.Affinity == "host:"+h1.h.Name {
			c.host1Blocks++
		}
	}
	count := func(prefix string) int {
		r, err := etcd.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			b.Fatalf("counting %s: %v", prefix, err)
		}
		return int(r.Count)
	}
	c.ipamHandles = count("/calico/ipam/v2/handle/")
	c.endpoints = count("/calico/resources/v3/projectcalico.org/workloadendpoints/")
	return c
}

// felixApplyCounters reads felix's cumulative dataplane applies and the seconds they took from its metrics.
func felixApplyCounters(b *testing.B, n *node) (applies, seconds float64) {
	cmd := n.h.Command([]string{"E2E_HTTP_GET=http://127.0.0.1:9091/metrics"}, os.Args[0])
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("felix metrics on %s: %v\n%s", n.h.Name, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch name {
		case "felix_dataplane_applies_total":
			applies = f
		case "felix_dataplane_apply_seconds_total":
			seconds = f
		}
	}
	return applies, seconds
}

// rssKB is a process's resident set size.
func rssKB(b *testing.B, pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("process %d: %v", pid, err)
	}
	m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		b.Fatalf("no VmRSS for process %d", pid)
	}
	kb, _ := strconv.Atoi(string(m[1]))
	return kb
}

// cpuTime is a process's user plus system CPU time.
func cpuTime(b *testing.B, pid int) time.Duration {
	// Fields after the parenthesised command name: state is the first, utime the 12th and stime the 13th.
	return statTicks(b, pid, 11, 12)
}

// childrenCPUTime is the user plus system CPU time of a process's children that exited and were waited for.
func childrenCPUTime(b *testing.B, pid int) time.Duration {
	return statTicks(b, pid, 13, 14) // cutime and cstime
}

// statTicks sums fields of /proc/<pid>/stat (numbered from the state, 0, after the command name) that count
// clock ticks.
func statTicks(b *testing.B, pid int, fields ...int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("process %d: %v", pid, err)
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	sum := 0
	for _, i := range fields {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			b.Fatalf("process %d: field %d of %q: %v", pid, i, stat, err)
		}
		sum += n
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(sum) * time.Second / ticks
}

// soakPing is a ping running from a pod for the whole soak.
type soakPing struct {
	cmd *exec.Cmd
	out *strings.Builder
}

func startPing(b *testing.B, from *pod, to string) *soakPing {
	p := &soakPing{out: &strings.Builder{}}
	p.cmd = exec.Command("ip", "netns", "exec", from.netns, "ping", "-i", "0.2", "-W", "1", to)
	p.cmd.Stdout = p.out
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.cmd.Process.Kill() })
	return p
}

// stop ends the ping and returns how many of the packets it sent got no answer.
func (p *soakPing) stop(b *testing.B) (lost, sent int) {
	p.cmd.Process.Signal(syscall.SIGINT)
	p.cmd.Wait()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(p.out.String())
	if m == nil {
		b.Fatalf("no ping summary:\n%s", p.out.String())
	}
	got := 0
	fmt.Sscan(m[1], &sent)
	fmt.Sscan(m[2], &got)
	return sent - got, sent
}

func logSoakTable(b *testing.B, samples []soakSample) {
	var t strings.Builder
	fmt.Fprintf(&t, "%7s %8s %7s %9s %9s %8s %8s %8s %7s %6s %6s %7s %7s %6s %6s %6s %6s %5s\n",
		"cycles", "at", "settle", "apply-ms", "felix-MB", "bird-MB", "bird-cpu", "links", "bird-if", "cali",
		"wl-ch", "ch", "members", "alloc", "handle", "wep", "blocks", "h2rt")
	for i, s := range samples {
		apply := 0.0
		if i > 0 {
			apply = intervalApplyMs(samples[i-1], s)
		}
		c := s.count
		fmt.Fprintf(&t, "%7d %8s %7s %9.2f %9.1f %8.2f %8s %8d %7d %6d %6d %7d %7d %6d %6d %6d %6d %5d\n",
			s.cycles, s.at.Round(time.Second), s.settle.Round(100*time.Millisecond), apply,
			float64(s.felixRSSKB)/1024, float64(s.birdRSSKB)/1024, s.birdCPU, c.kernelLinks, c.birdIfaces,
			c.caliLinks, c.wlChains, c.caliChains, c.setMembers, c.ipamAllocs, c.ipamHandles, c.endpoints,
			c.host1Blocks, c.host2BGPRoute)
	}
	// On stderr rather than b.Logf, which keeps only the first lines of a benchmark's log.
	fmt.Fprintf(os.Stderr, "churn soak samples (apply-ms: felix's mean apply over the interval; bird-cpu: cumulative):\n%s", t.String())
}

// intervalApplyMs is felix's mean apply time between two samples (0 when it applied nothing).
func intervalApplyMs(prev, cur soakSample) float64 {
	n := cur.felixApplies - prev.felixApplies
	if n <= 0 {
		return 0
	}
	return (cur.felixApplySec - prev.felixApplySec) / n * 1000
}

// slopePer1k is the least-squares slope of y against the cycle count, per 1,000 cycles.
func slopePer1k(samples []soakSample, y func(soakSample) float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(samples))
	for _, s := range samples {
		x := float64(s.cycles) / 1000
		sx, sy, sxx, sxy = sx+x, sy+y(s), sxx+x*x, sxy+x*y(s)
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func reportSoak(b *testing.B, samples []soakSample, churn, floor time.Duration, lost, sent int) {
	first, last := samples[0], samples[len(samples)-1]
	cycles := last.cycles
	perCycle := churn / time.Duration(max(1, cycles))
	b.ReportMetric(ms(perCycle), "cycle-ms")
	b.ReportMetric(ms(floor), "floor-cycle-ms")
	b.ReportMetric(float64(perCycle)/float64(floor), "cycle/floor-ratio")

	applyFirst, applyLast := intervalApplyMs(samples[0], samples[1]), intervalApplyMs(samples[len(samples)-2], last)
	b.ReportMetric(applyFirst, "felix-apply-ms-first")
	b.ReportMetric(applyLast, "felix-apply-ms-last")
	if applyFirst > 0 {
		b.ReportMetric(applyLast/applyFirst, "felix-apply-last/first-ratio")
	}

	mb := func(kb int) float64 { return float64(kb) / 1024 }
	b.ReportMetric(mb(first.felixRSSKB), "felix-rss-MB-first")
	b.ReportMetric(mb(last.felixRSSKB), "felix-rss-MB-last")
	b.ReportMetric(slopePer1k(samples, func(s soakSample) float64 { return mb(s.felixRSSKB) }), "felix-rss-MB-per-1k-cycles")
	b.ReportMetric(mb(first.birdRSSKB), "bird-rss-MB-first")
	b.ReportMetric(mb(last.birdRSSKB), "bird-rss-MB-last")
	b.ReportMetric(slopePer1k(samples, func(s soakSample) float64 { return mb(s.birdRSSKB) }), "bird-rss-MB-per-1k-cycles")

	// BIRD's CPU per 1,000 cycles in the first fifth of the soak and in the last: a growing interface list shows as
	// the second outgrowing the first. A fifth (2,000 cycles in a full soak), not a tenth: BIRD's CPU rises with its
	// stale interfaces between two restarts and falls back at each, and a tenth would compare a BIRD early in its
	// life with one late in it.
	cpuPer1k := func(a, z soakSample) float64 {
		return ms(z.birdCPU-a.birdCPU) / (float64(z.cycles-a.cycles) / 1000)
	}
	fifth := max(1, (len(samples)-1)/5)
	cpuFirst, cpuLast := cpuPer1k(samples[0], samples[fifth]), cpuPer1k(samples[len(samples)-1-fifth], last)
	b.ReportMetric(cpuFirst, "bird-cpu-ms-per-1k-cycles-first")
	b.ReportMetric(cpuLast, "bird-cpu-ms-per-1k-cycles-last")
	if cpuFirst > 0 {
		b.ReportMetric(cpuLast/cpuFirst, "bird-cpu-last/first-ratio")
	}

	// What the last sample holds beyond the live pods (the benchmark has failed if any is not 0).
	live, all := steadyPods, steadyPods+1
	c := last.count
	b.ReportMetric(float64(c.caliLinks-live), "leaked-links")
	b.ReportMetric(float64(c.wlChains-2*live), "leaked-workload-chains")
	b.ReportMetric(float64(c.caliChains-first.count.caliChains), "leaked-cali-chains")
	b.ReportMetric(float64(c.setMembers-c.selectorSets*all), "leaked-ipset-members")
	b.ReportMetric(float64(c.ipamAllocs-all), "leaked-ipam-allocations")
	b.ReportMetric(float64(c.endpoints-all), "leaked-endpoints")
	b.ReportMetric(float64(lost), "ping-lost")
	b.ReportMetric(float64(sent), "ping-sent")
	if lost > 0 {
		b.Errorf("the prober's ping to a steady pod lost %d of %d packets during the churn", lost, sent)
	}
}

// BenchmarkBIRDStaleInterfaces measures what deleted interfaces cost a stock BIRD 1.6 that keeps them in its list:
// BIRD runs alone in a namespace with the kernel, device and direct protocols as bird.cfg.template configures them,
// beside 200 workload-like veths with a /32 route each; then BIRD_STALE_VETHS veths (default 10,000) with names
// never reused are created and deleted, 1,000 at a time, as pod churn does. Both ends of each veth stay in BIRD's
// namespace (with one end moved out, a run of 3,000 did not finish in 10 minutes here), so a veth is two interfaces
// in BIRD's list where a pod's is one: per pod, halve the figures. It reports BIRD's CPU time per 1,000 veths
// created and deleted, for the first thousand (the baseline) and the last, its RSS, and its idle CPU over 20s
// before and after the churn (each scan walks the list once per kernel interface and route).
func BenchmarkBIRDStaleInterfaces(b *testing.B) {
	needRoot(b)
	total := envInt(b, "BIRD_STALE_VETHS", 10000)
	for i := 0; i < b.N; i++ {
		benchBIRDStaleInterfaces(b, total)
	}
}

func benchBIRDStaleInterfaces(b *testing.B, total int) {
	dir := b.TempDir()
	netns := "birdstale-" + filepath.Base(dir)
	if out, err := exec.Command("ip", "netns", "add", netns).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", netns).Run() })
	batch := func(lines []string) {
		cmd := exec.Command("ip", "-n", netns, "-batch", "-")
		cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ip -batch: %v: %s", err, out)
		}
	}
	var live []string
	for i := 0; i < 200; i++ {
		live = append(live, fmt.Sprintf("link add calilive%d type veth peer name peerlive%d", i, i),
			fmt.Sprintf("link set calilive%d up", i), fmt.Sprintf("link set peerlive%d up", i),
			fmt.Sprintf("route add 10.252.%d.%d/32 dev calilive%d", i/250, i%250+1, i))
	}
	batch(live)
	cfg := filepath.Join(dir, "bird.cfg")
	os.WriteFile(cfg, []byte(`router id 10.255.0.1;
protocol kernel { learn; persist; scan time 2; import all; export none; graceful restart; }
protocol device { scan time 2; }
protocol direct { interface -"cali*", "*"; }
`), 0o644)
	bird := exec.Command("ip", "netns", "exec", netns, "bird", "-f", "-c", cfg, "-s", filepath.Join(dir, "bird.ctl"))
	if err := bird.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bird.Process.Kill(); bird.Wait() })
	pid := bird.Process.Pid
	waitUntil(b, 20*time.Second, "BIRD learns the 200 workload routes", func() (bool, string) {
		out, _ := exec.Command(filepath.Join(binDir, "birdcl"), "-s", filepath.Join(dir, "bird.ctl"), "show", "route", "count").CombinedOutput()
		return strings.HasPrefix(string(out), "200 of 200 routes"), string(out)
	})
	idle := func() time.Duration {
		c0 := cpuTime(b, pid)
		time.Sleep(20 * time.Second)
		return cpuTime(b, pid) - c0
	}
	idleBefore, rssBefore := idle(), rssKB(b, pid)

	var perBatch []time.Duration
	for done := 0; done < total; done += 1000 {
		var add, del []string
		for i := done; i < min(done+1000, total); i++ {
			add = append(add, fmt.Sprintf("link add calistale%d type veth peer name peerstale%d", i, i))
			del = append(del, fmt.Sprintf("link del calistale%d", i))
		}
		c0 := cpuTime(b, pid)
		batch(add)
		time.Sleep(3 * time.Second) // more than a device scan, so BIRD lists every one of them
		batch(del)
		time.Sleep(3 * time.Second)
		perBatch = append(perBatch, cpuTime(b, pid)-c0)
	}
	idleAfter, rssAfter := idle(), rssKB(b, pid)

	first, last := perBatch[0], perBatch[len(perBatch)-1]
	b.ReportMetric(ms(first), "bird-cpu-ms-per-1k-veths-first")
	b.ReportMetric(ms(last), "bird-cpu-ms-per-1k-veths-last")
	b.ReportMetric(float64(last)/float64(max(first, 10*time.Millisecond)), "bird-cpu-last/first-ratio")
	b.ReportMetric(float64(rssBefore)/1024, "bird-rss-MB-before")
	b.ReportMetric(float64(rssAfter)/1024, "bird-rss-MB-after")
	b.ReportMetric(float64(rssAfter-rssBefore)/1024/(float64(total)/1000), "bird-rss-MB-per-1k-veths")
	b.ReportMetric(ms(idleBefore)/20, "bird-idle-cpu-ms-per-s-before")
	b.ReportMetric(ms(idleAfter)/20, "bird-idle-cpu-ms-per-s-after")
}
