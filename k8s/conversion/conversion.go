// Package conversion maps Kubernetes objects to Calico's, as Calico names and labels them: a pod to its
// WorkloadEndpoint (name, labels, profiles, named ports), a namespace to Profile kns.<ns> and a service account
// to Profile ksa.<ns>.<sa>, and reads the cni.projectcalico.org annotations. It is pure: no API calls.
package conversion

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/calico-l3/calico/api"
)

// Orchestrator is the orchestrator Calico records for Kubernetes pods.
const Orchestrator = "k8s"

// Profile name prefixes and the label prefixes their labelsToApply use.
const (
	NamespaceProfilePrefix      = "kns."
	ServiceAccountProfilePrefix = "ksa."
	NamespaceLabelPrefix        = "pcns."
	ServiceAccountLabelPrefix   = "pcsa."
)

// Labels Calico adds to every pod's endpoint, and the name label of namespace and service-account profiles.
const (
	LabelNamespace      = "projectcalico.org/namespace"
	LabelOrchestrator   = "projectcalico.org/orchestrator"
	LabelServiceAccount = "projectcalico.org/serviceaccount"
	LabelName           = "projectcalico.org/name"
)

// The pod annotations the CNI plugin reads and writes.
const (
	AnnotationIPv4Pools     = "cni.projectcalico.org/ipv4pools"
	AnnotationIPv6Pools     = "cni.projectcalico.org/ipv6pools"
	AnnotationIPAddrs       = "cni.projectcalico.org/ipAddrs"
	AnnotationIPAddrsNoIPAM = "cni.projectcalico.org/ipAddrsNoIpam"
	AnnotationPodIP         = "cni.projectcalico.org/podIP"
	AnnotationPodIPs        = "cni.projectcalico.org/podIPs"
	AnnotationContainerID   = "cni.projectcalico.org/containerID"
)

// EndpointName is the WorkloadEndpoint name of a pod's interface: node, "k8s", pod and interface, each with '-'
// doubled, joined by '-' ("host-1", "net-test", "eth0" → "host--1-k8s-net--test-eth0").
func EndpointName(node, pod, iface string) string {
	return JoinEscaped(node, Orchestrator, pod, iface)
}

// JoinEscaped joins the parts of a WorkloadEndpoint name with '-', each part's own '-' doubled so the parts stay
// apart, as Calico names endpoints.
func JoinEscaped(parts ...string) string {
	escaped := make([]string, len(parts))
	for i, p := range parts {
		escaped[i] = strings.ReplaceAll(p, "-", "--")
	}
	return strings.Join(escaped, "-")
}

// HostVethName is the host end of a pod's veth: "cali" and the first 11 hex digits of sha1("<namespace>.<pod>").
// It depends on the pod, not the sandbox, so a recreated sandbox reuses the name.
func HostVethName(namespace, pod string) string {
	return VethName(namespace + "." + pod)
}

// VethName is "cali" and the first 11 hex digits of sha1(id): always 15 characters, the kernel's limit, and a
// valid interface name whatever the id holds.
func VethName(id string) string {
	sum := sha1.Sum([]byte(id))
	return "cali" + hex.EncodeToString(sum[:])[:11]
}

// NamespaceProfileName is "kns.<namespace>".
func NamespaceProfileName(namespace string) string { return NamespaceProfilePrefix + namespace }

// ServiceAccountProfileName is "ksa.<namespace>.<service account>".
func ServiceAccountProfileName(namespace, sa string) string {
	return ServiceAccountProfilePrefix + namespace + "." + sa
}

// PodLabels are the endpoint's labels: the pod's own plus the namespace, orchestrator and service account.
func PodLabels(pod *corev1.Pod) map[string]string {
	labels := maps.Clone(pod.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelNamespace] = pod.Namespace
	labels[LabelOrchestrator] = Orchestrator
	if sa := pod.Spec.ServiceAccountName; sa != "" {
		labels[LabelServiceAccount] = sa
	}
	return labels
}

// PodProfiles are the namespace's profile and, when the pod has one, its service account's.
func PodProfiles(pod *corev1.Pod) []string {
	profiles := []string{NamespaceProfileName(pod.Namespace)}
	if sa := pod.Spec.ServiceAccountName; sa != "" {
		profiles = append(profiles, ServiceAccountProfileName(pod.Namespace, sa))
	}
	return profiles
}

// PodPorts are the pod's named container ports, for rules that name a port. Unnamed ports are left out; a
// protocol that is not given is TCP, as in Kubernetes.
func PodPorts(pod *corev1.Pod) []api.EndpointPort {
	var ports []api.EndpointPort
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.Name == "" || p.ContainerPort <= 0 || p.ContainerPort > 65535 {
					continue
				}
				proto := api.ProtocolFromString(string(p.Protocol))
				if p.Protocol == "" {
					proto = api.ProtocolFromString("TCP")
				}
				ports = append(ports, api.EndpointPort{Name: p.Name, Protocol: proto, Port: uint16(p.ContainerPort)})
			}
		}
	}
	return ports
}

