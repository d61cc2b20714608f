package controllers

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

func podAlloc(ip, node, ns, pod, cid string) ipam.Allocation {
	return ipam.Allocation{Addr: netip.MustParseAddr(ip), Handle: "k8s-pod-network." + cid,
		Attrs: map[string]string{"node": node, "namespace": ns, "pod": pod, "containerID": cid}}
}

func livePod(ns, name, cid string, statusIPs ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Annotations: map[string]string{conversion.AnnotationContainerID: cid}}}
	for _, ip := range statusIPs {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(statusIPs) > 0 {
		p.Status.PodIP = statusIPs[0]
	}
	return p
}

func TestClassify(t *testing.T) {
	live := map[string]bool{"host1": true}
	tunnel := ipam.Allocation{Addr: netip.MustParseAddr("10.0.9.1"), Handle: "ipip-tunnel-addr-host1",
		Attrs: map[string]string{"node": "host1", "type": "ipipTunnelAddress"}}
	goneTunnel := tunnel
	goneTunnel.Attrs = map[string]string{"node": "host9", "type": "ipipTunnelAddress"}
	noContainer := podAlloc("10.0.0.7", "host1", "prod", "web", "")
	tests := []struct {
		name  string
		alloc ipam.Allocation
		pods  []*corev1.Pod
		weps  []string
		want  verdict
	}{
		{"an address its live pod reports is kept", podAlloc("10.0.0.1", "host1", "prod", "web", "c1"),
			[]*corev1.Pod{livePod("prod", "web", "c1", "10.0.0.1")}, nil, keep},
		{"a dual-stack address of a live pod that reports only IPv4 is kept (calico #5044)", podAlloc("fd00::1", "host1", "prod", "web", "c1"),
			[]*corev1.Pod{livePod("prod", "web", "c1", "10.0.0.1")}, nil, keep},
		{"an address of a live pod that reports no address yet is kept", podAlloc("10.0.0.1", "host1", "prod", "web", "c1"),
			[]*corev1.Pod{livePod("prod", "web", "")}, nil, keep},
		{"an address of a live pod without a recorded container is kept", noContainer,
			[]*corev1.Pod{livePod("prod", "web", "c2", "10.0.0.8")}, nil, keep},
		{"an address of a live pod's old sandbox is suspect", podAlloc("10.0.0.1", "host1", "prod", "web", "c1"),
			[]*corev1.Pod{livePod("prod", "web", "c2", "10.0.0.2")}, nil, leakIfKept},
		{"an address of a gone pod on a live node is suspect", podAlloc("10.0.0.1", "host1", "prod", "web", "c1"),
			nil, nil, leakIfKept},
		{"an address of a gone pod on a gone node is leaked now", podAlloc("10.0.0.1", "host9", "prod", "web", "c1"),
			nil, nil, leakNow},
		{"an address another live pod reports is kept", podAlloc("10.0.0.1", "host9", "prod", "web", "c1"),
			[]*corev1.Pod{livePod("prod", "other", "c5", "10.0.0.1")}, nil, keep},
		{"an address a stored endpoint holds is kept", podAlloc("10.0.0.1", "host9", "prod", "web", "c1"),
			nil, []string{"10.0.0.1"}, keep},
		{"an address without a handle is kept", ipam.Allocation{Addr: netip.MustParseAddr("10.0.0.1"), Attrs: map[string]string{"node": "host9"}},
			nil, nil, keep},
		{"an address without a node is kept", ipam.Allocation{Addr: netip.MustParseAddr("10.0.0.1"), Handle: "h"},
			nil, nil, keep},
		{"an address that is not a pod's is kept even on a gone node", ipam.Allocation{Addr: netip.MustParseAddr("10.0.0.1"), Handle: "docker.c1",
			Attrs: map[string]string{"node": "host9", "containerID": "c1"}}, nil, nil, keep},
		{"the tunnel address of a live node is kept", tunnel, nil, nil, keep},
		{"the tunnel address of a gone node is leaked now", goneTunnel, nil, nil, leakNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := gcState{Pods: map[string]*corev1.Pod{}, KubeNodes: live, CalicoNodes: live}
			endpointIPs := map[netip.Addr]bool{}
			podIPs := map[netip.Addr]bool{}
			for _, p := range tt.pods {
				s.Pods[p.Namespace+"/"+p.Name] = p
				for a := range addressesOf(p) {
					podIPs[a] = true
				}
			}
			for _, ip := range tt.weps {
				endpointIPs[netip.MustParseAddr(ip)] = true
			}
			if got, reason := classify(tt.alloc, s, podIPs, endpointIPs); got != tt.want {
				t.Errorf("got verdict %d (%s), want %d", got, reason, tt.want)
			}
		})
	}
}

