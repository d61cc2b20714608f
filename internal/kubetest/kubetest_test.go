package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-l3/calico/k8s/kubeclient"
)

// One server for every subtest: each start costs a few seconds and the subtests use separate namespaces.
func TestServer(t *testing.T) {
	start := time.Now()
	s := Start(t, Options{})
	t.Logf("Start returned after %v", time.Since(start).Round(time.Millisecond))

	t.Run("readyz answers over TLS verified against CAFile", func(t *testing.T) {
		pool := x509.NewCertPool()
		ca, err := os.ReadFile(s.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(ca) {
			t.Fatalf("no certificate in %s", s.CAFile)
		}
		// No client certificate: /readyz is open to anyone, as in a real cluster, once RBAC has bootstrapped.
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get(s.URL + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
			t.Fatalf("GET /readyz = %s %q, want 200 \"ok\"", resp.Status, body)
		}
	})

	t.Run("the default ServiceAccount exists", func(t *testing.T) {
		if _, err := s.Client.CoreV1().ServiceAccounts("default").Get(context.Background(), "default",
			metav1.GetOptions{}); err != nil {
			t.Fatalf("getting ServiceAccount default/default: %v", err)
		}
	})

	t.Run("a token is refused until RBAC allows it", func(t *testing.T) {
		const ns, sa = "rbac-test", "reader"
		s.EnsureServiceAccount(t, ns, sa)
		token := s.Token(t, ns, sa, time.Hour)
		client, err := tokenClient(s.KubeconfigForToken(t, token))
		if err != nil {
			t.Fatalf("loading the token kubeconfig: %v", err)
		}
		getPods := func() error {
			_, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			return err
		}
		// A 403 proves nothing if the token was not understood (anonymous is refused too): check who we are.
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(),
			&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("asking the server who the token is: %v", err)
		}
		if got, want := review.Status.UserInfo.Username, "system:serviceaccount:"+ns+":"+sa; got != want {
			t.Fatalf("the token authenticates as %q, want %q", got, want)
		}

		if err := getPods(); !apierrors.IsForbidden(err) {
			t.Fatalf("listing pods with no RBAC: got %v, want 403 Forbidden", err)
		}

		ctx := context.Background()
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"},
				Verbs: []string{"get", "list"}}},
		}
		if _, err := s.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Role: %v", err)
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader-reads-pods", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
		}
		if _, err := s.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating RoleBinding: %v", err)
		}
		// The RBAC authorizer reads from an informer, so the binding takes effect a moment later.
		deadline := time.Now().Add(10 * time.Second)
		for err = getPods(); err != nil && time.Now().Before(deadline); err = getPods() {
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("listing pods after binding pod-reader: %v", err)
		}
		// Still only what the Role grants.
		if _, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("listing secrets with only pod-reader: got %v, want 403 Forbidden", err)
		}
	})

	t.Run("kubectl apply creates what the manifest says", func(t *testing.T) {
		manifest := filepath.Join(t.TempDir(), "cm.yaml")
		if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: applied
  namespace: default
data:
  greeting: hello
`), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := s.Kubectl(t, "apply", "-f", manifest)
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if !strings.Contains(out, "configmap/applied created") {
			t.Errorf("kubectl apply said %q, want it to report configmap/applied created", out)
		}
		cm, err := s.Client.CoreV1().ConfigMaps("default").Get(context.Background(), "applied", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("getting the applied ConfigMap: %v", err)
		}
		if got := cm.Data["greeting"]; got != "hello" {
			t.Fatalf("ConfigMap data greeting = %q, want hello", got)
		}
		out, err = s.Kubectl(t, "get", "configmap", "applied", "-o", "jsonpath={.data.greeting}")
		if err != nil || out != "hello" {
			t.Fatalf("kubectl get: %q, %v; want \"hello\"", out, err)
		}
	})
}

// A server bound to another address serves a certificate for that address, so clients in other network
// namespaces verify it as they would a real cluster's. 127.0.0.2 is on lo on every Linux host.
func TestServerOnOtherAddress(t *testing.T) {
	s := Start(t, Options{BindAddress: "127.0.0.2"})
	if s.URL != "https://127.0.0.2:"+s.Port || s.Host != "127.0.0.2" {
		t.Fatalf("URL %s, Host %s; want https://127.0.0.2:%s, 127.0.0.2", s.URL, s.Host, s.Port)
	}
	token := s.Token(t, "default", "default", 0)
	client, err := tokenClient(s.KubeconfigForToken(t, token))
	if err != nil {
		t.Fatalf("loading the token kubeconfig: %v", err)
	}
	// Any authenticated user may read the version; what matters is that TLS verified against 127.0.0.2.
	if _, err := client.Discovery().ServerVersion(); err != nil {
		t.Fatalf("GET /version as default/default at %s: %v", s.URL, err)
	}
}

// BinDir and build.sh must agree on where the binaries are, or `make kube` builds where the tests never look.
func TestBinDirIsWhereBuildShPutsThem(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tests/kubebuild/build.sh")
	}
	t.Setenv("KUBE_BIN_DIR", "")
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err) // with the binaries missing, build.sh below would start a long build
	}
	out, err := exec.Command("sh", "../../tests/kubebuild/build.sh").Output()
	if err != nil {
		t.Fatalf("tests/kubebuild/build.sh: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != dir {
		t.Fatalf("build.sh says the binaries are in %s, BinDir says %s", got, dir)
	}
}

// tokenClient is a clientset for a kubeconfig, as a program given that kubeconfig builds it.
func tokenClient(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := kubeclient.Config(kubeconfig, 0)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}
