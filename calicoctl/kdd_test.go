package calicoctl

import (
	"strings"
	"testing"

	"github.com/calico-l3/calico/internal/kubetest"
)

// calicoctl on the Kubernetes datastore: the same commands, the resources kept as custom resources of the API
// server (manifests/crds.yaml) that KUBECONFIG names.
func TestKubernetesDatastore(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	s.InstallCalicoCRDs(t)
	c := &ctl{t: t, env: map[string]string{"DATASTORE_TYPE": "kubernetes", "KUBECONFIG": s.Kubeconfig}}

	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool-a", "10.70.0.0/16"), "create", "-f", "-")
	r := c.run("", "get", "ippools", "-o", "wide")
	if r.code != 0 || !strings.Contains(r.stdout, "pool-a") || !strings.Contains(r.stdout, "10.70.0.0/16") {
		t.Errorf("get ippools -o wide: %v", r)
	}
	r = c.run("", "get", "ippool", "pool-a", "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "apiVersion: projectcalico.org/v3") || !strings.Contains(r.stdout, "cidr: 10.70.0.0/16") {
		t.Errorf("get ippool pool-a -o yaml shows it as projectcalico.org/v3: %v", r)
	}
	// The API server holds it as a custom resource.
	if out, err := s.Kubectl(t, "get", "ippools.crd.projectcalico.org", "-o", "name"); err != nil || !strings.Contains(out, "pool-a") {
		t.Errorf("kubectl get ippools.crd.projectcalico.org: %v %s", err, out)
	}
	c.expect(1, "", "Failed to create 'IPPool' resource: resource already exists: IPPool(pool-a)\n",
		poolYAML("pool-a", "10.70.0.0/16"), "create", "-f", "-")
	r = c.run(poolYAML("pool-b", "10.70.128.0/17"), "create", "-f", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "overlaps") {
		t.Errorf("an overlapping pool must be refused as with etcd: %v", r)
	}
	c.expect(0, "Successfully deleted 1 'IPPool' resource(s)\n", "", "", "delete", "ippool", "pool-a")

	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool-a", "10.70.0.0/16"), "create", "-f", "-")
	r = c.run("", "ipam", "check")
	if r.code != 0 {
		t.Errorf("ipam check on the Kubernetes datastore: %v", r)
	}
	r = c.run("", "ipam", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "10.70.0.0/16") {
		t.Errorf("ipam show on the Kubernetes datastore: %v", r)
	}
	r = c.run("", "get", "profiles")
	if r.code != 0 || !strings.Contains(r.stdout, "kns.default") || !strings.Contains(r.stdout, "projectcalico-default-allow") {
		t.Errorf("profiles come from the namespaces: %v", r)
	}
	r = c.run(profileYAML("kns.default"), "apply", "-f", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "change the Namespace or ServiceAccount instead") {
		t.Errorf("a derived profile must be refused, naming what to change instead: %v", r)
	}
}
