package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/tests/harness"
)

// clusterDatastore connects to the cluster's etcd for the length of the test.
func clusterDatastore(t *testing.T, c *harness.Cluster) *datastore.Etcd {
	t.Helper()
	ds, err := datastore.New(datastore.Config{Endpoints: []string{c.Etcd}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds
}

// updatePod changes a pod's WorkloadEndpoint, as an orchestrator would.
func updatePod(t *testing.T, ds *datastore.Etcd, p *pod, change func(*api.WorkloadEndpoint)) {
	t.Helper()
	k, _ := api.LookupKind("WorkloadEndpoint")
	list, _, err := ds.List(context.Background(), k, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		w := r.(*api.WorkloadEndpoint)
		if len(w.Spec.IPNetworks) == 0 || !strings.HasPrefix(w.Spec.IPNetworks[0], p.ip+"/") {
			continue
		}
		change(w)
		if _, err := ds.Update(context.Background(), w); err != nil {
			t.Fatalf("updating %s: %v", w.Name, err)
		}
		return
	}
	t.Fatalf("no endpoint for pod %s (%s)", p.name, p.ip)
}

// labelPod adds labels to a pod's WorkloadEndpoint.
func labelPod(t *testing.T, ds *datastore.Etcd, p *pod, labels map[string]string) {
	t.Helper()
	updatePod(t, ds, p, func(w *api.WorkloadEndpoint) {
		for k, v := range labels {
			w.Labels[k] = v
		}
	})
}

// expectation is one cell of the allow/deny matrix.
type expectation struct {
	from, to *pod
	tcp      bool // TCP to port 5432 succeeds
	icmp     bool // ping succeeds
}

// checkMatrix waits until every cell holds (policy takes a moment to reach every node), then reports how long it took.
func checkMatrix(t *testing.T, step string, cells []expectation) time.Duration {
	t.Helper()
	return waitUntil(t, 15*time.Second, step, func() (bool, string) {
		var bad []string
		for _, e := range cells {
			if got := e.from.canConnect(e.to.ip, 5432); got != e.tcp {
				bad = append(bad, fmt.Sprintf("%s→%s TCP: got %t want %t", e.from.name, e.to.name, got, e.tcp))
			}
			if got := e.from.canPing(e.to.ip); got != e.icmp {
				bad = append(bad, fmt.Sprintf("%s→%s ICMP: got %t want %t", e.from.name, e.to.name, got, e.icmp))
			}
		}
		return len(bad) == 0, strings.Join(bad, "\n")
	})
}

func apply(t *testing.T, c *harness.Cluster, yaml string) {
	t.Helper()
	if out, err := calicoctl(t, c, c.Hosts[0], yaml, "apply", "-f", "-"); err != nil {
		t.Fatalf("calicoctl apply: %v\n%s", err, out)
	}
}

func TestPolicyMatrixAcrossNodes(t *testing.T) {
	c, nodes := startCluster(t, 2, natPool)
	ds := clusterDatastore(t, c)
	fe1 := addPod(t, c, nodes[0], "fe1")
	other := addPod(t, c, nodes[0], "other")
	fe2 := addPod(t, c, nodes[1], "fe2")
	db := addPod(t, c, nodes[1], "db")
	labelPod(t, ds, fe1, map[string]string{"role": "frontend", "env": "prod"})
	labelPod(t, ds, fe2, map[string]string{"role": "frontend", "env": "dev"})
	labelPod(t, ds, other, map[string]string{"role": "other"})
	labelPod(t, ds, db, map[string]string{"role": "db"})
	for _, p := range []*pod{fe1, other, fe2, db} {
		p.serve(t, 5432)
	}
	// cells: whether fe1, fe2 and other reach db over TCP 5432, and by ping (frontends / other).
	cells := func(fe1db, fe2db, otherdb, icmpFrontends, icmpOther bool) []expectation {
		return []expectation{
			{fe1, db, fe1db, icmpFrontends}, {fe2, db, fe2db, icmpFrontends}, {other, db, otherdb, icmpOther},
			{db, fe1, true, true}, {fe2, other, true, true}, // pods no policy selects follow the profile: allowed
		}
	}
	checkMatrix(t, "with only the network's profile, everything is allowed", cells(true, true, true, true, true))
	dbHost := nodes[1]

	start := time.Now()
	apply(t, c, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-frontend-to-db}
spec:
  order: 100
  selector: role == "db"
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source:
      selector: role == "frontend" && env in {"prod", "staging"}
    destination:
      ports: [5432]
`)
	waitUntil(t, 10*time.Second, "db's host programs the policy", func() (bool, string) {
		out, _ := dbHost.h.Run("iptables", "-S")
		return strings.Contains(out, "cali-pi-allow-frontend-to-db"), out
	})
	t.Logf("policy in db's host's iptables %s after calicoctl apply started", time.Since(start).Round(time.Millisecond))
	checkMatrix(t, "only prod frontends reach db, on 5432 only", cells(true, false, false, false, false))

	deny := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-prod}
spec:
  order: %d
  selector: role == "db"
  ingress: [{action: Deny, source: {selector: env == "prod"}}]
`
	apply(t, c, fmt.Sprintf(deny, 50))
	checkMatrix(t, "a lower-order Deny for prod comes first", cells(false, false, false, false, false))
	apply(t, c, fmt.Sprintf(deny, 200))
	checkMatrix(t, "reordered after the Allow, the Deny no longer matters for fe1", cells(true, false, false, false, false))

	apply(t, c, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: pass-other}
spec:
  order: 10
  selector: role == "db"
  ingress: [{action: Pass, source: {selector: role == "other"}}]
`)
	checkMatrix(t, "Pass sends other's traffic to the profile, which allows it", cells(true, false, true, false, true))

	apply(t, c, `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: db-icmp, namespace: default}
spec:
  order: 20
  selector: role == "db"
  ingress: [{action: Allow, protocol: ICMP}]
`)
	waitUntil(t, 15*time.Second, "a namespaced policy allows ICMP to db from everyone", func() (bool, string) {
		return fe2.canPing(db.ip) && fe1.canPing(db.ip) && !fe2.canConnect(db.ip, 5432), ""
	})

	checkTiers(t, c, fe1, fe2, other, db)

	for _, del := range [][]string{{"globalnetworkpolicy", "allow-frontend-to-db"}, {"globalnetworkpolicy", "deny-prod"},
		{"globalnetworkpolicy", "pass-other"}, {"networkpolicy", "db-icmp"}, {"globalnetworkpolicy", "security.block-prod"},
		{"tier", "security"}} {
		if out, err := calicoctl(t, c, c.Hosts[0], "", append([]string{"delete"}, del...)...); err != nil {
			t.Fatalf("delete %v: %v\n%s", del, err, out)
		}
	}
	checkMatrix(t, "with the policies deleted, the profile allows everything again", cells(true, true, true, true, true))
	for _, n := range nodes {
		out, _ := n.h.Run("iptables-save", "-t", "filter")
		if strings.Contains(out, "cali-pi-") {
			t.Errorf("%s still has policy chains after every policy was deleted", n.h.Name)
		}
	}
}

// checkTiers puts a policy for db in tier security, which runs before the default tier holding the policies of
// TestPolicyMatrixAcrossNodes (fe1 may reach db on 5432, everyone may ping db, other's traffic is passed to the
// profile), and walks it through Calico's tier semantics.
func checkTiers(t *testing.T, c *harness.Cluster, fe1, fe2, other, db *pod) {
	t.Helper()
	// cells: TCP 5432 and ping to db from fe1, fe2 and other, and traffic no policy selects.
	cells := func(fe1TCP, fe1ICMP, fe2TCP, fe2ICMP, otherTCP, otherICMP bool) []expectation {
		return []expectation{{fe1, db, fe1TCP, fe1ICMP}, {fe2, db, fe2TCP, fe2ICMP}, {other, db, otherTCP, otherICMP},
			{db, fe1, true, true}, {fe2, other, true, true}}
	}
	checkMatrix(t, "the default tier alone: fe1 reaches db, everyone pings it, other is passed to the profile",
		cells(true, true, false, true, true, true))

	blockProd := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.block-prod}
spec:
  tier: security
  selector: role == "db"
  ingress: %s
`
	apply(t, c, `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
`+fmt.Sprintf(blockProd, `[{action: Deny, source: {selector: env == "prod"}}, {action: Pass}]`))
	checkMatrix(t, "a Deny in tier security beats the default tier's Allow for fe1; Pass hands the rest to the default tier",
		cells(false, false, false, true, true, true))

	if out, err := calicoctl(t, c, c.Hosts[0], fmt.Sprintf(blockProd, `[{action: Pass, source: {selector: env == "prod"}}]`),
		"replace", "-f", "-"); err != nil {
		t.Fatalf("calicoctl replace of a tiered policy: %v\n%s", err, out)
	}
	checkMatrix(t, "Pass sends fe1 to the default tier, which allows it; what tier security leaves is dropped at its end",
		cells(true, true, false, false, false, false))

	apply(t, c, `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100, defaultAction: Pass}
`)
	checkMatrix(t, "with defaultAction Pass, what tier security leaves goes on to the default tier",
		cells(true, true, false, true, true, true))
}
