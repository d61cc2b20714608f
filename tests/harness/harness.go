// Package harness builds throw-away clusters on one machine for e2e tests and the demo: hosts are network
// namespaces joined by a bridge that lives in its own "fabric" namespace, etcd runs in the root namespace on an
// address of the fabric's subnet, and every namespace, link and process made is recorded on disk so that a
// crashed run can still be cleaned up (RemoveRecorded).
package harness

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RecordDir holds one file per live cluster listing what it created.
var RecordDir = "/run/calico-l3-harness"

// Cluster is a set of hosts on one L2 segment plus the etcd they share.
type Cluster struct {
	ID        string
	Dir       string       // per-cluster state directory
	Subnet    netip.Prefix // the hosts' link subnet, e.g. 100.64.17.0/24
	RootIP    netip.Addr   // the root namespace's address on it (etcd listens here)
	Fabric    string       // the namespace that holds the bridge
	External  *Host        // a router outside the cluster (the hosts' default gateway), for NAT outgoing tests
	Hosts     []*Host
	Etcd      string // client endpoint
	Segments  []*Segment
	noDefault bool
	record    *os.File
	mu        sync.Mutex
	procs     []*exec.Cmd
	rootLink  string
	etcdCmd   *exec.Cmd
}

// Host is one simulated machine: a network namespace with an address on the cluster subnet.
type Host struct {
	Name  string     // node name, e.g. host1
	NetNS string     // namespace name
	IP    netip.Addr // address on eth0
	Dir   string     // its private state directory (stands in for /var/lib/calico, /var/run/calico, /etc/calico)
	c     *Cluster
}

// Options shape a cluster.
type Options struct {
	Hosts int
	Dir   string // where per-host state lives; a temp dir when empty
	// NoDefaultRoute leaves hosts with only their own subnet's route (and routes to the cluster's other segments),
	// as on an air-gapped rack. By default every host's default route points at the external router.
	NoDefaultRoute bool
}

// New creates the fabric, the hosts and etcd. On any error everything made so far is removed.
func New(opts Options) (c *Cluster, err error) {
	id := randomID()
	c = &Cluster{ID: id, Fabric: "cl" + id + "-fab"}
	if err := os.MkdirAll(RecordDir, 0o755); err != nil {
		return nil, err
	}
	if c.record, err = os.OpenFile(filepath.Join(RecordDir, id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	c.Dir, c.noDefault = opts.Dir, opts.NoDefaultRoute
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "cluster-"+id+"-"); err != nil {
			return c, err
		}
		c.note("dir", c.Dir)
	}
	if c.Subnet, err = freeSubnet(); err != nil {
		return c, err
	}
	c.RootIP = c.Subnet.Addr().Next().Next() // .2; hosts are .11, .12, …
	if err = c.makeFabric(); err != nil {
		return c, err
	}
	if c.External, err = c.addMachine("ext", "br0", "p", c.Subnet, 254); err != nil {
		return c, err
	}
	for i := 1; i <= opts.Hosts; i++ {
		if _, err = c.AddHost(fmt.Sprintf("host%d", i)); err != nil {
			return c, err
		}
	}
	if err = c.startEtcd(); err != nil {
		return c, err
	}
	return c, nil
}

func randomID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// note records a created object so RemoveRecorded can undo it.
func (c *Cluster) note(kind, name string) {
	fmt.Fprintf(c.record, "%s %s\n", kind, name)
	_ = c.record.Sync()
}

