package dataplane

import (
	"net/netip"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/calico-l3/calico/felix/desired"
)

func TestPlanVXLAN(t *testing.T) {
	addr := netip.MustParseAddr
	own := netip.MustParsePrefix("10.98.1.0/32")
	stray := netip.MustParsePrefix("192.0.2.7/24")
	want := &desired.VXLAN{Name: "vxlan.calico", VNI: 4096, Port: 4789, MTU: 1450, MAC: "66:A3:1B:0C:5E:01",
		LocalAddr: addr("10.99.0.1"), Address: addr("10.98.1.0"),
		VTEPs: []desired.VTEP{
			{Node: "b", TunnelAddr: addr("10.98.2.0"), MAC: "66:a3:1b:0c:5e:02", HostAddr: addr("10.99.0.2")},
			{Node: "c", TunnelAddr: addr("10.98.3.0"), MAC: "66:a3:1b:0c:5e:03", HostAddr: addr("10.99.0.3")},
		}}
	neighB := vxlanNeigh{IP: addr("10.98.2.0"), MAC: "66:a3:1b:0c:5e:02", Permanent: true}
	neighC := vxlanNeigh{IP: addr("10.98.3.0"), MAC: "66:a3:1b:0c:5e:03", Permanent: true}
	fdbB := vxlanFDB{MAC: "66:a3:1b:0c:5e:02", Dst: addr("10.99.0.2"), Permanent: true}
	fdbC := vxlanFDB{MAC: "66:a3:1b:0c:5e:03", Dst: addr("10.99.0.3"), Permanent: true}
	// matching is a device exactly as want describes it; each case changes a copy.
	matching := func(change func(*vxlanObs)) vxlanObs {
		o := vxlanObs{Exists: true, IsVXLAN: true, VNI: 4096, Port: 4789, Local: addr("10.99.0.1"), ParentIndex: 2,
			MTU: 1450, MAC: "66:a3:1b:0c:5e:01", Up: true, Addrs: []netip.Prefix{own},
			Neighs: []vxlanNeigh{neighB, neighC}, FDB: []vxlanFDB{fdbB, fdbC}}
		if change != nil {
			change(&o)
		}
		return o
	}
	// fresh is the plan for a device that is created now: everything is written.
	fresh := vxlanPlan{Create: true, MTU: 1450, MAC: "66:a3:1b:0c:5e:01", Up: true, AddAddr: own,
		SetNeighs: []vxlanNeigh{neighB, neighC}, SetFDB: []vxlanFDB{fdbB, fdbC}}
	recreate := func(why string) vxlanPlan {
		p := fresh
		p.Delete, p.Why = true, why
		return p
	}
	with := func(change func(*desired.VXLAN)) *desired.VXLAN {
		w := *want
		w.VTEPs = slices.Clone(want.VTEPs)
		change(&w)
		return &w
	}

	tests := []struct {
		name   string
		have   vxlanObs
		want   *desired.VXLAN
		parent int
		plan   vxlanPlan
	}{
		{"a missing device is created, brought up, addressed and given its peers' entries", vxlanObs{}, want, 2, fresh},
		{"a device that matches is left alone", matching(nil), want, 2, vxlanPlan{}},
		{"an unknown parent interface is not compared", matching(nil), want, 0, vxlanPlan{}},
		{"a device with another VNI is recreated", matching(func(o *vxlanObs) { o.VNI = 1 }), want, 2,
			recreate("VNI 1, want 4096")},
		{"a device with another port is recreated", matching(func(o *vxlanObs) { o.Port = 8472 }), want, 2,
			recreate("port 8472, want 4789")},
		{"port 0 means the IANA port, not the kernel's default", matching(nil), with(func(w *desired.VXLAN) { w.Port = 0 }), 2,
			vxlanPlan{}},
		{"a device with another local address is recreated", matching(func(o *vxlanObs) { o.Local = addr("10.99.0.9") }), want, 2,
			recreate("local address 10.99.0.9, want 10.99.0.1")},
		{"a device on another parent interface is recreated", matching(nil), want, 3,
			recreate("parent interface 2, want 3")},
		{"a device that learns is recreated", matching(func(o *vxlanObs) { o.Learning = true }), want, 2,
			recreate("learning on")},
		{"a device of another type is replaced", vxlanObs{Exists: true, MTU: 1500, Up: true}, want, 2,
			recreate("not a VXLAN device")},
		{"a wrong MTU is set in place", matching(func(o *vxlanObs) { o.MTU = 1500 }), want, 2, vxlanPlan{MTU: 1450}},
		{"a wrong MAC is set in place and the neighbour entries, which that flushes, are written again",
			matching(func(o *vxlanObs) { o.MAC = "12:34:56:78:9a:bc" }), want, 2,
			vxlanPlan{MAC: "66:a3:1b:0c:5e:01", SetNeighs: []vxlanNeigh{neighB, neighC}}},
		{"without a desired MAC the kernel's stays", matching(func(o *vxlanObs) { o.MAC = "12:34:56:78:9a:bc" }),
			with(func(w *desired.VXLAN) { w.MAC = "" }), 2, vxlanPlan{}},
		{"a down device is brought up and a stray address removed",
			matching(func(o *vxlanObs) { o.Up, o.Addrs = false, []netip.Prefix{stray, own} }), want, 2,
			vxlanPlan{Up: true, DelAddrs: []netip.Prefix{stray}}},
		{"without an allocated address the device carries none", matching(nil),
			with(func(w *desired.VXLAN) { w.Address = netip.Addr{} }), 2, vxlanPlan{DelAddrs: []netip.Prefix{own}}},
		{"stale permanent neighbour and FDB entries are removed, including a default destination",
			matching(func(o *vxlanObs) {
				o.Neighs = append(o.Neighs, vxlanNeigh{IP: addr("10.98.9.0"), MAC: "66:00:00:00:00:09", Permanent: true})
				o.FDB = append(o.FDB, vxlanFDB{MAC: "66:00:00:00:00:09", Dst: addr("10.99.0.9"), Permanent: true},
					vxlanFDB{MAC: "00:00:00:00:00:00", Dst: addr("10.99.0.9"), Permanent: true})
			}), want, 2,
			vxlanPlan{DelNeighs: []vxlanNeigh{{IP: addr("10.98.9.0"), MAC: "66:00:00:00:00:09", Permanent: true}},
				DelFDB: []vxlanFDB{{MAC: "00:00:00:00:00:00", Dst: addr("10.99.0.9"), Permanent: true},
					{MAC: "66:00:00:00:00:09", Dst: addr("10.99.0.9"), Permanent: true}}}},
		{"entries the kernel made are left to it", matching(func(o *vxlanObs) {
			o.Neighs = append(o.Neighs, vxlanNeigh{IP: addr("10.98.9.0"), MAC: "66:00:00:00:00:09"})
			o.FDB = append(o.FDB, vxlanFDB{MAC: "66:00:00:00:00:09", Dst: addr("10.99.0.9")})
		}), want, 2, vxlanPlan{}},
		{"a peer's changed MAC replaces its neighbour entry and moves its FDB entry", matching(nil),
			with(func(w *desired.VXLAN) { w.VTEPs[0].MAC = "66:a3:1b:0c:5e:22" }), 2,
			vxlanPlan{DelFDB: []vxlanFDB{fdbB},
				SetNeighs: []vxlanNeigh{{IP: addr("10.98.2.0"), MAC: "66:a3:1b:0c:5e:22", Permanent: true}},
				SetFDB:    []vxlanFDB{{MAC: "66:a3:1b:0c:5e:22", Dst: addr("10.99.0.2"), Permanent: true}}}},
		{"a peer's changed host address rewrites its FDB entry only", matching(nil),
			with(func(w *desired.VXLAN) { w.VTEPs[1].HostAddr = addr("10.99.0.33") }), 2,
			vxlanPlan{DelFDB: []vxlanFDB{fdbC},
				SetFDB: []vxlanFDB{{MAC: "66:a3:1b:0c:5e:03", Dst: addr("10.99.0.33"), Permanent: true}}}},
		{"a removed peer's entries are deleted", matching(nil),
			with(func(w *desired.VXLAN) { w.VTEPs = w.VTEPs[:1] }), 2,
			vxlanPlan{DelNeighs: []vxlanNeigh{neighC}, DelFDB: []vxlanFDB{fdbC}}},
		{"a peer with an invalid MAC or a taken address is skipped", matching(func(o *vxlanObs) { o.Neighs, o.FDB = nil, nil }),
			with(func(w *desired.VXLAN) {
				w.VTEPs = append(w.VTEPs, desired.VTEP{Node: "d", TunnelAddr: addr("10.98.4.0"), MAC: "nonsense", HostAddr: addr("10.99.0.4")},
					desired.VTEP{Node: "e", TunnelAddr: addr("10.98.2.0"), MAC: "66:a3:1b:0c:5e:05", HostAddr: addr("10.99.0.5")})
			}), 2,
			vxlanPlan{SetNeighs: []vxlanNeigh{neighB, neighC}, SetFDB: []vxlanFDB{fdbB, fdbC},
				Skipped: []desired.VTEP{
					{Node: "d", TunnelAddr: addr("10.98.4.0"), MAC: "nonsense", HostAddr: addr("10.99.0.4")},
					{Node: "e", TunnelAddr: addr("10.98.2.0"), MAC: "66:a3:1b:0c:5e:05", HostAddr: addr("10.99.0.5")}}}},
		{"an unwanted device is deleted", matching(nil), nil, 0, vxlanPlan{Delete: true, Why: "not wanted"}},
		{"an unwanted device that does not exist stays missing", vxlanObs{}, nil, 0, vxlanPlan{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planVXLAN(tc.have, tc.want, tc.parent)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.plan) {
				t.Errorf("plan\n%+v\nwant\n%+v", got, tc.plan)
			}
			if tc.plan.empty() != got.empty() {
				t.Errorf("plan empty=%v, want %v", got.empty(), tc.plan.empty())
			}
		})
	}

	if _, err := planVXLAN(vxlanObs{}, with(func(w *desired.VXLAN) { w.MAC = "66:a3" }), 2); err == nil ||
		!strings.Contains(err.Error(), `vxlan.calico: invalid MAC "66:a3"`) {
		t.Errorf("an invalid device MAC gave error %v, want one naming the device and the MAC", err)
	}
}

