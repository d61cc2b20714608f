package installcni

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Default paths, as Calico's install-cni container and our image lay them out.
const (
	DefaultHostNetDir           = "/etc/cni/net.d"
	DefaultNetDirMount          = "/host/etc/cni/net.d"
	DefaultBinDirMount          = "/host/opt/cni/bin"
	DefaultSecondaryBinDirMount = "/host/secondary-bin-dir"
	DefaultBinSourceDir         = "/opt/cni/bin"
	DefaultServiceAccountDir    = "/var/run/secrets/kubernetes.io/serviceaccount"
	DefaultTLSAssetsDir         = "/calico-secrets"
	DefaultNodenameFile         = "/var/lib/calico/nodename"
	DefaultOldConfName          = "10-calico.conf"
	DefaultMTU                  = 1500
	DefaultLogLevel             = "info"
	DefaultDatastoreType        = "etcdv3"

	// KubeconfigName and TLSDirName are what install-cni writes into the CNI config directory.
	KubeconfigName = "calico-kubeconfig"
	TLSDirName     = "calico-tls"
)

// tlsAssets are the etcd files of the calico-etcd-secrets Secret, in Calico's names, with the variable that may
// point at another source file and the placeholder that receives the host path.
var tlsAssets = []struct {
	name, env, placeholder string
	secret                 bool
}{
	{"etcd-key", "ETCD_KEY_FILE", "__ETCD_KEY_FILE__", true},
	{"etcd-cert", "ETCD_CERT_FILE", "__ETCD_CERT_FILE__", false},
	{"etcd-ca", "ETCD_CA_CERT_FILE", "__ETCD_CA_CERT_FILE__", false},
}

// Config is install-cni's configuration, read from the environment by FromEnv. Paths named *Mount are where the
// host's directories are mounted in this container; HostNetDir and KubeconfigPath are as the host (kubelet, the
// runtime, the CNI plugin) sees them.
type Config struct {
	HostNetDir     string // CNI_NET_DIR
	KubeconfigPath string // KUBECONFIG_FILEPATH

	NetDirMount          string // CNI_NET_DIR_MOUNT
	BinDirMount          string // CNI_BIN_DIR_MOUNT
	SecondaryBinDirMount string // CNI_SECONDARY_BIN_DIR_MOUNT
	BinSourceDir         string // CNI_BIN_SOURCE_DIR
	ServiceAccountDir    string // SERVICE_ACCOUNT_PATH
	KubeCAFile           string // KUBE_CA_FILE
	TLSAssetsDir         string // TLS_ASSETS_DIR
	// TLSSources maps etcd-key, etcd-cert and etcd-ca to the file to install (ETCD_*_FILE, else TLS_ASSETS_DIR/<name>).
	TLSSources   map[string]string
	NodenameFile string // CALICO_NODENAME_FILE

	NetworkConfig     string // CNI_NETWORK_CONFIG
	NetworkConfigFile string // CNI_NETWORK_CONFIG_FILE (wins over NetworkConfig, as in Calico)
	ConfName          string // CNI_CONF_NAME; empty: 10-calico.conflist for a list, 10-calico.conf for one plugin
	OldConfName       string // CNI_OLD_CONF_NAME

	SkipBinaries   []string // SKIP_CNI_BINARIES
	UpdateBinaries bool     // UPDATE_CNI_BINARIES
	Sleep          bool     // SLEEP
	SkipTLSVerify  bool     // SKIP_TLS_VERIFY

	ServiceHost     string // KUBERNETES_SERVICE_HOST
	ServicePort     string // KUBERNETES_SERVICE_PORT
	ServiceProtocol string // KUBERNETES_SERVICE_PROTOCOL
	NodeName        string // KUBERNETES_NODE_NAME; empty: the nodename file, else the hostname
	EtcdEndpoints   string // ETCD_ENDPOINTS
	MTU             int    // CNI_MTU
	LogLevel        string // LOG_LEVEL
	DatastoreType   string // DATASTORE_TYPE
}

// TokenFile is the service account token kubelet mounts (and rotates).
func (c Config) TokenFile() string { return path.Join(c.ServiceAccountDir, "token") }

// NetworkConfigSource names where the config template comes from, for messages.
func (c Config) NetworkConfigSource() string {
	if c.NetworkConfigFile != "" {
		return "CNI_NETWORK_CONFIG_FILE " + c.NetworkConfigFile
	}
	return "CNI_NETWORK_CONFIG"
}

// EnvVars are the variables FromEnv reads, for manifests and their checks.
var EnvVars = []string{
	"CALICO_NODENAME_FILE", "CNI_BIN_DIR_MOUNT", "CNI_BIN_SOURCE_DIR", "CNI_CONF_NAME", "CNI_MTU", "CNI_NET_DIR",
	"CNI_NET_DIR_MOUNT", "CNI_NETWORK_CONFIG", "CNI_NETWORK_CONFIG_FILE", "CNI_OLD_CONF_NAME",
	"CNI_SECONDARY_BIN_DIR_MOUNT", "DATASTORE_TYPE", "ETCD_CA_CERT_FILE", "ETCD_CERT_FILE", "ETCD_ENDPOINTS",
	"ETCD_KEY_FILE", "KUBE_CA_FILE", "KUBECONFIG_FILEPATH", "KUBERNETES_NODE_NAME", "KUBERNETES_SERVICE_HOST",
	"KUBERNETES_SERVICE_PORT", "KUBERNETES_SERVICE_PROTOCOL", "LOG_LEVEL", "SERVICE_ACCOUNT_PATH", "SKIP_CNI_BINARIES",
	"SKIP_TLS_VERIFY", "SLEEP", "TLS_ASSETS_DIR", "UPDATE_CNI_BINARIES",
}

