// Package node is calico-node's startup: it decides this host's node name, addresses and AS from the environment
// and the host, registers the Node resource, and creates the cluster defaults (pools, ClusterInformation,
// FelixConfiguration) the other components expect. It runs once, before the daemons start.
package node

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/calico-l3/calico/api"
)

// Config is startup's view of the environment, checked before anything is written.
type Config struct {
	NodeName       string // NODENAME
	Hostname       string // HOSTNAME
	NodeNameFile   string // CALICO_NODENAME_FILE, default /var/lib/calico/nodename
	IP, IP6        string // "", "autodetect", "none" or a literal address (IPv4 may carry a prefix length)
	IPMethod       string // IP_AUTODETECTION_METHOD
	IP6Method      string // IP6_AUTODETECTION_METHOD
	AS             string
	Backend        string // bird (default), vxlan (felix routes over VXLAN, no BGP) or none (policy only)
	NoDefaultPools bool
	Pools          []PoolConfig
	DatastoreWait  time.Duration // how long to wait for etcd before giving up
	ClusterType    string
	NodeRef        string // CALICO_K8S_NODE_REF
	Dirs           []string
	DisableIPCheck bool
}

// PoolConfig is a default pool to create when no pool of its IP version exists.
type PoolConfig struct {
	Name         string
	CIDR         string
	BlockSize    int
	IPIPMode     string
	VXLANMode    string
	NATOutgoing  bool
	NodeSelector string
}

// Defaults used when the environment says nothing.
const (
	DefaultNodeNameFile  = "/var/lib/calico/nodename"
	DefaultIPv4PoolCIDR  = "192.168.0.0/16"
	DefaultDatastoreWait = 60 * time.Second
)

// ConfigFromEnv reads and checks the startup environment. Every error names the variable and the reason.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		NodeName:     strings.TrimSpace(getenv("NODENAME")),
		Hostname:     strings.ToLower(strings.TrimSpace(getenv("HOSTNAME"))),
		NodeNameFile: or(getenv("CALICO_NODENAME_FILE"), DefaultNodeNameFile),
		IP:           strings.TrimSpace(getenv("IP")),
		IP6:          strings.TrimSpace(getenv("IP6")),
		IPMethod:     or(getenv("IP_AUTODETECTION_METHOD"), "first-found"),
		IP6Method:    or(getenv("IP6_AUTODETECTION_METHOD"), "first-found"),
		AS:           strings.TrimSpace(getenv("AS")),
		Backend:      or(getenv("CALICO_NETWORKING_BACKEND"), "bird"),
		ClusterType:  getenv("CLUSTER_TYPE"),
		NodeRef:      getenv("CALICO_K8S_NODE_REF"),
		Dirs:         []string{"/var/lib/calico", "/var/run/calico", "/var/log/calico"},
	}
	if d := getenv("CALICO_STATE_DIRS"); d != "" {
		c.Dirs = strings.Split(d, ",")
	}
	var err error
	if c.NoDefaultPools, err = parseBool("NO_DEFAULT_POOLS", getenv("NO_DEFAULT_POOLS"), false); err != nil {
		return c, err
	}
	if c.DisableIPCheck, err = parseBool("DISABLE_NODE_IP_CHECK", getenv("DISABLE_NODE_IP_CHECK"), false); err != nil {
		return c, err
	}
	switch c.Backend {
	case "bird", "vxlan", "none":
	default:
		return c, fmt.Errorf("CALICO_NETWORKING_BACKEND=%q is not supported: use bird, vxlan or none", c.Backend)
	}
	if c.IP != "" && c.IP != "autodetect" && c.IP != "none" {
		if _, err := parseAddr(c.IP, false); err != nil {
			return c, fmt.Errorf("IP=%q: %w", c.IP, err)
		}
	}
	if c.IP6 != "" && c.IP6 != "autodetect" && c.IP6 != "none" {
		if _, err := parseAddr(c.IP6, true); err != nil {
			return c, fmt.Errorf("IP6=%q: %w", c.IP6, err)
		}
	}
	for _, m := range []struct{ name, value string }{{"IP_AUTODETECTION_METHOD", c.IPMethod}, {"IP6_AUTODETECTION_METHOD", c.IP6Method}} {
		if _, err := ParseMethod(m.value); err != nil {
			return c, fmt.Errorf("%s=%q: %w", m.name, m.value, err)
		}
	}
	if c.AS != "" {
		if _, err := api.ParseASNumber(c.AS); err != nil {
			return c, fmt.Errorf("AS=%q: %w", c.AS, err)
		}
	}
	c.DatastoreWait = DefaultDatastoreWait
	if w := getenv("DATASTORE_WAIT_TIMEOUT"); w != "" {
		if c.DatastoreWait, err = time.ParseDuration(w); err != nil {
			return c, fmt.Errorf("DATASTORE_WAIT_TIMEOUT=%q: not a duration like 30s", w)
		}
	}
	if v, _ := parseBool("WAIT_FOR_DATASTORE", getenv("WAIT_FOR_DATASTORE"), true); !v {
		c.DatastoreWait = 0
	}
	c.Pools, err = poolsFromEnv(getenv, c.NoDefaultPools)
	return c, err
}

