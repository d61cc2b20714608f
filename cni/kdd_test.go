package cni

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore/kdd"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The plugin on the Kubernetes datastore (datastore_type "kubernetes"): a real kube-apiserver with Calico's
// CRDs, an IPPool custom resource, the Kubernetes Node of the test node, and pods bound to it. No etcd of the
// plugin's own: IPAM lives in custom resources and the endpoint is derived from the pod.

const kddPoolCIDR = "10.3.0.0/24"

// kddEnv is kenv on the Kubernetes datastore: env.ds is unused (nil); kdd is the datastore client.
type kddEnv struct {
	*kenv
	kdd *kdd.Client
}

func newKDDEnv(t *testing.T) *kddEnv {
	t.Helper()
	requireRoot(t)
	e := &env{t: t, binDir: pluginDir(t), confDir: t.TempDir(), stateDir: t.TempDir()}
	s := kubetest.Start(t, kubetest.Options{})
	s.InstallCalicoCRDs(t)
	c, err := kdd.New(s.Config, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "kdd-pool"}, Spec: api.IPPoolSpec{CIDR: kddPoolCIDR, BlockSize: 26}}
	pool.Default()
	if _, err := c.Create(ctx, pool); err != nil {
		t.Fatalf("creating the IPPool: %v", err)
	}
	if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}},
		metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node %s: %v", testNode, err)
	}
	e.ipam = ipam.NewWithStore(c.IPAMStore())
	return &kddEnv{kenv: &kenv{env: e, kube: s, kubeconfig: s.Kubeconfig}, kdd: c}
}

// kddConf is a network config on the Kubernetes datastore; extra as for env.conf.
func (k *kddEnv) kddConf(extra map[string]any) []byte {
	all := map[string]any{"datastore_type": "kubernetes", "etcd_endpoints": nil, "policy": map[string]any{"type": "k8s"},
		"kubernetes": map[string]any{"kubeconfig": k.kubeconfig}}
	for key, v := range extra {
		all[key] = v
	}
	return k.conf(k8sNetwork, "1.0.0", all)
}

// derivedEndpoint is the WorkloadEndpoint the Kubernetes datastore derives from a pod, or nil.
func (k *kddEnv) derivedEndpoint(ns, pod string) *api.WorkloadEndpoint {
	k.t.Helper()
	rs, _, err := k.kdd.List(context.Background(), endpointKind, ns)
	if err != nil {
		k.t.Fatalf("listing WorkloadEndpoints in %s: %v", ns, err)
	}
	for _, r := range rs {
		if wep := r.(*api.WorkloadEndpoint); wep.Spec.Pod == pod {
			return wep
		}
	}
	return nil
}

// assertIPAMEmpty checks that IPAM is consistent and holds no address at all.
func (k *kddEnv) assertIPAMEmpty() {
	k.t.Helper()
	report, err := k.ipam.Check(context.Background())
	if err != nil {
		k.t.Fatalf("ipam check: %v", err)
	}
	if !report.OK() || report.Allocations != 0 || report.Handles != 0 {
		k.t.Errorf("ipam check: %+v, want clean with no allocation and no handle", report)
	}
}