// vxlanNode is one end of the real-kernel test: a namespace, its host address on the veth that joins the two,
// and its VXLAN tunnel address and MAC.
type vxlanNode struct {
	ns, path          string
	iface, host       string
	tunnel, mac, peer string // peer: the other node's name in the desired state
}

// state is the node's desired state with the other node as its only VTEP and a route to the other's block.
func (n vxlanNode) state(other vxlanNode, vni int) *desired.State {
	a := netip.MustParseAddr
	return &desired.State{
		VXLAN: &desired.VXLAN{Name: DefaultVXLANName, VNI: vni, Port: 4789, MTU: 1450, MAC: n.mac,
			LocalAddr: a(n.host), Address: a(n.tunnel),
			VTEPs: []desired.VTEP{{Node: n.peer, TunnelAddr: a(other.tunnel), MAC: other.mac, HostAddr: a(other.host)}}},
		Routes: []desired.Route{{Dst: netip.PrefixFrom(a(other.tunnel), 26), Type: desired.Unicast, Iface: DefaultVXLANName,
			Gateway: a(other.tunnel), OnLink: true}},
	}
}

// check compares the namespace's vxlan.calico with what state(other, vni) describes, using ip and bridge.
func (n vxlanNode) check(t *testing.T, other vxlanNode, vni string) {
	t.Helper()
	show := inNetns(t, n.ns, "ip", "-d", "link", "show", DefaultVXLANName)
	for _, want := range []string{"mtu 1450", ",UP", "link/ether " + n.mac, "vxlan id " + vni + " local " + n.host + " dev " + n.iface,
		"dstport 4789", "nolearning"} {
		if !strings.Contains(show, want) {
			t.Errorf("%s in %s lacks %q:\n%s", DefaultVXLANName, n.ns, want, show)
		}
	}
	if got := inNetns(t, n.ns, "ip", "-4", "addr", "show", "dev", DefaultVXLANName); !strings.Contains(got, "inet "+n.tunnel+"/32") ||
		strings.Count(got, "inet ") != 1 {
		t.Errorf("%s in %s should carry %s/32 only:\n%s", DefaultVXLANName, n.ns, n.tunnel, got)
	}
	n.checkEntries(t, other.tunnel+" lladdr "+other.mac+" PERMANENT", other.mac+" dst "+other.host+" self permanent")
}

