// Package connect opens the datastore DATASTORE_TYPE names, for every component alike: etcd (etcdv3, the
// default; the ETCD_* variables) or the Kubernetes API server (kubernetes; KUBECONFIG, or the pod's service
// account), together with the store IPAM keeps its state in on that datastore.
package connect

import (
	"fmt"
	"time"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/kdd"
	"github.com/calico-l3/calico/ipam"
	"github.com/calico-l3/calico/k8s/kubeclient"
)

// Datastore types, as DATASTORE_TYPE spells them.
const (
	Etcd       = "etcdv3"
	Kubernetes = "kubernetes"
)

// Datastore is an open datastore and its IPAM.
type Datastore struct {
	datastore.Client
	Type string
	IPAM *ipam.IPAM
	// Etcd is the etcd client when Type is etcdv3, for the few callers that need etcd itself.
	Etcd  *datastore.Etcd
	close func() error
}

// Close releases the connection.
func (d *Datastore) Close() error {
	if d.close == nil {
		return nil
	}
	return d.close()
}

// FromEnv opens the datastore the environment names.
func FromEnv(getenv func(string) string) (*Datastore, error) {
	switch t := getenv("DATASTORE_TYPE"); t {
	case "", Etcd:
		cfg, err := datastore.ConfigFromLookup(getenv)
		if err != nil {
			return nil, err
		}
		return OpenEtcd(cfg)
	case Kubernetes:
		return OpenKubernetes(getenv("KUBECONFIG"), 0)
	default:
		return nil, fmt.Errorf("DATASTORE_TYPE: %q is not a datastore type (etcdv3 or kubernetes)", t)
	}
}

// OpenEtcd connects to etcd.
func OpenEtcd(cfg datastore.Config) (*Datastore, error) {
	ds, err := datastore.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the datastore: %w", err)
	}
	return &Datastore{Client: ds, Type: Etcd, IPAM: ipam.New(ds), Etcd: ds, close: ds.Close}, nil
}

// OpenKubernetes connects to the API server a kubeconfig names ("": the pod's service account); timeout bounds
// each request (0: the datastore's default).
func OpenKubernetes(kubeconfig string, timeout time.Duration) (*Datastore, error) {
	cfg, err := kubeclient.Config(kubeconfig, 0)
	if err != nil {
		return nil, fmt.Errorf("KUBECONFIG: %w", err)
	}
	c, err := kdd.New(cfg, timeout)
	if err != nil {
		return nil, err
	}
	return &Datastore{Client: c, Type: Kubernetes, IPAM: ipam.NewWithStore(c.IPAMStore())}, nil
}
