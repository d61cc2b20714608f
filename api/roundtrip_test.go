package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// calicoFieldNames lists, per kind, JSON paths that must appear when the full sample is written, spelled as
// Calico spells them.
var calicoFieldNames = map[string][]string{
	"IPPool": {"spec.cidr", "spec.blockSize", "spec.ipipMode", "spec.vxlanMode", "spec.natOutgoing", "spec.disabled", "spec.nodeSelector", "spec.disableBGPExport", "spec.allowedUses", "spec.assignmentMode", "metadata.labels.zone"},
	"Node":   {"spec.bgp.asNumber", "spec.bgp.ipv4Address", "spec.bgp.ipv6Address", "spec.bgp.ipv4IPIPTunnelAddr", "spec.bgp.routeReflectorClusterID", "spec.orchRefs", "metadata.annotations.note"},
	"BGPPeer": {"spec.node", "spec.peerIP", "spec.asNumber", "spec.password", "spec.sourceAddress", "spec.maxRestartTime",
		"spec.numAllowedLocalASNumbers", "spec.ttlSecurity", "spec.nextHopMode", "spec.reachableBy", "spec.filters",
		"spec.reversePeering", "spec.localASNumber"},
	"BGPFilter": {"spec.exportV4", "spec.importV4", "spec.exportV6", "spec.importV6"},
	"BGPConfiguration": {"spec.logSeverityScreen", "spec.nodeToNodeMeshEnabled", "spec.asNumber", "spec.nodeMeshMaxRestartTime",
		"spec.serviceClusterIPs", "spec.serviceExternalIPs", "spec.serviceLoadBalancerIPs", "spec.communities",
		"spec.prefixAdvertisements", "spec.listenPort", "spec.bindMode", "spec.ignoredInterfaces", "spec.programClusterRoutes"},
	"Profile":             {"spec.ingress", "spec.egress", "spec.labelsToApply.net1"},
	"Tier":                {"spec.order", "spec.defaultAction"},
	"NetworkPolicy":       {"metadata.namespace", "spec.tier", "spec.order", "spec.selector", "spec.types", "spec.ingress", "spec.egress"},
	"GlobalNetworkPolicy": {"spec.order", "spec.selector", "spec.types", "spec.ingress", "spec.preDNAT", "spec.applyOnForward"},
	"GlobalNetworkSet":    {"spec.nets"},
	"WorkloadEndpoint":    {"spec.orchestrator", "spec.workload", "spec.node", "spec.containerID", "spec.pod", "spec.endpoint", "spec.ipNetworks", "spec.ipNATs", "spec.ipv4Gateway", "spec.ipv6Gateway", "spec.profiles", "spec.interfaceName", "spec.mac", "spec.ports"},
	"HostEndpoint":        {"spec.node", "spec.interfaceName", "spec.expectedIPs", "spec.profiles", "spec.ports"},
	"ClusterInformation":  {"spec.clusterGUID", "spec.clusterType", "spec.calicoVersion", "spec.datastoreReady"},
	"FelixConfiguration": {"spec.ipv6Support", "spec.routeRefreshInterval", "spec.iptablesRefreshInterval", "spec.ipsetsRefreshInterval",
		"spec.iptablesLockTimeout", "spec.interfacePrefix", "spec.chainInsertMode", "spec.defaultEndpointToHostAction",
		"spec.iptablesFilterAllowAction", "spec.iptablesMarkMask", "spec.iptablesBackend", "spec.logPrefix", "spec.logSeverityScreen", "spec.ipipEnabled",
		"spec.ipipMTU", "spec.reportingInterval", "spec.healthEnabled", "spec.healthHost", "spec.healthPort",
		"spec.prometheusMetricsEnabled", "spec.prometheusMetricsPort", "spec.failsafeInboundHostPorts", "spec.failsafeOutboundHostPorts"},
}