// FromEnv reads the configuration from getenv. It only parses: files are read later, by Read. Errors name the
// variable.
func FromEnv(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		HostNetDir:           get("CNI_NET_DIR", DefaultHostNetDir),
		NetDirMount:          get("CNI_NET_DIR_MOUNT", DefaultNetDirMount),
		BinDirMount:          get("CNI_BIN_DIR_MOUNT", DefaultBinDirMount),
		SecondaryBinDirMount: get("CNI_SECONDARY_BIN_DIR_MOUNT", DefaultSecondaryBinDirMount),
		BinSourceDir:         get("CNI_BIN_SOURCE_DIR", DefaultBinSourceDir),
		ServiceAccountDir:    get("SERVICE_ACCOUNT_PATH", DefaultServiceAccountDir),
		TLSAssetsDir:         get("TLS_ASSETS_DIR", DefaultTLSAssetsDir),
		NodenameFile:         get("CALICO_NODENAME_FILE", DefaultNodenameFile),
		NetworkConfig:        getenv("CNI_NETWORK_CONFIG"),
		NetworkConfigFile:    get("CNI_NETWORK_CONFIG_FILE", ""),
		ConfName:             get("CNI_CONF_NAME", ""),
		OldConfName:          get("CNI_OLD_CONF_NAME", DefaultOldConfName),
		ServiceHost:          get("KUBERNETES_SERVICE_HOST", ""),
		ServicePort:          get("KUBERNETES_SERVICE_PORT", ""),
		ServiceProtocol:      get("KUBERNETES_SERVICE_PROTOCOL", "https"),
		NodeName:             get("KUBERNETES_NODE_NAME", ""),
		EtcdEndpoints:        get("ETCD_ENDPOINTS", ""),
		LogLevel:             get("LOG_LEVEL", DefaultLogLevel),
		DatastoreType:        get("DATASTORE_TYPE", DefaultDatastoreType),
		MTU:                  DefaultMTU,
	}
	c.KubeconfigPath = get("KUBECONFIG_FILEPATH", path.Join(c.HostNetDir, KubeconfigName))
	c.KubeCAFile = get("KUBE_CA_FILE", path.Join(c.ServiceAccountDir, "ca.crt"))
	c.TLSSources = map[string]string{}
	for _, a := range tlsAssets {
		c.TLSSources[a.name] = get(a.env, path.Join(c.TLSAssetsDir, a.name))
	}

	var err error
	if c.UpdateBinaries, err = envBool(getenv, "UPDATE_CNI_BINARIES", true); err != nil {
		return Config{}, err
	}
	if c.Sleep, err = envBool(getenv, "SLEEP", true); err != nil {
		return Config{}, err
	}
	if c.SkipTLSVerify, err = envBool(getenv, "SKIP_TLS_VERIFY", false); err != nil {
		return Config{}, err
	}
	for _, s := range strings.Split(getenv("SKIP_CNI_BINARIES"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.SkipBinaries = append(c.SkipBinaries, s)
		}
	}
	if v := get("CNI_MTU", ""); v != "" {
		// 0 is the manifests' veth_mtu default: the plugin then takes the MTU felix writes for the encapsulation.
		n, err := strconv.Atoi(v)
		if err != nil || (n != 0 && (n < 68 || n > 65535)) {
			return Config{}, fmt.Errorf("CNI_MTU: %q is not an MTU (a number from 68 to 65535, or 0: the MTU felix computes)", v)
		}
		c.MTU = n
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return Config{}, fmt.Errorf("LOG_LEVEL: %q is not a level the CNI plugin knows (debug, info, warning, error)", c.LogLevel)
	}
	if c.NetworkConfigFile == "" && strings.TrimSpace(c.NetworkConfig) == "" {
		return Config{}, fmt.Errorf("CNI_NETWORK_CONFIG is not set (nor CNI_NETWORK_CONFIG_FILE): install-cni needs the CNI network config to install")
	}
	if c.ConfName != "" {
		if strings.Contains(c.ConfName, "/") {
			return Config{}, fmt.Errorf("CNI_CONF_NAME: %q must be a file name, not a path (it is written into CNI_NET_DIR_MOUNT)", c.ConfName)
		}
		if ext := path.Ext(c.ConfName); ext != ".conflist" && ext != ".conf" && ext != ".json" {
			return Config{}, fmt.Errorf("CNI_CONF_NAME: %q must end in .conflist, .conf or .json (the container runtime reads no other files)", c.ConfName)
		}
	}
	if strings.Contains(c.OldConfName, "/") {
		return Config{}, fmt.Errorf("CNI_OLD_CONF_NAME: %q must be a file name, not a path", c.OldConfName)
	}
	if c.ServiceProtocol != "https" && c.ServiceProtocol != "http" {
		return Config{}, fmt.Errorf("KUBERNETES_SERVICE_PROTOCOL: %q must be https or http", c.ServiceProtocol)
	}
	if c.ServicePort != "" {
		if n, err := strconv.Atoi(c.ServicePort); err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("KUBERNETES_SERVICE_PORT: %q is not a port number", c.ServicePort)
		}
	}
	for _, p := range []struct{ name, value string }{
		{"CNI_NET_DIR", c.HostNetDir}, {"KUBECONFIG_FILEPATH", c.KubeconfigPath},
	} {
		if !path.IsAbs(p.value) {
			return Config{}, fmt.Errorf("%s: %q must be an absolute path (it is the path on the host)", p.name, p.value)
		}
	}
	return c, nil
}

// envBool reads a true/false variable.
func envBool(getenv func(string) string, name string, def bool) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean (use true or false)", name, v)
	}
	return b, nil
}
