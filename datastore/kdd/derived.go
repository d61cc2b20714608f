package kdd

// Derived kinds: in the Kubernetes datastore Calico does not store Node, Profile and WorkloadEndpoint as custom
// resources but derives them from Kubernetes' own objects, as Calico's KDD mode does:
//
//   - a Node is its Kubernetes Node: its labels, and its BGP settings in projectcalico.org/* annotations;
//   - a Profile is a Namespace (kns.<ns>), a ServiceAccount (ksa.<ns>.<sa>), or the built-in
//     projectcalico-default-allow;
//   - a WorkloadEndpoint is a Pod's eth0 once it has an address.
//
// The conversions here are pure; only updateNode and createNode talk to the API server. Of the three, only a
// Node can be written, and only in what a Kubernetes Node can hold: Profiles and WorkloadEndpoints change by
// changing the Namespace, ServiceAccount or Pod.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"time"

	"github.com/calico-l3/calico/k8s/coreclient"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The annotations of a Kubernetes Node that hold its Calico Node's spec.bgp and VXLAN tunnel fields, as Calico
// names them.
const (
	nodeAnnotationIPv4Address         = "projectcalico.org/IPv4Address"
	nodeAnnotationIPv6Address         = "projectcalico.org/IPv6Address"
	nodeAnnotationASNumber            = "projectcalico.org/ASNumber"
	nodeAnnotationIPv4IPIPTunnelAddr  = "projectcalico.org/IPv4IPIPTunnelAddr"
	nodeAnnotationRRClusterID         = "projectcalico.org/RouteReflectorClusterID"
	nodeAnnotationIPv4VXLANTunnelAddr = "projectcalico.org/IPv4VXLANTunnelAddr"
	nodeAnnotationVXLANTunnelMACAddr  = "projectcalico.org/VXLANTunnelMACAddr"
)

// DefaultAllowProfileName is the profile the Kubernetes datastore always serves: allow everything both ways.
// Host endpoints name it to keep a host reachable when no policy selects them.
const DefaultAllowProfileName = "projectcalico-default-allow"

// podInterface is the interface Calico gives every pod's endpoint in the Kubernetes datastore.
const podInterface = "eth0"

// annotatedField is a string field of a Node spec and the annotation that holds it.
type annotatedField struct {
	annotation string
	value      *string
}

// nodeBGPAnnotations pairs each BGP string field with its annotation (the AS number is handled apart: it is not
// a string).
func nodeBGPAnnotations(b *api.NodeBGPSpec) []annotatedField {
	return []annotatedField{
		{nodeAnnotationIPv4Address, &b.IPv4Address},
		{nodeAnnotationIPv6Address, &b.IPv6Address},
		{nodeAnnotationIPv4IPIPTunnelAddr, &b.IPv4IPIPTunnelAddr},
		{nodeAnnotationRRClusterID, &b.RouteReflectorClusterID},
	}
}

// nodeSpecAnnotations pairs each annotated string field outside spec.bgp with its annotation.
func nodeSpecAnnotations(s *api.NodeSpec) []annotatedField {
	return []annotatedField{
		{nodeAnnotationIPv4VXLANTunnelAddr, &s.IPv4VXLANTunnelAddr},
		{nodeAnnotationVXLANTunnelMACAddr, &s.VXLANTunnelMACAddr},
	}
}

// setKubeMeta copies the identity the API server gives an object (resourceVersion, uid, creation time) into
// the metadata of the Calico resource derived from it.
func setKubeMeta(m *api.ObjectMeta, o metav1.Object) {
	m.ResourceVersion = o.GetResourceVersion()
	m.UID = string(o.GetUID())
	if t := o.GetCreationTimestamp(); !t.IsZero() {
		m.CreationTimestamp = t.UTC().Format(time.RFC3339)
	}
}

// nodeFromKube is the Calico Node of a Kubernetes Node: same name and labels, spec.bgp (nil when none is set)
// and the VXLAN tunnel address and MAC from the projectcalico.org annotations, and an orchRef to the Kubernetes
// node.
//
// An annotation with an empty value counts as absent. A projectcalico.org/ASNumber that does not parse (decimal
// or dotted "1.10") is skipped, not an error: the node then uses the cluster's AS number, as it would without
// the annotation, and one bad annotation does not hide the node (its addresses, its routes) from every reader.
// Writing the Node back through applyNodeToKube removes such an annotation, since the Node has no AS number.
func nodeFromKube(k *corev1.Node) *api.Node {
	n := api.SetTypeMeta(&api.Node{})
	n.Name = k.Name
	n.Labels = maps.Clone(k.Labels)
	setKubeMeta(&n.ObjectMeta, k)

	var b api.NodeBGPSpec
	for _, a := range append(nodeBGPAnnotations(&b), nodeSpecAnnotations(&n.Spec)...) {
		*a.value = strings.TrimSpace(k.Annotations[a.annotation])
	}
	if s := strings.TrimSpace(k.Annotations[nodeAnnotationASNumber]); s != "" {
		if asn, err := api.ParseASNumber(s); err == nil {
			b.ASNumber = &asn
		}
	}
	if b != (api.NodeBGPSpec{}) {
		n.Spec.BGP = &b
	}
	n.Spec.OrchRefs = []api.OrchRef{{NodeName: k.Name, Orchestrator: conversion.Orchestrator}}
	return n
}

