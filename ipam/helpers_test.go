package ipam

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// cluster is a private etcd with a datastore client, for tests that need the real thing.
type cluster struct {
	t        testing.TB
	endpoint string
	ds       *datastore.Etcd
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	ep := etcdtest.Start(t)
	return &cluster{t: t, endpoint: ep, ds: connect(t, ep)}
}

func connect(t testing.TB, endpoint string) *datastore.Etcd {
	t.Helper()
	ds, err := datastore.New(datastore.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ds.Close() })
	return ds
}

// ipam returns an allocator with its own etcd connection, as a separate node would have.
func (c *cluster) ipam() *IPAM { return New(connect(c.t, c.endpoint)) }

func (c *cluster) pool(name, cidr string, blockSize int, change ...func(*api.IPPool)) {
	c.t.Helper()
	p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.IPPoolSpec{CIDR: cidr, BlockSize: blockSize}}
	for _, f := range change {
		f(p)
	}
	p.Default()
	if err := p.Validate(); err != nil {
		c.t.Fatalf("pool %s: %v", name, err)
	}
	if _, err := c.ds.Create(context.Background(), p); err != nil {
		c.t.Fatalf("creating pool %s: %v", name, err)
	}
}

func (c *cluster) node(name string, labels map[string]string) {
	c.t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}}
	if _, err := c.ds.Create(context.Background(), n); err != nil {
		c.t.Fatalf("creating node %s: %v", name, err)
	}
}

// raw returns the stored value of a key, "" when absent.
func (c *cluster) raw(key string) string {
	c.t.Helper()
	resp, err := c.ds.Raw().Get(context.Background(), key)
	if err != nil {
		c.t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func (c *cluster) put(key, value string) {
	c.t.Helper()
	if _, err := c.ds.Raw().Put(context.Background(), key, value); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) keys(prefix string) []string {
	c.t.Helper()
	resp, err := c.ds.Raw().Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func (c *cluster) block(key string) *Block {
	c.t.Helper()
	v := c.raw(key)
	if v == "" {
		return nil
	}
	var b Block
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		c.t.Fatalf("decoding %s: %v", key, err)
	}
	return &b
}

// mustCheck fails the test unless Check finds nothing wrong.
func mustCheck(t testing.TB, m *IPAM) Report {
	t.Helper()
	r, err := m.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("Check found problems:\n%v", r.Problems)
	}
	return r
}

func ips(nets []net.IPNet) []string {
	out := make([]string, len(nets))
	for i, n := range nets {
		out[i] = n.String()
	}
	return out
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
