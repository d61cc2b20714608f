package calicoctl

import (
	"reflect"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

const usageHint = "Use flag '--help' to read about a specific subcommand.\n"

func TestCreate(t *testing.T) {
	c := startCtl(t)
	missing := "/nonexistent/pools.yaml"
	steps := []struct {
		name       string
		stdin      string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"creating one pool reports it by kind", poolYAML("pool1", "10.1.0.0/16"), []string{"create", "-f", "-"},
			0, "Successfully created 1 'IPPool' resource(s)\n", ""},
		{"creating it again fails because it exists", poolYAML("pool1", "10.1.0.0/16"), []string{"create", "-f", "-"},
			1, "", "Failed to create 'IPPool' resource: resource already exists: IPPool(pool1)\n"},
		{"--skip-exists counts an existing resource as created", poolYAML("pool1", "10.1.0.0/16"), []string{"create", "--skip-exists", "-f", "-"},
			0, "Successfully created 1 'IPPool' resource(s)\n", ""},
		{"when the first of several exists none is created",
			docs(poolYAML("pool1", "10.1.0.0/16"), poolYAML("pool2", "10.2.0.0/16")), []string{"create", "-f", "-"},
			1, "", "Failed to create any 'IPPool' resources: resource already exists: IPPool(pool1)\n"},
		{"a partial success says how far it got",
			docs(poolYAML("pool3", "10.3.0.0/16"), poolYAML("pool1", "10.1.0.0/16"), poolYAML("pool4", "10.4.0.0/16")),
			[]string{"create", "-f", "-"},
			1, "Partial success: created the first 1 out of 3 'IPPool' resources:\n", "Hit error: resource already exists: IPPool(pool1)\n"},
		{"resources of several kinds are counted without a kind",
			docs(profileYAML("net1"), poolYAML("pool5", "10.5.0.0/16")), []string{"create", "-f", "-"},
			0, "Successfully created 2 resource(s)\n", ""},
		{"a failure among several kinds names no kind",
			docs(profileYAML("net1"), poolYAML("pool6", "10.6.0.0/16")), []string{"create", "-f", "-"},
			1, "", "Failed to create any resources: resource already exists: Profile(net1)\n"},
		{"a file with no resources is an error", "# nothing here\n", []string{"create", "-f", "-"},
			1, "", "No resources specified in file\n"},
		{"a file that cannot be read is an error", "", []string{"create", "-f", missing},
			1, "", "Failed to execute command: reading " + missing + ": open " + missing + ": no such file or directory\n"},
		{"create without a file is a usage error", "", []string{"create"},
			1, "", "create needs --filename (-f)\nInvalid option: 'calicoctl create'. " + usageHint},
		{"create with an unknown flag is a usage error", "", []string{"create", "-f", "-", "--force"},
			1, "", "flag provided but not defined: -force\nInvalid option: 'calicoctl create -f - --force'. " + usageHint},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			c := c.with(t)
			c.expect(s.wantCode, s.wantStdout, s.wantStderr, s.stdin, s.args...)
		})
	}
	if got, want := c.names("IPPool"), []string{"pool1", "pool3", "pool5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored pools after the steps: got %v, want %v", got, want)
	}
}

