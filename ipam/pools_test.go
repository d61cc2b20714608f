package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

func TestSelectPoolsPicksEnabledMatchingPools(t *testing.T) {
	all := []pool{
		{Name: "a", CIDR: netip.MustParsePrefix("10.0.0.0/24"), BlockSize: 26, NodeSelector: "all()"},
		{Name: "b", CIDR: netip.MustParsePrefix("10.1.0.0/24"), BlockSize: 26, NodeSelector: "zone == 'east'"},
		{Name: "off", CIDR: netip.MustParsePrefix("10.2.0.0/24"), BlockSize: 26, Disabled: true},
		{Name: "v6", CIDR: netip.MustParsePrefix("fd00::/120"), BlockSize: 122},
		{Name: "neg", CIDR: netip.MustParsePrefix("10.3.0.0/24"), BlockSize: 26, NodeSelector: "!has(zone)"},
		{Name: "tun", CIDR: netip.MustParsePrefix("10.4.0.0/24"), BlockSize: 26, NodeSelector: "all()", Uses: []string{api.IPPoolAllowedUseTunnel}},
		{Name: "wl", CIDR: netip.MustParsePrefix("10.5.0.0/24"), BlockSize: 26, NodeSelector: "all()", Uses: []string{api.IPPoolAllowedUseWorkload}},
		{Name: "lb", CIDR: netip.MustParsePrefix("10.6.0.0/24"), BlockSize: 26, NodeSelector: "all()", Uses: []string{api.IPPoolAllowedUseLoadBalancer}},
		{Name: "man", CIDR: netip.MustParsePrefix("10.7.0.0/24"), BlockSize: 26, NodeSelector: "all()", Manual: true},
	}
	const wl, tun = api.IPPoolAllowedUseWorkload, api.IPPoolAllowedUseTunnel
	east := map[string]string{"zone": "east"}
	tests := []struct {
		name      string
		version   int
		requested []string
		use       string
		labels    map[string]string
		want      string // pool names joined by ","
		wantErr   string
	}{
		{"a node's labels select pools by nodeSelector", 4, nil, wl, east, "a,b,wl", ""},
		{"a node without labels gets pools that need none", 4, nil, wl, nil, "a,neg,wl", ""},
		{"tunnel addresses come only from pools that allow Tunnel", 4, nil, tun, nil, "a,neg,tun", ""},
		{"requested pools by name are used whatever their selector", 4, []string{"b"}, wl, nil, "b", ""},
		{"requested pools by CIDR", 4, []string{"10.1.0.0/24", "a"}, wl, nil, "b,a", ""},
		{"a Manual pool is used when requested", 4, []string{"man"}, wl, nil, "man", ""},
		{"IPv6 pools are kept apart", 6, nil, wl, nil, "v6", ""},
		{"a disabled pool cannot be requested", 4, []string{"off"}, wl, nil, "", "the given pool (off) does not exist, or is not enabled"},
		{"an unknown pool cannot be requested", 4, []string{"10.9.0.0/24"}, wl, nil, "", "the given pool (10.9.0.0/24) does not exist, or is not enabled"},
		{"a pool of the other family cannot be requested", 6, []string{"a"}, wl, nil, "", "the given pool (a) does not exist, or is not enabled"},
		{"a Tunnel-only pool cannot be requested for a workload", 4, []string{"tun"}, wl, nil, "",
			"the given pool tun (10.4.0.0/24) cannot be used for workload addresses: its allowedUses are Tunnel"},
		{"a Workload-only pool cannot be requested for a tunnel", 4, []string{"wl"}, tun, nil, "",
			"the given pool wl (10.5.0.0/24) cannot be used for tunnel addresses: its allowedUses are Workload"},
		{"a LoadBalancer pool cannot be requested for a workload", 4, []string{"lb"}, wl, nil, "",
			"the given pool lb (10.6.0.0/24) cannot be used for workload addresses: its allowedUses are LoadBalancer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectPools(all, tt.version, tt.requested, tt.use, "n1", tt.labels)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != tt.want {
				t.Errorf("pools = %v, want %s", names, tt.want)
			}
		})
	}
}

func TestSelectPoolsSaysWhyThereAreNone(t *testing.T) {
	_, err := selectPools(nil, 4, nil, api.IPPoolAllowedUseWorkload, "n1", nil)
	if !errors.Is(err, ErrNoPools) {
		t.Errorf("no pools at all: error %v, want ErrNoPools", err)
	}
	only := []pool{{Name: "b", CIDR: netip.MustParsePrefix("10.1.0.0/24"), BlockSize: 26, NodeSelector: "zone == 'east'"}}
	_, err = selectPools(only, 4, nil, api.IPPoolAllowedUseWorkload, "n1", map[string]string{"zone": "west"})
	if !errors.Is(err, ErrNoPools) || !strings.Contains(err.Error(), "n1") {
		t.Errorf("no pool selects the node: error %v, want ErrNoPools naming the node", err)
	}
	unusable := []pool{
		{Name: "tun", CIDR: netip.MustParsePrefix("10.4.0.0/24"), BlockSize: 26, Uses: []string{api.IPPoolAllowedUseTunnel}},
		{Name: "man", CIDR: netip.MustParsePrefix("10.7.0.0/24"), BlockSize: 26, Manual: true},
	}
	_, err = selectPools(unusable, 4, nil, api.IPPoolAllowedUseWorkload, "n1", nil)
	want := "no configured Calico pools (IPv4) for workload addresses on node n1: " +
		"man in Manual assignment mode (used only when asked for); tun not allowed for workload addresses"
	if !errors.Is(err, ErrNoPools) || err.Error() != want {
		t.Errorf("no pool allows the use: error %v, want %q", err, want)
	}
}
