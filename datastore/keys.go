package datastore

import (
	"fmt"
	"strings"

	"github.com/calico-l3/calico/api"
)

// Key prefixes of Calico's etcd v3 layout.
const (
	ResourcePrefix = "/calico/resources/v3/projectcalico.org/"
	IPAMPrefix     = "/calico/ipam/v2/"
)

// ResourceKey is where a resource lives: /calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>.
func ResourceKey(k *api.Kind, namespace, name string) string {
	if k.Namespaced {
		return ResourcePrefix + k.Plural + "/" + namespace + "/" + name
	}
	return ResourcePrefix + k.Plural + "/" + name
}

// KindPrefix is the prefix of all resources of a kind, or of one namespace of a namespaced kind.
func KindPrefix(k *api.Kind, namespace string) string {
	if k.Namespaced && namespace != "" {
		return ResourcePrefix + k.Plural + "/" + namespace + "/"
	}
	return ResourcePrefix + k.Plural + "/"
}

// ParseResourceKey splits a resource key into kind, namespace and name.
func ParseResourceKey(key string) (k *api.Kind, namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(key, ResourcePrefix)
	if !found {
		return nil, "", "", false
	}
	parts := strings.Split(rest, "/")
	for _, kind := range api.Kinds {
		if kind.Plural != parts[0] {
			continue
		}
		switch {
		case kind.Namespaced && len(parts) == 3:
			return kind, parts[1], parts[2], true
		case !kind.Namespaced && len(parts) == 2:
			return kind, "", parts[1], true
		}
	}
	return nil, "", "", false
}

// DecodeResource turns a stored value into a resource whose resourceVersion is the key's mod revision.
func DecodeResource(key string, value []byte, modRevision int64) (api.Resource, error) {
	k, _, _, ok := ParseResourceKey(key)
	if !ok {
		return nil, fmt.Errorf("%s is not a resource key", key)
	}
	r := k.New()
	if err := unmarshal(value, r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	api.SetTypeMeta(r)
	r.GetObjectMeta().ResourceVersion = fmt.Sprint(modRevision)
	return r, nil
}
