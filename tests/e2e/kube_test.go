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

// The walkthrough on Kubernetes: manifests/calico.yaml applied to a real API server, install-cni on each host
// with the calico-node service account's token (so the RBAC the manifest grants is what the CNI plugin gets),
// then kubelet's part played as kubelet plays it: the Pod object bound to a node, then the CNI plugin run
// through the config install-cni wrote, with kubelet's CNI_ARGS.

// kubeHost is one host's Kubernetes side: the directories install-cni writes as the host's /etc/cni/net.d and
// /opt/cni/bin.
type kubeHost struct {
	n              *node
	netDir, binDir string
}

// installCNI runs `calico-node -install-cni` once (SLEEP=false) for a host, with the environment the manifest's
// install-cni container gets, read back from the API server, and extraEnv (DATASTORE_TYPE for calico-kdd.yaml).
func installCNI(t testing.TB, s *kubetest.Server, n *node, extraEnv ...string) *kubeHost {
	t.Helper()
	ctx := context.Background()
	cm, err := s.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "calico-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(n.h.Dir, "root")
	h := &kubeHost{n: n, netDir: filepath.Join(root, "etc/cni/net.d"), binDir: filepath.Join(root, "opt/cni/bin")}
	// The image's /opt/cni/bin: calico and the calico-ipam link.
	src := filepath.Join(root, "image-cni-bin")
	saDir := filepath.Join(root, "serviceaccount")
	for _, d := range []string{h.netDir, h.binDir, src, saDir, filepath.Join(root, "calico-secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(filepath.Join(binDir, "calico"), filepath.Join(src, "calico"))
	os.Symlink("calico", filepath.Join(src, "calico-ipam"))
	// What kubelet mounts into the pod of the calico-node service account.
	token := s.Token(t, "kube-system", "calico-node", time.Hour)
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(saDir, "token"), []byte(token), 0o600)
	os.WriteFile(filepath.Join(saDir, "ca.crt"), caPEM, 0o644)
	// The manifest logs the plugin to the host's /var/log/calico/cni; a test host keeps it in its own directory,
	// and so its IPAM lock: each test host has its own /var/run.
	template := strings.NewReplacer("/var/log/calico/cni/cni.log", filepath.Join(n.h.Dir, "cni.log"),
		"/var/run/calico/ipam.lock", filepath.Join(n.h.Dir, "ipam.lock")).Replace(cm.Data["cni_network_config"])
	env := []string{
		"CNI_CONF_NAME=10-calico.conflist", "CNI_NETWORK_CONFIG=" + template,
		"ETCD_ENDPOINTS=" + cm.Data["etcd_endpoints"], "CNI_MTU=" + cm.Data["veth_mtu"],
		"KUBERNETES_NODE_NAME=" + n.h.Name, "SLEEP=false",
		"KUBERNETES_SERVICE_HOST=" + s.Host, "KUBERNETES_SERVICE_PORT=" + s.Port,
		// The host's directories, where the container would see them mounted and where the host sees them.
		"CNI_NET_DIR=" + h.netDir, "CNI_NET_DIR_MOUNT=" + h.netDir, "CNI_BIN_DIR_MOUNT=" + h.binDir,
		"CNI_BIN_SOURCE_DIR=" + src, "SERVICE_ACCOUNT_PATH=" + saDir, "TLS_ASSETS_DIR=" + filepath.Join(root, "calico-secrets"),
		"CNI_SECONDARY_BIN_DIR_MOUNT=" + filepath.Join(root, "secondary-bin-dir"),
	}
	env = append(env, extraEnv...)
	out, err := n.h.Command(env, filepath.Join(binDir, "calico-node"), "-install-cni").CombinedOutput()
	if err != nil {
		t.Fatalf("install-cni on %s: %v\n%s", n.h.Name, err, out)
	}
	for _, want := range []string{"Done configuring CNI", "10-calico.conflist"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("install-cni's log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), token) {
		t.Errorf("install-cni logged the service account token")
	}
	return h
}

// applyCalicoManifest is step 1 of the walkthrough: manifests/calico.yaml with etcd_endpoints set to the
// cluster's etcd, applied with kubectl; it returns kubectl's output.
func applyCalicoManifest(t testing.TB, c *harness.Cluster, s *kubetest.Server) string {
	t.Helper()
	manifest, err := os.ReadFile(filepath.Join(repoRoot, "manifests", "calico.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(manifest), `etcd_endpoints: "http://<ETCD_IP>:<ETCD_PORT>"`, `etcd_endpoints: "`+c.Etcd+`"`, 1)
	if edited == string(manifest) {
		t.Fatal("manifests/calico.yaml has no etcd_endpoints placeholder to fill in")
	}
	path := filepath.Join(t.TempDir(), "calico.yaml")
	os.WriteFile(path, []byte(edited), 0o644)
	out, err := s.Kubectl(t, "apply", "-f", path)
	if err != nil {
		t.Fatalf("kubectl apply -f calico.yaml: %v\n%s", err, out)
	}
	return out
}

// addKubePod creates the Pod bound to the host (with the given container ports), then runs the CNI plugin
// through cnitool with the host's installed config and binaries and kubelet's CNI_ARGS.
func addKubePod(t testing.TB, c *harness.Cluster, s *kubetest.Server, h *kubeHost, ns, name string, labels map[string]string,
	ports ...corev1.ContainerPort) *pod {
	t.Helper()
	s.EnsureServiceAccount(t, ns, "default")
	_, err := s.Client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: h.n.h.Name, Containers: []corev1.Container{{Name: "c", Image: "busybox", Ports: ports}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	p := &pod{name: name, netns: "cl" + c.ID + "-" + name, on: h.n}
	if err := c.AddNamespace(p.netns); err != nil {
		t.Fatal(err)
	}
	cmd := h.n.h.Command([]string{"CNI_PATH=" + h.binDir, "NETCONFPATH=" + h.netDir, "CNI_CACHE_DIR=" + filepath.Join(h.n.h.Dir, "cni-cache"),
		"CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + name + ";K8S_POD_INFRA_CONTAINER_ID=sandbox-" + name},
		cnitoolPath(t), "add", "k8s-pod-network", "/var/run/netns/"+p.netns)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cnitool add %s/%s on %s: %v\n%s\n%s", ns, name, h.n.h.Name, err, out, tail(filepath.Join(h.n.h.Dir, "cni.log")))
	}
	p.ip = firstAddress(t, out)
	return p
}

func TestKubernetesWalkthroughManifestInstallCNIAndPodsAcrossHosts(t *testing.T) {
	c, nodes := startCluster(t, 2, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	// The CNI plugin runs in the hosts' namespaces: the API server listens where they can reach it.
	s := kubetest.Start(t, kubetest.Options{BindAddress: c.RootIP.String()})

	out := applyCalicoManifest(t, c, s)
	for _, want := range []string{"configmap/calico-config created", "secret/calico-etcd-secrets created",
		"serviceaccount/calico-node created", "clusterrole.rbac.authorization.k8s.io/calico-node created",
		"clusterrolebinding.rbac.authorization.k8s.io/calico-node created", "daemonset.apps/calico-node created",
		"serviceaccount/calico-kube-controllers created", "deployment.apps/calico-kube-controllers created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply output lacks %q:\n%s", want, out)
		}
	}

	var hosts []*kubeHost
	for _, n := range nodes {
		h := installCNI(t, s, n)
		entries, _ := os.ReadDir(h.netDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if got := strings.Join(names, " "); got != "10-calico.conflist calico-kubeconfig calico-tls" && got != "10-calico.conflist calico-kubeconfig" {
			t.Errorf("ls %s: %s, want 10-calico.conflist calico-kubeconfig (calico-tls only with etcd TLS)", h.netDir, got)
		}
		if fi, err := os.Stat(filepath.Join(h.netDir, "calico-kubeconfig")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("calico-kubeconfig: %v, mode %v, want 0600", err, fi)
		}
		hosts = append(hosts, h)
	}
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "prod", Labels: map[string]string{"team": "db"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
	} {
		if _, err := s.Client.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	def, err := s.Client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	def.Labels["team"] = "frontend"
	if _, err := s.Client.CoreV1().Namespaces().Update(context.Background(), def, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Two namespaces on two hosts; the plugin reads each pod with the calico-node token install-cni wrote.
	a := addKubePod(t, c, s, hosts[0], "default", "net-test", map[string]string{"app": "net-test"})
	b := addKubePod(t, c, s, hosts[1], "prod", "db-0", map[string]string{"app": "db"})
	for _, p := range []*pod{a, b} {
		if !strings.HasPrefix(p.ip, "192.168.") {
			t.Errorf("pod %s got %s, want an address of the pool 192.168.0.0/16", p.name, p.ip)
		}
	}
	pa, err := s.Client.CoreV1().Pods("default").Get(context.Background(), "net-test", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pa.Annotations[conversion.AnnotationPodIP]; got != a.ip+"/32" {
		t.Errorf("pod net-test annotation podIP %q, want %s/32", got, a.ip)
	}

	wide, err := calicoctl(t, c, c.Hosts[0], "", "get", "workloadendpoints", "-o", "wide", "-a")
	if err != nil {
		t.Fatalf("calicoctl get workloadendpoints: %v\n%s", err, wide)
	}
	for _, want := range []string{"host1-k8s-net--test-eth0", "host2-k8s-db--0-eth0", "kns.default,ksa.default.default", "kns.prod,ksa.prod.default"} {
		if !strings.Contains(wide, want) {
			t.Errorf("calicoctl get workloadendpoints -o wide -a lacks %q:\n%s", want, wide)
		}
	}

	waitUntil(t, 60*time.Second, "net-test (host1, default) pings db-0 (host2, prod)", func() (bool, string) {
		out, err := a.run("ping", "-c1", "-W1", b.ip)
		return err == nil, out
	})
	if !b.canPing(a.ip) {
		t.Errorf("db-0 cannot ping net-test")
	}
	rules, _ := nodes[0].h.Run("iptables-save", "-t", "filter")
	if !strings.Contains(rules, "cali-pri-kns.default") {
		t.Errorf("host1's iptables do not carry the namespace's profile chain cali-pri-kns.default:\n%s", rules)
	}

	// calico-kube-controllers, as the manifest's Deployment runs it, then a Kubernetes NetworkPolicy in prod
	// allowing ingress only from namespaces labelled team=frontend: net-test (default, team=frontend) still
	// reaches db-0, a pod of namespace other does not. The namespace labels reach felix through the kns.
	// profiles (pcns.team) the controllers keep.
	startKubeControllers(t, c, s)
	other := addKubePod(t, c, s, hosts[0], "other", "stranger", nil)
	waitUntil(t, 30*time.Second, "stranger (namespace other) pings db-0 before any policy", func() (bool, string) {
		return other.canPing(b.ip), ""
	})
	_, err = s.Client.NetworkingV1().NetworkPolicies("prod").Create(context.Background(), &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "from-frontend"},
		Spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "frontend"}}}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the policy stops stranger (namespace other) reaching db-0", func() (bool, string) {
		return !other.canPing(b.ip), ""
	})
	if !a.canPing(b.ip) {
		t.Errorf("net-test (namespace default, team=frontend) no longer reaches db-0 under knp.default.from-frontend")
	}
	if out, err := calicoctl(t, c, c.Hosts[0], "", "get", "networkpolicy", "-n", "prod"); err != nil || !strings.Contains(out, "knp.default.from-frontend") {
		t.Errorf("calicoctl get networkpolicy -n prod: %v\n%s", err, out)
	}

	out, err = calicoctl(t, c, c.Hosts[0], "", "ipam", "check")
	if err != nil {
		t.Errorf("calicoctl ipam check: %v\n%s", err, out)
	}
}
