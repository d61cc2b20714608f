package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/k8s/conversion"
	"github.com/calico-l3/calico/k8s/coreclient"
	"github.com/calico-l3/calico/k8s/kubeclient"
)

// Kubernetes mode: the runtime (kubelet) names the pod in CNI_ARGS. The endpoint is then the pod's
// (<node>-k8s-<pod>-<iface> in the pod's namespace, labels and profiles from the pod), the host veth is named
// after the pod, and the pod's addresses are written back to it as annotations. The names and labels come from
// package k8s/conversion; this file holds the API calls.

// podArgs is the pod named by CNI_ARGS, and what ADD learned of it from the API server.
type podArgs struct {
	namespace, name string
	pod             *corev1.Pod // set by lookupPod
	conversion.IPAMRequest
}

// k8sCNIArgs are the CNI_ARGS kubelet passes.
type k8sCNIArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString
	K8S_POD_NAME               types.UnmarshallableString
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString
	K8S_POD_UID                types.UnmarshallableString
}

// parsePodArgs reads the pod from CNI_ARGS; nil when the runtime named none (a plain CNI container).
func parsePodArgs(cniArgs string) (*podArgs, error) {
	var a k8sCNIArgs
	a.IgnoreUnknown = true
	if err := types.LoadArgs(cniArgs, &a); err != nil {
		return nil, &ConfigError{Field: "CNI_ARGS", Problem: "cannot be parsed", Details: err.Error()}
	}
	ns, name := string(a.K8S_POD_NAMESPACE), string(a.K8S_POD_NAME)
	switch {
	case ns == "" && name == "":
		return nil, nil
	case ns == "" || name == "":
		return nil, &ConfigError{Field: "CNI_ARGS", Problem: "K8S_POD_NAMESPACE and K8S_POD_NAME must be given together",
			Details: fmt.Sprintf("got namespace %q, name %q", ns, name)}
	}
	return &podArgs{namespace: ns, name: name}, nil
}

// podAttachment names a pod's attachment. The IPAM handle stays per sandbox ("<network>.<container id>"), so a
// late DEL of an old sandbox releases only its own addresses.
func (p *plugin) podAttachment(args *skel.CmdArgs, pod *podArgs) (attachment, error) {
	if p.conf.Kubernetes.Kubeconfig == "" {
		return attachment{}, fieldErr("kubernetes.kubeconfig", "the runtime passed K8S_POD_NAME in CNI_ARGS",
			"is required for Kubernetes pods (install-cni writes /etc/cni/net.d/calico-kubeconfig)")
	}
	return attachment{
		containerID: args.ContainerID,
		ifName:      args.IfName,
		netns:       args.Netns,
		handle:      HandleID(p.conf.Name, args.ContainerID, args.IfName),
		hostVeth:    conversion.HostVethName(pod.namespace, pod.name),
		endpoint:    conversion.EndpointName(p.node, pod.name, args.IfName),
		namespace:   pod.namespace,
		pod:         pod,
	}, nil
}

// kube connects to the API server once per invocation.
func (p *plugin) kube() (*coreclient.Client, error) {
	if p.k8s != nil {
		return p.k8s, nil
	}
	cfg, err := kubeclient.Config(p.conf.Kubernetes.Kubeconfig, requestTimeout)
	if err != nil {
		return nil, fieldErr("kubernetes.kubeconfig", err.Error(), "cannot build a Kubernetes client from %s", p.conf.Kubernetes.Kubeconfig)
	}
	cs, err := coreclient.New(cfg)
	if err != nil {
		return nil, fieldErr("kubernetes.kubeconfig", err.Error(), "cannot build a Kubernetes client from %s", p.conf.Kubernetes.Kubeconfig)
	}
	p.k8s = cs
	return cs, nil
}

// lookupPod reads the pod, refuses it when it is scheduled on another node, and reads its IPAM annotations. It
// does nothing for a plain CNI container.
func (p *plugin) lookupPod(ctx context.Context, a attachment) error {
	if a.pod == nil || a.pod.pod != nil {
		return nil
	}
	k, err := p.kube()
	if err != nil {
		return err
	}
	pod, err := k.Pod(ctx, a.pod.namespace, a.pod.name)
	if err != nil {
		return kubeError(fmt.Sprintf("reading pod %s/%s", a.pod.namespace, a.pod.name), err)
	}
	if pod.Spec.NodeName != p.node {
		return fmt.Errorf("pod %s/%s is scheduled on node %q, not on this node %q: refusing to network it here",
			pod.Namespace, pod.Name, pod.Spec.NodeName, p.node)
	}
	req, err := conversion.ParseIPAMAnnotations(pod.Annotations)
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err := p.checkRequest(req); err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.pod.pod, a.pod.IPAMRequest = pod, req
	p.log.Info("Calico CNI found the pod", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName,
		"ipv4Pools", req.IPv4Pools, "ipv6Pools", req.IPv6Pools, "ipAddrs", req.IPs)
	return nil
}

