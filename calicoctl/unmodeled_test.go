package calicoctl

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// storedAsCalico is one resource of each kind as Calico's own tools store it in etcd, with fields this project
// does not model (newer Calico fields, Kubernetes metadata).
var storedAsCalico = []struct {
	kind, namespace, name, json string
}{
	{"BGPConfiguration", "", "default", `{"kind":"BGPConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"6f1c1f3e-0000-4000-8000-000000000001","creationTimestamp":"2026-11-01T10:00:00Z","generation":4},` +
		`"spec":{"logSeverityScreen":"Info","nodeToNodeMeshEnabled":true,"asNumber":64512,"nodeMeshPassword":{"secretKeyRef":{"name":"bgp-secrets","key":"mesh"}},"localWorkloadPeeringIPV4":"169.254.0.179"}}`},
	{"BGPFilter", "", "no-default", `{"kind":"BGPFilter","apiVersion":"projectcalico.org/v3","metadata":{"name":"no-default","uid":"6f1c1f3e-0000-4000-8000-000000000002","creationTimestamp":"2026-11-01T10:00:00Z","finalizers":["example.com/keep"]},` +
		`"spec":{"exportV4":[{"action":"Reject","matchOperator":"Equal","cidr":"0.0.0.0/0"}]}}`},
	{"BGPPeer", "", "rack1-tor", `{"kind":"BGPPeer","apiVersion":"projectcalico.org/v3","metadata":{"name":"rack1-tor","uid":"6f1c1f3e-0000-4000-8000-000000000003","creationTimestamp":"2026-11-01T10:00:00Z","generation":2},` +
		`"spec":{"nodeSelector":"rack == 'r1'","peerIP":"172.18.1.1","asNumber":65001,"localWorkloadSelector":"app == 'bgp-speaker'"}}`},
	{"ClusterInformation", "", "default", `{"kind":"ClusterInformation","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"6f1c1f3e-0000-4000-8000-000000000004","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"clusterGUID":"0f1e2d3c4b5a69788796a5b4c3d2e1f0","clusterType":"k8s,bgp,kubeadm","calicoVersion":"v3.30.0","datastoreReady":true,"variant":"Calico"}}`},
	{"FelixConfiguration", "", "default", `{"kind":"FelixConfiguration","apiVersion":"projectcalico.org/v3","metadata":{"name":"default","uid":"6f1c1f3e-0000-4000-8000-000000000005","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"logSeverityScreen":"Info","reportingInterval":"0s","bpfEnabled":false,"bpfLogLevel":"","nftablesMode":"Disabled","floatingIPs":"Disabled","healthTimeoutOverrides":[{"name":"InternalDataplaneMainLoop","timeout":"1m30s"}]}}`},
	{"GlobalNetworkPolicy", "", "deny-meta", `{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"deny-meta","uid":"6f1c1f3e-0000-4000-8000-000000000006","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"tier":"default","order":10,"selector":"all()","types":["Egress"],"performanceHints":["AssumeNeededOnEveryNode"],` +
		`"egress":[{"action":"Deny","protocol":"TCP","destination":{"nets":["169.254.169.254/32"],"services":{"name":"metadata","namespace":"infra"}}},{"action":"Allow","http":{"methods":["GET"]}}]}}`},
	{"GlobalNetworkSet", "", "blocklist", `{"kind":"GlobalNetworkSet","apiVersion":"projectcalico.org/v3","metadata":{"name":"blocklist","uid":"6f1c1f3e-0000-4000-8000-000000000007","creationTimestamp":"2026-11-01T10:00:00Z","labels":{"role":"blocked"},"generation":7},` +
		`"spec":{"nets":["192.0.2.0/24"]}}`},
	{"HostEndpoint", "", "node1-eth0", `{"kind":"HostEndpoint","apiVersion":"projectcalico.org/v3","metadata":{"name":"node1-eth0","uid":"6f1c1f3e-0000-4000-8000-000000000008","creationTimestamp":"2026-11-01T10:00:00Z","ownerReferences":[{"apiVersion":"v1","kind":"Node","name":"node1","uid":"1"}]},` +
		`"spec":{"node":"node1","interfaceName":"eth0","expectedIPs":["192.0.2.10"]}}`},
	{"IPPool", "", "tunnel-only", `{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"tunnel-only","uid":"6f1c1f3e-0000-4000-8000-000000000009","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"cidr":"10.99.0.0/24","blockSize":26,"ipipMode":"Always","vxlanMode":"Never","natOutgoing":true,"nodeSelector":"all()","allowedUses":["Tunnel"],"assignmentMode":"Automatic"}}`},
	{"NetworkPolicy", "prod", "allow-web", `{"kind":"NetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"allow-web","namespace":"prod","uid":"6f1c1f3e-0000-4000-8000-00000000000a","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"tier":"default","order":100,"selector":"app == 'web'","serviceAccountSelector":"role == 'frontend'","types":["Ingress"],` +
		`"ingress":[{"action":"Allow","protocol":"TCP","source":{"serviceAccounts":{"names":["lb"]}},"destination":{"ports":[80]}}]}}`},
	{"Node", "", "node1", `{"kind":"Node","apiVersion":"projectcalico.org/v3","metadata":{"name":"node1","uid":"6f1c1f3e-0000-4000-8000-00000000000b","creationTimestamp":"2026-11-01T10:00:00Z"},` +
		`"spec":{"bgp":{"ipv4Address":"192.0.2.10/24","ipv4IPIPTunnelAddr":"10.99.0.1"},"addresses":[{"address":"192.0.2.10/24","type":"CalicoNodeIP"}],"wireguard":{"interfaceIPv4Address":"10.99.0.2"}},` +
		`"status":{"podCIDRs":["10.244.1.0/24"]}}`},
	{"Profile", "", "kns.prod", `{"kind":"Profile","apiVersion":"projectcalico.org/v3","metadata":{"name":"kns.prod","uid":"6f1c1f3e-0000-4000-8000-00000000000c","creationTimestamp":"2026-11-01T10:00:00Z","generation":1},` +
		`"spec":{"ingress":[{"action":"Allow","source":{"serviceAccounts":{"selector":"all()"}}}],"egress":[{"action":"Allow"}],"labelsToApply":{"pcns.projectcalico.org/name":"prod"}}}`},
	{"Tier", "", "security", `{"kind":"Tier","apiVersion":"projectcalico.org/v3","metadata":{"name":"security","uid":"6f1c1f3e-0000-4000-8000-00000000000e","creationTimestamp":"2026-11-01T10:00:00Z","generation":3,"finalizers":["example.com/keep"]},` +
		`"spec":{"order":100,"defaultAction":"Deny"}}`},
	{"WorkloadEndpoint", "prod", "node1-k8s-web--0-eth0", `{"kind":"WorkloadEndpoint","apiVersion":"projectcalico.org/v3","metadata":{"name":"node1-k8s-web--0-eth0","namespace":"prod","uid":"6f1c1f3e-0000-4000-8000-00000000000d","creationTimestamp":"2026-11-01T10:00:00Z","labels":{"app":"web","projectcalico.org/namespace":"prod","projectcalico.org/orchestrator":"k8s"}},` +
		`"spec":{"orchestrator":"k8s","node":"node1","endpoint":"eth0","pod":"web-0","ipNetworks":["10.244.1.5/32"],"profiles":["kns.prod"],"interfaceName":"cali1234567890a","serviceAccountName":"web","allowSpoofedSourcePrefixes":["10.50.0.0/16"]}}`},
}

