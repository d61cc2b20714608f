package installcni

import (
	"bytes"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestServerURL(t *testing.T) {
	cases := []struct{ proto, host, port, want string }{
		{"https", "10.96.0.1", "443", "https://10.96.0.1:443"},
		{"https", "fd00:10:96::1", "443", "https://[fd00:10:96::1]:443"},
		{"http", "api.example", "8080", "http://api.example:8080"},
	}
	for _, c := range cases {
		if got := ServerURL(c.proto, c.host, c.port); got != c.want {
			t.Errorf("ServerURL(%s, %s, %s) = %s, want %s", c.proto, c.host, c.port, got, c.want)
		}
	}
}

func TestKubeconfigIsWhatClientGoReads(t *testing.T) {
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	cases := []struct {
		name string
		p    KubeconfigParams
	}{
		{"with the service account CA", KubeconfigParams{Server: "https://[fd00::1]:6443", CAData: ca, Token: "abc.def"}},
		{"skipping verification", KubeconfigParams{Server: "https://10.96.0.1:443", SkipTLSVerify: true, Token: "abc.def"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Kubeconfig(c.p)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := clientcmd.RESTConfigFromKubeConfig(b)
			if err != nil {
				t.Fatalf("client-go cannot use it: %v\n%s", err, b)
			}
			if rc.Host != c.p.Server || rc.BearerToken != c.p.Token || !bytes.Equal(rc.CAData, c.p.CAData) || rc.Insecure != c.p.SkipTLSVerify {
				t.Errorf("client-go reads host %q token %q CA %q insecure %v; want %+v", rc.Host, rc.BearerToken, rc.CAData, rc.Insecure, c.p)
			}
			cfg, err := clientcmd.Load(b)
			if err != nil || cfg.CurrentContext != "calico-context" || cfg.Contexts["calico-context"].AuthInfo != "calico" || cfg.Contexts["calico-context"].Cluster != "local" {
				t.Errorf("want Calico's names (local, calico, calico-context), got %+v (%v)", cfg, err)
			}
		})
	}
}

func TestKubeconfigRefusesMissingParts(t *testing.T) {
	if _, err := Kubeconfig(KubeconfigParams{Server: "https://x:1"}); err == nil {
		t.Error("an empty token must be refused")
	}
	if _, err := Kubeconfig(KubeconfigParams{Token: "t"}); err == nil {
		t.Error("an empty server must be refused")
	}
}
