// Package image tests the calico/node image as users run it: each host of a two-host cluster is a container of
// the image on a Docker network of its own, etcd runs on the Docker host, pods are namespaces inside the
// containers wired by the image's CNI plugin. The tests skip when `docker info` fails.
package image

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/tests/harness"
)

// testImage is built from this tree by image/build.sh under a tag of its own, so a calico/node:latest the user
// built is left alone. CALICO_TEST_IMAGE names an already built image to use instead.
const testImage = "calico-l3/node:test"

func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the node image")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: builds the image's base with debootstrap and runs privileged containers")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		last := strings.TrimSpace(string(out))
		if i := strings.LastIndexByte(last, '\n'); i >= 0 {
			last = last[i+1:]
		}
		t.Skipf("docker is not usable here, so the image cannot be tested (docker info: %v: %s)", err, last)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd is not installed (`make test` installs it)")
	}
}

// buildImage runs image/build.sh (the base is cached, so this is quick after the first time).
func buildImage(t *testing.T) string {
	t.Helper()
	if img := os.Getenv("CALICO_TEST_IMAGE"); img != "" {
		return img
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "image", "build.sh")
	cmd := exec.Command("/bin/sh", script)
	cmd.Env = append(os.Environ(), "IMAGE="+testImage)
	began := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("image/build.sh: %v\n%s", err, out)
	}
	t.Logf("image built in %s:\n%s", time.Since(began).Round(time.Second), out)
	return testImage
}

func docker(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// cluster is one test's Docker network, etcd and containers; cleanup removes all of them.
type cluster struct {
	t       *testing.T
	id      string // label value on every container and the network
	network string
	gateway string // the Docker host's address on the network
	etcd    string
	image   string
	runOpts []string // --privileged, or its stand-in where the engine cannot grant every capability
	hosts   []*host
}

type host struct {
	name, container, ip string
}

func newCluster(t *testing.T, image string) *cluster {
	t.Helper()
	c := &cluster{t: t, id: fmt.Sprintf("%d", time.Now().UnixNano()%1e8), image: image}
	c.network = "calico-l3-test-" + c.id
	t.Cleanup(c.remove)
	if _, err := docker("network", "create", "--label", "calico-l3-test="+c.id, c.network); err != nil {
		t.Fatal(err)
	}
	gw, err := docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", c.network)
	if err != nil {
		t.Fatal(err)
	}
	c.gateway = strings.TrimSpace(gw)
	if net.ParseIP(c.gateway) == nil {
		t.Fatalf("network %s has no gateway address (got %q)", c.network, gw)
	}
	c.runOpts = privilegeOptions(t, image)
	c.startEtcd()
	return c
}

// privilegeOptions is --privileged, as users run the image. Some engines (inside sandboxes whose bounding set
// lacks a capability) refuse it with "unable to apply caps"; there the test grants what the node needs instead:
// every capability the engine can give, writable /proc/sys, no seccomp or AppArmor profile.
func privilegeOptions(t *testing.T, image string) []string {
	t.Helper()
	out, err := docker("run", "--rm", "--privileged", image, "true")
	if err == nil {
		return []string{"--privileged"}
	}
	if !strings.Contains(out+err.Error(), "caps") {
		t.Fatalf("a privileged container of %s does not start: %v", image, err)
	}
	opts := []string{"--cap-add", "ALL", "--security-opt", "systempaths=unconfined",
		"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"}
	for _, drop := range missingCapabilities() {
		opts = append(opts, "--cap-drop", drop)
	}
	t.Logf("this Docker engine cannot run --privileged containers; running the nodes with %v", opts)
	return opts
}

// capNames are the capabilities by number, as the kernel's bounding set counts them.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
	"IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT",
	"SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE"}

