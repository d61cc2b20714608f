package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/tests/harness"
)

// Kubernetes NetworkPolicy end to end: calico-kube-controllers mirrors namespaces, service accounts, pods' labels
// and NetworkPolicies from a real API server into etcd, felix enforces them, and real packets show the effect.

// startKubeControllers runs calico-kube-controllers (in the first host's namespace, which reaches etcd and the API
// server) and waits until its readiness probe passes.
func startKubeControllers(t testing.TB, c *harness.Cluster, s *kubetest.Server) string {
	t.Helper()
	bin := filepath.Join(binDir, "calico-kube-controllers")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("calico-kube-controllers was not built into %s: %v", binDir, err)
	}
	h := c.Hosts[0]
	env := []string{"ETCD_ENDPOINTS=" + c.Etcd, "KUBECONFIG=" + s.Kubeconfig,
		"ENABLED_CONTROLLERS=policy,namespace,serviceaccount,workloadendpoint,node", "RECONCILER_PERIOD=30s",
		"LOG_LEVEL=info", "STATUS_FILE=" + filepath.Join(t.TempDir(), "status.json")}
	cmd, err := h.Start(env, "kube-controllers", bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { harness.Stop(cmd) })
	logPath := filepath.Join(h.Dir, "kube-controllers.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("calico-kube-controllers log:\n%s", tail(logPath))
		}
	})
	waitUntil(t, 30*time.Second, "calico-kube-controllers -check-status -r succeeds", func() (bool, string) {
		out, err := h.Command(env, bin, "-check-status", "-r").CombinedOutput()
		return err == nil, fmt.Sprintf("%v: %s\nlog:\n%s", err, out, tail(logPath))
	})
	return logPath
}

// serveUDP starts a UDP echo server on port inside the pod.
func (p *pod) serveUDP(t *testing.T, port int) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", p.netns, os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2E_UDP_SERVE=0.0.0.0:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// canExchangeUDP says whether a datagram from the pod to ip:port is echoed back.
func (p *pod) canExchangeUDP(ip string, port int) bool {
	cmd := exec.Command("ip", "netns", "exec", p.netns, os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2E_UDP_EXCHANGE=%s:%d", ip, port))
	return cmd.Run() == nil
}

// flow is one probe with real packets: TCP connect, UDP echo, or ping, and whether it should get through.
type flow struct {
	from, to *pod
	proto    string // tcp, udp or icmp
	port     int
	ok       bool
}

func (f flow) String() string {
	what := f.proto
	if f.port != 0 {
		what += fmt.Sprint("/", f.port)
	}
	return fmt.Sprintf("%s(%s)→%s(%s) %s", f.from.name, f.from.ip, f.to.name, f.to.ip, what)
}

func (f flow) try() bool {
	switch f.proto {
	case "tcp":
		return f.from.canConnect(f.to.ip, f.port)
	case "udp":
		return f.from.canExchangeUDP(f.to.ip, f.port)
	default:
		return f.from.canPing(f.to.ip)
	}
}

func tcpFlow(from, to *pod, port int, ok bool) flow { return flow{from, to, "tcp", port, ok} }
func udpFlow(from, to *pod, port int, ok bool) flow { return flow{from, to, "udp", port, ok} }
func icmpFlow(from, to *pod, ok bool) flow          { return flow{from, to, "icmp", 0, ok} }

// allOK is the flows as they are without any policy: every one allowed by the namespaces' profiles.
func allOK(flows []flow) []flow {
	out := make([]flow, len(flows))
	for i, f := range flows {
		f.ok = true
		out[i] = f
	}
	return out
}

// expectFlows polls every flow (in parallel) until each gets through or is blocked as expected, and returns how
// long that took.
func expectFlows(t testing.TB, limit time.Duration, step string, flows []flow) time.Duration {
	t.Helper()
	d := waitUntil(t, limit, step, func() (bool, string) {
		bad := make([]string, len(flows))
		var wg sync.WaitGroup
		for i, f := range flows {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := f.try(); got != f.ok {
					verdict := map[bool]string{true: "got through", false: "was blocked"}
					bad[i] = fmt.Sprintf("%s: %s, want it %s", f, verdict[got], verdict[f.ok])
				}
			}()
		}
		wg.Wait()
		var msgs []string
		for _, b := range bad {
			if b != "" {
				msgs = append(msgs, b)
			}
		}
		return len(msgs) == 0, strings.Join(msgs, "\n")
	})
	t.Logf("%s: took %v", step, d.Round(time.Millisecond))
	return d
}

