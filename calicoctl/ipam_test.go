package calicoctl

import (
	"context"
	"net"
	"net/netip"
	"regexp"
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
	if r.code != 0 || !regexp.MustCompile(`\| IP Pool  \| 10\.1\.240\.0/24 +\| +256 \| 1 \(0%\) +\| 0 \(0%\) +\| 255 \(100%\) \|`).MatchString(r.stdout) ||
		!regexp.MustCompile(`\| Block +\| 10\.1\.240\.\d+/26 +\| +64 \| 1 \(2%\) +\| 0 \(0%\) +\| 63 \(98%\) +\|`).MatchString(r.stdout) {
		t.Errorf("ipam show --show-blocks: %v", r)
	}
	r = c.run("", "ipam", "show", "--ip="+ip)
	if r.code != 0 || r.stdout != "IP "+ip+" is in use\nAttributes:\n  container: abc\n  node: node1\n" {
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
	c.expect(0, ip+" is not assigned\n", "", "", "ipam", "show", "--ip="+ip)
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

// TestIPAMShowPrintsCalicosTables checks every form of ipam show against golden files, on a cluster with borrowed
// addresses, an IPv6 pool, a pool without blocks and a block whose pool was deleted behind calicoctl's back.
func TestIPAMShowPrintsCalicosTables(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 4 'IPPool' resource(s)\n", "", docs(
		poolYAML("pool-a", "10.1.8.0/21", "blockSize: 24"),
		poolYAML("pool-empty", "10.3.0.0/16"),
		poolYAML("pool-gone", "10.2.0.0/24"),
		poolYAML("pool-v6", "fd00::/64")), "create", "-f", "-")
	m := ipam.New(c.ds)
	pod := func(node, ns, name string) map[string]string {
		return map[string]string{"node": node, "namespace": ns, "pod": name, "timestamp": "2026-01-02T03:04:05Z"}
	}
	assigns := []struct {
		ip, handle, host string
		attrs            map[string]string
	}{
		{"10.1.8.5", "k8s-pod-network.c1", "node1", pod("node1", "prod", "web-1")},  // claims 10.1.8.0/24 for node1
		{"10.1.10.7", "k8s-pod-network.c2", "node2", pod("node2", "prod", "api-1")}, // claims 10.1.10.0/24 for node2
		{"10.1.8.9", "k8s-pod-network.c3", "node2", pod("node2", "prod", "api-2")},  // borrowed from node1
		{"10.1.10.1", "ipip-tunnel-addr-node1", "node1", map[string]string{"node": "node1", "type": "ipipTunnelAddress"}},
		{"10.1.10.2", "", "node2", nil}, // no node attribute: cannot be classified
		{"fd00::3", "k8s-pod-network.c1", "node1", pod("node1", "prod", "web-1")},
		{"10.2.0.1", "k8s-pod-network.c4", "node3", pod("node3", "dev", "old-1")},
	}
	for _, a := range assigns {
		if err := m.AssignIP(context.Background(), net.ParseIP(a.ip), a.handle, a.attrs, a.host); err != nil {
			t.Fatalf("assigning %s: %v", a.ip, err)
		}
	}
	// Deleting the pool directly leaves its block behind, as an orphan.
	if _, err := c.ds.Delete(context.Background(), kind(t, "IPPool"), "", "pool-gone", ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"the summary has a row per pool with rounded percentages", []string{"ipam", "show"}, "ipam/show.golden"},
		{"show-blocks adds the blocks in datastore order and the orphaned block last", []string{"ipam", "show", "--show-blocks"}, "ipam/show-blocks.golden"},
		{"show-borrowed lists addresses taken from another node's block", []string{"ipam", "show", "--show-borrowed"}, "ipam/show-borrowed.golden"},
		{"show-configuration prints the IPAM settings", []string{"ipam", "show", "--show-configuration"}, "ipam/show-configuration.golden"},
		{"an address in use lists its attributes in key order", []string{"ipam", "show", "--ip=10.1.8.9"}, "ipam/show-ip-in-use.golden"},
		{"an address in use without attributes says so", []string{"ipam", "show", "--ip=10.1.10.2"}, "ipam/show-ip-no-attributes.golden"},
		{"a free address is not assigned", []string{"ipam", "show", "--ip=10.1.8.200"}, "ipam/show-ip-free.golden"},
		{"an address outside every pool is not assigned either", []string{"ipam", "show", "--ip=192.168.0.1"}, "ipam/show-ip-no-pool.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.with(t).run("", tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("calicoctl %s: %v", strings.Join(tt.args, " "), r)
			}
			golden(t, tt.golden, r.stdout)
		})
	}

	t.Run("the show options exclude each other", func(t *testing.T) {
		r := c.with(t).run("", "ipam", "show", "--show-blocks", "--show-borrowed")
		if r.code != 1 || !strings.Contains(r.stderr, "exclude each other") {
			t.Errorf("got %v", r)
		}
	})
}

func TestTableAlignsLikeCalicosTablewriter(t *testing.T) {
	tests := []struct {
		name string
		tab  table
		want string
	}{
		{"a table without rows keeps its header and closing border", table{header: []string{"IP", "BLOCK OWNER"}},
			"+----+-------------+\n| IP | BLOCK OWNER |\n+----+-------------+\n+----+-------------+\n"},
		{"headers are centred with the odd space on the right and numbers go right", table{header: []string{"CIDR", "N"},
			rows: [][]string{{"10.0.0.0/8", "16777216"}, {"x", "1.6777e+07"}}},
			"+------------+------------+\n|    CIDR    |     N      |\n+------------+------------+\n" +
				"| 10.0.0.0/8 |   16777216 |\n| x          | 1.6777e+07 |\n+------------+------------+\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.tab.render(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