func TestKDDAddRecordsThePodAndDelGivesEverythingBack(t *testing.T) {
	k := newKDDEnv(t)
	ctx := context.Background()
	conf := k.kddConf(nil)
	k.createPod("default", "web", testNode, map[string]string{"app": "web"}, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	p := newPod(t)

	res := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-1", p, "default", "web"))
	if len(res.IPs) != 1 || !inPool(res.IPs[0].Address, kddPoolCIDR) {
		t.Fatalf("result addresses %+v, want one from %s", res.IPs, kddPoolCIDR)
	}
	addr := res.IPs[0].Address
	if len(res.Interfaces) != 2 || res.Interfaces[0].Name != veth || res.Interfaces[1].Name != "eth0" || res.Interfaces[1].Mac == "" {
		t.Errorf("result interfaces %+v, want host %s and eth0 with its MAC", res.Interfaces, veth)
	}
	if !hostLinkExists(veth) {
		t.Fatalf("host veth %s does not exist", veth)
	}
	// IPAM's state is custom resources.
	for _, kind := range []string{"ipamblocks.crd.projectcalico.org", "blockaffinities.crd.projectcalico.org"} {
		out, err := k.kube.Kubectl(t, "get", kind, "-o", "name")
		if err != nil || strings.TrimSpace(out) == "" {
			t.Errorf("kubectl get %s: %q %v, want at least one", kind, out, err)
		}
	}
	if held := k.handleIPs(k8sNetwork + ".sandbox-1"); len(held) != 1 || held[0]+"/32" != addr {
		t.Errorf("handle holds %v, want [%s]", held, addr)
	}
	ann := k.getPod("default", "web").Annotations
	if ann[conversion.AnnotationPodIP] != addr || ann[conversion.AnnotationPodIPs] != addr || ann[conversion.AnnotationContainerID] != "sandbox-1" {
		t.Errorf("pod annotations %v, want podIP and podIPs %s and containerID sandbox-1", ann, addr)
	}
	// The endpoint felix sees is the one the datastore derives from the pod; the plugin wrote none.
	wep := k.derivedEndpoint("default", "web")
	if wep == nil {
		t.Fatal("no WorkloadEndpoint derived from pod default/web")
	}
	if !reflect.DeepEqual(wep.Spec.IPNetworks, []string{addr}) || wep.Spec.InterfaceName != veth || wep.Spec.Node != testNode ||
		wep.Spec.ContainerID != "sandbox-1" || wep.Name != conversion.EndpointName(testNode, "web", "eth0") {
		t.Errorf("derived endpoint %s: %+v, want %s on %s, container sandbox-1", wep.Name, wep.Spec, addr, veth)
	}
	k.mustExecPod("CHECK", conf, "sandbox-1", p, "default", "web")

	// A retried ADD of the same sandbox answers with the same address and takes nothing more.
	again := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-1", p, "default", "web"))
	if len(again.IPs) != 1 || again.IPs[0].Address != addr || again.Interfaces[1].Mac != res.Interfaces[1].Mac {
		t.Errorf("the repeated ADD answered %+v, want %s and the same MAC", again, addr)
	}
	if report, err := k.ipam.Check(ctx); err != nil || !report.OK() || report.Allocations != 1 {
		t.Errorf("after the repeated ADD ipam check is %+v (%v), want one allocation", report, err)
	}

	k.mustExecPod("DEL", conf, "sandbox-1", p, "default", "web")
	k.assertIPAMEmpty()
	if wep := k.derivedEndpoint("default", "web"); wep != nil {
		t.Errorf("the derived endpoint is still there after DEL: %+v", wep.Spec)
	}
	if hostLinkExists(veth) {
		t.Error("the host veth is still there after DEL")
	}
	ann = k.getPod("default", "web").Annotations
	if _, ok := ann[conversion.AnnotationPodIP]; ok {
		t.Errorf("podIP annotation left after DEL: %v", ann)
	}
	if _, ok := ann[conversion.AnnotationPodIPs]; ok {
		t.Errorf("podIPs annotation left after DEL: %v", ann)
	}
	if ann[conversion.AnnotationContainerID] != "sandbox-1" {
		t.Errorf("the containerID annotation should stay (it tells a later DEL of an older sandbox the pod is not its own): %v", ann)
	}
	if _, _, cerr := k.execPod("CHECK", conf, "sandbox-1", p, "default", "web"); cerr == nil || !strings.Contains(cerr.Msg, "released") {
		t.Errorf("CHECK after DEL: %v, want the released handle reported", cerr)
	}
	// DEL again, and DEL after the pod is gone, succeed.
	k.mustExecPod("DEL", conf, "sandbox-1", p, "default", "web")
	if err := k.kube.Client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	k.mustExecPod("DEL", conf, "sandbox-1", p, "default", "web")
}

// Everything the Kubernetes datastore cannot network is refused before anything is taken.
func TestKDDRefusesBeforeTakingAnything(t *testing.T) {
	k := newKDDEnv(t)
	k.createPod("default", "web", testNode, nil, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	for _, tc := range []struct {
		name      string
		conf      []byte
		cniArgs   string
		wantCode  uint
		wantInMsg string
	}{
		{"etcd endpoints with the Kubernetes datastore", k.kddConf(map[string]any{"etcd_endpoints": "http://127.0.0.1:2379"}),
			"K8S_POD_NAMESPACE=default;K8S_POD_NAME=web", types.ErrInvalidNetworkConfig, "etcd_endpoints"},
		{"a pod that does not exist", k.kddConf(nil), "K8S_POD_NAMESPACE=default;K8S_POD_NAME=nobody", types.ErrInternal,
			"reading pod default/nobody: not found"},
		{"a container that is not a pod", k.kddConf(nil), "IgnoreUnknown=1", types.ErrInvalidNetworkConfig, "must name a Kubernetes pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod(t)
			_, stderr, cerr := k.execPlugin("calico", "ADD", tc.conf, "refused", p.path, "eth0", "CNI_ARGS="+tc.cniArgs)
			if cerr == nil || cerr.Code != tc.wantCode || !strings.Contains(cerr.Msg, tc.wantInMsg) {
				t.Fatalf("ADD error %+v, want code %d with %q\nstderr: %s", cerr, tc.wantCode, tc.wantInMsg, stderr)
			}
			k.assertIPAMEmpty()
			if hostLinkExists(veth) || hostLinkExists(namesFor(k8sNetwork, "refused", "eth0").hostVeth) {
				t.Error("a refused ADD left a host veth")
			}
			if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
				t.Errorf("a refused ADD left interfaces in the pod: %v", names)
			}
			if ann := k.getPod("default", "web").Annotations; ann[conversion.AnnotationPodIP] != "" || ann[conversion.AnnotationContainerID] != "" {
				t.Errorf("a refused ADD annotated the pod: %v", ann)
			}
		})
	}
}