func TestKubernetesNetworkPolicyWithControllers(t *testing.T) {
	start := time.Now()
	c, nodes := startCluster(t, 2, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	s := kubetest.Start(t, kubetest.Options{BindAddress: c.RootIP.String()})
	ctx := context.Background()

	applyCalicoManifest(t, c, s)
	// Namespaces first, so that the controller's profiles exist when the pods come.
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "knp-a"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "knp-b", Labels: map[string]string{"team": "frontend"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "knp-c", Labels: map[string]string{"team": "other"}}},
	} {
		if _, err := s.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.EnsureServiceAccount(t, ns.Name, "default")
	}
	ctrlLog := startKubeControllers(t, c, s)
	t.Logf("cluster, API server and calico-kube-controllers ready after %v", time.Since(start).Round(time.Millisecond))

	h1, h2 := installCNI(t, s, nodes[0]), installCNI(t, s, nodes[1])
	web := map[string]string{"app": "web"}
	front := map[string]string{"role": "frontend"}
	// srv (knp-a, host1) serves TCP 8080 (named "http") and 9090, and UDP 53; dns (knp-b, host2) serves UDP 53.
	srv := addKubePod(t, c, s, h1, "knp-a", "srv", web,
		corev1.ContainerPort{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		corev1.ContainerPort{ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
	aFront := addKubePod(t, c, s, h2, "knp-a", "a-front", front)
	aPlain := addKubePod(t, c, s, h2, "knp-a", "a-plain", nil)
	bFront := addKubePod(t, c, s, h2, "knp-b", "b-front", front)
	bPlain := addKubePod(t, c, s, h1, "knp-b", "b-plain", nil)
	dns := addKubePod(t, c, s, h2, "knp-b", "dns", map[string]string{"app": "dns"})
	cFront := addKubePod(t, c, s, h1, "knp-c", "c-front", front)
	srv.serve(t, 8080)
	srv.serve(t, 9090)
	srv.serveUDP(t, 53)
	dns.serveUDP(t, 53)
	for _, p := range []*pod{srv, aFront, aPlain, bFront, bPlain, dns, cFront} {
		t.Logf("pod %s on %s: %s", p.name, p.on.h.Name, p.ip)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				out, _ := n.h.Run("iptables-save", "-t", "filter")
				t.Logf("%s iptables-save -t filter:\n%s", n.h.Name, out)
			}
			out, _ := calicoctl(t, c, c.Hosts[0], "", "get", "workloadendpoints", "-a", "-o", "yaml")
			t.Logf("calicoctl get workloadendpoints -a -o yaml:\n%s", out)
		}
	})

	expectFlows(t, 60*time.Second, "without NetworkPolicy every pod reaches every other", []flow{
		tcpFlow(aPlain, srv, 8080, true), tcpFlow(bFront, srv, 9090, true), tcpFlow(cFront, srv, 8080, true), icmpFlow(srv, dns, true),
		udpFlow(cFront, dns, 53, true), udpFlow(cFront, srv, 53, true), icmpFlow(bPlain, aFront, true), icmpFlow(aFront, cFront, true),
	})

	// The controller's profiles carry the namespace labels felix's namespaceSelector matches.
	out, err := calicoctl(t, c, c.Hosts[0], "", "get", "profile", "kns.knp-b", "-o", "yaml")
	if err != nil || !strings.Contains(out, "pcns.team: frontend") {
		t.Errorf("calicoctl get profile kns.knp-b -o yaml: want a labelsToApply pcns.team: frontend, got (%v):\n%s", err, out)
	}
	for _, name := range []string{"ksa.knp-a.default", "kns.knp-c"} {
		if out, err := calicoctl(t, c, c.Hosts[0], "", "get", "profile", name); err != nil || !strings.Contains(out, name) {
			t.Errorf("calicoctl get profile %s: want the profile the controller mirrors, got (%v):\n%s", name, err, out)
		}
	}

	policies := s.Client.NetworkingV1().NetworkPolicies
	// listed waits until `calicoctl get networkpolicy -n ns` does (or does not) list knp.default.<name>.
	listed := func(t *testing.T, ns, name string, want bool) {
		t.Helper()
		waitUntil(t, 15*time.Second, fmt.Sprintf("calicoctl get networkpolicy -n %s lists knp.default.%s: %t", ns, name, want),
			func() (bool, string) {
				out, err := calicoctl(t, c, c.Hosts[0], "", "get", "networkpolicy", "-n", ns)
				return err == nil && strings.Contains(out, "knp.default."+name) == want, fmt.Sprintf("%v\n%s", err, out)
			})
	}
	create := func(t *testing.T, np *networkingv1.NetworkPolicy) {
		t.Helper()
		if _, err := policies(np.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating NetworkPolicy %s/%s: %v", np.Namespace, np.Name, err)
		}
		t.Cleanup(func() { policies(np.Namespace).Delete(ctx, np.Name, metav1.DeleteOptions{}) })
		listed(t, np.Namespace, np.Name, true)
	}
	remove := func(t *testing.T, ns, name string) {
		t.Helper()
		if err := policies(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("deleting NetworkPolicy %s/%s: %v", ns, name, err)
		}
		listed(t, ns, name, false)
	}
	kubectl := func(t *testing.T, args ...string) {
		t.Helper()
		if out, err := s.Kubectl(t, args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// run applies np (client-go), waits for flows, deletes it and waits until every flow gets through again.
	run := func(t *testing.T, np *networkingv1.NetworkPolicy, flows []flow) {
		t.Helper()
		create(t, np)
		expectFlows(t, 15*time.Second, "under "+np.Name, flows)
		remove(t, np.Namespace, np.Name)
		expectFlows(t, 15*time.Second, "after deleting "+np.Name, allOK(flows))
	}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	sel := func(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }
	fromPeers := func(ns, name string, peers ...networkingv1.NetworkPolicyPeer) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel(web), PolicyTypes: ingress,
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: peers}}}}
	}

	t.Run("DenyAllIngressInNamespace", func(t *testing.T) {
		// Applied with kubectl from a file, as a user would.
		file := filepath.Join(t.TempDir(), "deny.yaml")
		os.WriteFile(file, []byte(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  namespace: knp-a
spec:
  podSelector: {}
  policyTypes: [Ingress]
`), 0o644)
		kubectl(t, "apply", "-f", file)
		t.Cleanup(func() { s.Kubectl(t, "delete", "--ignore-not-found", "-f", file) })
		listed(t, "knp-a", "default-deny-ingress", true)
		flows := []flow{
			tcpFlow(bFront, srv, 8080, false), icmpFlow(cFront, srv, false), icmpFlow(cFront, aPlain, false),
			tcpFlow(aFront, srv, 8080, false),                                                        // same namespace: denied too
			icmpFlow(aFront, dns, true), udpFlow(aPlain, dns, 53, true), icmpFlow(srv, cFront, true), // out of the namespace: allowed
			icmpFlow(bFront, dns, true), // other namespaces untouched
		}
		expectFlows(t, 15*time.Second, "under default-deny-ingress", flows)
		kubectl(t, "delete", "-f", file)
		listed(t, "knp-a", "default-deny-ingress", false)
		expectFlows(t, 15*time.Second, "after deleting default-deny-ingress", allOK(flows))
	})

	t.Run("AllowFromPodLabel", func(t *testing.T) {
		run(t, fromPeers("knp-a", "web-from-frontend", networkingv1.NetworkPolicyPeer{PodSelector: sel(front)}), []flow{
			tcpFlow(aFront, srv, 8080, true), icmpFlow(aFront, srv, true),
			tcpFlow(aPlain, srv, 8080, false), icmpFlow(aPlain, srv, false),
			tcpFlow(bFront, srv, 8080, false), // role=frontend, but in another namespace
			icmpFlow(aPlain, aFront, true),    // pods the policy does not select
		})
	})

	t.Run("AllowFromNamespaceLabel", func(t *testing.T) {
		run(t, fromPeers("knp-a", "web-from-team-frontend",
			networkingv1.NetworkPolicyPeer{NamespaceSelector: sel(map[string]string{"team": "frontend"})}), []flow{
			tcpFlow(bFront, srv, 8080, true), tcpFlow(bPlain, srv, 8080, true), icmpFlow(dns, srv, true),
			tcpFlow(cFront, srv, 8080, false), icmpFlow(cFront, srv, false), tcpFlow(aFront, srv, 8080, false),
		})
	})

	t.Run("PodAndNamespaceSelectorOnePeerIsAND", func(t *testing.T) {
		run(t, fromPeers("knp-a", "web-and", networkingv1.NetworkPolicyPeer{
			NamespaceSelector: sel(map[string]string{"team": "frontend"}), PodSelector: sel(front)}), []flow{
			tcpFlow(bFront, srv, 8080, true),
			tcpFlow(bPlain, srv, 8080, false), tcpFlow(aFront, srv, 8080, false), tcpFlow(cFront, srv, 8080, false), tcpFlow(aPlain, srv, 8080, false),
		})
	})

	t.Run("PodAndNamespaceSelectorTwoPeersIsOR", func(t *testing.T) {
		run(t, fromPeers("knp-a", "web-or",
			networkingv1.NetworkPolicyPeer{NamespaceSelector: sel(map[string]string{"team": "frontend"})},
			networkingv1.NetworkPolicyPeer{PodSelector: sel(front)}), []flow{
			tcpFlow(bFront, srv, 8080, true), tcpFlow(bPlain, srv, 8080, true), tcpFlow(aFront, srv, 8080, true),
			tcpFlow(cFront, srv, 8080, false), tcpFlow(aPlain, srv, 8080, false),
		})
	})

	t.Run("AllowNamedPort", func(t *testing.T) {
		httpPort := intstr.FromString("http")
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "knp-a", Name: "web-http-only"},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: *sel(web), PolicyTypes: ingress,
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &httpPort}}}}}}
		run(t, np, []flow{
			tcpFlow(aPlain, srv, 8080, true), tcpFlow(bFront, srv, 8080, true), tcpFlow(cFront, srv, 8080, true),
			tcpFlow(aPlain, srv, 9090, false), tcpFlow(bFront, srv, 9090, false), icmpFlow(cFront, srv, false), udpFlow(cFront, srv, 53, false),
		})
	})

	t.Run("IPBlockWithExcept", func(t *testing.T) {
		run(t, fromPeers("knp-a", "web-from-pool-but-one", networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{
			CIDR: "192.168.0.0/16", Except: []string{aPlain.ip + "/32"}}}), []flow{
			tcpFlow(aFront, srv, 8080, true), tcpFlow(bPlain, srv, 8080, true), icmpFlow(cFront, srv, true),
			tcpFlow(aPlain, srv, 8080, false), icmpFlow(aPlain, srv, false),
		})
	})

	t.Run("EgressOnlyUDP53ToOneCIDR", func(t *testing.T) {
		udp53, port53 := corev1.ProtocolUDP, intstr.FromInt32(53)
		np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "knp-c", Name: "egress-dns-only"},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: dns.ip + "/32"}}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp53, Port: &port53}},
				}}}}
		run(t, np, []flow{
			udpFlow(cFront, dns, 53, true),
			icmpFlow(cFront, dns, false), udpFlow(cFront, srv, 53, false), icmpFlow(cFront, srv, false), tcpFlow(cFront, srv, 8080, false),
			icmpFlow(aPlain, cFront, true), // ingress to knp-c is untouched (the reply is part of the connection)
			udpFlow(aPlain, dns, 53, true), icmpFlow(bPlain, dns, true),
		})
	})

	t.Run("RelabelPodFlipsPodSelector", func(t *testing.T) {
		np := fromPeers("knp-a", "web-from-frontend", networkingv1.NetworkPolicyPeer{PodSelector: sel(front)})
		create(t, np)
		t.Cleanup(func() { s.Kubectl(t, "label", "pod", "a-plain", "-n", "knp-a", "role-") })
		expectFlows(t, 15*time.Second, "a-plain has no role: denied", []flow{tcpFlow(aFront, srv, 8080, true), tcpFlow(aPlain, srv, 8080, false)})
		kubectl(t, "label", "pod", "a-plain", "-n", "knp-a", "role=frontend", "--overwrite")
		expectFlows(t, 15*time.Second, "a-plain labelled role=frontend: allowed", []flow{tcpFlow(aPlain, srv, 8080, true), icmpFlow(aPlain, srv, true)})
		out, err := calicoctl(t, c, c.Hosts[0], "", "get", "workloadendpoint", "-n", "knp-a", "-o", "yaml")
		if err != nil || strings.Count(out, "role: frontend") != 2 {
			t.Errorf("calicoctl get workloadendpoint -n knp-a -o yaml: want role: frontend on a-front and a-plain, got (%v):\n%s", err, out)
		}
		kubectl(t, "label", "pod", "a-plain", "-n", "knp-a", "role-")
		expectFlows(t, 15*time.Second, "role removed from a-plain: denied again", []flow{tcpFlow(aPlain, srv, 8080, false), tcpFlow(aFront, srv, 8080, true)})
		remove(t, "knp-a", np.Name)
		expectFlows(t, 15*time.Second, "after deleting "+np.Name, []flow{tcpFlow(aPlain, srv, 8080, true)})
	})

	t.Run("RelabelNamespaceFlipsNamespaceSelector", func(t *testing.T) {
		np := fromPeers("knp-a", "web-from-team-frontend",
			networkingv1.NetworkPolicyPeer{NamespaceSelector: sel(map[string]string{"team": "frontend"})})
		create(t, np)
		t.Cleanup(func() { s.Kubectl(t, "label", "namespace", "knp-c", "team=other", "--overwrite") })
		expectFlows(t, 15*time.Second, "knp-c is team=other: denied", []flow{tcpFlow(cFront, srv, 8080, false), tcpFlow(bFront, srv, 8080, true)})
		kubectl(t, "label", "namespace", "knp-c", "team=frontend", "--overwrite")
		expectFlows(t, 15*time.Second, "knp-c relabelled team=frontend: allowed", []flow{tcpFlow(cFront, srv, 8080, true), icmpFlow(cFront, srv, true)})
		out, err := calicoctl(t, c, c.Hosts[0], "", "get", "profile", "kns.knp-c", "-o", "yaml")
		if err != nil || !strings.Contains(out, "pcns.team: frontend") {
			t.Errorf("calicoctl get profile kns.knp-c -o yaml: want pcns.team: frontend after the relabel, got (%v):\n%s", err, out)
		}
		kubectl(t, "label", "namespace", "knp-b", "team-")
		expectFlows(t, 15*time.Second, "knp-b loses its team label: its pods denied", []flow{tcpFlow(bFront, srv, 8080, false), tcpFlow(cFront, srv, 8080, true)})
		kubectl(t, "label", "namespace", "knp-b", "team=frontend")
		kubectl(t, "label", "namespace", "knp-c", "team=other", "--overwrite")
		expectFlows(t, 15*time.Second, "labels restored: knp-b allowed, knp-c denied", []flow{tcpFlow(bFront, srv, 8080, true), tcpFlow(cFront, srv, 8080, false)})
		remove(t, "knp-a", np.Name)
		expectFlows(t, 15*time.Second, "after deleting "+np.Name, []flow{tcpFlow(cFront, srv, 8080, true)})
	})

	b, _ := os.ReadFile(ctrlLog)
	var warnings []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			warnings = append(warnings, line)
		}
	}
	if strings.Contains(string(b), "level=ERROR") {
		t.Errorf("calico-kube-controllers logged errors:\n%s", strings.Join(warnings, "\n"))
	} else if len(warnings) > 0 {
		t.Logf("calico-kube-controllers logged warnings:\n%s", strings.Join(warnings, "\n"))
	}
	t.Logf("calico-kube-controllers logged %d lines", strings.Count(string(b), "\n"))
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}
