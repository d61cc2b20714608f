// Package kdd is the Kubernetes datastore: it stores projectcalico.org/v3 resources as custom resources of group
// crd.projectcalico.org/v1 in the API server (manifests/crds.yaml) and serves them through the same
// datastore.Client interface as etcd, so that what reads resources does not know which datastore it has. Every
// update is compare-and-swap on the object's resourceVersion; watches list, then watch, and list again (a
// Resync) when the API server has compacted the version they need.
//
// Kinds that Calico derives from Kubernetes' own objects in this mode are read from them: a Node from the
// Kubernetes Node and its projectcalico.org annotations (written back there), Profiles kns.<ns> and
// ksa.<ns>.<sa> from Namespaces and ServiceAccounts, WorkloadEndpoints from Pods and their CNI annotations,
// and NetworkPolicies knp.default.<name> from Kubernetes NetworkPolicies. Those are read-only here: the error
// names the Kubernetes object to change instead.
package kdd

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/k8s/conversion"
	"github.com/calico-l3/calico/k8s/coreclient"
	"github.com/calico-l3/calico/k8s/policy"
)

// Group is the API group of Calico's custom resources.
const Group = "crd.projectcalico.org"

// ErrReadOnly is returned for writes of resources Calico derives from Kubernetes objects.
var ErrReadOnly = errors.New("derived from Kubernetes objects in the Kubernetes datastore")

// derived are the kinds Calico maps from Kubernetes objects instead of storing them as custom resources, and
// what to change instead.
var derived = map[string]string{
	"Node":             "the Kubernetes Node (Calico's fields are its projectcalico.org annotations)",
	"Profile":          "the Namespace or ServiceAccount",
	"WorkloadEndpoint": "the Pod",
}

// Client is the Kubernetes datastore.
type Client struct {
	cfg     *rest.Config
	dyn     dynamic.Interface
	kube    *coreclient.Client
	timeout time.Duration
}

var _ datastore.Client = (*Client)(nil)

// New is a Client for a REST config; timeout bounds each request that is not a watch (0: 10s).
func New(cfg *rest.Config, timeout time.Duration) (*Client, error) {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	// client-go's default of 5 requests/s would make one IPAM assignment (a few reads and writes) take about a
	// second; a datastore client needs the API server's own limits (priority and fairness) to be the ones that
	// apply.
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg = rest.CopyConfig(cfg)
		cfg.QPS, cfg.Burst = 200, 400
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes datastore client: %w", err)
	}
	kube, err := coreclient.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes datastore client: %w", err)
	}
	return &Client{cfg: cfg, dyn: dyn, kube: kube, timeout: timeout}, nil
}

// resource is the custom resource of a kind; a kind Calico derives from Kubernetes objects has none, and a
// write of it is refused with ErrReadOnly naming what to change instead.
func resource(k *api.Kind) (schema.GroupVersionResource, error) {
	if instead, ok := derived[k.Name]; ok {
		return schema.GroupVersionResource{}, fmt.Errorf("%w: a %s; change %s instead", ErrReadOnly, k.Name, instead)
	}
	return crdGVR(k.Plural), nil
}

// writable refuses writes of derived resources: the derived kinds, and NetworkPolicies translated from
// Kubernetes ones.
func writable(k *api.Kind, name string) error {
	if k.Name == "NetworkPolicy" && strings.HasPrefix(name, policy.NamePrefix) {
		return fmt.Errorf("%w: NetworkPolicy %s is translated from a Kubernetes NetworkPolicy; change that instead",
			ErrReadOnly, name)
	}
	_, err := resource(k)
	return err
}

func (c *Client) iface(k *api.Kind, namespace string) (dynamic.ResourceInterface, error) {
	gvr, err := resource(k)
	if err != nil {
		return nil, err
	}
	if k.Namespaced {
		if namespace == "" {
			namespace = api.DefaultNamespace
		}
		return c.dyn.Resource(gvr).Namespace(namespace), nil
	}
	return c.dyn.Resource(gvr), nil
}

func (c *Client) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Create stores a new resource.
func (c *Client) Create(ctx context.Context, r api.Resource) (api.Resource, error) {
	if r.GetObjectMeta().ResourceVersion != "" {
		return nil, fmt.Errorf("creating %s: resourceVersion must not be set on create", api.ID(r))
	}
	return c.write(ctx, r, true)
}

// Update replaces a resource whose resourceVersion is still the stored one.
func (c *Client) Update(ctx context.Context, r api.Resource) (api.Resource, error) {
	if r.GetObjectMeta().ResourceVersion == "" {
		return nil, fmt.Errorf("updating %s: resourceVersion is required", api.ID(r))
	}
	return c.write(ctx, r, false)
}

