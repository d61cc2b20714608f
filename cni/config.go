package cni

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/calico-l3/calico/datastore"
)

// DefaultNodenameFile is where calico-node records the name it registered this host under.
const DefaultNodenameFile = "/var/lib/calico/nodename"

// DefaultMTU is the veth MTU when neither the config nor felix's MTU file gives one.
const DefaultMTU = 1500

// MTUFile is the file, in the nodename file's directory (calico-node's state directory, /var/lib/calico), where
// felix writes the veth MTU it computed for the encapsulation in use, as a decimal number and a newline.
const MTUFile = "mtu"

// MTU limits: IPv4's minimum and the largest a link takes.
const (
	minMTU = 68
	maxMTU = 65535
)

// NetConf is the network configuration the runtime passes on stdin.
type NetConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Type       string `json:"type"`

	// DatastoreType is Calico's datastore_type: "etcdv3" (the default; the etcd_* fields) or "kubernetes" (the
	// API server kubernetes.kubeconfig names, Calico's KDD mode).
	DatastoreType string `json:"datastore_type"`

	EtcdEndpoints  string `json:"etcd_endpoints"`
	EtcdKeyFile    string `json:"etcd_key_file"`
	EtcdCertFile   string `json:"etcd_cert_file"`
	EtcdCACertFile string `json:"etcd_ca_cert_file"`

	// Nodename overrides the node name; otherwise it is read from NodenameFile, otherwise the hostname is used.
	Nodename     string `json:"nodename"`
	NodenameFile string `json:"nodename_file"`

	// MTU is the veth MTU; 0 (or absent) means felix's MTU file decides (see VethMTU).
	MTU         int    `json:"mtu"`
	LogLevel    string `json:"log_level"`
	LogFilePath string `json:"log_file_path"`

	IPAM IPAMConf `json:"ipam"`
	// IPAMLockFile is the file whose lock the plugin processes on one host take in turn for their IPAM
	// transactions (default DefaultIPAMLockFile), so that pods started together do not all race for the same
	// block; see ipamlock.go.
	IPAMLockFile string `json:"ipam_lock_file"`

	// Policy and Kubernetes apply to Kubernetes pods (the runtime passes K8S_POD_NAMESPACE and K8S_POD_NAME in
	// CNI_ARGS): the plugin reads the pod through Kubernetes.Kubeconfig, and with policy type "k8s" the endpoint's
	// profiles are the namespace's and the service account's instead of the network's.
	Policy     PolicyConf     `json:"policy"`
	Kubernetes KubernetesConf `json:"kubernetes"`

	// RawPrevResult is the result of the ADD, passed back by the runtime on CHECK and DEL (0.4.0 and later).
	RawPrevResult map[string]any `json:"prevResult,omitempty"`
}

// Datastore types, as datastore_type spells them.
const (
	DatastoreEtcd       = "etcdv3"
	DatastoreKubernetes = "kubernetes"
)

// KDD reports whether the datastore is the Kubernetes API server.
func (c *NetConf) KDD() bool { return c.DatastoreType == DatastoreKubernetes }

// PolicyK8s is the policy type under which pods get Kubernetes' profiles (kns.<namespace>, ksa.<ns>.<sa>).
const PolicyK8s = "k8s"

// PolicyConf is the "policy" section.
type PolicyConf struct {
	Type string `json:"type"`
}

// KubernetesConf is the "kubernetes" section.
type KubernetesConf struct {
	// Kubeconfig is the file with the API server's address and credentials (install-cni writes
	// /etc/cni/net.d/calico-kubeconfig).
	Kubeconfig string `json:"kubeconfig"`
}

// IPAMConf is the "ipam" section.
type IPAMConf struct {
	Type string `json:"type"`
	// AssignIPv4 and AssignIPv6 are Calico's "true"/"false" strings (JSON booleans are taken too); IPv4 defaults
	// to on, IPv6 to off. Read them through Num4 and Num6 after ParseConfig.
	AssignIPv4 json.RawMessage `json:"assign_ipv4,omitempty"`
	AssignIPv6 json.RawMessage `json:"assign_ipv6,omitempty"`
	IPv4Pools  []string        `json:"ipv4_pools"`
	IPv6Pools  []string        `json:"ipv6_pools"`

	num4, num6 int
}