// Each step of ADD failing leaves nothing: no address, veth, annotation or derived endpoint; the same sandbox
// can then be added for real.
func TestKDDEveryFailedAddStepGivesBackWhatItTook(t *testing.T) {
	k := newKDDEnv(t)
	conf := k.kddConf(nil)
	for _, step := range []string{"assign", "wire", "endpoint", "profile", "annotate"} {
		t.Run("a failure after "+step, func(t *testing.T) {
			name := "fail-" + step
			k.createPod("default", name, testNode, nil, nil)
			veth := conversion.HostVethName("default", name)
			removeVethAtCleanup(t, veth)
			p := newPod(t)
			args := &skel.CmdArgs{ContainerID: "ctr-" + name, Netns: p.path, IfName: "eth0", StdinData: conf,
				Args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + name}
			var log bytes.Buffer
			pl, err := open(args, &log)
			if err != nil {
				t.Fatal(err)
			}
			defer pl.close()
			injected := errors.New("injected failure after " + step)
			pl.failAfter = func(s string) error {
				if s == step {
					return injected
				}
				return nil
			}
			if _, err := pl.add(context.Background(), args); !errors.Is(err, injected) {
				t.Fatalf("expected the injected error, got %v\n%s", err, log.String())
			}
			k.assertIPAMEmpty()
			if hostLinkExists(veth) {
				t.Errorf("host veth %s left", veth)
			}
			if names := p.linkNames(t); !reflect.DeepEqual(names, []string{"lo"}) {
				t.Errorf("expected only lo in the pod, got %v", names)
			}
			if ann := k.getPod("default", name).Annotations; ann[conversion.AnnotationPodIP] != "" || ann[conversion.AnnotationPodIPs] != "" {
				t.Errorf("pod annotations left: %v", ann)
			}
			if wep := k.derivedEndpoint("default", name); wep != nil {
				t.Errorf("derived endpoint left: %+v", wep.Spec)
			}

			pl.failAfter = nil
			// A fresh plugin, as a retried ADD is a new process (the failed one's in-memory pod is stale).
			pl2, err := open(args, &log)
			if err != nil {
				t.Fatal(err)
			}
			defer pl2.close()
			if _, err := pl2.add(context.Background(), args); err != nil {
				t.Fatalf("a clean ADD after the failed one: %v\n%s", err, log.String())
			}
			if err := pl2.check(context.Background(), args); err != nil {
				t.Errorf("CHECK: %v", err)
			}
			if err := pl2.del(context.Background(), args); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			k.assertIPAMEmpty()
		})
	}
}

