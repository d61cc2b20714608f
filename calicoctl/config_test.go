package calicoctl

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/datastore"
)

const fileConfig = `apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata:
spec:
  datastoreType: etcdv3
  etcdEndpoints: http://file:2379
  etcdCACertFile: /file/ca.pem
  etcdUsername: fileuser
`

// files is a fake file system for loadConfig.
type files map[string]string

func (f files) read(path string) ([]byte, error) {
	s, ok := f[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func TestLoadConfigPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		flags connFlags
		env   map[string]string
		files files
		want  datastore.Config
	}{
		{
			name: "with nothing configured the defaults are used",
			want: datastore.Config{Endpoints: []string{DefaultEndpoint}},
		},
		{
			name:  "the default config file is read when it exists",
			files: files{DefaultConfigFile: fileConfig},
			want:  datastore.Config{Endpoints: []string{"http://file:2379"}, CACertFile: "/file/ca.pem", Username: "fileuser"},
		},
		{
			name:  "an explicit config file is read instead of the default one",
			flags: connFlags{configFile: "/my.cfg"},
			files: files{"/my.cfg": fileConfig, DefaultConfigFile: strings.ReplaceAll(fileConfig, "file:", "default:")},
			want:  datastore.Config{Endpoints: []string{"http://file:2379"}, CACertFile: "/file/ca.pem", Username: "fileuser"},
		},
		{
			name:  "environment variables override the file field by field",
			env:   map[string]string{"ETCD_ENDPOINTS": "http://env:2379", "ETCD_PASSWORD": "envpw"},
			files: files{DefaultConfigFile: fileConfig},
			want: datastore.Config{Endpoints: []string{"http://env:2379"}, CACertFile: "/file/ca.pem",
				Username: "fileuser", Password: "envpw"},
		},
		{
			name:  "the --etcd-endpoints flag overrides the environment and the file",
			flags: connFlags{endpoints: "http://flag:2379,http://flag2:2379"},
			env:   map[string]string{"ETCD_ENDPOINTS": "http://env:2379"},
			files: files{DefaultConfigFile: fileConfig},
			want: datastore.Config{Endpoints: []string{"http://flag:2379", "http://flag2:2379"}, CACertFile: "/file/ca.pem",
				Username: "fileuser"},
		},
		{
			name: "TLS settings come from the environment",
			env: map[string]string{"ETCD_KEY_FILE": "/k", "ETCD_CERT_FILE": "/c", "ETCD_CA_CERT_FILE": "/ca",
				"ETCD_USERNAME": "u", "ETCD_PASSWORD": "p"},
			want: datastore.Config{Endpoints: []string{DefaultEndpoint}, KeyFile: "/k", CertFile: "/c", CACertFile: "/ca",
				Username: "u", Password: "p"},
		},
		{
			name: "CALICOCTL_TIMEOUT sets both timeouts",
			env:  map[string]string{"CALICOCTL_TIMEOUT": "2s"},
			want: datastore.Config{Endpoints: []string{DefaultEndpoint}, DialTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second},
		},
		{
			name: "CALICOCTL_TIMEOUT may be whole seconds",
			env:  map[string]string{"CALICOCTL_TIMEOUT": "7"},
			want: datastore.Config{Endpoints: []string{DefaultEndpoint}, DialTimeout: 7 * time.Second, RequestTimeout: 7 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want.DialTimeout == 0 {
				tt.want.DialTimeout, tt.want.RequestTimeout = defaultTimeout, defaultTimeout
			}
			got, err := loadConfig(tt.flags, lookup(tt.env), tt.files.read)
			if err != nil {
				t.Fatalf("loadConfig: unexpected error %v", err)
			}
			if got.Kubernetes || !reflect.DeepEqual(got.Etcd, tt.want) {
				t.Errorf("loadConfig:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		flags   connFlags
		env     map[string]string
		files   files
		wantErr string
	}{
		{
			name:    "an explicit config file that does not exist is an error",
			flags:   connFlags{configFile: "/missing.cfg"},
			wantErr: "reading config file: open /missing.cfg: file does not exist",
		},
		{
			name:    "a misspelled field in the config file is an error",
			files:   files{DefaultConfigFile: strings.Replace(fileConfig, "etcdEndpoints", "etcdEndpoint", 1)},
			wantErr: `config file /etc/calico/calicoctl.cfg: error unmarshaling JSON: while decoding JSON: json: unknown field "etcdEndpoint"`,
		},
		{
			name:    "a config file of another kind is an error",
			files:   files{DefaultConfigFile: strings.Replace(fileConfig, "CalicoAPIConfig", "calicoApiConfig", 1)},
			wantErr: "config file /etc/calico/calicoctl.cfg: kind is 'calicoApiConfig', expected CalicoAPIConfig",
		},
		{
			name:    "the old v1 config format is an error",
			files:   files{DefaultConfigFile: strings.Replace(fileConfig, "projectcalico.org/v3", "v1", 1)},
			wantErr: "config file /etc/calico/calicoctl.cfg: apiVersion is 'v1', expected projectcalico.org/v3",
		},
		{
			name:    "an unknown datastore type",
			env:     map[string]string{"DATASTORE_TYPE": "consul"},
			wantErr: "datastore type 'consul' is not supported: etcdv3 or kubernetes",
		},
		{
			name:    "an endpoint without a scheme is an error",
			env:     map[string]string{"ETCD_ENDPOINTS": "10.0.0.1:2379"},
			wantErr: `etcd endpoints: endpoint "10.0.0.1:2379" must start with http:// or https://`,
		},
		{
			name:    "a timeout that is not a duration is an error",
			env:     map[string]string{"CALICOCTL_TIMEOUT": "soon"},
			wantErr: `CALICOCTL_TIMEOUT="soon" is not a positive duration such as 10s`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.flags, lookup(tt.env), tt.files.read)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("loadConfig error:\n got %v\nwant %s", err, tt.wantErr)
			}
		})
	}
}

func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadConfigKubernetes(t *testing.T) {
	tests := []struct {
		name           string
		env            map[string]string
		files          files
		wantKubeconfig string
	}{
		{"from the environment", map[string]string{"DATASTORE_TYPE": "kubernetes", "KUBECONFIG": "/root/.kube/config"}, nil, "/root/.kube/config"},
		{"from the config file", nil, files{DefaultConfigFile: "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: kubernetes\n  kubeconfig: /etc/k.conf\n"}, "/etc/k.conf"},
		{"in a pod, without a kubeconfig", map[string]string{"DATASTORE_TYPE": "kubernetes"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(connFlags{}, lookup(tt.env), tt.files.read)
			if err != nil || !got.Kubernetes || got.Kubeconfig != tt.wantKubeconfig {
				t.Errorf("got %+v, %v; want the Kubernetes datastore with kubeconfig %q", got, err, tt.wantKubeconfig)
			}
		})
	}
}