// A read-modify-write with calicoctl (get -o yaml, one label added, replace) of what Calico stored changes that
// label and nothing else: every field this project does not model comes back as it was.
func TestReplaceKeepsWhatCalicoStored(t *testing.T) {
	if len(storedAsCalico) != len(api.Kinds) {
		t.Fatalf("the test covers %d kinds, api has %d", len(storedAsCalico), len(api.Kinds))
	}
	c := startCtl(t)
	ctx := context.Background()
	for _, s := range storedAsCalico {
		t.Run(s.kind, func(t *testing.T) {
			c := c.with(t)
			key := datastore.ResourceKey(kind(t, s.kind), s.namespace, s.name)
			if _, err := c.ds.Raw().Put(ctx, key, s.json); err != nil {
				t.Fatal(err)
			}
			args := []string{"get", s.kind, s.name, "-o", "yaml"}
			if s.namespace != "" {
				args = append(args, "-n", s.namespace)
			}
			got := c.run("", args...)
			if got.code != 0 {
				t.Fatalf("calicoctl get: %v", got)
			}
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(got.stdout), &doc); err != nil {
				t.Fatal(err)
			}
			meta := doc["metadata"].(map[string]any)
			labels, _ := meta["labels"].(map[string]any)
			if labels == nil {
				labels = map[string]any{}
				meta["labels"] = labels
			}
			labels["edited"] = "yes"
			edited, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			if r := c.run("", "replace", "-f", c.file(string(edited))); r.code != 0 {
				t.Fatalf("calicoctl replace of\n%s: %v", edited, r)
			}

			resp, err := c.ds.Raw().Get(ctx, key)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("reading %s back: %v", key, err)
			}
			want := exactJSON(t, []byte(s.json)).(map[string]any)
			wantMeta := want["metadata"].(map[string]any)
			wantLabels, _ := wantMeta["labels"].(map[string]any)
			if wantLabels == nil {
				wantLabels = map[string]any{}
				wantMeta["labels"] = wantLabels
			}
			wantLabels["edited"] = "yes"
			if have := exactJSON(t, resp.Kvs[0].Value); !reflect.DeepEqual(have, any(want)) {
				w, _ := json.Marshal(want)
				t.Errorf("expected only the label to change in etcd:\nwant %s\nhave %s", w, resp.Kvs[0].Value)
			}
		})
	}
}

func exactJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("parsing %s: %v", b, err)
	}
	return v
}

// A manifest field of Calico's API that this project does not act on is stored as written, with a warning naming
// it; a field Calico does not define either is refused and nothing is written.
func TestApplyWarnsOfCalicoFieldsAndRefusesTypos(t *testing.T) {
	c := startCtl(t)
	manifest := "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\n" +
		"spec: {logSeverityScreen: Info, bpfEnabled: false, nftablesMode: Disabled}\n"
	c.expect(0, "Successfully applied 1 'FelixConfiguration' resource(s)\n",
		"Warning: FelixConfiguration(default): spec.bpfEnabled, spec.nftablesMode: defined by Calico's API but not acted on by this project; stored as written\n",
		"", "apply", "-f", c.file(manifest))
	resp, err := c.ds.Raw().Get(context.Background(), datastore.ResourceKey(kind(t, "FelixConfiguration"), "", "default"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the stored FelixConfiguration: %v", err)
	}
	spec := exactJSON(t, resp.Kvs[0].Value).(map[string]any)["spec"].(map[string]any)
	if spec["bpfEnabled"] != false || spec["nftablesMode"] != "Disabled" {
		t.Errorf("expected bpfEnabled and nftablesMode stored as written, got %v", spec)
	}
	c.expect(1, "", "Failed to execute command: document 1 (FelixConfiguration 'other'): unknown field 'spec.bpfEnabledd'\n",
		"", "apply", "-f", c.file("apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: other}\nspec: {bpfEnabledd: true}\n"))
	if names := c.names("FelixConfiguration"); len(names) != 1 {
		t.Errorf("expected only the default FelixConfiguration, got %v", names)
	}
}
