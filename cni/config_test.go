package cni

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func noEnv(string) string { return "" }

func TestParseConfigAcceptsGoodConfigs(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		env      map[string]string
		check    func(*NetConf) string
		num4     int
		num6     int
		wantMTU  int
		wantEtcd string
	}{
		{
			name:     "the issue's example config gets IPv4 only and leaves the MTU to felix's file",
			conf:     `{"cniVersion":"0.3.1","name":"test-calico","type":"calico","etcd_endpoints":"http://127.0.0.1:2379","ipam":{"type":"calico-ipam"}}`,
			num4:     1,
			wantMTU:  0,
			wantEtcd: "http://127.0.0.1:2379",
		},
		{
			name:     "assign_ipv6 true and assign_ipv4 false as strings give one IPv6 address only",
			conf:     `{"name":"n","etcd_endpoints":"http://e:2379","mtu":1480,"ipam":{"type":"calico-ipam","assign_ipv4":"false","assign_ipv6":"true"}}`,
			num6:     1,
			wantMTU:  1480,
			wantEtcd: "http://e:2379",
		},
		{
			name:     "JSON booleans are taken as flags too",
			conf:     `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","assign_ipv6":true}}`,
			num4:     1,
			num6:     1,
			wantMTU:  0,
			wantEtcd: "http://e:2379",
		},
		{
			name:     "etcd endpoints come from ETCD_ENDPOINTS when the config has none",
			conf:     `{"name":"n","ipam":{"type":"calico-ipam","ipv4_pools":["10.1.0.0/16","pool2"]}}`,
			env:      map[string]string{"ETCD_ENDPOINTS": "https://10.0.0.1:2379"},
			num4:     1,
			wantMTU:  0,
			wantEtcd: "https://10.0.0.1:2379",
		},
		{
			name:     "policy type k8s and an empty kubernetes section are accepted",
			conf:     `{"name":"n","etcd_endpoints":"http://e:2379","policy":{"type":"k8s"},"kubernetes":{},"ipam":{"type":"calico-ipam"}}`,
			num4:     1,
			wantMTU:  0,
			wantEtcd: "http://e:2379",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.conf), func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("expected the config to parse, got %v", err)
			}
			if c.IPAM.Num4() != tt.num4 || c.IPAM.Num6() != tt.num6 {
				t.Errorf("expected %d IPv4 and %d IPv6 addresses, got %d and %d", tt.num4, tt.num6, c.IPAM.Num4(), c.IPAM.Num6())
			}
			if c.MTU != tt.wantMTU {
				t.Errorf("expected MTU %d, got %d", tt.wantMTU, c.MTU)
			}
			if got := c.EtcdConfig().Endpoints; len(got) != 1 || got[0] != tt.wantEtcd {
				t.Errorf("expected etcd endpoints [%s], got %v", tt.wantEtcd, got)
			}
			if c.NodenameFile != DefaultNodenameFile {
				t.Errorf("expected the default nodename file %s, got %q", DefaultNodenameFile, c.NodenameFile)
			}
			if c.IPAMLockFile != DefaultIPAMLockFile {
				t.Errorf("expected the default IPAM lock file %s, got %q", DefaultIPAMLockFile, c.IPAMLockFile)
			}
		})
	}
}

