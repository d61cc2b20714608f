package cni

import (
	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/k8s/conversion"
)

// Orchestrator is what the plugin records as the endpoints' orchestrator.
const Orchestrator = "cni"

// HostMAC is the MAC of every host-side veth: the pod's neighbour entry for its gateway never changes.
const HostMAC = "ee:ee:ee:ee:ee:ee"

// GatewayIPv4 is the pod's IPv4 next hop; the host answers ARP for it through proxy_arp on the host veth.
const GatewayIPv4 = "169.254.1.1"

// HandleID is the IPAM handle holding one attachment's addresses: "<network>.<container id>" for the default
// interface, as Calico names it, and "<network>.<container id>.<ifname>" for any other, so that two interfaces
// of one container on one network never release each other's addresses.
func HandleID(network, containerID, ifName string) string {
	if ifName == "" || ifName == DefaultIfName {
		return network + "." + containerID
	}
	return network + "." + containerID + "." + ifName
}

// DefaultIfName is the interface name runtimes give a pod's first interface.
const DefaultIfName = "eth0"

// WorkloadID identifies one attachment of a container: "<network>.<container id>.<ifname>". The host veth name is
// derived from it, so the same container on two networks (different ifnames) gets two host veths.
func WorkloadID(network, containerID, ifName string) string {
	return network + "." + containerID + "." + ifName
}

// HostVethName is "cali" and the first 11 hex digits of sha1(workload id) (conversion.VethName): always 15
// characters, the kernel's limit, and always a valid interface name whatever the container ID looks like.
func HostVethName(workloadID string) string { return conversion.VethName(workloadID) }

// EndpointName is the WorkloadEndpoint name Calico gives a CNI workload: node, "cni", container ID and interface,
// each with '-' doubled, joined by '-' ("host-1", "abc", "eth0" → "host--1-cni-abc-eth0").
func EndpointName(node, containerID, ifName string) string {
	return conversion.JoinEscaped(node, Orchestrator, containerID, ifName)
}

// DefaultProfile is the Profile created for a network the first time a workload joins it: endpoints on the
// network accept traffic from each other and may send anywhere.
func DefaultProfile(network string) *api.Profile {
	return &api.Profile{
		ObjectMeta: api.ObjectMeta{Name: network},
		Spec: api.ProfileSpec{
			Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(" + network + ")"}}},
			Egress:        []api.Rule{{Action: api.ActionAllow}},
			LabelsToApply: map[string]string{network: ""},
		},
	}
}
