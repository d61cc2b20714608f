package cni

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/ipam"
)

// The harness for the tests that run as root: a private etcd with an IPPool, the plugin built into a CNI_PATH
// directory (calico plus a calico-ipam link), real network namespaces, and the real cnitool.

const testNode = "cni-test-node"

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func requireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs root, etcd and network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veths (run `go test ./cni/` as root)")
	}
}

// pluginDir builds cmd/calico once per test binary and returns the CNI_PATH directory holding calico and
// calico-ipam.
func pluginDir(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that builds and runs the plugin")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "calico-cni-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		gobin := filepath.Join(build.Default.GOROOT, "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-o", filepath.Join(dir, "calico"), "github.com/calico-l3/calico/cmd/calico")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/calico: %v\n%s", err, out)
			return
		}
		buildErr = os.Symlink("calico", filepath.Join(dir, "calico-ipam"))
	})
	if buildErr != nil {
		t.Fatalf("building the plugin: %v", buildErr)
	}
	return binDir
}

func cnitoolPath(t testing.TB) string {
	t.Helper()
	p := filepath.Join(build.Default.GOPATH, "bin", "cnitool")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("cnitool"); err == nil {
		return p
	}
	t.Skipf("cnitool not found at %s (tests/install-deps.sh installs it)", p)
	return ""
}

// env is one test's world: etcd, datastore and IPAM clients, a config directory, a calico-node state directory
// (the configs' nodename_file is there, so felix's MTU file is read from it, never from the host's
// /var/lib/calico) and the plugin binaries.
type env struct {
	t        testing.TB
	etcd     string
	ds       *datastore.Etcd
	ipam     *ipam.IPAM
	confDir  string
	stateDir string
	binDir   string
}

// newEnv starts etcd and writes IPPool "pool1" (10.1.240.0/24, /26 blocks) and an IPv6 pool "pool6".
func newEnv(t testing.TB) *env {
	t.Helper()
	requireRoot(t)
	return newEnvAt(t, etcdtest.Start(t))
}

// newEnvAt is newEnv against an etcd the test started itself.
func newEnvAt(t testing.TB, endpoint string) *env {
	t.Helper()
	requireRoot(t)
	e := &env{t: t, binDir: pluginDir(t), confDir: t.TempDir(), stateDir: t.TempDir(), etcd: endpoint}
	ds, err := datastore.New(datastore.Config{Endpoints: []string{e.etcd}, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	e.ds, e.ipam = ds, ipam.New(ds)
	e.addPool("pool1", "10.1.240.0/24", 26)
	e.addPool("pool6", "fd00:10::/120", 122)
	return e
}

func (e *env) addPool(name, cidr string, blockSize int) {
	e.t.Helper()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}}
	p.Default()
	if err := p.Validate(); err != nil {
		e.t.Fatalf("pool %s: %v", name, err)
	}
	if _, err := e.ds.Create(context.Background(), p); err != nil {
		e.t.Fatalf("creating pool %s: %v", name, err)
	}
}