// missingCapabilities lists the capabilities this process's bounding set lacks (the engine's is the same here).
func missingCapabilities() []string {
	b, _ := os.ReadFile("/proc/self/status")
	var bnd uint64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%x", &bnd)
		}
	}
	var missing []string
	for i, name := range capNames {
		if bnd&(1<<i) == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// startEtcd runs etcd on the Docker host, listening on the network's gateway so the containers reach it.
func (c *cluster) startEtcd() {
	t := c.t
	client := fmt.Sprintf("http://%s:%d", c.gateway, freePort(t, c.gateway))
	peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t, "127.0.0.1"))
	dir := t.TempDir()
	cmd := exec.Command("etcd", "--name", "image-test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "image-test="+peer,
		"--log-level", "error")
	for _, kv := range os.Environ() { // etcd reads ETCD_* variables as flags; the caller's are not for it
		if !strings.HasPrefix(kv, "ETCD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	log, _ := os.Create(filepath.Join(dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c.etcd = client
	waitUntil(t, 20*time.Second, "etcd at "+client+" is healthy", func() (bool, string) {
		out, err := exec.Command("etcdctl", "--endpoints", client, "endpoint", "health").CombinedOutput()
		return err == nil, string(out)
	})
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("finding a free port on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// addHost runs one container of the image, as the README's docker run line does but on the test's network.
func (c *cluster) addHost(name string) *host {
	t := c.t
	h := &host{name: name, container: c.network + "-" + name}
	args := append([]string{"run", "-d"}, c.runOpts...)
	args = append(args, "--name", h.container, "--hostname", name, "--network", c.network, "--label", "calico-l3-test="+c.id,
		"-e", "NODENAME="+name, "-e", "ETCD_ENDPOINTS="+c.etcd, "-e", "NO_DEFAULT_POOLS=true",
		"-e", "CALICO_LIBNETWORK_ENABLED=false", "-v", "/lib/modules:/lib/modules:ro", c.image)
	if _, err := docker(args...); err != nil {
		t.Fatal(err)
	}
	c.hosts = append(c.hosts, h)
	ip, err := docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", h.container)
	if err != nil {
		t.Fatal(err)
	}
	h.ip = strings.TrimSpace(ip)
	return h
}

func (h *host) exec(stdin string, args ...string) (string, error) {
	cmd := exec.Command("docker", append([]string{"exec", "-i", h.container}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// addPod makes a namespace inside the host's container and has the image's CNI plugin wire it, as a runtime
// would (CNI_* variables, the network config on stdin).
func (c *cluster) addPod(h *host, name string) string {
	t := c.t
	if out, err := h.exec("", "ip", "netns", "add", name); err != nil {
		t.Fatalf("ip netns add %s in %s: %v\n%s", name, h.container, err, out)
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"image-test","type":"calico","etcd_endpoints":%q,"nodename":%q,"ipam":{"type":"calico-ipam"}}`,
		c.etcd, h.name)
	cmd := exec.Command("docker", "exec", "-i", "-e", "CNI_COMMAND=ADD", "-e", "CNI_CONTAINERID="+name,
		"-e", "CNI_NETNS=/var/run/netns/"+name, "-e", "CNI_IFNAME=eth0", "-e", "CNI_PATH=/opt/cni/bin",
		h.container, "/opt/cni/bin/calico")
	cmd.Stdin = strings.NewReader(conf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CNI ADD of %s on %s: %v\n%s", name, h.name, err, out)
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) == 0 {
		t.Fatalf("CNI ADD of %s on %s: no address in the result (%v):\n%s", name, h.name, err, out)
	}
	ip, _, _ := strings.Cut(res.IPs[0].Address, "/")
	return ip
}

// dump logs every container's output and service logs when the test failed.
func (c *cluster) dump() {
	if !c.t.Failed() {
		return
	}
	for _, h := range c.hosts {
		logs, _ := docker("logs", "--tail", "60", h.container)
		svc, _ := h.exec("", "sh", "-c", "for f in /var/log/calico/*/current; do echo \"-- $f\"; tail -n 30 $f; done; ip route")
		c.t.Logf("==== %s (%s)\n%s\n%s", h.container, h.ip, logs, svc)
	}
}

// remove deletes every container and the network of this test, whatever state they are in.
func (c *cluster) remove() {
	c.dump()
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=calico-l3-test="+c.id).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_, _ = docker(append([]string{"rm", "-f"}, ids...)...)
	}
	_, _ = docker("network", "rm", c.network)
}

// waitUntil polls cond until it holds (see harness.WaitUntil).
var waitUntil = harness.WaitUntil

// established says whether `calicoctl node status` shows peer Established.
func established(status, peer string) bool {
	for _, line := range strings.Split(status, "\n") {
		if strings.Contains(line, "| "+peer+" ") && strings.Contains(line, "Established") {
			return true
		}
	}
	return false
}

func TestTwoContainersOfTheImagePeerAndRouteTheirPods(t *testing.T) {
	needDocker(t)
	image := buildImage(t)
	c := newCluster(t, image)
	h1, h2 := c.addHost("host1"), c.addHost("host2")
	waitUntil(t, 60*time.Second, "both nodes started", func() (bool, string) {
		var all string
		for _, h := range c.hosts {
			logs, _ := docker("logs", h.container)
			all += h.name + ":\n" + logs
			if !strings.Contains(logs, "Calico node started successfully") || !strings.Contains(logs, "under runsvdir") {
				return false, all
			}
		}
		return true, all
	})
	if out, err := h1.exec(`apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.66.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`, "calicoctl", "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool: %v\n%s", err, out)
	}

	took := waitUntil(t, 60*time.Second, "both BGP sessions are Established", func() (bool, string) {
		s1, _ := h1.exec("", "calicoctl", "node", "status")
		s2, _ := h2.exec("", "calicoctl", "node", "status")
		return established(s1, h2.ip) && established(s2, h1.ip), s1 + s2
	})
	t.Logf("host1 (%s) and host2 (%s) Established %s after the pool was created", h1.ip, h2.ip, took.Round(time.Millisecond))

	ipA, ipB := c.addPod(h1, "pa"), c.addPod(h2, "pb")
	waitUntil(t, 60*time.Second, "host1 routes host2's block via host2, learned by BIRD", func() (bool, string) {
		out, _ := h1.exec("", "ip", "route")
		return strings.Contains(out, "via "+h2.ip+" dev eth0 proto bird"), out
	})
	took = waitUntil(t, 60*time.Second, fmt.Sprintf("pa (%s on host1) pings pb (%s on host2)", ipA, ipB), func() (bool, string) {
		out, err := h1.exec("", "ip", "netns", "exec", "pa", "ping", "-c1", "-W1", ipB)
		return err == nil, out
	})
	t.Logf("pa reached pb %s after both were added", took.Round(time.Millisecond))

	// docker stop sends SIGTERM to start_runit: every service stops, BIRD telling its peer, and the container
	// exits 0 long before docker would resort to SIGKILL.
	began := time.Now()
	if _, err := docker("stop", "-t", "30", h2.container); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(began)
	code, _ := docker("inspect", "-f", "{{.State.ExitCode}}", h2.container)
	logs, _ := docker("logs", "--tail", "20", h2.container)
	if strings.TrimSpace(code) != "0" || !strings.Contains(logs, "start_runit: stopped") || stopTook > 20*time.Second {
		t.Errorf("docker stop should end the node cleanly within 20s: exit code %s after %s; its last output:\n%s",
			strings.TrimSpace(code), stopTook.Round(time.Millisecond), logs)
	}
	waitUntil(t, 10*time.Second, "host1 sees host2's BIRD shut down administratively", func() (bool, string) {
		out, _ := h1.exec("", "calicoctl", "node", "status")
		return strings.Contains(out, "Administrative shutdown"), out
	})
}
