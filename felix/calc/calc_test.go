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

func TestLocalEndpointAppearsAndDisappears(t *testing.T) {
	ep := wep(host, "node1-cni-abc-eth0", "caliabc", "10.1.0.5/32", "net1")
	c := newCalc(t, added(cniProfile("net1")), added(ep))

	st := c.State()
	assertRoutes(t, st, "10.1.0.5/32 dev caliabc scope link")
	wantSysctls := map[string]string{
		"net/ipv4/conf/caliabc/proxy_arp":    "1",
		"net/ipv4/neigh/caliabc/proxy_delay": "0",
		"net/ipv4/conf/caliabc/forwarding":   "1",
		"net/ipv4/conf/caliabc/rp_filter":    "1",
	}
	if got := st.Interfaces["caliabc"]; got.Name != "caliabc" || !reflect.DeepEqual(got.Sysctls, wantSysctls) {
		t.Errorf("interface caliabc = %+v, want sysctls %v", got, wantSysctls)
	}
	if st.Sysctls["net/ipv4/ip_forward"] != "1" {
		t.Errorf("expected host sysctl net/ipv4/ip_forward=1, got %v", st.Sysctls)
	}
	if got, want := jumps(chain(t, st, rules.ChainFromWorkloadDispatch)), []string{"cali-fw-caliabc"}; !slices.Equal(got, want) {
		t.Errorf("cali-from-wl-dispatch goes to %v, want %v", got, want)
	}
	if got, want := jumps(chain(t, st, "cali-tw-caliabc")), []string{"cali-pri-net1"}; !slices.Equal(got, want) {
		t.Errorf("cali-tw-caliabc jumps to %v, want %v", got, want)
	}
	if got, want := jumps(chain(t, st, "cali-fw-caliabc")), []string{"cali-pro-net1"}; !slices.Equal(got, want) {
		t.Errorf("cali-fw-caliabc jumps to %v, want %v", got, want)
	}
	if len(chain(t, st, "cali-pri-net1")) == 0 {
		t.Error("expected cali-pri-net1 to hold the profile's rules, got an empty chain")
	}
	if got := st.IPSets[setName("has(net1)")].Members; !slices.Equal(got, []string{"10.1.0.5"}) {
		t.Errorf("ipset of has(net1) = %v, want [10.1.0.5]", got)
	}

	feed(c, deleted(ep))
	st = c.State()
	assertRoutes(t, st)
	if len(st.Interfaces) != 0 {
		t.Errorf("expected no interfaces after the endpoint went, got %v", st.Interfaces)
	}
	for _, name := range []string{"cali-tw-caliabc", "cali-fw-caliabc", "cali-pri-net1", "cali-pro-net1"} {
		if hasChain(st, name) {
			t.Errorf("expected chain %s to go with the endpoint, still there", name)
		}
	}
	if got := jumps(chain(t, st, rules.ChainFromWorkloadDispatch)); len(got) != 0 {
		t.Errorf("expected an empty dispatch (only the final DROP), got gotos to %v", got)
	}
	if _, ok := st.IPSets[setName("has(net1)")]; ok {
		t.Error("expected the has(net1) ipset to go when no profile refers to it")
	}
}

func TestEndpointAndProfileInEitherOrderGiveTheSameState(t *testing.T) {
	ep := wep(host, "node1-cni-abc-eth0", "caliabc", "10.1.0.5/32", "net1")
	profileFirst := newCalc(t, added(cniProfile("net1")), added(ep))

	endpointFirst := newCalc(t, added(ep))
	st := endpointFirst.State()
	if rs := chain(t, st, "cali-pri-net1"); len(rs) != 0 {
		t.Errorf("expected an empty cali-pri-net1 (accepting nothing) while the profile is missing, got %v", rs)
	}
	if rs := chain(t, st, "cali-pro-net1"); len(rs) != 0 {
		t.Errorf("expected an empty cali-pro-net1 while the profile is missing, got %v", rs)
	}
	feed(endpointFirst, added(cniProfile("net1")))

	if a, b := profileFirst.State(), endpointFirst.State(); !reflect.DeepEqual(a, b) {
		t.Errorf("profile-then-endpoint and endpoint-then-profile differ:\n%+v\n%+v", a, b)
	}
}

