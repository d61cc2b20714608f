package ipam

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/selector"
)

// pool is what the allocator needs to know of an IPPool.
type pool struct {
	Name         string
	CIDR         netip.Prefix
	BlockSize    int
	Disabled     bool
	NodeSelector string
	// Uses are the pool's allowedUses, defaulted to Workload and Tunnel; Manual pools are used only when asked for.
	Uses   []string
	Manual bool
	// key and rev are where the pool was read and its mod revision then, for transactions that rely on it.
	key string
	rev int64
}

func (p pool) String() string { return fmt.Sprintf("%s (%s)", p.Name, p.CIDR) }

func (p pool) version() int { return family(p.CIDR) }

// poolFrom reads an IPPool resource, applying the block size default when it was stored without one.
func poolFrom(r *api.IPPool) (pool, error) {
	cidr, err := netip.ParsePrefix(r.Spec.CIDR)
	if err != nil {
		return pool{}, fmt.Errorf("IPPool(%s) has an invalid CIDR %q: %w", r.Name, r.Spec.CIDR, err)
	}
	bs := r.Spec.BlockSize
	if bs == 0 {
		bs = 26
		if !cidr.Addr().Is4() {
			bs = 122
		}
	}
	if bs < cidr.Bits() || bs > cidr.Addr().BitLen() {
		return pool{}, fmt.Errorf("IPPool(%s) block size /%d does not fit its CIDR %s", r.Name, bs, cidr)
	}
	uses := r.Spec.AllowedUses
	if len(uses) == 0 {
		uses = []string{api.IPPoolAllowedUseWorkload, api.IPPoolAllowedUseTunnel}
	}
	return pool{Name: r.Name, CIDR: cidr.Masked(), BlockSize: bs, Disabled: r.Spec.Disabled, NodeSelector: r.Spec.NodeSelector,
		Uses: uses, Manual: r.IsManual()}, nil
}

// allows says whether the pool may be used for use; a pool without uses allows Workload and Tunnel.
func (p pool) allows(use string) bool {
	if len(p.Uses) == 0 {
		return use == api.IPPoolAllowedUseWorkload || use == api.IPPoolAllowedUseTunnel
	}
	return slices.Contains(p.Uses, use)
}

// poolFor finds the pool (enabled or not) that holds a.
func poolFor(pools []pool, a netip.Addr) (pool, bool) {
	for _, p := range pools {
		if p.CIDR.Contains(a) {
			return p, true
		}
	}
	return pool{}, false
}

// selectPools picks the pools of one IP family to assign from for use (Workload or Tunnel). Requested pools (names
// or CIDRs) must each be an enabled pool of that family that allows the use, and are then used as given, whatever
// their node selectors say (as Calico does: node selectors came later than requested pools) and even in Manual
// assignment mode. Without a request, every enabled pool in Automatic mode that allows the use and whose
// nodeSelector matches the node's labels is used; a node that is not registered has no labels.
func selectPools(all []pool, version int, requested []string, use, host string, nodeLabels map[string]string) ([]pool, error) {
	var enabled []pool
	for _, p := range all {
		if p.version() == version && !p.Disabled {
			enabled = append(enabled, p)
		}
	}
	if len(requested) > 0 {
		var out []pool
		for _, want := range requested {
			p, ok := findPool(enabled, want)
			if !ok {
				return nil, fmt.Errorf("the given pool (%s) does not exist, or is not enabled", want)
			}
			if !p.allows(use) {
				return nil, fmt.Errorf("the given pool %s cannot be used for %s addresses: its allowedUses are %s",
					p, strings.ToLower(use), strings.Join(p.Uses, ", "))
			}
			out = append(out, p)
		}
		return out, nil
	}
	if len(enabled) == 0 {
		return nil, fmt.Errorf("%w (IPv%d)", ErrNoPools, version)
	}
	var out []pool
	skipped := map[string][]string{} // why enabled pools were left out, by reason, for the error when none is left
	skip := func(p pool, reason string) { skipped[reason] = append(skipped[reason], p.Name) }
	for _, p := range enabled {
		if !p.allows(use) {
			skip(p, "not allowed for "+strings.ToLower(use)+" addresses")
			continue
		}
		if p.Manual {
			skip(p, "in Manual assignment mode (used only when asked for)")
			continue
		}
		sel := p.NodeSelector
		if strings.TrimSpace(sel) == "" {
			sel = "all()"
		}
		s, err := selector.Parse(sel)
		if err != nil {
			return nil, fmt.Errorf("IPPool(%s) nodeSelector: %w", p.Name, err)
		}
		if !s.Evaluate(nodeLabels) {
			skip(p, "with a nodeSelector that does not match the node")
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		var why []string
		for reason, names := range skipped {
			why = append(why, strings.Join(names, ", ")+" "+reason)
		}
		slices.Sort(why)
		return nil, fmt.Errorf("%w (IPv%d) for %s addresses on node %s: %s", ErrNoPools, version, strings.ToLower(use), host, strings.Join(why, "; "))
	}
	return out, nil
}

// findPool matches a pool by name or by CIDR.
func findPool(pools []pool, want string) (pool, bool) {
	cidr, cidrErr := netip.ParsePrefix(strings.TrimSpace(want))
	for _, p := range pools {
		if p.Name == want || (cidrErr == nil && cidr.Masked() == p.CIDR) {
			return p, true
		}
	}
	return pool{}, false
}

func inPools(pools []pool, cidr netip.Prefix) bool {
	for _, p := range pools {
		if p.CIDR.Bits() <= cidr.Bits() && p.CIDR.Contains(cidr.Addr()) {
			return true
		}
	}
	return false
}

func poolNames(pools []pool) string {
	names := make([]string, len(pools))
	for i, p := range pools {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}
