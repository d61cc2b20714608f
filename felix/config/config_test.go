package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func ptr[T any](v T) *T { return &v }

func TestEnvironmentBeatsPerNodeBeatsGlobalBeatsDefaults(t *testing.T) {
	global := &api.FelixConfigurationSpec{DefaultEndpointToHostAction: "Accept", IPIPMTU: ptr(1400), IPIPEnabled: ptr(true), HealthPort: ptr(9199)}
	perNode := &api.FelixConfigurationSpec{DefaultEndpointToHostAction: "Return", IPIPMTU: ptr(1450)}
	c, err := Load(env("NODENAME", "Host-1", "FELIX_IPINIPMTU", "1300"), global, perNode)
	if err != nil {
		t.Fatal(err)
	}
	if c.IPIPMTU != 1300 {
		t.Errorf("env should win for ipipMTU: got %d", c.IPIPMTU)
	}
	if c.DefaultEndpointToHostAction != "Return" {
		t.Errorf("per-node should beat global: got %s", c.DefaultEndpointToHostAction)
	}
	if !c.IPIPEnabled || c.HealthPort != 9199 {
		t.Errorf("global should beat defaults: got ipip %t health port %d", c.IPIPEnabled, c.HealthPort)
	}
	if c.IptablesRefreshInterval != 90*time.Second || c.InterfacePrefix != "cali" {
		t.Errorf("defaults: got %+v", c)
	}
	if c.Hostname != "host-1" {
		t.Errorf("hostname from NODENAME, lower-cased: got %q", c.Hostname)
	}
}

func TestTunnelMTUsOfZeroMeanFromTheHostInterface(t *testing.T) {
	c, err := Load(env("NODENAME", "h", "FELIX_IPINIPMTU", "0", "FELIX_VXLANMTU", "0"),
		&api.FelixConfigurationSpec{IPIPMTU: ptr(1400), VXLANMTU: ptr(1400)}, nil)
	if err != nil || c.IPIPMTU != 0 || c.VXLANMTU != 0 {
		t.Errorf("FELIX_IPINIPMTU=0 and FELIX_VXLANMTU=0 should win and mean auto: got %d, %d, %v", c.IPIPMTU, c.VXLANMTU, err)
	}
	c, err = Load(env("NODENAME", "h", "CALICO_NODENAME_FILE", "/run/x/nodename", "FELIX_VXLANVNI", "7", "FELIX_VXLANENABLED", "false"), nil, nil)
	if err != nil || c.MTUFile != "/run/x/mtu" || c.VXLANVNI != 7 || c.VXLANEnabled == nil || *c.VXLANEnabled {
		t.Errorf("got MTU file %q, VNI %d, vxlanEnabled %v, %v: want /run/x/mtu, 7, false", c.MTUFile, c.VXLANVNI, c.VXLANEnabled, err)
	}
}

func TestEnvironmentValuesAreCheckedAndNamed(t *testing.T) {
	cases := []struct{ env, value, want string }{
		{"FELIX_DEFAULTENDPOINTTOHOSTACTION", "allow", "must be one of Drop, Accept, Return"},
		{"FELIX_IPINIPMTU", "9", "must be 0 (from the host interface) or a number from 576 to 65535"},
		{"FELIX_VXLANMTU", "-1", "must be 0 (from the host interface) or a number from 576 to 65535"},
		{"FELIX_VXLANVNI", "16777216", "must be a number from 1 to 16777215"},
		{"FELIX_VXLANPORT", "0", "must be a number from 1 to 65535"},
		{"FELIX_VXLANENABLED", "maybe", "not a boolean"},
		{"FELIX_HEALTHENABLED", "sometimes", "not a boolean"},
		{"FELIX_IPTABLESREFRESHINTERVAL", "soon", "not a number of seconds"},
		{"FELIX_FAILSAFEINBOUNDHOSTPORTS", "tcp:99999", "port must be 1-65535"},
		{"FELIX_FAILSAFEINBOUNDHOSTPORTS", "icmp:1", "protocol must be"},
		{"FELIX_IPTABLESBACKEND", "nftables", "must be one of Auto, NFT, Legacy"},
	}
	for _, c := range cases {
		_, err := Load(env("NODENAME", "h", c.env, c.value), nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.env) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: got %v, want an error naming the variable and %q", c.env, c.value, err, c.want)
		}
	}
}

func TestEnvironmentSpellingsFelixAccepts(t *testing.T) {
	c, err := Load(env("NODENAME", "h", "FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT", "FELIX_IPTABLESREFRESHINTERVAL", "10",
		"FELIX_FAILSAFEINBOUNDHOSTPORTS", "tcp:22,udp:68,8080", "FELIX_FAILSAFEOUTBOUNDHOSTPORTS", "none",
		"FELIX_IPTABLESBACKEND", "nft"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultEndpointToHostAction != "Accept" || c.IptablesRefreshInterval != 10*time.Second || c.IptablesBackend != "NFT" {
		t.Errorf("got %s %s %s", c.DefaultEndpointToHostAction, c.IptablesRefreshInterval, c.IptablesBackend)
	}
	if len(c.FailsafeInboundHostPorts) != 3 || c.FailsafeInboundHostPorts[2] != (api.ProtoPort{Protocol: "TCP", Port: 8080}) {
		t.Errorf("inbound failsafe: got %+v", c.FailsafeInboundHostPorts)
	}
	if len(c.FailsafeOutboundHostPorts) != 0 {
		t.Errorf("none should clear the outbound failsafe list, got %+v", c.FailsafeOutboundHostPorts)
	}
}

func TestRestartIsNeededOnlyForStartupSettings(t *testing.T) {
	a := Defaults()
	b := a
	b.IPIPMTU = 1400
	if NeedsRestart(a, b) {
		t.Errorf("an MTU change is applied live")
	}
	b.HealthPort = 9999
	if !NeedsRestart(a, b) {
		t.Errorf("a health port change needs a restart")
	}
	b = a
	b.IptablesBackend = "Legacy"
	if !NeedsRestart(a, b) {
		t.Errorf("a backend change needs a restart (the new felix cleans the old backend)")
	}
}

func TestIPv6SupportCanBeTurnedOff(t *testing.T) {
	if c, _ := Load(env("NODENAME", "h"), nil, nil); !c.IPv6Support {
		t.Errorf("IPv6 support is on by default")
	}
	off := false
	if c, _ := Load(env("NODENAME", "h"), &api.FelixConfigurationSpec{IPv6Support: &off}, nil); c.IPv6Support {
		t.Errorf("FelixConfiguration ipv6Support: false should turn it off")
	}
	if c, _ := Load(env("NODENAME", "h", "FELIX_IPV6SUPPORT", "false"), nil, nil); c.IPv6Support {
		t.Errorf("FELIX_IPV6SUPPORT=false should turn it off")
	}
}

func TestFailsafeDefaultsAreCalicos(t *testing.T) {
	c := Defaults()
	str := func(ps []api.ProtoPort) string {
		var out []string
		for _, p := range ps {
			out = append(out, fmt.Sprintf("%s:%d", strings.ToLower(p.Protocol), p.Port))
		}
		return strings.Join(out, ",")
	}
	if got, want := str(c.FailsafeInboundHostPorts), "tcp:22,udp:68,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"; got != want {
		t.Errorf("failsafe inbound = %s, want %s", got, want)
	}
	if got, want := str(c.FailsafeOutboundHostPorts), "udp:53,udp:67,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"; got != want {
		t.Errorf("failsafe outbound = %s, want %s", got, want)
	}
}
