package cni

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	cnins "github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/coreclient"
)

// SupportedVersions are the CNI spec versions both modes speak.
var SupportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0")

// requestTimeout bounds each datastore request, so an unreachable etcd fails an ADD in seconds, not minutes.
const requestTimeout = 5 * time.Second

// plugin is one invocation: its config, the node it runs on and its datastore clients.
type plugin struct {
	conf *NetConf
	node string
	ds   datastore.Client   // etcd or the Kubernetes datastore (datastore_type)
	k8s  *coreclient.Client // the API server, for pods; connected on first use
	ipam *ipam.IPAM         // on the same datastore
	conn *connect.Datastore // what open connected; close closes it
	log  *slog.Logger

	closeLog func()

	// failAfter, when set by a test, makes ADD fail right after the named step ("assign", "wire", "endpoint",
	// "profile") so that each failure path's cleanup can be proved.
	failAfter func(step string) error
}

// attachment names everything one ADD creates for a container interface on a network.
type attachment struct {
	containerID string
	ifName      string
	netns       string
	handle      string // IPAM handle
	hostVeth    string
	mtu         int    // both veth ends; resolved by add (NetConf.VethMTU)
	endpoint    string // WorkloadEndpoint name
	namespace   string // WorkloadEndpoint namespace

	// pod is set for a Kubernetes pod (CNI_ARGS K8S_POD_NAMESPACE and K8S_POD_NAME); see k8s.go.
	pod *podArgs
}

func (p *plugin) attachment(args *skel.CmdArgs) (attachment, error) {
	pod, err := parsePodArgs(args.Args)
	if err != nil {
		return attachment{}, err
	}
	if pod != nil {
		return p.podAttachment(args, pod)
	}
	return attachment{
		containerID: args.ContainerID,
		ifName:      args.IfName,
		netns:       args.Netns,
		handle:      HandleID(p.conf.Name, args.ContainerID, args.IfName),
		hostVeth:    HostVethName(WorkloadID(p.conf.Name, args.ContainerID, args.IfName)),
		endpoint:    EndpointName(p.node, args.ContainerID, args.IfName),
		namespace:   api.DefaultNamespace,
	}, nil
}

// owns reports whether a stored endpoint is this attachment's: for a pod, the same sandbox (container ID); for a
// plain CNI container, the same network (the endpoint name already holds the container ID).
func (p *plugin) owns(a attachment, wep *api.WorkloadEndpoint) bool {
	if a.pod != nil {
		return wep.Spec.ContainerID == a.containerID
	}
	return slices.Contains(wep.Spec.Profiles, p.conf.Name)
}

// open parses the config and connects; the caller closes the returned plugin.
func open(args *skel.CmdArgs, stderr io.Writer) (*plugin, error) {
	conf, err := ParseConfig(args.StdinData, os.Getenv)
	if err != nil {
		return nil, err
	}
	log, closeLog, err := newLogger(conf, stderr)
	if err != nil {
		return nil, err
	}
	log = log.With("containerID", args.ContainerID, "ifName", args.IfName, "network", conf.Name)
	node, err := conf.NodeName(os.Hostname)
	if err != nil {
		closeLog()
		return nil, err
	}
	conn, err := openDatastore(conf)
	if err != nil {
		closeLog()
		return nil, err
	}
	return &plugin{conf: conf, node: node, ds: conn.Client, ipam: conn.IPAM, conn: conn, log: log, closeLog: closeLog}, nil
}

// openDatastore connects to the datastore the config names.
func openDatastore(conf *NetConf) (*connect.Datastore, error) {
	if conf.KDD() {
		conn, err := connect.OpenKubernetes(conf.Kubernetes.Kubeconfig, requestTimeout)
		if err != nil {
			return nil, fieldErr("kubernetes.kubeconfig", err.Error(), "cannot connect to the Kubernetes datastore with %s", conf.Kubernetes.Kubeconfig)
		}
		return conn, nil
	}
	cfg := conf.EtcdConfig()
	cfg.RequestTimeout = requestTimeout
	return connect.OpenEtcd(cfg)
}

