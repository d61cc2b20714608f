// Package coreclient is a small typed client for the few core/v1 calls that the CNI plugin and the Kubernetes
// datastore make: read a pod, namespace, service account or node, patch a pod's status, update a node. It sits
// on client-go's bare REST client with a scheme of core/v1 alone, so the binaries that use it do not link
// client-go's full clientset, whose scheme registers every API group at start-up. The CNI plugin is started once
// per pod and per IPAM call, so its start-up is on every pod's path to its first packet.
package coreclient

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

// Client reads and writes core/v1 objects. Its errors are the API server's, so apierrors.IsNotFound and the
// like apply to them.
type Client struct {
	rest rest.Interface
}

// New is a Client for a REST config (kubeclient.Config builds one from a kubeconfig).
func New(cfg *rest.Config) (*Client, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering core/v1: %w", err)
	}
	c := rest.CopyConfig(cfg)
	c.APIPath = "/api"
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("building the core/v1 client: %w", err)
	}
	return &Client{rest: rc}, nil
}

// Pod reads a pod.
func (c *Client) Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, c.rest.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(out)
}

// PatchPodStatus applies a strategic merge patch to a pod through its status subresource, which needs only
// pods/status patch and cannot change the pod's spec.
func (c *Client) PatchPodStatus(ctx context.Context, namespace, name string, patch []byte) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, c.rest.Patch(k8stypes.StrategicMergePatchType).Namespace(namespace).Resource("pods").Name(name).
		SubResource("status").Body(patch).Do(ctx).Into(out)
}

// Namespace reads a namespace.
func (c *Client) Namespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	out := &corev1.Namespace{}
	return out, c.rest.Get().Resource("namespaces").Name(name).Do(ctx).Into(out)
}

// ServiceAccount reads a service account.
func (c *Client) ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	out := &corev1.ServiceAccount{}
	return out, c.rest.Get().Namespace(namespace).Resource("serviceaccounts").Name(name).Do(ctx).Into(out)
}

// Node reads a node.
func (c *Client) Node(ctx context.Context, name string) (*corev1.Node, error) {
	out := &corev1.Node{}
	return out, c.rest.Get().Resource("nodes").Name(name).Do(ctx).Into(out)
}

// UpdateNode replaces a node, compare-and-swap on its resourceVersion.
func (c *Client) UpdateNode(ctx context.Context, n *corev1.Node) (*corev1.Node, error) {
	out := &corev1.Node{}
	return out, c.rest.Put().Resource("nodes").Name(n.Name).Body(n).Do(ctx).Into(out)
}
