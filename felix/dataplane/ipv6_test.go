package dataplane

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/desired"
)

// These tests program ip6tables and IPv6 ipsets in network namespaces, like the IPv4 tests beside them.

// sampleState6 is sampleState with the same tables in ip6tables, NAT outgoing of an IPv6 pool included.
func sampleState6() *desired.State {
	st := sampleState()
	nat6 := natTable()
	for name, rules := range nat6.Chains {
		for i := range rules {
			rules[i].Match = strings.ReplaceAll(rules[i].Match, "cali40", "cali60")
		}
		nat6.Chains[name] = rules
	}
	st.Tables6 = map[string]*desired.Table{"filter": sampleTable(), "nat": nat6}
	st.IPSets["cali60all-ipam-pools"] = desired.IPSet{Type: desired.HashNet, Members: []string{"fd00:65::/64"}}
	st.IPSets["cali60masq-ipam-pools"] = desired.IPSet{Type: desired.HashNet, Members: []string{"fd00:65::/64"}}
	return st
}

func needIP6Tables(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ip6tables", ip6tablesSave, ip6tablesRestore} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func TestIP6TablesIsProgrammedLikeIPTables(t *testing.T) {
	ns, path := testNetns(t)
	needIP6Tables(t)
	inNetns(t, ns, "ip6tables", "-w", "-A", "FORWARD", "-i", "eth9", "-j", "ACCEPT") // someone else's rule
	d := newTestDataplane(t, path)
	st := sampleState6()

	rep := mustApply(t, d, st)
	if rep.Runs(iptablesRestore) != 2 || rep.Runs(ip6tablesRestore) != 2 {
		t.Errorf("first apply ran iptables-restore %d and ip6tables-restore %d times, want 2 each (filter and nat)",
			rep.Runs(iptablesRestore), rep.Runs(ip6tablesRestore))
	}
	for _, want := range []string{"filter/cali-FORWARD", "ip6:filter/cali-FORWARD", "ip6:nat/cali-nat-outgoing"} {
		if !slices.Contains(rep.ChainsWritten, want) {
			t.Errorf("chains written %v, want %s among them", rep.ChainsWritten, want)
		}
	}
	kernelMatches(t, ns, st)
	if save := inNetns(t, ns, ip6tablesSave, "-t", "nat"); !strings.Contains(save, "--match-set cali60masq-ipam-pools src") ||
		!strings.Contains(save, `-A POSTROUTING -m comment --comment "cali:`) {
		t.Errorf("ip6tables nat lacks the masquerade rule or the hook:\n%s", save)
	}
	if sets := inNetns(t, ns, "ipset", "list", "cali60all-ipam-pools"); !strings.Contains(sets, "family inet6") ||
		!strings.Contains(sets, "fd00:65::/64") {
		t.Errorf("want cali60all-ipam-pools of family inet6 holding fd00:65::/64:\n%s", sets)
	}

	if rep = mustApply(t, d, st); len(rep.Execs) != 0 || rep.Changed() {
		t.Errorf("re-applying the same state ran %v and changed=%v; want no command and no change", rep.Execs, rep.Changed())
	}

	// Hand edits in ip6tables and an IPv6 set are repaired by a resync, with ip6tables-restore alone.
	inNetns(t, ns, "ip6tables", "-w", "-D", "cali-fw-cali1234", "2")
	inNetns(t, ns, "ip6tables", "-w", "-D", "FORWARD", "1")
	inNetns(t, ns, "ipset", "del", "cali60all-ipam-pools", "fd00:65::/64")
	if rep = mustApply(t, d, st); len(rep.Execs) != 0 {
		t.Errorf("apply after a hand edit ran %v; want nothing (an apply trusts what felix wrote; resync checks)", rep.Execs)
	}
	rep, err := d.Resync(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	wantRepaired := []string{"ipset cali60all-ipam-pools", "ip6tables filter/FORWARD", "ip6tables filter/cali-fw-cali1234"}
	if !slices.Equal(rep.Repaired, wantRepaired) {
		t.Errorf("resync repaired %v, want %v", rep.Repaired, wantRepaired)
	}
	if rep.Runs(ip6tablesRestore) != 1 || rep.Runs(iptablesRestore) != 0 {
		t.Errorf("resync ran ip6tables-restore %d and iptables-restore %d times, want 1 and 0",
			rep.Runs(ip6tablesRestore), rep.Runs(iptablesRestore))
	}
	kernelMatches(t, ns, st)

	// A restarted felix adopts both families: it reads each once and writes nothing.
	d2 := newTestDataplane(t, path)
	rep = mustApply(t, d2, st)
	if len(rep.Execs) != 3 || rep.Runs(iptablesSave) != 1 || rep.Runs(ip6tablesSave) != 1 || rep.Runs(ipsetCmd) != 1 || rep.Changed() {
		t.Errorf("a restarted felix ran %v and changed=%v; want only iptables-save, ip6tables-save and ipset save", rep.Execs, rep.Changed())
	}

	// Without IPv6 tables (IPv6 support turned off) felix leaves ip6tables alone, and the IPv6 sets its rules
	// there still use...
	st.Tables6 = nil
	delete(st.IPSets, "cali60all-ipam-pools")
	delete(st.IPSets, "cali60masq-ipam-pools")
	if rep = mustApply(t, d2, st); len(rep.Execs) != 0 {
		t.Errorf("an apply without IPv6 tables ran %v; want nothing", rep.Execs)
	}
	if save := inNetns(t, ns, ip6tablesSave, "-t", "filter"); !strings.Contains(save, "cali-FORWARD") {
		t.Errorf("felix's ip6tables chains went although it was to leave ip6tables alone:\n%s", save)
	}
	// ...and with an empty set of IPv6 tables it removes everything it left there, but no one else's rules.
	st.Tables6 = map[string]*desired.Table{}
	rep = mustApply(t, d2, st)
	if len(rep.ChainsDeleted) != 7 || !slices.Equal(rep.HooksWritten, []string{"ip6:filter/FORWARD", "ip6:nat/POSTROUTING"}) {
		t.Errorf("removing the IPv6 tables deleted chains %v and rewrote hooks %v; want 7 ip6: chains and both hooks",
			rep.ChainsDeleted, rep.HooksWritten)
	}
	if !slices.Equal(rep.IPSetsDeleted, []string{"cali60all-ipam-pools", "cali60masq-ipam-pools"}) {
		t.Errorf("removing the IPv6 tables destroyed sets %v; want the two cali60 pool sets, once unused", rep.IPSetsDeleted)
	}
	save := inNetns(t, ns, ip6tablesSave)
	if strings.Contains(save, "cali") || !strings.Contains(save, "-A FORWARD -i eth9 -j ACCEPT") {
		t.Errorf("want no cali rules and the foreign rule kept in ip6tables:\n%s", save)
	}
	if save := inNetns(t, ns, iptablesSave, "-t", "filter"); !strings.Contains(save, "cali-FORWARD") {
		t.Errorf("removing the IPv6 tables touched iptables:\n%s", save)
	}
	kernelMatches(t, ns, st)
}

// pod is a workload namespace wired to the host namespace the way the CNI plugin wires an IPv6 pod: a veth with
// the host end cali… (MAC ee:ee:ee:ee:ee:ee), the pod end eth0 with a /128, and the pod's default route via the
// host end's link-local address.
type pod struct {
	ns, hostIface, addr string
	gateway             string // the host end's fe80:: address
}

func wirePod(t *testing.T, hostNS, hostIface, addr string) pod {
	t.Helper()
	p := pod{ns: newNetns(t), hostIface: hostIface, addr: addr}
	inNetns(t, hostNS, "ip", "link", "add", hostIface, "address", "ee:ee:ee:ee:ee:ee", "type", "veth",
		"peer", "name", "eth0", "netns", p.ns)
	inNetns(t, hostNS, "sysctl", "-qw", "net.ipv6.conf."+hostIface+".accept_ra=0")
	inNetns(t, hostNS, "ip", "link", "set", hostIface, "up")
	inNetns(t, p.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.eth0.disable_ipv6=0")
	inNetns(t, p.ns, "ip", "link", "set", "eth0", "up")
	inNetns(t, p.ns, "ip", "-6", "addr", "add", addr+"/128", "dev", "eth0", "nodad")
	return p
}

// addDefaultRoute waits for the host end's link-local address (it appears once the pair has carrier and answers
// after DAD) and routes the pod's traffic via it.
func (p *pod) addDefaultRoute(t *testing.T, hostNS string) {
	t.Helper()
	ll := regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/64 scope link\s*\n`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := inNetns(t, hostNS, "ip", "-6", "addr", "show", "dev", p.hostIface)
		if m := ll.FindStringSubmatch(out); m != nil && !strings.Contains(out, "tentative") {
			p.gateway = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no usable link-local address after 10s:\n%s", p.hostIface, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	inNetns(t, p.ns, "ip", "-6", "route", "add", "default", "via", p.gateway, "dev", "eth0")
}

// ping6 says whether one ping from the pod to addr is answered within wait seconds.
func (p pod) ping6(addr, wait string) bool {
	_, err := tryInNetns(p.ns, "ping", "-6", "-n", "-c", "1", "-W", wait, addr)
	return err == nil
}

// resourceEvent is the watch event of a resource being written.
func resourceEvent(r api.Resource) datastore.Event {
	api.SetTypeMeta(r)
	m := r.GetObjectMeta()
	return datastore.Event{Type: datastore.Added, Key: datastore.ResourceKey(api.KindOf(r), m.Namespace, m.Name), Resource: r}
}

func TestIPv6PodsArePolicedByTheirProfile(t *testing.T) {
	hostNS, hostPath := testNetns(t)
	needIP6Tables(t)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("needs ping")
	}
	a := wirePod(t, hostNS, "calia1b2c3d4e5f", "fd00:10::1")
	b := wirePod(t, hostNS, "cali0f1e2d3c4b5", "fd00:10::2")
	a.addDefaultRoute(t, hostNS)
	b.addDefaultRoute(t, hostNS)

	const node = "node1"
	profile := func(ingressFrom string) *api.Profile {
		return &api.Profile{ObjectMeta: api.ObjectMeta{Name: "net1"}, Spec: api.ProfileSpec{
			Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: ingressFrom}}},
			Egress:        []api.Rule{{Action: api.ActionAllow}},
			LabelsToApply: map[string]string{"net1": ""},
		}}
	}
	endpoint := func(name string, p pod) *api.WorkloadEndpoint {
		return &api.WorkloadEndpoint{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.WorkloadEndpointSpec{Orchestrator: "cni", Node: node, InterfaceName: p.hostIface,
				IPNetworks: []string{p.addr + "/128"}, Profiles: []string{"net1"}}}
	}
	c := calc.New(node, calc.DefaultConfig()) // workload traffic to the host is dropped by default
	for _, prefix := range []string{datastore.ResourcePrefix, datastore.IPAMPrefix} {
		c.OnEvent(prefix, datastore.Event{Type: datastore.Resync})
	}
	c.Apply(datastore.ResourcePrefix, []datastore.Event{resourceEvent(profile("has(net1)")),
		resourceEvent(endpoint("a", a)), resourceEvent(endpoint("b", b))})
	for _, prefix := range []string{datastore.ResourcePrefix, datastore.IPAMPrefix} {
		c.OnEvent(prefix, datastore.Event{Type: datastore.InSync})
	}
	d := newTestDataplane(t, hostPath)
	st := c.State()
	if st.Tables6 == nil {
		t.Fatal("expected the calculation to give ip6tables tables")
	}
	mustApply(t, d, st)
	kernelMatches(t, hostNS, st)

	if !a.ping6(b.addr, "5") {
		t.Errorf("ping -6 from %s to %s failed; the profile allows it.\nhost ip6tables:\n%s", a.addr, b.addr,
			inNetns(t, hostNS, ip6tablesSave, "-t", "filter"))
	}
	// The pod resolved its gateway, the host's link-local address, through neighbour discovery, which the host
	// accepts from workloads before any policy.
	checkGatewayResolved := func() {
		t.Helper()
		neigh := inNetns(t, a.ns, "ip", "-6", "neigh", "show", "dev", "eth0")
		if !regexp.MustCompile(regexp.QuoteMeta(a.gateway) + ` lladdr ee:ee:ee:ee:ee:ee (router )?(REACHABLE|STALE|DELAY|PROBE)`).MatchString(neigh) {
			t.Errorf("pod A has not resolved its gateway %s to ee:ee:ee:ee:ee:ee:\n%s", a.gateway, neigh)
		}
	}
	checkGatewayResolved()

	// The profile now admits only members of another network: B's ingress drops A's ping.
	c.OnEvent(datastore.ResourcePrefix, resourceEvent(profile("has(net2)")))
	rep := mustApply(t, d, c.State())
	if rep.Runs(ip6tablesRestore) != 1 {
		t.Errorf("the profile change ran ip6tables-restore %d times, want once (filter)", rep.Runs(ip6tablesRestore))
	}
	if a.ping6(b.addr, "1") {
		t.Errorf("ping -6 from %s to %s succeeded; the changed profile denies it", a.addr, b.addr)
	}
	// Neighbour discovery still works while policy drops the pod's traffic.
	inNetns(t, a.ns, "ip", "-6", "neigh", "flush", "dev", "eth0")
	a.ping6(b.addr, "1")
	checkGatewayResolved()

	// And back: the original profile admits the ping again.
	c.OnEvent(datastore.ResourcePrefix, resourceEvent(profile("has(net1)")))
	mustApply(t, d, c.State())
	if !a.ping6(b.addr, "5") {
		t.Errorf("ping -6 from %s to %s failed after the profile allowed it again", a.addr, b.addr)
	}
}
