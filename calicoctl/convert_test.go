package calicoctl

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

// TestConvertSeedEraManifests converts every pre-v3 manifest kept in api/testdata/seed-era, compares the output with
// its golden file and checks that what convert prints is a manifest create would accept.
func TestConvertSeedEraManifests(t *testing.T) {
	files, err := filepath.Glob("../api/testdata/seed-era/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed-era manifests found: %v", err)
	}
	c := &ctl{t: t, env: map[string]string{}}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		for _, format := range []string{"yaml", "json"} {
			t.Run(name+" converts to "+format, func(t *testing.T) {
				r := c.with(t).run("", "convert", "-f", f, "-o", format)
				if r.code != 0 || r.stderr != "" {
					t.Fatalf("convert %s: %v", f, r)
				}
				golden(t, filepath.Join("convert", name+"."+format), r.stdout)
				docs, err := api.Decode([]byte(r.stdout))
				if err != nil {
					t.Fatalf("the converted manifest does not decode: %v", err)
				}
				if err := api.Prepare(docs, ""); err != nil {
					t.Fatalf("the converted manifest does not validate: %v", err)
				}
			})
		}
	}
}

func TestConvertRules(t *testing.T) {
	c := &ctl{t: t, env: map[string]string{}}
	tests := []struct {
		name     string
		manifest string
		want     []string // substrings of the YAML output
	}{
		{"kubernetes namespace profiles are renamed and names that change get a hash suffix",
			"apiVersion: v1\nkind: profile\nmetadata:\n  name: k8s_ns.Prod\n",
			[]string{"name: kns.prod-"}},
		{"the calico/k8s_ns label becomes projectcalico.org/namespace in selectors",
			"apiVersion: v1\nkind: policy\nmetadata:\n  name: ns-only\nspec:\n  selector: calico/k8s_ns == 'prod'\n  egress:\n  - action: allow\n    destination:\n      selector: has(calico/k8s_ns)\n",
			[]string{"selector: projectcalico.org/namespace == 'prod'", "selector: has(projectcalico.org/namespace)", "- Egress\n"}},
		{"a tag and a selector in one rule are and-ed",
			"apiVersion: v1\nkind: profile\nmetadata:\n  name: p\nspec:\n  ingress:\n  - action: allow\n    source:\n      tag: web\n      selector: a == 'b'\n",
			[]string{"selector: (a == 'b') && web == ''"}},
		{"doNotTrack policy applies on forward and next-tier becomes Pass",
			"apiVersion: v1\nkind: policy\nmetadata:\n  name: untracked\nspec:\n  doNotTrack: true\n  ingress:\n  - action: next-tier\n",
			[]string{"applyOnForward: true", "action: Pass", "doNotTrack: true"}},
		{"a global BGP peer is named after its address",
			"apiVersion: v1\nkind: bgpPeer\nmetadata:\n  scope: global\n  peerIP: 2001:db8::1\nspec:\n  asNumber: 64513\n",
			[]string{"name: 2001-0db8-0000-0000-0000-0000-0000-0001"}},
		{"a workload endpoint moves calico/k8s_ns to the namespace label and renames namespace profiles",
			"apiVersion: v1\nkind: workloadEndpoint\nmetadata:\n  name: eth0\n  workload: prod.web-1\n  orchestrator: k8s\n  node: Node_1\n  labels:\n    calico/k8s_ns: prod\nspec:\n  ipNetworks: [\"fd00::1/128\", 10.0.0.1]\n  profiles: [k8s_ns.prod]\n",
			[]string{"projectcalico.org/namespace: prod", "name: node--1-k8s-web--1-eth0", "- kns.prod\n", "  - 10.0.0.1/32\n  - fd00::1/128\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.with(t).run(tt.manifest, "convert", "-f", "-")
			if r.code != 0 {
				t.Fatalf("convert: %v", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	c := &ctl{t: t, env: map[string]string{}}
	tests := []struct {
		name     string
		manifest string
		args     []string
		want     string // all of stderr
	}{
		{"a kind convert does not handle is named with the kinds it does",
			"apiVersion: v1\nkind: tier\nmetadata:\n  name: t1\n", nil,
			"Failed to execute command: document 1 (tier 't1'): conversion for the resource type 'tier' is not supported: " +
				"convert handles the v1 kinds bgpPeer, hostEndpoint, ipPool, node, policy, profile and workloadEndpoint\n"},
		{"a v3 manifest is already converted",
			poolYAML("p", "10.0.0.0/24"), nil,
			"Failed to execute command: document 1 (IPPool 'p'): apiVersion 'projectcalico.org/v3' is already the current format: convert reads manifests of apiVersion v1\n"},
		{"a misspelt v1 field is an error, not lost",
			"apiVersion: v1\nkind: ipPool\nmetadata:\n  cidr: 10.0.0.0/24\nspec:\n  nat_outgoing: true\n", nil,
			"Failed to execute command: document 1 (ipPool): json: unknown field \"nat_outgoing\"\n"},
		{"a tag that clashes with a label stops the conversion",
			"apiVersion: v1\nkind: node\nmetadata:\n  name: n0\n---\napiVersion: v1\nkind: profile\nmetadata:\n  name: p\n  labels: {web: x}\n  tags: [web]\n", nil,
			"Failed to execute command: document 2 (profile 'p'): Tag: 'web' and Label 'web == x' have the same value for Profile: p. Change the Label key before proceeding\n"},
		{"a node-scoped peer needs its node",
			"apiVersion: v1\nkind: bgpPeer\nmetadata:\n  scope: node\n  peerIP: 10.0.0.1\n", nil,
			"Failed to execute command: document 1 (bgpPeer): metadata.node is required for a peer of scope node\n"},
		{"a converted resource that fails validation is not printed",
			"apiVersion: v1\nkind: hostEndpoint\nmetadata:\n  name: eth0\n  node: n1\n", nil,
			"Converted manifest resource(s) failed validation: HostEndpoint(n1.eth0): "},
		{"an unknown output format is refused",
			"apiVersion: v1\nkind: node\nmetadata:\n  name: n1\n", []string{"-o", "wide"},
			"unrecognized output format 'wide'\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.with(t).run(tt.manifest, append([]string{"convert", "-f", "-"}, tt.args...)...)
			if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, tt.want) {
				t.Errorf("got %v\nwant exit 1 and stderr starting %q", r, tt.want)
			}
		})
	}

	t.Run("--ignore-validation prints what fails validation", func(t *testing.T) {
		r := c.with(t).run("apiVersion: v1\nkind: hostEndpoint\nmetadata:\n  name: eth0\n  node: n1\n", "convert", "-f", "-", "--ignore-validation")
		if r.code != 0 || !strings.Contains(r.stdout, "name: n1.eth0") {
			t.Errorf("got %v", r)
		}
	})
	t.Run("a missing file is named", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "nope.yaml")
		r := c.with(t).run("", "convert", "-f", f)
		if r.code != 1 || !strings.Contains(r.stderr, "reading "+f) {
			t.Errorf("got %v", r)
		}
	})
}