func (p *plugin) close() {
	_ = p.conn.Close()
	p.closeLog()
}

func (p *plugin) fail(step string) error {
	if p.failAfter == nil {
		return nil
	}
	return p.failAfter(step)
}

// checkReady refuses to work while ClusterInformation "default" says the datastore is not ready (an upgrade is
// in progress). A missing ClusterInformation is fine: nothing has said otherwise.
func (p *plugin) checkReady(ctx context.Context) error {
	r, err := p.ds.Get(ctx, api.KindOf(&api.ClusterInformation{}), "", "default")
	if errors.Is(err, datastore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error getting ClusterInformation: %w", err)
	}
	if ready := r.(*api.ClusterInformation).Spec.DatastoreReady; ready != nil && !*ready {
		p.log.Warn("Upgrade may be in progress, ready flag is not set")
		//lint:ignore ST1005 Calico's own message, which operators search for
		return errors.New("Calico is currently not ready to process requests")
	}
	return nil
}

var endpointKind = api.KindOf(&api.WorkloadEndpoint{})

// add wires the container into the network and records it. A repeated ADD returns what the first one did.
func (p *plugin) add(ctx context.Context, args *skel.CmdArgs) (*current.Result, error) {
	if err := p.checkReady(ctx); err != nil {
		return nil, err
	}
	a, err := p.attachment(args)
	if err != nil {
		return nil, err
	}
	if err := p.requirePod(a); err != nil {
		return nil, err
	}
	if p.conf.KDD() {
		// The handle is the only record of an earlier ADD, and answering from it needs the pod's interface.
		if err := checkPodNetns(a.netns); err != nil {
			return nil, err
		}
		if res, found, err := p.existingKDD(ctx, a); found || err != nil {
			return res, err
		}
	} else if res, found, err := p.existing(ctx, a); found || err != nil {
		return res, err
	}
	if err := checkPodNetns(a.netns); err != nil {
		return nil, err
	}
	// For a pod: read it from the API server and refuse one scheduled elsewhere or with bad annotations, all
	// before anything is taken.
	if err := p.lookupPod(ctx, a); err != nil {
		return nil, err
	}
	// A node or container ID that cannot make an endpoint name is found before anything is taken.
	if err := p.endpointFor(a).Validate(); err != nil {
		return nil, fmt.Errorf("WorkloadEndpoint %s for node %q and container %q: %w", a.endpoint, p.node, a.containerID, err)
	}
	// So is a malformed MTU file. Only ADD reads it: DEL must succeed whatever the file says.
	if a.mtu, err = p.conf.VethMTU(os.ReadFile); err != nil {
		return nil, err
	}
	p.log.Debug("Calico CNI veth MTU", "mtu", a.mtu, "configured", p.conf.MTU, "mtuFile", p.conf.MTUFilePath())
	// Addresses the handle holds while no endpoint (in the Kubernetes datastore: no veth wired with them) exists
	// were left by an ADD whose cleanup could not reach the datastore.
	if err := p.ipam.ReleaseByHandle(ctx, a.handle); err == nil {
		p.log.Warn("Released addresses left by an earlier failed ADD", "handle", a.handle)
	} else if !errors.Is(err, datastore.ErrNotFound) {
		return nil, fmt.Errorf("releasing addresses left on handle %s: %w", a.handle, err)
	}
	ips, err := p.assign(ctx, a)
	if err != nil {
		return nil, err
	}
	res, err := p.attach(ctx, a, ips)
	if err != nil {
		// Every failure after the assignment lands here, whatever step it came from.
		if cerr := p.undo(ctx, a); cerr != nil {
			return nil, fmt.Errorf("%w; cleaning up the failed ADD also failed: %v", err, cerr)
		}
		return nil, err
	}
	return res, nil
}

