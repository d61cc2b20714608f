package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/k8s/conversion"
	"github.com/calico-l3/calico/tests/harness"
)

// BenchmarkPolicyEnforcedKubernetesDatastoreVsEtcd measures the one felix figure that depends on the datastore:
// how long a policy change takes from `calicoctl apply -f` to enforcement in felix's dataplane. Felix's own
// dataplane benchmarks never touch the datastore, so this is the figure to set side by side. Two clusters run at
// once in the same run, each of two hosts (startKDDCluster waits for a node-to-node mesh, which needs a peer; the
// etcd cluster gets the same shape), with the pod and the measurement on host1:
//   - etcd: startCluster (calico-node and calicoctl on etcd), one pod wired by the plain CNI plugin (addPod);
//   - Kubernetes datastore: startKDDCluster (DATASTORE_TYPE=kubernetes, the harness's etcd stopped), one Pod
//     wired by the CNI plugin in KDD mode (installCNI with DATASTORE_TYPE=kubernetes, addKubePod); calicoctl runs with DATASTORE_TYPE=kubernetes
//     and the API server's admin kubeconfig.
//
// Each round applies, in each cluster (interleaved: etcd, KDD, etcd, KDD… so that both share the machine's noise),
// a GlobalNetworkPolicy with a new name that selects the pod and denies ICMP ingress, and times it until
// "enforced": the host's `iptables-save -t filter` declares the policy's cali-pi- chain and the pod endpoint's
// cali-tw-<iface> chain jumps to it (felix's own rules.ChainName names both), polled every 5ms. The policy is then
// deleted and its chain seen gone, untimed. One untimed round of each comes first (warm-up).
func BenchmarkPolicyEnforcedKubernetesDatastoreVsEtcd(b *testing.B) {
	needRoot(b)
	for i := 0; i < b.N; i++ {
		kdd, etcd := benchPolicyEnforcedByDatastore(b, 30)
		// With 30 samples the p99 (nearest rank) is the slowest one: pct(…, 100), the max.
		b.ReportMetric(ms(pct(kdd, 50)), "kdd-policy-p50-ms")
		b.ReportMetric(ms(pct(kdd, 100)), "kdd-policy-p99-ms")
		b.ReportMetric(ms(pct(etcd, 50)), "etcd-policy-p50-ms")
		b.ReportMetric(ms(pct(etcd, 100)), "etcd-policy-p99-ms")
	}
}

// policyTarget is one cluster's single host with its pod's endpoint chain, and how to run calicoctl against
// that cluster's datastore.
type policyTarget struct {
	name     string
	host     *harness.Host
	tw       string // the pod endpoint's cali-tw-<iface> chain
	ctl      func(args ...string) (string, error)
	t        testing.TB
	selector string
}

