package cni

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/ipam"
)

// These tests run ADD in-process so that a failure can be injected after each step, and check that every
// failure path gives back the address and removes the veth and the endpoint.

// inProcess opens the plugin for one container as CmdAdd would; its log goes to the returned buffer.
func (e *env) inProcess(conf []byte, p *pod, containerID string) (*plugin, *skel.CmdArgs, *bytes.Buffer) {
	e.t.Helper()
	args := &skel.CmdArgs{ContainerID: containerID, Netns: p.path, IfName: "eth0", StdinData: conf}
	var log bytes.Buffer
	pl, err := open(args, &log)
	if err != nil {
		e.t.Fatalf("opening the plugin: %v", err)
	}
	e.t.Cleanup(pl.close)
	return pl, args, &log
}

func TestEveryFailedAddStepGivesBackWhatItTook(t *testing.T) {
	e := newEnv(t)
	conf := e.conf("fail-net", "1.0.0", map[string]any{"ipam": map[string]any{"assign_ipv6": "true"}})
	for _, step := range []string{"assign", "wire", "endpoint", "profile"} {
		t.Run("a failure after "+step+" leaves nothing behind", func(t *testing.T) {
			p := newPod(t)
			n := namesFor("fail-net", "fail-after-"+step, "eth0")
			removeVethAtCleanup(t, n.hostVeth)
			pl, args, log := e.inProcess(conf, p, n.containerID)
			injected := errors.New("injected failure after " + step)
			pl.failAfter = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			_, err := pl.add(context.Background(), args)
			if !errors.Is(err, injected) {
				t.Fatalf("expected the injected error, got %v", err)
			}
			if !strings.Contains(log.String(), "Cleaning up after failed ADD") {
				t.Errorf("expected the cleanup to be logged, got\n%s", log)
			}
			e.assertNothingLeft(n)
			if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
				t.Errorf("expected only lo in the pod, got %v", names)
			}

			// The same container can then be added for real.
			pl.failAfter = nil
			if _, err := pl.add(context.Background(), args); err != nil {
				t.Fatalf("expected a clean ADD after the failed one, got %v", err)
			}
			if ips := e.handleIPs(n.handle); len(ips) != 2 {
				t.Errorf("expected the handle to hold an IPv4 and an IPv6 address, got %v", ips)
			}
			if err := pl.del(context.Background(), args); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			e.assertNothingLeft(n)
		})
	}
}