// lookup follows a dotted path through decoded JSON objects.
func lookup(m map[string]any, path string) (any, bool) {
	var v any = m
	for _, part := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

func TestEveryKindRoundTripsThroughJSON(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k.Name, func(t *testing.T) {
			build, ok := fullSamples[k.Name]
			if !ok {
				t.Fatalf("no full sample for kind %s: add one to fullSamples", k.Name)
			}
			orig := SetTypeMeta(build())
			if err := orig.Validate(); err != nil {
				t.Fatalf("the full sample must be valid, got:\n%v", err)
			}
			js, err := json.Marshal(orig)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatal(err)
			}
			for _, top := range []string{"kind", "apiVersion", "metadata", "spec"} {
				if _, ok := m[top]; !ok {
					t.Errorf("expected top-level key %q in %s", top, js)
				}
			}
			if m["kind"] != k.Name || m["apiVersion"] != Group || len(m) != 4 {
				t.Errorf("expected exactly kind %s, apiVersion %s, metadata and spec at the top, got %s", k.Name, Group, js)
			}
			for _, path := range append([]string{"metadata.name"}, calicoFieldNames[k.Name]...) {
				if _, ok := lookup(m, path); !ok {
					t.Errorf("expected field %s in %s", path, js)
				}
			}

			docs, err := Decode(js)
			if err != nil {
				t.Fatalf("expected the JSON to decode back, got: %v\n%s", err, js)
			}
			if len(docs) != 1 || !reflect.DeepEqual(docs[0].Resource, orig) {
				t.Fatalf("expected the decoded resource to equal the original\nwant %+v\ngot  %+v", orig, docs[0].Resource)
			}

			y, err := yaml.Marshal(orig)
			if err != nil {
				t.Fatalf("marshal YAML: %v", err)
			}
			docs, err = Decode(y)
			if err != nil || len(docs) != 1 || !reflect.DeepEqual(docs[0].Resource, orig) {
				t.Fatalf("expected the YAML form to decode back equal, got %v (%v)\n%s", docs, err, y)
			}
		})
	}
}

func TestJSONSpellingOfScalarsAndRules(t *testing.T) {
	r := fullSamples["NetworkPolicy"]().(*NetworkPolicy)
	js, err := json.Marshal(r.Spec.Ingress[0])
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"Allow","ipVersion":4,"protocol":"TCP",` +
		`"source":{"nets":["10.0.0.0/8"],"notNets":["10.1.0.0/16"],"selector":"role == 'web'","notSelector":"quarantine == 'true'","namespaceSelector":"all()","notPorts":["1:1023"]},` +
		`"destination":{"ports":[5432,"8000:8080","metrics"]}}`
	if string(js) != want {
		t.Fatalf("expected\n%s\ngot\n%s", want, js)
	}
	js, _ = json.Marshal(Rule{Action: ActionPass})
	if string(js) != `{"action":"Pass"}` {
		t.Fatalf("expected an empty source and destination to be left out, got %s", js)
	}
	js, _ = json.Marshal(Rule{Action: ActionAllow, Protocol: &Protocol{Number: 17}, ICMP: &ICMPFields{Type: ptr(8), Code: ptr(0)}})
	if string(js) != `{"action":"Allow","protocol":17,"icmp":{"type":8,"code":0}}` {
		t.Fatalf("expected a protocol number and an ICMP code 0 to be kept, got %s", js)
	}
}

func TestEmptyFailsafeListSurvivesRoundTrip(t *testing.T) {
	// An empty list means "no failsafe ports", which differs from an unset field (felix's defaults).
	c := SetTypeMeta(&FelixConfiguration{ObjectMeta: ObjectMeta{Name: "default"}, Spec: FelixConfigurationSpec{FailsafeInboundHostPorts: &[]ProtoPort{}}})
	js, _ := json.Marshal(c)
	if !strings.Contains(string(js), `"failsafeInboundHostPorts":[]`) {
		t.Fatalf("expected an explicit empty list in %s", js)
	}
	docs, err := Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	got := docs[0].Resource.(*FelixConfiguration).Spec
	if got.FailsafeInboundHostPorts == nil || len(*got.FailsafeInboundHostPorts) != 0 || got.FailsafeOutboundHostPorts != nil {
		t.Fatalf("expected inbound set and empty, outbound unset; got %v and %v", got.FailsafeInboundHostPorts, got.FailsafeOutboundHostPorts)
	}
}
