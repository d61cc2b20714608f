// Package api holds the projectcalico.org/v3 resource types that users write in manifests and that the datastore
// stores: their field names, defaults and validation. It is pure: no I/O, no datastore access.
package api

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// Group is the apiVersion of every resource.
const Group = "projectcalico.org/v3"

// TypeMeta carries the kind and apiVersion of a resource.
type TypeMeta struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// GetTypeMeta gives access to the kind and apiVersion.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the metadata every resource has.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	UID               string            `json:"uid,omitempty"`
	CreationTimestamp string            `json:"creationTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	// Unmodeled holds what the stored or written object has beyond this project's types (see Unmarshal).
	Unmodeled *Unmodeled `json:"-"`
}

// GetObjectMeta gives access to the metadata.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// Resource is any projectcalico.org/v3 resource.
type Resource interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
	// Default fills unset fields with their projectcalico.org/v3 defaults.
	Default()
	// Validate checks the resource on its own (cross-resource checks such as pool overlap live elsewhere).
	Validate() error
}

// Kind describes one resource kind: its names and where it lives.
type Kind struct {
	Name       string // "IPPool"
	Plural     string // "ippools", the datastore key segment
	Namespaced bool
	aliases    []string
	new        func() Resource
}

// New returns an empty resource of this kind with its TypeMeta set.
func (k *Kind) New() Resource {
	r := k.new()
	*r.GetTypeMeta() = TypeMeta{Kind: k.Name, APIVersion: Group}
	return r
}

// Kinds lists every kind in a stable order.
var Kinds = []*Kind{
	{Name: "BGPConfiguration", Plural: "bgpconfigurations", aliases: []string{"bgpconfig", "bgpconfigs"}, new: func() Resource { return &BGPConfiguration{} }},
	{Name: "BGPFilter", Plural: "bgpfilters", aliases: []string{"bgpf"}, new: func() Resource { return &BGPFilter{} }},
	{Name: "BGPPeer", Plural: "bgppeers", aliases: []string{"bgpp", "bp"}, new: func() Resource { return &BGPPeer{} }},
	{Name: "ClusterInformation", Plural: "clusterinformations", aliases: []string{"clusterinfo", "clusterinfos"}, new: func() Resource { return &ClusterInformation{} }},
	{Name: "FelixConfiguration", Plural: "felixconfigurations", aliases: []string{"felixconfig", "felixconfigs"}, new: func() Resource { return &FelixConfiguration{} }},
	{Name: "GlobalNetworkPolicy", Plural: "globalnetworkpolicies", aliases: []string{"gnp"}, new: func() Resource { return &GlobalNetworkPolicy{} }},
	{Name: "GlobalNetworkSet", Plural: "globalnetworksets", aliases: []string{"gns"}, new: func() Resource { return &GlobalNetworkSet{} }},
	{Name: "HostEndpoint", Plural: "hostendpoints", aliases: []string{"hep"}, new: func() Resource { return &HostEndpoint{} }},
	{Name: "IPPool", Plural: "ippools", aliases: []string{"ipp", "pool", "pools"}, new: func() Resource { return &IPPool{} }},
	{Name: "NetworkPolicy", Plural: "networkpolicies", Namespaced: true, aliases: []string{"policy", "policies", "np", "pol"}, new: func() Resource { return &NetworkPolicy{} }},
	{Name: "Node", Plural: "nodes", aliases: []string{"no"}, new: func() Resource { return &Node{} }},
	{Name: "Profile", Plural: "profiles", aliases: []string{"pro", "pros"}, new: func() Resource { return &Profile{} }},
	{Name: "Tier", Plural: "tiers", new: func() Resource { return &Tier{} }},
	{Name: "WorkloadEndpoint", Plural: "workloadendpoints", Namespaced: true, aliases: []string{"wep", "weps"}, new: func() Resource { return &WorkloadEndpoint{} }},
}

// LookupKind finds a kind by its name, plural or short alias, case-insensitively ("ippool", "IPPools", "pool").
func LookupKind(name string) (*Kind, error) {
	n := strings.ToLower(name)
	for _, k := range Kinds {
		if n == strings.ToLower(k.Name) || n == k.Plural {
			return k, nil
		}
		for _, a := range k.aliases {
			if n == a {
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("resource type '%s' is not supported", name)
}

// KindOf returns the kind of a resource from its Go type.
func KindOf(r Resource) *Kind {
	if k := kindsByType()[reflect.TypeOf(r)]; k != nil {
		return k
	}
	panic(fmt.Sprintf("api: %T is not a registered kind", r))
}

// kindsByType maps each kind's Go type to the kind, built once: KindOf is on the path of every write.
var kindsByType = sync.OnceValue(func() map[reflect.Type]*Kind {
	m := make(map[reflect.Type]*Kind, len(Kinds))
	for _, k := range Kinds {
		m[reflect.TypeOf(k.new())] = k
	}
	return m
})

// SetTypeMeta fills kind and apiVersion from the Go type of r and returns r.
func SetTypeMeta[R Resource](r R) R {
	*r.GetTypeMeta() = TypeMeta{Kind: KindOf(r).Name, APIVersion: Group}
	return r
}

// ID names a resource in messages the way Calico does: IPPool(pool1), WorkloadEndpoint(ns/name).
func ID(r Resource) string {
	m := r.GetObjectMeta()
	if m.Namespace != "" {
		return fmt.Sprintf("%s(%s/%s)", KindOf(r).Name, m.Namespace, m.Name)
	}
	return fmt.Sprintf("%s(%s)", KindOf(r).Name, m.Name)
}

// sortedKeys returns the keys of a map in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
