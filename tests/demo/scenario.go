package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// config is what `demo up` needs to know.
type config struct {
	RepoRoot    string // runit/, templates/, conf.d/
	BinDir      string // calico-node, calicoctl, birdcl, calico
	CNITool     string
	StatePath   string
	Hosts       int
	PodsPerHost int
	Out         io.Writer
	Bound       time.Duration // the longest any one step may take
}

const (
	network  = "demo" // the CNI network, and so the pods' profile
	poolCIDR = "10.65.0.0/16"
)

// demo is a cluster brought up by up.
type demo struct {
	cfg   config
	c     *harness.Cluster
	nodes []*harness.Node
	pods  [][]*harness.Pod // per host
	st    state
}

// up brings the whole cluster up, checking each step, and leaves it running. On failure it prints what the
// daemons said and removes everything.
func up(cfg config) (d *demo, err error) {
	began := time.Now()
	if st, err := readState(cfg.StatePath); err == nil {
		if _, err := os.Stat(st.Record); err == nil {
			return nil, fmt.Errorf("a demo is already running (cluster %s in %s): `make demo-clean` removes it", st.ClusterID, st.Dir)
		}
		_ = os.Remove(cfg.StatePath) // left by a demo whose cluster is gone
	}
	d = &demo{cfg: cfg}
	d.say("starting etcd and %d hosts (network namespaces on one bridge)", cfg.Hosts)
	if d.c, err = harness.New(harness.Options{Hosts: cfg.Hosts}); err != nil {
		return nil, fmt.Errorf("creating the hosts: %w", err)
	}
	d.st = state{ClusterID: d.c.ID, Record: filepath.Join(harness.RecordDir, d.c.ID), Dir: d.c.Dir, Etcd: d.c.Etcd,
		RepoRoot: cfg.RepoRoot, BinDir: cfg.BinDir}
	defer func() {
		if err != nil {
			d.dumpLogs()
			fmt.Fprintln(cfg.Out, "\nremoving what the demo made")
			d.c.StopServices(5 * time.Second)
			d.c.Close()
			_ = os.Remove(cfg.StatePath)
			d = nil
		}
	}()
	if err = d.save(); err != nil {
		return d, err
	}
	for _, h := range d.c.Hosts {
		fmt.Fprintf(cfg.Out, "    %s  %-15s namespace %s, files in %s\n", h.Name, h.IP, h.NetNS, h.Dir)
	}
	fmt.Fprintf(cfg.Out, "    etcd %s\n", d.c.Etcd)

	d.say("creating the IP pool")
	pool := fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: demo-pool}
