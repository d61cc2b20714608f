package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/calico-l3/calico/tests/harness"
)

// BenchmarkConvergenceByBlock splits add-to-reply (from the start of `cnitool add` of a pod on one host until a pod
// on another host gets its first ping reply) in two, on a mesh of 3 and of 10 hosts (E2E_CONVERGENCE_HOSTS picks
// others, e.g. "3"):
//   - existing-block: the pod's host already had an affine block with room, so the other hosts already route the
//     block and only the pod's own host (CNI plugin, then felix) has work to do;
//   - new-block: the pod is the first of a new block, so felix adds the block's blackhole route, BIRD learns it and
//     advertises it, and every other host installs it before the reply can come back.
//
// The pool has blocks of 4 addresses (blockSize 30), so one pod in four starts a block; E2E_CONVERGENCE_PODS pods
// (64 by default) are added one at a time over every host but the prober's. The floor is the same probe to an
// address on host1 made reachable by one `ip route add` of a /32 by hand on the prober's host: the kernel and the
// probe alone, with no datastore, BGP or felix in between. The probe sends an ICMP echo every millisecond from the
// prober pod's namespace, so neither figure waits on a ping process's timeout. Each class also reports when its
// pod's /32 route appeared on its own host (felix done; felix writes routes after iptables) and, for new blocks,
// when the other host had a route to it (BIRD and BGP done), to show where the time goes.
func BenchmarkConvergenceByBlock(b *testing.B) {
	for _, hosts := range envInts(b, "E2E_CONVERGENCE_HOSTS", []int{3, 10}) {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchConvergenceByBlock(b, hosts, envInts(b, "E2E_CONVERGENCE_PODS", []int{64})[0])
			}
		})
	}
}

// BenchmarkConvergenceBurst adds E2E_BURST_PODS pods (100 by default) to one host at once, as a runtime starting
// that many pods would (their namespaces exist first; every `cnitool add` starts together), on 3 hosts with a pool
// of the default block size (26), and times from the start until each pod answers a probe from a pod on another
// host: the last one, and the p50. The floor is as many /32 routes to addresses on the same host added by hand on
// the prober's host the same way (one `ip route add` each, all started together), each probed as soon as it is
// added, by the same prober.
func BenchmarkConvergenceBurst(b *testing.B) {
	pods := envInts(b, "E2E_BURST_PODS", []int{100})[0]
	for i := 0; i < b.N; i++ {
		benchConvergenceBurst(b, pods)
	}
}

const smallBlockPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.206.0.0/16, blockSize: 30, ipipMode: Never, natOutgoing: false}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeMeshMaxRestartTime: 1s}
`

// podTimes is one pod's way from `cnitool add` to the first reply, each mark measured from the add's start.
type podTimes struct {
	cni       time.Duration // `cnitool add` returned
	routeHere time.Duration // the pod's /32 on its own host: felix's apply for it is done
	blackhole time.Duration // the block's blackhole on the pod's host, for the first pod of a block
	// routeThere: the prober's host has a route to the pod (its block's, or its /32 before the block is confirmed),
	// for the first pod of a block
	routeThere time.Duration
	reply      time.Duration // the first reply to the prober
}

func benchConvergenceByBlock(b *testing.B, hosts, pods int) {
	c, nodes := startCluster(b, hosts, smallBlockPool)
	cnitool := cnitoolPath(b)
	probe := addPod(b, c, nodes[1], "probe")
	pr := startProber(b, probe.netns, time.Millisecond)
	owners := append([]*node{nodes[0]}, nodes[2:]...)
	watches := map[*node]*routeWatch{}
	known := map[*node]map[netip.Prefix]bool{} // blocks each owner had before the pod being added
	for _, n := range nodes {
		watches[n] = watchRoutes(b, n.h)
	}
	for _, n := range owners { // a first pod on each owner: its block and the CNI config exist before timing
		p := addPod(b, c, n, "warm-"+n.h.Name)
		if _, err := pr.await(p.ip, 60*time.Second); err != nil {
			b.Fatalf("warm-up pod %s on %s: %v", p.ip, n.h.Name, err)
		}
		known[n] = map[netip.Prefix]bool{blockOf(b, p.ip, 30): true}
	}
	felixFrom := logSizes(owners, "felix.log")

	var existing, fresh []podTimes
	for i := 0; i < pods; i++ {
		owner := owners[i%len(owners)]
		// The runtime creates the pod's namespace (its sandbox) before it calls ADD: the clock starts at the ADD.
		ns := podNetns(b, c, fmt.Sprintf("cv%d", i))
		start := time.Now()
		ip, err := cniAddIn(cnitool, owner, ns)
		if err != nil {
			b.Fatal(err)
		}
		cniDone := time.Now()
		replied, err := pr.await(ip, 30*time.Second)
		if err != nil {
			b.Fatalf("pod %s on %s: %v", ip, owner.h.Name, err)
		}
		block := blockOf(b, ip, 30)
		t := podTimes{cni: cniDone.Sub(start), reply: replied.Sub(start)}
		t.routeHere = watches[owner].wait(b, hostRoute(b, ip), start)
		if known[owner][block] {
			existing = append(existing, t)
			continue
		}
		known[owner][block] = true
		t.blackhole = watches[owner].wait(b, block, start)
		t.routeThere = min(watches[nodes[1]].wait(b, block, start), watches[nodes[1]].waitAtMost(hostRoute(b, ip), start, 0))
		fresh = append(fresh, t)
	}
	applies := felixApplies(b, owners, felixFrom)
	floor := probedFloor(b, nodes[0], nodes[1], pr, 20)

	if len(existing) == 0 || len(fresh) == 0 {
		b.Fatalf("%d pods in existing blocks and %d first pods of new blocks: need both", len(existing), len(fresh))
	}
	b.ReportMetric(float64(len(existing)), "existing-block-pods")
	b.ReportMetric(float64(len(fresh)), "new-block-pods")
	reportTimes(b, "existing-block", existing, floor, false)
	reportTimes(b, "new-block", fresh, floor, true)
	b.ReportMetric(ms(pct(floor, 50)), "floor-p50-ms")
	b.ReportMetric(ms(pct(floor, 99)), "floor-p99-ms")
	if len(applies) > 0 {
		b.ReportMetric(ms(pct(applies, 50)), "felix-apply-p50-ms")
	}
}

// reportTimes reports one class of pods: add-to-reply p50/p99 with its ratio to the floor's p50, and the p50 of
// each mark on the way.
func reportTimes(b *testing.B, class string, ts []podTimes, floor []time.Duration, there bool) {
	pick := func(f func(podTimes) time.Duration) []time.Duration {
		var d []time.Duration
		for _, t := range ts {
			d = append(d, f(t))
		}
		return d
	}
	reply := pick(func(t podTimes) time.Duration { return t.reply })
	b.ReportMetric(ms(pct(reply, 50)), class+"-add-to-reply-p50-ms")
	b.ReportMetric(ms(pct(reply, 99)), class+"-add-to-reply-p99-ms")
	b.ReportMetric(float64(pct(reply, 50))/float64(pct(floor, 50)), class+"/floor-p50-ratio")
	b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.cni }), 50)), class+"-cni-add-p50-ms")
	b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.routeHere }), 50)), class+"-route-on-own-host-p50-ms")
	b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.routeHere - t.cni }), 50)), class+"-felix-after-cni-p50-ms")
	b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.reply - t.routeHere }), 50)), class+"-reply-after-route-p50-ms")
	if there {
		b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.blackhole }), 50)), class+"-blackhole-on-own-host-p50-ms")
		b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.routeThere }), 50)), class+"-route-on-prober-host-p50-ms")
		b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.routeThere - t.blackhole }), 50)), class+"-bgp-after-blackhole-p50-ms")
	}
}

// probedFloor times, n times, one /32 written by hand on via's host toward an address on to's host lo, from just
// before `ip route add` until the prober (a pod on via) gets a reply from the address.
func probedFloor(b *testing.B, to, via *node, pr *prober, n int) []time.Duration {
	var floor []time.Duration
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("10.250.%d.1", i)
		if out, err := to.h.Run("ip", "addr", "add", addr+"/32", "dev", "lo"); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		start := time.Now()
		if out, err := via.h.Run("ip", "route", "add", addr+"/32", "via", to.h.IP.String()); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		replied, err := pr.await(addr, 10*time.Second)
		if err != nil {
			b.Fatalf("hand-written route to %s: %v", addr, err)
		}
		floor = append(floor, replied.Sub(start))
	}
	return floor
}

const burstPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.207.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: false}
`

