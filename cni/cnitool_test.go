package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// These tests drive the built plugin through the real cnitool (or exec it directly where the error JSON itself
// is under test) against real network namespaces and a private etcd.

func TestCNIToolAddCheckDelForEachSpecVersion(t *testing.T) {
	e := newEnv(t)
	for _, version := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0"} {
		t.Run("cniVersion "+version, func(t *testing.T) {
			network := "net-" + strings.ReplaceAll(version, ".", "")
			logFile := filepath.Join(t.TempDir(), "log", "cni.log")
			e.writeConf(network, version, map[string]any{"mtu": 1400, "log_file_path": logFile})
			p := newPod(t)
			n := namesFor(network, cnitoolID(p.path), "eth0")
			removeVethAtCleanup(t, n.hostVeth)

			out, stderr, err := e.cnitool("add", network, p, "eth0")
			if err != nil {
				t.Fatalf("cnitool add: %v\n%s%s", err, out, stderr)
			}
			res := parseResult(t, out)
			if res.CNIVersion != version {
				t.Errorf("expected a %s result, got cniVersion %q", version, res.CNIVersion)
			}
			if len(res.IPs) != 1 || !inPool(res.IPs[0].Address, "10.1.240.0/24") || !strings.HasSuffix(res.IPs[0].Address, "/32") {
				t.Fatalf("expected one /32 from pool1 10.1.240.0/24, got %+v", res.IPs)
			}
			podIP := strings.TrimSuffix(res.IPs[0].Address, "/32")
			if len(res.Interfaces) != 2 || res.Interfaces[0].Name != n.hostVeth || res.Interfaces[0].Mac != HostMAC ||
				res.Interfaces[1].Name != "eth0" || res.Interfaces[1].Sandbox != p.path {
				t.Errorf("expected interfaces [%s %s] and [eth0 in %s], got %+v", n.hostVeth, HostMAC, p.path, res.Interfaces)
			}

			// The log lines, on stderr and in the log file.
			logged, _ := os.ReadFile(logFile)
			for _, want := range []string{"Calico CNI IPAM assigned addresses IPv4=[" + podIP + "] IPv6=[]", "Calico CNI creating profile: " + network} {
				if !strings.Contains(stderr, want) {
					t.Errorf("expected %q on stderr, got:\n%s", want, stderr)
				}
				if !strings.Contains(string(logged), want) {
					t.Errorf("expected %q in %s, got:\n%s", want, logFile, logged)
				}
			}

			// Inside the pod: the address, the link route to the gateway and the default route via it.
			if got := ip(t, "-n", p.name, "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(got, "inet "+podIP+"/32 ") {
				t.Errorf("expected eth0 in the pod to have %s/32, got %s", podIP, got)
			}
			if got, want := ip(t, "-n", p.name, "-4", "route"), "default via 169.254.1.1 dev eth0 \n169.254.1.1 dev eth0 scope link"; got != want {
				t.Errorf("expected pod routes\n%s\ngot\n%s", want, got)
			}

			// The host end.
			host, err := netlink.LinkByName(n.hostVeth)
			if err != nil {
				t.Fatalf("expected host veth %s: %v", n.hostVeth, err)
			}
			if a := host.Attrs(); a.HardwareAddr.String() != HostMAC || a.MTU != 1400 || a.OperState != netlink.OperUp {
				t.Errorf("expected host veth with MAC %s, MTU 1400, up; got MAC %s, MTU %d, state %s", HostMAC, a.HardwareAddr, a.MTU, a.OperState)
			}
			for sysctl, want := range map[string]string{
				"net/ipv4/conf/" + n.hostVeth + "/proxy_arp":    "1",
				"net/ipv4/neigh/" + n.hostVeth + "/proxy_delay": "0",
				"net/ipv4/conf/" + n.hostVeth + "/forwarding":   "1",
			} {
				if got, err := readSysctl(sysctl); got != want {
					t.Errorf("expected %s = %s, got %q (%v)", sysctl, want, got, err)
				}
			}
			podMAC := ""
			if l := p.link(t, "eth0"); l != nil {
				podMAC = l.Attrs().HardwareAddr.String()
				if l.Attrs().MTU != 1400 {
					t.Errorf("expected pod eth0 MTU 1400, got %d", l.Attrs().MTU)
				}
			}

			// The datastore: endpoint, profile and the IPAM handle.
			wep := e.endpoint(n.endpoint)
			if wep == nil {
				t.Fatalf("expected endpoint %s, found none among %v", n.endpoint, e.allEndpoints())
			}
			wantSpec := api.WorkloadEndpointSpec{
				Orchestrator: "cni", Workload: n.containerID, Node: testNode, ContainerID: n.containerID, Endpoint: "eth0",
				IPNetworks: []string{podIP + "/32"}, Profiles: []string{network}, InterfaceName: n.hostVeth, MAC: podMAC,
			}
			if !reflect.DeepEqual(wep.Spec, wantSpec) {
				t.Errorf("expected endpoint spec\n%+v\ngot\n%+v", wantSpec, wep.Spec)
			}
			if wep.Namespace != "default" || wep.Labels[api.LabelOrchestrator] != "cni" || wep.Labels[api.LabelNamespace] != "default" {
				t.Errorf("expected namespace default with namespace and orchestrator labels, got %s %v", wep.Namespace, wep.Labels)
			}
			prof, err := e.ds.Get(context.Background(), api.KindOf(&api.Profile{}), "", network)
			if err != nil {
				t.Fatalf("expected profile %s: %v", network, err)
			}
			if got, want := prof.(*api.Profile).Spec, DefaultProfile(network).Spec; !reflect.DeepEqual(got, want) {
				t.Errorf("expected profile spec %+v, got %+v", want, got)
			}
			if got := e.handleIPs(n.handle); !reflect.DeepEqual(got, []string{podIP}) {
				t.Errorf("expected handle %s to hold [%s], got %v", n.handle, podIP, got)
			}

			// CHECK exists from 0.4.0.
			_, stderr, err = e.cnitool("check", network, p, "eth0")
			if version >= "0.4.0" && err != nil {
				t.Errorf("expected CHECK to pass, got %v\n%s", err, stderr)
			}
			if version < "0.4.0" && (err == nil || !strings.Contains(stderr, "does not support the CHECK command")) {
				t.Errorf("expected cnitool to refuse CHECK for %s, got err=%v stderr=%s", version, err, stderr)
			}

			e.mustCNITool("del", network, p, "eth0")
			e.assertNothingLeft(n)
			if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
				t.Errorf("expected only lo left in the pod, got %v", names)
			}
			if _, err := e.ds.Get(context.Background(), api.KindOf(&api.Profile{}), "", network); err != nil {
				t.Errorf("expected the profile to stay after DEL, got %v", err)
			}
		})
	}
}