// Num4 is how many IPv4 addresses to assign.
func (c IPAMConf) Num4() int { return c.num4 }

// Num6 is how many IPv6 addresses to assign.
func (c IPAMConf) Num6() int { return c.num6 }

// parseFlag reads a "true"/"false" flag, or def when it is absent.
func parseFlag(field string, raw json.RawMessage, def bool) (bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, fieldErr(field, err.Error(), `must be "true" or "false"`)
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fieldErr(field, fmt.Sprintf("got %s", raw), `must be "true" or "false"`)
}

// ConfigError is an invalid config field. It becomes CNI error code 7 with the field named in msg.
type ConfigError struct {
	Field   string
	Problem string
	Details string
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("invalid network config field %s: %s", e.Field, e.Problem)
	if e.Details != "" {
		s += " (" + e.Details + ")"
	}
	return s
}

// CNIError is the error JSON the runtime sees.
func (e *ConfigError) CNIError() *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("invalid network config field %s: %s", e.Field, e.Problem), e.Details)
}

func fieldErr(field, details, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...), Details: details}
}

// ParseConfig decodes and checks the network config. It reads nothing but the TLS files' and kubeconfig's
// existence; with the etcd datastore, etcd endpoints fall back to getenv("ETCD_ENDPOINTS").
func ParseConfig(data []byte, getenv func(string) string) (*NetConf, error) {
	var c NetConf
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, decodeError(err)
	}
	if err := c.check(getenv); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeError names the field a JSON type error is about.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fieldErr(te.Field, fmt.Sprintf("got JSON %s", te.Value), "must be a JSON %s", jsonKind(te.Type.Kind().String()))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ConfigError{Field: "(document)", Problem: "not valid JSON", Details: fmt.Sprintf("at byte %d: %v", se.Offset, err)}
	}
	return &ConfigError{Field: "(document)", Problem: "cannot be decoded", Details: err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "uint", "uint16":
		return "number"
	case "slice":
		return "list"
	case "struct", "map":
		return "object"
	}
	return goKind
}

func (c *NetConf) check(getenv func(string) string) error {
	if c.Name == "" {
		return fieldErr("name", "", "is required")
	}
	if err := DefaultProfile(c.Name).Validate(); err != nil {
		return fieldErr("name", err.Error(), "%q cannot name a Calico profile: use lower case letters, digits, '-' and '.'", c.Name)
	}
	switch c.DatastoreType {
	case "":
		c.DatastoreType = DatastoreEtcd
	case DatastoreEtcd, DatastoreKubernetes:
	default:
		return fieldErr("datastore_type", fmt.Sprintf("got %q", c.DatastoreType), `must be "etcdv3" (the default) or "kubernetes"`)
	}
	if c.KDD() {
		if err := c.checkKDD(); err != nil {
			return err
		}
	} else if err := c.checkEtcd(getenv); err != nil {
		return err
	}
	return c.checkCommon()
}

// checkKDD checks the datastore fields of the Kubernetes datastore: a kubeconfig, and no etcd settings, which
// would be silently ignored.
func (c *NetConf) checkKDD() error {
	for _, f := range []struct{ field, value string }{
		{"etcd_endpoints", c.EtcdEndpoints}, {"etcd_key_file", c.EtcdKeyFile}, {"etcd_cert_file", c.EtcdCertFile},
		{"etcd_ca_cert_file", c.EtcdCACertFile},
	} {
		if f.value != "" {
			return fieldErr(f.field, fmt.Sprintf("got %q with datastore_type %q", f.value, c.DatastoreType),
				"must not be set with the Kubernetes datastore: it would be ignored")
		}
	}
	if c.Kubernetes.Kubeconfig == "" {
		return fieldErr("kubernetes.kubeconfig", `datastore_type is "kubernetes"`,
			"is required with the Kubernetes datastore (install-cni writes /etc/cni/net.d/calico-kubeconfig)")
	}
	return nil
}