func TestUnreferencedProfilesGetNoChains(t *testing.T) {
	c := newCalc(t, added(cniProfile("net1")), added(cniProfile("net2")),
		added(wep(host, "a", "calia", "10.1.0.5/32", "net1")))
	st := c.State()
	if !hasChain(st, "cali-pri-net1") {
		t.Error("expected chains for net1, which a local endpoint uses")
	}
	if hasChain(st, "cali-pri-net2") || hasChain(st, "cali-pro-net2") {
		t.Error("expected no chains for net2, which no local endpoint uses")
	}
}

func TestRemoteEndpointOnlyAffectsIPSets(t *testing.T) {
	local := wep(host, "a", "calia", "10.1.0.5/32", "net1")
	remote := wep("node2", "b", "calib", "10.1.1.7/32", "net1")
	before := newCalc(t, added(cniProfile("net1")), added(local)).State()
	after := newCalc(t, added(cniProfile("net1")), added(local), added(remote)).State()

	if got := after.IPSets[setName("has(net1)")].Members; !slices.Equal(got, []string{"10.1.0.5", "10.1.1.7"}) {
		t.Errorf("ipset of has(net1) = %v, want both endpoints' addresses", got)
	}
	delete(after.IPSets, setName("has(net1)"))
	delete(before.IPSets, setName("has(net1)"))
	if !reflect.DeepEqual(before, after) {
		t.Errorf("a remote endpoint changed more than the selector ipset:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestProfileLabelsFeedSelectorIPSets(t *testing.T) {
	// net1's profile applies the label net1 to its endpoints; the endpoint's own labels win over profile labels.
	p := cniProfile("net1")
	p.Spec.LabelsToApply["tier"] = "web"
	c := newCalc(t, added(p),
		added(wep(host, "a", "calia", "10.1.0.5/32", "net1")),
		added(withLabels(wep("node2", "b", "calib", "10.1.1.7/32", "net1"), "tier", "db")),
		added(wep("node2", "c", "calic", "10.1.1.8/32")),
	)
	p2 := &api.Profile{ObjectMeta: api.ObjectMeta{Name: "web"}, Spec: api.ProfileSpec{
		Ingress: []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "tier == 'web'"}}}}}
	feed(c, added(p2), added(wep(host, "d", "calid", "10.1.0.9/32", "web")))
	st := c.State()
	if got := st.IPSets[setName("has(net1)")].Members; !slices.Equal(got, []string{"10.1.0.5", "10.1.1.7"}) {
		t.Errorf("has(net1) = %v, want the two endpoints of profile net1", got)
	}
	if got := st.IPSets[setName("tier == 'web'")].Members; !slices.Equal(got, []string{"10.1.0.5"}) {
		t.Errorf("tier == 'web' = %v, want only 10.1.0.5 (10.1.1.7 overrides tier with its own label)", got)
	}
}

func TestBlockAffinitiesGiveBlackholeRoutes(t *testing.T) {
	c := newCalc(t,
		affinityEvent(datastore.Added, host, "10.1.0.0/26", "confirmed"),
		affinityEvent(datastore.Added, host, "10.1.0.64/26", ""),
		affinityEvent(datastore.Added, host, "10.1.0.128/26", "pending"),
		affinityEvent(datastore.Added, "node2", "10.1.1.0/26", "confirmed"),
	)
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "blackhole 10.1.0.64/26")

	feed(c, affinityEvent(datastore.Modified, host, "10.1.0.128/26", "confirmed"),
		affinityEvent(datastore.Deleted, host, "10.1.0.0/26", ""))
	assertRoutes(t, c.State(), "blackhole 10.1.0.64/26", "blackhole 10.1.0.128/26")
}