func poolsFromEnv(getenv func(string) string, none bool) ([]PoolConfig, error) {
	v4cidr, v6cidr := getenv("CALICO_IPV4POOL_CIDR"), getenv("CALICO_IPV6POOL_CIDR")
	if none {
		return nil, nil
	}
	var pools []PoolConfig
	for _, fam := range []struct {
		v, name, cidr string
		block         int
	}{{"4", "default-ipv4-ippool", or(v4cidr, DefaultIPv4PoolCIDR), 26}, {"6", "default-ipv6-ippool", v6cidr, 122}} {
		if fam.cidr == "" {
			continue // an IPv6 default pool only when asked for
		}
		prefix := "CALICO_IPV" + fam.v + "POOL_"
		p := PoolConfig{Name: fam.name, CIDR: fam.cidr, BlockSize: fam.block, NodeSelector: getenv(prefix + "NODE_SELECTOR")}
		ip, n, err := net.ParseCIDR(fam.cidr)
		if err != nil || (fam.v == "4") != (ip.To4() != nil) {
			return nil, fmt.Errorf("%sCIDR=%q: not a valid IPv%s CIDR", prefix, fam.cidr, fam.v)
		}
		p.CIDR = n.String()
		if bs := getenv(prefix + "BLOCK_SIZE"); bs != "" {
			if p.BlockSize, err = strconv.Atoi(bs); err != nil {
				return nil, fmt.Errorf("%sBLOCK_SIZE=%q: not a number", prefix, bs)
			}
		}
		if p.IPIPMode, err = parseEncap(prefix+"IPIP", getenv(prefix+"IPIP")); err != nil {
			return nil, err
		}
		if p.VXLANMode, err = parseEncap(prefix+"VXLAN", getenv(prefix+"VXLAN")); err != nil {
			return nil, err
		}
		if p.NATOutgoing, err = parseBool(prefix+"NAT_OUTGOING", getenv(prefix+"NAT_OUTGOING"), fam.v == "4"); err != nil {
			return nil, err
		}
		pools = append(pools, p)
	}
	return pools, nil
}

// parseEncap maps the spellings operators use (off, never, always, crosssubnet, cross-subnet) to v3 modes.
func parseEncap(name, v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "off", "never":
		return api.EncapNever, nil
	case "always":
		return api.EncapAlways, nil
	case "crosssubnet", "cross-subnet":
		return api.EncapCrossSubnet, nil
	}
	return "", fmt.Errorf("%s=%q: unrecognized mode: use Always, CrossSubnet or Never", name, v)
}

func parseBool(name, v string, def bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "true", "yes", "y", "t", "1":
		return true, nil
	case "false", "no", "n", "f", "0":
		return false, nil
	}
	return def, fmt.Errorf("%s=%q: not a boolean (true or false)", name, v)
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

// parseAddr parses "10.0.0.1" (becoming /32, or /128) or "10.0.0.1/24" of the wanted family.
func parseAddr(s string, v6 bool) (*net.IPNet, error) {
	var n *net.IPNet
	if strings.Contains(s, "/") {
		ip, cidr, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("not an IP address or CIDR")
		}
		n = &net.IPNet{IP: ip, Mask: cidr.Mask}
	} else {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("not an IP address")
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		n = &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
	}
	if (n.IP.To4() == nil) != v6 {
		return nil, fmt.Errorf("wrong IP version: want IPv%s", map[bool]string{false: "4", true: "6"}[v6])
	}
	if n.IP.To4() != nil {
		n.IP = n.IP.To4()
	}
	return n, nil
}