// conf is a network config for this env; extra fields are merged in (a nil value deletes a field, and "ipam"
// entries are merged into the ipam section).
func (e *env) conf(name, version string, extra map[string]any) []byte {
	e.t.Helper()
	c := map[string]any{
		"cniVersion":     version,
		"name":           name,
		"type":           "calico",
		"etcd_endpoints": e.etcd,
		"nodename":       testNode,
		"nodename_file":  filepath.Join(e.stateDir, "nodename"),
		"log_level":      "debug",
		"ipam_lock_file": filepath.Join(e.stateDir, "ipam.lock"),
	}
	ipamSection := map[string]any{"type": "calico-ipam"}
	for k, v := range extra {
		if k == "ipam" {
			for ik, iv := range v.(map[string]any) {
				ipamSection[ik] = iv
			}
			continue
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	c["ipam"] = ipamSection
	b, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// writeConf writes a network config into the NETCONFPATH directory cnitool reads.
func (e *env) writeConf(name, version string, extra map[string]any) []byte {
	e.t.Helper()
	b := e.conf(name, version, extra)
	if err := os.WriteFile(filepath.Join(e.confDir, name+".conf"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// pod is a network namespace created for a test and removed when it ends.
type pod struct {
	ns   ns.NetNS
	path string
	name string
}

// newPod creates the namespace with `ip netns add`. Not testutils.NewNS: that ends the OS thread it used, and a
// child process started from that thread earlier (etcdtest's etcd, which has a parent-death signal) would be
// killed with it.
func newPod(t testing.TB) *pod {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("cni-test-%x", b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	p := &pod{path: "/var/run/netns/" + name, name: name}
	t.Cleanup(func() {
		if p.ns != nil {
			_ = p.ns.Close()
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	n, err := ns.GetNS(p.path)
	if err != nil {
		t.Fatalf("opening netns %s: %v", p.path, err)
	}
	p.ns = n
	return p
}

// remove deletes the namespace, as a runtime does when a pod is gone.
func (p *pod) remove(t testing.TB) {
	t.Helper()
	_ = p.ns.Close()
	p.ns = nil
	if out, err := exec.Command("ip", "netns", "del", p.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v\n%s", p.name, err, out)
	}
}

// cnitoolID is the container ID cnitool derives from the netns path.
func cnitoolID(netnsPath string) string {
	abs, _ := filepath.Abs(netnsPath)
	s := sha512.Sum512([]byte(abs))
	return fmt.Sprintf("cnitool-%x", s[:10])
}

// attachmentNames are the names the plugin derives for a container interface on a network.
type attachmentNames struct {
	containerID, handle, hostVeth, endpoint string
}

func namesFor(network, containerID, ifName string) attachmentNames {
	return attachmentNames{
		containerID: containerID,
		handle:      HandleID(network, containerID, ifName),
		hostVeth:    HostVethName(WorkloadID(network, containerID, ifName)),
		endpoint:    EndpointName(testNode, containerID, ifName),
	}
}

// cnitool runs the real cnitool; stdout is the result, stderr has the plugin's log lines and cnitool's error.
func (e *env) cnitool(command, network string, p *pod, ifName string) (stdout, stderr string, err error) {
	e.t.Helper()
	cmd := exec.Command(cnitoolPath(e.t), command, network, p.path)
	cmd.Env = append(os.Environ(), "CNI_PATH="+e.binDir, "NETCONFPATH="+e.confDir, "CNI_IFNAME="+ifName)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if command == "add" {
		// cnitool caches ADD results under /var/lib/cni; DEL removes the file, a failed test may not get there.
		cache := filepath.Join("/var/lib/cni/results", network+"-"+cnitoolID(p.path)+"-"+ifName)
		e.t.Cleanup(func() { os.Remove(cache) })
	}
	return out.String(), errOut.String(), err
}

func (e *env) mustCNITool(command, network string, p *pod, ifName string) string {
	e.t.Helper()
	out, stderr, err := e.cnitool(command, network, p, ifName)
	if err != nil {
		e.t.Fatalf("cnitool %s %s: %v\nstdout: %s\nstderr: %s", command, network, err, out, stderr)
	}
	return out
}

// execPlugin runs the plugin binary the way a runtime does; a failure returns the CNI error JSON it printed.
// extraEnv (e.g. CNI_ARGS) is added to the runtime's variables.
func (e *env) execPlugin(binary, command string, conf []byte, containerID, netnsPath, ifName string, extraEnv ...string) (stdout, stderr string, cniErr *types.Error) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.binDir, binary))
	cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID="+containerID, "CNI_NETNS="+netnsPath,
		"CNI_IFNAME="+ifName, "CNI_PATH="+e.binDir)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdin = bytes.NewReader(conf)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err == nil {
		return out.String(), errOut.String(), nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		e.t.Fatalf("running %s: %v", binary, err)
	}
	cniErr = &types.Error{}
	if jerr := json.Unmarshal(out.Bytes(), cniErr); jerr != nil {
		e.t.Fatalf("%s %s failed without CNI error JSON on stdout (%v)\nstdout: %s\nstderr: %s", binary, command, jerr, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), cniErr
}

// handleIPs lists the addresses IPAM holds for a handle; none when the handle does not exist.
func (e *env) handleIPs(handle string) []string {
	e.t.Helper()
	ips, err := e.ipam.IPsByHandle(context.Background(), handle)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("reading handle %s: %v", handle, err)
	}
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

func (e *env) endpoint(name string) *api.WorkloadEndpoint {
	e.t.Helper()
	r, err := e.ds.Get(context.Background(), endpointKind, api.DefaultNamespace, name)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("reading endpoint %s: %v", name, err)
	}
	return r.(*api.WorkloadEndpoint)
}

// allEndpoints lists every WorkloadEndpoint name in the datastore.
func (e *env) allEndpoints() []string {
	e.t.Helper()
	rs, _, err := e.ds.List(context.Background(), endpointKind, "")
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.GetObjectMeta().Name)
	}
	return names
}

// assertNothingLeft checks that an attachment left no address, endpoint or host veth behind.
func (e *env) assertNothingLeft(n attachmentNames) {
	e.t.Helper()
	if ips := e.handleIPs(n.handle); len(ips) > 0 {
		e.t.Errorf("expected handle %s to hold no addresses, it holds %v", n.handle, ips)
	}
	if wep := e.endpoint(n.endpoint); wep != nil {
		e.t.Errorf("expected no endpoint %s, found one with %v", n.endpoint, wep.Spec.IPNetworks)
	}
	if hostLinkExists(n.hostVeth) {
		e.t.Errorf("expected no host veth %s, it exists", n.hostVeth)
	}
}

// removeVethAtCleanup makes sure a failing test does not leave a veth on the host.
func removeVethAtCleanup(t testing.TB, name string) {
	t.Cleanup(func() { _ = removeHostVeth(name) })
}

func hostLinkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// podLinkNames lists the interfaces inside a pod namespace.
func (p *pod) linkNames(t testing.TB) []string {
	t.Helper()
	var names []string
	err := p.ns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// link finds an interface inside the pod; a test error when it is missing.
func (p *pod) link(t testing.TB, name string) netlink.Link {
	t.Helper()
	var l netlink.Link
	err := p.ns.Do(func(ns.NetNS) error {
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	if err != nil {
		t.Errorf("expected %s in the pod: %v", name, err)
		return nil
	}
	return l
}

// ip runs iproute2 and returns its output, to compare with what a user would see.
func ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// result is the part of a CNI result (any version) the tests look at.
type result struct {
	CNIVersion string `json:"cniVersion"`
	Interfaces []struct {
		Name, Mac, Sandbox string
		Mtu                int // a 1.1.0 field; 0 when not reported
	}
	IPs []struct {
		Address   string
		Version   string
		Interface *int
	}
}

func parseResult(t testing.TB, s string) result {
	t.Helper()
	var r result
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, s)
	}
	return r
}

// inPool says whether an address (with or without prefix length) lies in a CIDR.
func inPool(addr, cidr string) bool {
	ip, _, err := net.ParseCIDR(addr)
	if err != nil {
		ip = net.ParseIP(addr)
	}
	_, n, _ := net.ParseCIDR(cidr)
	return ip != nil && n.Contains(ip)
}