// existing finds the endpoint of an earlier ADD of the same container interface. A pod's endpoint left by an
// older sandbox of the same pod is not this attachment's: the new sandbox replaces it.
func (p *plugin) existing(ctx context.Context, a attachment) (*current.Result, bool, error) {
	r, err := p.ds.Get(ctx, endpointKind, a.namespace, a.endpoint)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("looking for an existing endpoint %s: %w", a.endpoint, err)
	}
	wep := r.(*api.WorkloadEndpoint)
	if a.pod != nil && !p.owns(a, wep) {
		p.log.Info("Endpoint belongs to an older sandbox of the pod; replacing it", "endpoint", a.endpoint,
			"oldContainerID", wep.Spec.ContainerID)
		return nil, false, nil
	}
	if !p.owns(a, wep) {
		return nil, true, fmt.Errorf("container %s interface %s is already attached to network(s) %s",
			a.containerID, a.ifName, strings.Join(wep.Spec.Profiles, ","))
	}
	if err := linkExists(wep.Spec.InterfaceName); err != nil {
		return nil, true, fmt.Errorf("endpoint %s exists but its host veth does not (%v): DEL the container and ADD it again",
			a.endpoint, err)
	}
	p.log.Info("Calico CNI endpoint already exists; returning its addresses", "endpoint", a.endpoint)
	res, err := resultFromEndpoint(wep, a.netns)
	return res, true, err
}

// assign takes the addresses; on any error nothing stays assigned to the handle.
func (p *plugin) assign(ctx context.Context, a attachment) ([]net.IPNet, error) {
	num4, num6 := p.conf.IPAM.Num4(), p.conf.IPAM.Num6()
	attrs := map[string]string{
		"node":        p.node,
		"namespace":   a.namespace,
		"containerID": a.containerID,
		"timestamp":   time.Now().UTC().Format(time.RFC3339),
	}
	v4Pools, v6Pools := p.conf.IPAM.IPv4Pools, p.conf.IPAM.IPv6Pools
	if a.pod != nil {
		attrs["pod"] = a.pod.name
		if len(a.pod.IPs) > 0 {
			return p.assignRequested(ctx, a, attrs)
		}
		// The pod's pool annotations take the place of the network config's pools.
		if len(a.pod.IPv4Pools) > 0 {
			v4Pools = a.pod.IPv4Pools
		}
		if len(a.pod.IPv6Pools) > 0 {
			v6Pools = a.pod.IPv6Pools
		}
	}
	p.log.Info(fmt.Sprintf("Calico CNI IPAM request count IPv4=%d IPv6=%d", num4, num6), "handle", a.handle,
		"ipv4Pools", v4Pools, "ipv6Pools", v6Pools)
	var v4, v6 []net.IPNet
	err := p.ipamLocked(ctx, func() (err error) {
		v4, v6, err = p.ipam.AutoAssign(ctx, ipam.AssignArgs{
			Num4:      num4,
			Num6:      num6,
			HandleID:  a.handle,
			Host:      p.node,
			IPv4Pools: v4Pools,
			IPv6Pools: v6Pools,
			Attrs:     attrs,
		})
		return err
	})
	if err == nil && (len(v4) < num4 || len(v6) < num6) {
		err = fmt.Errorf("failed to request %d IPv4 and %d IPv6 addresses: IPAM allocated only %d and %d",
			num4, num6, len(v4), len(v6))
	}
	if err != nil {
		// An assignment can fail after taking some addresses (IPv4 done, IPv6 exhausted): give them back.
		if rerr := p.release(ctx, a.handle); rerr != nil {
			return nil, fmt.Errorf("assigning addresses: %w; releasing handle %s also failed: %v", err, a.handle, rerr)
		}
		return nil, fmt.Errorf("assigning addresses: %w", err)
	}
	p.log.Info(fmt.Sprintf("Calico CNI IPAM assigned addresses IPv4=%s IPv6=%s", ipList(v4), ipList(v6)), "handle", a.handle)
	return append(singleAddresses(v4), singleAddresses(v6)...), nil
}

