package cni

import (
	"context"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

// A pool named in ipv4_pools must allow workloads; a Manual pool is used when it is named.
func TestPoolsNamedInTheConfigMustAllowWorkloads(t *testing.T) {
	e := newEnv(t)
	for _, p := range []*api.IPPool{
		{ObjectMeta: api.ObjectMeta{Name: "tunnels"}, Spec: api.IPPoolSpec{CIDR: "10.98.0.0/24", AllowedUses: []string{api.IPPoolAllowedUseTunnel}}},
		{ObjectMeta: api.ObjectMeta{Name: "manual"}, Spec: api.IPPoolSpec{CIDR: "10.97.0.0/24", AssignmentMode: api.AssignmentModeManual}},
	} {
		p.Default()
		if _, err := e.ds.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, network, pool, wantAddr, wantErr string
	}{
		{"a Manual pool named in ipv4_pools gives the address", "manual-net", "manual", "10.97.0.", ""},
		{"a Tunnel-only pool named in ipv4_pools is refused naming the pool and the reason", "tunnel-net", "tunnels", "",
			"the given pool tunnels (10.98.0.0/24) cannot be used for workload addresses: its allowedUses are Tunnel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.writeConf(tt.network, "1.0.0", map[string]any{"ipam": map[string]any{"ipv4_pools": []string{tt.pool}}})
			p := newPod(t)
			n := namesFor(tt.network, cnitoolID(p.path), "eth0")
			removeVethAtCleanup(t, n.hostVeth)
			out, stderr, err := e.cnitool("add", tt.network, p, "eth0")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(stderr, tt.wantErr) {
					t.Fatalf("ADD: error %v, stderr %s; want an error containing %q", err, stderr, tt.wantErr)
				}
				e.assertNothingLeft(n)
				return
			}
			if err != nil {
				t.Fatalf("ADD: %v\n%s", err, stderr)
			}
			if res := parseResult(t, out); len(res.IPs) != 1 || !strings.HasPrefix(res.IPs[0].Address, tt.wantAddr) {
				t.Errorf("addresses %+v, want one starting %s", res.IPs, tt.wantAddr)
			}
		})
	}
}
