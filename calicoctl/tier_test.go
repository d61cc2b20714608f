package calicoctl

import (
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
)

const securityTierYAML = `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
`

// blockMetaYAML is the policy of the issue: a GlobalNetworkPolicy in tier security, with the given rule action.
func blockMetaYAML(action string) string {
	return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.block-meta}
spec:
  tier: security
  order: 10
  selector: all()
  egress: [{action: ` + action + `, destination: {nets: [169.254.169.254/32]}}]
`
}

func TestTiersAndTieredPolicies(t *testing.T) {
	c := startCtl(t)

	c.expect(0, "NAME      ORDER   \ndefault   1e+06   \n\n", "", "", "get", "tiers")
	c.expect(1, "", "Failed to create 'GlobalNetworkPolicy' resource: error with field spec.tier = 'security' (tier does not exist: create the Tier first)\n",
		blockMetaYAML("Deny"), "create", "-f", "-")
	c.expect(0, "Successfully created 2 resource(s)\n", "", docs(securityTierYAML, blockMetaYAML("Deny")), "create", "-f", "-")
	c.expect(0, "Successfully created 1 'GlobalNetworkPolicy' resource(s)\n", "", `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-all}
spec: {selector: all(), ingress: [{action: Allow}]}
`, "create", "-f", "-")

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"tiers list in the order they run, with the default tier implied", []string{"get", "tiers"}, 0,
			"NAME       ORDER   \nsecurity   100     \ndefault    1e+06   \n\n", ""},
		{"the default tier can be read by name", []string{"get", "tier", "default", "-o", "yaml"}, 0,
			"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: default\nspec:\n  defaultAction: Deny\n  order: 1000000\n", ""},
		{"a tiered policy is listed by its tiered name", []string{"get", "globalnetworkpolicy"}, 0,
			"NAME                  \nallow-all             \nsecurity.block-meta   \n\n", ""},
		{"wide shows each policy's tier last", []string{"get", "gnp", "-o", "wide"}, 0, "" +
			"NAME                  ORDER   SELECTOR   TIER       \n" +
			"allow-all                     all()      default    \n" +
			"security.block-meta   10      all()      security   \n\n", ""},
		{"the default tier cannot be deleted", []string{"delete", "tier", "default"}, 1, "",
			"Failed to delete 'Tier' resource: the default tier cannot be deleted\n"},
		{"a tier that holds policies cannot be deleted", []string{"delete", "tier", "security"}, 1, "",
			"Failed to delete 'Tier' resource: tier security still holds policies; delete them first: GlobalNetworkPolicy(security.block-meta)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.with(t).expect(tt.wantCode, tt.wantStdout, tt.wantStderr, "", tt.args...)
		})
	}

	out := c.run("", "get", "gnp", "security.block-meta", "-o", "yaml")
	if out.code != 0 || !strings.Contains(out.stdout, "tier: security") {
		t.Errorf("get -o yaml of a tiered policy should show spec.tier, got %v", out)
	}

	// The issue: a tiered policy could not be replaced.
	c.expect(0, "Successfully replaced 1 'GlobalNetworkPolicy' resource(s)\n", "", blockMetaYAML("Pass"), "replace", "-f", "-")
	if p := c.get("GlobalNetworkPolicy", "", "security.block-meta").(*api.GlobalNetworkPolicy); p.Spec.Tier != "security" || p.Spec.Egress[0].Action != api.ActionPass {
		t.Errorf("after replace the stored policy is in tier %q with action %q, want security and Pass", p.Spec.Tier, p.Spec.Egress[0].Action)
	}

	c.expect(1, "", "Failed to create 'GlobalNetworkPolicy' resource: resource already exists: default.allow-all names the same policy of the default tier as allow-all, which exists\n",
		`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default.allow-all}
spec: {selector: all(), ingress: [{action: Allow}]}
`, "create", "-f", "-")
	c.expect(1, "", "Failed to execute command: document 1 (Tier 'default'): error with field spec.order = '5' (the default tier's order cannot be changed: it must be 1000000)\n",
		"apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: default}\nspec: {order: 5}\n", "apply", "-f", "-")

	c.expect(0, "Successfully deleted 1 'GlobalNetworkPolicy' resource(s)\n", "", "", "delete", "gnp", "security.block-meta")
	c.expect(0, "Successfully deleted 1 'Tier' resource(s)\n", "", "", "delete", "tier", "security")
}
