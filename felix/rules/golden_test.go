package rules

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func ptr[T any](v T) *T { return &v }

func proto(s string) *api.Protocol { return ptr(api.ProtocolFromString(s)) }

func ports(ps ...string) []api.Port {
	out := make([]api.Port, len(ps))
	for i, s := range ps {
		p, err := api.ParsePort(s)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

var defaultFailsafeIn = []api.ProtoPort{{Protocol: "tcp", Port: 22}, {Protocol: "udp", Port: 68}, {Protocol: "tcp", Port: 179}}
var defaultFailsafeOut = []api.ProtoPort{{Protocol: "udp", Port: 53}, {Protocol: "udp", Port: 67}, {Protocol: "tcp", Port: 179}}

func testConfig(action string) Config {
	return Config{EndpointToHostAction: action, FailsafeInbound: defaultFailsafeIn, FailsafeOutbound: defaultFailsafeOut}
}

// cniProfile is the profile the CNI plugin creates for network net1.
var cniProfile = api.ProfileSpec{
	Ingress:       []api.Rule{{Action: api.ActionAllow, Source: api.EntityRule{Selector: "has(net1)"}}},
	Egress:        []api.Rule{{Action: api.ActionAllow}},
	LabelsToApply: map[string]string{"net1": ""},
}

// matchesProfile exercises the rule matches a profile can use.
var matchesProfile = api.ProfileSpec{
	Ingress: []api.Rule{
		{Action: api.ActionLog, Protocol: proto("TCP"), Destination: api.EntityRule{Ports: ports("22")}},
		{Action: api.ActionDeny, Protocol: proto("TCP"), Source: api.EntityRule{Nets: []string{"10.9.0.0/16"}},
			Destination: api.EntityRule{Ports: ports("22")}},
		{Action: api.ActionAllow, Protocol: proto("TCP"),
			Source:      api.EntityRule{Nets: []string{"10.0.0.0/8", "172.16.0.0/12"}, NotNets: []string{"10.9.0.0/16"}},
			Destination: api.EntityRule{Ports: ports("80", "443", "8000:8099", "http")}},
		{Action: api.ActionAllow, Protocol: proto("UDP"),
			Destination: api.EntityRule{NotPorts: ports("1:52", "54:1023"), NotNets: []string{"192.168.0.0/16", "10.0.0.0/8"}}},
		{Action: api.ActionAllow, Protocol: proto("ICMP"), ICMP: &api.ICMPFields{Type: ptr(8), Code: ptr(0)}},
		{Action: api.ActionDeny, Protocol: proto("ICMP"), NotICMP: &api.ICMPFields{Type: ptr(3)}},
		{Action: api.ActionAllow, NotProtocol: proto("132"), Source: api.EntityRule{Selector: "role == 'lb'", NotSelector: "env == 'dev'"}},
		{Action: api.ActionAllow, IPVersion: ptr(6), Protocol: proto("TCP")},
		{Action: api.ActionAllow, Protocol: proto("ICMPv6")},
		{Action: api.ActionDeny, Source: api.EntityRule{Nets: []string{"fd00::/64"}}},
		{Action: api.ActionAllow, Protocol: proto("ICMPv6"), ICMP: &api.ICMPFields{Type: ptr(128), Code: ptr(0)}},
		{Action: api.ActionDeny, Protocol: proto("ICMPv6"), NotICMP: &api.ICMPFields{Type: ptr(1)}},
		{Action: api.ActionAllow, Protocol: proto("TCP"),
			Source:      api.EntityRule{Nets: []string{"fd00::/48", "fd01::/48"}, NotNets: []string{"fd00:9::/64", "10.9.0.0/16"}},
			Destination: api.EntityRule{Ports: ports("80")}},
		{Action: api.ActionAllow, IPVersion: ptr(4), Protocol: proto("UDP")},
	},
	Egress: []api.Rule{
		{Action: api.ActionAllow, Protocol: proto("TCP"), Destination: api.EntityRule{
			Ports: ports("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14:15", "16", "17")}},
		{Action: api.ActionAllow, Protocol: proto("UDP"), Source: api.EntityRule{Ports: ports("53")}, Destination: api.EntityRule{
			NotPorts: ports("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16")}},
		{Action: api.ActionDeny},
	},
}

// passPolicy is a namespaced policy that passes traffic from its namespace's frontends to the profiles and
// denies the rest of TCP.
var passPolicy = Policy{
	Name: "team-a/frontend", Namespace: "team-a", Ingress: true, Egress: true,
	IngressRules: []api.Rule{
		{Action: api.ActionPass, Source: api.EntityRule{Selector: "role == 'frontend'"}},
		{Action: api.ActionDeny, Protocol: proto("TCP")},
	},
	EgressRules: []api.Rule{
		{Action: api.ActionAllow, Destination: api.EntityRule{NamespaceSelector: "all()", Selector: "role == 'db'"}},
	},
}

// namedPortPolicy uses named ports alone, beside numeric ones, as notPorts, on both sides and in a namespace.
var namedPortPolicy = Policy{
	Name: "team-a/named-ports", Namespace: "team-a", Ingress: true, Egress: true,
	IngressRules: []api.Rule{
		{Action: api.ActionAllow, Protocol: proto("TCP"), Source: api.EntityRule{Selector: "role == 'client'"},
			Destination: api.EntityRule{Ports: ports("web")}},
		{Action: api.ActionAllow, Protocol: proto("UDP"), Destination: api.EntityRule{Ports: ports("53", "dns", "5353:5354")}},
		{Action: api.ActionDeny, Protocol: proto("TCP"), Destination: api.EntityRule{NotPorts: ports("22", "ssh")}},
	},
	EgressRules: []api.Rule{
		{Action: api.ActionAllow, Protocol: proto("TCP"),
			Destination: api.EntityRule{Selector: "role == 'db'", NamespaceSelector: "all()", Ports: ports("pg", "6432")}},
		{Action: api.ActionAllow, Protocol: proto("SCTP"), Source: api.EntityRule{Ports: ports("sig")}},
	},
}

// hostEndpointTables are the static tables with host endpoints, an interface's endpoint with every kind of policy
// and the all-interfaces endpoint, with the policy and profile chains they jump to in each table.
func hostEndpointTables(t *testing.T, r *Renderer) map[string]*desired.Table {
	workers := Policy{Name: "workers", Ingress: true, Egress: true,
		IngressRules: []api.Rule{{Action: api.ActionAllow, Protocol: proto("TCP"), Source: api.EntityRule{Nets: []string{"172.18.0.0/24"}},
			Destination: api.EntityRule{Ports: ports("10250")}}},
		EgressRules: []api.Rule{{Action: api.ActionAllow}},
	}
	if r.v6() {
		workers.IngressRules[0].Source.Nets = []string{"fd00:18::/64"}
	}
	must := chainsOf(t)
	policy, profile := must(r.Policy(workers)), must(r.Profile("net1", cniProfile))
	tables := r.Static()
	heps := r.HostEndpoints([]HostEndpoint{
		{Iface: "eth0", IngressTiers: defaultTier("workers"), EgressTiers: defaultTier("workers"),
			ForwardIngressTiers: defaultTier("workers"), PreDNATTiers: defaultTier("workers"),
			UntrackedIngressTiers: defaultTier("workers"), UntrackedEgressTiers: defaultTier("workers"), Profiles: []string{"net1"}},
		{Iface: AllInterfaces, IngressTiers: defaultTier("workers")},
	})
	for table, chains := range heps {
		for name, rules := range chains {
			tables[table].Chains[name] = rules
		}
		for name, rules := range policy {
			tables[table].Chains[name] = rules
		}
	}
	for name, rules := range profile {
		tables[TableFilter].Chains[name] = rules
	}
	return tables
}

// defaultTier is the default tier holding the given policies.
func defaultTier(policies ...string) []Tier {
	return []Tier{{Name: "default", DefaultAction: api.ActionDeny, Policies: policies}}
}

// tieredEndpoint has policies in three tiers: security (ends in a drop), platform (its default action is Pass)
// and default, and a profile after them.
var tieredEndpoint = Endpoint{Iface: "cali1234567890a",
	IngressTiers: []Tier{
		{Name: "security", DefaultAction: api.ActionDeny, Policies: []string{"security.block-meta", "security.quarantine"}},
		{Name: "platform", DefaultAction: api.ActionPass, Policies: []string{"platform.monitoring"}},
		{Name: "default", DefaultAction: api.ActionDeny, Policies: []string{"team-a/frontend"}},
	},
	EgressTiers: []Tier{{Name: "security", DefaultAction: api.ActionDeny, Policies: []string{"security.block-meta"}}},
	Profiles:    []string{"net1"},
}

// dispatchTreeIfaces are a few more interfaces than one dispatch chain holds: 17 each after cali0, cali1, cali2
// and cali3, and one after cali4, so that the chains split into four children and keep one goto at the root.
func dispatchTreeIfaces() []string {
	var out []string
	for c := range 4 {
		for i := range 17 {
			out = append(out, fmt.Sprintf("cali%d%02x", c, i*13))
		}
	}
	return append(out, "cali4ff")
}

// goldenCase is one rendered output kept in testdata/<name>.golden, for one IP family.
type goldenCase struct {
	version int
	tables  map[string]*desired.Table
}

// goldenCases are the rendered outputs kept in testdata/<name>.golden. The IPv6 ones end in -v6.
func goldenCases(t *testing.T) map[string]goldenCase {
	t.Helper()
	filter := func(chainSets ...map[string][]desired.Rule) map[string]*desired.Table {
		tbl := newTable(TableFilter)
		for _, cs := range chainSets {
			for name, rules := range cs {
				tbl.Chains[name] = rules
			}
		}
		return map[string]*desired.Table{TableFilter: tbl}
	}
	must := chainsOf(t)
	r := New(testConfig(ActionDrop))
	ipipNAT := testConfig(ActionAccept)
	ipipNAT.IPIP, ipipNAT.NATOutgoing = true, true
	vxlan := testConfig(ActionDrop)
	vxlan.VXLANPort = 4789
	v6 := func(cfg Config) Config { cfg.IPVersion = 6; return cfg }
	r6 := New(v6(testConfig(ActionDrop)))
	hepCfg := testConfig(ActionReturn)
	hepCfg.HostEndpoints, hepCfg.AllInterfacesEndpoint = true, true
	return map[string]goldenCase{
		"static-drop":              {4, New(testConfig(ActionDrop)).Static()},
		"static-accept-ipip-nat":   {4, New(ipipNAT).Static()},
		"static-return":            {4, New(testConfig(ActionReturn)).Static()},
		"static-vxlan":             {4, New(vxlan).Static()},
		"host-endpoints":           {4, hostEndpointTables(t, New(hepCfg))},
		"endpoint-two-profiles":    {4, filter(r.Dispatch([]string{"cali1234567890a", "cali0a1b2c3d4e5"}), r.Endpoint(Endpoint{Iface: "cali1234567890a", Profiles: []string{"net1", "net2"}}))},
		"profile-cni-default":      {4, filter(must(r.Profile("net1", cniProfile)))},
		"profile-matches":          {4, filter(must(r.Profile("matches", matchesProfile)))},
		"policy-pass":              {4, filter(must(r.Policy(passPolicy)))},
		"policy-named-ports":       {4, filter(must(r.Policy(namedPortPolicy)))},
		"endpoint-policy-profiles": {4, filter(r.Endpoint(Endpoint{Iface: "cali1234567890a", IngressTiers: defaultTier("team-a/frontend", "a-very-long-global-policy-name"), EgressTiers: defaultTier("team-a/frontend"), Profiles: []string{"net1"}}))},
		"endpoint-tiers":           {4, filter(r.Endpoint(tieredEndpoint))},
		"dispatch-tree":            {4, filter(r.Dispatch(dispatchTreeIfaces()))},
		// IPIP is asked for but ignored: it carries IPv4 only.
		"static-drop-v6":            {6, r6.Static()},
		"static-accept-ipip-nat-v6": {6, New(v6(ipipNAT)).Static()},
		"static-vxlan-v6":           {6, New(v6(vxlan)).Static()}, // VXLAN is IPv4 only here too
		"host-endpoints-v6":         {6, hostEndpointTables(t, New(v6(hepCfg)))},
		"profile-cni-default-v6":    {6, filter(must(r6.Profile("net1", cniProfile)))},
		"profile-matches-v6":        {6, filter(must(r6.Profile("matches", matchesProfile)))},
		"policy-pass-v6":            {6, filter(must(r6.Policy(passPolicy)))},
		"policy-named-ports-v6":     {6, filter(must(r6.Policy(namedPortPolicy)))},
	}
}

func TestRenderingMatchesGoldenFiles(t *testing.T) {
	for name, gc := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			got := save(gc.tables)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading %s (run go test ./felix/rules -update to create it): %v", path, err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the rendering (run with -update and review the diff)\n--- want\n%s\n--- got\n%s", path, want, got)
			}
		})
	}
}

