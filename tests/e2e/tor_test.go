package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// torAS is the top-of-rack router's own AS; the nodes are in the default 64512.
const torAS = 65001

// torPools: pods take addresses from tor-allowed; tor-filtered is disabled, so IPAM never hands out its addresses,
// but its CIDR is still one the nodes advertise, which is what the BGPFilter has to stop.
const torPools = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tor-allowed}
spec: {cidr: 10.212.0.0/16, blockSize: 26, ipipMode: Never}
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: tor-filtered}
spec: {cidr: 10.213.0.0/16, blockSize: 26, ipipMode: Never, disabled: true}
`

// A top-of-rack router outside the cluster, played by plain BIRD in a namespace of its own with a config written
// here, peers with the nodes through BGPPeers that use the peer options rendered into bird.cfg; every check is
// made from the router's side (its BIRD, its kernel, its pings), so what is tested is what a real ToR would see.
func TestTorPeering(t *testing.T) {
	c, nodes := startCluster(t, 3, torPools)
	h1, h2, h3 := nodes[0].h, nodes[1].h, nodes[2].h
	tor := &torRouter{h: c.External, nodes: nodes}
	var podBlock string // host1's block of tor-allowed, once the first case has added a pod

	t.Run("a BGPFilter keeps the filtered pool's blocks from the ToR, which routes to a pod of the allowed pool", func(t *testing.T) {
		// host1's peer has the filter; host2's has none and shows that the filtered routes would reach the ToR.
		peers(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPFilter
metadata: {name: no-tor-filtered}
spec:
  exportV4:
    - {action: Reject, matchOperator: In, cidr: 10.213.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-filtered-host1}
spec: {node: host1, peerIP: %[1]s, asNumber: %[2]d, filters: [no-tor-filtered]}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-plain-host2}
spec: {node: host2, peerIP: %[1]s, asNumber: %[2]d}
`, tor.h.IP, torAS), "tor-filtered-host1", "tor-plain-host2")
		tor.start(t, "", torSession{"host1", h1.IP, 64512, ""}, torSession{"host2", h2.IP, 64512, ""})

		p := addPod(t, c, nodes[0], "tor-pod")
		// The network's default profile admits only its own pods; the ToR is let in.
		apply(t, c, `apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: test-calico}
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
  labelsToApply: {test-calico: ""}
`)
		podBlock = netip.PrefixFrom(netip.MustParseAddr(p.ip), 26).Masked().String()
		// A block of the filtered pool on each host, as felix would hold it (but in a protocol felix leaves alone).
		filtered1, filtered2 := "10.213.1.0/26", "10.213.2.0/26"
		blackhole(t, h1, filtered1)
		blackhole(t, h2, filtered2)

		waitUntil(t, 60*time.Second, "the ToR learns the pod's block from host1 and both filtered-pool blocks from host2", func() (bool, string) {
			from1, from2 := tor.routes("host1"), tor.routes("host2")
			ok := hasRoute(from1, podBlock) && hasRoute(from2, filtered1) && hasRoute(from2, filtered2)
			return ok, "from host1:\n" + from1 + "from host2:\n" + from2
		})
		// host2 has passed host1's filtered block on, so host1 has had it to export for as long as the check runs.
		stays(t, 3*time.Second, "host1 advertises no block of the filtered pool to the ToR", func() (bool, string) {
			out := tor.routes("host1")
			return !strings.Contains(out, "10.213."), out
		})
		waitUntil(t, 10*time.Second, "the ToR's kernel routes the pod's block via host1", func() (bool, string) {
			out, _ := tor.h.Run("ip", "route", "show", podBlock)
			return strings.Contains(out, "via "+h1.IP.String()+" ") && strings.Contains(out, "proto bird"), out
		})
		waitUntil(t, 20*time.Second, "the ToR pings the pod "+p.ip, func() (bool, string) {
			out, err := tor.h.Run("ping", "-c1", "-W1", p.ip)
			return err == nil, out
		})
	})

	t.Run("localASNumber is the AS the ToR sees", func(t *testing.T) {
		peers(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-local-as}
spec: {node: host3, peerIP: %s, asNumber: %d, localASNumber: 65100}
`, tor.h.IP, torAS), "tor-local-as")
		// The ToR expects 65100 from host3: were host3 to present 64512, BIRD would refuse it ("Bad peer AS").
		tor.start(t, "", torSession{"host3", h3.IP, 65100, ""})
		neighborAS := regexp.MustCompile(`Neighbor AS:\s+65100\b`)
		waitUntil(t, 30*time.Second, "the ToR's session with host3 is Established with neighbor AS 65100", func() (bool, string) {
			out := tor.birdcl("show", "protocols", "all", "host3")
			return established(out) && neighborAS.MatchString(out), out
		})
	})

	t.Run("ttlSecurity 1 admits a ToR one hop away and refuses one two hops away", func(t *testing.T) {
		seg, err := c.AddSegment()
		if err != nil {
			t.Fatal(err)
		}
		farHost, err := c.AddHostOn(seg, "tor2")
		if err != nil {
			t.Fatal(err)
		}
		far := &torRouter{h: farHost, nodes: nodes}
		peers(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-ttl-near}
spec: {node: host1, peerIP: %s, asNumber: %d, ttlSecurity: 1}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-ttl-far}
spec: {node: host2, peerIP: %s, asNumber: %d, ttlSecurity: 1}
`, tor.h.IP, torAS, far.h.IP, torAS), "tor-ttl-near", "tor-ttl-far")
		// GTSM works only when both ends enable it: each sends with TTL 255 and accepts no less than 256 - hops.
		// The far ToR accepts two hops, so only host2's ttlSecurity 1 can refuse the session. It is passive, which
		// makes a half-open session rarer but not impossible: the ToR can reach Established while host2 stays in
		// OpenConfirm (host2 read the ToR's OPEN, likely before BIRD set the minimum TTL on its socket, and drops
		// what comes after). host2 never sends a route on such a session, so host2's side is what is checked.
		tor.start(t, "", torSession{"host1", h1.IP, 64512, "ttl security on;"})
		far.start(t, "", torSession{"host2", h2.IP, 64512, "multihop 2; ttl security on; passive on;"})

		waitUntil(t, 30*time.Second, "host1 and the ToR one hop away are Established", func() (bool, string) {
			torSide, nodeSide := tor.birdcl("show", "protocols", "host1"), nodeSession(nodes[0], tor.h.IP, 0)
			return established(torSide) && established(nodeSide), "ToR:\n" + torSide + "host1:\n" + nodeSide
		})
		stays(t, 15*time.Second, "host2's session to the ToR two hops away is not Established", func() (bool, string) {
			torSide, nodeSide := far.birdcl("show", "protocols", "host2"), nodeSession(nodes[1], far.h.IP, 0)
			return !established(nodeSide), "far ToR:\n" + torSide + "host2:\n" + nodeSide
		})
		// The path itself is fine: allowing two hops brings the session up. The far ToR is restarted too: it holds
		// the refused connection in OpenConfirm past host2's reconfiguration and turns host2's new connections
		// away ("Connection closed" on host2) until its hold timer ends.
		apply(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-ttl-far}