func TestPlanGCReleasesSuspectsOnlyAfterTheGracePeriod(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	grace := 15 * time.Minute
	live := map[string]bool{"host1": true}
	s := gcState{Allocations: []ipam.Allocation{podAlloc("10.0.0.1", "host1", "prod", "gone", "c1"),
		podAlloc("10.0.0.2", "host9", "prod", "gone-with-node", "c2")},
		Pods: map[string]*corev1.Pod{}, KubeNodes: live, CalicoNodes: live}

	plan, suspects := planGC(s, map[netip.Addr]suspect{}, t0, grace)
	leaks := plan.Leaks
	if len(leaks) != 1 || leaks[0].Addr.String() != "10.0.0.2" {
		t.Fatalf("first pass: want only the deleted node's address released, got %v", leaks)
	}
	if _, ok := suspects[netip.MustParseAddr("10.0.0.1")]; !ok || len(suspects) != 1 {
		t.Fatalf("first pass: want 10.0.0.1 suspect, got %v", suspects)
	}
	s.Allocations = s.Allocations[:1]
	if plan, suspects = planGC(s, suspects, t0.Add(grace-time.Second), grace); len(plan.Leaks) != 0 {
		t.Fatalf("within the grace period: want nothing released, got %v", leaks)
	}
	if plan, _ = planGC(s, suspects, t0.Add(grace), grace); len(plan.Leaks) != 1 || plan.Leaks[0].Addr.String() != "10.0.0.1" {
		t.Fatalf("after the grace period: want 10.0.0.1 released, got %v", plan.Leaks)
	}

	// Re-assigned to another handle in between: the clock starts again.
	s.Allocations = []ipam.Allocation{podAlloc("10.0.0.1", "host1", "prod", "gone-too", "c3")}
	if plan, next := planGC(s, suspects, t0.Add(grace), grace); len(plan.Leaks) != 0 || !next[netip.MustParseAddr("10.0.0.1")].Since.Equal(t0.Add(grace)) {
		t.Fatalf("re-assigned address: want the clock restarted, got leaks %v suspects %v", plan.Leaks, next)
	}

	// The pod came back (or the allocation was legitimate after all): no longer suspect.
	s.Allocations = []ipam.Allocation{podAlloc("10.0.0.1", "host1", "prod", "gone", "c1")}
	s.Pods["prod/gone"] = livePod("prod", "gone", "c1", "10.0.0.1")
	if plan, next := planGC(s, suspects, t0.Add(2*grace), grace); len(plan.Leaks) != 0 || len(next) != 0 {
		t.Fatalf("live again: want nothing released and no suspects, got %v %v", plan.Leaks, next)
	}
}

func TestPlanGCWithZeroGraceReleasesOnlyDeletedNodesAddresses(t *testing.T) {
	t0 := time.Now()
	s := gcState{Allocations: []ipam.Allocation{podAlloc("10.0.0.1", "host1", "prod", "gone", "c1"),
		podAlloc("10.0.0.2", "host9", "prod", "gone", "c2")},
		Pods: map[string]*corev1.Pod{}, KubeNodes: map[string]bool{"host1": true}, CalicoNodes: map[string]bool{}}
	suspects := map[netip.Addr]suspect{netip.MustParseAddr("10.0.0.1"): {Handle: "k8s-pod-network.c1", Since: t0.Add(-time.Hour)}}
	plan, _ := planGC(s, suspects, t0, 0)
	if len(plan.Leaks) != 1 || plan.Leaks[0].Addr.String() != "10.0.0.2" {
		t.Fatalf("want only 10.0.0.2 released, got %v", plan.Leaks)
	}
}

func TestPlanGCRemovesEndpointsOfGonePodsOnGoneNodesOnly(t *testing.T) {
	wep := func(node, pod, ip string) *api.WorkloadEndpoint {
		return &api.WorkloadEndpoint{ObjectMeta: api.ObjectMeta{Namespace: "prod", Name: node + "-" + pod},
			Spec: api.WorkloadEndpointSpec{Orchestrator: "k8s", Node: node, Pod: pod, IPNetworks: []string{ip + "/32"}}}
	}
	bound := livePod("prod", "bound", "c3", "10.0.0.3")
	bound.Spec.NodeName = "host9"
	s := gcState{
		Allocations: []ipam.Allocation{podAlloc("10.0.0.1", "host9", "prod", "gone", "c1"), podAlloc("10.0.0.3", "host9", "prod", "bound", "c3")},
		Pods:        map[string]*corev1.Pod{"prod/bound": bound},
		KubeNodes:   map[string]bool{"host1": true}, CalicoNodes: map[string]bool{"host1": true},
		Endpoints: []*api.WorkloadEndpoint{wep("host9", "gone", "10.0.0.1"), wep("host9", "bound", "10.0.0.3"),
			wep("host1", "gone-here", "10.0.0.4"), {ObjectMeta: api.ObjectMeta{Name: "docker"}, Spec: api.WorkloadEndpointSpec{Node: "host9"}}},
	}
	plan, _ := planGC(s, nil, time.Now(), time.Minute)
	if len(plan.Endpoints) != 1 || plan.Endpoints[0].Spec.Pod != "gone" {
		t.Errorf("want only the gone pod's endpoint on the gone node removed, got %v", plan.Endpoints)
	}
	if len(plan.Leaks) != 1 || plan.Leaks[0].Addr.String() != "10.0.0.1" {
		t.Errorf("want the removed endpoint's address released with it, got %v", plan.Leaks)
	}
}

func TestAddressesOfReadsStatusAndAnnotations(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
		conversion.AnnotationPodIP:  "10.0.0.5/32",
		conversion.AnnotationPodIPs: "10.0.0.5/32,fd00::5/128",
	}}}
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.6"}}
	got := addressesOf(p)
	for _, want := range []string{"10.0.0.5", "fd00::5", "10.0.0.6"} {
		if !got[netip.MustParseAddr(want)] {
			t.Errorf("addresses %v lack %s", got, want)
		}
	}
	if len(got) != 3 {
		t.Errorf("want 3 addresses, got %v", got)
	}
}
