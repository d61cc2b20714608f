package api

import (
	"strings"
	"testing"
)

func TestCalicoDefines(t *testing.T) {
	cases := []struct {
		name string
		kind string
		path string
		want bool
	}{
		// FelixConfiguration.
		{"felix bpfEnabled is defined", "FelixConfiguration", "spec.bpfEnabled", true},
		{"felix nftablesMode is defined", "FelixConfiguration", "spec.nftablesMode", true},
		{"felix floatingIPs is defined", "FelixConfiguration", "spec.floatingIPs", true},
		{"felix failsafe port fields are defined", "FelixConfiguration", "spec.failsafeInboundHostPorts.net", true},
		{"felix conntrack timeouts are a struct", "FelixConfiguration", "spec.bpfConntrackTimeouts.tcpEstablished", true},
		{"felix route table ranges have min and max", "FelixConfiguration", "spec.routeTableRanges.max", true},
		{"felix health timeout overrides have a timeout", "FelixConfiguration", "spec.healthTimeoutOverrides.timeout", true},
		{"felix bpf log filters is a free-form map", "FelixConfiguration", "spec.bpfLogFilters.eth0", true},
		{"felix keepalive uses its JSON name", "FelixConfiguration", "spec.wireguardKeepAlive", true},
		{"felix keepalive Go name is not the JSON name", "FelixConfiguration", "spec.wireguardPersistentKeepAlive", false},
		{"felix is case sensitive", "FelixConfiguration", "spec.BPFEnabled", false},
		{"felix programClusterRoutes of v3.31 is defined", "FelixConfiguration", "spec.programClusterRoutes", true},
		{"felix unknown sub-field of a scalar is not defined", "FelixConfiguration", "spec.bpfEnabled.value", false},

		// IPPool.
		{"ippool allowedUses is defined", "IPPool", "spec.allowedUses", true},
		{"ippool assignmentMode is defined", "IPPool", "spec.assignmentMode", true},
		{"ippool ipipMode is defined", "IPPool", "spec.ipipMode", true},
		{"ippool misspelled ipipModee is not defined", "IPPool", "spec.ipipModee", false},
		{"ippool bogus field is not defined", "IPPool", "spec.bogus", false},
		{"ippool has no status", "IPPool", "status", false},
		{"ippool namespaceSelector of v3.31 is defined", "IPPool", "spec.namespaceSelector", true},

		// Policies and rules.
		{"networkpolicy tier is defined", "NetworkPolicy", "spec.tier", true},
		{"networkpolicy ingress http methods are defined", "NetworkPolicy", "spec.ingress.http.methods", true},
		{"networkpolicy egress destination service name is defined", "NetworkPolicy", "spec.egress.destination.services.name", true},
		{"networkpolicy http paths have a prefix", "NetworkPolicy", "spec.ingress.http.paths.prefix", true},
		{"networkpolicy rule icmp code is defined", "NetworkPolicy", "spec.egress.notICMP.code", true},
		{"networkpolicy service accounts selector is defined", "NetworkPolicy", "spec.ingress.source.serviceAccounts.selector", true},
		{"networkpolicy rule metadata annotations are free-form", "NetworkPolicy", "spec.ingress.metadata.annotations.owner", true},
		{"networkpolicy has no doNotTrack", "NetworkPolicy", "spec.doNotTrack", false},
		{"networkpolicy has no namespaceSelector", "NetworkPolicy", "spec.namespaceSelector", false},
		{"networkpolicy entity rule has no bogus field", "NetworkPolicy", "spec.ingress.source.bogus", false},
		{"globalnetworkpolicy preDNAT is defined", "GlobalNetworkPolicy", "spec.preDNAT", true},
		{"globalnetworkpolicy namespaceSelector is defined", "GlobalNetworkPolicy", "spec.namespaceSelector", true},
		{"globalnetworkpolicy rules share the rule fields", "GlobalNetworkPolicy", "spec.egress.destination.notPorts", true},
		{"profile rules share the rule fields", "Profile", "spec.ingress.source.namespaceSelector", true},
		{"profile labelsToApply is free-form", "Profile", "spec.labelsToApply.tier", true},
		{"profile has no selector", "Profile", "spec.selector", false},

		// BGP.
		{"bgppeer filters is defined", "BGPPeer", "spec.filters", true},
		{"bgppeer password secret key is defined", "BGPPeer", "spec.password.secretKeyRef.key", true},
		{"bgppeer reversePeering is defined", "BGPPeer", "spec.reversePeering", true},
		{"bgppeer localASNumber of v3.31 is defined", "BGPPeer", "spec.localASNumber", true},
		{"bgpfilter prefix length min is defined", "BGPFilter", "spec.importV6.prefixLength.min", true},
		{"bgpconfiguration communities have values", "BGPConfiguration", "spec.communities.value", true},
		{"bgpconfiguration node mesh password is defined", "BGPConfiguration", "spec.nodeMeshPassword.secretKeyRef.name", true},
		{"bgpconfiguration programClusterRoutes of v3.31 is defined", "BGPConfiguration", "spec.programClusterRoutes", true},

		// Other kinds.
		{"node status wireguard key is defined", "Node", "status.wireguardPublicKey", true},
		{"node bgp route reflector id is defined", "Node", "spec.bgp.routeReflectorClusterID", true},
		{"workloadendpoint ipNAT external IP is defined", "WorkloadEndpoint", "spec.ipNATs.externalIP", true},
		{"workloadendpoint port hostIP is defined", "WorkloadEndpoint", "spec.ports.hostIP", true},
		{"hostendpoint expectedIPs is defined", "HostEndpoint", "spec.expectedIPs", true},
		{"hostendpoint ports have no hostPort", "HostEndpoint", "spec.ports.hostPort", false},
		{"globalnetworkset nets is defined", "GlobalNetworkSet", "spec.nets", true},
		{"clusterinformation datastoreReady is defined", "ClusterInformation", "spec.datastoreReady", true},
		{"tier defaultAction is defined", "Tier", "spec.defaultAction", true},
		{"tier has no selector", "Tier", "spec.selector", false},

		// Metadata and the frame.
		{"metadata labels of any key are defined", "IPPool", "metadata.labels.anything", true},
		{"metadata annotations of any key are defined", "NetworkPolicy", "metadata.annotations.a.b/c", true},
		{"metadata labels map itself is defined", "Node", "metadata.labels", true},
		{"metadata owner references have a uid", "Profile", "metadata.ownerReferences.uid", true},
		{"metadata managed fields content is free-form", "Tier", "metadata.managedFields.fieldsV1.f:spec", true},
		{"metadata deletionGracePeriodSeconds is defined", "BGPPeer", "metadata.deletionGracePeriodSeconds", true},
		{"metadata bogus field is not defined", "BGPPeer", "metadata.bogus", false},
		{"metadata name has no sub-fields", "BGPPeer", "metadata.name.first", false},
		{"spec itself is defined", "GlobalNetworkSet", "spec", true},
		{"kind and apiVersion are defined", "Tier", "apiVersion", true},
		{"empty path is not defined", "IPPool", "", false},
		{"unknown kind defines nothing", "Bogus", "metadata.name", false},
		{"kind names are case sensitive", "ippool", "spec.cidr", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CalicoDefines(c.kind, c.path); got != c.want {
				t.Errorf("CalicoDefines(%q, %q) = %v, want %v", c.kind, c.path, got, c.want)
			}
		})
	}
}

