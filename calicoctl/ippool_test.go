package calicoctl

import (
	"testing"

	"github.com/calico-l3/calico/api"
)

func pool(cidr string, blockSize int) *api.IPPool {
	p := api.SetTypeMeta(&api.IPPool{})
	p.Name = "p"
	p.Spec.CIDR, p.Spec.BlockSize = cidr, blockSize
	return p
}

func withUses(p *api.IPPool, uses ...string) *api.IPPool {
	p.Spec.AllowedUses = uses
	return p
}

func TestPoolChangeAllowed(t *testing.T) {
	tests := []struct {
		name    string
		old     *api.IPPool
		updated *api.IPPool
		wantErr string
	}{
		{"a change of other fields is allowed", pool("10.0.0.0/16", 26), pool("10.0.0.0/16", 26), ""},
		{"the same IPv6 network spelled differently is not a change",
			pool("fd00:0:0:0::/64", 122), pool("fd00::/64", 122), ""},
		{"a new cidr is rejected naming spec.cidr", pool("10.0.0.0/16", 26), pool("10.1.0.0/16", 26),
			"error with field spec.cidr = '10.1.0.0/16' (cidr of an IPPool cannot be changed: it is 10.0.0.0/16; create a new pool instead)"},
		{"a new block size is rejected naming spec.blockSize", pool("10.0.0.0/16", 26), pool("10.0.0.0/16", 28),
			"error with field spec.blockSize = '28' (blockSize of an IPPool cannot be changed: it is 26)"},
		{"a workload pool may become a LoadBalancer pool", pool("10.0.0.0/16", 26),
			withUses(pool("10.0.0.0/16", 26), api.IPPoolAllowedUseLoadBalancer), ""},
		{"a LoadBalancer pool cannot become a workload pool", withUses(pool("10.0.0.0/16", 26), api.IPPoolAllowedUseLoadBalancer),
			withUses(pool("10.0.0.0/16", 26), api.IPPoolAllowedUseWorkload),
			"error with field spec.allowedUses[0] = 'Workload' (the allowed use of a LoadBalancer IPPool cannot be changed to Workload or Tunnel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := poolChangeAllowed(tt.old, tt.updated)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("poolChangeAllowed:\n got %q\nwant %q", got, tt.wantErr)
			}
		})
	}
}
