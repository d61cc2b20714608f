package calicoctl

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

func TestPoolOverlapAndImmutableFields(t *testing.T) {
	c := startCtl(t)
	c.expect(0, "Successfully created 1 'IPPool' resource(s)\n", "", poolYAML("pool1", "10.1.0.0/16"), "create", "-f", "-")

	tests := []struct {
		name       string
		manifest   string
		verb       string
		wantStderr string
	}{
		{"a pool inside another is rejected on create", poolYAML("pool2", "10.1.128.0/17"), "create",
			"Failed to create 'IPPool' resource: error with field spec.cidr = '10.1.128.0/17' (IPPool(pool2) CIDR overlaps with IPPool(pool1) CIDR 10.1.0.0/16)\n"},
		{"a pool around another is rejected on apply", poolYAML("pool3", "10.0.0.0/8"), "apply",
			"Failed to apply 'IPPool' resource: error with field spec.cidr = '10.0.0.0/8' (IPPool(pool3) CIDR overlaps with IPPool(pool1) CIDR 10.1.0.0/16)\n"},
		{"a new cidr for a stored pool is rejected on apply", poolYAML("pool1", "10.2.0.0/16"), "apply",
			"Failed to apply 'IPPool' resource: error with field spec.cidr = '10.2.0.0/16' (cidr of an IPPool cannot be changed: it is 10.1.0.0/16; create a new pool instead)\n"},
		{"a new block size for a stored pool is rejected on replace", poolYAML("pool1", "10.1.0.0/16", "blockSize: 28"), "replace",
			"Failed to replace 'IPPool' resource: error with field spec.blockSize = '28' (blockSize of an IPPool cannot be changed: it is 26)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			c.expect(1, "", tt.wantStderr, tt.manifest, tt.verb, "-f", "-")
			if got := c.names("IPPool"); !reflect.DeepEqual(got, []string{"pool1"}) {
				t.Errorf("stored pools: got %v, want only [pool1]", got)
			}
			if p := c.get("IPPool", "", "pool1").(*api.IPPool); p.Spec.CIDR != "10.1.0.0/16" || p.Spec.BlockSize != 26 {
				t.Errorf("stored pool1: got cidr %s blockSize %d, want 10.1.0.0/16 and 26", p.Spec.CIDR, p.Spec.BlockSize)
			}
		})
	}

	t.Run("other fields of a stored pool may change", func(t *testing.T) {
		c := c.with(t)
		c.expect(0, "Successfully applied 1 'IPPool' resource(s)\n", "",
			poolYAML("pool1", "10.1.0.0/16", "natOutgoing: true", "blockSize: 26"), "apply", "-f", "-")
		if p := c.get("IPPool", "", "pool1").(*api.IPPool); !p.Spec.NATOutgoing {
			t.Errorf("stored pool1 after apply: natOutgoing false, want true")
		}
	})
}

func TestWritingAnIPIPPoolLeavesFelixConfigurationAlone(t *testing.T) {
	c := startCtl(t)
	felixKind := kind(t, "FelixConfiguration")
	tests := []struct {
		name     string
		existing string // FelixConfiguration default spec before the pool is written; "" for none
		pool     string
	}{
		{"creating an Always pool creates no FelixConfiguration", "", poolYAML("p", "10.1.0.0/16", "ipipMode: Always")},
		{"creating a CrossSubnet pool creates no FelixConfiguration", "", poolYAML("p", "10.1.0.0/16", "ipipMode: CrossSubnet")},
		{"an existing configuration keeps ipipEnabled unset", "{logSeverityScreen: Info}",
			poolYAML("p", "10.1.0.0/16", "ipipMode: Always")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			ctx := context.Background()
			for _, stale := range []struct {
				kind *api.Kind
				name string
			}{{felixKind, "default"}, {kind(t, "IPPool"), "p"}} {
				if _, err := c.ds.Delete(ctx, stale.kind, "", stale.name, ""); err != nil && !errors.Is(err, datastore.ErrNotFound) {
					t.Fatalf("clearing %s %s: %v", stale.kind.Name, stale.name, err)
				}
			}
			if tt.existing != "" {
				fc := "apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: " + tt.existing + "\n"
				c.expect(0, "Successfully created 1 'FelixConfiguration' resource(s)\n", "", fc, "create", "-f", "-")
			}
			c.expect(0, "Successfully applied 1 'IPPool' resource(s)\n", "", tt.pool, "apply", "-f", "-")

			fcs, _, err := c.ds.List(ctx, felixKind, "")
			if err != nil {
				t.Fatalf("listing FelixConfigurations: %v", err)
			}
			if tt.existing == "" {
				if len(fcs) != 0 {
					t.Errorf("FelixConfigurations after creating the pool: got %d, want none", len(fcs))
				}
				return
			}
			if len(fcs) != 1 {
				t.Fatalf("FelixConfigurations: got %d, want the existing one", len(fcs))
			}
			fc := fcs[0].(*api.FelixConfiguration)
			if fc.Spec.IPIPEnabled != nil || fc.Spec.LogSeverityScreen != "Info" {
				t.Errorf("FelixConfiguration default: got ipipEnabled %s and logSeverityScreen %q, want unset and Info",
					ptrString(fc.Spec.IPIPEnabled), fc.Spec.LogSeverityScreen)
			}
		})
	}
}

func ptrString(b *bool) string {
	if b == nil {
		return "unset"
	}
	return map[bool]string{true: "true", false: "false"}[*b]
}
