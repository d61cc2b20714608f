package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// Host endpoint protection, end to end: host1's eth0 becomes a HostEndpoint and real iptables in its namespace must
// then police traffic to and from host1 as Calico does (failsafe ports first, pre-DNAT in mangle, untracked in raw,
// applyOnForward for forwarded traffic), while leaving alone what it must not touch: BGP, etcd, traffic forwarded
// to pods, and the rule that pods do not reach their host.
//
// Three machines: host1 and host2 run Calico on the cluster subnet; "outside" runs nothing of Calico and sits on
// another subnet behind a router, so that a policy can tell it from the cluster subnet by source address.
func TestHostProtection(t *testing.T) {
	needRoot(t)
	c, err := harness.New(harness.Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// Added before any daemon starts so that both hosts get a route to the segment (AddSegment routes existing hosts).
	seg, err := c.AddSegment()
	if err != nil {
		t.Fatal(err)
	}
	outside, err := c.AddHostOn(seg, "outside")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := calicoctl(t, c, c.Hosts[0], `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.206.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, h := range c.Hosts[:2] { // c.Hosts[2] is outside
		// Startup writes defaultEndpointToHostAction Return into node.<host> (as Calico's does), which hands pod
		// traffic to the host's own INPUT rules; Drop makes "pods do not reach their host" something the failsafe
		// ports could break.
		n := startNode(t, c, h, "FELIX_DEFAULTENDPOINTTOHOSTACTION=Drop")
		n.startFelix(t)
		nodes = append(nodes, n)
	}
	// Each step dumps host1 when it fails; this dump is for a failure while the cluster comes up.
	setupDone := false
	dumpOnFailure(setupOnly{t, &setupDone}, nodes)
	n1, n2 := nodes[0], nodes[1]
	h1, h2 := n1.h, n2.h
	host1 := h1.IP.String()
	waitUntil(t, 60*time.Second, "the BGP session host1-host2 is Established", func() (bool, string) {
		return bgpEstablished(t, c, nodes)
	})

	p1 := addPod(t, c, n1, "hp1")
	p2 := addPod(t, c, n2, "hp2")
	p1.serve(t, 8080)
	for _, port := range []int{10250, 22, 7777, 8080} {
		serveOnHost(t, h1, port)
	}
	serveOnHost(t, h2, 10250) // lets a pod on host1 show that it can reach a host at all
	// kube-proxy's part, by hand: host1:30080 is DNATed to the pod on host1.
	nodePort := func(op string) (string, error) {
		return h1.Run("iptables", "-t", "nat", op, "PREROUTING", "-p", "tcp", "--dport", "30080", "-j", "DNAT",
			"--to-destination", p1.ip+":8080")
	}
	if out, err := nodePort("-A"); err != nil {
		t.Fatalf("adding the DNAT rule: %v\n%s", err, out)
	}
	t.Cleanup(func() { nodePort("-D") })
	setupDone = true

	// Every expectation below is a probe with the answer it must give; expect polls until all of them give it at
	// once. A connection that is dropped takes the probe's one-second timeout.
	reach := func(from *harness.Host, ip string, port int, want bool) probe {
		return probe{fmt.Sprintf("%s → %s:%d TCP", from.Name, ip, port), want, func() bool { return hostConnects(from, ip, port) }}
	}
	podReach := func(from *pod, ip string, port int, want bool) probe {
		return probe{fmt.Sprintf("pod %s → %s:%d TCP", from.name, ip, port), want, func() bool { return from.canConnect(ip, port) }}
	}
	podPing := func(from *pod, ip string, want bool) probe {
		return probe{fmt.Sprintf("pod %s → %s ping", from.name, ip), want, func() bool { return from.canPing(ip) }}
	}
	hostPing := func(from *harness.Host, ip string, want bool) probe {
		return probe{fmt.Sprintf("%s → %s ping", from.Name, ip), want, func() bool {
			_, err := from.Run("ping", "-c1", "-W1", ip)
			return err == nil
		}}
	}
	podsTalk := []probe{podPing(p1, p2.ip, true), podPing(p2, p1.ip, true), podReach(p2, p1.ip, 8080, true)}

	const (
		hep = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: host1-eth0, labels: {role: k8s-worker}}
spec: {node: host1, interfaceName: eth0, expectedIPs: [%s]}
`
		allowToPods = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-to-pods}
spec:
  order: 100
  selector: has(test-calico)
  types: [Ingress]
  ingress: [{action: Allow}]
`
	)

	t.Run("before any host endpoint, host1 is open to all and its pod does not reach it", func(t *testing.T) {
		dumpOnFailure(t, nodes[:1])
		expect(t, 30*time.Second, "host1 is reachable on every port from host2 and outside",
			append([]probe{
				reach(h2, host1, 10250, true), reach(h2, host1, 8080, true), reach(h2, host1, 22, true),
				reach(outside, host1, 10250, true), reach(outside, host1, 8080, true), reach(outside, host1, 22, true),
				reach(h2, host1, 7777, true),
				// DefaultEndpointToHostAction Drop, with or without host endpoints; host2 shows the pod can connect.
				podReach(p1, host1, 22, false), podReach(p1, host1, 10250, false), podReach(p1, h2.IP.String(), 10250, true),
			}, podsTalk...)...)
	})

	t.Run("step 1: a host endpoint with an ingress policy closes host1 but for the policy and failsafe ports", func(t *testing.T) {
		dumpOnFailure(t, nodes[:1])
		applyOn(t, c, h2, fmt.Sprintf(hep, host1)+`---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: workers-ingress}
spec:
  order: 10
  selector: role == "k8s-worker"
  ingress:
  - action: Allow
    protocol: TCP
    source: {nets: [`+c.Subnet.String()+`]}
    destination: {ports: [10250]}
`)
		expect(t, 30*time.Second, "only the cluster subnet reaches 10250, everyone reaches failsafe 22, nobody 8080",
			append([]probe{
				reach(h2, host1, 10250, true), reach(outside, host1, 10250, false),
				reach(h2, host1, 8080, false), reach(outside, host1, 8080, false),
				reach(h2, host1, 22, true), reach(outside, host1, 22, true),
				// Failsafe ports are for the host's neighbours, never for its own workloads (a past bug).
				podReach(p1, host1, 22, false), podReach(p1, host1, 10250, false), podReach(p1, h2.IP.String(), 10250, true),
			}, podsTalk...)...)
		filter, _ := h1.Run("iptables-save", "-t", "filter")
		for _, chain := range []string{"cali-fh-eth0", "cali-th-eth0"} {
			if !strings.Contains(filter, ":"+chain+" ") {
				t.Errorf("host1's filter table has no %s chain", chain)
			}
		}
		// Both ends of BGP and etcd must get through on fresh connections, not only on flows that predate the
		// host endpoint: bounce the session and open a new etcd connection from host1.
		bounceBGP(t, c, nodes)
		etcdFromHost1(t, c, h1)
	})

	t.Run("calicoctl get hostendpoints -o wide", func(t *testing.T) {
		out, err := calicoctl(t, c, h2, "", "get", "hostendpoints", "-o", "wide")
		if err != nil {
			t.Fatalf("calicoctl get hostendpoints -o wide: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME NODE INTERFACE IPS PROFILES" {
			t.Errorf("header: want columns NAME NODE INTERFACE IPS PROFILES, got %q", lines[0])
		}
		var row []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "host1-eth0" {
				row = f
			}
		}
		if strings.Join(row, " ") != "host1-eth0 host1 eth0 "+host1 {
			t.Errorf("want a row host1-eth0 host1 eth0 %s (no profiles), got:\n%s", host1, out)
		}
	})

	t.Run("step 2: a deny-all host policy leaves failsafe ports, BGP, etcd and pod traffic alone", func(t *testing.T) {
		t.Cleanup(func() { deleteOn(t, c, h2, "globalnetworkpolicy", "deny-all-hosts") })
		dumpOnFailure(t, nodes[:1])
		applyOn(t, c, h2, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all-hosts}
spec:
  order: 1
  selector: role == "k8s-worker"
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
`)
		expect(t, 30*time.Second, "10250 closes, failsafe 22 stays open, pods still talk",
			append([]probe{reach(h2, host1, 10250, false), reach(h2, host1, 22, true), reach(outside, host1, 22, true)},
				podsTalk...)...)
		bounceBGP(t, c, nodes)
		etcdFromHost1(t, c, h1)
		deleteOn(t, c, h2, "globalnetworkpolicy", "deny-all-hosts")
		expect(t, 30*time.Second, "with deny-all deleted, host2 reaches 10250 again", reach(h2, host1, 10250, true))
	})

	t.Run("step 3: a pre-DNAT policy denies outside a node port that host2 still reaches", func(t *testing.T) {
		t.Cleanup(func() { deleteOn(t, c, h2, "globalnetworkpolicy", "prednat-deny-outside") })
		dumpOnFailure(t, nodes[:1])
		applyOn(t, c, h2, allowToPods)
		// Forwarded to a pod, the node port is not subject to host1's normal host endpoint policy (which allows
		// only 10250), so both reach it until the pre-DNAT policy says otherwise.
		expect(t, 30*time.Second, "host2 and outside reach the pod through host1:30080",
			reach(h2, host1, 30080, true), reach(outside, host1, 30080, true))
		applyOn(t, c, h2, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: prednat-deny-outside}
spec:
  order: 5
  selector: role == "k8s-worker"
  preDNAT: true
  applyOnForward: true
  ingress:
  - action: Deny
    protocol: TCP
    source: {nets: [%s/32]}
    destination: {ports: [30080]}
`, outside.IP))
		// Traffic the pre-DNAT policy does not match goes on as before: pods across hosts, failsafe 22.
		expect(t, 30*time.Second, "outside is denied host1:30080 before DNAT, host2 is not",
			append([]probe{reach(outside, host1, 30080, false), reach(h2, host1, 30080, true), reach(outside, host1, 22, true)},
				podsTalk...)...)
		mangle, _ := h1.Run("iptables-save", "-t", "mangle")
		if !strings.Contains(mangle, "prednat-deny-outside") {
			t.Errorf("the pre-DNAT policy should be in host1's mangle table:\n%s", mangle)
		}
	})

	t.Run("step 3b: a pre-DNAT Allow skips normal applyOnForward policy", func(t *testing.T) {
		t.Cleanup(func() {
			deleteOn(t, c, h2, "globalnetworkpolicy", "prednat-allow-outside")
			deleteOn(t, c, h2, "globalnetworkpolicy", "forward-deny-outside")
		})
		dumpOnFailure(t, nodes[:1])
		applyOn(t, c, h2, allowToPods)
		applyOn(t, c, h2, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: forward-deny-outside}
spec:
  order: 20
  selector: role == "k8s-worker"
  applyOnForward: true
  ingress: [{action: Deny, source: {nets: [%s/32]}}, {action: Allow}]
`, outside.IP))
		expect(t, 30*time.Second, "a normal applyOnForward Deny stops outside's node-port traffic to the pod, not host2's",
			reach(outside, host1, 30080, false), reach(h2, host1, 30080, true), reach(outside, host1, 22, true))
		// As in Calico, a packet accepted before DNAT keeps its accept mark into filter FORWARD, which then skips
		// the incoming host endpoint's forward policy; workload policy (allow-to-pods) still applies.
		applyOn(t, c, h2, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: prednat-allow-outside}