// TestGoldenRulesPassIptablesRestore feeds every rendered table to the real iptables-restore --test (IPv4) and
// ip6tables-restore --test (IPv6) in a fresh network namespace, with the ipsets the rules name created there in
// their family, so the golden files are known to be valid.
func TestGoldenRulesPassIptablesRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs root, unshare, ipset and iptables-restore; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	for _, bin := range []string{"unshare", "ipset", "iptables-restore", "ip6tables-restore"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found", bin)
		}
	}
	for _, fam := range []struct {
		version int
		restore string
	}{{4, "iptables-restore"}, {6, "ip6tables-restore"}} {
		t.Run(fam.restore, func(t *testing.T) {
			// Everything of the family in one set of tables, so that every jump has its target.
			r := New(Config{IPVersion: fam.version})
			merged := map[string]*desired.Table{}
			merge := func(tables map[string]*desired.Table) {
				for name, tbl := range tables {
					m := merged[name]
					if m == nil {
						m = newTable(name)
						merged[name] = m
					}
					for c, rules := range tbl.Chains {
						m.Chains[c] = rules
					}
					for c, rules := range tbl.Hooks {
						m.Hooks[c] = rules
					}
				}
			}
			for _, gc := range goldenCases(t) {
				if gc.version == fam.version {
					merge(gc.tables)
				}
			}
			// The chains the goldens jump to without holding them.
			must := chainsOf(t)
			extra := newTable(TableFilter)
			for _, cs := range []map[string][]desired.Rule{
				r.Dispatch([]string{"cali1234567890a"}),
				r.Endpoint(Endpoint{Iface: "cali1234567890a", Profiles: []string{"net1", "net2"}}),
				must(r.Profile("net2", api.ProfileSpec{})),
				must(r.Policy(Policy{Name: "a-very-long-global-policy-name", Ingress: true})),
				must(r.Policy(Policy{Name: "security.block-meta", Ingress: true, Egress: true})),
				must(r.Policy(Policy{Name: "security.quarantine", Ingress: true})),
				must(r.Policy(Policy{Name: "platform.monitoring", Ingress: true})),
			} {
				for name, rules := range cs {
					if _, ok := merged[TableFilter].Chains[name]; !ok {
						extra.Chains[name] = rules
					}
				}
			}
			for _, ifc := range dispatchTreeIfaces() {
				for name, rules := range r.Endpoint(Endpoint{Iface: ifc}) {
					extra.Chains[name] = rules
				}
			}
			merge(map[string]*desired.Table{TableFilter: extra})
			input := save(merged)
			// A set matched on two dimensions (dst,dst: address and port) is a named-port set.
			sets := map[string]desired.IPSetType{}
			for _, m := range regexp.MustCompile(`--match-set (\S+) (\S+)`).FindAllStringSubmatch(input, -1) {
				sets[m[1]] = desired.HashNet
				if strings.Contains(m[2], ",") {
					sets[m[1]] = desired.HashIPPort
				}
			}
			var script strings.Builder
			script.WriteString("set -e\n")
			for s, typ := range sets {
				if want := map[int]string{4: desired.FamilyInet, 6: desired.FamilyInet6}[fam.version]; desired.IPSetFamily(s) != want {
					t.Errorf("the IPv%d rules use ipset %s, which is of family %s", fam.version, s, desired.IPSetFamily(s))
				}
				fmt.Fprintf(&script, "ipset create '%s' %s family %s\n", s, typ, desired.IPSetFamily(s))
			}
			script.WriteString(fam.restore + " --noflush --test <<'EOF'\n" + input + "EOF\n")
			out, err := exec.Command("unshare", "-n", "sh", "-c", script.String()).CombinedOutput()
			if err != nil {
				t.Fatalf("%s --test rejected the rendered rules: %v\n%s\ninput:\n%s", fam.restore, err, out, input)
			}
		})
	}
}

