// Package config decides felix's effective settings from, highest first: FELIX_* environment variables, the
// per-node FelixConfiguration ("node.<host>"), the global one ("default"), and built-in defaults. It is pure.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/calico-l3/calico/api"
)

// Config is felix's effective configuration.
type Config struct {
	Hostname                    string
	IPv6Support                 bool   // program ip6tables, IPv6 ipsets, routes and sysctls
	DefaultEndpointToHostAction string // Drop, Accept or Return
	IptablesRefreshInterval     time.Duration
	RouteRefreshInterval        time.Duration
	IPIPEnabled                 bool
	IPIPMTU                     int   // tunl0 MTU; 0: the host interface's MTU − 20
	VXLANEnabled                *bool // nil: by the pools (a pool with vxlanMode on); false: never; true: always
	VXLANVNI                    int
	VXLANPort                   int
	VXLANMTU                    int // vxlan.calico MTU; 0: the host interface's MTU − 50
	// MTUFile is where felix writes the MTU workload interfaces should get, for the CNI plugin: "mtu" beside the
	// node-name file (CALICO_NODENAME_FILE, /var/lib/calico/nodename), as in Calico.
	MTUFile                   string
	InterfacePrefix           string
	ChainInsertMode           string // Insert or Append
	IptablesBackend           string // Auto, NFT or Legacy (see felix/dataplane)
	LogSeverityScreen         string
	LogPrefix                 string
	HealthEnabled             bool
	HealthHost                string
	HealthPort                int
	PrometheusMetricsEnabled  bool
	PrometheusMetricsPort     int
	FailsafeInboundHostPorts  []api.ProtoPort
	FailsafeOutboundHostPorts []api.ProtoPort
}

// Defaults are felix's built-in settings.
func Defaults() Config {
	return Config{
		IPv6Support:                 true,
		DefaultEndpointToHostAction: "Drop",
		IptablesRefreshInterval:     90 * time.Second,
		RouteRefreshInterval:        90 * time.Second,
		VXLANVNI:                    4096,
		VXLANPort:                   4789,
		MTUFile:                     "/var/lib/calico/mtu",
		InterfacePrefix:             "cali",
		ChainInsertMode:             "Insert",
		IptablesBackend:             "Auto",
		LogSeverityScreen:           "Info",
		LogPrefix:                   "calico-packet",
		HealthEnabled:               true,
		HealthHost:                  "localhost",
		HealthPort:                  9099,
		PrometheusMetricsPort:       9091,
		FailsafeInboundHostPorts: []api.ProtoPort{{Protocol: "TCP", Port: 22}, {Protocol: "UDP", Port: 68}, {Protocol: "TCP", Port: 179},
			{Protocol: "TCP", Port: 2379}, {Protocol: "TCP", Port: 2380}, {Protocol: "TCP", Port: 5473}, {Protocol: "TCP", Port: 6443}, {Protocol: "TCP", Port: 6666}, {Protocol: "TCP", Port: 6667}},
		FailsafeOutboundHostPorts: []api.ProtoPort{{Protocol: "UDP", Port: 53}, {Protocol: "UDP", Port: 67}, {Protocol: "TCP", Port: 179},
			{Protocol: "TCP", Port: 2379}, {Protocol: "TCP", Port: 2380}, {Protocol: "TCP", Port: 5473}, {Protocol: "TCP", Port: 6443}, {Protocol: "TCP", Port: 6666}, {Protocol: "TCP", Port: 6667}},
	}
}

// Load merges the sources. global and perNode may be nil. The hostname comes from FELIX_FELIXHOSTNAME, NODENAME,
// then the OS. Every error names the variable or resource field and the reason.
func Load(getenv func(string) string, global, perNode *api.FelixConfigurationSpec) (Config, error) {
	c := Defaults()
	for _, spec := range []*api.FelixConfigurationSpec{global, perNode} {
		if spec != nil {
			fromSpec(&c, spec)
		}
	}
	if err := fromEnv(&c, getenv); err != nil {
		return c, err
	}
	if c.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("no FELIX_FELIXHOSTNAME or NODENAME and no OS host name: %w", err)
		}
		c.Hostname = strings.ToLower(h)
	}
	return c, nil
}

