package kdd

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/k8s/policy"
)

// A feed is one Kubernetes resource whose objects become entries of Calico's etcd layout: a custom resource
// becomes the v3 resource of the same kind; a Kubernetes object Calico derives resources from becomes those
// (none, one or more). Watches and lists go through feeds, so that every consumer sees etcd-layout keys.
type feed struct {
	gvr       schema.GroupVersionResource
	namespace string // of a namespaced resource, "" for all
	// entries converts one object; an object that no longer converts to an entry it once did is reported as
	// that entry's deletion.
	entries func(u *unstructured.Unstructured) ([]entry, error)
}

// entry is one key of Calico's etcd layout, with its value and, for resource keys, the resource.
type entry struct {
	Key      string
	Value    []byte
	Resource api.Resource
}

func crdGVR(plural string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: "v1", Resource: plural}
}

var (
	nodesGVR           = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	namespacesGVR      = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	serviceAccountsGVR = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	podsGVR            = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	kubePoliciesGVR    = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
)

// feedsFor are the feeds of a kind (in one namespace, or all): its custom resource, or the Kubernetes objects
// Calico derives it from. NetworkPolicy has both: Calico's own, and Kubernetes NetworkPolicies translated to
// knp.default.<name>.
func feedsFor(k *api.Kind, namespace string) ([]feed, error) {
	if !k.Namespaced {
		namespace = ""
	}
	switch k.Name {
	case "Node":
		return []feed{typedFeed(nodesGVR, "", func(n *corev1.Node) []api.Resource { return []api.Resource{nodeFromKube(n)} })}, nil
	case "Profile":
		return []feed{
			typedFeed(namespacesGVR, "", func(ns *corev1.Namespace) []api.Resource { return []api.Resource{profileFromNamespace(ns)} }),
			typedFeed(serviceAccountsGVR, "", func(sa *corev1.ServiceAccount) []api.Resource {
				return []api.Resource{profileFromServiceAccount(sa)}
			}),
		}, nil
	case "WorkloadEndpoint":
		return []feed{typedFeed(podsGVR, namespace, func(p *corev1.Pod) []api.Resource {
			var out []api.Resource
			for _, wep := range endpointsFromPod(p) {
				out = append(out, wep)
			}
			return out
		})}, nil
	}
	fs := []feed{{gvr: crdGVR(k.Plural), namespace: namespace, entries: func(u *unstructured.Unstructured) ([]entry, error) {
		r, err := fromCustom(k, u)
		if err != nil {
			return nil, err
		}
		e, err := resourceEntry(r)
		return []entry{e}, err
	}}}
	if k.Name == "NetworkPolicy" {
		fs = append(fs, typedFeed(kubePoliciesGVR, namespace, func(np *networkingv1.NetworkPolicy) []api.Resource {
			r, err := policy.Translate(np)
			if err != nil {
				slog.Warn("Kubernetes datastore cannot translate a NetworkPolicy; leaving it out", "namespace", np.Namespace,
					"name", np.Name, "error", err)
				return nil
			}
			setKubeMeta(&r.ObjectMeta, np)
			return []api.Resource{api.SetTypeMeta(r)}
		}))
	}
	return fs, nil
}

// typedFeed is a feed of a Kubernetes kind T whose objects become resources through convert.
func typedFeed[T any](gvr schema.GroupVersionResource, namespace string, convert func(*T) []api.Resource) feed {
	return feed{gvr: gvr, namespace: namespace, entries: func(u *unstructured.Unstructured) ([]entry, error) {
		obj := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
			return nil, err
		}
		var out []entry
		for _, r := range convert(obj) {
			e, err := resourceEntry(r)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	}}
}

// resourceEntry is the etcd-layout entry of a resource: its key and its JSON without resourceVersion (the
// version travels as the event's revision and in Resource).
func resourceEntry(r api.Resource) (entry, error) {
	m := r.GetObjectMeta()
	rv := m.ResourceVersion
	m.ResourceVersion = ""
	v, err := api.Marshal(r)
	m.ResourceVersion = rv
	return entry{Key: datastore.ResourceKey(api.KindOf(r), m.Namespace, m.Name), Value: v, Resource: r}, err
}

// affinityFeed is the block affinities of one node ("" for every node), as the etcd layout keeps them:
// /calico/ipam/v2/host/<node>/ipv4/block/<a.b.c.d-NN> → {"state": "confirmed"}.
func affinityFeed(node string) feed {
	return feed{gvr: crdGVR("blockaffinities"), entries: func(u *unstructured.Unstructured) ([]entry, error) {
		spec, _ := u.Object["spec"].(map[string]any)
		host, _ := spec["node"].(string)
		cidr, _ := spec["cidr"].(string)
		state, _ := spec["state"].(string)
		if deleted, _ := spec["deleted"].(string); deleted == "true" {
			return nil, nil
		}
		if node != "" && host != node {
			return nil, nil
		}
		p, err := netip.ParsePrefix(cidr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("block affinity %s: node %q, cidr %q", u.GetName(), host, cidr)
		}
		family := 4
		if p.Addr().Is6() {
			family = 6
		}
		key := fmt.Sprintf("%shost/%s/ipv%d/block/%s", datastore.IPAMPrefix, host, family,
			strings.ReplaceAll(p.String(), "/", "-"))
		v, err := json.Marshal(map[string]string{"state": state})
		return []entry{{Key: key, Value: v}}, err
	}}
}

// feedsForPrefix are the feeds behind an etcd-layout prefix: every kind under the resource root, one kind (or
// one namespace of it), or the block affinities under the IPAM host root (all nodes, or one node's).
func feedsForPrefix(prefix string) ([]feed, error) {
	if rest, ok := strings.CutPrefix(prefix, datastore.IPAMPrefix+"host/"); ok {
		node, _, _ := strings.Cut(rest, "/")
		return []feed{affinityFeed(node)}, nil
	}
	if prefix == datastore.ResourcePrefix {
		var all []feed
		for _, k := range api.Kinds {
			fs, err := feedsFor(k, "")
			if err != nil {
				return nil, err
			}
			all = append(all, fs...)
		}
		return all, nil
	}
	k, namespace, ok := kindOfPrefix(prefix)
	if !ok {
		return nil, fmt.Errorf("the Kubernetes datastore cannot watch %s", prefix)
	}
	return feedsFor(k, namespace)
}
