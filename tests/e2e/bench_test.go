package e2e

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// BenchmarkConvergence measures, on a mesh of 3 and of 10 hosts (each running startup, confd, BIRD and felix):
//   - add-to-ping: from `cnitool add` of a pod on one host until a pod on another host pings it (50 pods, p50/p99);
//   - floor: from `ip route add` of a /32 by hand on the other host until that host pings the address (the kernel
//     and ping alone, with no datastore, BGP or felix in between);
//   - kill-to-withdraw: from killing a host's BIRD until its block is gone from every other host, with
//     nodeMeshMaxRestartTime 1s (graceful restart keeps a vanished peer's routes that long, by design).
func BenchmarkConvergence(b *testing.B) {
	for _, hosts := range []int{3, 10} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchConvergence(b, hosts)
			}
		})
	}
}

const benchPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.205.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: false}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeMeshMaxRestartTime: 1s}
`

func fastPing(args ...string) bool {
	return exec.Command("ip", append([]string{"netns", "exec"}, args...)...).Run() == nil
}

// addToPing adds n pods, each on a host other than nodes[1] (the prober's), and times each from its `cnitool add`
// until the prober pings it.
func addToPing(b *testing.B, c *harness.Cluster, nodes []*node, n int) []time.Duration {
	prober := addPod(b, c, nodes[1], "probe")
	var took []time.Duration
	for i := 0; i < n; i++ {
		owner := nodes[(i%(len(nodes)-1)+2)%len(nodes)] // every host but the prober's
		start := time.Now()
		p := addPod(b, c, owner, fmt.Sprintf("b%d", i))
		for !fastPing(prober.netns, "ping", "-c1", "-W0.05", p.ip) {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("pod %s (%s on %s) unreachable from the prober after 30s", p.name, p.ip, owner.h.Name)
			}
		}
		took = append(took, time.Since(start))
	}
	return took
}

// handRoutedFloor times a route written by hand on nodes[1] to an address on nodes[0] until nodes[1] pings it:
// the kernel and ping alone, with no datastore, BGP or felix in between.
func handRoutedFloor(b *testing.B, nodes []*node) []time.Duration {
	var floor []time.Duration
	for i := 0; i < 20; i++ {
		addr := fmt.Sprintf("10.250.%d.1", i)
		if out, err := nodes[0].h.Run("ip", "addr", "add", addr+"/32", "dev", "lo"); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		start := time.Now()
		if out, err := nodes[1].h.Run("ip", "route", "add", addr+"/32", "via", nodes[0].h.IP.String()); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		for !fastPing(nodes[1].h.NetNS, "ping", "-c1", "-W0.05", addr) {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("hand-written route to %s did not work", addr)
			}
		}
		floor = append(floor, time.Since(start))
	}
	return floor
}

func benchConvergence(b *testing.B, hosts int) {
	c, nodes := startCluster(b, hosts, benchPool)
	addToPing := addToPing(b, c, nodes, 50)
	floor := handRoutedFloor(b, nodes)

	// Kill hosts' BIRDs one at a time (keeping the prober's host and host1) and time the withdrawal of their blocks.
	var withdraw []time.Duration
	for _, victim := range nodes[2:min(hosts, 7)] {
		blocks := blocksVia(b, nodes[1], victim.h.IP.String())
		if len(blocks) == 0 {
			b.Fatalf("%s has no block routes via %s", nodes[1].h.Name, victim.h.Name)
		}
		start := time.Now()
		syscall.Kill(-victim.birdP.Process.Pid, syscall.SIGKILL)
		for len(blocksVia(b, nodes[0], victim.h.IP.String())) > 0 || len(blocksVia(b, nodes[1], victim.h.IP.String())) > 0 {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s's blocks still routed 30s after its BIRD was killed", victim.h.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
		withdraw = append(withdraw, time.Since(start))
	}
	b.ReportMetric(ms(pct(addToPing, 50)), "add-to-ping-p50-ms")
	b.ReportMetric(ms(pct(addToPing, 99)), "add-to-ping-p99-ms")
	b.ReportMetric(ms(pct(floor, 50)), "floor-p50-ms")
	b.ReportMetric(ms(pct(withdraw, 50)), "kill-to-withdraw-p50-ms")
	b.ReportMetric(ms(pct(withdraw, 99)), "kill-to-withdraw-p99-ms")
}

// BenchmarkConvergenceVXLANvsBGP measures add-to-ping (as BenchmarkConvergence) on 3 hosts routed by BGP (startup,
// confd, BIRD, felix) and on 3 hosts joined by VXLAN (startup and felix alone), in the same run, each with the
// hand-routed floor of its own cluster.
func BenchmarkConvergenceVXLANvsBGP(b *testing.B) {
	for i := 0; i < b.N; i++ {
		c, nodes := startCluster(b, 3, benchPool)
		bgp, bgpFloor := addToPing(b, c, nodes, 30), handRoutedFloor(b, nodes)
		for _, n := range nodes {
			n.stop()
		}
		c.Close()

		needRoot(b)
		vc, err := harness.New(harness.Options{Hosts: 3})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(vc.Close)
		if out, err := calicoctl(b, vc, vc.Hosts[0], fmt.Sprintf(vxlanPool, "Always"), "create", "-f", "-"); err != nil {
			b.Fatalf("creating the VXLAN pool: %v\n%s", err, out)
		}
		var vnodes []*node
		b.Cleanup(func() {
			for _, n := range vnodes {
				n.stop()
			}
		})
		for _, h := range vc.Hosts {
			vnodes = append(vnodes, startVXLANNode(b, vc, h))
		}
		vxlan, vxlanFloor := addToPing(b, vc, vnodes, 30), handRoutedFloor(b, vnodes)

		b.ReportMetric(ms(pct(bgp, 50)), "bgp-add-to-ping-p50-ms")
		b.ReportMetric(ms(pct(bgp, 99)), "bgp-add-to-ping-p99-ms")
		b.ReportMetric(ms(pct(bgpFloor, 50)), "bgp-floor-p50-ms")
		b.ReportMetric(ms(pct(vxlan, 50)), "vxlan-add-to-ping-p50-ms")
		b.ReportMetric(ms(pct(vxlan, 99)), "vxlan-add-to-ping-p99-ms")
		b.ReportMetric(ms(pct(vxlanFloor, 50)), "vxlan-floor-p50-ms")
		b.ReportMetric(float64(pct(vxlan, 50))/float64(pct(bgp, 50)), "vxlan/bgp-p50-ratio")
		b.ReportMetric(float64(pct(vxlan, 50))/float64(pct(vxlanFloor, 50)), "vxlan/floor-p50-ratio")
	}
}

// blocksVia lists the BGP routes on n that go via gw.
func blocksVia(b *testing.B, n *node, gw string) []string {
	out, _ := n.h.Run("ip", "route", "show", "proto", "bird")
	var via []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "via "+gw+" ") {
			via = append(via, l)
		}
	}
	return via
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