func TestRepeatedAddReturnsTheSameResultWithoutASecondAddress(t *testing.T) {
	e := newEnv(t)
	e.writeConf("retry-net", "1.0.0", nil)
	p := newPod(t)
	n := namesFor("retry-net", cnitoolID(p.path), "eth0")
	removeVethAtCleanup(t, n.hostVeth)

	first := e.mustCNITool("add", "retry-net", p, "eth0")
	second := e.mustCNITool("add", "retry-net", p, "eth0")
	if first != second {
		t.Errorf("expected the second ADD to print the first one's result\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	if ips := e.handleIPs(n.handle); len(ips) != 1 {
		t.Errorf("expected the handle to hold one address after two ADDs, got %v", ips)
	}
	if eps := e.allEndpoints(); len(eps) != 1 {
		t.Errorf("expected one endpoint after two ADDs, got %v", eps)
	}
	e.mustCNITool("check", "retry-net", p, "eth0")

	e.mustCNITool("del", "retry-net", p, "eth0")
	if _, stderr, err := e.cnitool("del", "retry-net", p, "eth0"); err != nil {
		t.Errorf("expected a second DEL to succeed, got %v\n%s", err, stderr)
	}
	e.assertNothingLeft(n)
}

func TestDelSucceedsWhenThereIsNothingToDelete(t *testing.T) {
	e := newEnv(t)
	conf := e.writeConf("del-net", "0.4.0", nil)

	t.Run("DEL of a container that was never added succeeds", func(t *testing.T) {
		p := newPod(t)
		if _, stderr, err := e.cnitool("del", "del-net", p, "eth0"); err != nil {
			t.Fatalf("expected DEL without ADD to succeed, got %v\n%s", err, stderr)
		}
	})

	t.Run("DEL without a netns at all succeeds", func(t *testing.T) {
		_, stderr, cniErr := e.execPlugin("calico", "DEL", conf, "never-added", "", "eth0")
		if cniErr != nil {
			t.Fatalf("expected DEL with an empty CNI_NETNS to succeed, got %+v\n%s", cniErr, stderr)
		}
	})

	t.Run("DEL after the netns is gone releases the address and deletes the endpoint", func(t *testing.T) {
		p := newPod(t)
		n := namesFor("del-net", cnitoolID(p.path), "eth0")
		removeVethAtCleanup(t, n.hostVeth)
		e.mustCNITool("add", "del-net", p, "eth0")
		p.remove(t)
		if _, stderr, err := e.cnitool("del", "del-net", p, "eth0"); err != nil {
			t.Fatalf("expected DEL of a removed netns to succeed, got %v\n%s", err, stderr)
		}
		e.assertNothingLeft(n)
	})
}

func TestCheckFailsWhenThePodIsNotAsAddLeftIt(t *testing.T) {
	e := newEnv(t)
	e.writeConf("check-net", "1.0.0", nil)
	tests := []struct {
		name    string
		tamper  func(t *testing.T, p *pod, n attachmentNames)
		wantErr string
	}{
		{"a deleted default route is reported", func(t *testing.T, p *pod, _ attachmentNames) {
			ip(t, "-n", p.name, "route", "del", "default")
		}, "no default route via 169.254.1.1"},
		{"a removed pod address is reported", func(t *testing.T, p *pod, _ attachmentNames) {
			ip(t, "-n", p.name, "addr", "flush", "dev", "eth0")
		}, "expected ["},
		{"a host veth set down is reported", func(t *testing.T, _ *pod, n attachmentNames) {
			ip(t, "link", "set", n.hostVeth, "down")
		}, "is down"},
		{"a deleted endpoint is reported", func(t *testing.T, _ *pod, n attachmentNames) {
			if _, err := e.ds.Delete(context.Background(), endpointKind, "default", n.endpoint, ""); err != nil {
				t.Fatal(err)
			}
		}, "resource does not exist"},
		{"a released address is reported", func(t *testing.T, _ *pod, n attachmentNames) {
			if err := e.ipam.ReleaseByHandle(context.Background(), n.handle); err != nil {
				t.Fatal(err)
			}
		}, "IPAM has no handle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(t)
			n := namesFor("check-net", cnitoolID(p.path), "eth0")
			removeVethAtCleanup(t, n.hostVeth)
			e.mustCNITool("add", "check-net", p, "eth0")
			e.mustCNITool("check", "check-net", p, "eth0")
			tt.tamper(t, p, n)
			_, stderr, err := e.cnitool("check", "check-net", p, "eth0")
			if err == nil || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("expected CHECK to fail with %q, got err=%v stderr=%s", tt.wantErr, err, stderr)
			}
			e.mustCNITool("del", "check-net", p, "eth0")
			e.assertNothingLeft(n)
		})
	}
}