func TestAnInterfaceNameTakenInThePodFailsAndLeavesThatInterfaceAlone(t *testing.T) {
	e := newEnv(t)
	conf := e.conf("taken-net", "1.0.0", nil)
	p := newPod(t)
	ip(t, "-n", p.name, "link", "add", "eth0", "type", "veth", "peer", "name", "sibling")
	n := namesFor("taken-net", "eth0-taken", "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	pl, args, _ := e.inProcess(conf, p, n.containerID)
	_, err := pl.add(context.Background(), args)
	if err == nil || !strings.Contains(err.Error(), "an interface named eth0 already exists in netns "+p.path) {
		t.Fatalf("expected ADD to fail because eth0 exists, got %v", err)
	}
	e.assertNothingLeft(n)
	names := p.linkNames(t)
	slices.Sort(names)
	if !reflect.DeepEqual(names, []string{"eth0", "lo", "sibling"}) {
		t.Errorf("expected the pod's own eth0 to survive, got %v", names)
	}
}

func TestIPv6ExhaustedAfterIPv4WasAssignedGivesTheIPv4AddressBack(t *testing.T) {
	e := newEnv(t)
	e.addPool("tiny6", "fd00:99::/126", 126)
	v4, v6, err := e.ipam.AutoAssign(context.Background(), ipam.AssignArgs{Num6: 4, HandleID: "filler", Host: testNode, IPv6Pools: []string{"tiny6"}})
	if err != nil || len(v4) != 0 || len(v6) != 4 {
		t.Fatalf("filling tiny6: got %v %v %v", v4, v6, err)
	}
	conf := e.conf("v6-net", "1.0.0", map[string]any{"ipam": map[string]any{"assign_ipv6": "true", "ipv6_pools": []string{"tiny6"}}})
	p := newPod(t)
	n := namesFor("v6-net", "v6-exhausted", "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	pl, args, _ := e.inProcess(conf, p, n.containerID)
	_, err = pl.add(context.Background(), args)
	if err == nil || !strings.Contains(err.Error(), "tiny6") || !errors.Is(err, ipam.ErrExhausted) {
		t.Fatalf("expected an exhaustion error naming tiny6, got %v", err)
	}
	e.assertNothingLeft(n)
}

func TestEtcdLostAfterAssignmentRemovesTheVethAndDelFinishesTheJob(t *testing.T) {
	requireRoot(t)
	srv := etcdtest.StartServer(t)
	e := newEnvAt(t, srv.Endpoint)
	conf := e.conf("lost-net", "1.0.0", nil)
	p := newPod(t)
	n := namesFor("lost-net", "etcd-lost", "eth0")
	removeVethAtCleanup(t, n.hostVeth)
	pl, args, _ := e.inProcess(conf, p, n.containerID)
	pl.failAfter = func(step string) error {
		if step == "wire" {
			srv.Stop() // the endpoint write and the cleanup's release will find etcd gone
		}
		return nil
	}
	// A deadline keeps the test short: every etcd request after the stop fails when it passes, as each would
	// after its own timeout.
	_, err := pl.add(shortContext(t), args)
	if err == nil || !strings.Contains(err.Error(), "writing WorkloadEndpoint") || !strings.Contains(err.Error(), "cleaning up the failed ADD also failed") {
		t.Fatalf("expected the endpoint write and the cleanup to fail, got %v", err)
	}
	if hostLinkExists(n.hostVeth) {
		t.Errorf("expected the veth to be removed even with etcd gone")
	}

	srv.Restart()
	stale := e.handleIPs(n.handle)
	if len(stale) != 1 {
		t.Fatalf("expected the address the cleanup could not release to still be held, got %v", stale)
	}

	t.Run("a retried ADD gives the stale address back before taking one", func(t *testing.T) {
		pl.failAfter = nil
		res, err := pl.add(context.Background(), args)
		if err != nil {
			t.Fatalf("retried ADD: %v", err)
		}
		held := e.handleIPs(n.handle)
		if len(held) != 1 || len(res.IPs) != 1 || held[0] != res.IPs[0].Address.IP.String() {
			t.Errorf("expected the handle to hold only the new address %v, it holds %v", res.IPs, held)
		}
		if err := pl.del(context.Background(), args); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		e.assertNothingLeft(n)
	})

	t.Run("or the runtime's DEL releases it", func(t *testing.T) {
		pl.failAfter = func(step string) error {
			if step == "wire" {
				srv.Stop()
			}
			return nil
		}
		if _, err := pl.add(shortContext(t), args); err == nil {
			t.Fatal("expected the ADD to fail with etcd stopped")
		}
		srv.Restart()
		if got := e.handleIPs(n.handle); len(got) != 1 {
			t.Fatalf("expected one stale address, got %v", got)
		}
		if err := pl.del(context.Background(), args); err != nil {
			t.Fatalf("DEL: %v", err)
		}
		e.assertNothingLeft(n)
	})
}

func shortContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCalicoIPAMModeReportsAnUnreachableEtcdAsTryAgainLater(t *testing.T) {
	requireRoot(t)
	srv := etcdtest.StartServer(t)
	e := newEnvAt(t, srv.Endpoint)
	conf := e.conf("ipam-down-net", "1.0.0", map[string]any{"type": "calico-ipam", "etcd_endpoints": srv.Endpoint})
	p := newPod(t)
	srv.Stop()
	for _, command := range []string{"ADD", "DEL"} {
		_, _, cniErr := e.execPlugin("calico-ipam", command, conf, "ipam-etcd-down", p.path, "eth0")
		if cniErr == nil || cniErr.Code != types.ErrTryAgainLater || !strings.Contains(cniErr.Msg, srv.Endpoint) {
			t.Errorf("%s with etcd down: expected code 11 naming %s, got %+v", command, srv.Endpoint, cniErr)
		}
	}
}
