package secrets

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calico-l3/calico/internal/kubetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// clientFor is a clientset acting as the ServiceAccount calico-node/<namespace>.
func clientFor(t *testing.T, s *kubetest.Server, namespace string) kubernetes.Interface {
	t.Helper()
	s.EnsureServiceAccount(t, namespace, "calico-node")
	cfg, err := clientcmd.BuildConfigFromFlags("", s.KubeconfigForToken(t, s.Token(t, namespace, "calico-node", 0)))
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

// waitFor waits until the store's snapshot satisfies ok, after a change notification or a short poll.
func waitFor(t *testing.T, st *Store, what string, ok func(map[string]map[string]string) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if snap := st.Snapshot(); ok(snap) {
			return
		}
		select {
		case <-st.Changed():
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting until %s; last snapshot %v", what, st.Snapshot())
		}
	}
}

// calico-node, with the Role the manifests give it, sees the Secrets of its own namespace as they change, and
// none of another namespace's; without that Role, Watch fails and says why.
func TestWatchSecretsOfTheNodesNamespace(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "calico-system"

	denied := clientFor(t, s, ns)
	if _, err := Watch(ctx, denied, ns, 2*time.Second, quiet); err == nil || !strings.Contains(err.Error(), "namespace calico-system") {
		t.Fatalf("expected Watch without access to Secrets to fail naming the namespace, got %v", err)
	}

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "calico-node-bgp-passwords", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "calico-node-bgp-passwords", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "calico-node", Namespace: ns}}}
	if _, err := s.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bgp-passwords", Namespace: ns},
		Data: map[string][]byte{"rack1": []byte("s3cret")}}
	if _, err := s.Client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.EnsureServiceAccount(t, "other", "calico-node")
	if _, err := s.Client.CoreV1().Secrets("other").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"},
		Data: map[string][]byte{"k": []byte("v")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var st *Store
	var err error
	// RBAC takes a moment to see the new binding.
	for start := time.Now(); ; {
		if st, err = Watch(ctx, clientFor(t, s, ns), ns, 3*time.Second, quiet); err == nil || time.Since(start) > 20*time.Second {
			break
		}
	}
	if err != nil {
		t.Fatalf("expected Watch with the Role to work, got %v", err)
	}
	if got, want := st.Snapshot(), map[string]map[string]string{"bgp-passwords": {"rack1": "s3cret"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("expected %v, got %v", want, got)
	}

	secret.Data["rack1"] = []byte("rotated")
	secret.Data["rack2"] = []byte("new")
	if _, err := s.Client.CoreV1().Secrets(ns).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, "the rotated password is seen", func(m map[string]map[string]string) bool {
		return m["bgp-passwords"]["rack1"] == "rotated" && m["bgp-passwords"]["rack2"] == "new"
	})
	if err := s.Client.CoreV1().Secrets(ns).Delete(ctx, secret.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, st, "the deleted Secret is gone", func(m map[string]map[string]string) bool { return m["bgp-passwords"] == nil })
}