spec: {node: host2, peerIP: %s, asNumber: %d, ttlSecurity: 2}
`, far.h.IP, torAS))
		far.start(t, "", torSession{"host2", h2.IP, 64512, "multihop 2; ttl security on; passive on;"})
		waitUntil(t, 30*time.Second, "with ttlSecurity 2, host2 and the ToR two hops away are Established", func() (bool, string) {
			torSide, nodeSide := far.birdcl("show", "protocols", "host2"), nodeSession(nodes[1], far.h.IP, 0)
			return established(torSide) && established(nodeSide), "far ToR:\n" + torSide + "host2:\n" + nodeSide
		})
	})

	t.Run("peerIP with a port reaches a ToR listening on that port", func(t *testing.T) {
		peers(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-port}
spec: {node: host1, peerIP: "%s:1790", asNumber: %d}
`, tor.h.IP, torAS), "tor-port")
		// Passive: were the ToR to connect out (to host1's port 179), the session would come up whatever port
		// host1 dials.
		tor.start(t, "listen bgp port 1790;", torSession{"host1", h1.IP, 64512, "passive on;"})
		waitUntil(t, 30*time.Second, "host1's session to the ToR's port 1790 is Established", func() (bool, string) {
			torSide, nodeSide := tor.birdcl("show", "protocols", "host1"), nodeSession(nodes[0], tor.h.IP, 1790)
			return established(torSide) && established(nodeSide), "ToR:\n" + torSide + "host1:\n" + nodeSide
		})
		out, err := tor.h.Run("ss", "-Htn", "state", "established", "( sport = :1790 )")
		if err != nil || !strings.Contains(out, h1.IP.String()+":") {
			t.Errorf("the ToR should hold host1's connection on its port 1790: %v\n%s", err, out)
		}
	})

	t.Run("the ToR receives the pod's block with the configured communities from nodes listening on port 1791", func(t *testing.T) {
		if podBlock == "" {
			t.Skip("needs the pod of the first case")
		}
		// The ToR dials host1's port 1791; host1 dials the ToR's 179 too, so the session alone does not prove the
		// port: the listening sockets below do. The session comes up first, on host1's connection: it does not
		// change with the port, so it keeps BIRD's one listening socket in use, and only a restart of BIRD moves it.
		peers(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-communities}
spec: {node: host1, peerIP: %s, asNumber: %d}
`, tor.h.IP, torAS), "tor-communities")
		tor.start(t, "", torSession{"host1", h1.IP, 64512, "neighbor port 1791;"})
		waitUntil(t, 60*time.Second, "the ToR's session with host1 is Established", func() (bool, string) {
			out := tor.birdcl("show", "protocols", "host1")
			return established(out), out
		})
		apply(t, c, `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec:
  listenPort: 1791
  communities:
    - {name: rack, value: "100:6532"}
  prefixAdvertisements:
    - cidr: 10.212.0.0/16
      communities: [rack, "65001:10:20"]
`)
		t.Cleanup(func() {
			apply(t, c, `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {}
`)
		})
		// host1's session proves only host1's reload: each node's confd renders and reloads BIRD on its own time.
		for _, n := range nodes {
			waitUntil(t, 30*time.Second, n.h.Name+" listens on 1791 and no longer on 179", func() (bool, string) {
				on1791, err := n.h.Run("ss", "-Htln", "( sport = :1791 )")
				on179, _ := n.h.Run("ss", "-Htln", "( sport = :179 )")
				return err == nil && strings.Contains(on1791, ":1791") && strings.TrimSpace(on179) == "",
					fmt.Sprintf("on 1791 (%v):\n%s\non 179:\n%s", err, on1791, on179)
			})
		}
		// The mesh follows the port: every node's sessions to the others come back up on 1791.
		waitUntil(t, 60*time.Second, "the mesh is Established again on port 1791", func() (bool, string) {
			var all strings.Builder
			ok := true
			for _, n := range nodes {
				out := nodeBird(n, "show", "protocols")
				all.WriteString(n.h.Name + ":\n" + out)
				ok = ok && strings.Count(out, "Established") >= 2
			}
			return ok, all.String()
		})
		std := regexp.MustCompile(`BGP\.community:.*\(100,6532\)`)
		large := regexp.MustCompile(`BGP\.large_community:.*\(65001, 10, 20\)`)
		waitUntil(t, 30*time.Second, "the ToR holds "+podBlock+" from host1 with communities (100,6532) and (65001, 10, 20)", func() (bool, string) {
			out := tor.birdcl("show", "route", podBlock, "protocol", "host1", "all")
			return std.MatchString(out) && large.MatchString(out), out
		})
	})

	t.Run("keepOriginalNextHop on a route reflector gives the ToR the client's next hop", func(t *testing.T) {
		// host1 becomes the reflector of host2 and host3 (as in TestRouteReflectorReplacesTheMesh) and peers
		// with the ToR over eBGP, where next hop self is otherwise the rule.
		apply(t, c, fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: peer-with-reflectors}
spec:
  nodeSelector: all()
  peerSelector: route-reflector == "true"
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor-keep}
spec: {node: host1, peerIP: %s, asNumber: %d, keepOriginalNextHop: true}
`, tor.h.IP, torAS))
		makeRouteReflector(t, c, "host1")
		tor.start(t, "", torSession{"host1", h1.IP, 64512, ""})
		block2 := "10.212.250.0/26" // host2's, by hand: host2 has no pod
		if block2 == podBlock {
			block2 = "10.212.251.0/26"
		}
		blackhole(t, h2, block2)
		want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(block2) + `\s+via ` + regexp.QuoteMeta(h2.IP.String()) + ` `)
		waitUntil(t, 60*time.Second, "the ToR learns host2's block from the reflector host1 with next hop host2", func() (bool, string) {
			out := tor.routes("host1")
			return want.MatchString(out), "want a line matching " + want.String() + "\nfrom host1:\n" + out
		})
		waitUntil(t, 10*time.Second, "the ToR's kernel routes host2's block via host2", func() (bool, string) {
			out, _ := tor.h.Run("ip", "route", "show", block2)
			return strings.Contains(out, "via "+h2.IP.String()+" "), out
		})
	})
}

