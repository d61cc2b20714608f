// Package kubeclient builds the Kubernetes API clients the CNI plugin, install-cni and the controllers use, from
// a kubeconfig file or the in-cluster service account.
package kubeclient

import (
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
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

// New is a clientset for a kubeconfig path (empty: in-cluster).
func New(kubeconfig string, timeout time.Duration) (*kubernetes.Clientset, error) {
	cfg, err := Config(kubeconfig, timeout)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building Kubernetes client: %w", err)
	}
	return cs, nil
}
