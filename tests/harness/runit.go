package harness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NodeOptions say where a host's calico-node finds its programs and files.
type NodeOptions struct {
	BinDir   string   // calico-node, calicoctl, birdcl and calico (the CNI plugin)
	RepoRoot string   // holds runit/ (the services and start_runit), templates/ and conf.d/
	Env      []string // added to the node's environment last, so it can override anything
}

// Node is calico-node as users run it, on one host: runit/start_runit runs startup, then runsvdir supervises
// confd, BIRD, BIRD6 and felix. Every path the image would use is a directory of the host's own.
type Node struct {
	Host       *Host
	Wrapper    *exec.Cmd // start_runit: SIGTERM to it stops every service, then runsvdir
	ServiceDir string    // the enabled services (each with runit's supervise/ state)
	RunDir     string    // BIRD's control sockets (stands in for /var/run/calico)
	LogDir     string    // svlogd directories, one per service (stands in for /var/log/calico)
	ConfigDir  string    // what confd renders (stands in for /etc/calico/confd/config)
	LibDir     string    // the stored node name (stands in for /var/lib/calico)
	env        []string
}

// Services are the runit services a node with the BIRD backend runs.
var Services = []string{"felix", "allocate-tunnel-addrs", "confd", "bird", "bird6"}

// NodeEnv is the environment start_runit runs under on this host.
func (h *Host) NodeEnv(o NodeOptions) []string {
	d := h.Dir
	env := []string{
		"NODENAME=" + h.Name, "IP=" + h.IP.String(), "ETCD_ENDPOINTS=" + h.c.Etcd, "NO_DEFAULT_POOLS=true",
		"CALICO_NODENAME_FILE=" + filepath.Join(d, "lib", "nodename"),
		"CALICO_STATE_DIRS=" + strings.Join([]string{filepath.Join(d, "lib"), filepath.Join(d, "run"), filepath.Join(d, "log")}, ","),
		"CALICO_SERVICE_AVAILABLE=" + filepath.Join(o.RepoRoot, "runit"),
		"CALICO_SERVICE_DIR=" + filepath.Join(d, "service"),
		"CALICO_RUN_DIR=" + filepath.Join(d, "run"),
		"CALICO_BIRD_SOCKET_DIR=" + filepath.Join(d, "run"),
		"CALICO_LOG_DIR=" + filepath.Join(d, "log"),
		"CALICO_CONFD_DIR=" + o.RepoRoot,
		"CALICO_CONFD_CONFIG_DIR=" + filepath.Join(d, "config"),
		"PATH=" + o.BinDir + ":" + os.Getenv("PATH") + ":/usr/sbin:/sbin",
	}
	return append(env, o.Env...)
}

// StartNode starts calico-node under runit on the host; its output goes to <host dir>/node.log. It returns once
// the wrapper runs; WaitRunning waits for the services. Cluster.StopServices (before Close) stops every node's
// services through runit, so that none is restarted while Close kills what is left.
func (h *Host) StartNode(o NodeOptions) (*Node, error) {
	d := h.Dir
	n := &Node{Host: h, ServiceDir: filepath.Join(d, "service"), RunDir: filepath.Join(d, "run"),
		LogDir: filepath.Join(d, "log"), ConfigDir: filepath.Join(d, "config"), LibDir: filepath.Join(d, "lib"),
		env: h.NodeEnv(o)}
	h.c.note("runit", n.ServiceDir)
	cmd, err := h.Start(n.env, "node", "/bin/sh", filepath.Join(o.RepoRoot, "runit", "start_runit"))
	if err != nil {
		return nil, fmt.Errorf("starting calico-node under runit on %s: %w", h.Name, err)
	}
	n.Wrapper = cmd
	return n, nil
}

// Env is the node's environment (for commands that need the same view, such as calicoctl node status).
func (n *Node) Env() []string { return append([]string(nil), n.env...) }

// Log is what start_runit printed so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.Host.Dir, "node.log"))
	return string(b)
}

