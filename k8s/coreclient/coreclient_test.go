package coreclient

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/internal/kubetest"
)

// Every call against a real API server, with the API server's errors kept so that callers can classify them.
func TestCallsAgainstARealAPIServer(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := New(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	admin := s.Client
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "prod",
		Labels: map[string]string{"team": "db"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.EnsureServiceAccount(t, "prod", "web")
	if _, err := admin.CoreV1().Pods("prod").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "host1", ServiceAccountName: "web", Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "host1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("reads a pod, its namespace and its service account", func(t *testing.T) {
		pod, err := c.Pod(ctx, "prod", "p1")
		if err != nil || pod.Spec.NodeName != "host1" || pod.Labels["app"] != "web" {
			t.Fatalf("Pod = %+v, %v; want the pod on host1 with app=web", pod, err)
		}
		ns, err := c.Namespace(ctx, "prod")
		if err != nil || ns.Labels["team"] != "db" {
			t.Fatalf("Namespace = %+v, %v; want team=db", ns, err)
		}
		sa, err := c.ServiceAccount(ctx, "prod", "web")
		if err != nil || sa.Name != "web" || sa.Namespace != "prod" {
			t.Fatalf("ServiceAccount = %+v, %v", sa, err)
		}
	})
	t.Run("a missing object is the API server's NotFound", func(t *testing.T) {
		if _, err := c.Pod(ctx, "prod", "nope"); !apierrors.IsNotFound(err) {
			t.Errorf("Pod of a missing pod: want NotFound, got %v", err)
		}
		if _, err := c.Namespace(ctx, "nope"); !apierrors.IsNotFound(err) {
			t.Errorf("Namespace of a missing namespace: want NotFound, got %v", err)
		}
		if _, err := c.Node(ctx, "nope"); !apierrors.IsNotFound(err) {
			t.Errorf("Node of a missing node: want NotFound, got %v", err)
		}
	})
	t.Run("a status patch sets annotations and leaves the spec alone", func(t *testing.T) {
		out, err := c.PatchPodStatus(ctx, "prod", "p1", []byte(`{"metadata":{"annotations":{"x":"1"}},"spec":{"nodeName":"other"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if out.Annotations["x"] != "1" || out.Spec.NodeName != "host1" {
			t.Errorf("after the patch: annotations %v, nodeName %q; want x=1 and host1", out.Annotations, out.Spec.NodeName)
		}
	})
	t.Run("a node update is compare-and-swap on its resourceVersion", func(t *testing.T) {
		n, err := c.Node(ctx, "host1")
		if err != nil {
			t.Fatal(err)
		}
		stale := n.DeepCopy()
		n.Labels = map[string]string{"rack": "a"}
		out, err := c.UpdateNode(ctx, n)
		if err != nil || out.Labels["rack"] != "a" || out.ResourceVersion == stale.ResourceVersion {
			t.Fatalf("UpdateNode = %+v, %v; want rack=a at a new resourceVersion", out.ObjectMeta, err)
		}
		stale.Labels = map[string]string{"rack": "b"}
		if _, err := c.UpdateNode(ctx, stale); !apierrors.IsConflict(err) {
			t.Errorf("UpdateNode at a stale resourceVersion: want Conflict, got %v", err)
		}
	})
}

// The CNI plugin is started for every pod; it must not link client-go's full clientset, whose scheme registers
// every API group at start-up (this package exists to avoid it).
func TestCNIPluginDoesNotLinkTheClientset(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/calico-l3/calico/cmd/calico").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "k8s.io/client-go/kubernetes" || pkg == "k8s.io/client-go/kubernetes/scheme" {
			t.Errorf("cmd/calico links %s; use k8s/coreclient for the core/v1 calls it needs", pkg)
		}
	}
}