func benchConvergenceBurst(b *testing.B, pods int) {
	c, nodes := startCluster(b, 3, burstPool)
	cnitool := cnitoolPath(b)
	owner := nodes[0]
	probe := addPod(b, c, nodes[1], "probe")
	// Every pending address is probed every 5 ms: with a hundred of them, that is already 20,000 packets a second.
	pr := startProber(b, probe.netns, 5*time.Millisecond)
	here, there := watchRoutes(b, owner.h), watchRoutes(b, nodes[1].h)
	warm := addPod(b, c, owner, "warm")
	if _, err := pr.await(warm.ip, 60*time.Second); err != nil {
		b.Fatalf("warm-up pod %s: %v", warm.ip, err)
	}
	names := make([]string, pods)
	for i := range names {
		names[i] = podNetns(b, c, fmt.Sprintf("burst%d", i))
	}
	felixFrom := logSizes([]*node{owner}, "felix.log")

	times := make([]podTimes, pods)
	ips := make([]string, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range names {
		wg.Go(func() {
			ip, err := cniAddIn(cnitool, owner, names[i])
			if err != nil {
				errs[i] = err
				return
			}
			times[i].cni, ips[i] = time.Since(start), ip
			replied, err := pr.await(ip, 120*time.Second)
			if err != nil {
				errs[i] = fmt.Errorf("pod %s: %w", ip, err)
				return
			}
			times[i].reply = replied.Sub(start)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	blocks := map[netip.Prefix]bool{}
	for i, ip := range ips {
		times[i].routeHere = here.wait(b, hostRoute(b, ip), start)
		block := blockOf(b, ip, 26)
		if !blocks[block] {
			blocks[block] = true
			times[i].routeThere = there.wait(b, block, start)
		}
	}
	applies := felixApplies(b, []*node{owner}, felixFrom)

	// The floor: addresses on the owner's lo first, then every route added at once and probed.
	var batch strings.Builder
	addrs := make([]string, pods)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("10.251.%d.%d", i/200, i%200+1)
		fmt.Fprintf(&batch, "addr add %s/32 dev lo\n", addrs[i])
	}
	cmd := owner.h.Command(nil, "ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("adding the floor's addresses: %v: %s", err, out)
	}
	floor := make([]time.Duration, pods)
	start = time.Now()
	for i, addr := range addrs {
		wg.Go(func() {
			if out, err := nodes[1].h.Run("ip", "route", "add", addr+"/32", "via", owner.h.IP.String()); err != nil {
				errs[i] = fmt.Errorf("%w: %s", err, out)
				return
			}
			replied, err := pr.await(addr, 60*time.Second)
			if err != nil {
				errs[i] = fmt.Errorf("hand-written route to %s: %w", addr, err)
				return
			}
			floor[i] = replied.Sub(start)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}

	pick := func(f func(podTimes) time.Duration) []time.Duration {
		var d []time.Duration
		for _, t := range times {
			if v := f(t); v > 0 {
				d = append(d, v)
			}
		}
		return d
	}
	reply := pick(func(t podTimes) time.Duration { return t.reply })
	last, floorLast := slices.Max(reply), slices.Max(floor)
	b.ReportMetric(ms(last), "burst-last-reply-ms")
	b.ReportMetric(ms(floorLast), "burst-floor-last-ms")
	b.ReportMetric(float64(last)/float64(floorLast), "burst-last/floor-ratio")
	b.ReportMetric(ms(pct(reply, 50)), "burst-reply-p50-ms")
	b.ReportMetric(ms(pct(floor, 50)), "burst-floor-p50-ms")
	b.ReportMetric(float64(pct(reply, 50))/float64(pct(floor, 50)), "burst-p50/floor-ratio")
	b.ReportMetric(ms(slices.Max(pick(func(t podTimes) time.Duration { return t.cni }))), "burst-last-cni-add-ms")
	b.ReportMetric(ms(pct(pick(func(t podTimes) time.Duration { return t.cni }), 50)), "burst-cni-add-p50-ms")
	b.ReportMetric(ms(slices.Max(pick(func(t podTimes) time.Duration { return t.routeHere }))), "burst-last-route-on-own-host-ms")
	b.ReportMetric(ms(slices.Max(pick(func(t podTimes) time.Duration { return t.routeThere }))), "burst-last-block-on-prober-host-ms")
	b.ReportMetric(float64(len(blocks)), "burst-blocks")
	if len(applies) > 0 {
		b.ReportMetric(float64(len(applies)), "burst-felix-applies")
		b.ReportMetric(ms(slices.Max(applies)), "burst-felix-apply-max-ms")
	}
}

// podNetns creates a pod's network namespace, deleted at cleanup, and returns its name.
func podNetns(b *testing.B, c *harness.Cluster, name string) string {
	ns := "cl" + c.ID + "-" + name
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Fatalf("creating netns %s: %v: %s", ns, err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// cniAddIn runs `cnitool add` for an existing namespace on n's host, as a runtime would, with the CNI config addPod
// wrote there, and returns the pod's address. Unlike addPod it may run on any goroutine.
func cniAddIn(cnitool string, n *node, ns string) (string, error) {
	confDir := filepath.Join(n.h.Dir, "net.d")
	cmd := n.h.Command([]string{"CNI_PATH=" + binDir, "NETCONFPATH=" + confDir, "CNI_CACHE_DIR=" + filepath.Join(n.h.Dir, "cni-cache")},
		cnitool, "add", network, "/var/run/netns/"+ns)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cnitool add %s on %s: %w\n%s%s", ns, n.h.Name, err, out, stderr.String())
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) == 0 {
		return "", fmt.Errorf("cnitool add %s on %s: no address in the result (%v):\n%s", ns, n.h.Name, err, out)
	}
	ip, _, _ := strings.Cut(res.IPs[0].Address, "/")
	return ip, nil
}

// blockOf is the block of the given size that holds ip.
func blockOf(b *testing.B, ip string, bits int) netip.Prefix {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		b.Fatal(err)
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// hostRoute is ip as a /32.
func hostRoute(b *testing.B, ip string) netip.Prefix { return blockOf(b, ip, 32) }

// envInts reads a comma-separated list of sizes from the environment, or gives def.
func envInts(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want positive integers separated by commas", name, v)
		}
		out = append(out, n)
	}
	return out
}

// logSizes notes how long each node's log is, so that felixApplies reads only what came after.
func logSizes(nodes []*node, name string) map[*node]int64 {
	sizes := map[*node]int64{}
	for _, n := range nodes {
		if st, err := os.Stat(filepath.Join(n.h.Dir, name)); err == nil {
			sizes[n] = st.Size()
		}
	}
	return sizes
}

// felixApplies are the durations of the dataplane updates that changed something, as felix logged them on each
// node since from.
func felixApplies(b *testing.B, nodes []*node, from map[*node]int64) []time.Duration {
	var took []time.Duration
	for _, n := range nodes {
		data, err := os.ReadFile(filepath.Join(n.h.Dir, "felix.log"))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(data[min(from[n], int64(len(data))):]), "\n") {
			if !strings.Contains(l, `msg="dataplane updated"`) {
				continue
			}
			_, v, ok := strings.Cut(l, " took=")
			if !ok {
				continue
			}
			v, _, _ = strings.Cut(v, " ")
			if d, err := time.ParseDuration(v); err == nil {
				took = append(took, d)
			}
		}
	}
	return took
}

// routeWatch records when each route first appeared in a host's main table, from `ip monitor route`.
type routeWatch struct {
	mu    sync.Mutex
	first map[netip.Prefix]time.Time
}

func watchRoutes(b *testing.B, h *harness.Host) *routeWatch {
	w := &routeWatch{first: map[netip.Prefix]time.Time{}}
	cmd := h.Command(nil, "ip", "monitor", "route")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("ip monitor route on %s: %v", h.Name, err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen := time.Now()
			if p, ok := monitoredRoute(sc.Text()); ok {
				w.mu.Lock()
				if _, dup := w.first[p]; !dup {
					w.first[p] = seen
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// monitoredRoute is the destination of a route `ip monitor route` reports added, e.g. "10.0.0.5 dev cali1 scope
// link", "blackhole 10.0.0.4/30 proto 80" or "10.0.0.4/30 via 100.64.1.11 dev eth0 proto bird".
func monitoredRoute(line string) (netip.Prefix, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] == "Deleted" {
		return netip.Prefix{}, false
	}
	switch f[0] {
	case "blackhole", "unreachable", "prohibit", "throw", "unicast":
		f = f[1:]
	}
	if len(f) == 0 {
		return netip.Prefix{}, false
	}
	if p, err := netip.ParsePrefix(f[0]); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(f[0]); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

// wait is how long after start the route to p first appeared, waiting up to 10 s for it: the first reply can
// arrive before `ip monitor` reports the route that carried it.
func (w *routeWatch) wait(b *testing.B, p netip.Prefix, start time.Time) time.Duration {
	d := w.waitAtMost(p, start, 10*time.Second)
	if d == 0 {
		b.Fatalf("no route to %s appeared", p)
	}
	return d
}

// waitAtMost is wait that gives 0 (and no failure) when the route did not appear within limit; a big duration
// when limit is 0 and it has not appeared, so that it loses any min.
func (w *routeWatch) waitAtMost(p netip.Prefix, start time.Time, limit time.Duration) time.Duration {
	deadline := time.Now().Add(limit)
	for {
		w.mu.Lock()
		at, ok := w.first[p]
		w.mu.Unlock()
		if ok {
			return max(at.Sub(start), time.Nanosecond)
		}
		if limit == 0 {
			return time.Hour
		}
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// prober sends an ICMP echo request from inside a pod's namespace to every address being awaited, every interval,
// and notes when each first answers: one socket and no process per probe, so the reply time is known to within the
// interval whatever the number of addresses.
type prober struct {
	conn    net.PacketConn
	every   time.Duration
	mu      sync.Mutex
	waiting map[netip.Addr][]chan time.Time
	seq     uint16
	done    chan struct{}
}

// startProber opens a raw ICMP socket in the named namespace (a socket stays in the namespace it was made in).
func startProber(b *testing.B, ns string, every time.Duration) *prober {
	type opened struct {
		conn net.PacketConn
		err  error
	}
	ch := make(chan opened)
	go func() {
		// This thread is left in ns and never unlocked, so Go ends it with the goroutine.
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- opened{err: fmt.Errorf("opening netns %s: %w", ns, err)}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- opened{err: fmt.Errorf("entering netns %s: %w", ns, err)}
			return
		}
		conn, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		ch <- opened{conn, err}
	}()
	o := <-ch
	if o.err != nil {
		b.Fatal(o.err)
	}
	p := &prober{conn: o.conn, every: every, waiting: map[netip.Addr][]chan time.Time{}, done: make(chan struct{})}
	b.Cleanup(func() { close(p.done); p.conn.Close() })
	go p.read()
	go p.send()
	return p
}

// probeID marks this process's echo requests (the raw socket also sees other replies in the namespace).
var probeID = uint16(os.Getpid())

func (p *prober) read() {
	buf := make([]byte, 1500)
	for {
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		at := time.Now()
		// Go strips the IPv4 header: buf holds the ICMP message. Type 0 is an echo reply.
		if n < 8 || buf[0] != 0 || binary.BigEndian.Uint16(buf[4:]) != probeID {
			continue
		}
		ip, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if !ok {
			continue
		}
		p.mu.Lock()
		for _, ch := range p.waiting[ip.Unmap()] {
			ch <- at
		}
		delete(p.waiting, ip.Unmap())
		p.mu.Unlock()
	}
}

func (p *prober) send() {
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		targets := make([]netip.Addr, 0, len(p.waiting))
		for a := range p.waiting {
			targets = append(targets, a)
		}
		p.seq++
		seq := p.seq
		p.mu.Unlock()
		for _, a := range targets {
			// A failed send (no route yet, say) is simply tried again at the next tick.
			_, _ = p.conn.WriteTo(echoRequest(probeID, seq), &net.IPAddr{IP: a.AsSlice()})
		}
	}
}

// await probes ip until it answers and gives the time of its first reply.
func (p *prober) await(ip string, limit time.Duration) (time.Time, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return time.Time{}, err
	}
	ch := make(chan time.Time, 1)
	p.mu.Lock()
	p.waiting[a] = append(p.waiting[a], ch)
	p.mu.Unlock()
	select {
	case at := <-ch:
		return at, nil
	case <-time.After(limit):
		p.mu.Lock()
		p.waiting[a] = slices.DeleteFunc(p.waiting[a], func(c chan time.Time) bool { return c == ch })
		if len(p.waiting[a]) == 0 {
			delete(p.waiting, a)
		}
		p.mu.Unlock()
		return time.Time{}, fmt.Errorf("no reply to a probe of %s within %s", ip, limit)
	}
}

// echoRequest is an ICMP echo request with its checksum.
func echoRequest(id, seq uint16) []byte {
	m := make([]byte, 16)
	m[0] = 8
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	var sum uint32
	for i := 0; i < len(m); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(m[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(m[2:], ^uint16(sum))
	return m
}
