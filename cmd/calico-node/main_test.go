package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
	"github.com/calico-l3/calico/internal/syncbuf"
)

func TestModeSelection(t *testing.T) {
	none := func(string) string { return "" }
	noStoredName := func(k string) string {
		if k == "CALICO_NODENAME_FILE" {
			return t.TempDir() + "/missing"
		}
		return ""
	}
	cases := []struct {
		args     []string
		env      func(string) string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, none, 2, "", "choose one of -startup, -confd, -felix, -allocate-tunnel-addrs, -allocate-tunnel-addrs-run-once"},
		{[]string{"-startup", "-felix"}, none, 2, "", "more than one incompatible argument provided: -startup -felix"},
		{[]string{"-allocate-tunnel-addrs", "-allocate-tunnel-addrs-run-once"}, none, 2, "",
			"more than one incompatible argument provided: -allocate-tunnel-addrs -allocate-tunnel-addrs-run-once"},
		{[]string{"-v"}, none, 0, "dev", ""},
		{[]string{"-bogus"}, none, 2, "", "flag provided but not defined"},
		{[]string{"-startup"}, none, 1, "Calico node failed to start: ETCD_ENDPOINTS: no etcd endpoints specified", ""},
		{[]string{"-confd"}, noStoredName, 1, "no NODENAME and no stored node name", ""},
		{[]string{"-allocate-tunnel-addrs"}, noStoredName, 1, "no NODENAME and no stored node name", ""},
		{[]string{"-allocate-tunnel-addrs-run-once"}, noStoredName, 1, "no NODENAME and no stored node name", ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(context.Background(), c.args, &out, &errOut, c.env)
		if code != c.code || !strings.Contains(out.String(), c.inStdout) || !strings.Contains(errOut.String(), c.inStderr) {
			t.Errorf("calico-node %v: got exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				c.args, code, out.String(), errOut.String(), c.code, c.inStdout, c.inStderr)
		}
	}
}

// tunnelCluster is a fresh etcd holding node n1 and a VXLAN pool, and the environment calico-node needs for it.
func tunnelCluster(t *testing.T) (*datastore.Etcd, func(string) string) {
	t.Helper()
	endpoint := etcdtest.Start(t)
	ds, err := datastore.New(datastore.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	ctx := context.Background()
	if _, err := ds.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: "vxlan"}, Spec: api.IPPoolSpec{CIDR: "10.4.0.0/16", VXLANMode: "Always"}}
	p.Default()
	if _, err := ds.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ETCD_ENDPOINTS": endpoint, "NODENAME": "n1"}
	return ds, func(k string) string { return env[k] }
}

func vxlanAddr(t *testing.T, ds *datastore.Etcd) string {
	t.Helper()
	k, _ := api.LookupKind("Node")
	r, err := ds.Get(context.Background(), k, "", "n1")
	if err != nil {
		t.Fatal(err)
	}
	return r.(*api.Node).Spec.IPv4VXLANTunnelAddr
}

func TestAllocateTunnelAddrsRunOnceAllocatesAndExits(t *testing.T) {
	ds, env := tunnelCluster(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-allocate-tunnel-addrs-run-once"}, &out, &errOut, env); code != 0 {
		t.Fatalf("exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	if a := vxlanAddr(t, ds); a == "" || !strings.Contains(out.String(), "Assigned the VXLAN tunnel address") {
		t.Errorf("n1 should have a VXLAN tunnel address (has %q) and the log should say so:\n%s", a, &out)
	}
}

func TestAllocateTunnelAddrsRunsUntilStoppedAndThenExitsZero(t *testing.T) {
	ds, env := tunnelCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncbuf.Buffer
	var errOut bytes.Buffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, []string{"-allocate-tunnel-addrs"}, &out, &errOut, env) }()
	deadline := time.Now().Add(5 * time.Second)
	for vxlanAddr(t, ds) == "" {
		if time.Now().After(deadline) {
			t.Fatalf("n1 got no VXLAN tunnel address within 5s; stdout:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case code := <-exited:
		t.Fatalf("calico-node -allocate-tunnel-addrs should keep running, exited %d; stdout:\n%s", code, out.String())
	default:
	}
	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("stopped, it should exit 0, got %d; stdout:\n%s\nstderr:\n%s", code, out.String(), &errOut)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("calico-node -allocate-tunnel-addrs still runs 5s after its context ended")
	}
}
