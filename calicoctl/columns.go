package calicoctl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/calico-l3/calico/api"
)

// tableContext is what some columns need beyond the resource itself.
type tableContext struct {
	defaultAS api.ASNumber // the cluster's AS number, shown in parentheses for nodes that inherit it
}

// column is one column of a -o ps / -o wide table.
type column struct {
	heading string
	value   func(r api.Resource, c tableContext) string
}

// col makes a column from a function of one resource type.
func col[T api.Resource](heading string, f func(T) string) column {
	return column{heading, func(r api.Resource, _ tableContext) string { return f(r.(T)) }}
}

var nameColumn = column{"NAME", func(r api.Resource, _ tableContext) string { return r.GetObjectMeta().Name }}

// kindColumns are the columns of one kind for -o ps (the default) and -o wide.
type kindColumns struct{ ps, wide []column }

// columnsByKind lists the table columns of every kind.
var columnsByKind = map[string]kindColumns{
	"IPPool": {
		ps:   []column{nameColumn, poolCIDR, poolSelector},
		wide: []column{nameColumn, poolCIDR, poolNAT, poolIPIP, poolVXLAN, poolDisabled, poolSelector},
	},
	"Node": {
		ps:   []column{nameColumn},
		wide: []column{nameColumn, nodeASN, nodeIPv4, nodeIPv6},
	},
	"BGPPeer": {
		ps:   []column{nameColumn, peerIP, peerNode, peerASN},
		wide: []column{nameColumn, peerIP, peerNode, peerASN},
	},
	// Calico prints only the name of a BGPFilter, in both formats.
	"BGPFilter": {
		ps:   []column{nameColumn},
		wide: []column{nameColumn},
	},
	// Calico prints the same four columns of a BGPConfiguration in both formats.
	"BGPConfiguration": {
		ps:   []column{nameColumn, bgpLogSeverity, bgpMesh, bgpASN},
		wide: []column{nameColumn, bgpLogSeverity, bgpMesh, bgpASN},
	},
	"Profile": {
		ps: []column{nameColumn},
		wide: []column{nameColumn, col("LABELS", func(p *api.Profile) string {
			return joinLabels(p.Spec.LabelsToApply)
		})},
	},
	"NetworkPolicy": {
		ps: []column{nameColumn},
		wide: []column{nameColumn,
			col("ORDER", func(p *api.NetworkPolicy) string { return formatOrder(p.Spec.Order) }),
			col("SELECTOR", func(p *api.NetworkPolicy) string { return p.Spec.Selector }),
			col("TIER", func(p *api.NetworkPolicy) string { return api.PolicyTier(p.Name, p.Spec.Tier) })},
	},
	"GlobalNetworkPolicy": {
		ps: []column{nameColumn},
		wide: []column{nameColumn,
			col("ORDER", func(p *api.GlobalNetworkPolicy) string { return formatOrder(p.Spec.Order) }),
			col("SELECTOR", func(p *api.GlobalNetworkPolicy) string { return p.Spec.Selector }),
			col("TIER", func(p *api.GlobalNetworkPolicy) string { return api.PolicyTier(p.Name, p.Spec.Tier) })},
	},
	// Calico prints a tier's name and order in both formats. TIER comes last in the policies' wide tables, so
	// that scripts reading Calico's columns by position keep working.
	"Tier": {
		ps:   []column{nameColumn, tierOrder},
		wide: []column{nameColumn, tierOrder},
	},
	"WorkloadEndpoint": {
		ps:   []column{wepWorkload, wepNode, wepNetworks, wepInterface},
		wide: []column{nameColumn, wepWorkload, wepNode, wepNetworks, wepInterface, wepProfiles, wepNATs},
	},
	"HostEndpoint": {
		ps: []column{nameColumn, hepNode},
		wide: []column{nameColumn, hepNode,
			col("INTERFACE", func(h *api.HostEndpoint) string { return h.Spec.InterfaceName }),
			col("IPS", func(h *api.HostEndpoint) string { return strings.Join(h.Spec.ExpectedIPs, ",") }),
			col("PROFILES", func(h *api.HostEndpoint) string { return strings.Join(h.Spec.Profiles, ",") })},
	},
	"GlobalNetworkSet": {
		ps: []column{nameColumn},
		wide: []column{nameColumn, col("NETS", func(g *api.GlobalNetworkSet) string {
			return truncate(strings.Join(g.Spec.Nets, ","), 80)
		})},
	},
	"FelixConfiguration": {
		ps:   []column{nameColumn},
		wide: []column{nameColumn},
	},
	"ClusterInformation": {
		ps:   clusterInfoColumns,
		wide: clusterInfoColumns,
	},
}

