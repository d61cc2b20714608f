package calicoctl

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// Connection defaults.
const (
	DefaultConfigFile = "/etc/calico/calicoctl.cfg"
	DefaultEndpoint   = "http://127.0.0.1:2379"
	defaultTimeout    = 5 * time.Second
)

// apiConfigFile is the CalicoAPIConfig file users keep in /etc/calico/calicoctl.cfg.
type apiConfigFile struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		DatastoreType  string `json:"datastoreType"`
		EtcdEndpoints  string `json:"etcdEndpoints"`
		EtcdKeyFile    string `json:"etcdKeyFile"`
		EtcdCertFile   string `json:"etcdCertFile"`
		EtcdCACertFile string `json:"etcdCACertFile"`
		EtcdUsername   string `json:"etcdUsername"`
		EtcdPassword   string `json:"etcdPassword"`
		Kubeconfig     string `json:"kubeconfig"`
	} `json:"spec"`
}

// settings is one source's view of the connection; an empty field means "this source does not say".
type settings struct {
	DatastoreType, Endpoints, KeyFile, CertFile, CACertFile, Username, Password, Kubeconfig string
}

func (s *settings) fields() []*string {
	return []*string{&s.DatastoreType, &s.Endpoints, &s.KeyFile, &s.CertFile, &s.CACertFile, &s.Username, &s.Password,
		&s.Kubeconfig}
}

// merge returns, field by field, the value of the first source that sets it.
func merge(sources ...settings) settings {
	var out settings
	dst := out.fields()
	for _, src := range sources {
		for i, f := range src.fields() {
			if *dst[i] == "" {
				*dst[i] = *f
			}
		}
	}
	return out
}

func envSettings(getenv func(string) string) settings {
	return settings{
		DatastoreType: getenv("DATASTORE_TYPE"),
		Endpoints:     getenv("ETCD_ENDPOINTS"),
		KeyFile:       getenv("ETCD_KEY_FILE"),
		CertFile:      getenv("ETCD_CERT_FILE"),
		CACertFile:    getenv("ETCD_CA_CERT_FILE"),
		Username:      getenv("ETCD_USERNAME"),
		Password:      getenv("ETCD_PASSWORD"),
		Kubeconfig:    getenv("KUBECONFIG"),
	}
}

// parseConfigFile reads a CalicoAPIConfig; unknown fields are errors so that a typo is not silently ignored.
func parseConfigFile(data []byte) (settings, error) {
	var f apiConfigFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return settings{}, err
	}
	if f.Kind != "CalicoAPIConfig" {
		return settings{}, fmt.Errorf("kind is '%s', expected CalicoAPIConfig", f.Kind)
	}
	if f.APIVersion != api.Group {
		return settings{}, fmt.Errorf("apiVersion is '%s', expected %s", f.APIVersion, api.Group)
	}
	s := f.Spec
	return settings{DatastoreType: s.DatastoreType, Endpoints: s.EtcdEndpoints, KeyFile: s.EtcdKeyFile,
		CertFile: s.EtcdCertFile, CACertFile: s.EtcdCACertFile, Username: s.EtcdUsername, Password: s.EtcdPassword,
		Kubeconfig: s.Kubeconfig}, nil
}

// connection is the resolved datastore connection: etcd's settings, or, with datastore type kubernetes, the
// kubeconfig of the API server that holds Calico's custom resources ("" means in-cluster).
type connection struct {
	Etcd       datastore.Config
	Kubernetes bool
	Kubeconfig string
	Timeout    time.Duration
}

// loadConfig resolves the datastore connection: flags, then environment, then the config file, then defaults.
// The config file is -c's, or DefaultConfigFile when that exists.
func loadConfig(flags connFlags, getenv func(string) string, readFile func(string) ([]byte, error)) (connection, error) {
	var file settings
	path, explicit := flags.configFile, flags.configFile != ""
	if !explicit {
		path = DefaultConfigFile
	}
	data, err := readFile(path)
	switch {
	case err == nil:
		if file, err = parseConfigFile(data); err != nil {
			return connection{}, fmt.Errorf("config file %s: %w", path, err)
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return connection{}, fmt.Errorf("reading config file: %w", err)
	}

	s := merge(settings{Endpoints: flags.endpoints}, envSettings(getenv), file,
		settings{DatastoreType: "etcdv3", Endpoints: DefaultEndpoint})
	timeout, err := parseTimeout(getenv("CALICOCTL_TIMEOUT"))
	if err != nil {
		return connection{}, err
	}
	switch s.DatastoreType {
	case "kubernetes":
		return connection{Kubernetes: true, Kubeconfig: s.Kubeconfig, Timeout: timeout}, nil
	case "etcdv3":
	default:
		return connection{}, fmt.Errorf("datastore type '%s' is not supported: etcdv3 or kubernetes", s.DatastoreType)
	}
	eps, err := datastore.ParseEndpoints(s.Endpoints)
	if err != nil {
		return connection{}, fmt.Errorf("etcd endpoints: %w", err)
	}
	return connection{Timeout: timeout, Etcd: datastore.Config{Endpoints: eps, KeyFile: s.KeyFile, CertFile: s.CertFile,
		CACertFile: s.CACertFile, Username: s.Username, Password: s.Password, DialTimeout: timeout, RequestTimeout: timeout}}, nil
}

// parseTimeout reads CALICOCTL_TIMEOUT: a duration ("10s") or whole seconds ("10").
func parseTimeout(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultTimeout, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("CALICOCTL_TIMEOUT=%q is not a positive duration such as 10s", s)
	}
	return d, nil
}