// attach does everything after the assignment. It never cleans up: add does, for every error it returns.
func (p *plugin) attach(ctx context.Context, a attachment, ips []net.IPNet) (*current.Result, error) {
	if err := p.fail("assign"); err != nil {
		return nil, err
	}
	wired, err := setupPodLink(podLink{Netns: a.netns, IfName: a.ifName, HostVeth: a.hostVeth, MTU: a.mtu, IPs: ips})
	if err != nil {
		return nil, err
	}
	if err := p.fail("wire"); err != nil {
		return nil, err
	}
	wep := p.endpointFor(a)
	wep.Spec.MAC = wired.PodMAC
	for _, ip := range ips {
		wep.Spec.IPNetworks = append(wep.Spec.IPNetworks, ip.String())
	}
	if err := wep.Validate(); err != nil {
		return nil, fmt.Errorf("building WorkloadEndpoint %s: %w", a.endpoint, err)
	}
	// In the Kubernetes datastore the endpoint and the profiles are derived from the pod (and its namespace and
	// service account): the pod's annotations below are the only record.
	if !p.conf.KDD() {
		if err := p.writeEndpoint(ctx, a, wep); err != nil {
			return nil, err
		}
		p.log.Info("Calico CNI wrote endpoint", "endpoint", a.endpoint, "namespace", a.namespace, "hostVeth", a.hostVeth,
			"ips", wep.Spec.IPNetworks)
	}
	if err := p.fail("endpoint"); err != nil {
		return nil, err
	}
	if !p.conf.KDD() {
		if err := p.ensureProfiles(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := p.fail("profile"); err != nil {
		return nil, err
	}
	if a.pod != nil {
		if err := p.annotatePod(ctx, a, wep.Spec.IPNetworks); err != nil {
			return nil, err
		}
		if err := p.fail("annotate"); err != nil {
			return nil, err
		}
	}
	return resultFromEndpoint(wep, a.netns)
}

// writeEndpoint creates the endpoint. A pod's endpoint may already exist, left by an older sandbox of the same
// pod whose DEL has not come: the new sandbox's endpoint replaces it.
func (p *plugin) writeEndpoint(ctx context.Context, a attachment, wep *api.WorkloadEndpoint) error {
	_, err := p.ds.Create(ctx, wep)
	if errors.Is(err, datastore.ErrAlreadyExists) && a.pod != nil {
		var old api.Resource
		if old, err = p.ds.Get(ctx, endpointKind, a.namespace, a.endpoint); err == nil {
			wep.ResourceVersion = old.GetObjectMeta().ResourceVersion
			_, err = p.ds.Update(ctx, wep)
		}
	}
	if err != nil {
		return fmt.Errorf("writing WorkloadEndpoint %s/%s: %w", a.namespace, a.endpoint, err)
	}
	return nil
}

// endpointFor is the attachment's WorkloadEndpoint before it has addresses and a MAC.
func (p *plugin) endpointFor(a attachment) *api.WorkloadEndpoint {
	if a.pod != nil {
		return p.podEndpoint(a)
	}
	wep := &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: a.endpoint, Namespace: a.namespace},
		Spec: api.WorkloadEndpointSpec{
			Orchestrator:  Orchestrator,
			Workload:      a.containerID,
			Node:          p.node,
			ContainerID:   a.containerID,
			Endpoint:      a.ifName,
			InterfaceName: a.hostVeth,
			Profiles:      []string{p.conf.Name},
		},
	}
	wep.Default()
	return wep
}

// ensureProfiles creates the profiles the endpoint names if they are missing; an existing one is never changed.
func (p *plugin) ensureProfiles(ctx context.Context, a attachment) error {
	if a.pod != nil && p.conf.Policy.Type == PolicyK8s {
		return p.ensurePodProfiles(ctx, a)
	}
	return p.ensureProfile(ctx)
}

// ensureProfile creates the network's profile if it is missing; an existing one is never changed.
func (p *plugin) ensureProfile(ctx context.Context) error {
	return p.createProfileIfMissing(ctx, p.conf.Name, func() (*api.Profile, error) { return DefaultProfile(p.conf.Name), nil })
}