spec: {cidr: %s, blockSize: 26, ipipMode: Never, natOutgoing: true}
`, poolCIDR)
	if err = d.calicoctl(pool, "create", "-f", "-"); err != nil {
		return d, err
	}
	if err = d.calicoctl("", "get", "ippool", "-o", "wide"); err != nil {
		return d, err
	}

	d.say("starting calico-node under runit on every host (startup, then runsvdir: felix, allocate-tunnel-addrs, confd, bird, bird6)")
	for _, h := range d.c.Hosts {
		n, err := h.StartNode(harness.NodeOptions{BinDir: cfg.BinDir, RepoRoot: cfg.RepoRoot})
		if err != nil {
			return d, err
		}
		d.nodes = append(d.nodes, n)
		d.st.Hosts = append(d.st.Hosts, hostState{Name: h.Name, NetNS: h.NetNS, IP: h.IP.String(), Dir: h.Dir,
			Wrapper: n.Wrapper.Process.Pid})
	}
	if err = d.save(); err != nil {
		return d, err
	}
	for _, n := range d.nodes {
		if err = n.WaitRunning(d.cfg.Bound, harness.Services...); err != nil {
			return d, err
		}
	}

	d.say("waiting for the BGP mesh: calicoctl node status on every host")
	meshStart := time.Now()
	for _, n := range d.nodes {
		if err = d.waitEstablished(n); err != nil {
			return d, err
		}
	}
	for _, n := range d.nodes {
		out, _ := d.nodeStatus(n)
		fmt.Fprintf(cfg.Out, "--- %s\n%s", n.Host.Name, out)
	}
	fmt.Fprintf(cfg.Out, "    every session Established %s after the nodes were running\n", time.Since(meshStart).Round(100*time.Millisecond))

	d.say("adding %d pods per host with cnitool (CNI network %q)", cfg.PodsPerHost, network)
	for i, h := range d.c.Hosts {
		var pods []*harness.Pod
		for j := 0; j < cfg.PodsPerHost; j++ {
			name := fmt.Sprintf("pod%d%c", i+1, 'a'+j)
			p, err := h.AddPod(name, harness.PodOptions{Network: network, CNITool: cfg.CNITool, BinDir: cfg.BinDir})
			if err != nil {
				return d, err
			}
			pods = append(pods, p)
			d.st.Pods = append(d.st.Pods, podState{Name: p.Name, NetNS: p.NetNS, IP: p.IP, Host: h.Name})
			fmt.Fprintf(cfg.Out, "    %s on %s: %s (namespace %s)\n", p.Name, h.Name, p.IP, p.NetNS)
		}
		d.pods = append(d.pods, pods)
	}
	if err = d.save(); err != nil {
		return d, err
	}

	h1 := d.c.Hosts[0]
	d.say("ip route on %s: a blackhole for its own block, the other hosts' blocks via them (proto bird), a /32 per local pod", h1.Name)
	want := d.routeWants(0)
	var routes string
	if err = d.waitFor("the routes on "+h1.Name, func() (bool, string) {
		routes, _ = h1.Run("ip", "route")
		missing := missingRoutes(routes, want)
		return len(missing) == 0, "missing: " + strings.Join(missing, "; ") + "\n" + routes
	}); err != nil {
		return d, err
	}
	fmt.Fprint(cfg.Out, routes)

	if len(d.pods) < 2 || len(d.pods[0]) == 0 || len(d.pods[1]) == 0 {
		return d, fmt.Errorf("the walkthrough needs pods on two hosts")
	}
	a, b := d.pods[0][0], d.pods[1][0]
	d.say("ping from %s (%s on %s) to %s (%s on %s)", a.Name, a.IP, a.Host.Name, b.Name, b.IP, b.Host.Name)
	var ping string
	if err = d.waitFor(a.Name+" pings "+b.Name, func() (bool, string) {
		out, err := a.Run("ping", "-c1", "-W1", b.IP)
		return err == nil, out
	}); err != nil {
		return d, err
	}
	if ping, err = a.Run("ping", "-c3", "-i0.3", "-W1", b.IP); err != nil {
		return d, fmt.Errorf("ping %s → %s: %w\n%s", a.Name, b.Name, err, ping)
	}
	fmt.Fprint(cfg.Out, ping)

	d.say("traceroute from %s to %s: the pod's host, the other host, the pod", a.Name, b.Name)
	trace, err := a.Run("traceroute", "-n", "-w1", "-q1", b.IP)
	fmt.Fprint(cfg.Out, trace)
	if err != nil {
		return d, fmt.Errorf("traceroute: %w", err)
	}
	if missing := missingHops(trace, a.Host.IP.String(), b.Host.IP.String(), b.IP); len(missing) > 0 {
		return d, fmt.Errorf("traceroute should pass %s", strings.Join(missing, ", "))
	}

	d.say("isolating the pods: profile %q now denies all ingress", network)
	isolate := fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: %s}
spec:
  ingress: [{action: Deny}]
  egress: [{action: Allow}]
  labelsToApply: {%s: ""}
`, network, network)
	if err = d.calicoctl(isolate, "apply", "-f", "-"); err != nil {
		return d, err
	}
	var denied string
	if err = d.waitFor("the ping to fail", func() (bool, string) {
		out, err := a.Run("ping", "-c2", "-i0.3", "-W1", b.IP)
		denied = out
		return err != nil, out
	}); err != nil {
		return d, err
	}
	fmt.Fprint(cfg.Out, denied)

	d.say("the cluster is up (%s) and stays running", time.Since(began).Round(100*time.Millisecond))
	d.lookAround()
	return d, nil
}

// routeWants is what host i's routing table holds once all pods are up.
func (d *demo) routeWants(i int) routeWants {
	w := routeWants{PeerBlocks: map[netip.Prefix]netip.Addr{}}
	own := map[netip.Prefix]bool{}
	for j, pods := range d.pods {
		for _, p := range pods {
			ip := netip.MustParseAddr(p.IP)
			block := blockOf(ip, 26)
			if j == i {
				w.LocalPods = append(w.LocalPods, ip)
				if !own[block] {
					own[block] = true
					w.OwnBlocks = append(w.OwnBlocks, block)
				}
				continue
			}
			w.PeerBlocks[block] = d.c.Hosts[j].IP
		}
	}
	return w
}

// missingHops lists the addresses a traceroute did not pass.
func missingHops(trace string, hops ...string) []string {
	var missing []string
	for _, h := range hops {
		if !strings.Contains(trace, " "+h+" ") && !strings.Contains(trace, " "+h+"\n") {
			missing = append(missing, h)
		}
	}
	return missing
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.cfg.Out, "\n==> "+format+"\n", args...)
}