// A late DEL of an old sandbox gives back only its own addresses: the pod's veth and record are the new
// sandbox's.
func TestKDDADelOfAnOldSandboxLeavesTheNewOneAlone(t *testing.T) {
	k := newKDDEnv(t)
	conf := k.kddConf(nil)
	k.createPod("default", "web", testNode, nil, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	oldNS, newNS := newPod(t), newPod(t)
	k.mustExecPod("ADD", conf, "sandbox-1", oldNS, "default", "web")
	newIP := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-2", newNS, "default", "web")).IPs[0].Address
	k.mustExecPod("DEL", conf, "sandbox-1", oldNS, "default", "web")
	if held := k.handleIPs(k8sNetwork + ".sandbox-1"); len(held) > 0 {
		t.Errorf("the old sandbox's addresses are still held: %v", held)
	}
	if !hostLinkExists(veth) {
		t.Error("the old sandbox's DEL removed the new sandbox's veth")
	}
	if wep := k.derivedEndpoint("default", "web"); wep == nil || wep.Spec.ContainerID != "sandbox-2" ||
		!reflect.DeepEqual(wep.Spec.IPNetworks, []string{newIP}) {
		t.Errorf("after the old sandbox's DEL the derived endpoint is %+v, want sandbox-2 with %s", wep, newIP)
	}
	k.mustExecPod("CHECK", conf, "sandbox-2", newNS, "default", "web")
	if _, _, cerr := k.execPod("CHECK", conf, "sandbox-1", oldNS, "default", "web"); cerr == nil {
		t.Error("CHECK of the deleted old sandbox passed")
	}
	k.mustExecPod("DEL", conf, "sandbox-2", newNS, "default", "web")
	k.assertIPAMEmpty()
	if wep := k.derivedEndpoint("default", "web"); wep != nil || hostLinkExists(veth) {
		t.Errorf("the current sandbox's DEL left endpoint %v, veth %v", wep, hostLinkExists(veth))
	}
}

// A retried ADD whose veth is gone (the runtime removed it, or the first ADD died mid-way) does not answer from
// the handle: it gives back what the handle holds and wires the pod again, holding one address in the end.
func TestKDDARetriedAddWithoutItsVethStartsOver(t *testing.T) {
	k := newKDDEnv(t)
	conf := k.kddConf(nil)
	k.createPod("default", "web", testNode, nil, nil)
	veth := conversion.HostVethName("default", "web")
	removeVethAtCleanup(t, veth)
	p := newPod(t)
	k.mustExecPod("ADD", conf, "sandbox-1", p, "default", "web")
	if err := removeHostVeth(veth); err != nil {
		t.Fatal(err)
	}
	res := parseResult(t, k.mustExecPod("ADD", conf, "sandbox-1", p, "default", "web"))
	if len(res.IPs) != 1 || !hostLinkExists(veth) {
		t.Fatalf("retried ADD: %+v, veth %v", res, hostLinkExists(veth))
	}
	if held := k.handleIPs(k8sNetwork + ".sandbox-1"); len(held) != 1 || held[0]+"/32" != res.IPs[0].Address {
		t.Errorf("handle holds %v, want only %s", held, res.IPs[0].Address)
	}
	if report, err := k.ipam.Check(context.Background()); err != nil || !report.OK() || report.Allocations != 1 {
		t.Errorf("ipam check %+v (%v), want one allocation", report, err)
	}
	if ann := k.getPod("default", "web").Annotations; ann[conversion.AnnotationPodIPs] != res.IPs[0].Address {
		t.Errorf("pod annotations %v, want podIPs %s", ann, res.IPs[0].Address)
	}
	k.mustExecPod("CHECK", conf, "sandbox-1", p, "default", "web")
	k.mustExecPod("DEL", conf, "sandbox-1", p, "default", "web")
	k.assertIPAMEmpty()
}