func fromSpec(c *Config, s *api.FelixConfigurationSpec) {
	setStr(&c.DefaultEndpointToHostAction, s.DefaultEndpointToHostAction)
	setStr(&c.InterfacePrefix, s.InterfacePrefix)
	setStr(&c.ChainInsertMode, s.ChainInsertMode)
	setStr(&c.IptablesBackend, s.IptablesBackend)
	setStr(&c.LogSeverityScreen, s.LogSeverityScreen)
	setStr(&c.LogPrefix, s.LogPrefix)
	setStr(&c.HealthHost, s.HealthHost)
	if s.IptablesRefreshInterval != nil {
		c.IptablesRefreshInterval = s.IptablesRefreshInterval.Duration
	}
	if s.RouteRefreshInterval != nil {
		c.RouteRefreshInterval = s.RouteRefreshInterval.Duration
	}
	setPtr(&c.IPv6Support, s.IPv6Support)
	setPtr(&c.IPIPEnabled, s.IPIPEnabled)
	setPtr(&c.IPIPMTU, s.IPIPMTU)
	if s.VXLANEnabled != nil {
		c.VXLANEnabled = s.VXLANEnabled
	}
	setPtr(&c.VXLANVNI, s.VXLANVNI)
	setPtr(&c.VXLANPort, s.VXLANPort)
	setPtr(&c.VXLANMTU, s.VXLANMTU)
	setPtr(&c.HealthEnabled, s.HealthEnabled)
	setPtr(&c.HealthPort, s.HealthPort)
	setPtr(&c.PrometheusMetricsEnabled, s.PrometheusMetricsEnabled)
	setPtr(&c.PrometheusMetricsPort, s.PrometheusMetricsPort)
	setPtr(&c.FailsafeInboundHostPorts, s.FailsafeInboundHostPorts)
	setPtr(&c.FailsafeOutboundHostPorts, s.FailsafeOutboundHostPorts)
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setPtr[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// fromEnv applies FELIX_<PARAM> variables (names case-insensitive, as felix accepts them).
func fromEnv(c *Config, getenv func(string) string) error {
	c.Hostname = strings.ToLower(strings.TrimSpace(firstSet(getenv("FELIX_FELIXHOSTNAME"), getenv("NODENAME"))))
	str := map[string]*string{
		"FELIX_DEFAULTENDPOINTTOHOSTACTION": &c.DefaultEndpointToHostAction,
		"FELIX_INTERFACEPREFIX":             &c.InterfacePrefix,
		"FELIX_CHAININSERTMODE":             &c.ChainInsertMode,
		"FELIX_IPTABLESBACKEND":             &c.IptablesBackend,
		"FELIX_LOGSEVERITYSCREEN":           &c.LogSeverityScreen,
		"FELIX_LOGPREFIX":                   &c.LogPrefix,
		"FELIX_HEALTHHOST":                  &c.HealthHost,
	}
	for name, dst := range str {
		setStr(dst, strings.TrimSpace(getenv(name)))
	}
	c.DefaultEndpointToHostAction = titleCase(c.DefaultEndpointToHostAction)
	c.ChainInsertMode = titleCase(c.ChainInsertMode)
	c.LogSeverityScreen = titleCase(c.LogSeverityScreen)
	if err := oneOf("FELIX_DEFAULTENDPOINTTOHOSTACTION", c.DefaultEndpointToHostAction, "Drop", "Accept", "Return"); err != nil {
		return err
	}
	if err := oneOf("FELIX_CHAININSERTMODE", c.ChainInsertMode, "Insert", "Append"); err != nil {
		return err
	}
	c.IptablesBackend = backendName(c.IptablesBackend)
	if err := oneOf("FELIX_IPTABLESBACKEND", c.IptablesBackend, iptablesBackends...); err != nil {
		return err
	}
	if v := strings.TrimSpace(getenv("CALICO_NODENAME_FILE")); v != "" {
		c.MTUFile = filepath.Join(filepath.Dir(v), "mtu")
	}
	if v := strings.TrimSpace(getenv("FELIX_VXLANENABLED")); v != "" {
		b, err := strconv.ParseBool(strings.ToLower(v))
		if err != nil {
			return fmt.Errorf("FELIX_VXLANENABLED=%q: not a boolean (true or false)", v)
		}
		c.VXLANEnabled = &b
	}
	for name, dst := range map[string]*time.Duration{"FELIX_IPTABLESREFRESHINTERVAL": &c.IptablesRefreshInterval, "FELIX_ROUTEREFRESHINTERVAL": &c.RouteRefreshInterval} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := parseSeconds(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*dst = d
		}
	}
	for name, dst := range map[string]*bool{"FELIX_IPV6SUPPORT": &c.IPv6Support, "FELIX_IPINIPENABLED": &c.IPIPEnabled, "FELIX_HEALTHENABLED": &c.HealthEnabled, "FELIX_PROMETHEUSMETRICSENABLED": &c.PrometheusMetricsEnabled} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				return fmt.Errorf("%s=%q: not a boolean (true or false)", name, v)
			}
			*dst = b
		}
	}
	for _, p := range []struct {
		names    []string
		dst      *int
		min, max int
		zero     bool // 0 is also accepted: "work it out" (the tunnel MTUs, from the host interface)
	}{
		{[]string{"FELIX_IPINIPMTU", "FELIX_IPIPMTU"}, &c.IPIPMTU, 576, 65535, true},
		{[]string{"FELIX_VXLANMTU"}, &c.VXLANMTU, 576, 65535, true},
		{[]string{"FELIX_VXLANVNI"}, &c.VXLANVNI, 1, 1<<24 - 1, false},
		{[]string{"FELIX_VXLANPORT"}, &c.VXLANPort, 1, 65535, false},
		{[]string{"FELIX_HEALTHPORT"}, &c.HealthPort, 1, 65535, false},
		{[]string{"FELIX_PROMETHEUSMETRICSPORT"}, &c.PrometheusMetricsPort, 1, 65535, false},
	} {
		for _, name := range p.names {
			if v := strings.TrimSpace(getenv(name)); v != "" {
				n, err := strconv.Atoi(v)
				if p.zero && err == nil && n == 0 {
					*p.dst = 0
					continue
				}
				if err != nil || n < p.min || n > p.max {
					if p.zero {
						return fmt.Errorf("%s=%q: must be 0 (from the host interface) or a number from %d to %d", name, v, p.min, p.max)
					}
					return fmt.Errorf("%s=%q: must be a number from %d to %d", name, v, p.min, p.max)
				}
				*p.dst = n
			}
		}
	}
	for name, dst := range map[string]*[]api.ProtoPort{"FELIX_FAILSAFEINBOUNDHOSTPORTS": &c.FailsafeInboundHostPorts, "FELIX_FAILSAFEOUTBOUNDHOSTPORTS": &c.FailsafeOutboundHostPorts} {
		if v, set := lookup(getenv, name); set {
			ports, err := parseProtoPorts(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", name, v, err)
			}
			*dst = ports
		}
	}
	return nil
}