// PodEndpoint is the WorkloadEndpoint of a pod's interface, before it has addresses and a MAC.
func PodEndpoint(pod *corev1.Pod, node, iface, containerID string) *api.WorkloadEndpoint {
	wep := &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{
			Name:      EndpointName(node, pod.Name, iface),
			Namespace: pod.Namespace,
			Labels:    PodLabels(pod),
		},
		Spec: api.WorkloadEndpointSpec{
			Orchestrator:  Orchestrator,
			Node:          node,
			ContainerID:   containerID,
			Pod:           pod.Name,
			Endpoint:      iface,
			InterfaceName: HostVethName(pod.Namespace, pod.Name),
			Profiles:      PodProfiles(pod),
			Ports:         PodPorts(pod),
		},
	}
	wep.Default()
	return wep
}

// NamespaceProfile is the profile of a namespace: allow everything in both directions (Kubernetes' default
// without NetworkPolicy), and give its endpoints the namespace's labels prefixed with "pcns." plus its name.
func NamespaceProfile(ns *corev1.Namespace) *api.Profile {
	labels := map[string]string{NamespaceLabelPrefix + LabelName: ns.Name}
	for k, v := range ns.Labels {
		labels[NamespaceLabelPrefix+k] = v
	}
	return &api.Profile{
		ObjectMeta: api.ObjectMeta{Name: NamespaceProfileName(ns.Name)},
		Spec: api.ProfileSpec{
			Ingress:       []api.Rule{{Action: api.ActionAllow}},
			Egress:        []api.Rule{{Action: api.ActionAllow}},
			LabelsToApply: labels,
		},
	}
}

// ServiceAccountProfile is the profile of a service account: no rules, only its labels prefixed with "pcsa."
// plus its name, so that policy can select pods by service account.
func ServiceAccountProfile(sa *corev1.ServiceAccount) *api.Profile {
	labels := map[string]string{ServiceAccountLabelPrefix + LabelName: sa.Name}
	for k, v := range sa.Labels {
		labels[ServiceAccountLabelPrefix+k] = v
	}
	return &api.Profile{
		ObjectMeta: api.ObjectMeta{Name: ServiceAccountProfileName(sa.Namespace, sa.Name)},
		Spec:       api.ProfileSpec{LabelsToApply: labels},
	}
}

// IPAMRequest is what a pod's annotations ask of IPAM.
type IPAMRequest struct {
	IPv4Pools, IPv6Pools []string // restrict automatic assignment to these pools (names or CIDRs)
	IPs                  []net.IP // assign exactly these addresses instead
}

// ParseIPAMAnnotations reads cni.projectcalico.org/ipv4pools, ipv6pools and ipAddrs. Each is a JSON list of
// strings; a malformed one is an error naming the annotation. ipAddrs cannot be combined with the pool
// annotations, and ipAddrsNoIpam (addresses outside IPAM) is refused: this plugin always records its addresses.
func ParseIPAMAnnotations(annotations map[string]string) (IPAMRequest, error) {
	var req IPAMRequest
	if _, ok := annotations[AnnotationIPAddrsNoIPAM]; ok {
		return req, fmt.Errorf("annotation %s is not supported: every address is taken from IPAM (use %s to ask for specific addresses)",
			AnnotationIPAddrsNoIPAM, AnnotationIPAddrs)
	}
	for _, a := range []struct {
		name string
		into *[]string
		v6   bool
	}{{AnnotationIPv4Pools, &req.IPv4Pools, false}, {AnnotationIPv6Pools, &req.IPv6Pools, true}} {
		list, ok, err := stringList(annotations, a.name)
		if err != nil || !ok {
			if err != nil {
				return req, err
			}
			continue
		}
		for _, p := range list {
			if p == "" {
				return req, fmt.Errorf("annotation %s: an empty pool name", a.name)
			}
			if strings.Contains(p, "/") {
				ip, _, err := net.ParseCIDR(p)
				if err != nil {
					return req, fmt.Errorf("annotation %s: %q is neither a pool name nor a CIDR", a.name, p)
				}
				if (ip.To4() == nil) != a.v6 {
					return req, fmt.Errorf("annotation %s: %q is a pool of the wrong IP version", a.name, p)
				}
			}
		}
		*a.into = list
	}
	list, ok, err := stringList(annotations, AnnotationIPAddrs)
	if err != nil {
		return req, err
	}
	if ok {
		if len(req.IPv4Pools) > 0 || len(req.IPv6Pools) > 0 {
			return req, fmt.Errorf("annotation %s cannot be combined with %s or %s", AnnotationIPAddrs, AnnotationIPv4Pools, AnnotationIPv6Pools)
		}
		var v4, v6 int
		for _, s := range list {
			ip := net.ParseIP(s)
			if ip == nil {
				return req, fmt.Errorf("annotation %s: %q is not an IP address", AnnotationIPAddrs, s)
			}
			if ip.To4() != nil {
				v4++
				ip = ip.To4()
			} else {
				v6++
			}
			req.IPs = append(req.IPs, ip)
		}
		if v4 > 1 || v6 > 1 || len(list) == 0 {
			return req, fmt.Errorf("annotation %s: give one IPv4 address, one IPv6 address or one of each (got %d and %d)",
				AnnotationIPAddrs, v4, v6)
		}
	}
	return req, nil
}

func stringList(annotations map[string]string, name string) ([]string, bool, error) {
	raw, ok := annotations[name]
	if !ok {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, true, fmt.Errorf("annotation %s: %q is not a JSON list of strings, e.g. [\"10.0.0.0/24\"]", name, raw)
	}
	return slices.Clip(list), true, nil
}
