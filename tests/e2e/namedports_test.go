package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// setPodPorts sets labels and the named ports on a pod's WorkloadEndpoint, as an orchestrator would from the
// pod's container ports.
func setPodPorts(t *testing.T, ds *datastore.Etcd, p *pod, labels map[string]string, ports ...api.EndpointPort) {
	t.Helper()
	updatePod(t, ds, p, func(w *api.WorkloadEndpoint) {
		for k, v := range labels {
			w.Labels[k] = v
		}
		w.Spec.Ports = ports
	})
}

func webPort(port uint16) api.EndpointPort {
	return api.EndpointPort{Name: "web", Protocol: api.ProtocolFromString("TCP"), Port: port}
}

// connection is one TCP connection the test expects to succeed or to be blocked.
type connection struct {
	from, to *pod
	port     int
	ok       bool
}

func checkConnections(t *testing.T, step string, conns []connection) {
	t.Helper()
	waitUntil(t, 15*time.Second, step, func() (bool, string) {
		var bad []string
		for _, c := range conns {
			if got := c.from.canConnect(c.to.ip, c.port); got != c.ok {
				bad = append(bad, fmt.Sprintf("%s→%s:%d: connected %t, want %t", c.from.name, c.to.name, c.port, got, c.ok))
			}
		}
		return len(bad) == 0, strings.Join(bad, "\n")
	})
}

// TestPolicyAllowsANamedPort has two servers that expose different port numbers under one name, and a policy
// that allows that name only: each server is reachable on its own number only, and only from clients.
func TestPolicyAllowsANamedPort(t *testing.T) {
	c, nodes := startCluster(t, 2, natPool)
	ds := clusterDatastore(t, c)
	srv1 := addPod(t, c, nodes[0], "srv1")
	other := addPod(t, c, nodes[0], "other")
	srv2 := addPod(t, c, nodes[1], "srv2")
	client := addPod(t, c, nodes[1], "client")
	setPodPorts(t, ds, srv1, map[string]string{"app": "server"}, webPort(8080))
	setPodPorts(t, ds, srv2, map[string]string{"app": "server"}, webPort(9090))
	labelPod(t, ds, client, map[string]string{"role": "client"})
	labelPod(t, ds, other, map[string]string{"role": "other"})
	for _, s := range []*pod{srv1, srv2} {
		s.serve(t, 8080)
		s.serve(t, 9090)
	}
	conns := func(srv1Web, srv1Other int) []connection {
		return []connection{
			{client, srv1, srv1Web, true}, {client, srv2, 9090, true},
			{client, srv1, srv1Other, false}, {client, srv2, 8080, false},
			{other, srv1, srv1Web, false}, {other, srv2, 9090, false},
		}
	}
	checkConnections(t, "without policy, the profile lets everyone in", []connection{
		{client, srv1, 8080, true}, {client, srv1, 9090, true}, {other, srv2, 9090, true}, {other, srv2, 8080, true}})

	apply(t, c, `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: web-from-clients}
spec:
  selector: app == "server"
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: role == "client"}
    destination: {ports: [web]}
`)
	checkConnections(t, "clients reach each server on the port it names web, and nothing else gets in", conns(8080, 9090))
	for _, n := range nodes {
		out, _ := n.h.Run("ipset", "list", "-t")
		if !strings.Contains(out, "Name: cali40n:") || !strings.Contains(out, "Type: hash:ip,port") {
			t.Errorf("%s: expected a named-port ipset cali40n:… of type hash:ip,port, got:\n%s", n.h.Name, out)
		}
	}

	setPodPorts(t, ds, srv1, nil, webPort(9090))
	checkConnections(t, "once srv1 names 9090 web instead, clients reach it there and no longer on 8080", conns(9090, 8080))
}