func TestCalicoDefinesKnowsEveryRequestedKind(t *testing.T) {
	want := []string{
		"BGPConfiguration", "BGPFilter", "BGPPeer", "ClusterInformation", "FelixConfiguration",
		"GlobalNetworkPolicy", "GlobalNetworkSet", "HostEndpoint", "IPPool", "NetworkPolicy", "Node", "Profile",
		"Tier", "WorkloadEndpoint",
	}
	if got := CalicoKinds(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("expected kinds %v, got %v", want, got)
	}
	for _, k := range want {
		for _, p := range []string{"apiVersion", "kind", "metadata.name", "metadata.namespace", "spec"} {
			if !CalicoDefines(k, p) {
				t.Errorf("expected %s to define %s", k, p)
			}
		}
	}
}

func TestCalicoDefinesTableHasNoDuplicatesOrMalformedPaths(t *testing.T) {
	for kind, paths := range calicoKindFields {
		seen := map[string]bool{}
		for _, p := range paths {
			if seen[p] {
				t.Errorf("%s lists %q twice", kind, p)
			}
			seen[p] = true
			base := strings.TrimSuffix(p, ".*")
			if base == "" || strings.Contains(base, "*") || strings.Contains(base, "..") ||
				strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".") {
				t.Errorf("%s has a malformed path %q", kind, p)
			}
			if !CalicoDefines(kind, base) {
				t.Errorf("expected %s to define its own listed path %q", kind, base)
			}
		}
	}
}