// createProfileIfMissing creates profile name from build when the datastore has none; build runs only then.
// A profile created meanwhile by someone else is fine.
func (p *plugin) createProfileIfMissing(ctx context.Context, name string, build func() (*api.Profile, error)) error {
	_, err := p.ds.Get(ctx, api.KindOf(&api.Profile{}), "", name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("reading profile %s: %w", name, err)
	}
	prof, err := build()
	if err != nil {
		return err
	}
	if err := prof.Validate(); err != nil {
		return fmt.Errorf("building profile %s: %w", name, err)
	}
	p.log.Info("Calico CNI creating profile: " + name)
	if _, err := p.ds.Create(ctx, prof); err != nil && !errors.Is(err, datastore.ErrAlreadyExists) {
		return fmt.Errorf("creating profile %s: %w", name, err)
	}
	return nil
}

// undo removes what a failed ADD made: the veth, the endpoint if it got written, and the addresses.
func (p *plugin) undo(ctx context.Context, a attachment) error {
	p.log.Warn("Cleaning up after failed ADD", "hostVeth", a.hostVeth, "handle", a.handle)
	return errors.Join(p.giveBack(ctx, a, true)...)
}

// giveBack removes an attachment's traces, each step tried even if another fails: with ownsVeth the host veth and
// the pod's record of its addresses, the endpoint (etcd datastore; on the Kubernetes one the pod is the record),
// and always the handle's addresses.
func (p *plugin) giveBack(ctx context.Context, a attachment, ownsVeth bool) []error {
	var errs []error
	if ownsVeth {
		if err := removeHostVeth(a.hostVeth); err != nil {
			errs = append(errs, err)
		}
	}
	if !p.conf.KDD() {
		if err := p.deleteEndpoint(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	// The pod's record, if this ADD got as far as writing it.
	if ownsVeth && a.pod != nil {
		if err := p.clearPodAddresses(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.release(ctx, a.handle); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// release gives back a handle's addresses; a handle that holds none is not an error.
func (p *plugin) release(ctx context.Context, handle string) error {
	err := p.ipamLocked(ctx, func() error { return p.ipam.ReleaseByHandle(ctx, handle) })
	if errors.Is(err, datastore.ErrNotFound) {
		p.log.Info("Asked to release address but it doesn't exist. Ignoring", "handle", handle)
		return nil
	}
	if err != nil {
		return fmt.Errorf("releasing addresses of handle %s: %w", handle, err)
	}
	p.log.Info("Calico CNI released addresses", "handle", handle)
	return nil
}

// del removes the veth, the endpoint and the addresses. Each is tried even if another fails, and each being
// gone already is success.
func (p *plugin) del(ctx context.Context, args *skel.CmdArgs) error {
	if err := p.checkReady(ctx); err != nil {
		return err
	}
	a, err := p.attachment(args)
	if err != nil {
		return err
	}
	if p.conf.KDD() {
		return p.delKDD(ctx, a)
	}
	var errs []error
	stale, err := p.staleSandbox(ctx, a)
	switch {
	case err != nil:
		errs = append(errs, err)
	case stale:
		// The pod's endpoint and host veth (named after the pod, not the sandbox) are a newer sandbox's now: only
		// this sandbox's addresses are its to give back.
	default:
		if err := removeHostVeth(a.hostVeth); err != nil {
			errs = append(errs, err)
		}
		if err := p.deleteEndpoint(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.release(ctx, a.handle); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// staleSandbox reports whether a pod's endpoint belongs to another (newer) sandbox than the one being deleted.
func (p *plugin) staleSandbox(ctx context.Context, a attachment) (bool, error) {
	if a.pod == nil {
		return false, nil
	}
	r, err := p.ds.Get(ctx, endpointKind, a.namespace, a.endpoint)
	if errors.Is(err, datastore.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading endpoint %s/%s: %w", a.namespace, a.endpoint, err)
	}
	if wep := r.(*api.WorkloadEndpoint); !p.owns(a, wep) {
		p.log.Info("DEL of an old sandbox: the endpoint belongs to a newer one; leaving it and its veth",
			"endpoint", a.endpoint, "endpointContainerID", wep.Spec.ContainerID)
		return true, nil
	}
	return false, nil
}

// deleteEndpoint deletes the attachment's endpoint unless it belongs to another network or sandbox.
func (p *plugin) deleteEndpoint(ctx context.Context, a attachment) error {
	r, err := p.ds.Get(ctx, endpointKind, a.namespace, a.endpoint)
	if errors.Is(err, datastore.ErrNotFound) {
		p.log.Info("Endpoint object does not exist, no need to clean up.", "endpoint", a.endpoint)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading endpoint %s: %w", a.endpoint, err)
	}
	if !p.owns(a, r.(*api.WorkloadEndpoint)) {
		p.log.Warn("Endpoint belongs to another network or sandbox; leaving it", "endpoint", a.endpoint)
		return nil
	}
	_, err = p.ds.Delete(ctx, endpointKind, a.namespace, a.endpoint, r.GetObjectMeta().ResourceVersion)
	if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("deleting endpoint %s: %w", a.endpoint, err)
	}
	p.log.Info("Calico CNI deleted endpoint", "endpoint", a.endpoint)
	return nil
}

// check verifies that the endpoint exists, that its addresses are still assigned to the handle and match the
// previous result, and that the veth, addresses and routes are in place.
func (p *plugin) check(ctx context.Context, args *skel.CmdArgs) error {
	a, err := p.attachment(args)
	if err != nil {
		return err
	}
	if err := p.requirePod(a); err != nil {
		return err
	}
	if p.conf.KDD() {
		return p.checkKDD(ctx, a)
	}
	r, err := p.ds.Get(ctx, endpointKind, a.namespace, a.endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", a.endpoint, err)
	}
	wep := r.(*api.WorkloadEndpoint)
	if !p.owns(a, wep) {
		if a.pod != nil {
			return fmt.Errorf("endpoint %s/%s belongs to container %s, not %s", a.namespace, a.endpoint, wep.Spec.ContainerID, a.containerID)
		}
		return fmt.Errorf("endpoint %s does not belong to network %s (profiles %v)", a.endpoint, p.conf.Name, wep.Spec.Profiles)
	}
	if wep.Spec.InterfaceName != a.hostVeth {
		return fmt.Errorf("endpoint %s names host veth %s, expected %s", a.endpoint, wep.Spec.InterfaceName, a.hostVeth)
	}
	ips, err := parseNetworks(wep.Spec.IPNetworks)
	if err != nil {
		return fmt.Errorf("endpoint %s: %w", a.endpoint, err)
	}
	if err := p.checkPrevResult(ips); err != nil {
		return err
	}
	if err := p.checkHandle(ctx, a.handle, ips); err != nil {
		return err
	}
	return checkPodLink(podLink{Netns: a.netns, IfName: a.ifName, HostVeth: a.hostVeth, IPs: ips})
}

// checkPrevResult compares the runtime's cached result with the endpoint's addresses.
func (p *plugin) checkPrevResult(ips []net.IPNet) error {
	prev, err := p.conf.prevResult()
	if err != nil || prev == nil {
		return err
	}
	var got, want []string
	for _, c := range prev.IPs {
		got = append(got, c.Address.String())
	}
	for _, ip := range ips {
		want = append(want, ip.String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("prevResult has addresses [%s] but the endpoint has [%s]", strings.Join(got, " "), strings.Join(want, " "))
	}
	return nil
}

// checkHandle verifies that IPAM still holds every address for the handle.
func (p *plugin) checkHandle(ctx context.Context, handle string, ips []net.IPNet) error {
	held, err := p.ipam.IPsByHandle(ctx, handle)
	if errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("IPAM has no handle %s: its addresses were released", handle)
	}
	if err != nil {
		return fmt.Errorf("reading addresses of handle %s: %w", handle, err)
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(held, func(h net.IP) bool { return h.Equal(ip.IP) }) {
			return fmt.Errorf("address %s is not assigned to handle %s in IPAM", ip.IP, handle)
		}
	}
	return nil
}

// resultFromEndpoint is the ADD result for an endpoint: host veth, pod interface and its addresses. Building it
// from the stored endpoint is what makes a repeated ADD answer exactly like the first.
func resultFromEndpoint(wep *api.WorkloadEndpoint, netns string) (*current.Result, error) {
	ips, err := parseNetworks(wep.Spec.IPNetworks)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", wep.Name, err)
	}
	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: wep.Spec.InterfaceName, Mac: HostMAC},
			{Name: wep.Spec.Endpoint, Mac: wep.Spec.MAC, Sandbox: netns},
		},
	}
	for _, ip := range ips {
		res.IPs = append(res.IPs, &current.IPConfig{Interface: current.Int(1), Address: ip})
	}
	return res, nil
}

func parseNetworks(nets []string) ([]net.IPNet, error) {
	var out []net.IPNet
	for _, s := range nets {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("bad ipNetworks entry %q: %w", s, err)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, net.IPNet{IP: ip, Mask: n.Mask})
	}
	return out, nil
}

// singleAddresses turns assigned addresses into /32 and /128 networks, whatever mask IPAM gave them.
func singleAddresses(ips []net.IPNet) []net.IPNet {
	out := make([]net.IPNet, 0, len(ips))
	for _, n := range ips {
		if v4 := n.IP.To4(); v4 != nil {
			out = append(out, net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)})
		} else {
			out = append(out, net.IPNet{IP: n.IP, Mask: net.CIDRMask(128, 128)})
		}
	}
	return out
}

