package keyview

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/calico-l3/calico/api"
)

// Filter is the JSON value of /calico/bgp/v1/host/<node>/filters_v4/<BGPFilter name> (filters_v6 for IPv6): the
// BIRD functions of one BGPFilter for the family. Each function runs the rules in order; the first whose
// condition holds accepts or rejects the route, which ends the peer's filter. A route that matches no rule
// returns from the function and goes on to the next filter, then to the peer's usual logic.
type Filter struct {
	Name   string      `json:"name"`
	Import *FilterFunc `json:"import,omitempty"`
	Export *FilterFunc `json:"export,omitempty"`
}

// FilterFunc is one BIRD function, such as 'bgp_my-filter_importFilterV4'.
type FilterFunc struct {
	Func  string       `json:"func"`
	Rules []FilterRule `json:"rules"`
}

// FilterRule is one rule as BIRD reads it: a condition (empty for a rule that matches every route) and the
// action, accept or reject.
type FilterRule struct {
	Condition string `json:"condition,omitempty"`
	Action    string `json:"action"`
}

func (b *builder) loadFilters() {
	b.filters = map[string]*api.BGPFilter{}
	for _, f := range b.in.BGPFilters {
		b.filters[f.Name] = f
	}
}

// filterKeys writes the functions of every BGPFilter, per family. A filter with a rule BIRD cannot express is
// left out whole (and so its peers pass routes without it): validation refuses such rules, so this only guards
// against what reached the datastore by other means.
func (b *builder) filterKeys() {
	if b.in.NodeName == "" {
		return
	}
	names := make([]string, 0, len(b.filters))
	for n := range b.filters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := b.filters[name].Spec
		var out [2]Filter
		var err error
		for _, f := range families {
			imp, exp := spec.ImportV4, spec.ExportV4
			if f == v6 {
				imp, exp = spec.ImportV6, spec.ExportV6
			}
			out[f].Name = name
			if out[f].Import, err = filterFunc(name, "import", f, imp); err == nil {
				out[f].Export, err = filterFunc(name, "export", f, exp)
			}
			if err != nil {
				break
			}
		}
		if err != nil {
			b.warnf("BGPFilter(%s): ignoring the filter: %v", name, err)
			delete(b.filters, name)
			continue
		}
		for _, f := range families {
			if out[f].Import != nil || out[f].Export != nil {
				b.setJSON(b.local("filters_"+f.String()+"/"+name), out[f])
			}
		}
	}
}

// filterFuncs names the functions a peer's filters call, in the order of its spec.filters, for one family.
func (b *builder) filterFuncs(names []string, f family) (imp, exp []string) {
	for _, name := range names {
		flt := b.filters[name]
		if flt == nil {
			continue
		}
		i, e := flt.Spec.ImportV4, flt.Spec.ExportV4
		if f == v6 {
			i, e = flt.Spec.ImportV6, flt.Spec.ExportV6
		}
		if len(i) > 0 {
			imp = append(imp, filterFuncName(name, "import", f))
		}
		if len(e) > 0 {
			exp = append(exp, filterFuncName(name, "export", f))
		}
	}
	return imp, exp
}

// maxBIRDSymbol is the longest symbol BIRD accepts.
const maxBIRDSymbol = 64

// filterFuncName is the BIRD function of a filter's rules, named as Calico names them: 'bgp_<name>_importFilterV4'.
// A name too long for a BIRD symbol is cut and given a hash of the whole, so that names stay distinct.
func filterFuncName(name, direction string, f family) string {
	suffix := fmt.Sprintf("_%sFilterV%d", direction, map[family]int{v4: 4, v6: 6}[f])
	room := maxBIRDSymbol - len("bgp_") - len(suffix)
	if len(name) > room {
		sum := sha256.Sum256([]byte(name))
		hash := hex.EncodeToString(sum[:])[:8]
		name = name[:room-len(hash)-1] + "-" + hash
	}
	return "'bgp_" + name + suffix + "'"
}

func filterFunc(name, direction string, f family, rules []api.BGPFilterRule) (*FilterFunc, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	fn := &FilterFunc{Func: filterFuncName(name, direction, f)}
	for i, r := range rules {
		rule, err := filterRule(r, f)
		if err != nil {
			return nil, fmt.Errorf("%sV%d[%d]: %v", direction, map[family]int{v4: 4, v6: 6}[f], i, err)
		}
		fn.Rules = append(fn.Rules, rule)
	}
	return fn, nil
}

// filterRule turns one rule into a BIRD condition and action.
func filterRule(r api.BGPFilterRule, f family) (FilterRule, error) {
	var conds []string
	switch r.Action {
	case api.FilterAccept, api.FilterReject:
	default:
		return FilterRule{}, fmt.Errorf("action %q is not Accept or Reject", r.Action)
	}
	if r.CIDR != "" {
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil || ipFamily(p.Addr()) != f {
			return FilterRule{}, fmt.Errorf("cidr %q is not an IP%s CIDR", r.CIDR, f)
		}
		p = p.Masked()
		match := p.String()
		if pl := r.PrefixLength; pl != nil {
			// Routes inside the CIDR are at least as long as it; a shorter min means the same.
			lo, hi := int32(p.Bits()), int32(p.Addr().BitLen())
			if pl.Min != nil && *pl.Min > lo {
				lo = *pl.Min
			}
			if pl.Max != nil {
				hi = *pl.Max
			}
			if lo > hi {
				return FilterRule{}, fmt.Errorf("prefixLength %d-%d is empty within %s", lo, hi, p)
			}
			match = fmt.Sprintf("[ %s{%d,%d} ]", p, lo, hi)
		}
		op := map[string]string{api.FilterEqual: "=", api.FilterNotEqual: "!=", api.FilterIn: "~", api.FilterNotIn: "!~"}[r.MatchOperator]
		if op == "" || (r.PrefixLength != nil && (op == "=" || op == "!=")) {
			return FilterRule{}, fmt.Errorf("matchOperator %q does not go with this cidr and prefixLength", r.MatchOperator)
		}
		conds = append(conds, fmt.Sprintf("(net %s %s)", op, match))
	}
	switch r.Source {
	case "":
	case api.FilterSourceRemotePeers:
		conds = append(conds, "(source = RTS_BGP)")
	default:
		return FilterRule{}, fmt.Errorf("source %q is not RemotePeers", r.Source)
	}
	if r.Interface != "" {
		if strings.ContainsAny(r.Interface, "\"\\\n") {
			return FilterRule{}, fmt.Errorf("BIRD cannot quote interface %q", r.Interface)
		}
		conds = append(conds, fmt.Sprintf("(ifname ~ \"%s\")", r.Interface))
	}
	rule := FilterRule{Action: strings.ToLower(r.Action)}
	if len(conds) > 0 {
		rule.Condition = "(" + strings.Join(conds, " && ") + ")"
	}
	return rule, nil
}
