package calicoctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
)

// buildBinary builds cmd/calicoctl with the given -ldflags into a temporary directory.
func buildBinary(t *testing.T, ldflags string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; cannot build the calicoctl binary")
	}
	bin := filepath.Join(t.TempDir(), "calicoctl")
	cmd := exec.Command(goTool, "build", "-ldflags", ldflags, "-o", bin, "./cmd/calicoctl")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/calicoctl: %v\n%s", err, out)
	}
	return bin
}

// The user story, through the real binary: create a pool, apply a profile, look at them, delete the pool.
func TestBinaryUserStory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	c := startCtl(t)
	const pkg = "github.com/calico-l3/calico/calicoctl"
	bin := buildBinary(t, "-X "+pkg+".Version=v9.8.7 -X "+pkg+".GitCommit=0123abcd")

	run := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(withoutEtcdVars(os.Environ()), "ETCD_ENDPOINTS="+c.ep)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("running calicoctl %s: %v", strings.Join(args, " "), err)
		}
		if code != wantCode {
			t.Fatalf("calicoctl %s: exit %d, want %d; stdout %q stderr %q", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	expect := func(want, got string) {
		t.Helper()
		if got != want {
			t.Errorf("got\n%s\nwant\n%s", show(got), show(want))
		}
	}

	poolFile := c.file(poolYAML("pool1", "10.10.0.0/16", "ipipMode: Always", "natOutgoing: true"))
	profileFile := filepath.Join(t.TempDir(), "profile.yaml")
	if err := os.WriteFile(profileFile, []byte(profileYAML("net1")), 0o644); err != nil {
		t.Fatal(err)
	}

	expect("Successfully created 1 'IPPool' resource(s)\n", run(0, "create", "-f", poolFile))
	expect("Successfully applied 1 'Profile' resource(s)\n", run(0, "apply", "-f", profileFile))
	expect(""+
		"NAME    CIDR           NAT    IPIPMODE   VXLANMODE   DISABLED   SELECTOR   \n"+
		"pool1   10.10.0.0/16   true   Always     Never       false      all()      \n\n",
		run(0, "get", "ippool", "-o", "wide"))

	var profile api.Profile
	if err := yaml.UnmarshalStrict([]byte(run(0, "get", "profile", "net1", "-o", "yaml")), &profile); err != nil {
		t.Fatalf("get profile net1 -o yaml is not a Profile: %v", err)
	}
	if profile.Kind != "Profile" || profile.Name != "net1" || profile.ResourceVersion == "" {
		t.Errorf("get profile net1 -o yaml: got %+v, want Profile net1 with a resourceVersion", profile)
	}
	if _, ok := profile.Spec.LabelsToApply["net1"]; !ok {
		t.Errorf("get profile net1 -o yaml: labelsToApply %v, want net1", profile.Spec.LabelsToApply)
	}

	checkStoredPoolJSON(t, c, "/calico/resources/v3/projectcalico.org/ippools/pool1")

	version := run(0, "version")
	for _, want := range []string{"Client Version:    v9.8.7\n", "Git commit:        0123abcd\n"} {
		if !strings.Contains(version, want) {
			t.Errorf("version: got\n%s\nwant a line %q", version, want)
		}
	}

	expect("Failed to get resources: resource does not exist: IPPool(nope)\n", run(1, "get", "ippool", "nope"))
	expect("Successfully deleted 1 'IPPool' resource(s)\n", run(0, "delete", "-f", poolFile))
	if got := c.names("IPPool"); len(got) != 0 {
		t.Errorf("stored pools after delete: got %v, want none", got)
	}
}

// checkStoredPoolJSON reads the raw etcd value and checks it is Calico's JSON: kind, apiVersion, metadata with uid
// and creationTimestamp but no resourceVersion (etcd's revision is the version), and the spec.
func checkStoredPoolJSON(t *testing.T, c *ctl, key string) {
	t.Helper()
	resp, err := c.ds.Raw().Get(context.Background(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading %s from etcd: %v (%d keys)", key, err, len(resp.Kvs))
	}
	var stored map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatalf("value at %s is not JSON: %v\n%s", key, err, resp.Kvs[0].Value)
	}
	meta, _ := stored["metadata"].(map[string]any)
	spec, _ := stored["spec"].(map[string]any)
	switch {
	case stored["kind"] != "IPPool" || stored["apiVersion"] != api.Group:
		t.Errorf("value at %s: kind %v apiVersion %v, want IPPool %s", key, stored["kind"], stored["apiVersion"], api.Group)
	case meta["name"] != "pool1" || meta["uid"] == nil || meta["creationTimestamp"] == nil:
		t.Errorf("value at %s: metadata %v, want name pool1 with uid and creationTimestamp", key, meta)
	case meta["resourceVersion"] != nil:
		t.Errorf("value at %s: metadata has resourceVersion %v, want none", key, meta["resourceVersion"])
	case spec["cidr"] != "10.10.0.0/16" || spec["ipipMode"] != "Always" || spec["natOutgoing"] != true || spec["blockSize"] != 26.0:
		t.Errorf("value at %s: spec %v, want cidr 10.10.0.0/16, ipipMode Always, natOutgoing true, blockSize 26", key, spec)
	}
}

// withoutEtcdVars drops ETCD_* and CALICOCTL_* variables of the test's own environment.
func withoutEtcdVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "CALICOCTL_") && !strings.HasPrefix(kv, "DATASTORE_TYPE=") {
			out = append(out, kv)
		}
	}
	return out
}
