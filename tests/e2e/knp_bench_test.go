package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/felix/rules"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/conversion"
	"github.com/calico-l3/calico/k8s/policy"
)

// BenchmarkKubernetesNetworkPolicyEnforced measures, on one host with an API server and calico-kube-controllers,
// how long a policy takes from the user's command to enforcement on the node, two ways, interleaved (A, B, A, B…)
// so that both share the machine's noise:
//   - kubectl: `kubectl apply -f` of a Kubernetes NetworkPolicy denying all ingress to the server pod, which the
//     controllers translate into Calico NetworkPolicy knp.default.<name> in etcd, which felix programs;
//   - calicoctl (the baseline): `calicoctl apply -f` of the equivalent Calico NetworkPolicy (the controllers' own
//     translation of the same policy, under another name), written straight to etcd, which felix programs.
//
// "Enforced" is: the server host's `iptables-save -t filter` declares the policy's cali-pi- chain and the server
// endpoint's cali-tw-<iface> chain jumps to it; it is polled every 5ms. Each policy is deleted (untimed) and
// its chain seen gone before the next one is applied; every iteration uses a new name. One untimed round of each
// comes first (warm-up), and one real packet per kind checks, untimed, that enforced means blocked.
func BenchmarkKubernetesNetworkPolicyEnforced(b *testing.B) {
	needRoot(b)
	for i := 0; i < b.N; i++ {
		viaKubectl, viaCalicoctl := benchKNPEnforced(b, 50)
		// With fewer than 100 samples the p99 (nearest rank) is the slowest one: pct(…, 100).
		b.ReportMetric(ms(pct(viaKubectl, 50)), "kubectl-p50-ms")
		b.ReportMetric(ms(pct(viaKubectl, 100)), "kubectl-p99-ms")
		b.ReportMetric(ms(pct(viaCalicoctl, 50)), "calicoctl-p50-ms")
		b.ReportMetric(ms(pct(viaCalicoctl, 100)), "calicoctl-p99-ms")
	}
}

const knpBenchNS = "knp-bench"

