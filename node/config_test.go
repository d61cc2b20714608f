package node

import (
	"net"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfigFromEnvRejectsBadValuesNamingTheVariable(t *testing.T) {
	cases := []struct {
		name    string
		env     func(string) string
		wantErr string
	}{
		{"an IPv6 address in IP", env("IP", "fd00::1"), `IP="fd00::1": wrong IP version`},
		{"garbage in IP", env("IP", "10.0.0.300"), `IP="10.0.0.300": not an IP address`},
		{"an IPv4 address in IP6", env("IP6", "10.0.0.1"), `IP6="10.0.0.1": wrong IP version`},
		{"an unknown autodetection method", env("IP_AUTODETECTION_METHOD", "magic"), `IP_AUTODETECTION_METHOD="magic": unknown autodetection method`},
		{"a bad interface regex", env("IP_AUTODETECTION_METHOD", "interface=eth(0"), `not a regular expression`},
		{"can-reach without a target", env("IP_AUTODETECTION_METHOD", "can-reach="), `can-reach needs a destination`},
		{"a bad AS", env("AS", "70000.1"), `AS="70000.1"`},
		{"an unknown backend", env("CALICO_NETWORKING_BACKEND", "gobgp"), `CALICO_NETWORKING_BACKEND="gobgp" is not supported`},
		{"an unknown backend names the supported ones", env("CALICO_NETWORKING_BACKEND", "ipip"), `use bird, vxlan or none`},
		{"an unknown IPIP mode", env("CALICO_IPV4POOL_IPIP", "sometimes"), `CALICO_IPV4POOL_IPIP="sometimes": unrecognized mode`},
		{"an unknown VXLAN mode", env("CALICO_IPV4POOL_VXLAN", "often"), `CALICO_IPV4POOL_VXLAN="often": unrecognized mode`},
		{"a bad pool CIDR", env("CALICO_IPV4POOL_CIDR", "10.0.0.0/33"), `CALICO_IPV4POOL_CIDR="10.0.0.0/33"`},
		{"an IPv6 CIDR in the IPv4 pool", env("CALICO_IPV4POOL_CIDR", "fd00::/64"), `not a valid IPv4 CIDR`},
		{"a non-numeric block size", env("CALICO_IPV4POOL_BLOCK_SIZE", "big"), `CALICO_IPV4POOL_BLOCK_SIZE="big": not a number`},
		{"a non-boolean NAT setting", env("CALICO_IPV4POOL_NAT_OUTGOING", "maybe"), `CALICO_IPV4POOL_NAT_OUTGOING="maybe": not a boolean`},
		{"a bad wait timeout", env("DATASTORE_WAIT_TIMEOUT", "soon"), `DATASTORE_WAIT_TIMEOUT="soon"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ConfigFromEnv(c.env)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env())
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "bird" || c.IPMethod != "first-found" || c.NodeNameFile != DefaultNodeNameFile || c.DatastoreWait != DefaultDatastoreWait {
		t.Errorf("defaults: got %+v", c)
	}
	if len(c.Pools) != 1 || c.Pools[0].CIDR != "192.168.0.0/16" || c.Pools[0].BlockSize != 26 || !c.Pools[0].NATOutgoing || c.Pools[0].IPIPMode != "Never" {
		t.Errorf("default pool: got %+v", c.Pools)
	}
}

func TestConfigFromEnvAcceptsCalicosBackends(t *testing.T) {
	for _, b := range []string{"bird", "vxlan", "none"} {
		c, err := ConfigFromEnv(env("CALICO_NETWORKING_BACKEND", b))
		if err != nil || c.Backend != b {
			t.Errorf("CALICO_NETWORKING_BACKEND=%s: got backend %q, error %v", b, c.Backend, err)
		}
	}
}

func TestConfigFromEnvReadsTheDefaultPoolsVXLANMode(t *testing.T) {
	cases := []struct{ value, want string }{
		{"", "Never"}, {"Always", "Always"}, {"cross-subnet", "CrossSubnet"}, {"CrossSubnet", "CrossSubnet"}, {"off", "Never"},
	}
	for _, c := range cases {
		cfg, err := ConfigFromEnv(env("CALICO_IPV4POOL_VXLAN", c.value))
		if err != nil || len(cfg.Pools) != 1 || cfg.Pools[0].VXLANMode != c.want || cfg.Pools[0].IPIPMode != "Never" {
			t.Errorf("CALICO_IPV4POOL_VXLAN=%q: got %+v (%v), want vxlanMode %s", c.value, cfg.Pools, err, c.want)
		}
	}
}

func TestConfigFromEnvPoolSettings(t *testing.T) {
	c, err := ConfigFromEnv(env("CALICO_IPV4POOL_CIDR", "10.1.0.0/16", "CALICO_IPV4POOL_IPIP", "cross-subnet", "CALICO_IPV4POOL_NAT_OUTGOING", "false",
		"CALICO_IPV4POOL_BLOCK_SIZE", "28", "CALICO_IPV6POOL_CIDR", "fd00:1::/48", "WAIT_FOR_DATASTORE", "false"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pools) != 2 || c.Pools[0].IPIPMode != "CrossSubnet" || c.Pools[0].NATOutgoing || c.Pools[0].BlockSize != 28 ||
		c.Pools[1].CIDR != "fd00:1::/48" || c.Pools[1].BlockSize != 122 {
		t.Errorf("pools: got %+v", c.Pools)
	}
	if c.DatastoreWait != 0 {
		t.Errorf("WAIT_FOR_DATASTORE=false should mean one try, got %s", c.DatastoreWait)
	}
	c, _ = ConfigFromEnv(env("NO_DEFAULT_POOLS", "true", "DATASTORE_WAIT_TIMEOUT", "5s"))
	if len(c.Pools) != 0 || c.DatastoreWait != 5*time.Second {
		t.Errorf("NO_DEFAULT_POOLS=true: got %+v", c)
	}
}

func mustCIDR(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestAutodetectionMethodsPickTheRightAddress(t *testing.T) {
	ifaces := []Iface{
		{Name: "lo", Addrs: []*net.IPNet{mustCIDR("127.0.0.1/8")}},
		{Name: "docker0", Addrs: []*net.IPNet{mustCIDR("172.17.0.1/16")}},
		{Name: "cali12345", Addrs: []*net.IPNet{mustCIDR("10.9.9.9/32")}},
		{Name: "eth0", Addrs: []*net.IPNet{mustCIDR("fe80::1/64"), mustCIDR("10.0.0.5/24"), mustCIDR("fd00::5/64")}},
		{Name: "eth1", Addrs: []*net.IPNet{mustCIDR("192.168.50.7/24")}},
	}
	cases := []struct {
		method  string
		v6      bool
		want    string
		wantIf  string
		wantErr bool
	}{
		{"first-found", false, "10.0.0.5/24", "eth0", false},
		{"first-found", true, "fd00::5/64", "eth0", false},
		{"interface=eth1", false, "192.168.50.7/24", "eth1", false},
		{"interface=wlan.*,eth1", false, "192.168.50.7/24", "eth1", false},
		{"skip-interface=eth0", false, "192.168.50.7/24", "eth1", false},
		{"cidr=192.168.0.0/16", false, "192.168.50.7/24", "eth1", false},
		{"interface=docker0", false, "172.17.0.1/16", "docker0", false},
		{"interface=nothing", false, "", "", true},
	}
	for _, c := range cases {
		m, err := ParseMethod(c.method)
		if err != nil {
			t.Fatalf("%s: %v", c.method, err)
		}
		got, ifname, err := m.Pick(ifaces, c.v6)
		if c.wantErr {
			if err == nil {
				t.Errorf("%s: want an error, got %s", c.method, got)
			}
			continue
		}
		if err != nil || got.String() != c.want || ifname != c.wantIf {
			t.Errorf("%s (v6=%t): got %v on %s (%v), want %s on %s", c.method, c.v6, got, ifname, err, c.want, c.wantIf)
		}
	}
}