func TestBadConfigFieldsGiveCNIErrorJSONAndTakeNothing(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		extra     map[string]any
		wantField string
	}{
		{"an MTU given as a string", map[string]any{"mtu": "1500"}, "mtu"},
		{"an unknown log level", map[string]any{"log_level": "chatty"}, "log_level"},
		{"an IPAM type the plugin does not drive", map[string]any{"ipam": map[string]any{"type": "host-local"}}, "ipam.type"},
		{"a malformed IPv4 pool", map[string]any{"ipam": map[string]any{"ipv4_pools": []string{"10.1.240.0/33"}}}, "ipam.ipv4_pools[0]"},
		{"assign_ipv4 that is not a boolean", map[string]any{"ipam": map[string]any{"assign_ipv4": "maybe"}}, "ipam.assign_ipv4"},
		{"etcd endpoints without a scheme", map[string]any{"etcd_endpoints": "127.0.0.1:2379"}, "etcd_endpoints"},
		{"a missing etcd CA file", map[string]any{"etcd_ca_cert_file": "/nonexistent/ca.pem"}, "etcd_ca_cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(t)
			conf := e.conf("bad-net", "1.0.0", tt.extra)
			n := namesFor("bad-net", "bad-config", "eth0")
			removeVethAtCleanup(t, n.hostVeth)
			_, stderr, cniErr := e.execPlugin("calico", "ADD", conf, n.containerID, p.path, "eth0")
			if cniErr == nil {
				t.Fatalf("expected ADD to fail, it succeeded\n%s", stderr)
			}
			if cniErr.Code != types.ErrInvalidNetworkConfig || !strings.Contains(cniErr.Msg, tt.wantField) || cniErr.Details == "" {
				t.Errorf("expected code 7, a msg naming %s and details; got %+v", tt.wantField, cniErr)
			}
			e.assertNothingLeft(n)
		})
	}

	t.Run("cnitool shows the field too", func(t *testing.T) {
		p := newPod(t)
		e.writeConf("bad-net", "1.0.0", map[string]any{"mtu": 70000})
		_, stderr, err := e.cnitool("add", "bad-net", p, "eth0")
		if err == nil || !strings.Contains(stderr, "invalid network config field mtu: must be between 68 and 65535") {
			t.Errorf("expected cnitool to fail naming mtu, got err=%v stderr=%s", err, stderr)
		}
	})
}

