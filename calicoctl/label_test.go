package calicoctl

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

func TestLabel(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'Node' resource(s)\n", "",
		"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node1, labels: {cluster: backend}}\n", "create", "-f", "-")
	c.expect(0, "Successfully created 1 'WorkloadEndpoint' resource(s)\n", "",
		"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: n1-k8s-nginx-eth0, namespace: web}\nspec: {node: n1, orchestrator: k8s, pod: nginx, endpoint: eth0}\n",
		"create", "-f", "-")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // a prefix of stderr
		wantLabels map[string]string
	}{
		{"a new label is set", []string{"label", "nodes", "node1", "rack=r1"}, 0,
			"Successfully set label rack on nodes node1\n", "", map[string]string{"cluster": "backend", "rack": "r1"}},
		{"an existing label needs --overwrite", []string{"label", "nodes", "node1", "cluster=frontend"}, 1, "",
			"failed to update label of nodes node1, key cluster is already present. please use '--overwrite' to set a new value.\n",
			map[string]string{"cluster": "backend", "rack": "r1"}},
		{"setting the value a label already has is an update", []string{"label", "node", "node1", "cluster=backend"}, 0,
			"Successfully updated label cluster on node node1\n", "", map[string]string{"cluster": "backend", "rack": "r1"}},
		{"--overwrite replaces the value", []string{"label", "nodes", "node1", "cluster=frontend", "--overwrite"}, 0,
			"Successfully updated label cluster on nodes node1\n", "", map[string]string{"cluster": "frontend", "rack": "r1"}},
		{"--remove removes the label", []string{"label", "nodes", "node1", "rack", "--remove"}, 0,
			"Successfully removed label rack from nodes node1\n", "", map[string]string{"cluster": "frontend"}},
		{"removing a label the resource lacks is an error", []string{"label", "nodes", "node1", "rack", "--remove"}, 1, "",
			"cannot remove label of nodes node1, key rack does not exist\n", map[string]string{"cluster": "frontend"}},
		{"a label that fails validation is not written", []string{"label", "nodes", "node1", "bad key!=x"}, 1, "",
			"failed to update nodes node1, label not changed: checking the labelled resource: ", map[string]string{"cluster": "frontend"}},
		{"a label without a value is invalid", []string{"label", "nodes", "node1", "a=b=c"}, 1, "", "invalid label a=b=c\n",
			map[string]string{"cluster": "frontend"}},
		{"a resource that does not exist is named", []string{"label", "nodes", "node2", "a=b"}, 1, "",
			"failed to get nodes node2, error resource does not exist: Node(node2)\n", nil},
		{"--overwrite and --remove exclude each other", []string{"label", "nodes", "node1", "a", "--remove", "--overwrite"}, 1, "",
			"--overwrite and --remove cannot be used together\nInvalid option: ", map[string]string{"cluster": "frontend"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			r := c.run("", tt.args...)
			if r.code != tt.wantCode || r.stdout != tt.wantStdout || !strings.HasPrefix(r.stderr, tt.wantStderr) || (tt.wantStderr == "") != (r.stderr == "") {
				t.Fatalf("calicoctl %s:\n got %v\nwant exit %d, stdout %q, stderr starting %q", strings.Join(tt.args, " "), r, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			if tt.wantLabels != nil {
				if got := c.get("Node", "", "node1").GetObjectMeta().Labels; !maps.Equal(got, tt.wantLabels) {
					t.Errorf("labels of node1 = %v, want %v", got, tt.wantLabels)
				}
			}
		})
	}

	t.Run("a namespaced resource is labelled in the namespace given and keeps its system labels", func(t *testing.T) {
		c := c.with(t)
		c.expect(0, "Successfully set label app on workloadendpoints n1-k8s-nginx-eth0\n", "", "",
			"label", "workloadendpoints", "n1-k8s-nginx-eth0", "--namespace=web", "app=web")
		got := c.get("WorkloadEndpoint", "web", "n1-k8s-nginx-eth0").GetObjectMeta().Labels
		want := map[string]string{"app": "web", "projectcalico.org/namespace": "web", "projectcalico.org/orchestrator": "k8s"}
		if !maps.Equal(got, want) {
			t.Errorf("labels = %v, want %v", got, want)
		}
	})
}

func TestReadModifyWriteStartsAgainAfterAConcurrentWrite(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'Node' resource(s)\n", "",
		"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node1, labels: {a: b}}\n", "create", "-f", "-")
	ctx := context.Background()
	calls := 0
	err := readModifyWrite(ctx, c.ds, kind(t, "Node"), "", "node1", func(r api.Resource) (api.Resource, error) {
		calls++
		if calls == 1 { // another writer gets in between this read and its write
			other := c.get("Node", "", "node1")
			other.GetObjectMeta().Labels["other"] = "x"
			if _, err := c.ds.Update(ctx, other); err != nil {
				t.Fatal(err)
			}
		}
		r.GetObjectMeta().Labels["mine"] = "y"
		return r, nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("readModifyWrite: %v after %d calls, want success after 2", err, calls)
	}
	want := map[string]string{"a": "b", "other": "x", "mine": "y"}
	if got := c.get("Node", "", "node1").GetObjectMeta().Labels; !maps.Equal(got, want) {
		t.Errorf("labels = %v, want %v (neither write lost)", got, want)
	}
}
