package calicoctl

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// ctl runs calicoctl in-process against a private etcd.
type ctl struct {
	t   *testing.T
	ep  string
	env map[string]string
	ds  *datastore.Etcd
}

func startCtl(t *testing.T) *ctl {
	t.Helper()
	ep := etcdtest.Start(t)
	ds, err := datastore.New(datastore.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatalf("connecting to test etcd: %v", err)
	}
	t.Cleanup(func() { ds.Close() })
	return &ctl{t: t, ep: ep, env: map[string]string{"ETCD_ENDPOINTS": ep}, ds: ds}
}

// with returns a copy of c that reports to t, for use in subtests.
func (c *ctl) with(t *testing.T) *ctl {
	cc := *c
	cc.t = t
	return &cc
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// run runs calicoctl with args, stdin as its standard input and the ctl's environment.
func (c *ctl) run(stdin string, args ...string) result {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return c.env[k] })
	return result{stdout.String(), stderr.String(), code}
}

// expect runs calicoctl and checks the exit code and that stdout and stderr are exactly as given.
func (c *ctl) expect(wantCode int, wantStdout, wantStderr string, stdin string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != wantCode || r.stdout != wantStdout || r.stderr != wantStderr {
		c.t.Errorf("calicoctl %s:\n got %v\nwant exit %d, stdout %q, stderr %q", strings.Join(args, " "), r, wantCode, wantStdout, wantStderr)
	}
	return r
}

// file writes content to a temporary file and returns its path.
func (c *ctl) file(content string) string {
	c.t.Helper()
	p := filepath.Join(c.t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// names lists the names of the stored resources of a kind, in all namespaces.
func (c *ctl) names(kindName string) []string {
	c.t.Helper()
	rs, _, err := c.ds.List(context.Background(), kind(c.t, kindName), "")
	if err != nil {
		c.t.Fatalf("listing %s: %v", kindName, err)
	}
	names := []string{}
	for _, r := range rs {
		names = append(names, r.GetObjectMeta().Name)
	}
	return names
}

// get reads one stored resource.
func (c *ctl) get(kindName, namespace, name string) api.Resource {
	c.t.Helper()
	r, err := c.ds.Get(context.Background(), kind(c.t, kindName), namespace, name)
	if err != nil {
		c.t.Fatalf("reading %s %s: %v", kindName, name, err)
	}
	return r
}

func poolYAML(name, cidr string, extra ...string) string {
	s := fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: %s\nspec:\n  cidr: %s\n", name, cidr)
	for _, e := range extra {
		s += "  " + e + "\n"
	}
	return s
}

func profileYAML(name string) string {
	return fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata:\n  name: %s\nspec:\n  labelsToApply:\n    %s: \"\"\n", name, name)
}

// docs joins manifests into one multi-document file.
func docs(manifests ...string) string { return strings.Join(manifests, "---\n") }
