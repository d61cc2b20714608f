package calc

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

func vxlanPool(name, cidr, mode string) *api.IPPool {
	return &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.IPPoolSpec{CIDR: cidr, IPIPMode: api.EncapNever, VXLANMode: mode}}
}

func vxlanNode(name, addr, tunnel, mac string) *api.Node {
	n := calicoNode(name, addr, "")
	n.Spec.IPv4VXLANTunnelAddr, n.Spec.VXLANTunnelMACAddr = tunnel, mac
	return n
}

func TestVXLANRoutesAndDevice(t *testing.T) {
	events := []datastore.Event{
		added(vxlanNode(host, "192.168.1.10/24", "10.1.0.0", "66:00:00:00:00:01")),
		added(vxlanNode("node2", "192.168.1.11/24", "10.1.1.0", "66:00:00:00:00:02")), // same subnet
		added(vxlanNode("node3", "192.168.2.12/24", "10.1.2.0", "66:00:00:00:00:03")), // another subnet
		added(vxlanNode("node4", "192.168.2.13/24", "", "")),                          // no VTEP yet
		affinityEvent(datastore.Added, host, "10.1.0.0/26", ""),
		affinityEvent(datastore.Added, "node2", "10.1.1.0/26", ""),
		affinityEvent(datastore.Added, "node3", "10.1.2.0/26", ""),
		affinityEvent(datastore.Added, "node4", "10.1.3.0/26", ""),
		added(wep("node3", "b", "calib", "10.1.0.9/32")), // borrowed from this host's block
	}
	vteps := []desired.VTEP{
		{Node: "node2", TunnelAddr: netip.MustParseAddr("10.1.1.0"), MAC: "66:00:00:00:00:02", HostAddr: netip.MustParseAddr("192.168.1.11")},
		{Node: "node3", TunnelAddr: netip.MustParseAddr("10.1.2.0"), MAC: "66:00:00:00:00:03", HostAddr: netip.MustParseAddr("192.168.2.12")},
	}
	tests := []struct {
		name   string
		mode   string
		cfg    func(*Config)
		routes []string
		device bool
	}{
		// node4 has no VTEP yet: no route to its block in either mode.
		{"Always: every other host's blocks via its tunnel address", api.EncapAlways, nil, []string{
			"blackhole 10.1.0.0/26",
			"10.1.0.9/32 via 10.1.2.0 dev vxlan.calico onlink",
			"10.1.1.0/26 via 10.1.1.0 dev vxlan.calico onlink",
			"10.1.2.0/26 via 10.1.2.0 dev vxlan.calico onlink",
		}, true},
		{"CrossSubnet: direct inside the subnet", api.EncapCrossSubnet, nil, []string{
			"blackhole 10.1.0.0/26",
			"10.1.0.9/32 via 10.1.2.0 dev vxlan.calico onlink",
			"10.1.1.0/26 via 192.168.1.11",
			"10.1.2.0/26 via 10.1.2.0 dev vxlan.calico onlink",
		}, true},
		{"Never: no device, remote blocks left to BIRD", api.EncapNever, nil, []string{"blackhole 10.1.0.0/26"}, false},
		{"vxlanEnabled false turns it off", api.EncapAlways, func(c *Config) { f := false; c.VXLANEnabled = &f },
			[]string{"blackhole 10.1.0.0/26"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalc(t, append(events, added(vxlanPool("p", "10.1.0.0/16", tt.mode)))...)
			if tt.cfg != nil {
				cfg := c.Config()
				tt.cfg(&cfg)
				c.SetConfig(cfg)
			}
			st := c.State()
			assertRoutes(t, st, tt.routes...)
			if !tt.device {
				if st.VXLAN != nil {
					t.Errorf("expected no VXLAN device, got %+v", st.VXLAN)
				}
				if st.VethMTU != 1500 {
					t.Errorf("veth MTU = %d without encapsulation, want the host's 1500", st.VethMTU)
				}
				return
			}
			want := &desired.VXLAN{Name: "vxlan.calico", VNI: 4096, Port: 4789, MTU: 1450, MAC: "66:00:00:00:00:01",
				LocalAddr: netip.MustParseAddr("192.168.1.10"), Address: netip.MustParseAddr("10.1.0.0"), VTEPs: vteps}
			if !reflect.DeepEqual(st.VXLAN, want) {
				t.Errorf("VXLAN =\n%+v\nwant\n%+v", st.VXLAN, want)
			}
			if st.VethMTU != 1450 {
				t.Errorf("veth MTU = %d, want 1450 (1500 less VXLAN's 50)", st.VethMTU)
			}
			if got := st.IPSets[rules.IPSetAllVXLANHosts].Members; !slices.Equal(got, []string{"192.168.1.11", "192.168.2.12", "192.168.2.13"}) {
				t.Errorf("all-vxlan-net = %v, want the other nodes' addresses", got)
			}
			in := chain(t, st, rules.ChainInput)
			if !strings.Contains(in[0].Match, "--dport 4789 -m set --match-set "+rules.IPSetAllVXLANHosts+" src") || in[1].Action != "--jump DROP" {
				t.Errorf("cali-INPUT should accept VXLAN from Calico hosts and drop it from others, got %v", in)
			}
		})
	}
}

