package calc

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// benchCluster is 1000 endpoints on this host and 10000 on 100 others, all in the CNI profile net1 (whose ingress
// rule needs the cluster-wide has(net1) ipset), with an IPIP pool, a block per 64 endpoints and two policies.
func benchCluster(b *testing.B) *Calculator {
	c := New(host, DefaultConfig())
	var evs []datastore.Event
	evs = append(evs, added(cniProfile("net1")), added(ipPool("p", "10.0.0.0/8", api.EncapAlways, true)),
		added(gnp("allow-web", ptr(10.0), "app == 'web'", api.PolicyTypeIngress)),
		added(np("default", "db", ptr(20.0), "app == 'db'", api.Rule{Action: api.ActionAllow,
			Source: api.EntityRule{Selector: "app == 'web'"}})))
	addr := netip.MustParseAddr("10.0.0.0")
	for n := 0; n <= 100; n++ {
		name := host
		count := 1000
		if n > 0 {
			name, count = fmt.Sprintf("node%d", n+1), 100
		}
		evs = append(evs, added(calicoNode(name, fmt.Sprintf("192.168.%d.%d/16", n/200, n%200+1), "")))
		for i := 0; i < count; i++ {
			if i%64 == 0 {
				evs = append(evs, affinityEvent(datastore.Added, name, netip.PrefixFrom(addr, 26).String(), ""))
			}
			app := []string{"web", "db"}[i%2]
			evs = append(evs, added(withLabels(wep(name, fmt.Sprintf("%s-ep%d", name, i), fmt.Sprintf("cali%s%d", name, i),
				addr.String()+"/32", "net1"), "app", app)))
			addr = addr.Next()
			if i%64 == 63 || i == count-1 {
				// the next endpoint starts a new block
				for addr.As4()[3]%64 != 0 {
					addr = addr.Next()
				}
			}
		}
	}
	feed(c, evs...)
	return c
}

func BenchmarkStateWith1000LocalAnd10000RemoteEndpoints(b *testing.B) {
	c := benchCluster(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.State()
	}
	b.StopTimer()
	st := c.State()
	b.ReportMetric(float64(len(st.Tables["filter"].Chains)), "chains")
	b.ReportMetric(float64(len(st.Routes)), "routes")
	b.ReportMetric(float64(len(st.IPSets[setName("has(net1)")].Members)), "net1-members")
}

// BenchmarkOneEndpointThenState is the cost of one more local endpoint on a busy host: the event and a State.
func BenchmarkOneEndpointThenState(b *testing.B) {
	c := benchCluster(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ep := wep(host, fmt.Sprintf("extra%d", i), fmt.Sprintf("caliextra%d", i), "10.255.0.1/32", "net1")
		c.OnEvent(res, added(ep))
		c.State()
		c.OnEvent(res, deleted(ep))
	}
}

// BenchmarkLocalEndpointChurnState is the calculation's part of BenchmarkEndpointChurn (package felix) without the
// kernel: a host of 10,000 local endpoints in the CNI profile, selected by 5 policies, gains or loses one endpoint
// and computes its State. One op is one change.
func BenchmarkLocalEndpointChurnState(b *testing.B) {
	const n = 10000
	c := New(host, DefaultConfig())
	evs := []datastore.Event{added(cniProfile("net1")), added(ipPool("p", "10.0.0.0/8", api.EncapAlways, true))}
	for j := range 5 {
		evs = append(evs, added(gnp(fmt.Sprintf("all-%d", j), ptr(float64(j)), "all()", api.PolicyTypeIngress, api.PolicyTypeEgress)))
	}
	ep := func(i int) *api.WorkloadEndpoint {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		return withLabels(wep(host, fmt.Sprintf("ep%d", i), fmt.Sprintf("cali%011x", i*2654435761%(1<<44)), a.String()+"/32", "net1"),
			"app", fmt.Sprintf("app%d", i%50))
	}
	for i := range n {
		evs = append(evs, added(ep(i)))
	}
	feed(c, evs...)
	c.State()
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			c.OnEvent(res, added(ep(n+i)))
		} else {
			c.OnEvent(res, deleted(ep(n+i-1)))
		}
		c.State()
	}
}

// BenchmarkPolicyAddManyPoliciesPerEndpoint is a policy write on a node whose endpoints each have many policies,
// as BenchmarkClusterSimulation's nodes do: 1,000 local endpoints in 20 apps and 3 tiers, 1,000 policies selecting
// by app (50 apply to every endpoint), and a policy selecting one tier added (even iterations) or deleted (odd)
// before each State, so that a third of the endpoints' chains change each time.
func BenchmarkPolicyAddManyPoliciesPerEndpoint(b *testing.B) {
	const endpoints, policies = 1000, 1000
	c := New(host, DefaultConfig())
	evs := []datastore.Event{added(cniProfile("net1")), added(ipPool("p", "10.0.0.0/8", api.EncapAlways, true))}
	for p := range policies {
		evs = append(evs, added(gnp(fmt.Sprintf("app-policy-%d", p), ptr(float64(100+p)),
			fmt.Sprintf("app == 'app-%d'", p%20), api.PolicyTypeIngress, api.PolicyTypeEgress)))
	}
	for i := range endpoints {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		evs = append(evs, added(withLabels(wep(host, fmt.Sprintf("ep%d", i), fmt.Sprintf("cali%011x", i), a.String()+"/32", "net1"),
			"app", fmt.Sprintf("app-%d", i%20), "tier", []string{"frontend", "backend", "db"}[i%3])))
	}
	feed(c, evs...)
	c.State()
	probe := gnp("probe", ptr(50.0), "tier == 'backend'", api.PolicyTypeIngress)
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			c.OnEvent(res, added(probe))
		} else {
			c.OnEvent(res, deleted(probe))
		}
		c.State()
	}
}
