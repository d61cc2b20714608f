package ipam

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/internal/etcdtest"
)

// Callers (the CNI plugin's code 11, calicoctl's message) tell an unreachable etcd from a real IPAM failure with
// errors.Is(err, datastore.ErrUnreachable); every IPAM entry point must keep that classification.
func TestEveryOperationReportsAnUnreachableEtcdAsUnreachable(t *testing.T) {
	srv := etcdtest.StartServer(t)
	ds, err := datastore.New(datastore.Config{Endpoints: []string{srv.Endpoint}, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ds.Close() })
	m := New(ds)
	srv.Stop()
	ops := map[string]func(context.Context) error{
		"AutoAssign": func(ctx context.Context) error {
			_, _, err := m.AutoAssign(ctx, AssignArgs{Num4: 1, HandleID: "h", Host: "n1"})
			return err
		},
		"AssignIP": func(ctx context.Context) error {
			return m.AssignIP(ctx, net.ParseIP("10.0.0.1"), "h", nil, "n1")
		},
		"ReleaseByHandle": func(ctx context.Context) error { return m.ReleaseByHandle(ctx, "h") },
		"ReleaseIPs": func(ctx context.Context) error {
			_, err := m.ReleaseIPs(ctx, []net.IP{net.ParseIP("10.0.0.1")})
			return err
		},
		"IPsByHandle": func(ctx context.Context) error { _, err := m.IPsByHandle(ctx, "h"); return err },
		"Check":       func(ctx context.Context) error { _, err := m.Check(ctx); return err },
		"SetConfig":   func(ctx context.Context) error { return m.SetConfig(ctx, DefaultConfig) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := op(ctx)
			if !errors.Is(err, datastore.ErrUnreachable) {
				t.Errorf("expected an error wrapping datastore.ErrUnreachable, got %v", err)
			}
		})
	}
}