func TestParseConfigNamesTheBadField(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pem")
	const ipam = `"ipam":{"type":"calico-ipam"}`
	tests := []struct {
		name      string
		conf      string
		wantField string
	}{
		{"a network name with capitals cannot name a profile", `{"name":"Test","etcd_endpoints":"http://e:2379",` + ipam + `}`, "name"},
		{"a missing network name is refused", `{"etcd_endpoints":"http://e:2379",` + ipam + `}`, "name"},
		{"no etcd endpoints anywhere is refused", `{"name":"n",` + ipam + `}`, "etcd_endpoints"},
		{"an endpoint without a scheme is refused", `{"name":"n","etcd_endpoints":"127.0.0.1:2379",` + ipam + `}`, "etcd_endpoints"},
		{"a key file without a cert file is refused", `{"name":"n","etcd_endpoints":"http://e:2379","etcd_key_file":"/k",` + ipam + `}`, "etcd_key_file"},
		{"a CA file that does not exist is refused", `{"name":"n","etcd_endpoints":"http://e:2379","etcd_ca_cert_file":"` + missing + `",` + ipam + `}`, "etcd_ca_cert_file"},
		{"an MTU given as a string is refused", `{"name":"n","etcd_endpoints":"http://e:2379","mtu":"1500",` + ipam + `}`, "mtu"},
		{"an MTU above 65535 is refused", `{"name":"n","etcd_endpoints":"http://e:2379","mtu":70000,` + ipam + `}`, "mtu"},
		{"an MTU below 68 is refused", `{"name":"n","etcd_endpoints":"http://e:2379","mtu":67,` + ipam + `}`, "mtu"},
		{"a negative MTU is refused", `{"name":"n","etcd_endpoints":"http://e:2379","mtu":-1,` + ipam + `}`, "mtu"},
		{"an unknown log level is refused", `{"name":"n","etcd_endpoints":"http://e:2379","log_level":"loud",` + ipam + `}`, "log_level"},
		{"a relative log file path is refused", `{"name":"n","etcd_endpoints":"http://e:2379","log_file_path":"cni.log",` + ipam + `}`, "log_file_path"},
		{"a relative nodename file is refused", `{"name":"n","etcd_endpoints":"http://e:2379","nodename_file":"nodename",` + ipam + `}`, "nodename_file"},
		{"a relative IPAM lock file is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam_lock_file":"ipam.lock",` + ipam + `}`, "ipam_lock_file"},
		{"another IPAM type is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"host-local"}}`, "ipam.type"},
		{"a missing ipam section is refused", `{"name":"n","etcd_endpoints":"http://e:2379"}`, "ipam.type"},
		{"assign_ipv4 yes is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","assign_ipv4":"yes"}}`, "ipam.assign_ipv4"},
		{"assign_ipv6 as a number is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","assign_ipv6":1}}`, "ipam.assign_ipv6"},
		{"assigning nothing at all is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","assign_ipv4":"false"}}`, "ipam.assign_ipv4"},
		{"an IPv6 CIDR among the IPv4 pools is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","ipv4_pools":["fd00::/64"]}}`, "ipam.ipv4_pools[0]"},
		{"a malformed pool CIDR is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","ipv6_pools":["fd00::/64","fd00::/300"]}}`, "ipam.ipv6_pools[1]"},
		{"ipv4_pools as a string instead of a list is refused", `{"name":"n","etcd_endpoints":"http://e:2379","ipam":{"type":"calico-ipam","ipv4_pools":"10.0.0.0/8"}}`, "ipam.ipv4_pools"},
		{"a document that is not JSON is refused", `{"name":`, "(document)"},
		{"a policy type other than k8s is refused", `{"name":"n","etcd_endpoints":"http://e:2379","policy":{"type":"calico"},` + ipam + `}`, "policy.type"},
		{"a relative kubeconfig is refused", `{"name":"n","etcd_endpoints":"http://e:2379","kubernetes":{"kubeconfig":"kc"},` + ipam + `}`, "kubernetes.kubeconfig"},
		{"a kubeconfig that does not exist is refused", `{"name":"n","etcd_endpoints":"http://e:2379","kubernetes":{"kubeconfig":"` + missing + `"},` + ipam + `}`, "kubernetes.kubeconfig"},
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	kc := `"kubernetes":{"kubeconfig":"` + kubeconfig + `"}`
	tests = append(tests, []struct {
		name      string
		conf      string
		wantField string
	}{
		{"an unknown datastore type is refused", `{"name":"n","datastore_type":"consul","etcd_endpoints":"http://e:2379",` + ipam + `}`, "datastore_type"},
		{"the Kubernetes datastore without a kubeconfig is refused", `{"name":"n","datastore_type":"kubernetes",` + ipam + `}`, "kubernetes.kubeconfig"},
		{"the Kubernetes datastore with etcd endpoints is refused", `{"name":"n","datastore_type":"kubernetes","etcd_endpoints":"http://e:2379",` + kc + `,` + ipam + `}`, "etcd_endpoints"},
		{"the Kubernetes datastore with an etcd CA file is refused", `{"name":"n","datastore_type":"kubernetes","etcd_ca_cert_file":"/ca.pem",` + kc + `,` + ipam + `}`, "etcd_ca_cert_file"},
		{"the Kubernetes datastore with a missing kubeconfig is refused", `{"name":"n","datastore_type":"kubernetes","kubernetes":{"kubeconfig":"` + missing + `"},` + ipam + `}`, "kubernetes.kubeconfig"},
		{"the Kubernetes datastore with another policy type is refused", `{"name":"n","datastore_type":"kubernetes","policy":{"type":"calico"},` + kc + `,` + ipam + `}`, "policy.type"},
		{"the Kubernetes datastore still checks the ipam section", `{"name":"n","datastore_type":"kubernetes",` + kc + `,"ipam":{"type":"host-local"}}`, "ipam.type"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.conf), noEnv)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("expected a ConfigError for field %s, got %v", tt.wantField, err)
			}
			if ce.Field != tt.wantField {
				t.Errorf("expected the error to name field %s, got %s (%v)", tt.wantField, ce.Field, err)
			}
			cniErr := cniError(err).(*types.Error)
			if cniErr.Code != types.ErrInvalidNetworkConfig {
				t.Errorf("expected CNI error code %d, got %d", types.ErrInvalidNetworkConfig, cniErr.Code)
			}
			if !strings.Contains(cniErr.Msg, tt.wantField) {
				t.Errorf("expected the CNI error msg to name %s, got %q", tt.wantField, cniErr.Msg)
			}
		})
	}
}

func TestNodeNameResolution(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nodename")
	if err := os.WriteFile(file, []byte("node-from-file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostname := func() (string, error) { return "Host-A", nil }
	tests := []struct {
		name string
		conf NetConf
		want string
	}{
		{"the config's nodename wins over the file", NetConf{Nodename: "configured", NodenameFile: file}, "configured"},
		{"the nodename file is used when the config has no nodename", NetConf{NodenameFile: file}, "node-from-file"},
		{"the hostname, lower-cased, is used when the file is missing", NetConf{NodenameFile: filepath.Join(dir, "missing")}, "host-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conf.NodeName(hostname)
			if err != nil {
				t.Fatalf("expected a node name, got error %v", err)
			}
			if got != tt.want {
				t.Errorf("expected node name %q, got %q", tt.want, got)
			}
		})
	}
}

func TestParseConfigTakesMTUZeroAsFollowFelix(t *testing.T) {
	c, err := ParseConfig([]byte(`{"name":"n","etcd_endpoints":"http://e:2379","mtu":0,"ipam":{"type":"calico-ipam"}}`), noEnv)
	if err != nil {
		t.Fatalf("expected mtu 0 (what install-cni writes for veth_mtu \"0\") to parse, got %v", err)
	}
	if c.MTU != 0 || c.MTUFilePath() != "/var/lib/calico/mtu" {
		t.Errorf("expected MTU 0 and the MTU file /var/lib/calico/mtu, got %d and %s", c.MTU, c.MTUFilePath())
	}
}

func TestVethMTUResolution(t *testing.T) {
	const file = "/state/mtu"
	denied := errors.New("permission denied")
	tests := []struct {
		name       string
		configured int
		contents   string
		readErr    error // os.ErrNotExist: no file
		want       int
		wantErr    []string // all in the error
	}{
		{"the config's MTU wins over felix's file", 1400, "1450\n", nil, 1400, nil},
		{"the config's MTU is used when there is no file", 9000, "", os.ErrNotExist, 9000, nil},
		{"felix's file is used when the config has no MTU", 0, "1450\n", nil, 1450, nil},
		{"felix's file may lack the newline", 0, "1430", nil, 1430, nil},
		{"felix's file may carry surrounding whitespace", 0, " 8950\r\n", nil, 8950, nil},
		{"1500 is used with neither the config's MTU nor the file", 0, "", os.ErrNotExist, 1500, nil},
		{"a file that is not a number is an error naming the file and content", 0, "auto\n", nil, 0, []string{file, `"auto\n"`}},
		{"an empty file is an error", 0, "", nil, 0, []string{file, `""`}},
		{"a file below 68 is an error", 0, "67\n", nil, 0, []string{file, `"67\n"`, "68 to 65535"}},
		{"a file above 65535 is an error", 0, "65536\n", nil, 0, []string{file, `"65536\n"`}},
		{"a file with two numbers is an error", 0, "1450\n1480\n", nil, 0, []string{file, `"1450\n1480\n"`}},
		{"a file that cannot be read is an error, not the default", 0, "", denied, 0, []string{file, "permission denied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NetConf{MTU: tt.configured, NodenameFile: "/state/nodename"}
			var read []string
			got, err := c.VethMTU(func(path string) ([]byte, error) {
				read = append(read, path)
				if tt.readErr != nil {
					return nil, tt.readErr
				}
				return []byte(tt.contents), nil
			})
			if tt.configured != 0 && len(read) != 0 {
				t.Errorf("expected the configured MTU to leave the file unread, read %v", read)
			}
			if tt.configured == 0 && (len(read) != 1 || read[0] != file) {
				t.Errorf("expected %s, beside the nodename file, to be read once; read %v", file, read)
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("expected an error naming %q, got MTU %d", tt.wantErr, got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("expected the error to contain %q, got %v", w, err)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expected MTU %d, got %d (%v)", tt.want, got, err)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]string{"": "INFO", "debug": "DEBUG", "INFO": "INFO", "warning": "WARN", "warn": "WARN", "error": "ERROR"} {
		got, err := parseLevel(in)
		if err != nil || got.String() != want {
			t.Errorf("log_level %q: expected %s, got %s (%v)", in, want, got, err)
		}
	}
}

func TestParsePodArgs(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		want       *podArgs
		wantErr    string
	}{
		{"no args is a plain container", "", nil, ""},
		{"args without a pod are a plain container", "IgnoreUnknown=1;FOO=bar", nil, ""},
		{"kubelet's args name the pod", "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u",
			&podArgs{namespace: "prod", name: "web-1"}, ""},
		{"a pod name without a namespace is refused", "K8S_POD_NAME=web-1", nil, "must be given together"},
		{"args that are not key=value pairs are refused", "K8S_POD_NAME", nil, "CNI_ARGS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePodArgs(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tc.want == nil) || (got != nil && (got.namespace != tc.want.namespace || got.name != tc.want.name)) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseConfigDatastoreType(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	const ipam = `"ipam":{"type":"calico-ipam"}`
	for _, tc := range []struct {
		name, conf string
		env        map[string]string
		wantType   string
		wantKDD    bool
	}{
		{"no datastore_type is etcdv3", `{"name":"n","etcd_endpoints":"http://e:2379",` + ipam + `}`, nil, "etcdv3", false},
		{"etcdv3 spelled out", `{"name":"n","datastore_type":"etcdv3","etcd_endpoints":"http://e:2379",` + ipam + `}`, nil, "etcdv3", false},
		{"kubernetes with a kubeconfig and policy k8s", `{"name":"n","datastore_type":"kubernetes","policy":{"type":"k8s"},"kubernetes":{"kubeconfig":"` + kubeconfig + `"},` + ipam + `}`, nil, "kubernetes", true},
		{"kubernetes ignores ETCD_ENDPOINTS in the environment", `{"name":"n","datastore_type":"kubernetes","kubernetes":{"kubeconfig":"` + kubeconfig + `"},` + ipam + `}`,
			map[string]string{"ETCD_ENDPOINTS": "http://e:2379"}, "kubernetes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.conf), func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("expected the config to parse, got %v", err)
			}
			if c.DatastoreType != tc.wantType || c.KDD() != tc.wantKDD {
				t.Errorf("datastore type %q (KDD %v), want %q (%v)", c.DatastoreType, c.KDD(), tc.wantType, tc.wantKDD)
			}
			if tc.wantKDD && c.EtcdEndpoints != "" {
				t.Errorf("the Kubernetes datastore took etcd endpoints %q", c.EtcdEndpoints)
			}
		})
	}
}
