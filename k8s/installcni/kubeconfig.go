package installcni

import (
	"errors"
	"fmt"
	"net"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigParams are what calico-kubeconfig holds: the API server and the calico-node service account's
// credentials, for the CNI plugin on the host.
type KubeconfigParams struct {
	Server        string // https://host:port
	CAData        []byte // PEM; empty: the system's roots (or SkipTLSVerify)
	SkipTLSVerify bool
	Token         string
}

// ServerURL is the API server's URL from KUBERNETES_SERVICE_PROTOCOL/HOST/PORT, an IPv6 host in brackets.
func ServerURL(protocol, host, port string) string {
	return protocol + "://" + net.JoinHostPort(host, port)
}

// Kubeconfig is the calico-kubeconfig file, with Calico's names for the cluster (local), user (calico) and
// context (calico-context).
func Kubeconfig(p KubeconfigParams) ([]byte, error) {
	if p.Server == "" {
		return nil, errors.New("kubeconfig: no API server address")
	}
	if p.Token == "" {
		return nil, errors.New("kubeconfig: the service account token is empty")
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{
		Server:                   p.Server,
		CertificateAuthorityData: p.CAData,
		InsecureSkipTLSVerify:    p.SkipTLSVerify,
	}
	cfg.AuthInfos["calico"] = &clientcmdapi.AuthInfo{Token: p.Token}
	cfg.Contexts["calico-context"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "calico"}
	cfg.CurrentContext = "calico-context"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return append([]byte("# Kubeconfig file for the Calico CNI plugin, written by calico-node -install-cni.\n"), b...), nil
}
