package api

import (
	"sort"
	"strings"
	"sync"
)

// This file records which field paths Calico's projectcalico.org/v3 API (v3.30, and the v3.31 fields marked so)
// defines for each kind, so that the
// project's own types can be checked against upstream spelling. Only field names are recorded (the JSON names).
//
// Paths are dotted JSON names from the object's root. Elements of a list are transparent: a field of a list
// element is written as a field of the list ("spec.ingress.destination.ports"). A path ending in ".*" marks a
// field whose keys are free-form (a map such as labels) or whose value is free-form JSON: the field itself and
// everything beneath it are defined. Every ancestor of a listed path is defined too, so only leaves need listing.

// CalicoDefines reports whether Calico's projectcalico.org/v3 API defines the field at path (dotted JSON names
// from the object's root; list indices such as "[0]" are ignored) for the kind.
func CalicoDefines(kind, path string) bool {
	path = listIndex.ReplaceAllString(path, "")
	idx, ok := calicoFieldIndex()[kind]
	if !ok || path == "" {
		return false
	}
	if idx.defined[path] {
		return true
	}
	for i := 0; i < len(path); i++ {
		if path[i] == '.' && idx.open[path[:i]] {
			return true
		}
	}
	return false
}

// CalicoKinds lists, sorted, the kinds CalicoDefines knows.
func CalicoKinds() []string {
	kinds := make([]string, 0, len(calicoKindFields))
	for k := range calicoKindFields {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// calicoUnder prefixes every path of the given lists with prefix, so a shared sub-structure can be placed at
// any point of a kind.
func calicoUnder(prefix string, lists ...[]string) []string {
	var out []string
	for _, list := range lists {
		for _, p := range list {
			out = append(out, prefix+"."+p)
		}
	}
	return out
}

// calicoJoin concatenates lists of paths.
func calicoJoin(lists ...[]string) []string {
	var out []string
	for _, list := range lists {
		out = append(out, list...)
	}
	return out
}

// calicoResource is the common frame of a resource: type meta, metadata and the given spec (and status) paths.
func calicoResource(rest ...[]string) []string {
	return calicoJoin([]string{"apiVersion", "kind"}, calicoUnder("metadata", calicoObjectMeta), calicoJoin(rest...))
}

// Kubernetes metav1.ObjectMeta, with OwnerReference and ManagedFieldsEntry.
var calicoObjectMeta = []string{
	"name",
	"generateName",
	"namespace",
	"selfLink",
	"uid",
	"resourceVersion",
	"generation",
	"creationTimestamp",
	"deletionTimestamp",
	"deletionGracePeriodSeconds",
	"labels.*",
	"annotations.*",
	"ownerReferences.apiVersion",
	"ownerReferences.kind",
	"ownerReferences.name",
	"ownerReferences.uid",
	"ownerReferences.controller",
	"ownerReferences.blockOwnerDeletion",
	"finalizers",
	"managedFields.manager",
	"managedFields.operation",
	"managedFields.apiVersion",
	"managedFields.time",
	"managedFields.fieldsType",
	"managedFields.fieldsV1.*",
	"managedFields.subresource",
}

// Kubernetes core/v1 SecretKeySelector, used by BGP passwords.
var calicoSecretKeySelector = []string{"name", "key", "optional"}

// BGPPassword.
var calicoBGPPassword = calicoUnder("secretKeyRef", calicoSecretKeySelector)

// ICMPFields.
var calicoICMPFields = []string{"type", "code"}

// ServiceMatch.
var calicoServiceMatch = []string{"name", "namespace"}

// ServiceAccountMatch.
var calicoServiceAccountMatch = []string{"names", "selector"}

// HTTPMatch (paths are HTTPPath elements).
var calicoHTTPMatch = []string{"methods", "paths.exact", "paths.prefix"}

// EntityRule.
var calicoEntityRule = calicoJoin(
	[]string{"nets", "notNets", "selector", "notSelector", "namespaceSelector", "ports", "notPorts"},
	calicoUnder("services", calicoServiceMatch),
	calicoUnder("serviceAccounts", calicoServiceAccountMatch),
)

// Rule, shared by the ingress and egress lists of NetworkPolicy, GlobalNetworkPolicy and Profile.
var calicoRule = calicoJoin(
	[]string{"action", "ipVersion", "protocol", "notProtocol"},
	calicoUnder("icmp", calicoICMPFields),
	calicoUnder("notICMP", calicoICMPFields),
	calicoUnder("source", calicoEntityRule),
	calicoUnder("destination", calicoEntityRule),
	calicoUnder("http", calicoHTTPMatch),
	[]string{"metadata.annotations.*"},
)

// Ingress and egress rule lists.
var calicoRules = calicoJoin(calicoUnder("ingress", calicoRule), calicoUnder("egress", calicoRule))

// EndpointPort (HostEndpoint ports).
var calicoEndpointPort = []string{"name", "protocol", "port"}

// BGPFilterRuleV4 and BGPFilterRuleV6 have the same field names.
var calicoBGPFilterRule = []string{
	"cidr", "prefixLength.min", "prefixLength.max", "source", "interface", "matchOperator", "action",
}

var calicoBGPConfigurationSpec = calicoJoin(
	[]string{
		"logSeverityScreen",
		"nodeToNodeMeshEnabled",
		"asNumber",
		"serviceLoadBalancerIPs.cidr",
		"serviceExternalIPs.cidr",
		"serviceClusterIPs.cidr",
		"communities.name",
		"communities.value",
		"prefixAdvertisements.cidr",
		"prefixAdvertisements.communities",
		"listenPort",
		"nodeMeshMaxRestartTime",
		"bindMode",
		"ignoredInterfaces",
		"localWorkloadPeeringIPV4",
		"localWorkloadPeeringIPV6",
		"programClusterRoutes", // v3.31
	},
	calicoUnder("nodeMeshPassword", calicoBGPPassword),
)

var calicoBGPFilterSpec = calicoJoin(
	calicoUnder("exportV4", calicoBGPFilterRule),
	calicoUnder("importV4", calicoBGPFilterRule),
	calicoUnder("exportV6", calicoBGPFilterRule),
	calicoUnder("importV6", calicoBGPFilterRule),
)

var calicoBGPPeerSpec = calicoJoin(
	[]string{
		"node",
		"nodeSelector",
		"peerIP",
		"asNumber",
		"peerSelector",
		"localWorkloadSelector",
		"keepOriginalNextHop",
		"nextHopMode",
		"sourceAddress",
		"maxRestartTime",
		"numAllowedLocalASNumbers",
		"ttlSecurity",
		"reachableBy",
		"filters",
		"reversePeering",
		"localASNumber", // v3.31
	},
	calicoUnder("password", calicoBGPPassword),
)

var calicoClusterInformationSpec = []string{
	"clusterGUID", "clusterType", "calicoVersion", "datastoreReady", "variant",
}

var calicoFelixConfigurationSpec = []string{
	"useInternalDataplaneDriver",
	"dataplaneDriver",
	"dataplaneWatchdogTimeout",
	"ipv6Support",
	"routeRefreshInterval",
	"interfaceRefreshInterval",
	"iptablesRefreshInterval",
	"iptablesPostWriteCheckInterval",
	"iptablesLockFilePath",
	"iptablesLockTimeout",
	"iptablesLockProbeInterval",
	"featureDetectOverride",
	"featureGates",
	"ipsetsRefreshInterval",
	"maxIpsetSize",
	"iptablesBackend",
	"xdpRefreshInterval",
	"netlinkTimeout",
	"metadataAddr",
	"metadataPort",
	"openstackRegion",
	"interfacePrefix",
	"interfaceExclude",
	"chainInsertMode",
	"defaultEndpointToHostAction",
	"iptablesFilterAllowAction",
	"iptablesMangleAllowAction",
	"iptablesFilterDenyAction",
	"logPrefix",
	"logFilePath",
	"logSeverityFile",
	"logSeverityScreen",
	"logSeveritySys",
	"logDebugFilenameRegex",
	"ipipEnabled",
	"ipipMTU",
	"vxlanEnabled",
	"vxlanMTU",
	"vxlanMTUV6",
	"vxlanPort",
	"vxlanVNI",
	"allowVXLANPacketsFromWorkloads",
	"allowIPIPPacketsFromWorkloads",
	"reportingInterval",
	"reportingTTL",
	"endpointReportingEnabled",
	"endpointReportingDelay",
	"endpointStatusPathPrefix",
	"iptablesMarkMask",
	"disableConntrackInvalidCheck",
	"healthEnabled",
	"healthHost",
	"healthPort",
	"healthTimeoutOverrides.name",
	"healthTimeoutOverrides.timeout",
	"prometheusMetricsEnabled",
	"prometheusMetricsHost",
	"prometheusMetricsPort",
	"prometheusGoMetricsEnabled",
	"prometheusProcessMetricsEnabled",
	"prometheusWireGuardMetricsEnabled",
	"failsafeInboundHostPorts.protocol",
	"failsafeInboundHostPorts.port",
	"failsafeInboundHostPorts.net",
	"failsafeOutboundHostPorts.protocol",
	"failsafeOutboundHostPorts.port",
	"failsafeOutboundHostPorts.net",
	"kubeNodePortRanges",
	"policySyncPathPrefix",
	"usageReportingEnabled",
	"usageReportingInitialDelay",
	"usageReportingInterval",
	"natPortRange",
	"natOutgoingAddress",
	"deviceRouteSourceAddress",
	"deviceRouteSourceAddressIPv6",
	"deviceRouteProtocol",
	"removeExternalRoutes",
	"ipForwarding",
	"externalNodesList",
	"debugMemoryProfilePath",
	"debugDisableLogDropping",
	"debugSimulateCalcGraphHangAfter",
	"debugSimulateDataplaneHangAfter",
	"debugSimulateDataplaneApplyDelay",
	"debugHost",
	"debugPort",
	"iptablesNATOutgoingInterfaceFilter",
	"sidecarAccelerationEnabled",
	"xdpEnabled",
	"genericXDPEnabled",
	"nftablesMode",
	"nftablesRefreshInterval",
	"nftablesFilterAllowAction",
	"nftablesMangleAllowAction",
	"nftablesFilterDenyAction",
	"nftablesMarkMask",
	"bpfEnabled",
	"bpfDisableUnprivileged",
	"bpfLogLevel",
	"bpfConntrackLogLevel",
	"bpfConntrackMode",
	"bpfConntrackTimeouts.creationGracePeriod",
	"bpfConntrackTimeouts.tcpSynSent",
	"bpfConntrackTimeouts.tcpEstablished",
	"bpfConntrackTimeouts.tcpFinsSeen",
	"bpfConntrackTimeouts.tcpResetSeen",
	"bpfConntrackTimeouts.udpTimeout",
	"bpfConntrackTimeouts.genericTimeout",
	"bpfConntrackTimeouts.icmpTimeout",
	"bpfLogFilters.*",
	"bpfCTLBLogFilter",
	"bpfDataIfacePattern",
	"bpfL3IfacePattern",
	"bpfConnectTimeLoadBalancingEnabled",
	"bpfConnectTimeLoadBalancing",
	"bpfHostNetworkedNATWithoutCTLB",
	"bpfExternalServiceMode",
	"bpfDSROptoutCIDRs",
	"bpfExtToServiceConnmark",
	"bpfKubeProxyIptablesCleanupEnabled",
	"bpfKubeProxyMinSyncPeriod",
	"bpfKubeProxyEndpointSlicesEnabled",
	"bpfKubeProxyHealthzPort",
	"bpfPSNATPorts",
	"bpfMapSizeNATFrontend",
	"bpfMapSizeNATBackend",
	"bpfMapSizeNATAffinity",
	"bpfMapSizeRoute",
	"bpfMapSizeConntrack",
	"bpfMapSizePerCpuConntrack",
	"bpfMapSizeConntrackScaling",
	"bpfMapSizeConntrackCleanupQueue",
	"bpfMapSizeIPSets",
	"bpfMapSizeIfState",
	"bpfHostConntrackBypass",
	"bpfEnforceRPF",
	"bpfPolicyDebugEnabled",
	"bpfForceTrackPacketsFromIfaces",
	"bpfDisableGROForIfaces",
	"bpfExcludeCIDRsFromNAT",
	"bpfExportBufferSizeMB",
	"bpfRedirectToPeer",
	"bpfProfiling",
	"cgroupV2Path",
	"flowLogsPolicyEvaluationMode",
	"flowLogsFlushInterval",
	"flowLogsCollectorDebugTrace",
	"flowLogsGoldmaneServer",
	"flowLogsLocalReporter",
	"routeSource",
	"routeTableRanges.min",
	"routeTableRanges.max",
	"routeTableRange.min",
	"routeTableRange.max",
	"routeSyncDisabled",
	"programClusterRoutes",  // v3.31
	"natOutgoingExclusions", // v3.31
	"requireMTUFile",        // v3.31
	"wireguardEnabled",
	"wireguardEnabledV6",
	"wireguardThreadingEnabled",
	"wireguardListeningPort",
	"wireguardListeningPortV6",
	"wireguardRoutingRulePriority",
	"wireguardInterfaceName",
	"wireguardInterfaceNameV6",
	"wireguardMTU",
	"wireguardMTUV6",
	"wireguardHostEncryptionEnabled",
	"wireguardKeepAlive",
	"awsSrcDstCheck",
	"serviceLoopPrevention",
	"workloadSourceSpoofing",
	"mtuIfacePattern",
	"floatingIPs",
	"windowsManageFirewallRules",
	"goGCThreshold",
	"goMemoryLimitMB",
	"goMaxProcs",
}

var calicoGlobalNetworkPolicySpec = calicoJoin(
	[]string{
		"tier",
		"order",
		"selector",
		"types",
		"doNotTrack",
		"preDNAT",
		"applyOnForward",
		"serviceAccountSelector",
		"namespaceSelector",
		"performanceHints",
	},
	calicoRules,
)

var calicoGlobalNetworkSetSpec = []string{"nets"}

var calicoHostEndpointSpec = calicoJoin(
	[]string{"node", "interfaceName", "expectedIPs", "profiles"},
	calicoUnder("ports", calicoEndpointPort),
)

var calicoIPPoolSpec = []string{
	"cidr",
	"vxlanMode",
	"ipipMode",
	"natOutgoing",
	"disabled",
	"disableBGPExport",
	"blockSize",
	"nodeSelector",
	"allowedUses",
	"assignmentMode",
	"namespaceSelector", // v3.31
	// The type still carries ipip.enabled, ipip.mode and nat-outgoing from APIv1, but Calico's validation
	// refuses them, so they are not listed: here too they are unknown fields.
}

var calicoNetworkPolicySpec = calicoJoin(
	[]string{"tier", "order", "selector", "types", "serviceAccountSelector", "performanceHints"},
	calicoRules,
)

var calicoNodeSpec = []string{
	"bgp.asNumber",
	"bgp.ipv4Address",
	"bgp.ipv6Address",
	"bgp.ipv4IPIPTunnelAddr",
	"bgp.routeReflectorClusterID",
	"ipv4VXLANTunnelAddr",
	"vxlanTunnelMACAddr",
	"ipv6VXLANTunnelAddr",
	"vxlanTunnelMACAddrV6",
	"orchRefs.nodeName",
	"orchRefs.orchestrator",
	"wireguard.interfaceIPv4Address",
	"wireguard.interfaceIPv6Address",
	"addresses.address",
	"addresses.type",
	"interfaces.name",
	"interfaces.addresses",
}

var calicoNodeStatus = []string{"wireguardPublicKey", "wireguardPublicKeyV6", "podCIDRs"}

var calicoProfileSpec = calicoJoin(calicoRules, []string{"labelsToApply.*"})

var calicoTierSpec = []string{"order", "defaultAction"}

var calicoWorkloadEndpointSpec = calicoJoin(
	[]string{
		"orchestrator",
		"workload",
		"node",
		"containerID",
		"pod",
		"endpoint",
		"serviceAccountName",
		"ipNetworks",
		"ipNATs.internalIP",
		"ipNATs.externalIP",
		"ipNATs.source",
		"ipv4Gateway",
		"ipv6Gateway",
		"profiles",
		"interfaceName",
		"mac",
		"ports.name",
		"ports.protocol",
		"ports.port",
		"ports.hostPort",
		"ports.hostIP",
		"allowSpoofedSourcePrefixes",
	},
	calicoUnder("qosControls", []string{
		"ingressBandwidth",
		"egressBandwidth",
		"ingressBurst",
		"egressBurst",
		"ingressPeakrate",
		"egressPeakrate",
		"ingressMinburst",
		"egressMinburst",
		"ingressPacketRate",
		"egressPacketRate",
		"ingressPacketBurst",
		"egressPacketBurst",
		"ingressMaxConnections",
		"egressMaxConnections",
	}),
)

// calicoKindFields is the table: per kind, every field path Calico v3.30 defines.
var calicoKindFields = map[string][]string{
	"BGPConfiguration":    calicoResource(calicoUnder("spec", calicoBGPConfigurationSpec)),
	"BGPFilter":           calicoResource(calicoUnder("spec", calicoBGPFilterSpec)),
	"BGPPeer":             calicoResource(calicoUnder("spec", calicoBGPPeerSpec)),
	"ClusterInformation":  calicoResource(calicoUnder("spec", calicoClusterInformationSpec)),
	"FelixConfiguration":  calicoResource(calicoUnder("spec", calicoFelixConfigurationSpec)),
	"GlobalNetworkPolicy": calicoResource(calicoUnder("spec", calicoGlobalNetworkPolicySpec)),
	"GlobalNetworkSet":    calicoResource(calicoUnder("spec", calicoGlobalNetworkSetSpec)),
	"HostEndpoint":        calicoResource(calicoUnder("spec", calicoHostEndpointSpec)),
	"IPPool":              calicoResource(calicoUnder("spec", calicoIPPoolSpec)),
	"NetworkPolicy":       calicoResource(calicoUnder("spec", calicoNetworkPolicySpec)),
	"Node":                calicoResource(calicoUnder("spec", calicoNodeSpec), calicoUnder("status", calicoNodeStatus)),
	"Profile":             calicoResource(calicoUnder("spec", calicoProfileSpec)),
	"Tier":                calicoResource(calicoUnder("spec", calicoTierSpec)),
	"WorkloadEndpoint":    calicoResource(calicoUnder("spec", calicoWorkloadEndpointSpec)),
}

// calicoFields is the lookup form of one kind's paths.
type calicoFields struct {
	defined map[string]bool // every listed path and all its ancestors
	open    map[string]bool // free-form fields: anything beneath them is defined
}

// calicoFieldIndex is built on first use: most programs never ask, and every one (the CNI plugin once per pod)
// would pay for building it at start-up.
var calicoFieldIndex = sync.OnceValue(func() map[string]calicoFields { return buildCalicoFieldIndex(calicoKindFields) })

func buildCalicoFieldIndex(table map[string][]string) map[string]calicoFields {
	index := make(map[string]calicoFields, len(table))
	for kind, paths := range table {
		f := calicoFields{defined: map[string]bool{}, open: map[string]bool{}}
		for _, p := range paths {
			if base, ok := strings.CutSuffix(p, ".*"); ok {
				f.open[base] = true
				p = base
			}
			for i := 0; i < len(p); i++ {
				if p[i] == '.' {
					f.defined[p[:i]] = true
				}
			}
			f.defined[p] = true
		}
		index[kind] = f
	}
	return index
}
