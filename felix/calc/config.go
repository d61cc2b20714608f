package calc

import (
	"net/netip"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/rules"
)

// Config is the part of felix's settings that shapes the desired state. Package felix/config decides the values
// (environment over FelixConfiguration node.<host> over default over built-in defaults); the Calculator reports
// the FelixConfiguration resources it sees (FelixConfiguration) so the caller can redo that and call SetConfig.
type Config struct {
	InterfacePrefix             string          // workload interface prefix, or a comma-separated list; default "cali"
	DefaultEndpointToHostAction string          // Drop (also when empty), Accept or Return, in any case
	FailsafeInbound             []api.ProtoPort // host ports that stay open whatever the policy says
	FailsafeOutbound            []api.ProtoPort
	IPIPMTU                     int   // tunl0 MTU; 0: HostMTU − 20
	VXLANEnabled                *bool // nil: VXLAN when an IPv4 pool has vxlanMode on; false: never; true: always
	VXLANVNI                    int   // 0 means 4096
	VXLANPort                   int   // 0 means 4789
	VXLANMTU                    int   // vxlan.calico MTU; 0: HostMTU − 50
	HostMTU                     int   // MTU of the host interface that carries the node's address; 0 means 1500
	// InterfaceAddrs are the host's interface addresses (address → interface), for host endpoints that give
	// expectedIPs but no interfaceName: such an endpoint applies to the interface holding one of its addresses.
	InterfaceAddrs map[netip.Addr]string
	LogPrefix      string // prefix of packets logged by Log rules; "" means "calico-packet"
	IPv6Support    bool   // program IPv6 workload routes, blackholes and sysctls
}

// Defaults of the settings in Config.
const (
	DefaultInterfacePrefix = "cali"
	DefaultHostMTU         = 1500
	DefaultVXLANVNI        = 4096
	DefaultVXLANPort       = 4789
	// IPIPOverhead and VXLANOverhead are what each encapsulation adds to a packet (IPv4 outer headers).
	IPIPOverhead     = 20
	VXLANOverhead    = 50
	DefaultLogPrefix = "calico-packet"
)

// DefaultConfig is the Config with felix's built-in settings.
func DefaultConfig() Config {
	return Config{
		InterfacePrefix:             DefaultInterfacePrefix,
		DefaultEndpointToHostAction: rules.ActionDrop,
		FailsafeInbound: []api.ProtoPort{
			{Protocol: "tcp", Port: 22}, {Protocol: "udp", Port: 68}, {Protocol: "tcp", Port: 179},
			{Protocol: "tcp", Port: 2379}, {Protocol: "tcp", Port: 2380}, {Protocol: "tcp", Port: 5473},
			{Protocol: "tcp", Port: 6443}, {Protocol: "tcp", Port: 6666}, {Protocol: "tcp", Port: 6667},
		},
		FailsafeOutbound: []api.ProtoPort{
			{Protocol: "udp", Port: 53}, {Protocol: "udp", Port: 67}, {Protocol: "tcp", Port: 179},
			{Protocol: "tcp", Port: 2379}, {Protocol: "tcp", Port: 2380}, {Protocol: "tcp", Port: 5473},
			{Protocol: "tcp", Port: 6443}, {Protocol: "tcp", Port: 6666}, {Protocol: "tcp", Port: 6667},
		},
		LogPrefix:   DefaultLogPrefix,
		IPv6Support: true,
	}
}

// interfacePrefixes splits InterfacePrefix into its prefixes.
func (c Config) interfacePrefixes() []string {
	var out []string
	for _, p := range strings.Split(c.InterfacePrefix, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return []string{DefaultInterfacePrefix}
	}
	return out
}

func (c Config) hostMTU() int {
	if c.HostMTU > 0 {
		return c.HostMTU
	}
	return DefaultHostMTU
}

func (c Config) ipipMTU() int {
	if c.IPIPMTU > 0 {
		return c.IPIPMTU
	}
	return c.hostMTU() - IPIPOverhead
}

func (c Config) vxlanMTU() int {
	if c.VXLANMTU > 0 {
		return c.VXLANMTU
	}
	return c.hostMTU() - VXLANOverhead
}

func (c Config) vxlanVNI() int {
	if c.VXLANVNI > 0 {
		return c.VXLANVNI
	}
	return DefaultVXLANVNI
}

func (c Config) vxlanPort() int {
	if c.VXLANPort > 0 {
		return c.VXLANPort
	}
	return DefaultVXLANPort
}