// torRouter is a router outside the cluster running plain BIRD in AS torAS with a config the test writes.
type torRouter struct {
	h     *harness.Host
	nodes []*node // whose rendered config a failure dumps

	bird    *exec.Cmd
	cfg     string
	starts  int    // BIRDs run so far, each logging to its own file
	logName string // the current BIRD's
	dumpFor *testing.T
}

// torSession is one `protocol bgp` of the router, named after the node it peers with.
type torSession struct {
	name  string
	ip    netip.Addr
	as    int    // the AS the node presents
	extra string // more options, such as "passive on;"
}

func (r *torRouter) sock() string { return filepath.Join(r.h.Dir, "bird.ctl") }

// start writes the router's bird.cfg (global lines, such as "listen bgp port 1790;", then one protocol per
// session) and runs BIRD with it, instead of any BIRD it ran before, until t ends. The router learns and installs
// what the nodes advertise (so it forwards to pods) and advertises nothing back.
func (r *torRouter) start(t *testing.T, global string, sessions ...torSession) {
	t.Helper()
	harness.Stop(r.bird)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `router id %s;
log stderr all;
%s
protocol device { scan time 2; }
protocol kernel {
  scan time 2;
  import none;
  export all;
}
template bgp node {
  local as %d;
  import all;
  export none;
  connect delay time 1;
  connect retry time 3;
  error wait time 1,5;
}
`, r.h.IP, global, torAS)
	for _, s := range sessions {
		fmt.Fprintf(&cfg, "protocol bgp %s from node {\n  neighbor %s as %d;\n  %s\n}\n", s.name, s.ip, s.as, s.extra)
	}
	r.cfg = cfg.String()
	path := filepath.Join(r.h.Dir, "bird.cfg")
	if err := os.WriteFile(path, []byte(r.cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bird", "-p", "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("the ToR's own config does not parse: %v\n%s\n%s", err, out, r.cfg)
	}
	r.starts++
	r.logName = fmt.Sprintf("tor-bird-%d", r.starts)
	cmd, err := r.h.Start(nil, r.logName, "bird", "-f", "-c", path, "-s", r.sock(), "-P", filepath.Join(r.h.Dir, "bird.pid"))
	if err != nil {
		t.Fatal(err)
	}
	r.bird = cmd
	t.Cleanup(func() { harness.Stop(cmd) })
	if r.dumpFor != t {
		r.dumpFor = t
		// Registered after the stop, so it runs first, while the router's BIRD still answers.
		t.Cleanup(func() { r.dumpIfFailed(t) })
	}
	waitUntil(t, 10*time.Second, "the ToR's BIRD answers on "+r.sock(), func() (bool, string) {
		out, err := exec.Command(filepath.Join(binDir, "birdcl"), "-s", r.sock(), "show", "status").CombinedOutput()
		return err == nil, string(out) + tail(filepath.Join(r.h.Dir, r.logName+".log"))
	})
}

