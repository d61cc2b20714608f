// Package kubeclient builds the REST config for the Kubernetes API server from a kubeconfig file or the in-cluster
// service account. Each program builds the client it needs on it: the controllers and calico-node client-go's
// full clientset, the CNI plugin and the Kubernetes datastore the small core/v1 client (k8s/coreclient), so that
// the CNI plugin, started once per pod, does not pay for the clientset's start-up.
package kubeclient

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config is the REST config for a kubeconfig path; an empty path means the in-cluster service account
// (KUBERNETES_SERVICE_HOST and the mounted token). timeout bounds each request (0: none).
func Config(kubeconfig string, timeout time.Duration) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig given and not running in a pod: %w", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
		}
	}
	cfg.Timeout = timeout
	return cfg, nil
}