// checkEtcd checks the etcd fields; the endpoints fall back to ETCD_ENDPOINTS.
func (c *NetConf) checkEtcd(getenv func(string) string) error {
	if c.EtcdEndpoints == "" {
		c.EtcdEndpoints = getenv("ETCD_ENDPOINTS")
	}
	if c.EtcdEndpoints == "" {
		return fieldErr("etcd_endpoints", "e.g. \"etcd_endpoints\": \"http://127.0.0.1:2379\"", "is required (or set ETCD_ENDPOINTS)")
	}
	if _, err := datastore.ParseEndpoints(c.EtcdEndpoints); err != nil {
		return fieldErr("etcd_endpoints", fmt.Sprintf("got %q", c.EtcdEndpoints), "%v", err)
	}
	if (c.EtcdKeyFile == "") != (c.EtcdCertFile == "") {
		return fieldErr("etcd_key_file", "a client certificate needs its key", "etcd_key_file and etcd_cert_file must be given together")
	}
	for _, f := range []struct{ field, path string }{
		{"etcd_key_file", c.EtcdKeyFile}, {"etcd_cert_file", c.EtcdCertFile}, {"etcd_ca_cert_file", c.EtcdCACertFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fieldErr(f.field, err.Error(), "cannot read %s", f.path)
		}
	}
	return nil
}

// checkCommon checks the fields both datastores use.
func (c *NetConf) checkCommon() error {
	if c.MTU != 0 && (c.MTU < minMTU || c.MTU > maxMTU) {
		return fieldErr("mtu", fmt.Sprintf("got %d", c.MTU), "must be between %d and %d (or 0: felix's MTU file)", minMTU, maxMTU)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return fieldErr("log_level", fmt.Sprintf("got %q", c.LogLevel), "must be one of debug, info, warning, error")
	}
	if c.LogFilePath != "" && !filepath.IsAbs(c.LogFilePath) {
		return fieldErr("log_file_path", fmt.Sprintf("got %q", c.LogFilePath), "must be an absolute path")
	}
	if c.NodenameFile != "" && !filepath.IsAbs(c.NodenameFile) {
		return fieldErr("nodename_file", fmt.Sprintf("got %q", c.NodenameFile), "must be an absolute path")
	}
	if c.NodenameFile == "" {
		c.NodenameFile = DefaultNodenameFile
	}
	if c.IPAMLockFile != "" && !filepath.IsAbs(c.IPAMLockFile) {
		return fieldErr("ipam_lock_file", fmt.Sprintf("got %q", c.IPAMLockFile), "must be an absolute path")
	}
	if c.IPAMLockFile == "" {
		c.IPAMLockFile = DefaultIPAMLockFile
	}
	if c.Policy.Type != "" && c.Policy.Type != PolicyK8s {
		return fieldErr("policy.type", fmt.Sprintf("got %q", c.Policy.Type), `must be "k8s" (Kubernetes profiles) or absent (the network's profile)`)
	}
	if c.Kubernetes.Kubeconfig != "" {
		if !filepath.IsAbs(c.Kubernetes.Kubeconfig) {
			return fieldErr("kubernetes.kubeconfig", fmt.Sprintf("got %q", c.Kubernetes.Kubeconfig), "must be an absolute path")
		}
		if _, err := os.Stat(c.Kubernetes.Kubeconfig); err != nil {
			return fieldErr("kubernetes.kubeconfig", err.Error(), "cannot read %s", c.Kubernetes.Kubeconfig)
		}
	}
	return c.IPAM.check()
}

