package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/tests/harness"
)

func TestRouteReflectorReplacesTheMesh(t *testing.T) {
	needRoot(t)
	c, err := harness.New(harness.Options{Hosts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var nodes []*node
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	for _, h := range c.Hosts {
		nodes = append(nodes, startNode(t, c, h))
	}
	dumpOnFailure(t, nodes)
	if out, err := calicoctl(t, c, c.Hosts[0], `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: pool1}
spec: {cidr: 10.203.0.0/16}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: peer-with-reflectors}
spec:
  nodeSelector: all()
  peerSelector: route-reflector == "true"
`, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// host1 becomes the reflector: a cluster id and the label the peers select.
	makeRouteReflector(t, c, "host1")

	status := func(n *node) string {
		out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
		return out
	}
	waitUntil(t, 60*time.Second, "the reflector has both clients and each client only the reflector", func() (bool, string) {
		r, c2, c3 := status(nodes[0]), status(nodes[1]), status(nodes[2])
		ok := strings.Count(r, "Established") == 2 && strings.Count(c2, "Established") == 1 && strings.Count(c3, "Established") == 1 &&
			strings.Contains(c2, nodes[0].h.IP.String()) && !strings.Contains(c2, "node-to-node mesh") && !strings.Contains(c2, nodes[2].h.IP.String()+" ")
		return ok, "reflector:\n" + r + "client host2:\n" + c2 + "client host3:\n" + c3
	})
	// host2's block reaches host3 through the reflector, with host2 (not the reflector) as next hop.
	for i, n := range nodes {
		if out, err := n.h.Run("ip", "route", "add", "blackhole", fmt.Sprintf("10.203.%d.0/26", i+1), "proto", "80"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	want := fmt.Sprintf("10.203.2.0/26 via %s dev eth0 proto bird", nodes[1].h.IP)
	waitUntil(t, 30*time.Second, "host3 routes host2's block via host2", func() (bool, string) {
		out, _ := nodes[2].h.Run("ip", "route", "show", "10.203.2.0/26")
		return strings.Contains(out, want), out
	})
}

// makeRouteReflector turns a node into a route reflector: a cluster id and the label peers select it by.
func makeRouteReflector(t *testing.T, c *harness.Cluster, name string) {
	t.Helper()
	ds := clusterDatastore(t, c)
	k, _ := api.LookupKind("Node")
	r, err := ds.Get(context.Background(), k, "", name)
	if err != nil {
		t.Fatal(err)
	}
	rr := r.(*api.Node)
	rr.Labels = map[string]string{"route-reflector": "true"}
	rr.Spec.BGP.RouteReflectorClusterID = "224.0.0.1"
	if _, err := ds.Update(context.Background(), rr); err != nil {
		t.Fatal(err)
	}
}