// waitFor polls cond until it holds, or fails after the step bound with cond's last explanation.
func (d *demo) waitFor(what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(d.cfg.Bound)
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s; last seen:\n%s", d.cfg.Bound, what, last)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// calicoctl runs calicoctl against the cluster's etcd from the root namespace and prints its output.
func (d *demo) calicoctl(stdin string, args ...string) error {
	cmd := exec.Command(filepath.Join(d.cfg.BinDir, "calicoctl"), args...)
	cmd.Env = append(os.Environ(), "ETCD_ENDPOINTS="+d.c.Etcd)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(d.cfg.Out, "$ calicoctl %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		return fmt.Errorf("calicoctl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// nodeStatus runs `calicoctl node status` on a host, against that host's BIRD sockets.
func (d *demo) nodeStatus(n *harness.Node) (string, error) {
	out, err := n.Host.Command(n.Env(), filepath.Join(d.cfg.BinDir, "calicoctl"), "node", "status").CombinedOutput()
	return string(out), err
}

func (d *demo) waitEstablished(n *harness.Node) error {
	var peers []string
	for _, h := range d.c.Hosts {
		if h != n.Host {
			peers = append(peers, h.IP.String())
		}
	}
	return d.waitFor("every BGP session of "+n.Host.Name+" to be Established", func() (bool, string) {
		out, _ := d.nodeStatus(n)
		ok, why := allEstablished(out, peers)
		return ok, why + "\n" + out + "\n-- bird log:\n" + n.ServiceLog("bird")
	})
}

// dumpLogs prints the end of every node's output and service logs, so a failed run explains itself.
func (d *demo) dumpLogs() {
	for _, n := range d.nodes {
		fmt.Fprintf(d.cfg.Out, "\n---- %s: start_runit\n%s", n.Host.Name, tail(n.Log(), 3000))
		for _, s := range harness.Services {
			fmt.Fprintf(d.cfg.Out, "---- %s: %s\n%s", n.Host.Name, s, tail(n.ServiceLog(s), 2000))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// lookAround prints how to inspect the running cluster.
func (d *demo) lookAround() {
	h1, n1 := d.c.Hosts[0], d.nodes[0]
	bin := d.cfg.BinDir
	var b strings.Builder
	fmt.Fprintf(&b, "Look around (as root):\n")
	fmt.Fprintf(&b, "  ip netns exec %s %s/birdcl -s %s/bird.ctl show protocols\n", h1.NetNS, bin, n1.RunDir)
	fmt.Fprintf(&b, "  ip netns exec %s %s/birdcl -s %s/bird.ctl show route\n", h1.NetNS, bin, n1.RunDir)
	fmt.Fprintf(&b, "  ip netns exec %s %s/calicoctl node status --bird-socket-dir %s\n", h1.NetNS, bin, n1.RunDir)
	fmt.Fprintf(&b, "  ETCD_ENDPOINTS=%s %s/calicoctl get nodes -o wide     (also: ippool, wep, profile -o yaml)\n", d.c.Etcd, bin)
	fmt.Fprintf(&b, "  ETCD_ENDPOINTS=%s %s/calicoctl ipam show --show-blocks\n", d.c.Etcd, bin)
	fmt.Fprintf(&b, "  ip netns exec %s ip route           (iptables-save, ipset list: felix's rules)\n", h1.NetNS)
	if len(d.pods) > 1 && len(d.pods[0]) > 0 && len(d.pods[1]) > 0 {
		fmt.Fprintf(&b, "  ip netns exec %s ping %s        (isolated now; see below)\n", d.pods[0][0].NetNS, d.pods[1][0].IP)
	}
	fmt.Fprintf(&b, "  cat %s/bird.cfg                     (what confd rendered)\n", n1.ConfigDir)
	fmt.Fprintf(&b, "  sv status %s/*                      (runit; logs in %s/<service>/current)\n", n1.ServiceDir, n1.LogDir)
	fmt.Fprintf(&b, "Undo the isolation (the profile CNI created, which admits pods of the network):\n")
	fmt.Fprintf(&b, "  printf 'apiVersion: projectcalico.org/v3\\nkind: Profile\\nmetadata: {name: %s}\\nspec: {ingress: [{action: Allow, source: {selector: \"has(%s)\"}}], egress: [{action: Allow}], labelsToApply: {%s: \"\"}}\\n' | ETCD_ENDPOINTS=%s %s/calicoctl apply -f -\n",
		network, network, network, d.c.Etcd, bin)
	fmt.Fprintf(&b, "Remove everything: make demo-clean\n")
	fmt.Fprint(d.cfg.Out, b.String())
}
