package controllers

import (
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/conversion"
)

// gcState is what the IPAM garbage collector decides from: the allocations, then (read after them) the live
// pods, nodes and endpoints. Reading allocations first matters: a pod exists before its address is assigned, so
// every allocation read has its pod in what is read next, unless the pod is really gone.
type gcState struct {
	Allocations []ipam.Allocation
	Pods        map[string]*corev1.Pod // "<namespace>/<name>"
	KubeNodes   map[string]bool
	CalicoNodes map[string]bool
	Endpoints   []*api.WorkloadEndpoint
}

// gcPlan is what one pass of the collector removes: endpoints of gone pods on gone nodes (no CNI DEL will come
// for them), then the leaked addresses.
type gcPlan struct {
	Endpoints []*api.WorkloadEndpoint
	Leaks     []leak
}

func (s gcState) nodeGone(node string) bool { return !s.KubeNodes[node] && !s.CalicoNodes[node] }

// orphaned says whether an endpoint belongs to a Kubernetes pod that is gone, on a node that is gone.
func (s gcState) orphaned(wep *api.WorkloadEndpoint) bool {
	if wep.Spec.Orchestrator != conversion.Orchestrator || wep.Spec.Pod == "" || !s.nodeGone(wep.Spec.Node) {
		return false
	}
	p, ok := s.Pods[wep.Namespace+"/"+wep.Spec.Pod]
	return !ok || p.Spec.NodeName != wep.Spec.Node
}

// verdict is what the collector makes of one allocation.
type verdict int

const (
	keep       verdict = iota
	leakNow            // its node and its pod are gone: nothing can still be using it
	leakIfKept         // its pod is gone (or the address belongs to the pod's old sandbox): release after the grace period
)

// suspect is an allocation seen leaked, and since when.
type suspect struct {
	Handle string
	Since  time.Time
}

// leak is an allocation to release, and why.
type leak struct {
	ipam.Allocation
	Reason string
}

// planGC decides what to remove now. suspects are the allocations found leaked by earlier passes with the time
// each was first found; the returned map replaces it (an allocation no longer leaked, or now held by another
// handle, starts again). With grace 0 only leakNow allocations are released.
func planGC(s gcState, suspects map[netip.Addr]suspect, now time.Time, grace time.Duration) (gcPlan, map[netip.Addr]suspect) {
	var plan gcPlan
	endpointIPs := map[netip.Addr]bool{}
	for _, wep := range s.Endpoints {
		if s.orphaned(wep) {
			plan.Endpoints = append(plan.Endpoints, wep)
			continue
		}
		for _, n := range wep.Spec.IPNetworks {
			if p, err := netip.ParsePrefix(n); err == nil {
				endpointIPs[p.Addr()] = true
			}
		}
	}
	podIPs := map[netip.Addr]bool{}
	for _, p := range s.Pods {
		for a := range addressesOf(p) {
			podIPs[a] = true
		}
	}
	next := map[netip.Addr]suspect{}
	for _, a := range s.Allocations {
		v, reason := classify(a, s, podIPs, endpointIPs)
		switch v {
		case leakNow:
			plan.Leaks = append(plan.Leaks, leak{a, reason})
		case leakIfKept:
			since := now
			if prev, ok := suspects[a.Addr]; ok && prev.Handle == a.Handle {
				since = prev.Since
			}
			if grace > 0 && now.Sub(since) >= grace {
				plan.Leaks = append(plan.Leaks, leak{a, reason + " for " + now.Sub(since).Round(time.Second).String()})
				continue
			}
			next[a.Addr] = suspect{Handle: a.Handle, Since: since}
		}
	}
	return plan, next
}

// classify decides about one allocation. It keeps every address it cannot prove unused: one without a handle or
// a node, one a stored endpoint or a live pod holds, one of a pod's current sandbox, and everything that is
// neither a Kubernetes pod's nor a tunnel's.
func classify(a ipam.Allocation, s gcState, podIPs, endpointIPs map[netip.Addr]bool) (verdict, string) {
	node := a.Attrs["node"]
	switch {
	case a.Handle == "" || node == "":
		return keep, "no handle or node recorded"
	case endpointIPs[a.Addr]:
		return keep, "a WorkloadEndpoint holds it"
	}
	nodeGone := s.nodeGone(node)
	if t := a.Attrs["type"]; strings.HasSuffix(t, "TunnelAddress") {
		if nodeGone {
			return leakNow, "tunnel address of deleted node " + node
		}
		return keep, "tunnel address of a live node"
	}
	ns, name := a.Attrs["namespace"], a.Attrs["pod"]
	if ns == "" || name == "" {
		return keep, "not a Kubernetes pod's"
	}
	if podIPs[a.Addr] {
		return keep, "a live pod has it"
	}
	if p, ok := s.Pods[ns+"/"+name]; ok {
		// The pod lives. Its address is in use unless the pod reports other addresses and runs another sandbox
		// than the one this address was assigned to (an old sandbox whose DEL never came). A pod that reports
		// only some of its addresses (a single-stack cluster given dual-stack addresses) keeps them all.
		cid, was := p.Annotations[conversion.AnnotationContainerID], a.Attrs["containerID"]
		if len(addressesOf(p)) == 0 || cid == "" || was == "" || cid == was {
			return keep, "its pod lives"
		}
		return leakIfKept, "assigned to sandbox " + was + " of pod " + ns + "/" + name + ", which now runs " + cid
	}
	if nodeGone {
		return leakNow, "pod " + ns + "/" + name + " and node " + node + " are gone"
	}
	return leakIfKept, "pod " + ns + "/" + name + " is gone"
}

// addressesOf is every address a pod reports: its status and the CNI plugin's annotations.
func addressesOf(p *corev1.Pod) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	add := func(s string) {
		s = strings.TrimSpace(s)
		if pfx, err := netip.ParsePrefix(s); err == nil {
			out[pfx.Addr()] = true
		} else if a, err := netip.ParseAddr(s); err == nil {
			out[a] = true
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	add(p.Annotations[conversion.AnnotationPodIP])
	for _, s := range strings.Split(p.Annotations[conversion.AnnotationPodIPs], ",") {
		add(s)
	}
	return out
}