var (
	poolCIDR     = col("CIDR", func(p *api.IPPool) string { return p.Spec.CIDR })
	poolSelector = col("SELECTOR", func(p *api.IPPool) string { return p.Spec.NodeSelector })
	poolNAT      = col("NAT", func(p *api.IPPool) string { return strconv.FormatBool(p.Spec.NATOutgoing) })
	poolIPIP     = col("IPIPMODE", func(p *api.IPPool) string { return orNever(p.Spec.IPIPMode) })
	poolVXLAN    = col("VXLANMODE", func(p *api.IPPool) string { return orNever(p.Spec.VXLANMode) })
	poolDisabled = col("DISABLED", func(p *api.IPPool) string { return strconv.FormatBool(p.Spec.Disabled) })

	nodeASN = column{"ASN", func(r api.Resource, c tableContext) string {
		b := r.(*api.Node).Spec.BGP
		switch {
		case b == nil:
			return ""
		case b.ASNumber != nil:
			return b.ASNumber.String()
		}
		return "(" + c.defaultAS.String() + ")"
	}}
	nodeIPv4 = col("IPV4", func(n *api.Node) string { return nodeBGP(n).IPv4Address })
	nodeIPv6 = col("IPV6", func(n *api.Node) string { return nodeBGP(n).IPv6Address })

	peerIP   = col("PEERIP", func(p *api.BGPPeer) string { return p.Spec.PeerIP })
	peerNode = col("NODE", func(p *api.BGPPeer) string {
		switch {
		case p.Spec.Node != "":
			return p.Spec.Node
		case p.Spec.NodeSelector != "":
			return p.Spec.NodeSelector
		}
		return "(global)"
	})
	peerASN = col("ASN", func(p *api.BGPPeer) string { return formatAS(p.Spec.ASNumber) })

	bgpLogSeverity = col("LOGSEVERITY", func(b *api.BGPConfiguration) string { return b.Spec.LogSeverityScreen })
	// Calico prints "-" for a mesh setting or AS number the configuration leaves unset (a per-node one always does).
	bgpMesh = col("MESHENABLED", func(b *api.BGPConfiguration) string { return orDash(formatBool(b.Spec.NodeToNodeMeshEnabled)) })
	bgpASN  = col("ASNUMBER", func(b *api.BGPConfiguration) string { return orDash(formatAS(b.Spec.ASNumber)) })

	wepWorkload  = col("WORKLOAD", func(w *api.WorkloadEndpoint) string { return w.Spec.Workload })
	wepNode      = col("NODE", func(w *api.WorkloadEndpoint) string { return w.Spec.Node })
	wepNetworks  = col("NETWORKS", func(w *api.WorkloadEndpoint) string { return strings.Join(w.Spec.IPNetworks, ",") })
	wepInterface = col("INTERFACE", func(w *api.WorkloadEndpoint) string { return w.Spec.InterfaceName })
	wepProfiles  = col("PROFILES", func(w *api.WorkloadEndpoint) string { return strings.Join(w.Spec.Profiles, ",") })
	wepNATs      = col("NATS", func(w *api.WorkloadEndpoint) string {
		nats := make([]string, len(w.Spec.IPNATs))
		for i, n := range w.Spec.IPNATs {
			nats[i] = n.InternalIP + "->" + n.ExternalIP
		}
		return strings.Join(nats, ",")
	})

	hepNode = col("NODE", func(h *api.HostEndpoint) string { return h.Spec.Node })

	tierOrder = col("ORDER", func(t *api.Tier) string { o := t.Spec.EffectiveOrder(); return formatOrder(&o) })

	clusterInfoColumns = []column{nameColumn,
		col("CLUSTERGUID", func(c *api.ClusterInformation) string { return c.Spec.ClusterGUID }),
		col("CLUSTERTYPE", func(c *api.ClusterInformation) string { return c.Spec.ClusterType }),
		col("CALICOVERSION", func(c *api.ClusterInformation) string { return c.Spec.CalicoVersion }),
		col("DATASTOREREADY", func(c *api.ClusterInformation) string { return formatBool(c.Spec.DatastoreReady) }),
	}
)

func nodeBGP(n *api.Node) api.NodeBGPSpec {
	if n.Spec.BGP == nil {
		return api.NodeBGPSpec{}
	}
	return *n.Spec.BGP
}

func orNever(mode string) string {
	if mode == "" {
		return api.EncapNever
	}
	return mode
}

func formatAS(a *api.ASNumber) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// orDash is s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func formatOrder(o *float64) string {
	if o == nil {
		return ""
	}
	return strconv.FormatFloat(*o, 'g', -1, 64)
}

func joinLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", k, labels[k])
	}
	return strings.Join(parts, ",")
}

// truncate shortens s to at most n characters, ending in "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