// write creates or updates (compare-and-swap on its resourceVersion) a resource: a Node through its Kubernetes
// Node, a kind stored as a custom resource as one; the derived others are refused.
func (c *Client) write(ctx context.Context, r api.Resource, create bool) (api.Resource, error) {
	k := api.KindOf(r)
	m := r.GetObjectMeta()
	if err := checkIdentity(k, m); err != nil {
		return nil, err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if n, ok := r.(*api.Node); ok {
		if create {
			return createNode(ctx, c.kube, n)
		}
		return updateNode(ctx, c.kube, n)
	}
	if err := writable(k, m.Name); err != nil {
		return nil, err
	}
	ri, err := c.iface(k, m.Namespace)
	if err != nil {
		return nil, err
	}
	u, err := toCustom(r)
	if err != nil {
		return nil, err
	}
	var out *unstructured.Unstructured
	if create {
		out, err = ri.Create(ctx, u, metav1.CreateOptions{})
	} else {
		out, err = ri.Update(ctx, u, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, classify(err, map[bool]string{true: "creating", false: "updating"}[create], api.ID(r))
	}
	return fromCustom(k, out)
}

// Apply creates the resource or replaces the current one whatever its version, retrying if it changes under us.
func (c *Client) Apply(ctx context.Context, r api.Resource) (api.Resource, error) {
	k := api.KindOf(r)
	m := r.GetObjectMeta()
	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, k, m.Namespace, m.Name)
		var out api.Resource
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			m.ResourceVersion = ""
			out, err = c.Create(ctx, r)
			if errors.Is(err, datastore.ErrAlreadyExists) && attempt < 5 {
				continue
			}
		case err != nil:
			return nil, err
		default:
			m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
			out, err = c.Update(ctx, r)
			if errors.Is(err, datastore.ErrConflict) && attempt < 5 {
				continue
			}
		}
		return out, err
	}
}

// Get reads one resource. A derived one is found among what its Kubernetes objects give.
func (c *Client) Get(ctx context.Context, k *api.Kind, namespace, name string) (api.Resource, error) {
	if k.Namespaced && namespace == "" {
		namespace = api.DefaultNamespace
	}
	if writable(k, name) != nil {
		if r, ok, err := c.getDerived(ctx, k, namespace, name); ok {
			return r, err
		}
		all, _, err := c.List(ctx, k, namespace)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			if m := r.GetObjectMeta(); m.Name == name && m.Namespace == namespace {
				return r, nil
			}
		}
		return nil, fmt.Errorf("%w: %s", datastore.ErrNotFound, id(k, namespace, name))
	}
	ri, err := c.iface(k, namespace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, classify(err, "reading", id(k, namespace, name))
	}
	return fromCustom(k, u)
}

// getDerived reads a derived resource straight from the one Kubernetes object it comes from, where that object
// is known by name (a Node, a namespace's or service account's profile); ok is false where it is not.
func (c *Client) getDerived(ctx context.Context, k *api.Kind, namespace, name string) (api.Resource, bool, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	notFound := func(err error) error {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s", datastore.ErrNotFound, id(k, namespace, name))
		}
		return classify(err, "reading", id(k, namespace, name))
	}
	switch k.Name {
	case "Node":
		n, err := c.kube.Node(ctx, name)
		if err != nil {
			return nil, true, notFound(err)
		}
		return nodeFromKube(n), true, nil
	case "Profile":
		if ns, ok := strings.CutPrefix(name, conversion.NamespaceProfilePrefix); ok {
			o, err := c.kube.Namespace(ctx, ns)
			if err != nil {
				return nil, true, notFound(err)
			}
			return profileFromNamespace(o), true, nil
		}
		if rest, ok := strings.CutPrefix(name, conversion.ServiceAccountProfilePrefix); ok {
			ns, sa, _ := strings.Cut(rest, ".")
			o, err := c.kube.ServiceAccount(ctx, ns, sa)
			if err != nil {
				return nil, true, notFound(err)
			}
			return profileFromServiceAccount(o), true, nil
		}
		if name == DefaultAllowProfileName {
			return defaultAllowProfile(), true, nil
		}
		return nil, true, fmt.Errorf("%w: %s", datastore.ErrNotFound, id(k, namespace, name))
	}
	return nil, false, nil
}

// List returns the resources of a kind (of one namespace, or all when namespace is ""), stored or derived,
// sorted by namespace and name, and the resourceVersion of the first listing as the revision.
func (c *Client) List(ctx context.Context, k *api.Kind, namespace string) ([]api.Resource, int64, error) {
	feeds, err := feedsFor(k, namespace)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var out []api.Resource
	var rev int64
	for i, f := range feeds {
		list, err := f.iface(c.dyn).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, 0, classify(err, "listing", k.Plural)
		}
		if i == 0 {
			rev = revision(list.GetResourceVersion())
		}
		for j := range list.Items {
			entries, err := f.entries(&list.Items[j])
			if err != nil {
				return nil, 0, fmt.Errorf("listing %s: %w", k.Plural, err)
			}
			for _, e := range entries {
				out = append(out, e.Resource)
			}
		}
	}
	if k.Name == "Profile" {
		out = append(out, defaultAllowProfile())
	}
	slices.SortFunc(out, func(a, b api.Resource) int {
		ma, mb := a.GetObjectMeta(), b.GetObjectMeta()
		return cmp.Or(cmp.Compare(ma.Namespace, mb.Namespace), cmp.Compare(ma.Name, mb.Name))
	})
	return out, rev, nil
}

