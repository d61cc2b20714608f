package calicoctl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

func TestPatch(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool1", "10.1.0.0/16", "natOutgoing: true"), "create", "-f", "-")
	c.expect(0, "Successfully created 1 'Node' resource(s)\n", "",
		"apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node-0, labels: {rack: r1}}\nspec:\n  bgp: {ipv4Address: 10.0.0.1/24}\n",
		"create", "-f", "-")
	c.expect(0, "Successfully created 1 'WorkloadEndpoint' resource(s)\n", "",
		"apiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: n1-k8s-p-eth0, namespace: prod}\nspec: {node: n1, orchestrator: k8s, pod: p, endpoint: eth0, interfaceName: cali1}\n",
		"create", "-f", "-")

	tests := []struct {
		name       string
		args       []string
		wantStdout string
		wantStderr string // a prefix of stderr
		check      func(t *testing.T, r api.Resource)
	}{
		{"a partial object is merged into the resource by default",
			[]string{"patch", "node", "node-0", "--patch", `{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}`},
			"Successfully patched 1 'Node' resource\n", "",
			func(t *testing.T, r api.Resource) {
				n := r.(*api.Node)
				if n.Spec.BGP.RouteReflectorClusterID != "244.0.0.1" || n.Spec.BGP.IPv4Address != "10.0.0.1/24" || n.Labels["rack"] != "r1" {
					t.Errorf("node after the patch: %+v %+v", n.ObjectMeta, n.Spec.BGP)
				}
			}},
		{"like Calico, --type json with an object merges it too",
			[]string{"patch", "nodes", "node-0", "-p", `{"metadata":{"labels":{"zone":"z1"}}}`, "--type", "json"},
			"Successfully patched 1 'Node' resource\n", "",
			func(t *testing.T, r api.Resource) {
				if l := r.GetObjectMeta().Labels; l["zone"] != "z1" || l["rack"] != "r1" {
					t.Errorf("labels after the patch: %v", l)
				}
			}},
		{"null removes a field in a merge patch",
			[]string{"patch", "node", "node-0", "-p", `{"metadata":{"labels":{"zone":null}}}`, "-t", "merge"},
			"Successfully patched 1 'Node' resource\n", "",
			func(t *testing.T, r api.Resource) {
				if _, ok := r.GetObjectMeta().Labels["zone"]; ok {
					t.Errorf("zone label still there: %v", r.GetObjectMeta().Labels)
				}
			}},
		{"a JSON patch applies its operations in order",
			[]string{"patch", "ippool", "pool1", "--type=json", "-p",
				`[{"op":"test","path":"/spec/natOutgoing","value":true},{"op":"remove","path":"/spec/natOutgoing"},{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`},
			"Successfully patched 1 'IPPool' resource\n", "",
			func(t *testing.T, r api.Resource) {
				p := r.(*api.IPPool)
				if p.Spec.NATOutgoing || p.Labels["a"] != "b" || p.Spec.CIDR != "10.1.0.0/16" {
					t.Errorf("pool after the patch: %+v %+v", p.ObjectMeta, p.Spec)
				}
			}},
		{"a namespaced resource is found in the namespace given",
			[]string{"patch", "wep", "n1-k8s-p-eth0", "-n", "prod", "-p", `{"spec":{"interfaceName":"cali2"}}`},
			"Successfully patched 1 'WorkloadEndpoint' resource\n", "",
			func(t *testing.T, r api.Resource) {
				if w := r.(*api.WorkloadEndpoint); w.Spec.InterfaceName != "cali2" || w.Labels[api.LabelNamespace] != "prod" {
					t.Errorf("endpoint after the patch: %+v %+v", w.ObjectMeta, w.Spec)
				}
			}},
		{"a result that fails validation is not written",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"ipipMode":"Sometimes"}}`},
			"", "Hit error: ", nil},
		{"a change the pool's blocks depend on is refused as update refuses it",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"blockSize":28}}`},
			"", "Hit error: updating IPPool(pool1): ", nil},
		{"a field Calico's API defines is stored as given, though not modeled here",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"namespaceSelector":"all()"}}`},
			"Successfully patched 1 'IPPool' resource\n", "",
			func(t *testing.T, r api.Resource) {
				if got := r.GetObjectMeta().Unmodeled.Paths(); len(got) != 1 || got[0] != "spec.namespaceSelector" {
					t.Errorf("expected spec.namespaceSelector kept, got %v", got)
				}
			}},
		{"a misspelt field is an error, not stored",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"natOutgoin":true}}`},
			"", "Hit error: unknown field 'spec.natOutgoin'\n", nil},
		{"a wrongly typed value names its field",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"natOutgoing":"yes"}}`},
			"", "Hit error: reading the patched resource: error with field spec.natOutgoing: expected bool, got a string\n", nil},
		{"the name may not change",
			[]string{"patch", "ippool", "pool1", "-p", `{"metadata":{"name":"pool2"}}`},
			"", "Hit error: error with field metadata.name = 'pool2' (the patch may not change it: it is 'pool1')\n", nil},
		{"a stale resourceVersion in the patch is reported, not retried",
			[]string{"patch", "ippool", "pool1", "-p", `{"metadata":{"resourceVersion":"1"},"spec":{"disabled":true}}`},
			"", "Hit error: updating IPPool(pool1): Resource version '1' is out of date", nil},
		{"a JSON patch whose test fails changes nothing",
			[]string{"patch", "ippool", "pool1", "-t", "json", "-p", `[{"op":"add","path":"/spec/disabled","value":true},{"op":"test","path":"/spec/cidr","value":"10.9.0.0/16"}]`},
			"", "Hit error: JSON patch operation 1 (test): test failed: the value at '/spec/cidr' differs\n", nil},
		{"a list of operations needs --type json",
			[]string{"patch", "ippool", "pool1", "-p", `[{"op":"remove","path":"/spec/disabled"}]`},
			"", "Hit error: the patch is a list of operations: give --type json to apply a JSON patch\n", nil},
		{"strategic merge directives are refused",
			[]string{"patch", "ippool", "pool1", "-p", `{"spec":{"$patch":"replace"}}`},
			"", "Hit error: the patch directive '$patch' at 'spec' is not supported", nil},
		{"a resource that does not exist is an error",
			[]string{"patch", "node", "node-9", "-p", `{"spec":{}}`},
			"", "Hit error: resource does not exist: Node(node-9)\n", nil},
		{"an unknown patch type is a usage error",
			[]string{"patch", "node", "node-0", "-p", `{}`, "--type", "xml"},
			"", "unknown patch type 'xml': use strategic, merge or json\nInvalid option: ", nil},
		{"a patch is required",
			[]string{"patch", "node", "node-0"},
			"", "patch needs --patch (-p)\nInvalid option: ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			kindArg, name, ns := tt.args[1], tt.args[2], ""
			k := kind(t, kindArg)
			if k.Namespaced {
				ns = "prod"
			}
			before, beforeErr := c.ds.Get(context.Background(), k, ns, name)
			r := c.run("", tt.args...)
			if r.stdout != tt.wantStdout || !strings.HasPrefix(r.stderr, tt.wantStderr) || (tt.wantStderr == "") != (r.stderr == "") {
				t.Fatalf("calicoctl %s:\n got %v\nwant stdout %q, stderr starting %q", strings.Join(tt.args, " "), r, tt.wantStdout, tt.wantStderr)
			}
			if tt.check != nil {
				tt.check(t, c.get(k.Name, ns, name))
				return
			}
			if beforeErr != nil {
				return // nothing there to be changed
			}
			after := c.get(k.Name, ns, name)
			if b, a := mustJSON(t, before), mustJSON(t, after); b != a {
				t.Errorf("a failed patch changed the resource:\nbefore %s\nafter  %s", b, a)
			}
		})
	}
}

func mustJSON(t *testing.T, r api.Resource) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJSONPatchOperations(t *testing.T) {
	tests := []struct {
		name, doc, patch, want, wantErr string
	}{
		{"add inserts into an array and appends with -", `{"a":[1,3]}`,
			`[{"op":"add","path":"/a/1","value":2},{"op":"add","path":"/a/-","value":4}]`, `{"a":[1,2,3,4]}`, ""},
		{"remove takes an element out of an array", `{"a":[1,2,3]}`, `[{"op":"remove","path":"/a/0"}]`, `{"a":[2,3]}`, ""},
		{"replace needs the target to exist", `{"a":1}`, `[{"op":"replace","path":"/b","value":2}]`, "", "path member 'b' does not exist"},
		{"move takes the value away from where it was", `{"a":{"b":1},"c":{}}`, `[{"op":"move","from":"/a/b","path":"/c/d"}]`, `{"a":{},"c":{"d":1}}`, ""},
		{"copy leaves the original", `{"a":[1]}`, `[{"op":"copy","from":"/a","path":"/b"}]`, `{"a":[1],"b":[1]}`, ""},
		{"pointers unescape ~1 and ~0", `{"a/b":1,"m~n":2}`, `[{"op":"replace","path":"/a~1b","value":3},{"op":"remove","path":"/m~0n"}]`, `{"a/b":3}`, ""},
		{"test compares numbers by value", `{"a":1}`, `[{"op":"test","path":"/a","value":1.0}]`, `{"a":1}`, ""},
		{"an index past the end is an error", `{"a":[1]}`, `[{"op":"remove","path":"/a/1"}]`, "", "array index '1' is out of range"},
		{"an unknown op is named", `{}`, `[{"op":"frob","path":"/a"}]`, "", "unknown op 'frob'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := decodeJSON([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := applyJSONPatch(doc, []byte(tt.patch))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(got)
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func TestMergePatchFollowsRFC7386(t *testing.T) {
	tests := []struct{ name, target, patch, want string }{
		{"a value replaces", `{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{"null removes", `{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{"arrays are replaced whole", `{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"objects merge deeply", `{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null,"e":{"f":null}}}`, `{"a":{"b":"d","e":{}}}`},
		{"an object replaces a scalar", `{"a":"foo"}`, `{"a":{"b":"c"}}`, `{"a":{"b":"c"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, _ := decodeJSON([]byte(tt.target))
			patch, _ := decodeJSON([]byte(tt.patch))
			b, _ := json.Marshal(mergePatch(target, patch))
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}