// programmed says whether the host's filter table declares chain, and whether the pod's cali-tw- chain jumps to it.
func (p *policyTarget) programmed(chain string) (declared, jumped bool) {
	out, err := p.host.Run("iptables-save", "-t", "filter")
	if err != nil {
		p.t.Fatalf("%s: iptables-save: %v\n%s", p.name, err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == ":"+chain {
			declared = true
		}
		if len(f) > 2 && f[0] == "-A" && f[1] == p.tw {
			for j := 2; j+1 < len(f); j++ {
				if (f[j] == "-j" || f[j] == "--jump" || f[j] == "-g" || f[j] == "--goto") && f[j+1] == chain {
					jumped = true
				}
			}
		}
	}
	return declared, jumped
}

// await polls every 5ms until chain is enforced or, with enforced false, gone, and returns the time since start.
func (p *policyTarget) await(start time.Time, chain string, enforced bool, what string) time.Duration {
	for {
		declared, jumped := p.programmed(chain)
		if enforced && declared && jumped || !enforced && !declared && !jumped {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			p.t.Fatalf("%s: %s: after 30s chain %s declared=%t, jumped to from %s=%t", p.name, what, chain, declared, p.tw, jumped)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// round applies GlobalNetworkPolicy name (deny ICMP to the pod), times it until enforced, then deletes it and waits,
// untimed, until its chain is gone.
func (p *policyTarget) round(dir, name string) time.Duration {
	t := p.t
	file := filepath.Join(dir, p.name+"-"+name+".yaml")
	gnp := fmt.Sprintf(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: %s}
spec:
  selector: %s
  types: [Ingress]
  ingress:
  - {action: Deny, protocol: ICMP}
  - {action: Allow}
`, name, p.selector)
	if err := os.WriteFile(file, []byte(gnp), 0o644); err != nil {
		t.Fatal(err)
	}
	chain := rules.ChainName(rules.PrefixPolicyIngress, name)
	start := time.Now()
	if out, err := p.ctl("apply", "-f", file); err != nil {
		t.Fatalf("%s: calicoctl apply -f %s: %v\n%s", p.name, file, err, out)
	}
	d := p.await(start, chain, true, "calicoctl apply of GlobalNetworkPolicy "+name)
	if out, err := p.ctl("delete", "-f", file); err != nil {
		t.Fatalf("%s: calicoctl delete -f %s: %v\n%s", p.name, file, err, out)
	}
	p.await(time.Now(), chain, false, "calicoctl delete of GlobalNetworkPolicy "+name)
	return d
}

// hostVethOf is the host-side interface of the route to ip on h (the CNI plugin's /32 route to the pod).
func hostVethOf(t testing.TB, h *harness.Host, ip string) string {
	t.Helper()
	// felix programs the pod's /32 route shortly after the CNI ADD returns.
	var dev string
	waitUntil(t, 30*time.Second, h.Name+" routes pod "+ip, func() (bool, string) {
		out, _ := h.Run("ip", "route", "show", ip)
		f := strings.Fields(out)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "dev" {
				dev = f[i+1]
				return true, ""
			}
		}
		return false, out
	})
	return dev
}

// benchPolicyEnforcedByDatastore starts both clusters, times n interleaved rounds in each and returns the durations.
func benchPolicyEnforcedByDatastore(t testing.TB, n int) (kdd, etcd []time.Duration) {
	start := time.Now()
	// Both pods are in namespace "default": the plain CNI plugin records its endpoints there, and the KDD pod is
	// created there; both carry projectcalico.org/namespace: default.
	selector := fmt.Sprintf(`"%s == 'default'"`, conversion.LabelNamespace)

	// (A) etcd.
	c, nodes := startCluster(t, 2, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	ep := addPod(t, c, nodes[0], "pe")
	etcdHost := nodes[0].h
	A := &policyTarget{name: "etcd", host: etcdHost, t: t, selector: selector,
		tw:  rules.ChainName(rules.PrefixToWorkload, hostVethOf(t, etcdHost, ep.ip)),
		ctl: func(args ...string) (string, error) { return calicoctl(t, c, etcdHost, "", args...) }}
	t.Logf("etcd cluster and pod %s ready after %v", ep.ip, time.Since(start).Round(time.Millisecond))

	// (B) Kubernetes datastore.
	k := startKDDCluster(t, 2, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 10.202.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	kp := addKubePod(t, k.c, k.s, installCNI(t, k.s, k.nodes[0], "DATASTORE_TYPE=kubernetes"), "default", "pk", map[string]string{"app": "pk"})
	kddHost := k.nodes[0].h
	B := &policyTarget{name: "kdd", host: kddHost, t: t, selector: selector,
		tw:  rules.ChainName(rules.PrefixToWorkload, conversion.HostVethName("default", "pk")),
		ctl: func(args ...string) (string, error) { return k.kddctl(t, kddHost, "", args...) }}
	t.Logf("KDD cluster and pod %s ready after %v", kp.ip, time.Since(start).Round(time.Millisecond))

	targets := []*policyTarget{A, B}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range targets {
				out, _ := p.host.Run("iptables-save", "-t", "filter")
				t.Logf("%s %s iptables-save -t filter:\n%s", p.name, p.host.Name, out)
			}
		}
	})
	// Each pod's endpoint chain exists before anything is timed.
	for _, p := range targets {
		waitUntil(t, 30*time.Second, p.name+" pod's "+p.tw+" is programmed", func() (bool, string) {
			out, _ := p.host.Run("iptables-save", "-t", "filter")
			return strings.Contains(out, ":"+p.tw+" "), out
		})
	}

	dir := t.TempDir()
	for _, p := range targets {
		p.round(dir, "warm")
	}
	loop := time.Now()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("deny-icmp-%d", i)
		etcd = append(etcd, A.round(dir, name))
		kdd = append(kdd, B.round(dir, name))
	}
	t.Logf("%d interleaved rounds took %v", n, time.Since(loop).Round(time.Millisecond))
	t.Logf("etcd: calicoctl apply → enforced: %v", etcd)
	t.Logf("KDD: calicoctl apply → enforced: %v", kdd)
	t.Logf("p50s: KDD %v, etcd %v; max: KDD %v, etcd %v", pct(kdd, 50), pct(etcd, 50), pct(kdd, 100), pct(etcd, 100))
	t.Logf("whole run: %v", time.Since(start).Round(time.Millisecond))
	return kdd, etcd
}