// Every document of a file is checked before anything is written, whatever the command.
func TestBadDocumentWritesNothing(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'Profile' resource(s)\n", "", profileYAML("keep"), "create", "-f", "-")
	tests := []struct {
		name       string
		manifest   string
		wantStderr string
	}{
		{"an invalid second document",
			docs(poolYAML("a", "10.1.0.0/16"), poolYAML("bad", "10.0.1.0/33"), profileYAML("c")),
			"Failed to execute command: document 2 (IPPool 'bad'): error with field spec.cidr = '10.0.1.0/33' (invalid CIDR)\n"},
		{"an unknown field in the last document",
			docs(poolYAML("a", "10.1.0.0/16"), profileYAML("b"), poolYAML("c", "10.3.0.0/16", "natOutgoin: true")),
			"Failed to execute command: document 3 (IPPool 'c'): unknown field 'spec.natOutgoin'\n"},
		{"a second document that is not YAML",
			docs(poolYAML("a", "10.1.0.0/16"), "kind: [\n", profileYAML("c")),
			"Failed to execute command: document 2: not valid YAML or JSON: yaml: line 2: did not find expected node content\n"},
	}
	for _, verb := range []string{"create", "apply", "replace", "delete"} {
		for _, tt := range tests {
			t.Run(verb+" with "+tt.name, func(t *testing.T) {
				c := c.with(t)
				c.expect(1, "", tt.wantStderr, tt.manifest, verb, "-f", "-")
				if pools := c.names("IPPool"); len(pools) != 0 {
					t.Errorf("stored pools: got %v, want none", pools)
				}
				if profiles := c.names("Profile"); !reflect.DeepEqual(profiles, []string{"keep"}) {
					t.Errorf("stored profiles: got %v, want only [keep]", profiles)
				}
			})
		}
	}
}

func TestApply(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully applied 1 'Profile' resource(s)\n", "", profileYAML("net1"), "apply", "-f", "-")
	first := c.get("Profile", "", "net1").GetObjectMeta()

	changed := strings.Replace(profileYAML("net1"), "net1: \"\"", "role: web", 1) + "  egress:\n  - action: Allow\n"
	c.expect(0, "Successfully applied 1 'Profile' resource(s)\n", "", changed, "apply", "-f", "-")
	got := c.get("Profile", "", "net1").(*api.Profile)
	if got.Spec.LabelsToApply["role"] != "web" || len(got.Spec.Egress) != 1 {
		t.Errorf("after apply of a changed profile: stored spec %+v, want labelsToApply role=web and one egress rule", got.Spec)
	}
	if got.UID != first.UID || got.CreationTimestamp != first.CreationTimestamp {
		t.Errorf("apply changed the identity: uid %s→%s, created %s→%s", first.UID, got.UID, first.CreationTimestamp, got.CreationTimestamp)
	}
	if got.ResourceVersion == first.ResourceVersion {
		t.Errorf("apply of a change kept resourceVersion %s, want a new one", got.ResourceVersion)
	}

	stale := strings.Replace(changed, "name: net1", "name: net1\n  resourceVersion: \"1\"", 1)
	c.expect(0, "Successfully applied 1 'Profile' resource(s)\n", "", stale, "apply", "-f", "-")

	// Identity is the server's: a uid or creation time copied into a file from another resource is ignored.
	copied := func(name string) string {
		return strings.Replace(profileYAML(name), "name: "+name, "name: "+name+
			"\n  uid: 00000000-0000-0000-0000-000000000000\n  creationTimestamp: \"2001-01-01T00:00:00Z\"", 1)
	}
	c.expect(0, "Successfully applied 1 'Profile' resource(s)\n", "", copied("net1"), "apply", "-f", "-")
	if got := c.get("Profile", "", "net1").GetObjectMeta(); got.UID != first.UID || got.CreationTimestamp != first.CreationTimestamp {
		t.Errorf("apply of a file with a copied uid: stored uid %s created %s, want the original %s %s",
			got.UID, got.CreationTimestamp, first.UID, first.CreationTimestamp)
	}
	c.expect(0, "Successfully applied 1 'Profile' resource(s)\n", "", copied("net2"), "apply", "-f", "-")
	if got := c.get("Profile", "", "net2").GetObjectMeta(); got.UID == first.UID || strings.HasPrefix(got.UID, "00000000") ||
		got.CreationTimestamp == "2001-01-01T00:00:00Z" {
		t.Errorf("apply creating from a file with a copied uid: stored uid %s created %s, want fresh ones", got.UID, got.CreationTimestamp)
	}
}