// benchKNPEnforced times n applies of each kind, interleaved, and returns both lists of durations.
func benchKNPEnforced(t testing.TB, n int) (viaKubectl, viaCalicoctl []time.Duration) {
	start := time.Now()
	c, nodes := startCluster(t, 1, `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 192.168.0.0/16, blockSize: 26, ipipMode: Never, natOutgoing: true}
`)
	s := kubetest.Start(t, kubetest.Options{BindAddress: c.RootIP.String()})
	ctx := context.Background()
	applyCalicoManifest(t, c, s)
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: knpBenchNS}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.EnsureServiceAccount(t, knpBenchNS, "default")
	startKubeControllers(t, c, s)
	h := installCNI(t, s, nodes[0])
	srv := addKubePod(t, c, s, h, knpBenchNS, "srv", map[string]string{"app": "srv"})
	cli := addKubePod(t, c, s, h, knpBenchNS, "cli", map[string]string{"app": "cli"})
	host := nodes[0].h
	tw := rules.ChainName(rules.PrefixToWorkload, conversion.HostVethName(knpBenchNS, "srv"))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := host.Run("iptables-save", "-t", "filter")
			t.Logf("%s iptables-save -t filter:\n%s", host.Name, out)
		}
	})
	expectFlows(t, 60*time.Second, "without policy cli pings srv", []flow{icmpFlow(cli, srv, true)})
	t.Logf("cluster, API server, controllers and pods ready after %v", time.Since(start).Round(time.Millisecond))

	// programmed says whether the host's filter table declares chain, and whether srv's cali-tw- chain jumps to it.
	programmed := func(chain string) (declared, jumped bool) {
		out, err := host.Run("iptables-save", "-t", "filter")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && f[0] == ":"+chain {
				declared = true
			}
			if len(f) > 2 && f[0] == "-A" && f[1] == tw {
				for j := 2; j+1 < len(f); j++ {
					if (f[j] == "-j" || f[j] == "--jump" || f[j] == "-g" || f[j] == "--goto") && f[j+1] == chain {
						jumped = true
					}
				}
			}
		}
		return declared, jumped
	}
	// await polls every 5ms until chain is enforced (declared and jumped to from srv's cali-tw- chain) or, with
	// enforced false, gone (neither), and returns how long that took from start.
	await := func(start time.Time, chain string, enforced bool, what string) time.Duration {
		for {
			declared, jumped := programmed(chain)
			if enforced && declared && jumped || !enforced && !declared && !jumped {
				return time.Since(start)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: after 30s chain %s declared=%t, jumped to from %s=%t", what, chain, declared, tw, jumped)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// srv's endpoint chain exists before anything is timed.
	waitUntil(t, 30*time.Second, "srv's "+tw+" is programmed", func() (bool, string) {
		out, _ := host.Run("iptables-save", "-t", "filter")
		return strings.Contains(out, ":"+tw+" "), out
	})

	// The Kubernetes policy, and the Calico policy the controllers would make of it under another name.
	denyKNP := func(name string) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Namespace: knpBenchNS, Name: name},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "srv"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	}
	dir := t.TempDir()
	write := func(name string, obj any) string {
		y, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, y, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	chainOf := func(calicoName string) string {
		return rules.ChainName(rules.PrefixPolicyIngress, knpBenchNS+"/"+calicoName)
	}
	// kubectl applies Kubernetes policy name, waits until it is enforced, and returns that time and how much of it
	// the command itself took; then, unless keep, deletes it and waits until its chain is gone, untimed.
	kubectl := func(name string, keep bool) (time.Duration, time.Duration) {
		file := write("knp-"+name, denyKNP(name))
		chain := chainOf(policy.NamePrefix + name)
		start := time.Now()
		if out, err := s.Kubectl(t, "apply", "-f", file); err != nil {
			t.Fatalf("kubectl apply -f %s: %v\n%s", file, err, out)
		}
		cmd := time.Since(start)
		d := await(start, chain, true, "kubectl apply of NetworkPolicy "+name)
		if !keep {
			if out, err := s.Kubectl(t, "delete", "-f", file); err != nil {
				t.Fatalf("kubectl delete -f %s: %v\n%s", file, err, out)
			}
			await(time.Now(), chain, false, "kubectl delete of NetworkPolicy "+name)
		}
		return d, cmd
	}
	// calicoctlApply does the same with the equivalent Calico policy name.
	calicoctlApply := func(name string, keep bool) (time.Duration, time.Duration) {
		p, err := policy.Translate(denyKNP(name))
		if err != nil {
			t.Fatal(err)
		}
		p.Name = name
		file := write("cnp-"+name, p)
		chain := chainOf(name)
		start := time.Now()
		if out, err := calicoctl(t, c, host, "", "apply", "-f", file); err != nil {
			t.Fatalf("calicoctl apply -f %s: %v\n%s", file, err, out)
		}
		cmd := time.Since(start)
		d := await(start, chain, true, "calicoctl apply of NetworkPolicy "+name)
		if !keep {
			if out, err := calicoctl(t, c, host, "", "delete", "-f", file); err != nil {
				t.Fatalf("calicoctl delete -f %s: %v\n%s", file, err, out)
			}
			await(time.Now(), chain, false, "calicoctl delete of NetworkPolicy "+name)
		}
		return d, cmd
	}

	// One untimed round of each warms the clients' caches and the controllers' informers.
	kubectl("warm", false)
	calicoctlApply("warm", false)
	loop := time.Now()
	var kubectlCmd, calicoctlCmd []time.Duration
	for i := 0; i < n; i++ {
		d, cmd := kubectl(fmt.Sprintf("deny-%d", i), false)
		viaKubectl, kubectlCmd = append(viaKubectl, d), append(kubectlCmd, cmd)
		d, cmd = calicoctlApply(fmt.Sprintf("deny-%d", i), false)
		viaCalicoctl, calicoctlCmd = append(viaCalicoctl, d), append(calicoctlCmd, cmd)
	}
	t.Logf("%d interleaved rounds took %v", n, time.Since(loop).Round(time.Millisecond))
	t.Logf("kubectl → enforced: %v", viaKubectl)
	t.Logf("calicoctl → enforced: %v", viaCalicoctl)
	t.Logf("p50s: kubectl apply → enforced %v, of which the command %v; calicoctl apply → enforced %v, of which the command %v",
		pct(viaKubectl, 50), pct(kubectlCmd, 50), pct(viaCalicoctl, 50), pct(calicoctlCmd, 50))

	// Enforced means blocked: the first packet after each kind of policy is seen enforced is dropped, and packets get
	// through again once it is gone.
	for _, kind := range []struct {
		name   string
		apply  func(string, bool) (time.Duration, time.Duration)
		delete func(file string) (string, error)
		file   string
	}{
		{"kubectl", kubectl, func(f string) (string, error) { return s.Kubectl(t, "delete", "-f", f) }, "knp-probe-kubectl.yaml"},
		{"calicoctl", calicoctlApply, func(f string) (string, error) { return calicoctl(t, c, host, "", "delete", "-f", f) }, "cnp-probe-calicoctl.yaml"},
	} {
		kind.apply("probe-"+kind.name, true)
		if cli.canPing(srv.ip) {
			t.Errorf("%s: srv's ingress policy is enforced in iptables, yet cli still pings srv", kind.name)
		}
		if out, err := kind.delete(filepath.Join(dir, kind.file)); err != nil {
			t.Fatalf("%s delete -f %s: %v\n%s", kind.name, kind.file, err, out)
		}
		expectFlows(t, 15*time.Second, kind.name+" policy deleted: cli pings srv again", []flow{icmpFlow(cli, srv, true)})
	}
	t.Logf("whole run: %v", time.Since(start).Round(time.Millisecond))
	return viaKubectl, viaCalicoctl
}