// applyNodeToKube writes a Calico Node into its Kubernetes Node k: each spec.bgp field and the VXLAN tunnel
// address and MAC into its annotation (removing the annotation when the field is empty or bgp is nil) and
// metadata.labels added to k's labels (none removed: see below). Other annotations and everything else of k are
// kept.
//
// It refuses, with an error naming the field, what a Kubernetes Node cannot hold: a different name, a
// namespace, metadata.annotations (the Node's annotations are Kubernetes'; Calico's live in spec.bgp), and
// orchRefs other than {nodeName: <this node>, orchestrator: k8s}. On error k is left unchanged.
func applyNodeToKube(n *api.Node, k *corev1.Node) error {
	if n.Name != k.Name {
		return fmt.Errorf("metadata.name: Node %q cannot be stored on Kubernetes node %q: they must have the same name", n.Name, k.Name)
	}
	if n.Namespace != "" {
		return fmt.Errorf("metadata.namespace: a Node is cluster-scoped, not in namespace %q", n.Namespace)
	}
	if len(n.Annotations) > 0 {
		return fmt.Errorf("metadata.annotations: the Kubernetes datastore cannot store annotations on Node %s "+
			"(a Calico Node's annotations would be its Kubernetes node's); put BGP settings in spec.bgp", n.Name)
	}
	for i, r := range n.Spec.OrchRefs {
		if r.Orchestrator != conversion.Orchestrator || (r.NodeName != "" && r.NodeName != k.Name) {
			return fmt.Errorf("spec.orchRefs[%d]: {nodeName: %q, orchestrator: %q} cannot be stored: in the Kubernetes "+
				"datastore Node %s is Kubernetes node %s, so its only orchRef is {nodeName: %s, orchestrator: %s}",
				i, r.NodeName, r.Orchestrator, n.Name, k.Name, k.Name, conversion.Orchestrator)
		}
	}

	var b api.NodeBGPSpec
	if n.Spec.BGP != nil {
		b = *n.Spec.BGP
	}
	annotations := maps.Clone(k.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	for _, a := range append(nodeBGPAnnotations(&b), nodeSpecAnnotations(&n.Spec)...) { // read only
		setOrDelete(annotations, a.annotation, *a.value)
	}
	asn := ""
	if b.ASNumber != nil {
		asn = b.ASNumber.String()
	}
	setOrDelete(annotations, nodeAnnotationASNumber, asn)
	if len(annotations) == 0 {
		annotations = nil
	}
	k.Annotations = annotations
	// The Calico Node's labels are set on the Kubernetes Node; none is removed, because kubelet and others own
	// most of a Node's labels and a Calico Node written without them must not wipe them.
	if len(n.Labels) > 0 && k.Labels == nil {
		k.Labels = map[string]string{}
	}
	maps.Copy(k.Labels, n.Labels)
	return nil
}

func setOrDelete(m map[string]string, key, value string) {
	if value == "" {
		delete(m, key)
	} else {
		m[key] = value
	}
}

// nodeID names a Node in errors as the rest of the package does.
func nodeID(name string) string { return "Node(" + name + ")" }

// updateNode writes n into its Kubernetes Node, compare-and-swap on n's resourceVersion (which is the
// Kubernetes Node's): a stale one is the API server's Conflict, returned as datastore.ErrConflict. It returns
// the Node as stored.
func updateNode(ctx context.Context, kube *coreclient.Client, n *api.Node) (api.Resource, error) {
	if n.ResourceVersion == "" {
		return nil, fmt.Errorf("updating %s: resourceVersion is required", nodeID(n.Name))
	}
	return writeNode(ctx, kube, n, n.ResourceVersion, "updating")
}

// createNode writes n into its Kubernetes Node, which must exist: in the Kubernetes datastore a Calico Node is
// a Kubernetes Node, and Kubernetes (the kubelet), not Calico, creates those. n's resourceVersion is ignored;
// when the Kubernetes Node changes between read and write (its kubelet updates it often) it is read again.
func createNode(ctx context.Context, kube *coreclient.Client, n *api.Node) (api.Resource, error) {
	for attempt := 0; ; attempt++ {
		out, err := writeNode(ctx, kube, n, "", "creating")
		if errors.Is(err, datastore.ErrConflict) && attempt < 5 {
			continue
		}
		return out, err
	}
}

// writeNode reads the Kubernetes Node, applies n to it and updates it at resourceVersion rv (the one just read
// when rv is ""). op ("updating", "creating") starts its error messages.
func writeNode(ctx context.Context, kube *coreclient.Client, n *api.Node, rv, op string) (api.Resource, error) {
	what := nodeID(n.Name)
	if n.Name == "" {
		return nil, fmt.Errorf("%s %s: metadata.name is required", op, what)
	}
	k, err := kube.Node(ctx, n.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s %s: Kubernetes node %s does not exist: in the Kubernetes datastore a Calico "+
				"Node is its Kubernetes Node", datastore.ErrNotFound, op, what, n.Name)
		}
		return nil, classify(err, op, what)
	}
	if err := applyNodeToKube(n, k); err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, what, err)
	}
	if rv != "" {
		k.ResourceVersion = rv
	}
	out, err := kube.UpdateNode(ctx, k)
	if err != nil {
		return nil, classify(err, op, what)
	}
	return nodeFromKube(out), nil
}

