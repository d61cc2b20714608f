package kdd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/ipam"
)

// IPAMStore keeps IPAM's keys as Calico's IPAM custom resources: a block as an IPAMBlock, a host's affinity as
// a BlockAffinity, a handle as an IPAMHandle, the configuration as IPAMConfig "default"; IPPools and Nodes are
// read as the datastore serves them.
//
// The API server has no multi-object transaction. A commit writes its objects one at a time, each
// compare-and-swap on the version the allocator read, the block first: the block is what two allocators race
// for (an address, or a new block's name), so a commit that loses the race loses it on its first write and
// writes nothing. What follows the block belongs to its winner (the winner's affinity, its handle), so later
// writes do not meet rivals; if one fails anyway (a timeout, a crash) the commit is reported as an error and the
// block and handle may disagree until `calicoctl ipam check` or the garbage collector sees it. Guards on objects
// the commit does not write are checked by reading them just before the first write.
func (c *Client) IPAMStore() ipam.Store { return ipamStore{c} }

type ipamStore struct{ c *Client }

var (
	blocksGVR     = crdGVR("ipamblocks")
	affinitiesGVR = crdGVR("blockaffinities")
	handlesGVR    = crdGVR("ipamhandles")
	configsGVR    = crdGVR("ipamconfigs")
)

// class is one kind of IPAM key: where its keys live, and how a key and its value map to an object.
type class struct {
	root string
	list func(ctx context.Context, s ipamStore) ([]ipam.KV, error)
	get  func(ctx context.Context, s ipamStore, key string) (*ipam.KV, error)
}

func (s ipamStore) classes() []class {
	return []class{
		{root: ipam.Prefix + "assignment/", list: customList(blocksGVR, blockKV), get: customGet(blocksGVR, blockName, blockKV)},
		{root: ipam.Prefix + "host/", list: customList(affinitiesGVR, affinityKV), get: customGet(affinitiesGVR, affinityName, affinityKV)},
		{root: ipam.Prefix + "handle/", list: customList(handlesGVR, handleKV), get: customGet(handlesGVR, handleName, handleKV)},
		{root: ipam.ConfigKey, list: customList(configsGVR, configKV), get: customGet(configsGVR, configName, configKV)},
		{root: datastore.KindPrefix(api.KindOf(&api.IPPool{}), ""), list: resourceList(api.KindOf(&api.IPPool{})),
			get: resourceGet(api.KindOf(&api.IPPool{}))},
		{root: datastore.KindPrefix(api.KindOf(&api.Node{}), ""), list: resourceList(api.KindOf(&api.Node{})),
			get: resourceGet(api.KindOf(&api.Node{}))},
	}
}

func (s ipamStore) classOf(key string) (class, bool) {
	for _, cl := range s.classes() {
		if strings.HasPrefix(key, cl.root) {
			return cl, true
		}
	}
	return class{}, false
}

// Read runs each get on its own: the API server gives no view of several objects at one version. Each value
// carries its own version, which is what commits are guarded on.
func (s ipamStore) Read(ctx context.Context, gets ...ipam.Get) ([][]ipam.KV, error) {
	out := make([][]ipam.KV, len(gets))
	for i, g := range gets {
		if !g.Prefix {
			cl, ok := s.classOf(g.Key)
			if !ok {
				return nil, fmt.Errorf("reading IPAM state: the Kubernetes datastore has no key %s", g.Key)
			}
			kv, err := cl.get(ctx, s, g.Key)
			if err != nil {
				return nil, fmt.Errorf("reading IPAM state: %w", err)
			}
			if kv != nil {
				out[i] = []ipam.KV{*kv}
			}
			continue
		}
		for _, cl := range s.classes() {
			if !strings.HasPrefix(cl.root, g.Key) && !strings.HasPrefix(g.Key, cl.root) {
				continue
			}
			kvs, err := cl.list(ctx, s)
			if err != nil {
				return nil, fmt.Errorf("reading IPAM state: %w", err)
			}
			for _, kv := range kvs {
				if strings.HasPrefix(kv.Key, g.Key) {
					out[i] = append(out[i], kv)
				}
			}
		}
		slices.SortFunc(out[i], func(a, b ipam.KV) int { return strings.Compare(a.Key, b.Key) })
	}
	return out, nil
}