func TestUnreachableEtcdFailsClearlyAndLeaksNothing(t *testing.T) {
	requireRoot(t)
	srv := etcdtest.StartServer(t)
	e := newEnvAt(t, srv.Endpoint)
	conf := e.conf("down-net", "1.0.0", map[string]any{"etcd_endpoints": srv.Endpoint})
	p := newPod(t)
	n := namesFor("down-net", "etcd-down", "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	srv.Stop()

	_, _, cniErr := e.execPlugin("calico", "ADD", conf, n.containerID, p.path, "eth0")
	if cniErr == nil {
		t.Fatal("expected ADD to fail with etcd down")
	}
	if cniErr.Code != types.ErrTryAgainLater || !strings.Contains(cniErr.Msg, srv.Endpoint) || !strings.Contains(cniErr.Msg, "datastore unreachable") {
		t.Errorf("expected code 11 and a msg naming the unreachable endpoint %s, got %+v", srv.Endpoint, cniErr)
	}
	if hostLinkExists(n.hostVeth) {
		t.Errorf("expected no host veth %s after the failed ADD", n.hostVeth)
	}
	if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
		t.Errorf("expected only lo in the pod after the failed ADD, got %v", names)
	}

	srv.Restart()
	e.assertNothingLeft(n)
}

func TestPoolExhaustedFailsNamingThePoolAndLeavesNoVeth(t *testing.T) {
	e := newEnv(t)
	e.addPool("tiny", "10.99.0.0/30", 30) // four addresses
	e.writeConf("tiny-net", "1.0.0", map[string]any{"ipam": map[string]any{"ipv4_pools": []string{"tiny"}}})
	var taken []string
	for i := 0; ; i++ {
		p := newPod(t)
		n := namesFor("tiny-net", cnitoolID(p.path), "eth0")
		removeVethAtCleanup(t, n.hostVeth)
		out, stderr, err := e.cnitool("add", "tiny-net", p, "eth0")
		if err == nil {
			taken = append(taken, parseResult(t, out).IPs[0].Address)
			if i > 4 {
				t.Fatalf("expected the four-address pool to run out, got %v", taken)
			}
			continue
		}
		if len(taken) != 4 {
			t.Errorf("expected four ADDs to succeed before the pool ran out, got %v", taken)
		}
		if !strings.Contains(stderr, "tiny") || !strings.Contains(stderr, "10.99.0.0/30") || !strings.Contains(stderr, "no free addresses") {
			t.Errorf("expected an error naming pool tiny (10.99.0.0/30) as exhausted, got %s", stderr)
		}
		e.assertNothingLeft(n)
		if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
			t.Errorf("expected only lo in the pod after the failed ADD, got %v", names)
		}
		break
	}
}

