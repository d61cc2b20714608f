package installcni

import (
	"reflect"
	"strings"
	"testing"
)

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

const minimalConf = `{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"type":"calico"}]}`

func TestFromEnvDefaultsAreCalicos(t *testing.T) {
	c, err := FromEnv(envOf("CNI_NETWORK_CONFIG", minimalConf))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		HostNetDir:           "/etc/cni/net.d",
		KubeconfigPath:       "/etc/cni/net.d/calico-kubeconfig",
		NetDirMount:          "/host/etc/cni/net.d",
		BinDirMount:          "/host/opt/cni/bin",
		SecondaryBinDirMount: "/host/secondary-bin-dir",
		BinSourceDir:         "/opt/cni/bin",
		ServiceAccountDir:    "/var/run/secrets/kubernetes.io/serviceaccount",
		KubeCAFile:           "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
		TLSAssetsDir:         "/calico-secrets",
		TLSSources: map[string]string{
			"etcd-key": "/calico-secrets/etcd-key", "etcd-cert": "/calico-secrets/etcd-cert", "etcd-ca": "/calico-secrets/etcd-ca",
		},
		NodenameFile:    "/var/lib/calico/nodename",
		NetworkConfig:   minimalConf,
		OldConfName:     "10-calico.conf",
		UpdateBinaries:  true,
		Sleep:           true,
		ServiceProtocol: "https",
		MTU:             1500,
		LogLevel:        "info",
		DatastoreType:   "etcdv3",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestFromEnvReadsEachVariable(t *testing.T) {
	c, err := FromEnv(envOf(
		"CNI_NETWORK_CONFIG", minimalConf,
		"CNI_NET_DIR", "/etc/kubernetes/cni/net.d",
		"TLS_ASSETS_DIR", "/secrets",
		"ETCD_CA_CERT_FILE", "/elsewhere/ca.pem",
		"SKIP_CNI_BINARIES", " calico-ipam, ,portmap",
		"UPDATE_CNI_BINARIES", "false",
		"SLEEP", "false",
		"CNI_MTU", "1440",
		"KUBERNETES_SERVICE_PORT", "6443",
		"CNI_CONF_NAME", "10-calico.conflist",
	))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"kubeconfig path follows CNI_NET_DIR", c.KubeconfigPath, "/etc/kubernetes/cni/net.d/calico-kubeconfig"},
		{"the key comes from TLS_ASSETS_DIR", c.TLSSources["etcd-key"], "/secrets/etcd-key"},
		{"ETCD_CA_CERT_FILE overrides the CA's source", c.TLSSources["etcd-ca"], "/elsewhere/ca.pem"},
		{"the skip list is trimmed", c.SkipBinaries, []string{"calico-ipam", "portmap"}},
		{"UPDATE_CNI_BINARIES", c.UpdateBinaries, false},
		{"SLEEP", c.Sleep, false},
		{"CNI_MTU", c.MTU, 1440},
		{"CNI_CONF_NAME", c.ConfName, "10-calico.conflist"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
}

func TestFromEnvTakesMTUZeroAsFollowFelix(t *testing.T) {
	c, err := FromEnv(envOf("CNI_NETWORK_CONFIG", minimalConf, "CNI_MTU", "0"))
	if err != nil || c.MTU != 0 {
		t.Errorf("expected CNI_MTU 0 (the manifests' veth_mtu) to give MTU 0, got %d (%v)", c.MTU, err)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"SLEEP that is not a boolean", []string{"SLEEP", "maybe"}, `SLEEP: "maybe" is not a boolean`},
		{"UPDATE_CNI_BINARIES that is not a boolean", []string{"UPDATE_CNI_BINARIES", "sometimes"}, `UPDATE_CNI_BINARIES: "sometimes" is not a boolean`},
		{"SKIP_TLS_VERIFY that is not a boolean", []string{"SKIP_TLS_VERIFY", "nah"}, `SKIP_TLS_VERIFY: "nah" is not a boolean`},
		{"an MTU that is not a number", []string{"CNI_MTU", "big"}, `CNI_MTU: "big" is not an MTU`},
		{"an MTU too small", []string{"CNI_MTU", "10"}, `CNI_MTU: "10" is not an MTU`},
		{"a negative MTU", []string{"CNI_MTU", "-1"}, `CNI_MTU: "-1" is not an MTU`},
		{"an MTU too large", []string{"CNI_MTU", "65536"}, `CNI_MTU: "65536" is not an MTU`},
		{"an unknown log level", []string{"LOG_LEVEL", "chatty"}, `LOG_LEVEL: "chatty"`},
		{"a conf name the runtime ignores", []string{"CNI_CONF_NAME", "10-calico.yaml"}, `CNI_CONF_NAME: "10-calico.yaml" must end in .conflist, .conf or .json`},
		{"a conf name that is a path", []string{"CNI_CONF_NAME", "../10-calico.conf"}, `CNI_CONF_NAME: "../10-calico.conf" must be a file name`},
		{"a port that is not a number", []string{"KUBERNETES_SERVICE_PORT", "https"}, `KUBERNETES_SERVICE_PORT: "https" is not a port number`},
		{"a protocol that is not http(s)", []string{"KUBERNETES_SERVICE_PROTOCOL", "ftp"}, `KUBERNETES_SERVICE_PROTOCOL: "ftp"`},
		{"a relative host net dir", []string{"CNI_NET_DIR", "etc/cni"}, `CNI_NET_DIR: "etc/cni" must be an absolute path`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromEnv(envOf(append([]string{"CNI_NETWORK_CONFIG", minimalConf}, c.env...)...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	t.Run("no network config at all", func(t *testing.T) {
		_, err := FromEnv(envOf())
		if err == nil || !strings.Contains(err.Error(), "CNI_NETWORK_CONFIG is not set") {
			t.Errorf("got %v, want CNI_NETWORK_CONFIG is not set", err)
		}
	})
}

func TestEnvVarsIsWhatFromEnvReads(t *testing.T) {
	read := map[string]bool{}
	_, err := FromEnv(func(k string) string {
		read[k] = true
		if k == "CNI_NETWORK_CONFIG" {
			return minimalConf
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range EnvVars {
		if !read[v] {
			t.Errorf("EnvVars lists %s, which FromEnv does not read", v)
		}
		delete(read, v)
	}
	for v := range read {
		t.Errorf("FromEnv reads %s, which EnvVars does not list", v)
	}
}