// Delete removes a resource (with a resourceVersion, only if it is still the stored one) and returns what was
// stored.
func (c *Client) Delete(ctx context.Context, k *api.Kind, namespace, name, resourceVersion string) (api.Resource, error) {
	if err := writable(k, name); err != nil {
		return nil, err
	}
	cur, err := c.Get(ctx, k, namespace, name)
	if err != nil {
		return nil, err
	}
	if resourceVersion != "" && resourceVersion != cur.GetObjectMeta().ResourceVersion {
		return nil, fmt.Errorf("%w: %s", datastore.ErrConflict, id(k, namespace, name))
	}
	rv := cur.GetObjectMeta().ResourceVersion
	ri, err := c.iface(k, namespace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	err = ri.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if err != nil {
		return nil, classify(err, "deleting", id(k, namespace, name))
	}
	return cur, nil
}

func checkIdentity(k *api.Kind, m *api.ObjectMeta) error {
	if m.Name == "" {
		return fmt.Errorf("insufficient identifiers, missing 'name' for %s", k.Name)
	}
	if k.Namespaced && m.Namespace == "" {
		m.Namespace = api.DefaultNamespace
	}
	return nil
}

// toCustom is the custom resource of r: the same kind and spec, its name, namespace, labels and annotations,
// and its resourceVersion (for compare-and-swap). uid and creation time are the API server's.
func toCustom(r api.Resource) (*unstructured.Unstructured, error) {
	api.SetTypeMeta(r)
	b, err := api.Marshal(r) // with the spec fields this project does not model, as read
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	m := r.GetObjectMeta()
	meta := map[string]any{"name": m.Name}
	if api.KindOf(r).Namespaced {
		meta["namespace"] = m.Namespace
	}
	if m.ResourceVersion != "" {
		meta["resourceVersion"] = m.ResourceVersion
	}
	if len(m.Labels) > 0 {
		meta["labels"] = toAny(m.Labels)
	}
	if len(m.Annotations) > 0 {
		meta["annotations"] = toAny(m.Annotations)
	}
	obj["metadata"] = meta
	obj["apiVersion"] = Group + "/v1"
	if _, ok := obj["spec"]; !ok {
		obj["spec"] = map[string]any{}
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// fromCustom is the projectcalico.org/v3 resource a custom resource holds.
func fromCustom(k *api.Kind, u *unstructured.Unstructured) (api.Resource, error) {
	r := k.New()
	spec, err := json.Marshal(map[string]any{"spec": u.Object["spec"]})
	if err != nil {
		return nil, err
	}
	if err := api.Unmarshal(spec, r); err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", k.Name, u.GetName(), err)
	}
	api.SetTypeMeta(r)
	m := r.GetObjectMeta()
	m.Name, m.Namespace = u.GetName(), u.GetNamespace()
	m.ResourceVersion = u.GetResourceVersion()
	m.UID = string(u.GetUID())
	if t := u.GetCreationTimestamp(); !t.IsZero() {
		m.CreationTimestamp = t.UTC().Format(time.RFC3339)
	}
	m.Labels, m.Annotations = u.GetLabels(), u.GetAnnotations()
	return r, nil
}

// classify maps the API server's answers onto the datastore's errors, worded as the etcd datastore words them
// ("resource does not exist: IPPool(p)"); other answers keep the API server's message.
func classify(err error, op, what string) error {
	switch {
	case apierrors.IsNotFound(err) && !isMissingType(err):
		return fmt.Errorf("%w: %s", datastore.ErrNotFound, what)
	case apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %s", datastore.ErrAlreadyExists, what)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%w: %s", datastore.ErrConflict, what)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s %s: the API server forbids it (check the RBAC of this client's service account or user): %w", op, what, err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("%s %s: the API server rejects it: %w", op, what, err)
	case isMissingType(err):
		return fmt.Errorf("%s %s: the API server does not serve this type; are Calico's CRDs installed (kubectl apply -f manifests/crds.yaml)? %w", op, what, err)
	case apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err) ||
		errors.Is(err, context.DeadlineExceeded) || isConnection(err):
		return fmt.Errorf("%w: %s %s: %v", datastore.ErrUnreachable, op, what, err)
	}
	return fmt.Errorf("%s %s: %w", op, what, err)
}

// isMissingType says whether the API server answered that the resource type itself does not exist (the CRDs
// are not installed), not an object of it.
func isMissingType(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	return d == nil || d.Name == ""
}

func isConnection(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no such host") ||
		strings.Contains(s, "i/o timeout") || strings.Contains(s, "connection reset")
}

func id(k *api.Kind, namespace, name string) string {
	if k.Namespaced {
		return fmt.Sprintf("%s(%s/%s)", k.Name, namespace, name)
	}
	return fmt.Sprintf("%s(%s)", k.Name, name)
}

// revision reads a resourceVersion as the int64 the datastore interface carries (0 if it is not a number).
func revision(rv string) int64 {
	n, _ := strconv.ParseInt(rv, 10, 64)
	return n
}