func TestIPIPRoutesAndTunnel(t *testing.T) {
	nodes := []datastore.Event{
		added(calicoNode(host, "192.168.1.10/24", "10.1.0.1")),
		added(calicoNode("node2", "192.168.1.11/24", "")), // same subnet
		added(calicoNode("node3", "192.168.2.12/24", "")), // another subnet
		affinityEvent(datastore.Added, host, "10.1.0.0/26", ""),
		affinityEvent(datastore.Added, "node2", "10.1.1.0/26", ""),
		affinityEvent(datastore.Added, "node3", "10.1.2.0/26", ""),
		affinityEvent(datastore.Added, "node4", "10.1.3.0/26", ""), // no Node resource: no address to route to
	}
	tests := []struct {
		name   string
		mode   string
		routes []string
	}{
		{"Always tunnels to every other host", api.EncapAlways, []string{
			"blackhole 10.1.0.0/26",
			"10.1.1.0/26 via 192.168.1.11 dev tunl0 onlink",
			"10.1.2.0/26 via 192.168.2.12 dev tunl0 onlink",
		}},
		{"CrossSubnet tunnels only outside this host's subnet", api.EncapCrossSubnet, []string{
			"blackhole 10.1.0.0/26",
			"10.1.1.0/26 via 192.168.1.11",
			"10.1.2.0/26 via 192.168.2.12 dev tunl0 onlink",
		}},
		{"Never leaves remote blocks to BIRD", api.EncapNever, []string{"blackhole 10.1.0.0/26"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCalc(t, append(nodes, added(ipPool("p", "10.1.0.0/16", tt.mode, false)))...)
			st := c.State()
			assertRoutes(t, st, tt.routes...)
			if tt.mode == api.EncapNever {
				if st.Tunnel != nil {
					t.Errorf("expected no tunnel without an IPIP pool, got %+v", st.Tunnel)
				}
				if _, ok := st.IPSets[rules.IPSetAllHosts]; ok {
					t.Error("expected no all-hosts-net ipset without an IPIP pool")
				}
				return
			}
			want := desired.Tunnel{Name: "tunl0", Address: netip.MustParseAddr("10.1.0.1"), MTU: 1480}
			if st.Tunnel == nil || *st.Tunnel != want {
				t.Errorf("tunnel = %+v, want %+v", st.Tunnel, want)
			}
			if got := st.IPSets[rules.IPSetAllHosts].Members; !slices.Equal(got, []string{"192.168.1.10", "192.168.1.11", "192.168.2.12"}) {
				t.Errorf("all-hosts-net = %v, want the three node addresses", got)
			}
			if !strings.Contains(chain(t, st, rules.ChainInput)[0].Match, rules.IPSetAllHosts) {
				t.Errorf("expected cali-INPUT to start by accepting IPIP from Calico hosts, got %v", chain(t, st, rules.ChainInput))
			}
		})
	}
}

func TestIPIPRoutesForBorrowedAddresses(t *testing.T) {
	c := newCalc(t,
		added(ipPool("p", "10.1.0.0/16", api.EncapAlways, false)),
		added(calicoNode(host, "192.168.1.10/24", "")),
		added(calicoNode("node2", "192.168.1.11/24", "")),
		affinityEvent(datastore.Added, "node2", "10.1.1.0/26", ""),
		affinityEvent(datastore.Added, host, "10.1.0.0/26", ""),
		// node2's workloads: one in its own block, one borrowed from this host's block.
		added(wep("node2", "a", "calia", "10.1.1.5/32")),
		added(wep("node2", "b", "calib", "10.1.0.9/32")),
	)
	st := c.State()
	assertRoutes(t, st, "blackhole 10.1.0.0/26", "10.1.0.9/32 via 192.168.1.11 dev tunl0 onlink",
		"10.1.1.0/26 via 192.168.1.11 dev tunl0 onlink")
	if st.Tunnel == nil || st.Tunnel.Address.IsValid() {
		t.Errorf("expected a tunnel without an address while the node has none, got %+v", st.Tunnel)
	}

	// Pods coming and going in node2's own block leave the routes as they were, without working them out again;
	// a borrowed address coming or going changes them.
	feed(c, added(wep("node2", "c", "calic", "10.1.1.6/32")), deleted(wep("node2", "a", "calia", "10.1.1.5/32")))
	if c.otherRoutes == nil {
		t.Error("a pod in its own host's block made the other hosts' routes be worked out again")
	}
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.9/32 via 192.168.1.11 dev tunl0 onlink",
		"10.1.1.0/26 via 192.168.1.11 dev tunl0 onlink")
	feed(c, added(wep("node2", "d", "calid", "10.1.0.10/32")), deleted(wep("node2", "b", "calib", "10.1.0.9/32")))
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.10/32 via 192.168.1.11 dev tunl0 onlink",
		"10.1.1.0/26 via 192.168.1.11 dev tunl0 onlink")
	// node2 loses its block: its pod there is now borrowed too.
	feed(c, affinityEvent(datastore.Deleted, "node2", "10.1.1.0/26", ""))
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.10/32 via 192.168.1.11 dev tunl0 onlink",
		"10.1.1.6/32 via 192.168.1.11 dev tunl0 onlink")
	feed(c, deleted(wep("node2", "c", "calic", "10.1.1.6/32")))
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.10/32 via 192.168.1.11 dev tunl0 onlink")
}