// profileFromNamespace is Profile kns.<namespace>: allow all, and the namespace's labels as pcns.* labels.
func profileFromNamespace(ns *corev1.Namespace) *api.Profile {
	p := api.SetTypeMeta(conversion.NamespaceProfile(ns))
	setKubeMeta(&p.ObjectMeta, ns)
	return p
}

// profileFromServiceAccount is Profile ksa.<namespace>.<name>: no rules, the account's labels as pcsa.* labels.
func profileFromServiceAccount(sa *corev1.ServiceAccount) *api.Profile {
	p := api.SetTypeMeta(conversion.ServiceAccountProfile(sa))
	setKubeMeta(&p.ObjectMeta, sa)
	return p
}

// defaultAllowProfile is projectcalico-default-allow, which the Kubernetes datastore serves without storing it:
// allow everything in both directions. It has no resourceVersion, since nothing stores it.
func defaultAllowProfile() *api.Profile {
	p := api.SetTypeMeta(&api.Profile{})
	p.Name = DefaultAllowProfileName
	p.Spec.Ingress = []api.Rule{{Action: api.ActionAllow}}
	p.Spec.Egress = []api.Rule{{Action: api.ActionAllow}}
	return p
}

// endpointsFromPod is the WorkloadEndpoints of a pod: its eth0 once it is scheduled and has an address, or none.
// A host-network pod has none (it uses the host's interfaces), nor has a pod that is not yet on a node, has no
// address yet, or has finished (Succeeded or Failed: its sandbox and address are gone even if the object stays).
// A pod being deleted keeps its endpoint until it is gone.
//
// The addresses are those the CNI plugin recorded (cni.projectcalico.org/podIPs, comma-separated, else
// cni.projectcalico.org/podIP), else the pod's status.podIPs; each becomes its host network (/32 or /128).
// Entries that do not parse are skipped.
func endpointsFromPod(p *corev1.Pod) []*api.WorkloadEndpoint {
	if p.Spec.HostNetwork || p.Spec.NodeName == "" ||
		p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	nets := podNetworks(p)
	if len(nets) == 0 {
		return nil
	}
	wep := conversion.PodEndpoint(p, p.Spec.NodeName, podInterface, p.Annotations[conversion.AnnotationContainerID])
	api.SetTypeMeta(wep)
	wep.Spec.IPNetworks = nets
	setKubeMeta(&wep.ObjectMeta, p)
	return []*api.WorkloadEndpoint{wep}
}

// podNetworks is the pod's addresses as host networks, in the order found, without duplicates.
func podNetworks(p *corev1.Pod) []string {
	for _, a := range []string{conversion.AnnotationPodIPs, conversion.AnnotationPodIP} {
		if nets := hostNetworks(strings.Split(p.Annotations[a], ",")); len(nets) > 0 {
			return nets
		}
	}
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 {
		ips = []string{p.Status.PodIP}
	}
	return hostNetworks(ips)
}

// hostNetworks turns addresses or CIDRs ("10.0.0.5", "10.0.0.5/26") into the address's host network
// ("10.0.0.5/32"), skipping empty and malformed entries and repeats.
func hostNetworks(entries []string) []string {
	var nets []string
	seen := map[netip.Addr]bool{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		var addr netip.Addr
		if pfx, err := netip.ParsePrefix(e); err == nil {
			addr = pfx.Addr()
		} else if a, err := netip.ParseAddr(e); err == nil {
			addr = a
		} else {
			continue
		}
		addr = addr.Unmap()
		if addr.Zone() != "" || seen[addr] {
			continue
		}
		seen[addr] = true
		nets = append(nets, netip.PrefixFrom(addr, addr.BitLen()).String())
	}
	return nets
}