// Commit checks the guards of objects it does not write, then writes the blocks, the affinities, the handles
// and the configuration in that order, each compare-and-swap on its guard.
func (s ipamStore) Commit(ctx context.Context, guards []ipam.Guard, ops []ipam.Op) (bool, error) {
	expected := map[string]int64{}
	written := map[string]bool{}
	for _, o := range ops {
		written[o.Key] = true
	}
	for _, g := range guards {
		if g.NoneUnder {
			res, err := s.Read(ctx, ipam.Get{Key: g.Key, Prefix: true, KeysOnly: true})
			if err != nil {
				return false, err
			}
			if len(res[0]) > 0 {
				return false, nil
			}
			continue
		}
		expected[g.Key] = g.Rev
		if written[g.Key] {
			continue // the write itself is the compare-and-swap
		}
		res, err := s.Read(ctx, ipam.Get{Key: g.Key})
		if err != nil {
			return false, err
		}
		var rev int64
		if len(res[0]) > 0 {
			rev = res[0][0].ModRevision
		}
		if rev != g.Rev {
			return false, nil
		}
	}
	order := []string{ipam.Prefix + "assignment/", ipam.Prefix + "host/", ipam.Prefix + "handle/", ipam.ConfigKey}
	rank := func(key string) int {
		for i, r := range order {
			if strings.HasPrefix(key, r) {
				return i
			}
		}
		return len(order)
	}
	sorted := slices.Clone(ops)
	slices.SortStableFunc(sorted, func(a, b ipam.Op) int { return rank(a.Key) - rank(b.Key) })
	for i, o := range sorted {
		rev, guarded := expected[o.Key]
		err := s.write(ctx, o, rev, guarded)
		if err == nil {
			continue
		}
		lost := errors.Is(err, datastore.ErrConflict) || errors.Is(err, datastore.ErrAlreadyExists) || errors.Is(err, datastore.ErrNotFound)
		if i == 0 && lost {
			return false, nil
		}
		if i == 0 {
			return false, err
		}
		return false, fmt.Errorf("IPAM change applied in part (%d of %d writes; run calicoctl ipam check): %w", i, len(sorted), err)
	}
	return true, nil
}

// write applies one op: a guarded put is a create (version 0) or an update at that version; an unguarded one
// replaces whatever is there; a delete is conditional on the guard's version when there is one.
func (s ipamStore) write(ctx context.Context, o ipam.Op, rev int64, guarded bool) error {
	gvr, name, err := objectOf(o.Key)
	if err != nil {
		return err
	}
	ri := s.c.dyn.Resource(gvr)
	ctx, cancel := s.c.ctx(ctx)
	defer cancel()
	what := gvr.Resource + "/" + name
	if o.Delete {
		opts := metav1.DeleteOptions{}
		if guarded {
			v := strconv.FormatInt(rev, 10)
			opts.Preconditions = &metav1.Preconditions{ResourceVersion: &v}
		}
		err := ri.Delete(ctx, name, opts)
		if apierrors.IsNotFound(err) && !guarded {
			return nil
		}
		return classifyIPAM(err, "deleting", what)
	}
	spec, err := specOf(o.Key, o.Value)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/v1", "kind": kindOf(gvr.Resource),
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
	switch {
	case guarded && rev == 0:
		_, err = ri.Create(ctx, u, metav1.CreateOptions{})
		return classifyIPAM(err, "creating", what)
	case guarded:
		u.SetResourceVersion(strconv.FormatInt(rev, 10))
		_, err = ri.Update(ctx, u, metav1.UpdateOptions{})
		return classifyIPAM(err, "updating", what)
	}
	cur, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = ri.Create(ctx, u, metav1.CreateOptions{})
		return classifyIPAM(err, "creating", what)
	}
	if err != nil {
		return classifyIPAM(err, "reading", what)
	}
	u.SetResourceVersion(cur.GetResourceVersion())
	_, err = ri.Update(ctx, u, metav1.UpdateOptions{})
	return classifyIPAM(err, "updating", what)
}

func classifyIPAM(err error, op, what string) error {
	if err == nil {
		return nil
	}
	return classify(err, op, what)
}