// lookup treats "none" as an explicit empty list, as felix does.
func lookup(getenv func(string) string, name string) (string, bool) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return "", false
	}
	if strings.EqualFold(v, "none") {
		return "", true
	}
	return v, true
}

// parseProtoPorts parses "tcp:22,udp:68" (a bare port means tcp).
func parseProtoPorts(s string) ([]api.ProtoPort, error) {
	var out []api.ProtoPort
	if s == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		proto, port, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			proto, port = "tcp", proto
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port must be 1-65535", item)
		}
		p := strings.ToUpper(proto)
		if p != "TCP" && p != "UDP" && p != "SCTP" {
			return nil, fmt.Errorf("%q: protocol must be tcp, udp or sctp", item)
		}
		out = append(out, api.ProtoPort{Protocol: p, Port: uint16(n)})
	}
	return out, nil
}

// parseSeconds accepts felix's plain seconds ("90") and Go durations ("90s").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a number of seconds or a duration like 90s")
	}
	return d, nil
}

func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s=%q: must be one of %s", name, v, strings.Join(allowed, ", "))
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}

func firstSet(vs ...string) string {
	for _, v := range vs {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// NeedsRestart says whether moving from a to b changes something felix only reads at start (listening ports,
// host name); felix then exits and its supervisor restarts it.
func NeedsRestart(a, b Config) bool {
	return a.Hostname != b.Hostname || a.HealthEnabled != b.HealthEnabled || a.HealthHost != b.HealthHost ||
		a.HealthPort != b.HealthPort || a.PrometheusMetricsEnabled != b.PrometheusMetricsEnabled ||
		a.PrometheusMetricsPort != b.PrometheusMetricsPort || a.InterfacePrefix != b.InterfacePrefix ||
		a.ChainInsertMode != b.ChainInsertMode || a.IptablesBackend != b.IptablesBackend
}

// iptablesBackends are the values of iptablesBackend, as the API spells them.
var iptablesBackends = []string{"Auto", "NFT", "Legacy"}

// backendName spells an iptables backend as the API does, whatever its case (felix takes FELIX_IPTABLESBACKEND=nft).
func backendName(s string) string {
	for _, b := range iptablesBackends {
		if strings.EqualFold(s, b) {
			return b
		}
	}
	return s
}
