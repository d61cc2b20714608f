package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/conversion"
	"github.com/calico-l3/calico/tests/harness"
)

// The seed's two-host walkthrough on the Kubernetes datastore (DATASTORE_TYPE=kubernetes): no etcd in Calico's
// path. Calico's kinds are custom resources (manifests/crds.yaml), a Calico Node is its Kubernetes Node, workload
// endpoints are Pods, profiles are Namespaces and ServiceAccounts, Kubernetes NetworkPolicies are read directly,
// and IPAM keeps its state in IPAMBlock/BlockAffinity/IPAMHandle resources. calico-node runs as the service
// account of manifests/calico-kdd.yaml, so the RBAC that manifest grants is what it gets.

// kddCluster is a harness cluster whose Calico datastore is a test API server.
type kddCluster struct {
	c          *harness.Cluster
	s          *kubetest.Server
	nodes      []*node
	kubeconfig string // calico-node's: the calico-node service account's token
}

// kddctl runs calicoctl on a host against the Kubernetes datastore, as an admin.
func (k *kddCluster) kddctl(t testing.TB, h *harness.Host, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := h.Command([]string{"DATASTORE_TYPE=kubernetes", "KUBECONFIG=" + k.s.Kubeconfig}, filepath.Join(binDir, "calicoctl"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startKDDCluster starts an API server where the hosts reach it, installs the CRDs and calico-kdd.yaml's RBAC,
// creates the Kubernetes Nodes and the pool, then starts startup, confd, BIRD and felix on every host in KDD mode
// and returns once the BGP mesh is Established.
func startKDDCluster(t testing.TB, hosts int, poolYAML string) *kddCluster {
	t.Helper()
	needRoot(t)
	start := time.Now()
	c, err := harness.New(harness.Options{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// Nothing of Calico's may use etcd in this mode: the harness's etcd is stopped before anything runs (every
	// process still gets ETCD_ENDPOINTS from the harness; DATASTORE_TYPE=kubernetes must win).
	c.StopEtcd()
	s := kubetest.Start(t, kubetest.Options{BindAddress: c.RootIP.String()})
	k := &kddCluster{c: c, s: s}
	t.Logf("hosts and API server up after %v", time.Since(start).Round(time.Millisecond))

	kubectl := func(args ...string) string {
		t.Helper()
		out, err := s.Kubectl(t, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	kubectl("apply", "-f", filepath.Join(repoRoot, "manifests", "crds.yaml"))
	kubectl("wait", "--for", "condition=established", "--timeout=60s", "crd", "--all")
	kubectl("apply", "-f", filepath.Join(repoRoot, "manifests", "calico-kdd.yaml"))
	k.kubeconfig = s.KubeconfigForToken(t, s.Token(t, "kube-system", "calico-node", time.Hour))

	// A Calico Node is the Kubernetes Node: it exists before calico-node starts (kubelet registers it).
	for _, h := range c.Hosts {
		_, err := s.Client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: h.Name, Labels: map[string]string{"kubernetes.io/hostname": h.Name, "kubernetes.io/os": "linux"}}},
			metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating Node %s: %v", h.Name, err)
		}
	}
	if out, err := k.kddctl(t, c.Hosts[0], poolYAML, "create", "-f", "-"); err != nil {
		t.Fatalf("creating the pool with calicoctl (DATASTORE_TYPE=kubernetes): %v\n%s", err, out)
	}

	t.Cleanup(func() {
		for _, n := range k.nodes {
			n.stop()
		}
	})
	env := []string{"DATASTORE_TYPE=kubernetes", "KUBECONFIG=" + k.kubeconfig}
	for _, h := range c.Hosts {
		n := startNode(t, c, h, env...)
		n.startFelix(t)
		k.nodes = append(k.nodes, n)
	}
	dumpOnFailure(t, k.nodes)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log tail:\n%s", tail(filepath.Join(s.Dir, "kube-apiserver.log")))
		}
	})
	took := waitUntil(t, 60*time.Second, "BGP sessions are Established", func() (bool, string) {
		var all strings.Builder
		for _, n := range k.nodes {
			out, _ := calicoctl(t, c, n.h, "", "node", "status", "--bird-socket-dir", n.h.Dir)
			all.WriteString(n.h.Name + ":\n" + out)
			if strings.Count(out, "Established") != hosts-1 || !strings.Contains(out, "node-to-node mesh") {
				return false, all.String()
			}
		}
		return true, all.String()
	})
	t.Logf("mesh of %d Established %v after the last BIRD started (%v after the test began)", hosts,
		took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return k
}

func TestKubernetesDatastoreWalkthrough(t *testing.T) {
	start := time.Now()
	k := startKDDCluster(t, 2, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 10.202.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	c, s, nodes := k.c, k.s, k.nodes
	ctx := context.Background()

	// Startup wrote the BGP fields as the Nodes' projectcalico.org annotations.
	out, err := s.Kubectl(t, "get", "nodes", "-o", "yaml")
	if err != nil {
		t.Fatalf("kubectl get nodes -o yaml: %v\n%s", err, out)
	}
	for _, n := range nodes {
		if want := "projectcalico.org/IPv4Address: " + n.h.IP.String(); !strings.Contains(out, want) {
			t.Errorf("kubectl get nodes -o yaml lacks %q:\n%s", want, out)
		}
	}
	if out, err := k.kddctl(t, c.Hosts[0], "", "get", "nodes", "-o", "wide"); err != nil ||
		!strings.Contains(out, "host1") || !strings.Contains(out, "host2") || !strings.Contains(out, nodes[1].h.IP.String()) {
		t.Errorf("calicoctl get nodes -o wide (KDD): want host1 and host2 with their addresses, got (%v):\n%s", err, out)
	}
	if out, err := k.kddctl(t, c.Hosts[0], "", "get", "ippools", "-o", "wide"); err != nil || !strings.Contains(out, "10.202.0.0/16") {
		t.Errorf("calicoctl get ippools (KDD): %v\n%s", err, out)
	}
	if out, err := s.Kubectl(t, "get", "ippools.crd.projectcalico.org", "-o", "name"); err != nil || !strings.Contains(out, "default-ipv4-ippool") {
		t.Errorf("kubectl get ippools.crd.projectcalico.org: want the pool stored as a custom resource, got (%v):\n%s", err, out)
	}
	t.Logf("BGP/Node part done after %v", time.Since(start).Round(time.Millisecond))

	t.Run("Pods", func(t *testing.T) {
		src, _ := os.ReadFile(filepath.Join(repoRoot, "cni", "config.go"))
		if !strings.Contains(string(src), `json:"datastore_type"`) {
			t.Skip("the CNI plugin has no datastore_type setting (cni/config.go): pods cannot be wired in KDD mode yet")
		}
		// install-cni as calico-kdd.yaml runs it: its ConfigMap's network config (datastore_type kubernetes),
		// the calico-node service account's token in calico-kubeconfig.
		h1, h2 := installCNI(t, k.s, nodes[0], "DATASTORE_TYPE=kubernetes"), installCNI(t, k.s, nodes[1], "DATASTORE_TYPE=kubernetes")
		a := addKubePod(t, k.c, k.s, h1, "default", "pa", map[string]string{"app": "pa"})
		b := addKubePod(t, k.c, k.s, h2, "default", "pb", map[string]string{"app": "pb"})
		t.Logf("pa on host1: %s, pb on host2: %s (%v after the test began)", a.ip, b.ip, time.Since(start).Round(time.Millisecond))
		for _, p := range []*pod{a, b} {
			if !strings.HasPrefix(p.ip, "10.202.") {
				t.Errorf("pod %s got %s, want an address of the pool 10.202.0.0/16", p.name, p.ip)
			}
			kp, err := s.Client.CoreV1().Pods("default").Get(ctx, p.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := kp.Annotations[conversion.AnnotationPodIPs]; got != p.ip+"/32" {
				t.Errorf("pod %s: annotation %s = %q, want %s/32 (annotations %v)", p.name, conversion.AnnotationPodIPs, got, p.ip, kp.Annotations)
			}
		}
		t.Cleanup(func() {
			if t.Failed() {
				for _, n := range nodes {
					out, _ := n.h.Run("iptables-save", "-t", "filter")
					t.Logf("%s iptables-save -t filter:\n%s\n-- cni.log\n%s", n.h.Name, out, tail(filepath.Join(n.h.Dir, "cni.log")))
				}
				out, _ := k.kddctl(t, c.Hosts[0], "", "get", "workloadendpoints", "-a", "-o", "yaml")
				t.Logf("calicoctl get workloadendpoints -a -o yaml (KDD):\n%s", out)
			}
		})

		// IPAM state is in custom resources.
		out, err := s.Kubectl(t, "get", "ipamblocks.crd.projectcalico.org", "-o", "name")
		if err != nil || strings.Count(out, "ipamblock") < 2 {
			t.Errorf("kubectl get ipamblocks.crd.projectcalico.org: want a block per host, got (%v):\n%s", err, out)
		}
		if out, err := s.Kubectl(t, "get", "blockaffinities.crd.projectcalico.org", "-o", "name"); err != nil ||
			!strings.Contains(out, "host1") || !strings.Contains(out, "host2") {
			t.Errorf("kubectl get blockaffinities.crd.projectcalico.org: want affinities for host1 and host2, got (%v):\n%s", err, out)
		}
		// Workload endpoints are the pods.
		if out, err := k.kddctl(t, c.Hosts[0], "", "get", "workloadendpoints", "-o", "wide", "-a"); err != nil ||
			!strings.Contains(out, "host1-k8s-pa-eth0") || !strings.Contains(out, "host2-k8s-pb-eth0") {
			t.Errorf("calicoctl get workloadendpoints -o wide -a (KDD): want the two pods, got (%v):\n%s", err, out)
		}

		// Block routes: each host has a blackhole for its own block and routes the other's via BIRD.
		for i, n := range nodes {
			other := nodes[1-i]
			waitUntil(t, 60*time.Second, n.h.Name+" has its blackhole and routes "+other.h.Name+"'s block via BIRD", func() (bool, string) {
				out, _ := n.h.Run("ip", "route")
				return strings.Contains(out, "blackhole 10.202.") &&
					strings.Contains(out, "via "+other.h.IP.String()+" dev eth0 proto bird"), out
			})
			out, _ := n.h.Run("ip", "route", "show", "proto", "bird")
			t.Logf("%s: ip route show proto bird: %s", n.h.Name, strings.TrimSpace(out))
		}
		took := waitUntil(t, 60*time.Second, "pa (host1) pings pb (host2)", func() (bool, string) {
			out, err := a.run("ping", "-c1", "-W1", b.ip)
			return err == nil, out
		})
		t.Logf("pa reached pb %v after both were added", took.Round(time.Millisecond))
		if !b.canPing(a.ip) {
			t.Errorf("pb cannot ping pa")
		}

		// Isolation by a Kubernetes NetworkPolicy, which felix reads directly as knp.default.<name>.
		policies := s.Client.NetworkingV1().NetworkPolicies("default")
		_, err = policies.Create(ctx, &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "deny-pb-ingress"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "pb"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := k.kddctl(t, c.Hosts[0], "", "get", "networkpolicy", "-n", "default"); err != nil || !strings.Contains(out, "knp.default.deny-pb-ingress") {
			t.Errorf("calicoctl get networkpolicy -n default (KDD): want knp.default.deny-pb-ingress, got (%v):\n%s", err, out)
		}
		expectFlows(t, 15*time.Second, "NetworkPolicy deny-pb-ingress stops pa→pb", []flow{icmpFlow(a, b, false), icmpFlow(b, a, true)})
		if err := policies.Delete(ctx, "deny-pb-ingress", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expectFlows(t, 15*time.Second, "deleting deny-pb-ingress restores pa→pb", []flow{icmpFlow(a, b, true), icmpFlow(b, a, true)})

		// A GlobalNetworkPolicy custom resource, written with calicoctl in KDD mode.
		gnp := `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-icmp-to-pb}
spec:
  selector: app == 'pb'
  types: [Ingress]
  ingress:
  - {action: Deny, protocol: ICMP}
  - {action: Allow}
`
		if out, err := k.kddctl(t, c.Hosts[0], gnp, "apply", "-f", "-"); err != nil {
			t.Fatalf("calicoctl apply GlobalNetworkPolicy (KDD): %v\n%s", err, out)
		}
		if out, err := s.Kubectl(t, "get", "globalnetworkpolicies.crd.projectcalico.org", "-o", "name"); err != nil || !strings.Contains(out, "deny-icmp-to-pb") {
			t.Errorf("kubectl get globalnetworkpolicies.crd.projectcalico.org: want deny-icmp-to-pb, got (%v):\n%s", err, out)
		}
		expectFlows(t, 15*time.Second, "GlobalNetworkPolicy deny-icmp-to-pb stops pa→pb", []flow{icmpFlow(a, b, false), icmpFlow(b, a, true)})
		if out, err := k.kddctl(t, c.Hosts[0], "", "delete", "globalnetworkpolicy", "deny-icmp-to-pb"); err != nil {
			t.Fatalf("calicoctl delete globalnetworkpolicy (KDD): %v\n%s", err, out)
		}
		expectFlows(t, 15*time.Second, "deleting deny-icmp-to-pb restores pa→pb", []flow{icmpFlow(a, b, true), icmpFlow(b, a, true)})
	})

	// calico-node ran with the calico-node service account of calico-kdd.yaml: no request should have been refused.
	for _, n := range nodes {
		for _, log := range []string{"confd.log", "felix.log", "cni.log"} {
			b, _ := os.ReadFile(filepath.Join(n.h.Dir, log))
			var warnings []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(strings.ToLower(line), "forbidden") {
					t.Errorf("%s %s: RBAC refused calico-node: %s", n.h.Name, log, line)
				}
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					warnings = append(warnings, line)
				}
			}
			if len(warnings) > 0 {
				t.Logf("%s %s: %d warnings/errors:\n%s", n.h.Name, log, len(warnings), strings.Join(warnings, "\n"))
			}
		}
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}
