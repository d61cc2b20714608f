package calicoctl

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
)

func wepYAML(namespace, workload string) string {
	return fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: node1-cni-%s-eth0
  namespace: %s
spec:
  node: node1
  workload: %s
  interfaceName: cali%s
  ipNetworks: [10.1.0.5/32]
`, workload, namespace, workload, workload)
}

const nodesYAML = `apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node1}
spec:
  bgp: {ipv4Address: 10.0.0.1/24}
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node2}
spec:
  bgp: {ipv4Address: 10.0.0.2/24, asNumber: 65002}
`

func TestGet(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 7 resource(s)\n", "", docs(
		poolYAML("pool1", "10.1.0.0/16", "ipipMode: Always", "natOutgoing: true"),
		poolYAML("pool2", "10.2.0.0/16", "disabled: true", "nodeSelector: rack == 'a'"),
		nodesYAML, profileYAML("net1"),
		wepYAML("default", "aaa"), wepYAML("ns1", "bbb")), "create", "-f", "-")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"a kind lists as a table", []string{"get", "ippool"}, 0, "" +
			"NAME    CIDR          SELECTOR      \n" +
			"pool1   10.1.0.0/16   all()         \n" +
			"pool2   10.2.0.0/16   rack == 'a'   \n\n", ""},
		{"wide adds columns", []string{"get", "ippools", "-o", "wide"}, 0, "" +
			"NAME    CIDR          NAT     IPIPMODE   VXLANMODE   DISABLED   SELECTOR      \n" +
			"pool1   10.1.0.0/16   true    Always     Never       false      all()         \n" +
			"pool2   10.2.0.0/16   false   Never      Never       true       rack == 'a'   \n\n", ""},
		{"a name picks one resource", []string{"get", "pool", "pool2"}, 0, "" +
			"NAME    CIDR          SELECTOR      \n" +
			"pool2   10.2.0.0/16   rack == 'a'   \n\n", ""},
		{"nodes wide show the default AS in parentheses when they inherit it", []string{"get", "nodes", "-o", "wide"}, 0, "" +
			"NAME    ASN       IPV4          IPV6   \n" +
			"node1   (64512)   10.0.0.1/24          \n" +
			"node2   65002     10.0.0.2/24          \n\n", ""},
		{"namespaced kinds list the default namespace", []string{"get", "wep"}, 0, "" +
			"WORKLOAD   NODE    NETWORKS      INTERFACE   \n" +
			"aaa        node1   10.1.0.5/32   caliaaa     \n\n", ""},
		{"-n lists one namespace with a NAMESPACE column", []string{"get", "workloadendpoints", "-n", "ns1"}, 0, "" +
			"NAMESPACE   WORKLOAD   NODE    NETWORKS      INTERFACE   \n" +
			"ns1         bbb        node1   10.1.0.5/32   calibbb     \n\n", ""},
		{"-a lists every namespace", []string{"get", "-a", "wep"}, 0, "" +
			"NAMESPACE   WORKLOAD   NODE    NETWORKS      INTERFACE   \n" +
			"default     aaa        node1   10.1.0.5/32   caliaaa     \n" +
			"ns1         bbb        node1   10.1.0.5/32   calibbb     \n\n", ""},
		{"-n and -a together are rejected", []string{"get", "wep", "-n", "ns1", "-a"}, 1, "",
			"Failed to execute command: cannot use both --namespace and --all-namespaces flags at the same time\n"},
		{"-n with a cluster-scoped kind is rejected", []string{"get", "ippool", "-n", "ns1"}, 1, "",
			"Failed to execute command: namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource\n"},
		{"an unknown kind is rejected", []string{"get", "frobs"}, 1, "",
			"Failed to execute command: resource type 'frobs' is not supported\n"},
		{"an unknown output format is rejected", []string{"get", "ippool", "-o", "xml"}, 1, "",
			"Failed to execute command: unrecognized output format 'xml'\n"},
		{"a missing named resource is an error", []string{"get", "ippool", "nope"}, 1, "",
			"Failed to get resources: resource does not exist: IPPool(nope)\n"},
		{"get without a kind is a usage error", []string{"get"}, 1, "",
			"get needs <KIND> [<NAME>] or --filename\nInvalid option: 'calicoctl get'. " + usageHint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			c.expect(tt.wantCode, tt.wantStdout, tt.wantStderr, "", tt.args...)
		})
	}

	t.Run("nodes wide show the AS number of the default BGPConfiguration", func(t *testing.T) {
		c := c.with(t)
		bgp := "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: {asNumber: 65000}\n"
		c.expect(0, "Successfully applied 1 'BGPConfiguration' resource(s)\n", "", bgp, "apply", "-f", "-")
		r := c.run("", "get", "node", "node1", "-o", "wide")
		if want := "node1   (65000)   10.0.0.1/24"; r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("get node node1 -o wide: got %v, want a row %q", r, want)
		}
	})

	t.Run("BGPConfigurations show Calico's four columns in both formats, with - for what is unset", func(t *testing.T) {
		c := c.with(t)
		node := "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: node.node1}\n" +
			"spec: {logSeverityScreen: Debug, listenPort: 1790}\n"
		c.expect(0, "Successfully applied 1 'BGPConfiguration' resource(s)\n", "", node, "apply", "-f", "-")
		for _, format := range []string{"ps", "wide"} {
			r := c.run("", "get", "bgpconfig", "node.node1", "-o", format)
			want := "NAME         LOGSEVERITY   MESHENABLED   ASNUMBER   \nnode.node1   Debug         -             -          \n\n"
			if r.code != 0 || r.stdout != want {
				t.Errorf("get bgpconfig node.node1 -o %s: got %v, want\n%s", format, r, want)
			}
		}
	})
}

func TestGetYAMLAndJSON(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 2 'IPPool' resource(s)\n", "",
		docs(poolYAML("pool1", "10.1.0.0/16"), poolYAML("pool2", "10.2.0.0/16")), "create", "-f", "-")
	stored := c.get("IPPool", "", "pool1").GetObjectMeta()

	t.Run("a named resource prints as the object itself in YAML", func(t *testing.T) {
		r := c.run("", "get", "ippool", "pool1", "-o", "yaml")
		var got api.IPPool
		if err := yaml.UnmarshalStrict([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("get ippool pool1 -o yaml: %v; unmarshalling as an IPPool: %v", r, err)
		}
		if got.Kind != "IPPool" || got.APIVersion != api.Group || got.Spec.CIDR != "10.1.0.0/16" || got.Spec.BlockSize != 26 ||
			got.UID != stored.UID || got.ResourceVersion != stored.ResourceVersion {
			t.Errorf("get ippool pool1 -o yaml: got %+v, want the stored pool1 %+v with kind and apiVersion", got, stored)
		}
	})

	t.Run("a listing prints as an IPPoolList in JSON indented by two spaces", func(t *testing.T) {
		r := c.run("", "get", "ippool", "-o", "json")
		var got struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
			Items []api.IPPool `json:"items"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("get ippool -o json: %v; unmarshalling: %v", r, err)
		}
		if got.Kind != "IPPoolList" || got.APIVersion != api.Group || got.Metadata.ResourceVersion == "" ||
			len(got.Items) != 2 || got.Items[0].Name != "pool1" || got.Items[1].Name != "pool2" {
			t.Errorf("get ippool -o json: got %+v, want an IPPoolList of pool1 and pool2 with a resourceVersion", got)
		}
		if !strings.HasPrefix(r.stdout, "{\n  \"apiVersion\": ") {
			t.Errorf("get ippool -o json: output starts %q, want two-space indentation", r.stdout[:20])
		}
	})

	t.Run("several resources from a file print as a YAML array", func(t *testing.T) {
		r := c.run(docs(poolYAML("pool1", "10.1.0.0/16"), poolYAML("pool2", "10.2.0.0/16")), "get", "-f", "-", "-o", "yaml")
		var got []api.IPPool
		if err := yaml.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
			t.Fatalf("get -f -o yaml: %v; unmarshalling as a list: %v", r, err)
		}
		if len(got) != 2 || got[0].Name != "pool1" || got[1].Name != "pool2" || got[0].UID == "" {
			t.Errorf("get -f -o yaml: got %+v, want stored pool1 and pool2", got)
		}
	})

	t.Run("resources of two kinds from a file print as two tables", func(t *testing.T) {
		c := c.with(t)
		c.expect(0, "Successfully created 1 'Profile' resource(s)\n", "", profileYAML("net1"), "create", "-f", "-")
		c.expect(0, ""+
			"NAME    CIDR          SELECTOR   \n"+
			"pool1   10.1.0.0/16   all()      \n\n"+
			"NAME   \n"+
			"net1   \n\n", "", docs(poolYAML("pool1", "10.1.0.0/16"), profileYAML("net1")), "get", "-f", "-")
	})
}