// chainsOf returns a function that takes a rendering result and gives its chains, failing the test on error.
func chainsOf(t *testing.T) func(Rendered, error) map[string][]desired.Rule {
	return func(out Rendered, err error) map[string][]desired.Rule {
		t.Helper()
		if err != nil {
			t.Fatalf("rendering: %v", err)
		}
		return out.Chains
	}
}

// save renders tables the way iptables-save lays them out (without felix's hash comments): tables, chain
// declarations, hook rules, then every chain's rules in order.
func save(tables map[string]*desired.Table) string {
	var b strings.Builder
	for _, name := range sortedKeys(tables) {
		t := tables[name]
		fmt.Fprintf(&b, "*%s\n", name)
		for _, c := range sortedKeys(t.Chains) {
			fmt.Fprintf(&b, ":%s - [0:0]\n", c)
		}
		for _, c := range sortedKeys(t.Hooks) {
			for _, r := range t.Hooks[c] {
				b.WriteString(ruleLine(c, r))
			}
		}
		for _, c := range sortedKeys(t.Chains) {
			for _, r := range t.Chains[c] {
				b.WriteString(ruleLine(c, r))
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

func ruleLine(chain string, r desired.Rule) string {
	parts := []string{"-A", chain}
	if r.Match != "" {
		parts = append(parts, r.Match)
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("-m comment --comment %q", r.Comment))
	}
	return strings.Join(append(parts, r.Action), " ") + "\n"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