spec:
  order: 5
  selector: role == "k8s-worker"
  preDNAT: true
  applyOnForward: true
  ingress: [{action: Allow, protocol: TCP, source: {nets: [%s/32]}, destination: {ports: [30080]}}]
`, outside.IP))
		expect(t, 30*time.Second, "outside reaches the pod through host1:30080 past the normal Deny",
			reach(outside, host1, 30080, true), reach(h2, host1, 30080, true))
	})

	t.Run("step 4: a doNotTrack policy opens 7777 without conntrack entries", func(t *testing.T) {
		t.Cleanup(func() { deleteOn(t, c, h2, "globalnetworkpolicy", "untracked-7777") })
		dumpOnFailure(t, nodes[:1])
		expect(t, 30*time.Second, "7777 is closed by the host endpoint until the untracked policy opens it",
			reach(h2, host1, 7777, false), reach(h2, host1, 10250, true))
		applyOn(t, c, h2, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: untracked-7777}
spec:
  order: 5
  selector: role == "k8s-worker"
  doNotTrack: true
  applyOnForward: true
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [7777]}}]
  egress: [{action: Allow, protocol: TCP, source: {ports: [7777]}}]
`)
		expect(t, 30*time.Second, "host2 reaches host1:7777; forwarded pod traffic the policy does not match still flows",
			append([]probe{reach(h2, host1, 7777, true)}, podsTalk...)...)
		h1.Run("conntrack", "-D", "-p", "tcp", "--orig-port-dst", "7777") // whatever an attempt before the policy left
		h1.Run("conntrack", "-D", "-p", "tcp", "--orig-port-src", "7777")
		if !hostConnects(h2, host1, 7777) {
			t.Fatalf("host2 → host1:7777 stopped working")
		}
		// Neither the incoming SYN (orig dport 7777) nor host1's answer (orig sport 7777) may be tracked.
		if ct := conntrackList(t, h1, "--orig-port-dst", "7777") + conntrackList(t, h1, "--orig-port-src", "7777"); ct != "" {
			t.Errorf("an untracked connection to host1:7777 left conntrack entries on host1:\n%s", ct)
		}
		if !hostConnects(h2, host1, 10250) {
			t.Fatalf("host2 → host1:10250 stopped working")
		}
		if ct := conntrackList(t, h1, "--orig-port-dst", "10250"); ct == "" {
			t.Errorf("a tracked connection to host1:10250 should leave a conntrack entry on host1 (else the 7777 check proves nothing)")
		}
		raw, _ := h1.Run("iptables-save", "-t", "raw")
		if !strings.Contains(raw, "untracked-7777") {
			t.Errorf("the untracked policy should be in host1's raw table:\n%s", raw)
		}
	})

	t.Run("step 5: an applyOnForward policy polices traffic forwarded through host1 to its pod", func(t *testing.T) {
		t.Cleanup(func() { deleteOn(t, c, h2, "globalnetworkpolicy", "forward-deny-host2") })
		dumpOnFailure(t, nodes[:1])
		applyOn(t, c, h2, allowToPods)
		// host2 itself (not its pod) reaches the pod on host1, through host1, by the route BGP gave it.
		expect(t, 30*time.Second, "host2 and its pod reach the pod on host1; host2 does not reach host1:8080",
			reach(h2, p1.ip, 8080, true), hostPing(h2, p1.ip, true), podReach(p2, p1.ip, 8080, true),
			reach(h2, host1, 8080, false))
		applyOn(t, c, h2, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: forward-deny-host2}
spec:
  order: 5
  selector: role == "k8s-worker"
  applyOnForward: true
  ingress:
  - action: Deny
    source: {nets: [%s/32]}
    destination: {nets: [%s/32]}
  - action: Allow
`, h2.IP, p1.ip))
		expect(t, 30*time.Second, "host2 is denied the pod on host1, host2's pod is not; the Allow opens host1 itself",
			reach(h2, p1.ip, 8080, false), hostPing(h2, p1.ip, false), podReach(p2, p1.ip, 8080, true),
			podPing(p2, p1.ip, true), reach(h2, host1, 8080, true),
			// No applyOnForward policy has egress rules: traffic forwarded out of eth0 is not policed.
			podPing(p1, p2.ip, true), podReach(p1, h2.IP.String(), 10250, true))
		deleteOn(t, c, h2, "globalnetworkpolicy", "forward-deny-host2")
		expect(t, 30*time.Second, "with the policy deleted, host2 reaches the pod again and host1:8080 closes",
			reach(h2, p1.ip, 8080, true), reach(h2, host1, 8080, false))
	})

	t.Run("step 6: deleting the host endpoint opens host1 again", func(t *testing.T) {
		dumpOnFailure(t, nodes[:1])
		deleteOn(t, c, h2, "hostendpoint", "host1-eth0")
		expect(t, 30*time.Second, "outside and host2 reach 8080 and 10250 again",
			reach(outside, host1, 8080, true), reach(outside, host1, 10250, true), reach(h2, host1, 8080, true),
			reach(h2, host1, 7777, true))
		filter, _ := h1.Run("iptables-save", "-t", "filter")
		if strings.Contains(filter, "cali-fh-eth0") || strings.Contains(filter, "cali-th-eth0") {
			t.Errorf("host1 keeps host endpoint chains after the endpoint was deleted:\n%s", filter)
		}
	})
}

// setupOnly reports a failure only until done is set, so that a dump registered during setup does not repeat what
// each step dumps itself.
type setupOnly struct {
	testing.TB
	done *bool
}

func (s setupOnly) Failed() bool { return !*s.done && s.TB.Failed() }

// probe is one expectation: try answers it, want is the answer it must give.
type probe struct {
	name string
	want bool
	try  func() bool
}

// expect waits until every probe gives its wanted answer in the same round.
func expect(t *testing.T, limit time.Duration, what string, probes ...probe) {
	t.Helper()
	waitUntil(t, limit, what, func() (bool, string) {
		var bad []string
		for _, p := range probes {
			if got := p.try(); got != p.want {
				bad = append(bad, fmt.Sprintf("%s: got %t, want %t", p.name, got, p.want))
			}
		}
		return len(bad) == 0, strings.Join(bad, "\n")
	})
}

// serveOnHost runs a TCP server in a host's own namespace (the test binary, re-executed) and waits until it listens.
func serveOnHost(t *testing.T, h *harness.Host, port int) {
	t.Helper()
	cmd, err := h.Start([]string{fmt.Sprintf("E2E_TCP_SERVE=0.0.0.0:%d", port)}, fmt.Sprintf("serve-%d", port), os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.Stop(cmd) })
	waitUntil(t, 10*time.Second, fmt.Sprintf("%s listens on %d", h.Name, port), func() (bool, string) {
		return hostConnects(h, "127.0.0.1", port), tail(filepath.Join(h.Dir, fmt.Sprintf("serve-%d.log", port)))
	})
}

// hostConnects says whether a TCP connection from a host's own namespace to ip:port gets the server's answer.
func hostConnects(h *harness.Host, ip string, port int) bool {
	return h.Command([]string{fmt.Sprintf("E2E_TCP_CONNECT=%s:%d", ip, port)}, os.Args[0]).Run() == nil
}

func applyOn(t *testing.T, c *harness.Cluster, h *harness.Host, yaml string) {
	t.Helper()
	if out, err := calicoctl(t, c, h, yaml, "apply", "-f", "-"); err != nil {
		t.Fatalf("calicoctl apply on %s: %v\n%s", h.Name, err, out)
	}
}

func deleteOn(t *testing.T, c *harness.Cluster, h *harness.Host, kind, name string) {
	t.Helper()
	out, err := calicoctl(t, c, h, "", "delete", kind, name)
	if err != nil && !strings.Contains(out, "not found") && !strings.Contains(out, "does not exist") {
		t.Errorf("calicoctl delete %s %s: %v\n%s", kind, name, err, out)
	}
}

// bgpEstablished says whether every node shows its one peer Established.
func bgpEstablished(t *testing.T, c *harness.Cluster, nodes []*node) (bool, string) {
	var all strings.Builder
	ok := true
	for _, n := range nodes {
		out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
		fmt.Fprintf(&all, "%s:\n%s", n.h.Name, out)
		ok = ok && strings.Count(out, "Established") == len(nodes)-1
	}
	return ok, all.String()
}

// bounceBGP disables host1's session to host2 until host2 sees it down, then enables it again: re-establishing it
// takes a new TCP connection on port 179 through host1's host endpoint.
func bounceBGP(t *testing.T, c *harness.Cluster, nodes []*node) {
	t.Helper()
	n1, n2 := nodes[0], nodes[1]
	proto := "Mesh_" + strings.ReplaceAll(n2.h.IP.String(), ".", "_")
	birdcl := func(cmd string) {
		t.Helper()
		if out, err := n1.h.Run(filepath.Join(binDir, "birdcl"), "-s", filepath.Join(n1.h.Dir, "bird.ctl"), cmd, proto); err != nil {
			t.Fatalf("birdcl %s %s: %v\n%s", cmd, proto, err, out)
		}
	}
	birdcl("disable")
	waitUntil(t, 20*time.Second, "host2 sees the session to host1 go down", func() (bool, string) {
		out, _ := calicoctl(t, c, n2.h, "", "node", "status", "--bird-socket-dir", n2.h.Dir)
		return !strings.Contains(out, "Established"), out
	})
	birdcl("enable")
	took := waitUntil(t, 30*time.Second, "the BGP session host1-host2 is Established again through the host endpoint",
		func() (bool, string) { return bgpEstablished(t, c, nodes) })
	t.Logf("BGP re-established %s after the session was enabled again", took.Round(time.Millisecond))
}

// etcdFromHost1 runs calicoctl in host1's namespace: a new connection to etcd that host1's policy must let out.
func etcdFromHost1(t *testing.T, c *harness.Cluster, h1 *harness.Host) {
	t.Helper()
	if out, err := calicoctl(t, c, h1, "", "get", "hostendpoints"); err != nil || !strings.Contains(out, "host1-eth0") {
		t.Errorf("host1 should reach etcd (failsafe outbound tcp 2379): %v\n%s", err, out)
	}
}

// conntrackList returns the conntrack entries in a host's namespace that match the filter (stdout only; the
// summary goes to stderr).
func conntrackList(t *testing.T, h *harness.Host, filter ...string) string {
	t.Helper()
	cmd := h.Command(nil, "conntrack", append([]string{"-L", "-p", "tcp"}, filter...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("conntrack -L on %s: %v\n%s", h.Name, err, stderr.String())
		}
	}
	return strings.TrimSpace(string(out))
}