// checkRequest matches a pod's ipAddrs annotation against what the network config assigns.
func (p *plugin) checkRequest(req conversion.IPAMRequest) error {
	if len(req.IPs) == 0 {
		return nil
	}
	var v4, v6 int
	for _, ip := range req.IPs {
		if ip.To4() != nil {
			v4++
		} else {
			v6++
		}
	}
	if v4 > p.conf.IPAM.Num4() || v6 > p.conf.IPAM.Num6() {
		return fmt.Errorf("annotation %s asks for %d IPv4 and %d IPv6 addresses but the network assigns at most %d and %d (ipam.assign_ipv4, ipam.assign_ipv6)",
			conversion.AnnotationIPAddrs, v4, v6, p.conf.IPAM.Num4(), p.conf.IPAM.Num6())
	}
	return nil
}

// assignRequested assigns the addresses a pod's ipAddrs annotation names; on any error none stays assigned.
func (p *plugin) assignRequested(ctx context.Context, a attachment, attrs map[string]string) ([]net.IPNet, error) {
	p.log.Info("Calico CNI IPAM assigning the pod's requested addresses", "handle", a.handle, "ips", a.pod.IPs)
	var out []net.IPNet
	for _, ip := range a.pod.IPs {
		if err := p.ipamLocked(ctx, func() error { return p.ipam.AssignIP(ctx, ip, a.handle, attrs, p.node) }); err != nil {
			err = fmt.Errorf("assigning %s from annotation %s: %w", ip, conversion.AnnotationIPAddrs, err)
			if rerr := p.release(ctx, a.handle); rerr != nil {
				return nil, fmt.Errorf("%w; releasing handle %s also failed: %v", err, a.handle, rerr)
			}
			return nil, err
		}
		out = append(out, net.IPNet{IP: ip})
	}
	return singleAddresses(out), nil
}

// podEndpoint is a pod's endpoint before it has addresses and a MAC. Without policy type k8s its profile is the
// network's, as for a plain container.
func (p *plugin) podEndpoint(a attachment) *api.WorkloadEndpoint {
	var wep *api.WorkloadEndpoint
	if a.pod.pod != nil {
		wep = conversion.PodEndpoint(a.pod.pod, p.node, a.ifName, a.containerID)
	} else {
		// Only names are known (DEL, CHECK): enough to find and validate the endpoint.
		wep = conversion.PodEndpoint(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: a.namespace, Name: a.pod.name}},
			p.node, a.ifName, a.containerID)
	}
	if p.conf.Policy.Type != PolicyK8s {
		wep.Spec.Profiles = []string{p.conf.Name}
	}
	return wep
}

// ensurePodProfiles creates kns.<namespace> and ksa.<namespace>.<sa> when they are missing, from the namespace
// and service account, so that a pod's traffic flows before calico-kube-controllers has synced them; the
// controllers own them afterwards and this never changes an existing one.
func (p *plugin) ensurePodProfiles(ctx context.Context, a attachment) error {
	pod := a.pod.pod
	k, err := p.kube()
	if err != nil {
		return err
	}
	err = p.createProfileIfMissing(ctx, conversion.NamespaceProfileName(pod.Namespace), func() (*api.Profile, error) {
		ns, err := k.Namespace(ctx, pod.Namespace)
		if err != nil {
			return nil, kubeError("reading namespace "+pod.Namespace, err)
		}
		return conversion.NamespaceProfile(ns), nil
	})
	sa := pod.Spec.ServiceAccountName
	if err != nil || sa == "" {
		return err
	}
	return p.createProfileIfMissing(ctx, conversion.ServiceAccountProfileName(pod.Namespace, sa), func() (*api.Profile, error) {
		obj, err := k.ServiceAccount(ctx, pod.Namespace, sa)
		if err != nil {
			return nil, kubeError(fmt.Sprintf("reading service account %s/%s", pod.Namespace, sa), err)
		}
		return conversion.ServiceAccountProfile(obj), nil
	})
}

// annotatePod records the pod's addresses and sandbox on the pod: cni.projectcalico.org/podIP (the first),
// podIPs (all, comma-separated) and containerID.
func (p *plugin) annotatePod(ctx context.Context, a attachment, ips []string) error {
	k, err := p.kube()
	if err != nil {
		return err
	}
	first := ""
	if len(ips) > 0 {
		first = ips[0]
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		conversion.AnnotationPodIP:       first,
		conversion.AnnotationPodIPs:      strings.Join(ips, ","),
		conversion.AnnotationContainerID: a.containerID,
	}}})
	if err != nil {
		return err
	}
	// Through the status subresource, as Calico does: the plugin's credentials then need only pods/status patch,
	// which cannot change a pod's spec.
	_, err = k.PatchPodStatus(ctx, a.namespace, a.pod.name, patch)
	if err != nil {
		return kubeError(fmt.Sprintf("writing the addresses to pod %s/%s", a.namespace, a.pod.name), err)
	}
	p.log.Info("Calico CNI annotated the pod", "pod", a.namespace+"/"+a.pod.name, "podIPs", ips)
	return nil
}

// kubeError says what was being done and, for the usual API answers, what it means.
func kubeError(doing string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: not found: %w", doing, err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%s: the CNI plugin's credentials (kubernetes.kubeconfig) are not allowed to: %w", doing, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