func kindOf(resource string) string {
	return map[string]string{"ipamblocks": "IPAMBlock", "blockaffinities": "BlockAffinity", "ipamhandles": "IPAMHandle",
		"ipamconfigs": "IPAMConfig"}[resource]
}

// Object names, as Calico's Kubernetes datastore names them: a CIDR with '.', ':' and '/' turned into '-';
// an affinity is "<host>-<cidr>"; a handle keeps its ID, which must then be a valid object name.
func dashed(p netip.Prefix) string {
	return strings.NewReplacer(".", "-", ":", "-", "/", "-").Replace(p.String())
}

func blockName(key string) (string, error) {
	cidr, ok := ipam.ParseBlockKey(key)
	if !ok {
		return "", fmt.Errorf("%s is not a block key", key)
	}
	return dashed(cidr), nil
}

func affinityName(key string) (string, error) {
	host, cidr, ok := ipam.ParseAffinityKey(key)
	if !ok {
		return "", fmt.Errorf("%s is not an affinity key", key)
	}
	return host + "-" + dashed(cidr), nil
}

func handleName(key string) (string, error) {
	id, ok := ipam.ParseHandleKey(key)
	if !ok {
		return "", fmt.Errorf("%s is not a handle key", key)
	}
	if id != strings.ToLower(id) || strings.ContainsAny(id, "_/ ") || len(id) > 253 {
		return "", fmt.Errorf("handle %q cannot be an IPAMHandle name (lower case letters, digits, '-' and '.')", id)
	}
	return id, nil
}

func configName(string) (string, error) { return "default", nil }

// objectOf is the custom resource and object name of an IPAM key.
func objectOf(key string) (gvr schema.GroupVersionResource, name string, err error) {
	switch {
	case strings.HasPrefix(key, ipam.Prefix+"assignment/"):
		name, err = blockName(key)
		return blocksGVR, name, err
	case strings.HasPrefix(key, ipam.Prefix+"host/"):
		name, err = affinityName(key)
		return affinitiesGVR, name, err
	case strings.HasPrefix(key, ipam.Prefix+"handle/"):
		name, err = handleName(key)
		return handlesGVR, name, err
	case key == ipam.ConfigKey:
		return configsGVR, "default", nil
	}
	return schema.GroupVersionResource{}, "", fmt.Errorf("the Kubernetes datastore does not write %s through IPAM", key)
}

// specOf is the spec of the object behind key holding value (the etcd layout's JSON).
func specOf(key string, value []byte) (map[string]any, error) {
	var v map[string]any
	if err := json.Unmarshal(value, &v); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", key, err)
	}
	switch {
	case strings.HasPrefix(key, ipam.Prefix+"assignment/"):
		delete(v, "hostAffinity")
		return v, nil
	case strings.HasPrefix(key, ipam.Prefix+"host/"):
		host, cidr, _ := ipam.ParseAffinityKey(key)
		return map[string]any{"state": v["state"], "node": host, "cidr": cidr.String(), "deleted": "false"}, nil
	case strings.HasPrefix(key, ipam.Prefix+"handle/"):
		id, _ := ipam.ParseHandleKey(key)
		block := v["block"]
		if block == nil {
			block = map[string]any{}
		}
		return map[string]any{"handleID": id, "block": block}, nil
	case key == ipam.ConfigKey:
		return map[string]any{"strictAffinity": v["strict_affinity"] == true, "autoAllocateBlocks": v["auto_allocate_blocks"] == true}, nil
	}
	return nil, fmt.Errorf("the Kubernetes datastore does not write %s through IPAM", key)
}

// The reverse: an object's key and value in the etcd layout.

func blockKV(u *unstructured.Unstructured) (ipam.KV, error) {
	spec, _ := u.Object["spec"].(map[string]any)
	cidr, err := netip.ParsePrefix(fmt.Sprint(spec["cidr"]))
	if err != nil {
		return ipam.KV{}, fmt.Errorf("IPAMBlock %s: spec.cidr: %w", u.GetName(), err)
	}
	return kvOf(ipam.BlockKey(cidr), spec, u)
}