// ServiceLog is the end of one service's svlogd file.
func (n *Node) ServiceLog(svc string) string {
	b, _ := os.ReadFile(filepath.Join(n.LogDir, svc, "current"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// ServiceState is runit's view of one service: its state ("run", "down", "finish") and pid (0 when none).
func (n *Node) ServiceState(svc string) (state string, pid int) {
	sup := filepath.Join(n.ServiceDir, svc, "supervise")
	b, _ := os.ReadFile(filepath.Join(sup, "stat"))
	state = strings.TrimSpace(string(b))
	b, _ = os.ReadFile(filepath.Join(sup, "pid"))
	pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	return state, pid
}

// WaitRunning waits until every given service runs under runit, or explains what it saw.
func (n *Node) WaitRunning(limit time.Duration, services ...string) error {
	deadline := time.Now().Add(limit)
	for {
		var notYet []string
		for _, s := range services {
			if st, pid := n.ServiceState(s); st != "run" || pid == 0 {
				notYet = append(notYet, fmt.Sprintf("%s=%q", s, st))
			}
		}
		if len(notYet) == 0 {
			return nil
		}
		if !Alive(n.Wrapper.Process.Pid) {
			return fmt.Errorf("calico-node on %s exited; its output:\n%s", n.Host.Name, n.Log())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("services on %s not running after %s (%s); output:\n%s", n.Host.Name, limit,
				strings.Join(notYet, " "), n.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop sends SIGTERM to start_runit alone (as docker stop would) and waits up to limit for it to exit.
func (n *Node) Stop(limit time.Duration) error {
	pid := n.Wrapper.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	deadline := time.Now().Add(limit)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("calico-node on %s still running %s after SIGTERM; output:\n%s", n.Host.Name, limit, n.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// Alive says whether a process exists and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "1234 (bird) S ...".
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// StopServices stops the services of every node started on the cluster's hosts (see StopRecordedServices).
func (c *Cluster) StopServices(limit time.Duration) {
	StopRecordedServices(filepath.Join(RecordDir, c.ID), limit)
}

// StopRecordedServices stops, through runit, every service of every node recorded in one record file (or, given
// RecordDir, in all of them), then lets each runsv exit: BIRD closes its sessions and nothing restarts while
// RemoveRecorded kills what is left. It waits at most limit per node.
func StopRecordedServices(path string, limit time.Duration) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			StopRecordedServices(filepath.Join(path, e.Name()), limit)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, dir, ok := strings.Cut(sc.Text(), " ")
		if !ok || kind != "runit" {
			continue
		}
		var svcs []string
		for _, s := range Services {
			if _, err := os.Stat(filepath.Join(dir, s, "supervise")); err == nil {
				svcs = append(svcs, filepath.Join(dir, s))
			}
		}
		if len(svcs) == 0 {
			continue
		}
		secs := strconv.Itoa(max(1, int(limit.Seconds())))
		_ = exec.Command("sv", append([]string{"-w", secs, "force-stop"}, svcs...)...).Run()
		_ = exec.Command("sv", append([]string{"exit"}, svcs...)...).Run()
	}
}

// PodOptions say how a pod is wired.
type PodOptions struct {
	Network string // the CNI network name (and so the pod's profile)
	CNITool string // path of cnitool
	BinDir  string // CNI_PATH: where the calico plugin is
}

// Pod is a workload: a network namespace of its own, wired to its host by the calico CNI plugin via cnitool.
type Pod struct {
	Name, NetNS, IP string
	Host            *Host
	opts            PodOptions
}

// AddNamespace creates a network namespace that the cluster removes with everything else.
func (c *Cluster) AddNamespace(name string) error {
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	c.note("netns", name)
	return nil
}

// AddPod creates a pod namespace (recorded for cleanup) and runs `cnitool add` on the host, as a container
// runtime would, with a network config in <host dir>/net.d.
func (h *Host) AddPod(name string, o PodOptions) (*Pod, error) {
	confDir := filepath.Join(h.Dir, "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":%q,"type":"calico","etcd_endpoints":%q,"nodename":%q,"mtu":1500,
"log_file_path":%q,"ipam_lock_file":%q,"ipam":{"type":"calico-ipam"}}`, o.Network, h.c.Etcd, h.Name, filepath.Join(h.Dir, "cni.log"),
		filepath.Join(h.Dir, "ipam.lock"))
	if err := os.WriteFile(filepath.Join(confDir, "10-"+o.Network+".conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p := &Pod{Name: name, NetNS: fmt.Sprintf("cl%s-%s", h.c.ID, name), Host: h, opts: o}
	if err := h.c.AddNamespace(p.NetNS); err != nil {
		return nil, err
	}
	out, err := p.cnitool("add")
	if err != nil {
		return nil, err
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) == 0 {
		return nil, fmt.Errorf("cnitool add %s on %s: no address in its result (%v):\n%s", name, h.Name, err, out)
	}
	p.IP, _, _ = strings.Cut(res.IPs[0].Address, "/")
	return p, nil
}

func (p *Pod) cnitool(verb string) ([]byte, error) {
	cmd := p.Host.Command([]string{"CNI_PATH=" + p.opts.BinDir, "NETCONFPATH=" + filepath.Join(p.Host.Dir, "net.d"),
		"CNI_CACHE_DIR=" + filepath.Join(p.Host.Dir, "cni-cache")},
		p.opts.CNITool, verb, p.opts.Network, "/var/run/netns/"+p.NetNS)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("cnitool %s %s on %s: %w\n%s%s", verb, p.Name, p.Host.Name, err, out, stderr.String())
	}
	return out, nil
}

// Delete runs `cnitool del` for the pod and removes its namespace.
func (p *Pod) Delete() error {
	if _, err := p.cnitool("del"); err != nil {
		return err
	}
	return run("ip", "netns", "del", p.NetNS)
}

// Run runs a command inside the pod's namespace and returns its combined output.
func (p *Pod) Run(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", p.NetNS, name}, args...)...).CombinedOutput()
	return string(out), err
}