func (c *IPAMConf) check() error {
	if c.Type != "calico-ipam" {
		return fieldErr("ipam.type", fmt.Sprintf("got %q", c.Type), "must be \"calico-ipam\" (the only IPAM this plugin drives)")
	}
	v4, err := parseFlag("ipam.assign_ipv4", c.AssignIPv4, true)
	if err != nil {
		return err
	}
	v6, err := parseFlag("ipam.assign_ipv6", c.AssignIPv6, false)
	if err != nil {
		return err
	}
	c.num4, c.num6 = 0, 0
	if v4 {
		c.num4 = 1
	}
	if v6 {
		c.num6 = 1
	}
	if c.num4 == 0 && c.num6 == 0 {
		return fieldErr("ipam.assign_ipv4", "assign_ipv4 is \"false\" and assign_ipv6 is not \"true\"", "nothing to assign")
	}
	for _, p := range []struct {
		field string
		pools []string
		v6    bool
	}{{"ipam.ipv4_pools", c.IPv4Pools, false}, {"ipam.ipv6_pools", c.IPv6Pools, true}} {
		for i, s := range p.pools {
			f := fmt.Sprintf("%s[%d]", p.field, i)
			if s == "" {
				return fieldErr(f, "", "must be a pool name or CIDR")
			}
			if !strings.Contains(s, "/") {
				continue // a pool name, resolved against the datastore at ADD
			}
			ip, _, err := net.ParseCIDR(s)
			if err != nil {
				return fieldErr(f, fmt.Sprintf("got %q", s), "is neither a pool name nor a valid CIDR")
			}
			if (ip.To4() == nil) != p.v6 {
				return fieldErr(f, fmt.Sprintf("got %q", s), "is a pool of the wrong IP version")
			}
		}
	}
	return nil
}

// EtcdConfig is how the plugin reaches the datastore.
func (c *NetConf) EtcdConfig() datastore.Config {
	eps, _ := datastore.ParseEndpoints(c.EtcdEndpoints)
	return datastore.Config{
		Endpoints:  eps,
		KeyFile:    c.EtcdKeyFile,
		CertFile:   c.EtcdCertFile,
		CACertFile: c.EtcdCACertFile,
	}
}

// NodeName is the config's nodename, else the first line of the nodename file, else the hostname.
func (c *NetConf) NodeName(hostname func() (string, error)) (string, error) {
	if c.Nodename != "" {
		return c.Nodename, nil
	}
	b, err := os.ReadFile(c.NodenameFile)
	switch {
	case err == nil:
		if n := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]); n != "" {
			return n, nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("reading node name from %s: %w", c.NodenameFile, err)
	}
	h, err := hostname()
	if err != nil {
		return "", fmt.Errorf("no nodename in the config, no %s, and no hostname: %w", c.NodenameFile, err)
	}
	return strings.ToLower(strings.TrimSpace(h)), nil
}

// MTUFilePath is felix's MTU file: MTUFile beside the nodename file.
func (c *NetConf) MTUFilePath() string {
	return filepath.Join(filepath.Dir(c.NodenameFile), MTUFile)
}

// VethMTU is the MTU of both veth ends: the config's mtu when non-zero, else the MTU felix wrote to
// MTUFilePath, else DefaultMTU when there is no such file, as in Calico. readFile is os.ReadFile but in tests.
func (c *NetConf) VethMTU(readFile func(string) ([]byte, error)) (int, error) {
	if c.MTU != 0 {
		return c.MTU, nil
	}
	path := c.MTUFilePath()
	b, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultMTU, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the veth MTU from %s: %w", path, err)
	}
	mtu, err := ParseMTU(b)
	if err != nil {
		return 0, fmt.Errorf("veth MTU file %s: %w", path, err)
	}
	return mtu, nil
}

// ParseMTU reads the contents of felix's MTU file: a decimal MTU from 68 to 65535, surrounding whitespace (the
// trailing newline) allowed. Anything else is an error: falling back to 1500 would silently give pods an MTU
// the tunnel cannot carry.
func ParseMTU(data []byte) (int, error) {
	s := strings.TrimSpace(string(data))
	n, err := strconv.Atoi(s)
	if err != nil || n < minMTU || n > maxMTU {
		return 0, fmt.Errorf("got %q, want a number from %d to %d", data, minMTU, maxMTU)
	}
	return n, nil
}
