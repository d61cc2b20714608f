package calc

import (
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
	IPIPMTU                     int    // tunl0 MTU; 0 means 1480
	LogPrefix                   string // prefix of packets logged by Log rules; "" means "calico-packet"
	IPv6Support                 bool   // program IPv6 workload routes, blackholes and sysctls
}

// Defaults of the settings in Config.
const (
	DefaultInterfacePrefix = "cali"
	DefaultIPIPMTU         = 1480
	DefaultLogPrefix       = "calico-packet"
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
		IPIPMTU:     DefaultIPIPMTU,
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

func (c Config) ipipMTU() int {
	if c.IPIPMTU > 0 {
		return c.IPIPMTU
	}
	return DefaultIPIPMTU
}
