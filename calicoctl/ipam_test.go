package calicoctl

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/ipam"
)

func TestIPAMShowReleaseAndCheck(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool1", "10.1.240.0/24"), "create", "-f", "-")
	m := ipam.New(c.ds)
	v4, _, err := m.AutoAssign(context.Background(), ipam.AssignArgs{Num4: 1, HandleID: "net1.abc", Host: "node1",
		Attrs: map[string]string{"node": "node1", "container": "abc"}})
	if err != nil || len(v4) != 1 {
		t.Fatalf("assigning: %v %v", v4, err)
	}
	ip := v4[0].IP.String()

	r := c.run("", "ipam", "show", "--show-blocks")
	if r.code != 0 || !strings.Contains(r.stdout, "10.1.240.0/24     256") || !strings.Contains(r.stdout, "1 (0%)") ||
		!strings.Contains(r.stdout, "Block") || !strings.Contains(r.stdout, "affinity host:node1") || !strings.Contains(r.stdout, "/26   64") {
		t.Errorf("ipam show --show-blocks: %v", r)
	}
	r = c.run("", "ipam", "show", "--ip="+ip)
	if r.code != 0 || !strings.Contains(r.stdout, "Handle: net1.abc") || !strings.Contains(r.stdout, "container: abc") {
		t.Errorf("ipam show --ip: %v", r)
	}
	c.expect(0, "Checked 1 blocks, 1 affinities, 1 handles and 1 allocated addresses.\nNo problems found.\n", "", "", "ipam", "check")
	// A second workload keeps the block alive after the first address is released (node1 has no Node resource,
	// so an emptied block would be given back).
	if _, _, err := m.AutoAssign(context.Background(), ipam.AssignArgs{Num4: 1, HandleID: "net1.def", Host: "node1"}); err != nil {
		t.Fatal(err)
	}
	c.expect(0, "Successfully released IP address "+ip+"\n", "", "", "ipam", "release", "--ip="+ip)
	c.expect(1, "", "IP address "+ip+" is not assigned\n", "", "ipam", "release", "--ip="+ip)
	c.expect(1, "IP "+ip+" is not assigned\n", "", "", "ipam", "show", "--ip="+ip)
	c.expect(1, "", "error with field IP = '10.1.240.300' (not a valid IP address)\n", "", "ipam", "release", "--ip=10.1.240.300")

	// Corrupt the block by hand: check must say so and exit 1.
	key := ipam.BlockKey(netip.MustParsePrefix(ip + "/26").Masked())
	resp, err := c.ds.Raw().Get(context.Background(), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading block %s: %v", key, err)
	}
	broken := strings.Replace(string(resp.Kvs[0].Value), `"unallocated":[`, `"unallocated":[0,`, 1)
	if _, err := c.ds.Raw().Put(context.Background(), key, broken); err != nil {
		t.Fatal(err)
	}
	r = c.run("", "ipam", "check")
	if r.code != 1 || !strings.Contains(r.stdout, "block bookkeeping does not add up") {
		t.Errorf("ipam check after corruption: %v", r)
	}
}

func TestDeletingAPoolGivesBackItsBlockAffinities(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool1", "10.1.240.0/24"), "create", "-f", "-")
	c.expect(0, "Successfully created 1 'Node' resource(s)\n", "", "apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: node1}\n", "create", "-f", "-")
	m := ipam.New(c.ds)
	if _, _, err := m.AutoAssign(context.Background(), ipam.AssignArgs{Num4: 1, HandleID: "net1.abc", Host: "node1"}); err != nil {
		t.Fatal(err)
	}
	if err := m.ReleaseByHandle(context.Background(), "net1.abc"); err != nil {
		t.Fatal(err)
	}
	before, _ := c.ds.Raw().Get(context.Background(), "/calico/ipam/v2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if before.Count == 0 {
		t.Fatalf("node1's empty block and affinity should stay while node1 exists")
	}
	f := c.file(poolYAML("pool1", "10.1.240.0/24"))
	c.expect(0, "Successfully deleted 1 'IPPool' resource(s)\n", "", "", "delete", "-f", f)
	resp, err := c.ds.Raw().Get(context.Background(), "/calico/ipam/v2/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Errorf("after deleting the pool, %d IPAM keys remain (err %v)", resp.Count, err)
	}
}