// freeSubnet picks a /24 in 100.64.0.0/10 that no route in the root namespace uses.
func freeSubnet() (netip.Prefix, error) {
	out, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	for try := 0; try < 50; try++ {
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + b[0]%64, b[1], 0}), 24)
		third := fmt.Sprintf("100.%d.%d.", 64+b[0]%64, b[1])
		if !strings.Contains(string(out), third) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in 100.64.0.0/10")
}

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (c *Cluster) makeFabric() error {
	if err := run("ip", "netns", "add", c.Fabric); err != nil {
		return err
	}
	c.note("netns", c.Fabric)
	c.rootLink = "cl" + c.ID + "-root"
	steps := [][]string{
		{"ip", "-n", c.Fabric, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", c.Fabric, "link", "set", "br0", "up"},
		{"ip", "-n", c.Fabric, "link", "set", "lo", "up"},
		{"ip", "link", "add", c.rootLink, "type", "veth", "peer", "name", "root", "netns", c.Fabric},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	// The fabric is a switch: bridged frames do not pass through a host's netfilter. Once br_netfilter is loaded
	// (Docker loads it), every new namespace would send them through its own, so turn that off here.
	for _, family := range []string{"iptables", "ip6tables", "arptables"} {
		key := "net.bridge.bridge-nf-call-" + family
		if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(key, ".", "/")); err == nil {
			if err := run("ip", "netns", "exec", c.Fabric, "sysctl", "-qw", key+"=0"); err != nil {
				return err
			}
		}
	}
	c.note("link", c.rootLink)
	for _, s := range [][]string{
		{"ip", "-n", c.Fabric, "link", "set", "root", "master", "br0", "up"},
		{"ip", "addr", "add", netip.PrefixFrom(c.RootIP, 24).String(), "dev", c.rootLink},
		{"ip", "link", "set", c.rootLink, "up"},
	} {
		if err := run(s...); err != nil {
			return err
		}
	}
	return nil
}

// AddHost creates one more host namespace on the fabric. Its default route points at the external router, as a
// real host's would, unless the cluster has NoDefaultRoute; it gets a route to every segment already added.
func (c *Cluster) AddHost(name string) (*Host, error) {
	h, err := c.addMachine(name, "br0", "p", c.Subnet, 10+len(c.Hosts)+1)
	if err != nil {
		return nil, err
	}
	if !c.noDefault {
		if err := run("ip", "-n", h.NetNS, "route", "add", "default", "via", c.External.IP.String()); err != nil {
			return nil, err
		}
	}
	for _, s := range c.Segments {
		if err := run("ip", "-n", h.NetNS, "route", "add", s.Subnet.String(), "via", s.Router.IP.String()); err != nil {
			return nil, err
		}
	}
	c.Hosts = append(c.Hosts, h)
	return h, nil
}

// Segment is another L2 subnet, joined to the cluster's subnet by a router namespace that forwards between the two
// and knows nothing but the two subnets.
type Segment struct {
	Subnet   netip.Prefix
	Router   *Host      // the router; Router.IP is its address on the cluster subnet (.253 - index)
	RouterIP netip.Addr // its address on the segment (.1)
	bridge   string
	port     string // prefix of the segment's bridge ports in the fabric namespace
	hosts    int
}

// AddSegment creates a new subnet behind a router. Hosts already on the cluster subnet and the root namespace (etcd)
// get a route to it via the router; hosts added to it later (AddHostOn) get a route to the cluster subnet and to
// the other segments.
func (c *Cluster) AddSegment() (*Segment, error) {
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	i := len(c.Segments) + 1
	s := &Segment{Subnet: subnet, bridge: fmt.Sprintf("br%d", i), port: fmt.Sprintf("s%d-", i)}
	s.RouterIP = subnet.Addr().Next()
	for _, step := range [][]string{
		{"ip", "-n", c.Fabric, "link", "add", s.bridge, "type", "bridge"},
		{"ip", "-n", c.Fabric, "link", "set", s.bridge, "up"},
	} {
		if err := run(step...); err != nil {
			return nil, err
		}
	}
	if s.Router, err = c.addMachine(fmt.Sprintf("rtr%d", i), "br0", "p", c.Subnet, 253-i); err != nil {
		return nil, err
	}
	port := s.port + "rtr"
	for _, step := range [][]string{
		{"ip", "-n", c.Fabric, "link", "add", port, "type", "veth", "peer", "name", "eth1", "netns", s.Router.NetNS},
		{"ip", "-n", c.Fabric, "link", "set", port, "master", s.bridge, "up"},
		{"ip", "-n", s.Router.NetNS, "addr", "add", netip.PrefixFrom(s.RouterIP, subnet.Bits()).String(), "dev", "eth1"},
		{"ip", "-n", s.Router.NetNS, "link", "set", "eth1", "up"},
		{"ip", "route", "add", subnet.String(), "via", s.Router.IP.String(), "dev", c.rootLink},
	} {
		if err := run(step...); err != nil {
			return nil, err
		}
	}
	for _, other := range c.Segments {
		if err := run("ip", "-n", s.Router.NetNS, "route", "add", other.Subnet.String(), "via", other.Router.IP.String()); err != nil {
			return nil, err
		}
	}
	for _, h := range c.Hosts {
		if err := run("ip", "-n", h.NetNS, "route", "add", subnet.String(), "via", s.Router.IP.String()); err != nil {
			return nil, err
		}
	}
	c.Segments = append(c.Segments, s)
	return s, nil
}

// AddHostOn creates a host on a segment, at .11, .12, … of its subnet, with routes to the cluster subnet and the
// other segments through the segment's router, and no default route.
func (c *Cluster) AddHostOn(s *Segment, name string) (*Host, error) {
	s.hosts++
	h, err := c.addMachine(name, s.bridge, s.port, s.Subnet, 10+s.hosts)
	if err != nil {
		return nil, err
	}
	if err := run("ip", "-n", h.NetNS, "route", "add", c.Subnet.String(), "via", s.RouterIP.String()); err != nil {
		return nil, err
	}
	for _, other := range c.Segments {
		if other != s {
			if err := run("ip", "-n", h.NetNS, "route", "add", other.Subnet.String(), "via", s.RouterIP.String()); err != nil {
				return nil, err
			}
		}
	}
	c.Hosts = append(c.Hosts, h)
	return h, nil
}

// addMachine creates a namespace with eth0 on a bridge of the fabric at .<last> of subnet; its fabric-side port is
// named <port><last>.
func (c *Cluster) addMachine(name, bridge, port string, subnet netip.Prefix, last int) (*Host, error) {
	h := &Host{Name: name, NetNS: fmt.Sprintf("cl%s-%s", c.ID, name), c: c, Dir: filepath.Join(c.Dir, name)}
	a := subnet.Addr().As4()
	a[3] = byte(last)
	h.IP = netip.AddrFrom4(a)
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := run("ip", "netns", "add", h.NetNS); err != nil {
		return nil, err
	}
	c.note("netns", h.NetNS)
	port = fmt.Sprintf("%s%d", port, last)
	for _, s := range [][]string{
		{"ip", "-n", c.Fabric, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NetNS},
		{"ip", "-n", c.Fabric, "link", "set", port, "master", bridge, "up"},
		{"ip", "-n", h.NetNS, "link", "set", "lo", "up"},
		{"ip", "-n", h.NetNS, "addr", "add", netip.PrefixFrom(h.IP, subnet.Bits()).String(), "dev", "eth0"},
		{"ip", "-n", h.NetNS, "link", "set", "eth0", "up"},
		{"ip", "netns", "exec", h.NetNS, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		if err := run(s...); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func (c *Cluster) startEtcd() error {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return fmt.Errorf("etcd is not installed (apt-get install etcd-server)")
	}
	client := fmt.Sprintf("http://%s:2379", c.RootIP)
	peer := fmt.Sprintf("http://%s:2380", c.RootIP)
	c.Etcd = client
	cmd := exec.Command(bin, "--name", "cluster", "--data-dir", filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "cluster="+peer,
		"--logger", "zap", "--log-level", "error")
	cmd.Env = withoutEtcdVars(os.Environ())
	log, _ := os.Create(filepath.Join(c.Dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := c.start(cmd); err != nil {
		return err
	}
	c.etcdCmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if exec.Command("etcdctl", "--endpoints", client, "endpoint", "health").Run() == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd at %s did not become healthy; see %s", client, filepath.Join(c.Dir, "etcd.log"))
}

// StopEtcd stops the cluster's etcd (its data stays), to test what happens while the datastore is away.
func (c *Cluster) StopEtcd() { Stop(c.etcdCmd) }

// StartEtcd starts the cluster's etcd again on the same address and data.
func (c *Cluster) StartEtcd() error { return c.startEtcd() }

func withoutEtcdVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") {
			out = append(out, kv)
		}
	}
	return append(out, "ETCDCTL_API=3")
}

// start runs a process in its own process group, recorded for cleanup.
func (c *Cluster) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.mu.Unlock()
	c.note("pgid", fmt.Sprint(cmd.Process.Pid))
	go func() { _ = cmd.Wait() }()
	return nil
}

// Command builds a command that runs inside the host's namespace with the given extra environment.
func (h *Host) Command(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NetNS, name}, args...)...)
	cmd.Env = append(withoutEtcdVars(os.Environ()), env...)
	return cmd
}

