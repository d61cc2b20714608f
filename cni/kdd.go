package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	current "github.com/containernetworking/cni/pkg/types/100"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/k8s/conversion"
)

// The Kubernetes datastore (datastore_type "kubernetes", Calico's KDD mode). WorkloadEndpoints and Profiles are
// derived there from Pods, Namespaces and ServiceAccounts and cannot be written, so, as Calico's CNI plugin does:
//
//   - every workload is a pod: CNI_ARGS must name it (ADD and CHECK refuse a plain container);
//   - ADD writes no endpoint and no profile: the pod's annotations cni.projectcalico.org/podIP, podIPs and
//     containerID (written through pods/status, see annotatePod) are the record felix derives the endpoint from;
//   - a retried ADD of the same sandbox answers from what its IPAM handle ("<network>.<container id>") holds,
//     when the veth is still wired with those addresses;
//   - DEL releases the handle. The host veth and the pod's podIP/podIPs annotations are named after the pod, not
//     the sandbox: they are removed only when the pod's containerID annotation names this sandbox (or nothing,
//     or the pod is gone, for the veth). A late DEL of an old sandbox leaves a newer sandbox's alone. The
//     containerID annotation itself is kept, so a still later DEL of an older sandbox still sees that the pod's
//     veth is not its own;
//   - CHECK verifies the veth and the pod's addresses, that the handle holds them, and that the pod's record
//     names this sandbox and these addresses.

// errNoPod refuses a plain container in the Kubernetes datastore.
func errNoPod() error {
	return &ConfigError{Field: "CNI_ARGS",
		Problem: `must name a Kubernetes pod (K8S_POD_NAMESPACE and K8S_POD_NAME) with datastore_type "kubernetes"`,
		Details: "the Kubernetes datastore records a workload only as a pod: a container that is not a pod cannot be networked with it"}
}

// existingKDD answers a retried ADD of the same sandbox from its handle. Addresses the handle holds without a
// veth wired with them are not answered from: add releases them and starts over.
func (p *plugin) existingKDD(ctx context.Context, a attachment) (*current.Result, bool, error) {
	held, err := p.ipam.IPsByHandle(ctx, a.handle)
	if errors.Is(err, datastore.ErrNotFound) || (err == nil && len(held) == 0) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading addresses of handle %s: %w", a.handle, err)
	}
	ips := heldNetworks(held)
	if err := checkPodLink(podLink{Netns: a.netns, IfName: a.ifName, HostVeth: a.hostVeth, IPs: ips}); err != nil {
		p.log.Warn("Handle holds addresses but the veth is not wired with them; starting over", "handle", a.handle, "reason", err.Error())
		return nil, false, nil
	}
	mac, err := podLinkMAC(a.netns, a.ifName)
	if err != nil {
		return nil, true, err
	}
	var nets []string
	for _, ip := range ips {
		nets = append(nets, ip.String())
	}
	// The record may be what is missing (the first ADD died between wiring and annotating): write it again.
	if err := p.annotatePod(ctx, a, nets); err != nil {
		return nil, true, err
	}
	p.log.Info("Calico CNI handle already holds addresses and the veth is wired; returning them", "handle", a.handle, "ips", nets)
	wep := &api.WorkloadEndpoint{ObjectMeta: api.ObjectMeta{Name: a.endpoint, Namespace: a.namespace},
		Spec: api.WorkloadEndpointSpec{InterfaceName: a.hostVeth, Endpoint: a.ifName, MAC: mac, IPNetworks: nets}}
	res, err := resultFromEndpoint(wep, a.netns)
	return res, true, err
}

// heldNetworks turns the addresses a handle holds into /32 and /128 networks, sorted as the result lists them.
func heldNetworks(held []net.IP) []net.IPNet {
	var ips []net.IPNet
	for _, ip := range held {
		ips = append(ips, net.IPNet{IP: ip})
	}
	ips = singleAddresses(ips)
	// IPv4 first, as assign returns them.
	slices.SortStableFunc(ips, func(x, y net.IPNet) int {
		return len(x.IP) - len(y.IP)
	})
	return ips
}

// podRecord reads the pod's containerID annotation; gone is true when the pod no longer exists.
func (p *plugin) podRecord(ctx context.Context, a attachment) (pod *corev1.Pod, gone bool, err error) {
	k, err := p.kube()
	if err != nil {
		return nil, false, err
	}
	pod, err = k.Pod(ctx, a.namespace, a.pod.name)
	if apierrors.IsNotFound(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, kubeError(fmt.Sprintf("reading pod %s/%s", a.namespace, a.pod.name), err)
	}
	return pod, false, nil
}

