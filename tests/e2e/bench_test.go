package e2e

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
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

func benchConvergence(b *testing.B, hosts int) {
	c, nodes := startCluster(b, hosts, benchPool)
	prober := addPod(b, c, nodes[1], "probe")
	fastPing := func(args ...string) bool {
		return exec.Command("ip", append([]string{"netns", "exec"}, args...)...).Run() == nil
	}
	var addToPing []time.Duration
	for i := 0; i < 50; i++ {
		owner := nodes[(i%(hosts-1)+2)%hosts] // every host but the prober's
		start := time.Now()
		p := addPod(b, c, owner, fmt.Sprintf("b%d", i))
		for !fastPing(prober.netns, "ping", "-c1", "-W0.05", p.ip) {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("pod %s (%s on %s) unreachable from the prober after 30s", p.name, p.ip, owner.h.Name)
			}
		}
		addToPing = append(addToPing, time.Since(start))
	}

	// The floor: a route written by hand on the prober's host to an address on another host.
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