func TestReplace(t *testing.T) {
	c := startCtl(t)
	c.expect(1, "", "Failed to replace 'Profile' resource: resource does not exist: Profile(net1)\n",
		profileYAML("net1"), "replace", "-f", "-")
	c.expect(0, "Successfully created 1 'Profile' resource(s)\n", "", profileYAML("net1"), "create", "-f", "-")
	c.expect(0, "Successfully replaced 1 'Profile' resource(s)\n", "", profileYAML("net1"), "replace", "-f", "-")

	current := c.get("Profile", "", "net1").GetObjectMeta().ResourceVersion
	withVersion := func(v string) string {
		return strings.Replace(profileYAML("net1"), "name: net1", "name: net1\n  resourceVersion: \""+v+"\"", 1)
	}
	c.expect(0, "Successfully replaced 1 'Profile' resource(s)\n", "", withVersion(current), "replace", "-f", "-")
	latest := c.get("Profile", "", "net1").GetObjectMeta().ResourceVersion
	c.expect(1, "", "Failed to replace 'Profile' resource: Resource version '"+current+"' is out of date (latest: "+latest+
		"). Update the resource YAML/JSON in order to make changes.\n", withVersion(current), "replace", "-f", "-")
}

func TestDelete(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 4 resource(s)\n", "",
		docs(poolYAML("a", "10.1.0.0/16"), poolYAML("b", "10.2.0.0/16"), poolYAML("c", "10.3.0.0/16"), profileYAML("net1")),
		"create", "-f", "-")
	policy := "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: np1\nspec:\n  selector: all()\n"
	c.expect(0, "Successfully created 1 'NetworkPolicy' resource(s)\n", "", policy, "create", "-n", "ns1", "-f", "-")

	c.expect(0, "Successfully deleted 1 'IPPool' resource(s)\n", "", "", "delete", "ippool", "a")
	c.expect(1, "", "Failed to delete 'IPPool' resource: resource does not exist: IPPool(a)\n", "", "delete", "ippool", "a")
	c.expect(0, "Successfully deleted 1 'IPPool' resource(s)\n", "", "", "delete", "ippool", "a", "--skip-not-exists")
	c.expect(1, "Partial success: deleted the first 1 out of 2 'IPPool' resources:\n",
		"Hit error: resource does not exist: IPPool(a)\n", "", "delete", "pools", "b", "a")
	c.expect(0, "Successfully deleted 1 'Profile' resource(s)\n", "", profileYAML("net1"), "delete", "-f", "-")
	c.expect(1, "", "Failed to delete 'NetworkPolicy' resource: resource does not exist: NetworkPolicy(default/np1)\n",
		"", "delete", "networkpolicy", "np1")
	c.expect(0, "Successfully deleted 1 'NetworkPolicy' resource(s)\n", "", "", "delete", "networkpolicy", "np1", "-n", "ns1")

	c.expect(1, "", "Failed to execute command: namespace should not be specified for a non-namespaced resource. IPPool is not a namespaced resource\n",
		"", "delete", "ippool", "c", "-n", "ns1")
	c.expect(1, "", "Failed to execute command: resource type 'frobs' is not supported\n", "", "delete", "frobs", "c")
	c.expect(1, "", "delete needs <KIND> <NAME>... or --filename\nInvalid option: 'calicoctl delete ippool'. "+usageHint, "", "delete", "ippool")

	stale := c.get("IPPool", "", "c").GetObjectMeta().ResourceVersion
	c.expect(0, "Successfully applied 1 'IPPool' resource(s)\n", "", poolYAML("c", "10.3.0.0/16", "natOutgoing: true"), "apply", "-f", "-")
	latest := c.get("IPPool", "", "c").GetObjectMeta().ResourceVersion
	withVersion := strings.Replace(poolYAML("c", "10.3.0.0/16"), "name: c", "name: c\n  resourceVersion: \""+stale+"\"", 1)
	c.expect(1, "", "Failed to delete 'IPPool' resource: Resource version '"+stale+"' is out of date (latest: "+latest+
		"). Update the resource YAML/JSON in order to make changes.\n", withVersion, "delete", "-f", "-")
	if got := c.names("IPPool"); !reflect.DeepEqual(got, []string{"c"}) {
		t.Errorf("stored pools: got %v, want [c]", got)
	}
}
