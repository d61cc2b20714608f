package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

const natPool = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.202.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`

// lossDuring pings from a pod while fn runs and returns the number of lost packets out of those sent.
func lossDuring(t *testing.T, from *pod, to string, fn func()) (lost, sent int, out string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", from.netns, "ping", "-i", "0.05", "-W", "1", to)
	var buf strings.Builder
	cmd.Stdout = &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	fn()
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(interrupt)
	cmd.Wait()
	out = buf.String()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary:\n%s", out)
	}
	fmt.Sscan(m[1], &sent)
	var got int
	fmt.Sscan(m[2], &got)
	return sent - got, sent, out
}

func TestFelixProgramsAndHealsTheDataplane(t *testing.T) {
	// A short refresh interval so that drift repair shows within the test.
	c, nodes := startCluster(t, 2, natPool, "FELIX_IPTABLESREFRESHINTERVAL=2", "FELIX_ROUTEREFRESHINTERVAL=1",
		"FELIX_PROMETHEUSMETRICSENABLED=true")
	a := addPod(t, c, nodes[0], "fa")
	b := addPod(t, c, nodes[1], "fb")
	b.serve(t, 8080)
	waitUntil(t, 30*time.Second, "fa reaches fb by ping and TCP", func() (bool, string) {
		return a.canPing(b.ip) && a.canConnect(b.ip, 8080), ""
	})

	t.Run("health and metrics endpoints answer", func(t *testing.T) {
		get := func(url string) string {
			cmd := nodes[0].h.Command([]string{"E2E_HTTP_GET=" + url}, os.Args[0])
			out, _ := cmd.CombinedOutput()
			return string(out)
		}
		if out := get("http://localhost:9099/readiness"); !strings.HasPrefix(out, "204") {
			t.Errorf("readiness: %q", out)
		}
		if out := get("http://localhost:9099/liveness"); !strings.HasPrefix(out, "204") {
			t.Errorf("liveness: %q", out)
		}
		if out := get("http://localhost:9091/metrics"); !strings.HasPrefix(out, "200") || !strings.Contains(out, "felix_iptables_restore_calls_total") {
			t.Errorf("metrics: %q", out)
		}
	})

	t.Run("NAT outgoing: a pod reaches a machine outside the cluster that has no route back to pods", func(t *testing.T) {
		out, _ := c.External.Run("ip", "route")
		if strings.Contains(out, "10.202.") {
			t.Fatalf("the external machine must not route to the pool:\n%s", out)
		}
		if out, err := a.run("ping", "-c1", "-W2", c.External.IP.String()); err != nil {
			t.Errorf("pod to external machine: %v\n%s", err, out)
		}
		ct, _ := nodes[0].h.Run("conntrack", "-L", "-p", "icmp")
		if ct != "" && !strings.Contains(ct, "dst="+nodes[0].h.IP.String()) {
			t.Logf("conntrack on host1 (reply direction should go to host1's address):\n%s", ct)
		}
	})

	t.Run("a rule deleted by hand is restored by the next resync", func(t *testing.T) {
		rules, _ := nodes[1].h.Run("iptables", "-S", "cali-FORWARD")
		var victim string
		for _, l := range strings.Split(rules, "\n") {
			if strings.Contains(l, "cali-to-wl-dispatch") {
				victim = strings.TrimPrefix(l, "-A ")
			}
		}
		if victim == "" {
			t.Fatalf("no dispatch rule in cali-FORWARD:\n%s", rules)
		}
		if out, err := nodes[1].h.Run("sh", "-c", "iptables -D "+victim); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		took := waitUntil(t, 15*time.Second, "felix restores the deleted rule", func() (bool, string) {
			out, _ := nodes[1].h.Run("iptables", "-S", "cali-FORWARD")
			return strings.Contains(out, "cali-to-wl-dispatch"), out
		})
		t.Logf("restored %s after the deletion", took.Round(time.Millisecond))
		if !a.canConnect(b.ip, 8080) {
			t.Errorf("traffic should flow again after the repair")
		}
	})

	t.Run("a pod route deleted by hand is restored", func(t *testing.T) {
		if out, err := nodes[1].h.Run("ip", "route", "del", b.ip); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		took := waitUntil(t, 15*time.Second, "felix restores the pod's /32", func() (bool, string) {
			out, _ := nodes[1].h.Run("ip", "route", "show", b.ip)
			return strings.Contains(out, "dev cali"), out
		})
		t.Logf("route restored %s after the deletion", took.Round(time.Millisecond))
	})

	t.Run("restarting felix loses no packet", func(t *testing.T) {
		lost, sent, out := lossDuring(t, a, b.ip, func() {
			harness.Stop(nodes[1].felix)
			time.Sleep(300 * time.Millisecond)
			nodes[1].startFelix(t)
			time.Sleep(2 * time.Second) // the new felix adopts the dataplane the old one left
		})
		if lost != 0 {
			t.Errorf("lost %d of %d packets across a felix restart:\n%s", lost, sent, out)
		}
		t.Logf("%d packets, none lost, across a felix restart", sent)
	})

	t.Run("traffic keeps flowing while etcd is down", func(t *testing.T) {
		lost, sent, out := lossDuring(t, a, b.ip, func() {
			c.StopEtcd()
			time.Sleep(3 * time.Second) // longer than a resync interval: felix must not flush anything
			if err := c.StartEtcd(); err != nil {
				t.Fatal(err)
			}
		})
		if lost != 0 {
			t.Errorf("lost %d of %d packets while etcd was down:\n%s", lost, sent, out)
		}
		if !a.canConnect(b.ip, 8080) {
			t.Errorf("TCP should still work after etcd returns")
		}
	})

	t.Run("a deleted pod's route and chains go, and its address is reusable", func(t *testing.T) {
		ip := b.ip
		cmd := nodes[1].h.Command([]string{"CNI_PATH=" + binDir, "NETCONFPATH=" + nodes[1].h.Dir + "/net.d", "CNI_CACHE_DIR=" + nodes[1].h.Dir + "/cni-cache"},
			cnitoolPath(t), "del", network, "/var/run/netns/"+b.netns)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cnitool del: %v\n%s", err, out)
		}
		waitUntil(t, 15*time.Second, "host2 drops the pod's /32 and its chains", func() (bool, string) {
			routes, _ := nodes[1].h.Run("ip", "route")
			ipt, _ := nodes[1].h.Run("iptables-save", "-t", "filter")
			return !strings.Contains(routes, ip+" dev cali") && !strings.Contains(ipt, "cali-tw-cali"), routes + ipt
		})
		if out, _ := calicoctl(t, c, nodes[1].h, "", "ipam", "show", "--ip="+ip); !strings.Contains(out, "is not assigned") {
			t.Errorf("the deleted pod's address should be free again: %s", out)
		}
		again := addPod(t, c, nodes[1], "fb2")
		if again.ip != ip {
			t.Logf("the new pod got %s (the freed %s is reusable but IPAM hands out addresses in FIFO order)", again.ip, ip)
		}
		waitUntil(t, 30*time.Second, "fa reaches the new pod", func() (bool, string) { return a.canPing(again.ip), "" })
	})
}
