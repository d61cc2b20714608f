package node

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

type harness struct {
	t   *testing.T
	ds  *datastore.Etcd
	dir string
}

func newHarness(t *testing.T) *harness {
	ds, err := datastore.New(datastore.Config{Endpoints: []string{etcdtest.Start(t)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return &harness{t: t, ds: ds, dir: t.TempDir()}
}

var hostIfaces = []Iface{{Name: "eth0", Addrs: []*net.IPNet{mustCIDR("10.0.0.5/24")}}}

// run performs one startup with the given environment and returns its log and error.
func (h *harness) run(kv ...string) (string, error) {
	kv = append([]string{"CALICO_NODENAME_FILE", filepath.Join(h.dir, "nodename"), "CALICO_STATE_DIRS", filepath.Join(h.dir, "state")}, kv...)
	cfg, err := ConfigFromEnv(env(kv...))
	if err != nil {
		return "", err
	}
	var logs bytes.Buffer
	s := &Startup{Config: cfg, Datastore: h.ds, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Interfaces: func() ([]Iface, error) { return hostIfaces, nil }}
	err = s.Run(context.Background())
	return logs.String(), err
}

func (h *harness) get(kind, name string) api.Resource {
	k, _ := api.LookupKind(kind)
	r, err := h.ds.Get(context.Background(), k, "", name)
	if err != nil {
		h.t.Fatalf("reading %s %s: %v", kind, name, err)
	}
	return r
}

func TestStartupRegistersTheNodeAndTheClusterDefaults(t *testing.T) {
	h := newHarness(t)
	logs, err := h.run("NODENAME", "machine-01", "IP", "172.17.8.101", "AS", "64513")
	if err != nil {
		t.Fatalf("startup: %v\n%s", err, logs)
	}
	n := h.get("Node", "machine-01").(*api.Node)
	if n.Spec.BGP == nil || n.Spec.BGP.IPv4Address != "172.17.8.101/32" || n.Spec.BGP.ASNumber == nil || *n.Spec.BGP.ASNumber != 64513 {
		t.Errorf("node spec: got %+v", n.Spec.BGP)
	}
	for _, line := range []string{"Using NODENAME environment for node name", "Using IPv4 address from environment: IP=172.17.8.101",
		"Using AS number specified in environment (AS=64513)", "Created default IPv4 pool (192.168.0.0/16) with NAT outgoing true. IPIP mode: Never"} {
		if !strings.Contains(logs, line) {
			t.Errorf("log lacks %q:\n%s", line, logs)
		}
	}
	pool := h.get("IPPool", "default-ipv4-ippool").(*api.IPPool)
	if pool.Spec.CIDR != "192.168.0.0/16" || !pool.Spec.NATOutgoing || pool.Spec.BlockSize != 26 {
		t.Errorf("default pool: got %+v", pool.Spec)
	}
	ci := h.get("ClusterInformation", "default").(*api.ClusterInformation)
	if ci.Spec.ClusterGUID == "" || ci.Spec.DatastoreReady == nil || !*ci.Spec.DatastoreReady {
		t.Errorf("cluster information: got %+v", ci.Spec)
	}
	fc := h.get("FelixConfiguration", "node.machine-01").(*api.FelixConfiguration)
	if fc.Spec.DefaultEndpointToHostAction != "Return" {
		t.Errorf("per-node felix configuration: got %+v", fc.Spec)
	}
	if b, _ := os.ReadFile(filepath.Join(h.dir, "nodename")); string(b) != "machine-01" {
		t.Errorf("nodename file holds %q", b)
	}
}

func TestStartupTwiceKeepsTheNodeAndReusesTheStoredName(t *testing.T) {
	h := newHarness(t)
	if _, err := h.run("NODENAME", "machine-01", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"); err != nil {
		t.Fatal(err)
	}
	first := h.get("Node", "machine-01").GetObjectMeta().UID
	logs, err := h.run("NO_DEFAULT_POOLS", "true") // no NODENAME, no IP: stored name and stored address
	if err != nil {
		t.Fatalf("second startup: %v\n%s", err, logs)
	}
	n := h.get("Node", "machine-01").(*api.Node)
	if n.UID != first || n.Spec.BGP.IPv4Address != "10.0.0.5/24" {
		t.Errorf("second run should keep uid %s and address 10.0.0.5/24 (prefix from eth0), got %s %s", first, n.UID, n.Spec.BGP.IPv4Address)
	}
	if !strings.Contains(logs, "Using stored node name from") || !strings.Contains(logs, "Skipping IP pool configuration") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestStartupAutodetectsFirstFound(t *testing.T) {
	h := newHarness(t)
	logs, err := h.run("NODENAME", "n1", "NO_DEFAULT_POOLS", "true")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "Using autodetected IPv4 address on interface eth0: 10.0.0.5/24") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestStartupRefusesAnAddressAnotherNodeUses(t *testing.T) {
	h := newHarness(t)
	if _, err := h.run("NODENAME", "first", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(h.dir, "nodename"))
	_, err := h.run("NODENAME", "second", "IP", "10.0.0.5/24", "NO_DEFAULT_POOLS", "true")
	if err == nil || !strings.Contains(err.Error(), "calico node 'first' is already using the IPv4 address 10.0.0.5") {
		t.Errorf("got %v, want an error naming node 'first'", err)
	}
	k, _ := api.LookupKind("Node")
	if _, err := h.ds.Get(context.Background(), k, "", "second"); err == nil {
		t.Errorf("the refused node must not have been written")
	}
}

func TestStartupWithAnIPIPPoolLeavesFelixToFindIPIPFromThePools(t *testing.T) {
	h := newHarness(t)
	if _, err := h.run("NODENAME", "n1", "IP", "10.0.0.5", "CALICO_IPV4POOL_CIDR", "10.1.0.0/16", "CALICO_IPV4POOL_IPIP", "Always"); err != nil {
		t.Fatal(err)
	}
	if pool := h.get("IPPool", "default-ipv4-ippool").(*api.IPPool); pool.Spec.IPIPMode != api.EncapAlways {
		t.Errorf("default pool: got ipipMode %q, want Always", pool.Spec.IPIPMode)
	}
	k, _ := api.LookupKind("FelixConfiguration")
	if r, err := h.ds.Get(context.Background(), k, "", "default"); err == nil {
		t.Errorf("an IPIP pool must not create FelixConfiguration default, as Calico's startup does not: %+v", r.(*api.FelixConfiguration).Spec)
	}
	if _, err := h.run("NODENAME", "n1", "CALICO_IPV4POOL_CIDR", "10.2.0.0/16"); err != nil {
		t.Fatal(err)
	}
	k, _ = api.LookupKind("IPPool")
	pools, _, _ := h.ds.List(context.Background(), k, "")
	if len(pools) != 1 {
		t.Errorf("a second start must not add a pool when one exists, got %d", len(pools))
	}
}

func TestStartupWithTheVXLANBackendWritesTheAddressAndAVXLANDefaultPool(t *testing.T) {
	h := newHarness(t)
	logs, err := h.run("NODENAME", "n1", "CALICO_NETWORKING_BACKEND", "vxlan", "CALICO_IPV4POOL_CIDR", "10.1.0.0/16",
		"CALICO_IPV4POOL_VXLAN", "Always")
	if err != nil {
		t.Fatalf("startup: %v\n%s", err, logs)
	}
	n := h.get("Node", "n1").(*api.Node)
	if n.Spec.BGP == nil || n.Spec.BGP.IPv4Address != "10.0.0.5/24" {
		t.Errorf("felix needs the node's IPv4 address as its VTEP address, got %+v", n.Spec.BGP)
	}
	if n.Spec.BGP != nil && n.Spec.BGP.ASNumber != nil {
		t.Errorf("no AS given, yet the node got AS %s", n.Spec.BGP.ASNumber)
	}
	pool := h.get("IPPool", "default-ipv4-ippool").(*api.IPPool)
	if pool.Spec.VXLANMode != api.EncapAlways || pool.Spec.IPIPMode != api.EncapNever {
		t.Errorf("default pool: got vxlanMode %q, ipipMode %q, want Always and Never", pool.Spec.VXLANMode, pool.Spec.IPIPMode)
	}
	if !strings.Contains(logs, "VXLAN mode: Always") {
		t.Errorf("the pool's log line should give its VXLAN mode:\n%s", logs)
	}
	k, _ := api.LookupKind("FelixConfiguration")
	if r, err := h.ds.Get(context.Background(), k, "", "default"); err == nil && r.(*api.FelixConfiguration).Spec.IPIPEnabled != nil {
		t.Errorf("a VXLAN pool must not turn IPIP on in felix: %+v", r.(*api.FelixConfiguration).Spec)
	}
}

func TestStartupGivesUpOnAnUnreachableDatastoreAfterTheBoundedWait(t *testing.T) {
	ds, _ := datastore.New(datastore.Config{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: 200 * time.Millisecond})
	defer ds.Close()
	cfg, _ := ConfigFromEnv(env("NODENAME", "n1", "DATASTORE_WAIT_TIMEOUT", "1s", "CALICO_NODENAME_FILE", filepath.Join(t.TempDir(), "nn")))
	start := time.Now()
	err := (&Startup{Config: cfg, Datastore: ds, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "datastore not reachable after 1s") {
		t.Errorf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("waited %s, want about 1s", d)
	}
}

func TestStartupWritesClusterInformationAsCalicoDoes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ciKind, _ := api.LookupKind("ClusterInformation")
	run := func(kv ...string) *api.ClusterInformation {
		t.Helper()
		if logs, err := h.run(append([]string{"NODENAME", "n1", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"}, kv...)...); err != nil {
			t.Fatalf("startup: %v\n%s", err, logs)
		}
		return h.get("ClusterInformation", "default").(*api.ClusterInformation)
	}
	first := run("CLUSTER_TYPE", "k8s,bgp")
	if len(first.Spec.ClusterGUID) != 32 || strings.Trim(first.Spec.ClusterGUID, "0123456789abcdef") != "" {
		t.Errorf("clusterGUID %q: want 32 lower-case hex digits", first.Spec.ClusterGUID)
	}
	if first.Spec.CalicoVersion != Version || first.Spec.DatastoreReady == nil || !*first.Spec.DatastoreReady || first.Spec.ClusterType != "k8s,bgp" {
		t.Errorf("first start: got %+v, want calicoVersion %s, datastoreReady true, clusterType k8s,bgp", first.Spec, Version)
	}

	// What is set is kept: the GUID, an explicit datastoreReady false (an upgrade in progress); new cluster types
	// are added to the list; the version follows the running node.
	ci := first
	notReady := false
	ci.Spec.DatastoreReady = &notReady
	ci.Spec.CalicoVersion = "v3.29.0"
	if _, err := h.ds.Update(ctx, ci); err != nil {
		t.Fatal(err)
	}
	second := run("CLUSTER_TYPE", "bgp,typha")
	if second.Spec.ClusterGUID != first.Spec.ClusterGUID {
		t.Errorf("clusterGUID changed from %s to %s", first.Spec.ClusterGUID, second.Spec.ClusterGUID)
	}
	if second.Spec.DatastoreReady == nil || *second.Spec.DatastoreReady {
		t.Errorf("an explicit datastoreReady false must stay, got %v", second.Spec.DatastoreReady)
	}
	if second.Spec.ClusterType != "k8s,bgp,typha" || second.Spec.CalicoVersion != Version {
		t.Errorf("second start: clusterType %q and calicoVersion %q, want k8s,bgp,typha and %s", second.Spec.ClusterType, second.Spec.CalicoVersion, Version)
	}

	// Nothing to change: nothing is written.
	rev := second.ResourceVersion
	if third := run("CLUSTER_TYPE", "bgp"); third.ResourceVersion != rev {
		t.Errorf("a start with nothing to change rewrote ClusterInformation (version %s, was %s)", third.ResourceVersion, rev)
	}

	// A GUID another tool wrote is kept as it is.
	if _, err := h.ds.Delete(ctx, ciKind, "", "default", ""); err != nil {
		t.Fatal(err)
	}
	given := &api.ClusterInformation{ObjectMeta: api.ObjectMeta{Name: "default"}, Spec: api.ClusterInformationSpec{ClusterGUID: "0123456789abcdef0123456789abcdef"}}
	if _, err := h.ds.Create(ctx, api.SetTypeMeta(given)); err != nil {
		t.Fatal(err)
	}
	if got := run(); got.Spec.ClusterGUID != given.Spec.ClusterGUID || got.Spec.DatastoreReady == nil || !*got.Spec.DatastoreReady {
		t.Errorf("with a stored GUID and no datastoreReady: got %+v, want the GUID kept and datastoreReady true", got.Spec)
	}
}

// Startup creates the default tier as Calico's does, and leaves one that exists as it is.
func TestStartupCreatesTheDefaultTier(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	start := func() {
		t.Helper()
		if logs, err := h.run("NODENAME", "n1", "IP", "10.0.0.5", "NO_DEFAULT_POOLS", "true"); err != nil {
			t.Fatalf("startup: %v\n%s", err, logs)
		}
	}
	start()
	tier := h.get("Tier", "default").(*api.Tier)
	if tier.Spec.Order == nil || *tier.Spec.Order != api.DefaultTierOrder || tier.Spec.DefaultAction != "Deny" {
		t.Fatalf("expected the default tier with order 1000000 and defaultAction Deny, got %+v", tier.Spec)
	}
	tier.Labels = map[string]string{"kept": "yes"}
	updated, err := h.ds.Update(ctx, tier)
	if err != nil {
		t.Fatal(err)
	}
	start()
	if again := h.get("Tier", "default"); again.GetObjectMeta().ResourceVersion != updated.GetObjectMeta().ResourceVersion {
		t.Errorf("a second start rewrote the default tier")
	}
}

func TestFillClusterInformation(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name        string
		in          api.ClusterInformationSpec
		version     string
		clusterType string
		want        api.ClusterInformationSpec
	}{
		{"set fields are kept and the version follows the node",
			api.ClusterInformationSpec{ClusterGUID: "g", ClusterType: "k8s", CalicoVersion: "v1", DatastoreReady: &no}, "v2", "",
			api.ClusterInformationSpec{ClusterGUID: "g", ClusterType: "k8s", CalicoVersion: "v2", DatastoreReady: &no}},
		{"an empty version leaves the stored one",
			api.ClusterInformationSpec{ClusterGUID: "g", CalicoVersion: "v1", DatastoreReady: &yes}, "", "",
			api.ClusterInformationSpec{ClusterGUID: "g", CalicoVersion: "v1", DatastoreReady: &yes}},
		{"cluster types are merged without repeats and a trailing comma is ignored",
			api.ClusterInformationSpec{ClusterGUID: "g", ClusterType: "k8s,bgp", DatastoreReady: &yes}, "", "bgp,kubeadm,",
			api.ClusterInformationSpec{ClusterGUID: "g", ClusterType: "k8s,bgp,kubeadm", DatastoreReady: &yes}},
		{"an unset datastoreReady becomes true",
			api.ClusterInformationSpec{ClusterGUID: "g"}, "", "",
			api.ClusterInformationSpec{ClusterGUID: "g", DatastoreReady: &yes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			fillClusterInformation(&got, tt.version, tt.clusterType)
			if got.ClusterGUID != tt.want.ClusterGUID || got.ClusterType != tt.want.ClusterType || got.CalicoVersion != tt.want.CalicoVersion ||
				got.DatastoreReady == nil || *got.DatastoreReady != *tt.want.DatastoreReady {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
