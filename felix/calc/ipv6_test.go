package calc

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/desired"
	"github.com/calico-l3/calico/felix/rules"
)

// dualStack is a workload with an IPv4 and an IPv6 address.
func dualStack(node, name, iface, v4, v6 string, profiles ...string) *api.WorkloadEndpoint {
	w := wep(node, name, iface, v4, profiles...)
	w.Spec.IPNetworks = append(w.Spec.IPNetworks, v6)
	return w
}

func TestIPv6EndpointsGetTheSameChainsInIP6Tables(t *testing.T) {
	c := newCalc(t, added(cniProfile("net1")),
		added(dualStack(host, "a", "calia", "10.1.0.5/32", "fd00:1::5/128", "net1")),
		added(wep(host, "b", "calib", "fd00:1::6/128", "net1")),
		added(wep(host, "c", "calic", "10.1.0.7/32", "net1")), // IPv4 only: still policed in ip6tables
		added(dualStack("node2", "d", "calid", "10.1.1.5/32", "fd00:2::5/128", "net1")),
	)
	st := c.State()

	// Endpoint chains and a profile without selectors are the same in both families.
	for _, name := range []string{"cali-tw-calia", "cali-fw-calia", "cali-tw-calib", "cali-fw-calib", "cali-tw-calic", "cali-fw-calic", "cali-pro-net1"} {
		if got, want := chain6(t, st, name), chain(t, st, name); !reflect.DeepEqual(got, want) {
			t.Errorf("ip6tables %s = %v, want the same rules as in iptables %v", name, got, want)
		}
	}
	if got, want := jumps(chain6(t, st, rules.ChainFromWorkloadDispatch)), []string{"cali-fw-calia", "cali-fw-calib", "cali-fw-calic"}; !slices.Equal(got, want) {
		t.Errorf("ip6tables cali-from-wl-dispatch goes to %v, want %v", got, want)
	}
	// The profile's selector matches on the ipset of its family.
	pri6 := chain6(t, st, "cali-pri-net1")
	if len(pri6) == 0 || !strings.Contains(pri6[0].Match, setName6("has(net1)")) {
		t.Errorf("ip6tables cali-pri-net1 = %v, want a match on %s", pri6, setName6("has(net1)"))
	}
	if got, want := st.IPSets[setName6("has(net1)")].Members, []string{"fd00:1::5", "fd00:1::6", "fd00:2::5"}; !slices.Equal(got, want) {
		t.Errorf("IPv6 ipset of has(net1) = %v, want %v", got, want)
	}
	if got, want := st.IPSets[setName("has(net1)")].Members, []string{"10.1.0.5", "10.1.0.7", "10.1.1.5"}; !slices.Equal(got, want) {
		t.Errorf("IPv4 ipset of has(net1) = %v, want %v", got, want)
	}
	for name := range st.IPSets {
		if desired.IPSetFamily(name) == desired.FamilyInet6 {
			for _, m := range st.IPSets[name].Members {
				if !strings.Contains(m, ":") {
					t.Errorf("IPv6 set %s holds the IPv4 member %s", name, m)
				}
			}
		}
	}
	if got := chain6(t, st, rules.ChainWorkloadToHost); !strings.Contains(got[0].Match, "icmpv6-type 130") {
		t.Errorf("expected the IPv6 cali-wl-to-host to start by allowing MLD and neighbour discovery, got %v", got)
	}

	// The endpoint goes: its chains go from both families.
	feed(c, deleted(wep(host, "b", "calib", "fd00:1::6/128", "net1")))
	st = c.State()
	if _, ok := st.Tables6[rules.TableFilter].Chains["cali-tw-calib"]; ok {
		t.Error("expected cali-tw-calib to leave ip6tables with its endpoint")
	}
	if got := st.IPSets[setName6("has(net1)")].Members; slices.Contains(got, "fd00:1::6") {
		t.Errorf("IPv6 ipset of has(net1) = %v, still holds the deleted endpoint", got)
	}
}

func TestIPv6PoolsGetTheirOwnIPSetsAndNATOutgoing(t *testing.T) {
	c := newCalc(t,
		added(ipPool("v4", "10.1.0.0/16", api.EncapAlways, false)),
		added(ipPool("v6", "fd00:1::/64", "", true)),
		added(ipPool("v6b", "fd00:2::/64", "", false)),
	)
	st := c.State()
	for name, want := range map[string][]string{
		rules.IPSetAllPools:    {"10.1.0.0/16"},
		rules.IPSetMasqPools:   nil,
		rules.IPSetAllPoolsV6:  {"fd00:1::/64", "fd00:2::/64"},
		rules.IPSetMasqPoolsV6: {"fd00:1::/64"},
	} {
		if got := st.IPSets[name].Members; !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if nat := st.Tables[rules.TableNAT].Chains[rules.ChainNATOutgoing]; len(nat) != 0 {
		t.Errorf("expected no IPv4 masquerade without an IPv4 natOutgoing pool, got %v", nat)
	}
	nat6 := st.Tables6[rules.TableNAT].Chains[rules.ChainNATOutgoing]
	if len(nat6) != 1 || !strings.Contains(nat6[0].Match, rules.IPSetMasqPoolsV6) || nat6[0].Action != "--jump MASQUERADE" {
		t.Errorf("ip6tables cali-nat-outgoing = %v, want a MASQUERADE of the cali60 masq pools", nat6)
	}
	for _, r := range st.Tables6[rules.TableFilter].Chains[rules.ChainInput] {
		if strings.Contains(r.Match, "-p 4") {
			t.Errorf("expected no IPIP rule in ip6tables, got %v", r)
		}
	}
}

func TestGlobalNetworkSetsFeedTheIPSetOfTheirFamily(t *testing.T) {
	gns := withLabels(&api.GlobalNetworkSet{ObjectMeta: api.ObjectMeta{Name: "ext"},
		Spec: api.GlobalNetworkSetSpec{Nets: []string{"198.51.100.0/24", "2001:db8::/64"}}}, "net1", "")
	st := newCalc(t, added(cniProfile("net1")), added(wep(host, "a", "calia", "10.1.0.5/32", "net1")), added(gns)).State()
	if got := st.IPSets[setName6("has(net1)")].Members; !slices.Equal(got, []string{"2001:db8::/64"}) {
		t.Errorf("IPv6 has(net1) = %v, want the network set's IPv6 net", got)
	}
}

func TestWithoutIPv6SupportIP6TablesIsLeftAlone(t *testing.T) {
	c := newCalc(t, added(cniProfile("net1")), added(ipPool("v6", "fd00:1::/64", "", true)),
		added(dualStack(host, "a", "calia", "10.1.0.5/32", "fd00:1::5/128", "net1")),
		affinityEvent(datastore.Added, host, "fd00:1::/122", ""))
	cfg := c.Config()
	cfg.IPv6Support = false
	c.SetConfig(cfg)
	st := c.State()
	if st.Tables6 != nil {
		t.Errorf("expected no ip6tables tables without IPv6 support, got %v", st.Tables6)
	}
	for name := range st.IPSets {
		if desired.IPSetFamily(name) != desired.FamilyInet {
			t.Errorf("expected no IPv6 ipsets without IPv6 support, got %s", name)
		}
	}
	if !hasChain(st, "cali-tw-calia") {
		t.Error("expected the endpoint's IPv4 chains to stay")
	}
}
