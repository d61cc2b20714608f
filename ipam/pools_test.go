package ipam

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestSelectPoolsPicksEnabledMatchingPools(t *testing.T) {
	all := []pool{
		{Name: "a", CIDR: netip.MustParsePrefix("10.0.0.0/24"), BlockSize: 26, NodeSelector: "all()"},
		{Name: "b", CIDR: netip.MustParsePrefix("10.1.0.0/24"), BlockSize: 26, NodeSelector: "zone == 'east'"},
		{Name: "off", CIDR: netip.MustParsePrefix("10.2.0.0/24"), BlockSize: 26, Disabled: true},
		{Name: "v6", CIDR: netip.MustParsePrefix("fd00::/120"), BlockSize: 122},
		{Name: "neg", CIDR: netip.MustParsePrefix("10.3.0.0/24"), BlockSize: 26, NodeSelector: "!has(zone)"},
	}
	east := map[string]string{"zone": "east"}
	tests := []struct {
		name      string
		version   int
		requested []string
		labels    map[string]string
		want      string // pool names joined by ","
		wantErr   string
	}{
		{"a node's labels select pools by nodeSelector", 4, nil, east, "a,b", ""},
		{"a node without labels gets pools that need none", 4, nil, nil, "a,neg", ""},
		{"requested pools by name are used whatever their selector", 4, []string{"b"}, nil, "b", ""},
		{"requested pools by CIDR", 4, []string{"10.1.0.0/24", "a"}, nil, "b,a", ""},
		{"IPv6 pools are kept apart", 6, nil, nil, "v6", ""},
		{"a disabled pool cannot be requested", 4, []string{"off"}, nil, "", "the given pool (off) does not exist, or is not enabled"},
		{"an unknown pool cannot be requested", 4, []string{"10.9.0.0/24"}, nil, "", "the given pool (10.9.0.0/24) does not exist, or is not enabled"},
		{"a pool of the other family cannot be requested", 6, []string{"a"}, nil, "", "the given pool (a) does not exist, or is not enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectPools(all, tt.version, tt.requested, "n1", tt.labels)
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
	_, err := selectPools(nil, 4, nil, "n1", nil)
	if !errors.Is(err, ErrNoPools) {
		t.Errorf("no pools at all: error %v, want ErrNoPools", err)
	}
	only := []pool{{Name: "b", CIDR: netip.MustParsePrefix("10.1.0.0/24"), BlockSize: 26, NodeSelector: "zone == 'east'"}}
	_, err = selectPools(only, 4, nil, "n1", map[string]string{"zone": "west"})
	if !errors.Is(err, ErrNoPools) || !strings.Contains(err.Error(), "n1") {
		t.Errorf("no pool selects the node: error %v, want ErrNoPools naming the node", err)
	}
}