func ipList(ips []net.IPNet) string {
	s := make([]string, len(ips))
	for i, n := range ips {
		s[i] = n.IP.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// checkPodNetns refuses a path that is not a namespace, or is the plugin's own (skel checks the latter only after
// ADD has done its work).
func checkPodNetns(path string) error {
	if err := ns.IsNSorErr(path); err != nil {
		return &netnsError{path: path, err: err}
	}
	if same, err := cnins.CheckNetNS(path); err != nil {
		return &netnsError{path: path, err: err}
	} else if same {
		return &netnsError{path: path, err: errors.New("is the host's own network namespace, not a pod's")}
	}
	return nil
}

// netnsError is a namespace path that is not there or not a namespace.
type netnsError struct {
	path string
	err  error
}

func (e *netnsError) Error() string { return fmt.Sprintf("netns %s: %v", e.path, e.err) }
func (e *netnsError) Unwrap() error { return e.err }

// cniError turns an error into the JSON the runtime reads: config errors are code 7 and name the field, an
// unreachable datastore is code 11 (try again later), a missing namespace is code 8, the rest 999.
func cniError(err error) error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) {
		return te
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.CNIError()
	}
	var ne *netnsError
	switch {
	case errors.As(err, &ne):
		return types.NewError(types.ErrInvalidNetNS, err.Error(), "")
	case errors.Is(err, datastore.ErrUnreachable):
		return types.NewError(types.ErrTryAgainLater, err.Error(), "check the datastore (etcd_endpoints, or kubernetes.kubeconfig with datastore_type kubernetes) and that it is running")
	}
	return types.NewError(types.ErrInternal, err.Error(), "")
}

// prevResult decodes the cached ADD result the runtime passes on CHECK, or nil.
func (c *NetConf) prevResult() (*current.Result, error) {
	if c.RawPrevResult == nil {
		return nil, nil
	}
	conf := &types.NetConf{CNIVersion: c.CNIVersion, RawPrevResult: c.RawPrevResult}
	if err := version.ParsePrevResult(conf); err != nil {
		return nil, fmt.Errorf("decoding prevResult: %w", err)
	}
	res, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return nil, fmt.Errorf("converting prevResult: %w", err)
	}
	return res, nil
}

// linkExists reports whether a host interface exists.
func linkExists(name string) error {
	_, err := net.InterfaceByName(name)
	return err
}