// clearPodAddresses removes the pod's podIP and podIPs annotations if its containerID annotation still names
// this sandbox, so that felix drops the endpoint it derives from them. The patch is conditional on the pod's
// resourceVersion, so a newer sandbox's ADD in between is never undone; on a conflict it reads the pod again.
func (p *plugin) clearPodAddresses(ctx context.Context, a attachment) error {
	for range 5 {
		pod, gone, err := p.podRecord(ctx, a)
		if err != nil || gone {
			return err
		}
		if pod.Annotations[conversion.AnnotationContainerID] != a.containerID ||
			(pod.Annotations[conversion.AnnotationPodIP] == "" && pod.Annotations[conversion.AnnotationPodIPs] == "") {
			return nil
		}
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": pod.ResourceVersion,
			"annotations":     map[string]any{conversion.AnnotationPodIP: nil, conversion.AnnotationPodIPs: nil},
		}})
		if err != nil {
			return err
		}
		k, _ := p.kube()
		_, err = k.PatchPodStatus(ctx, a.namespace, a.pod.name, patch)
		switch {
		case err == nil:
			p.log.Info("Calico CNI removed the pod's address annotations", "pod", a.namespace+"/"+a.pod.name)
			return nil
		case apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err):
			return kubeError(fmt.Sprintf("removing the addresses from pod %s/%s", a.namespace, a.pod.name), err)
		}
	}
	return fmt.Errorf("removing the addresses from pod %s/%s: the pod kept changing", a.namespace, a.pod.name)
}

// delKDD is DEL in the Kubernetes datastore; see the comment at the top of this file. Each step is tried even if
// another fails.
func (p *plugin) delKDD(ctx context.Context, a attachment) error {
	var errs []error
	ownsVeth := true
	if a.pod != nil {
		pod, gone, err := p.podRecord(ctx, a)
		switch {
		case err != nil:
			// Without the pod the veth's owner is unknown: leave it (a retried DEL removes it).
			errs = append(errs, err)
			ownsVeth = false
		case gone:
		default:
			if cid := pod.Annotations[conversion.AnnotationContainerID]; cid != "" && cid != a.containerID {
				p.log.Info("DEL of an old sandbox: the pod belongs to a newer one; leaving its veth and annotations",
					"pod", a.namespace+"/"+a.pod.name, "podContainerID", cid)
				ownsVeth = false
			}
		}
	}
	return errors.Join(append(errs, p.giveBack(ctx, a, ownsVeth)...)...)
}

// checkKDD is CHECK in the Kubernetes datastore: the handle's addresses, the previous result, the pod's record
// and the veth.
func (p *plugin) checkKDD(ctx context.Context, a attachment) error {
	held, err := p.ipam.IPsByHandle(ctx, a.handle)
	if errors.Is(err, datastore.ErrNotFound) || (err == nil && len(held) == 0) {
		return fmt.Errorf("IPAM has no addresses for handle %s: they were released", a.handle)
	}
	if err != nil {
		return fmt.Errorf("reading addresses of handle %s: %w", a.handle, err)
	}
	ips := heldNetworks(held)
	if err := p.checkPrevResult(ips); err != nil {
		return err
	}
	pod, gone, err := p.podRecord(ctx, a)
	if err != nil {
		return err
	}
	if gone {
		return fmt.Errorf("pod %s/%s does not exist", a.namespace, a.pod.name)
	}
	if cid := pod.Annotations[conversion.AnnotationContainerID]; cid != a.containerID {
		return fmt.Errorf("pod %s/%s records container %q (annotation %s), not %s", a.namespace, a.pod.name, cid,
			conversion.AnnotationContainerID, a.containerID)
	}
	var want, got []string
	for _, ip := range ips {
		want = append(want, ip.String())
	}
	for _, s := range strings.Split(pod.Annotations[conversion.AnnotationPodIPs], ",") {
		if s = strings.TrimSpace(s); s != "" {
			got = append(got, s)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("pod %s/%s records addresses [%s] (annotation %s) but handle %s holds [%s]", a.namespace, a.pod.name,
			strings.Join(got, " "), conversion.AnnotationPodIPs, a.handle, strings.Join(want, " "))
	}
	return checkPodLink(podLink{Netns: a.netns, IfName: a.ifName, HostVeth: a.hostVeth, IPs: ips})
}

// requirePod refuses a plain container in the Kubernetes datastore.
func (p *plugin) requirePod(a attachment) error {
	if p.conf.KDD() && a.pod == nil {
		return errNoPod()
	}
	return nil
}