func TestVXLANSettingsAndMTU(t *testing.T) {
	c := newCalc(t, added(vxlanNode(host, "192.168.1.10/24", "10.1.0.0", "66:00:00:00:00:01")),
		added(vxlanPool("p", "10.1.0.0/16", api.EncapAlways)))
	cfg := c.Config()
	cfg.HostMTU, cfg.VXLANVNI, cfg.VXLANPort = 9000, 7, 8472
	c.SetConfig(cfg)
	st := c.State()
	if v := st.VXLAN; v == nil || v.VNI != 7 || v.Port != 8472 || v.MTU != 8950 || st.VethMTU != 8950 {
		t.Fatalf("VXLAN = %+v, veth MTU %d: want VNI 7, port 8472, MTU 8950 (jumbo host less 50)", v, st.VethMTU)
	}
	if in := chain(t, st, rules.ChainInput); !strings.Contains(in[0].Match, "--dport 8472") {
		t.Errorf("the VXLAN rules should follow the port: %v", in)
	}
	cfg.VXLANMTU = 1400
	c.SetConfig(cfg)
	if st := c.State(); st.VXLAN.MTU != 1400 || st.VethMTU != 1400 {
		t.Errorf("a configured vxlanMTU should win: device %d, veth %d", st.VXLAN.MTU, st.VethMTU)
	}
	// Both encapsulations in use: the veth MTU is the smaller.
	feed(c, added(&api.IPPool{ObjectMeta: api.ObjectMeta{Name: "ipip"}, Spec: api.IPPoolSpec{CIDR: "10.2.0.0/16", IPIPMode: api.EncapAlways}}))
	cfg.VXLANMTU, cfg.HostMTU = 0, 1500
	c.SetConfig(cfg)
	if st := c.State(); st.Tunnel == nil || st.Tunnel.MTU != 1480 || st.VXLAN == nil || st.VethMTU != 1450 {
		t.Errorf("IPIP + VXLAN: tunnel %+v, veth MTU %d: want tunl0 1480, vxlan.calico, veth 1450", st.Tunnel, st.VethMTU)
	}
}

func TestNoVXLANDeviceWithoutTheNodesAddress(t *testing.T) {
	c := newCalc(t, added(vxlanPool("p", "10.1.0.0/16", api.EncapAlways)),
		added(vxlanNode("node2", "192.168.1.11/24", "10.1.1.0", "66:00:00:00:00:02")))
	if st := c.State(); st.VXLAN != nil {
		t.Errorf("without this node's address there is no local end: want no device, got %+v", st.VXLAN)
	}
}