func TestMissingNetnsFailsBeforeTakingAnAddress(t *testing.T) {
	e := newEnv(t)
	conf := e.writeConf("nons-net", "1.0.0", nil)
	missing := "/var/run/netns/calico-cni-test-does-not-exist"
	n := namesFor("nons-net", "no-netns", "eth0")
	_, _, cniErr := e.execPlugin("calico", "ADD", conf, n.containerID, missing, "eth0")
	if cniErr == nil || cniErr.Code != types.ErrInvalidNetNS || !strings.Contains(cniErr.Msg, missing) {
		t.Errorf("expected code 8 naming %s, got %+v", missing, cniErr)
	}
	e.assertNothingLeft(n)

	out, stderr, err := e.cnitool("add", "nons-net", &pod{path: missing}, "eth0")
	if err == nil || !strings.Contains(stderr, missing) {
		t.Errorf("expected cnitool add to fail naming %s, got err=%v\n%s%s", missing, err, out, stderr)
	}
}

func TestNotReadyClusterInformationRefusesADD(t *testing.T) {
	e := newEnv(t)
	no := false
	ci := &api.ClusterInformation{ObjectMeta: api.ObjectMeta{Name: "default"}, Spec: api.ClusterInformationSpec{DatastoreReady: &no}}
	if _, err := e.ds.Create(context.Background(), ci); err != nil {
		t.Fatal(err)
	}
	e.writeConf("ready-net", "1.0.0", nil)
	p := newPod(t)
	n := namesFor("ready-net", cnitoolID(p.path), "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	_, stderr, err := e.cnitool("add", "ready-net", p, "eth0")
	if err == nil || !strings.Contains(stderr, "Calico is currently not ready to process requests") {
		t.Errorf("expected ADD to be refused while the datastore is not ready, got err=%v\n%s", err, stderr)
	}
	e.assertNothingLeft(n)

	yes := true
	ci.Spec.DatastoreReady = &yes
	if _, err := e.ds.Apply(context.Background(), ci); err != nil {
		t.Fatal(err)
	}
	e.mustCNITool("add", "ready-net", p, "eth0")
	e.mustCNITool("del", "ready-net", p, "eth0")
	e.assertNothingLeft(n)
}

func TestIPv6PodGetsAddressAndDefaultRouteViaHostLinkLocal(t *testing.T) {
	e := newEnv(t)
	e.writeConf("dual-net", "1.0.0", map[string]any{"ipam": map[string]any{"assign_ipv6": "true"}})
	p := newPod(t)
	n := namesFor("dual-net", cnitoolID(p.path), "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	out, stderr := e.mustCNITool("add", "dual-net", p, "eth0"), ""
	res := parseResult(t, out)
	if len(res.IPs) != 2 || !inPool(res.IPs[0].Address, "10.1.240.0/24") || !inPool(res.IPs[1].Address, "fd00:10::/120") ||
		!strings.HasSuffix(res.IPs[1].Address, "/128") {
		t.Fatalf("expected an IPv4 /32 and an IPv6 /128 from the pools, got %+v\n%s", res.IPs, stderr)
	}
	host, err := netlink.LinkByName(n.hostVeth)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := netlink.AddrList(host, netlink.FAMILY_V6)
	var hostLL string
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			hostLL = a.IP.String()
		}
	}
	if hostLL == "" {
		t.Fatalf("expected the host veth to have a link-local address, got %v", addrs)
	}
	if got, want := ip(t, "-n", p.name, "-6", "route", "show", "default"), "default via "+hostLL+" dev eth0"; !strings.HasPrefix(got, want) {
		t.Errorf("expected pod IPv6 route %q, got %q", want, got)
	}
	v6 := strings.TrimSuffix(res.IPs[1].Address, "/128")
	if got := ip(t, "-n", p.name, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"); !strings.Contains(got, "inet6 "+v6+"/128") {
		t.Errorf("expected %s/128 on the pod's eth0, got %s", v6, got)
	}
	for _, s := range []string{"proxy_ndp", "forwarding"} {
		if got, _ := readSysctl("net/ipv6/conf/" + n.hostVeth + "/" + s); got != "1" {
			t.Errorf("expected host net.ipv6.conf.%s.%s = 1, got %q", n.hostVeth, s, got)
		}
	}
	e.mustCNITool("check", "dual-net", p, "eth0")
	e.mustCNITool("del", "dual-net", p, "eth0")
	e.assertNothingLeft(n)
}