func affinityKV(u *unstructured.Unstructured) (ipam.KV, error) {
	spec, _ := u.Object["spec"].(map[string]any)
	cidr, err := netip.ParsePrefix(fmt.Sprint(spec["cidr"]))
	node, _ := spec["node"].(string)
	if err != nil || node == "" {
		return ipam.KV{}, fmt.Errorf("BlockAffinity %s: spec.node %q, spec.cidr %v", u.GetName(), node, spec["cidr"])
	}
	return kvOf(ipam.AffinityKey(node, cidr), map[string]any{"state": spec["state"]}, u)
}

func handleKV(u *unstructured.Unstructured) (ipam.KV, error) {
	spec, _ := u.Object["spec"].(map[string]any)
	id, _ := spec["handleID"].(string)
	if id == "" {
		id = u.GetName()
	}
	return kvOf(ipam.HandleKey(id), map[string]any{"block": spec["block"]}, u)
}

func configKV(u *unstructured.Unstructured) (ipam.KV, error) {
	spec, _ := u.Object["spec"].(map[string]any)
	return kvOf(ipam.ConfigKey, map[string]any{"strict_affinity": spec["strictAffinity"], "auto_allocate_blocks": spec["autoAllocateBlocks"]}, u)
}

func kvOf(key string, value any, u *unstructured.Unstructured) (ipam.KV, error) {
	b, err := json.Marshal(value)
	return ipam.KV{Key: key, Value: b, ModRevision: revision(u.GetResourceVersion())}, err
}

func customList(gvr schema.GroupVersionResource, conv func(*unstructured.Unstructured) (ipam.KV, error)) func(context.Context, ipamStore) ([]ipam.KV, error) {
	return func(ctx context.Context, s ipamStore) ([]ipam.KV, error) {
		ctx, cancel := s.c.ctx(ctx)
		defer cancel()
		list, err := s.c.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, classify(err, "listing", gvr.Resource)
		}
		out := make([]ipam.KV, 0, len(list.Items))
		for i := range list.Items {
			kv, err := conv(&list.Items[i])
			if err != nil {
				return nil, err
			}
			out = append(out, kv)
		}
		return out, nil
	}
}

func customGet(gvr schema.GroupVersionResource, name func(string) (string, error), conv func(*unstructured.Unstructured) (ipam.KV, error)) func(context.Context, ipamStore, string) (*ipam.KV, error) {
	return func(ctx context.Context, s ipamStore, key string) (*ipam.KV, error) {
		n, err := name(key)
		if err != nil {
			return nil, err
		}
		ctx, cancel := s.c.ctx(ctx)
		defer cancel()
		u, err := s.c.dyn.Resource(gvr).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && !isMissingType(err) {
			return nil, nil
		}
		if err != nil {
			return nil, classify(err, "reading", gvr.Resource+"/"+n)
		}
		kv, err := conv(u)
		if err != nil {
			return nil, err
		}
		kv.Key = key // the key asked for, whatever the object says
		return &kv, nil
	}
}

func resourceList(k *api.Kind) func(context.Context, ipamStore) ([]ipam.KV, error) {
	return func(ctx context.Context, s ipamStore) ([]ipam.KV, error) {
		all, _, err := s.c.List(ctx, k, "")
		if err != nil {
			return nil, err
		}
		out := make([]ipam.KV, 0, len(all))
		for _, r := range all {
			e, err := resourceEntry(r)
			if err != nil {
				return nil, err
			}
			out = append(out, ipam.KV{Key: e.Key, Value: e.Value, ModRevision: revision(r.GetObjectMeta().ResourceVersion)})
		}
		return out, nil
	}
}

func resourceGet(k *api.Kind) func(context.Context, ipamStore, string) (*ipam.KV, error) {
	return func(ctx context.Context, s ipamStore, key string) (*ipam.KV, error) {
		_, ns, name, ok := datastore.ParseResourceKey(key)
		if !ok {
			return nil, fmt.Errorf("%s is not a resource key", key)
		}
		r, err := s.c.Get(ctx, k, ns, name)
		if errors.Is(err, datastore.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		e, err := resourceEntry(r)
		if err != nil {
			return nil, err
		}
		return &ipam.KV{Key: e.Key, Value: e.Value, ModRevision: revision(r.GetObjectMeta().ResourceVersion)}, nil
	}
}