func TestNATOutgoingFollowsThePools(t *testing.T) {
	c := newCalc(t, added(ipPool("p1", "10.1.0.0/16", "", false)), added(ipPool("p2", "10.2.0.0/16", "", false)))
	check := func(wantMasq []string) {
		t.Helper()
		st := c.State()
		if got := st.IPSets[rules.IPSetAllPools].Members; !slices.Equal(got, []string{"10.1.0.0/16", "10.2.0.0/16"}) {
			t.Errorf("all-ipam-pools = %v, want both pools", got)
		}
		if got := st.IPSets[rules.IPSetMasqPools].Members; !slices.Equal(got, wantMasq) {
			t.Errorf("masq-ipam-pools = %v, want %v", got, wantMasq)
		}
		nat := st.Tables[rules.TableNAT].Chains[rules.ChainNATOutgoing]
		if (len(nat) > 0) != (len(wantMasq) > 0) {
			t.Errorf("cali-nat-outgoing = %v, want a MASQUERADE rule only when a pool has natOutgoing", nat)
		}
	}
	check(nil)
	feed(c, added(ipPool("p2", "10.2.0.0/16", "", true)))
	check([]string{"10.2.0.0/16"})
	feed(c, added(ipPool("p2", "10.2.0.0/16", "", false)))
	check(nil)
}

func TestResyncForgetsOnlyItsOwnPrefix(t *testing.T) {
	c := newCalc(t,
		added(wep(host, "a", "calia", "10.1.0.5/32")),
		affinityEvent(datastore.Added, host, "10.1.0.0/26", ""),
	)
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.5/32 dev calia scope link")

	// The resource watch resyncs and the endpoint is gone from the new listing; the IPAM watch is untouched.
	c.OnEvent(res, datastore.Event{Type: datastore.Resync})
	if c.InSync(res, ipamPfx) {
		t.Error("expected InSync to be false during the resource watch's listing")
	}
	feed(c, added(wep(host, "b", "calib", "10.1.0.6/32")))
	c.OnEvent(res, datastore.Event{Type: datastore.InSync})
	if !c.InSync(res, ipamPfx) {
		t.Error("expected InSync once both listings are complete")
	}
	assertRoutes(t, c.State(), "blackhole 10.1.0.0/26", "10.1.0.6/32 dev calib scope link")

	// A watch of a parent prefix forgets everything on resync.
	c.OnEvent("/calico/", datastore.Event{Type: datastore.Resync})
	assertRoutes(t, c.State())
	if c.InSync("/calico/") {
		t.Error("expected /calico/ not in sync before its InSync")
	}
}

func TestUndecodableResourceCountsAsAbsent(t *testing.T) {
	ep := wep(host, "a", "calia", "10.1.0.5/32")
	c := newCalc(t, added(ep))
	broken := added(ep)
	broken.Type, broken.Resource = datastore.Modified, nil
	feed(c, broken)
	assertRoutes(t, c.State())
}

func TestNewestEndpointWinsAnInterface(t *testing.T) {
	old := wep(host, "old", "calia", "10.1.0.5/32")
	old.ResourceVersion = "10"
	newer := wep(host, "new", "calia", "10.1.0.6/32")
	newer.ResourceVersion = "12"
	c := newCalc(t, added(newer), added(old))
	assertRoutes(t, c.State(), "10.1.0.6/32 dev calia scope link")
}

func TestIPv6Endpoints(t *testing.T) {
	ep := wep(host, "a", "calia", "10.1.0.5/32")
	ep.Spec.IPNetworks = append(ep.Spec.IPNetworks, "fd00:1::5/128")
	c := newCalc(t, added(ep), affinityEvent(datastore.Added, host, "fd00:1::/122", ""))
	st := c.State()
	assertRoutes(t, st, "10.1.0.5/32 dev calia scope link", "blackhole fd00:1::/122", "fd00:1::5/128 dev calia scope link")
	if st.Interfaces["calia"].Sysctls["net/ipv6/conf/calia/proxy_ndp"] != "1" || st.Sysctls["net/ipv6/conf/all/forwarding"] != "1" {
		t.Errorf("expected IPv6 proxy_ndp on calia and IPv6 forwarding, got %v and %v", st.Interfaces["calia"].Sysctls, st.Sysctls)
	}

	cfg := c.Config()
	cfg.IPv6Support = false
	c.SetConfig(cfg)
	st = c.State()
	assertRoutes(t, st, "10.1.0.5/32 dev calia scope link")
	if _, ok := st.Sysctls["net/ipv6/conf/all/forwarding"]; ok {
		t.Error("expected no IPv6 sysctls with ipv6Support false")
	}
}