// With the /32 route felix would install, the host reaches the pod: proof that proxy_arp and the pod's
// routes via 169.254.1.1 work together.
func TestPodAnswersTheHostOnceTheHostRouteExists(t *testing.T) {
	e := newEnv(t)
	e.writeConf("ping-net", "1.0.0", nil)
	p := newPod(t)
	n := namesFor("ping-net", cnitoolID(p.path), "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	res := parseResult(t, e.mustCNITool("add", "ping-net", p, "eth0"))
	podIP := strings.TrimSuffix(res.IPs[0].Address, "/32")
	ip(t, "route", "add", podIP+"/32", "dev", n.hostVeth, "scope", "link") // felix's job; gone with the veth
	if out, err := execOutput("ping", "-c", "1", "-W", "2", podIP); err != nil {
		t.Errorf("expected the pod at %s to answer ping from the host, got %v\n%s", podIP, err, out)
	}
	e.mustCNITool("del", "ping-net", p, "eth0")
	e.assertNothingLeft(n)
}

func TestSecondNetworkOnTheSameInterfaceIsRefused(t *testing.T) {
	e := newEnv(t)
	e.writeConf("net-a", "1.0.0", nil)
	e.writeConf("net-b", "1.0.0", nil)
	p := newPod(t)
	a := namesFor("net-a", cnitoolID(p.path), "eth0")
	b := namesFor("net-b", cnitoolID(p.path), "eth0")
	removeVethAtCleanup(t, a.hostVeth)
	removeVethAtCleanup(t, b.hostVeth)
	e.mustCNITool("add", "net-a", p, "eth0")
	_, stderr, err := e.cnitool("add", "net-b", p, "eth0")
	if err == nil || !strings.Contains(stderr, "already attached to network(s) net-a") {
		t.Errorf("expected net-b to be refused on net-a's eth0, got err=%v\n%s", err, stderr)
	}
	if ips := e.handleIPs(b.handle); len(ips) > 0 || hostLinkExists(b.hostVeth) {
		t.Errorf("expected net-b to take nothing, got addresses %v, veth %v", ips, hostLinkExists(b.hostVeth))
	}
	// net-b's DEL must leave net-a's attachment alone.
	e.mustCNITool("del", "net-b", p, "eth0")
	e.mustCNITool("check", "net-a", p, "eth0")
	e.mustCNITool("del", "net-a", p, "eth0")
	e.assertNothingLeft(a)
}

func TestCalicoIPAMModeAssignsAndReleasesByHandle(t *testing.T) {
	e := newEnv(t)
	for _, version := range []string{"0.3.1", "1.0.0"} {
		t.Run("cniVersion "+version, func(t *testing.T) {
			network := "ipam-" + strings.ReplaceAll(version, ".", "")
			e.writeConf(network, version, map[string]any{"type": "calico-ipam"})
			p := newPod(t)
			n := namesFor(network, cnitoolID(p.path), "eth0")
			out, stderr, err := e.cnitool("add", network, p, "eth0")
			if err != nil {
				t.Fatalf("calico-ipam ADD: %v\n%s", err, stderr)
			}
			res := parseResult(t, out)
			if len(res.IPs) != 1 || len(res.Interfaces) != 0 || !inPool(res.IPs[0].Address, "10.1.240.0/24") {
				t.Fatalf("expected one address from pool1 and no interfaces, got %s", out)
			}
			addr := strings.TrimSuffix(res.IPs[0].Address, "/32")
			if !strings.Contains(stderr, "Calico CNI IPAM assigned addresses IPv4=["+addr+"] IPv6=[]") {
				t.Errorf("expected the assignment to be logged, got %s", stderr)
			}
			if got := e.handleIPs(n.handle); !reflect.DeepEqual(got, []string{addr}) {
				t.Errorf("expected handle %s to hold [%s], got %v", n.handle, addr, got)
			}
			if again := e.mustCNITool("add", network, p, "eth0"); again != out {
				t.Errorf("expected a repeated ADD to return the same address, got %s then %s", out, again)
			}
			if hostLinkExists(n.hostVeth) || !reflect.DeepEqual(p.linkNames(t), []string{"lo"}) {
				t.Errorf("expected calico-ipam to create no interfaces")
			}
			if version >= "0.4.0" {
				e.mustCNITool("check", network, p, "eth0")
			}
			e.mustCNITool("del", network, p, "eth0")
			if got := e.handleIPs(n.handle); len(got) != 0 {
				t.Errorf("expected the handle released, it holds %v", got)
			}
			e.mustCNITool("del", network, p, "eth0")
		})
	}
}

func TestVersionListsTheSupportedSpecVersions(t *testing.T) {
	e := &env{t: t, binDir: pluginDir(t)}
	for _, bin := range []string{"calico", "calico-ipam"} {
		out, stderr, cniErr := e.execPlugin(bin, "VERSION", []byte(`{"cniVersion":"1.0.0"}`), "", "", "")
		if cniErr != nil {
			t.Fatalf("%s VERSION: %+v %s", bin, cniErr, stderr)
		}
		var v struct {
			SupportedVersions []string `json:"supportedVersions"`
		}
		_ = json.Unmarshal([]byte(out), &v)
		if want := []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0"}; !reflect.DeepEqual(v.SupportedVersions, want) {
			t.Errorf("expected %s to support %v, got %s", bin, want, out)
		}
	}
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func TestNodeNameComesFromTheNodenameFileWhenTheConfigHasNone(t *testing.T) {
	e := newEnv(t)
	file := filepath.Join(t.TempDir(), "nodename")
	if err := os.WriteFile(file, []byte("file-node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.writeConf("file-net", "1.0.0", map[string]any{"nodename": nil, "nodename_file": file})
	p := newPod(t)
	cid := cnitoolID(p.path)
	removeVethAtCleanup(t, HostVethName(WorkloadID("file-net", cid, "eth0")))
	e.mustCNITool("add", "file-net", p, "eth0")
	name := EndpointName("file-node", cid, "eth0")
	if wep := e.endpoint(name); wep == nil || wep.Spec.Node != "file-node" {
		t.Errorf("expected endpoint %s on node file-node, got %v among %v", name, wep, e.allEndpoints())
	}
	e.mustCNITool("del", "file-net", p, "eth0")
	if eps := e.allEndpoints(); len(eps) != 0 {
		t.Errorf("expected no endpoints after DEL, got %v", eps)
	}
}

// TestVethMTUFollowsFelixsFileUnlessTheConfigSetsOne writes felix's MTU file beside the nodename file and checks
// both veth ends, as `ip link` shows them, against the MTU the config and the file resolve to.
func TestVethMTUFollowsFelixsFileUnlessTheConfigSetsOne(t *testing.T) {
	e := newEnv(t)
	mtuFile := filepath.Join(e.stateDir, MTUFile)
	for _, tc := range []struct {
		name    string
		file    string // "": no file
		conf    map[string]any
		want    int
		wantErr string // the ADD fails with this in its error instead
	}{
		{"no mtu in the config and 1450 in the file gives 1450", "1450\n", nil, 1450, ""},
		{"mtu 0 in the config also follows the file", "1450\n", map[string]any{"mtu": 0}, 1450, ""},
		{"mtu 1400 in the config overrides the file", "1450\n", map[string]any{"mtu": 1400}, 1400, ""},
		{"no mtu and no file gives 1500", "", nil, 1500, ""},
		{"a malformed file fails the ADD naming it", "14x0\n", nil, 0, `veth MTU file ` + mtuFile + `: got "14x0\n"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(mtuFile)
			if tc.file != "" {
				if err := os.WriteFile(mtuFile, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			e.writeConf("mtu-net", "1.0.0", tc.conf)
			p := newPod(t)
			n := namesFor("mtu-net", cnitoolID(p.path), "eth0")
			removeVethAtCleanup(t, n.hostVeth)

			out, stderr, err := e.cnitool("add", "mtu-net", p, "eth0")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tc.wantErr) {
					t.Errorf("expected the ADD to fail with %q, got err=%v stderr=%s", tc.wantErr, err, stderr)
				}
				e.assertNothingLeft(n)
				return
			}
			if err != nil {
				t.Fatalf("cnitool add: %v\n%s%s", err, out, stderr)
			}
			mtu := fmt.Sprintf(" mtu %d ", tc.want)
			if got := ip(t, "-o", "link", "show", "dev", n.hostVeth); !strings.Contains(got, mtu) {
				t.Errorf("expected host veth with%s, got %s", mtu, got)
			}
			if got := ip(t, "-n", p.name, "-o", "link", "show", "dev", "eth0"); !strings.Contains(got, mtu) {
				t.Errorf("expected pod eth0 with%s, got %s", mtu, got)
			}
			// A 1.0.0 result has no MTU; should the plugin ever report one, it must be the links'.
			for _, i := range parseResult(t, out).Interfaces {
				if i.Mtu != 0 && i.Mtu != tc.want {
					t.Errorf("expected the result to report MTU %d for %s (or none), got %d", tc.want, i.Name, i.Mtu)
				}
			}
			e.mustCNITool("del", "mtu-net", p, "eth0")
			e.assertNothingLeft(n)
		})
	}
}

func TestAFailedSecondInterfaceLeavesTheFirstAttachmentAlone(t *testing.T) {
	e := newEnv(t)
	e.writeConf("multi-net", "1.0.0", nil)
	p := newPod(t)
	eth0 := namesFor("multi-net", cnitoolID(p.path), "eth0")
	eth1 := namesFor("multi-net", cnitoolID(p.path), "eth1")
	removeVethAtCleanup(t, eth0.hostVeth)
	removeVethAtCleanup(t, eth1.hostVeth)

	e.mustCNITool("add", "multi-net", p, "eth0")
	first := e.handleIPs(eth0.handle)
	// A second interface on the same network cannot have its own gateway route in the pod, so its ADD fails; it
	// has its own IPAM handle, so its cleanup must not give back eth0's address.
	if _, _, err := e.cnitool("add", "multi-net", p, "eth1"); err == nil {
		t.Fatalf("a second interface on the same network should fail to route")
	}
	if got := e.handleIPs(eth0.handle); len(got) != 1 || got[0] != first[0] {
		t.Errorf("eth0 should still hold %v after eth1's failed ADD, holds %v", first, got)
	}
	e.assertNothingLeft(eth1)
	e.mustCNITool("check", "multi-net", p, "eth0")
	e.mustCNITool("del", "multi-net", p, "eth0")
	e.assertNothingLeft(eth0)
}