// dumpIfFailed logs, when t has failed, what the router and the nodes make of their sessions.
func (r *torRouter) dumpIfFailed(t *testing.T) {
	if !t.Failed() {
		return
	}
	routes, _ := r.h.Run("ip", "route")
	t.Logf("==== ToR %s (%s)\n-- bird.cfg\n%s\n-- show protocols all\n%s\n-- show route\n%s\n-- kernel routes\n%s\n-- BIRD log\n%s",
		r.h.Name, r.h.IP, r.cfg, r.birdcl("show", "protocols", "all"), r.birdcl("show", "route"), routes,
		tail(filepath.Join(r.h.Dir, r.logName+".log")))
	for _, n := range r.nodes {
		b, _ := os.ReadFile(filepath.Join(n.h.Dir, "config", "bird.cfg"))
		t.Logf("==== %s: rendered bird.cfg\n%s\n-- show protocols\n%s", n.h.Name, b, nodeBird(n, "show", "protocols"))
	}
}

// birdcl runs a command on the router's BIRD and returns its reply (or the error).
func (r *torRouter) birdcl(args ...string) string {
	out, err := exec.Command(filepath.Join(binDir, "birdcl"), append([]string{"-s", r.sock()}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("birdcl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// routes are the routes the router holds from one of its sessions, best or not.
func (r *torRouter) routes(session string) string {
	return r.birdcl("show", "route", "protocol", session)
}

// nodeBird runs a command on a node's BIRD.
func nodeBird(n *node, args ...string) string {
	out, _ := exec.Command(filepath.Join(binDir, "birdcl"), append([]string{"-s", filepath.Join(n.h.Dir, "bird.ctl")}, args...)...).CombinedOutput()
	return string(out)
}

// nodeSession is the line of a node's `show protocols` for its node-specific session to ip (and port, 0 for 179).
func nodeSession(n *node, ip netip.Addr, port int) string {
	name := "Node_" + strings.ReplaceAll(ip.String(), ".", "_")
	if port != 0 {
		name += fmt.Sprintf("_port_%d", port)
	}
	for _, l := range strings.Split(nodeBird(n, "show", "protocols"), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l + "\n"
		}
	}
	return "(no protocol " + name + ")\n"
}

func established(birdOutput string) bool { return strings.Contains(birdOutput, "Established") }

// hasRoute says whether `show route` output has a line for prefix.
func hasRoute(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return true
		}
	}
	return false
}

// peers applies BGPPeers (and what else yaml holds) and deletes the named peers when t ends.
func peers(t *testing.T, c *harness.Cluster, yaml string, names ...string) {
	t.Helper()
	apply(t, c, yaml)
	t.Cleanup(func() {
		for _, name := range names {
			deleteOn(t, c, c.Hosts[0], "bgppeer", name)
		}
	})
}

// blackhole adds a blackhole for a block in a protocol felix does not manage (felix owns proto 80), so that BIRD
// learns it from the kernel and advertises it as it would a block of the host's.
func blackhole(t *testing.T, h *harness.Host, block string) {
	t.Helper()
	if out, err := h.Run("ip", "route", "replace", "blackhole", block, "proto", "static"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// stays polls cond for d and fails the test the first time it does not hold.
func stays(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	for start := time.Now(); time.Since(start) < d; time.Sleep(200 * time.Millisecond) {
		if ok, last := cond(); !ok {
			t.Fatalf("%s held for only %s; then:\n%s", what, time.Since(start).Round(time.Millisecond), last)
		}
	}
}
