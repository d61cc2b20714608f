package calc

import (
	"cmp"
	"slices"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/rules"
)

// tierInfo is what the chains need of a tier: where it runs among the others and what ends it.
type tierInfo struct {
	order  float64
	action string // api.ActionDeny or api.ActionPass
	// missing says no Tier of this name exists (and it is not the default tier, which always does).
	missing bool
}

// tierInfo describes the tier of this name: the stored Tier; the default tier as Calico creates it when none is
// stored; and for a tier that does not exist (its policies were written before it, or it was deleted under
// them), one that runs after every existing tier and drops what its policies leave, so that such policies
// never open more than they say.
func (c *Calculator) tierInfo(name string) tierInfo {
	if t := c.tierByName[name]; t != nil {
		return tierInfo{order: t.Spec.EffectiveOrder(), action: t.Spec.EffectiveDefaultAction()}
	}
	if name == api.DefaultTierName {
		return tierInfo{order: api.DefaultTierOrder, action: api.ActionDeny}
	}
	return tierInfo{order: api.DefaultTierOrder, action: api.ActionDeny, missing: true}
}

// compareTiers orders tiers as they run: by order, then by name; tiers that do not exist go last.
func (c *Calculator) compareTiers(a, b string) int {
	if a == b {
		return 0
	}
	ta, tb := c.tierInfo(a), c.tierInfo(b)
	if ta.missing != tb.missing {
		if ta.missing {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(ta.order, tb.order), cmp.Compare(a, b))
}

// sortPolicies orders policies as they run: by tier, then within a tier by order (unset last) and name.
func (c *Calculator) sortPolicies(ps []*policy) {
	slices.SortFunc(ps, func(a, b *policy) int {
		return cmp.Or(c.compareTiers(a.tier, b.tier), comparePolicies(a, b))
	})
}

// tiered groups the picked policies of a sorted list by tier, for the renderer: one rules.Tier per tier that
// holds at least one of them, in order.
func (c *Calculator) tiered(sorted []*policy, pick func(*policy) bool) []rules.Tier {
	var out []rules.Tier
	for _, p := range sorted {
		if !pick(p) {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Name != p.tier {
			out = append(out, rules.Tier{Name: p.tier, DefaultAction: c.tierInfo(p.tier).action})
		}
		last := &out[len(out)-1]
		last.Policies = append(last.Policies, p.name)
	}
	return out
}