// Run runs a command in the host's namespace and returns its combined output.
func (h *Host) Run(name string, args ...string) (string, error) {
	out, err := h.Command(nil, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s on %s: %w: %s", name+" "+strings.Join(args, " "), h.Name, err, out)
	}
	return string(out), nil
}

// Start runs a long-lived process in the host's namespace, logging to <host dir>/<logName>.log.
func (h *Host) Start(env []string, logName, name string, args ...string) (*exec.Cmd, error) {
	cmd := h.Command(env, name, args...)
	log, err := os.Create(filepath.Join(h.Dir, logName+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	return cmd, h.c.start(cmd)
}

// Stop kills one process started by Start (its whole process group).
func Stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for cmd.ProcessState == nil {
			time.Sleep(20 * time.Millisecond)
			if syscall.Kill(cmd.Process.Pid, 0) != nil {
				break
			}
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

// Close stops every process and removes every namespace, link and directory the cluster made.
func (c *Cluster) Close() {
	if c.record == nil {
		return
	}
	c.record.Close()
	_ = RemoveRecorded(filepath.Join(RecordDir, c.ID))
	c.record = nil
}

// RemoveRecorded undoes one record file (or, given RecordDir, every record file): it kills recorded process
// groups and any process left in recorded namespaces, then deletes the namespaces, links and directories.
func RemoveRecorded(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		entries, _ := os.ReadDir(path)
		for _, e := range entries {
			_ = RemoveRecorded(filepath.Join(path, e.Name()))
		}
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	var items [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, name, ok := strings.Cut(sc.Text(), " ")
		if ok {
			items = append(items, [2]string{kind, name})
		}
	}
	f.Close()
	for _, it := range items { // processes first, so nothing holds a namespace
		if it[0] == "pgid" {
			var pid int
			fmt.Sscan(it[1], &pid)
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if it[0] == "netns" {
			out, _ := exec.Command("ip", "netns", "pids", it[1]).Output()
			for _, p := range strings.Fields(string(out)) {
				var pid int
				fmt.Sscan(p, &pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for i := len(items) - 1; i >= 0; i-- {
		kind, name := items[i][0], items[i][1]
		switch kind {
		case "netns":
			_ = exec.Command("ip", "netns", "del", name).Run()
		case "link":
			_ = exec.Command("ip", "link", "del", name).Run()
		case "dir":
			_ = os.RemoveAll(name)
		}
	}
	return os.Remove(path)
}