// checkEntries compares the device's neighbour and FDB entries with the given lines ("" for none).
func (n vxlanNode) checkEntries(t *testing.T, neigh, fdb string) {
	t.Helper()
	if got := strings.TrimSpace(inNetns(t, n.ns, "ip", "-4", "neigh", "show", "dev", DefaultVXLANName)); got != neigh {
		t.Errorf("neighbours of %s in %s:\n%s\nwant:\n%s", DefaultVXLANName, n.ns, got, neigh)
	}
	if got := strings.TrimSpace(inNetns(t, n.ns, "bridge", "fdb", "show", "dev", DefaultVXLANName)); got != fdb {
		t.Errorf("FDB of %s in %s:\n%s\nwant:\n%s", DefaultVXLANName, n.ns, got, fdb)
	}
}

// ping says whether a ping from this node's tunnel address to the other's is answered.
func (n vxlanNode) ping(other vxlanNode) bool {
	_, err := tryInNetns(n.ns, "ping", "-n", "-c", "1", "-W", "5", "-I", n.tunnel, other.tunnel)
	return err == nil
}

func TestVXLANBetweenTwoNamespaces(t *testing.T) {
	nsA, pathA := testNetns(t)
	nsB, pathB := testNetns(t)
	if _, err := tryInNetns(nsA, "ip", "link", "add", "probe0", "type", "vxlan", "id", "1", "dstport", "4789"); err != nil {
		t.Skipf("this kernel cannot create VXLAN devices: %v", err)
	}
	inNetns(t, nsA, "ip", "link", "del", "probe0")
	for _, tool := range []string{"bridge", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	a := vxlanNode{ns: nsA, path: pathA, iface: "eth-a", host: "10.99.0.1", tunnel: "10.98.1.0", mac: "66:a3:1b:0c:5e:01", peer: "b"}
	b := vxlanNode{ns: nsB, path: pathB, iface: "eth-b", host: "10.99.0.2", tunnel: "10.98.2.0", mac: "66:a3:1b:0c:5e:02", peer: "a"}
	inNetns(t, nsA, "ip", "link", "add", a.iface, "type", "veth", "peer", "name", b.iface, "netns", nsB)
	for _, n := range []vxlanNode{a, b} {
		inNetns(t, n.ns, "ip", "addr", "add", n.host+"/24", "dev", n.iface)
		inNetns(t, n.ns, "ip", "link", "set", n.iface, "up")
	}
	dA, dB := newTestDataplane(t, pathA), newTestDataplane(t, pathB)

	rep := mustApply(t, dA, a.state(b, 4096))
	if !slices.Contains(rep.VXLANChanges, "created") || len(rep.RoutesAdded) != 1 {
		t.Errorf("first apply: VXLAN changes %v, routes added %v; want the device created and one route", rep.VXLANChanges, rep.RoutesAdded)
	}
	mustApply(t, dB, b.state(a, 4096))
	a.check(t, b, "4096")
	b.check(t, a, "4096")
	if !a.ping(b) {
		t.Errorf("ping from %s to %s over VXLAN failed", a.tunnel, b.tunnel)
	}

	// A restarted felix adopts the device and its entries as they are.
	if rep := mustApply(t, newTestDataplane(t, pathA), a.state(b, 4096)); rep.Changed() {
		t.Errorf("a new dataplane with the same state changed VXLAN %v, routes %v %v %v; want nothing",
			rep.VXLANChanges, rep.RoutesAdded, rep.RoutesReplaced, rep.RoutesRemoved)
	}

	// Drift is repaired in place. A new MAC flushes the neighbour entries (the kernel does that), so felix writes
	// them again.
	index := ifindex(t, nsA, DefaultVXLANName)
	inNetns(t, nsA, "ip", "link", "set", DefaultVXLANName, "mtu", "1400", "address", "66:00:00:00:00:99")
	inNetns(t, nsA, "ip", "addr", "add", "10.98.7.7/32", "dev", DefaultVXLANName)
	rep = mustApply(t, dA, a.state(b, 4096))
	if want := []string{"mac " + a.mac, "mtu 1450", "removed address 10.98.7.7/32", "neighbour " + b.tunnel + " lladdr " + b.mac}; !slices.Equal(rep.VXLANChanges, want) {
		t.Errorf("repairing the device made changes %q; want %q", rep.VXLANChanges, want)
	}
	// Stray permanent entries go, including a default destination; entries the kernel made (not permanent) stay.
	inNetns(t, nsA, "ip", "neigh", "add", "10.98.9.0", "lladdr", "66:00:00:00:00:09", "dev", DefaultVXLANName, "nud", "permanent")
	inNetns(t, nsA, "ip", "neigh", "add", "10.98.8.0", "lladdr", "66:00:00:00:00:08", "dev", DefaultVXLANName, "nud", "stale")
	inNetns(t, nsA, "bridge", "fdb", "add", "66:00:00:00:00:09", "dev", DefaultVXLANName, "dst", "10.99.0.9", "self", "permanent")
	inNetns(t, nsA, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", DefaultVXLANName, "dst", "10.99.0.9", "self", "permanent")
	rep = mustApply(t, dA, a.state(b, 4096))
	if len(rep.VXLANChanges) != 3 {
		t.Errorf("repairing the entries made changes %q; want the stray neighbour and two FDB entries removed", rep.VXLANChanges)
	}
	if got := ifindex(t, nsA, DefaultVXLANName); got != index {
		t.Errorf("repairing drift recreated the device (index %s, was %s)", got, index)
	}
	if got := inNetns(t, nsA, "ip", "-4", "neigh", "show", "dev", DefaultVXLANName); !strings.Contains(got, "10.98.8.0 lladdr 66:00:00:00:00:08 STALE") {
		t.Errorf("the kernel's own neighbour entry was removed:\n%s", got)
	}
	inNetns(t, nsA, "ip", "neigh", "del", "10.98.8.0", "dev", DefaultVXLANName)
	a.check(t, b, "4096")
	if !a.ping(b) {
		t.Errorf("ping from %s to %s failed after repairing drift", a.tunnel, b.tunnel)
	}

	// A peer that goes loses its entries.
	st := a.state(b, 4096)
	st.VXLAN.VTEPs = nil
	rep = mustApply(t, dA, st)
	if len(rep.VXLANChanges) != 2 {
		t.Errorf("removing the peer made changes %v; want its neighbour and FDB entries removed", rep.VXLANChanges)
	}
	a.checkEntries(t, "", "")
	mustApply(t, dA, a.state(b, 4096))
	a.check(t, b, "4096")

	// Another VNI recreates the device, with its entries and the routes through it.
	rep = mustApply(t, dA, a.state(b, 4097))
	if !slices.Contains(rep.VXLANChanges, "deleted: VNI 4096, want 4097") || !slices.Contains(rep.VXLANChanges, "created") ||
		len(rep.RoutesAdded) != 1 {
		t.Errorf("changing the VNI: VXLAN changes %v, routes added %v; want the device recreated and its route added again",
			rep.VXLANChanges, rep.RoutesAdded)
	}
	mustApply(t, dB, b.state(a, 4097))
	a.check(t, b, "4097")
	b.check(t, a, "4097")
	if !a.ping(b) {
		t.Errorf("ping from %s to %s failed after changing the VNI", a.tunnel, b.tunnel)
	}

	// Without VXLAN the device goes, and stays gone.
	rep = mustApply(t, dA, &desired.State{})
	if !slices.Equal(rep.VXLANChanges, []string{"deleted: not wanted"}) {
		t.Errorf("dropping VXLAN made changes %v; want the device deleted", rep.VXLANChanges)
	}
	if out, err := tryInNetns(nsA, "ip", "link", "show", DefaultVXLANName); err == nil {
		t.Errorf("%s still exists without VXLAN:\n%s", DefaultVXLANName, out)
	}
	if rep := mustApply(t, dA, &desired.State{}); len(rep.VXLANChanges) != 0 {
		t.Errorf("applying no VXLAN again made changes %v", rep.VXLANChanges)
	}
}
