package manifests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/calico-l3/calico/cni"
	"github.com/calico-l3/calico/datastore/connect"
	felixconfig "github.com/calico-l3/calico/felix/config"
	"github.com/calico-l3/calico/internal/kubetest"
	"github.com/calico-l3/calico/k8s/controllers"
	"github.com/calico-l3/calico/k8s/installcni"
	"github.com/calico-l3/calico/node"
)

const kddFile = "calico-kdd.yaml"

// loadKDD decodes every document of calico-kdd.yaml strictly into a cluster.
func loadKDD(t *testing.T) *cluster { return loadFiles(t, kddFile) }

// kddContainers are the Calico containers of calico-kdd.yaml, by "workload/container".
func kddContainers(t *testing.T, c *cluster) map[string]corev1.Container {
	t.Helper()
	out := map[string]corev1.Container{}
	for n, ds := range c.daemonSets {
		for _, ctr := range append(ds.Spec.Template.Spec.InitContainers, ds.Spec.Template.Spec.Containers...) {
			out["DaemonSet "+n+"/"+ctr.Name] = ctr
		}
	}
	for n, d := range c.deployments {
		for _, ctr := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
			out["Deployment "+n+"/"+ctr.Name] = ctr
		}
	}
	return out
}

func TestKDDEveryDocumentDecodesStrictly(t *testing.T) {
	want := []string{"ConfigMap/calico-config", "ServiceAccount/calico-node", "ClusterRole/calico-node",
		"ClusterRoleBinding/calico-node", "Role/calico-node-bgp-passwords", "RoleBinding/calico-node-bgp-passwords",
		"DaemonSet/calico-node", "ServiceAccount/calico-kube-controllers",
		"ClusterRole/calico-kube-controllers", "ClusterRoleBinding/calico-kube-controllers",
		"Deployment/calico-kube-controllers"}
	var got []string
	for i, d := range documents(t, kddFile) {
		obj, err := decode(d)
		if err != nil {
			t.Errorf("document %d: expected a strict decode, got %v", i+1, err)
			continue
		}
		gvks, _, _ := scheme.Scheme.ObjectKinds(obj)
		m := obj.(metav1.Object)
		got = append(got, gvks[0].Kind+"/"+m.GetName())
		if namespaced := !strings.HasPrefix(gvks[0].Kind, "Cluster"); namespaced && m.GetNamespace() != "kube-system" {
			t.Errorf("%s/%s: expected namespace kube-system, got %q", gvks[0].Kind, m.GetName(), m.GetNamespace())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("expected %s to hold\n%v\ngot\n%v", kddFile, want, got)
	}
}

func TestKDDHasNoEtcd(t *testing.T) {
	c := loadKDD(t)
	// Everything but comments: keys, values, env, volumes, the CNI config.
	for i, d := range documents(t, kddFile) {
		if s := strings.ToLower(string(stripComments(d))); strings.Contains(s, "etcd") {
			t.Errorf("document %d: expected no etcd outside comments, got\n%s", i+1, stripComments(d))
		}
	}
	for k, v := range c.configMaps["calico-config"].Data {
		if strings.Contains(strings.ToLower(k+v), "etcd") {
			t.Errorf("calico-config key %s: expected nothing about etcd, got %q", k, v)
		}
	}
	for what, ctr := range kddContainers(t, c) {
		for name, v := range c.env(t, ctr) {
			if strings.Contains(strings.ToLower(name+"="+v), "etcd") {
				t.Errorf("%s: expected no etcd variable, got %s=%q", what, name, v)
			}
		}
		for _, m := range ctr.VolumeMounts {
			if strings.Contains(strings.ToLower(m.Name+m.MountPath), "etcd") || m.MountPath == "/calico-secrets" {
				t.Errorf("%s: expected no etcd secret mount, got %s at %s", what, m.Name, m.MountPath)
			}
		}
	}
	specs := map[string]corev1.PodSpec{"calico-node": c.daemonSets["calico-node"].Spec.Template.Spec,
		"calico-kube-controllers": c.deployments["calico-kube-controllers"].Spec.Template.Spec}
	for n, s := range specs {
		for _, v := range s.Volumes {
			if v.Secret != nil || strings.Contains(strings.ToLower(v.Name), "etcd") {
				t.Errorf("%s: expected no Secret or etcd volume, got %s %+v", n, v.Name, v.VolumeSource)
			}
		}
	}
	if len(c.secrets) != 0 {
		t.Errorf("expected no Secret in %s, got %v", kddFile, c.secrets)
	}
}

func TestKDDEveryContainerUsesTheKubernetesDatastore(t *testing.T) {
	c := loadKDD(t)
	ctrs := kddContainers(t, c)
	want := []string{"DaemonSet calico-node/calico-node", "DaemonSet calico-node/install-cni",
		"Deployment calico-kube-controllers/calico-kube-controllers"}
	for _, w := range want {
		if _, ok := ctrs[w]; !ok {
			t.Errorf("expected container %s", w)
		}
	}
	wantImage := imageBuilt(t)
	for what, ctr := range ctrs {
		if got := c.env(t, ctr)["DATASTORE_TYPE"]; got != "kubernetes" {
			t.Errorf("%s: expected DATASTORE_TYPE=kubernetes, got %q", what, got)
		}
		if ctr.Image != wantImage {
			t.Errorf("%s: expected image %s (image/build.sh's IMAGE), got %s", what, wantImage, ctr.Image)
		}
	}

	ds := c.daemonSets["calico-node"].Spec.Template.Spec
	nodeCtr := container(t, ds, "calico-node")
	for _, v := range []string{"NODENAME", "CALICO_K8S_NODE_REF"} {
		if got := fieldRef(nodeCtr, v); got != "spec.nodeName" {
			t.Errorf("calico-node: expected %s from spec.nodeName, got %q", v, got)
		}
	}
	env := c.env(t, nodeCtr)
	getenv := func(k string) string { return env[k] }
	if _, err := node.ConfigFromEnv(getenv); err != nil {
		t.Errorf("calico-node -startup: expected the environment accepted, got %v", err)
	}
	if _, err := felixconfig.Load(getenv, nil, nil); err != nil {
		t.Errorf("felix: expected the environment accepted, got %v", err)
	}
	if ds.ServiceAccountName != "calico-node" || !ds.HostNetwork {
		t.Errorf("calico-node: expected service account calico-node on the host network, got %q hostNetwork=%v",
			ds.ServiceAccountName, ds.HostNetwork)
	}

	icni := container(t, ds, "install-cni")
	ienv := c.env(t, icni)
	for name := range ienv {
		if !slices.Contains(installcni.EnvVars, name) {
			t.Errorf("install-cni: expected only variables it reads, got %s", name)
		}
	}
	cfg, err := installcni.FromEnv(func(k string) string { return ienv[k] })
	if err != nil {
		t.Fatalf("install-cni: expected the environment accepted, got %v", err)
	}
	if cfg.DatastoreType != "kubernetes" || cfg.MTU != 0 || cfg.NodeName != "node-1" || !cfg.Sleep {
		t.Errorf("install-cni: expected datastore kubernetes, MTU 0 (felix's MTU file), node node-1, sleep; got %+v", cfg)
	}

	d := c.deployments["calico-kube-controllers"].Spec.Template.Spec
	kc := container(t, d, "calico-kube-controllers")
	if got := c.env(t, kc)["ENABLED_CONTROLLERS"]; got != "node" {
		t.Errorf("calico-kube-controllers: expected ENABLED_CONTROLLERS=node (Calico's KDD default), got %q", got)
	}
	if d.ServiceAccountName != "calico-kube-controllers" {
		t.Errorf("calico-kube-controllers: expected its own service account, got %q", d.ServiceAccountName)
	}
}

// kddCNIEntry renders cni_network_config as install-cni would and returns the calico plugin's entry as the
// runtime hands it to the plugin (with the list's name and cniVersion).
func kddCNIEntry(t *testing.T, c *cluster) []byte {
	t.Helper()
	tmpl := c.configMaps["calico-config"].Data["cni_network_config"]
	for _, p := range installcni.PlaceholdersIn(tmpl) {
		if !slices.Contains(installcni.Placeholders, p) {
			t.Errorf("cni_network_config: expected only placeholders install-cni replaces, got %s", p)
		}
	}
	nc, err := installcni.Render(tmpl, installcni.Values{
		KubeconfigPath: "/etc/cni/net.d/calico-kubeconfig", MTU: 1440, NodeName: "node-1",
		LogLevel: installcni.DefaultLogLevel, DatastoreType: "kubernetes", Token: "t",
	})
	if err != nil {
		t.Fatalf("install-cni: expected cni_network_config rendered, got %v", err)
	}
	var list struct {
		Name       string           `json:"name"`
		CNIVersion string           `json:"cniVersion"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(nc.Bytes, &list); err != nil || !nc.IsList {
		t.Fatalf("expected a conflist, got %v\n%s", err, nc.Bytes)
	}
	shipped := shippedPaths(t)
	for i, p := range list.Plugins {
		ipam, _ := p["ipam"].(map[string]any)
		for _, bin := range []any{p["type"], ipam["type"]} {
			if b, _ := bin.(string); b != "" && !shipped["/opt/cni/bin/"+b] {
				t.Errorf("plugins[%d]: expected a binary the image ships, got %s", i, b)
			}
		}
		if p["type"] == "calico" {
			p["name"], p["cniVersion"] = list.Name, list.CNIVersion
			b, _ := json.Marshal(p)
			return b
		}
	}
	t.Fatalf("expected a calico plugin in %s", nc.Bytes)
	return nil
}

func TestKDDCNINetworkConfig(t *testing.T) {
	c := loadKDD(t)
	var entry map[string]any
	if err := json.Unmarshal(kddCNIEntry(t, c), &entry); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key  string
		want any
	}{
		{"datastore_type", "kubernetes"},
		{"mtu", float64(1440)},
		{"nodename", "node-1"},
		{"kubernetes", map[string]any{"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}},
		{"policy", map[string]any{"type": "k8s"}},
		{"ipam", map[string]any{"type": "calico-ipam"}},
	}
	for _, ck := range checks {
		if got := entry[ck.key]; fmt.Sprint(got) != fmt.Sprint(ck.want) {
			t.Errorf("calico plugin %s: expected %v, got %v", ck.key, ck.want, got)
		}
	}
	for k := range entry {
		if strings.HasPrefix(k, "etcd") {
			t.Errorf("calico plugin: expected no etcd settings, got %s", k)
		}
	}
}

// Every component accepts this manifest's configuration: calico-kube-controllers its environment, the CNI
// plugin the network config install-cni renders (with the kubeconfig install-cni writes).
func TestKDDComponentsAcceptTheirConfiguration(t *testing.T) {
	c := loadKDD(t)
	kcEnv := c.env(t, container(t, c.deployments["calico-kube-controllers"].Spec.Template.Spec, "calico-kube-controllers"))
	if _, err := controllers.EnvFromLookup(func(k string) string { return kcEnv[k] }); err != nil {
		t.Errorf("calico-kube-controllers refuses this manifest's environment: %v", err)
	}
	entry := kddCNIEntry(t, c)
	kubeconfig := filepath.Join(t.TempDir(), "calico-kubeconfig")
	os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	entry = []byte(strings.ReplaceAll(string(entry), "/etc/cni/net.d/calico-kubeconfig", kubeconfig))
	if _, err := cni.ParseConfig(entry, func(string) string { return "" }); err != nil {
		t.Errorf("the CNI plugin refuses the network config: %v", err)
	}
}

// kddGrants are the rules of calico-kdd.yaml, per ClusterRole: "group/resource" → verbs. Nothing else may be
// granted.
var kddGrants = map[string]map[string][]string{
	"calico-node": {
		"/pods":                             {"get", "list", "watch"},
		"/namespaces":                       {"get", "list", "watch"},
		"/serviceaccounts":                  {"get", "list", "watch"},
		"/nodes":                            {"get", "list", "watch", "update"},
		"/pods/status":                      {"patch"},
		"networking.k8s.io/networkpolicies": {"get", "list", "watch"},
		"crd.projectcalico.org/bgpconfigurations":     {"get", "list", "watch"},
		"crd.projectcalico.org/bgpfilters":            {"get", "list", "watch"},
		"crd.projectcalico.org/bgppeers":              {"get", "list", "watch"},
		"crd.projectcalico.org/globalnetworkpolicies": {"get", "list", "watch"},
		"crd.projectcalico.org/globalnetworksets":     {"get", "list", "watch"},
		"crd.projectcalico.org/hostendpoints":         {"get", "list", "watch"},
		"crd.projectcalico.org/networkpolicies":       {"get", "list", "watch"},
		"crd.projectcalico.org/tiers":                 {"get", "list", "watch", "create"},
		"crd.projectcalico.org/ippools":               {"get", "list", "watch", "create"},
		"crd.projectcalico.org/clusterinformations":   {"get", "list", "watch", "create", "update"},
		"crd.projectcalico.org/felixconfigurations":   {"get", "list", "watch", "create", "update"},
		"crd.projectcalico.org/ipamblocks":            {"get", "list", "watch", "create", "update", "delete"},
		"crd.projectcalico.org/blockaffinities":       {"get", "list", "watch", "create", "update", "delete"},
		"crd.projectcalico.org/ipamhandles":           {"get", "list", "watch", "create", "update", "delete"},
		"crd.projectcalico.org/ipamconfigs":           {"get"},
	},
	"calico-kube-controllers": {
		"/nodes":                                {"get", "list", "watch"},
		"/pods":                                 {"get", "list", "watch"},
		"crd.projectcalico.org/bgppeers":        {"get", "list", "delete"},
		"crd.projectcalico.org/ipamblocks":      {"get", "list", "watch", "update", "delete"},
		"crd.projectcalico.org/blockaffinities": {"get", "list", "watch", "update", "delete"},
		"crd.projectcalico.org/ipamhandles":     {"get", "list", "watch", "update", "delete"},
	},
}

func TestKDDRBACIsWhatTheComponentsUse(t *testing.T) {
	c := loadKDD(t)
	for role, granted := range kddGrants {
		t.Run(role, func(t *testing.T) {
			r, ok := c.roles[role]
			if !ok {
				t.Fatalf("expected ClusterRole %s", role)
			}
			for gr, verbs := range granted {
				group, resource, _ := strings.Cut(gr, "/")
				for _, v := range verbs {
					if !allows(r.Rules, group, resource, v) {
						t.Errorf("expected %s to be allowed %s on %s, it is not", role, v, gr)
					}
				}
			}
			for _, rule := range r.Rules {
				if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 {
					t.Errorf("expected plain rules, got %+v", rule)
				}
				for _, g := range rule.APIGroups {
					for _, res := range rule.Resources {
						for _, v := range rule.Verbs {
							if !slices.Contains(granted[g+"/"+res], v) {
								t.Errorf("expected %s granted no %s on %s/%s, it is (more than the components use)", role, v, g, res)
							}
						}
					}
				}
			}
			b, ok := c.bindings[role]
			if !ok || b.RoleRef.Name != role || b.RoleRef.Kind != "ClusterRole" ||
				!slices.Equal(b.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: role, Namespace: "kube-system"}}) {
				t.Errorf("expected ClusterRoleBinding %s binding ServiceAccount kube-system/%s alone, got %+v", role, role, b)
			}
			if _, ok := c.serviceAccounts[role]; !ok {
				t.Errorf("expected ServiceAccount %s", role)
			}
		})
	}
}

// asServiceAccount is a dynamic and a typed client acting with a real token of kube-system/<sa>.
func asServiceAccount(t *testing.T, s *kubetest.Server, sa string) (dynamic.Interface, kubernetes.Interface) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.KubeconfigForToken(t, s.Token(t, "kube-system", sa, time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, kube
}

func crd(plural string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: crdGroup, Version: "v1", Resource: plural}
}

// TestKDDRBACOnAnAPIServer applies crds.yaml and calico-kdd.yaml to a real API server enforcing RBAC and makes
// each component's calls with its service account's real token: what it needs must succeed, the rest must be
// refused as Forbidden.
func TestKDDRBACOnAnAPIServer(t *testing.T) {
	s := kubetest.Start(t, kubetest.Options{})
	if out, err := s.Kubectl(t, "apply", "-f", crdsFile); err != nil {
		t.Fatalf("expected crds.yaml to apply, got %v\n%s", err, out)
	}
	for _, k := range crdKinds {
		if out, err := s.Kubectl(t, "wait", "--for", "condition=established", "--timeout=60s", "crd/"+k.plural+"."+crdGroup); err != nil {
			t.Fatalf("expected %s established, got %v\n%s", k.kind, err, out)
		}
	}
	if out, err := s.Kubectl(t, "apply", "-f", kddFile); err != nil {
		t.Fatalf("expected %s to apply, got %v\n%s", kddFile, err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := dynamic.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	// What the calls below read, update and delete, created as the admin.
	if _, err := s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
		metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}
	if _, err := s.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fixture := func(plural, doc string) {
		t.Helper()
		if _, err := admin.Resource(crd(plural)).Create(ctx, object(t, doc), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating a %s as the admin: %v", plural, err)
		}
	}
	block := func(name, cidr string) string {
		return fmt.Sprintf(`
kind: IPAMBlock
metadata: {name: %s}
spec: {cidr: %s, affinity: "host:node-1", strictAffinity: false, allocations: [null, null], unallocated: [0, 1], attributes: [], sequenceNumber: 0}`, name, cidr)
	}
	affinity := func(name, cidr string) string {
		return fmt.Sprintf(`
kind: BlockAffinity
metadata: {name: %s}
spec: {state: confirmed, node: node-1, cidr: %s, deleted: "false"}`, name, cidr)
	}
	handle := func(name string) string {
		return fmt.Sprintf(`
kind: IPAMHandle
metadata: {name: %s}
spec: {handleID: %s, block: {10.65.0.0/26: 1}, deleted: false}`, name, name)
	}
	fixture("ippools", `
kind: IPPool
metadata: {name: pool-a}
spec: {cidr: 10.65.0.0/16, blockSize: 26, ipipMode: Always, natOutgoing: true}`)
	fixture("ipamconfigs", `
kind: IPAMConfig
metadata: {name: default}
spec: {strictAffinity: false, autoAllocateBlocks: true}`)
	fixture("bgppeers", `
kind: BGPPeer
metadata: {name: node-1-tor}
spec: {node: node-1, peerIP: 10.0.0.1, asNumber: 64512}`)
	fixture("ipamblocks", block("node-upd", "10.65.1.0/26"))
	fixture("ipamhandles", handle("node-del"))
	fixture("ipamblocks", block("kc-upd", "10.65.2.0/26"))
	fixture("ipamblocks", block("kc-del", "10.65.3.0/26"))
	fixture("blockaffinities", affinity("kc-del", "10.65.3.0/26"))
	fixture("ipamhandles", handle("kc-del"))

	// Each call returns the API error; get-then-update reads with the same client, as the components do.
	update := func(dyn dynamic.Interface, plural, name string) error {
		u, err := dyn.Resource(crd(plural)).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		u.SetLabels(map[string]string{"touched": "true"})
		_, err = dyn.Resource(crd(plural)).Update(ctx, u, metav1.UpdateOptions{})
		return err
	}
	create := func(dyn dynamic.Interface, plural, doc string) error {
		_, err := dyn.Resource(crd(plural)).Create(ctx, object(t, doc), metav1.CreateOptions{})
		return err
	}
	list := func(dyn dynamic.Interface, plural string) error {
		_, err := dyn.Resource(crd(plural)).List(ctx, metav1.ListOptions{})
		return err
	}
	watch := func(dyn dynamic.Interface, gvr schema.GroupVersionResource) error {
		// A watch the server ends at once: stopping a long one from the client side takes seconds.
		w, err := dyn.Resource(gvr).Watch(ctx, metav1.ListOptions{TimeoutSeconds: &oneSecond})
		if err == nil {
			w.Stop()
		}
		return err
	}

	type call struct {
		name    string
		allowed bool
		do      func(dynamic.Interface, kubernetes.Interface) error
	}
	cases := map[string][]call{
		"calico-node": {
			{"list ippools", true, func(d dynamic.Interface, _ kubernetes.Interface) error { return list(d, "ippools") }},
			{"watch felixconfigurations", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return watch(d, crd("felixconfigurations"))
			}},
			{"watch every resource felix reads", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				gvrs := []schema.GroupVersionResource{{Version: "v1", Resource: "nodes"},
					{Version: "v1", Resource: "namespaces"}, {Version: "v1", Resource: "serviceaccounts"},
					{Version: "v1", Resource: "pods"}, {Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}}
				for _, p := range []string{"bgpconfigurations", "bgpfilters", "bgppeers", "clusterinformations", "globalnetworkpolicies",
					"globalnetworksets", "hostendpoints", "ippools", "networkpolicies", "tiers", "blockaffinities"} {
					gvrs = append(gvrs, crd(p))
				}
				// All at once: each watch takes a few seconds to end.
				errs := make([]error, len(gvrs))
				var wg sync.WaitGroup
				for i, gvr := range gvrs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = watch(d, gvr)
					}()
				}
				wg.Wait()
				return errors.Join(errs...)
			}},
			{"get and update its node's annotations", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				n, err := k.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
				if err != nil {
					return err
				}
				n.Annotations = map[string]string{"projectcalico.org/IPv4Address": "10.0.0.11/24"}
				_, err = k.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
				return err
			}},
			{"list pods", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"CNI: get the pod, its namespace and service account", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				if _, err := k.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{}); err != nil {
					return err
				}
				if _, err := k.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
					return err
				}
				_, err := k.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
				return err
			}},
			{"CNI: patch the pod's address annotation through pods/status", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Pods("default").Patch(ctx, "web-0", types.StrategicMergePatchType,
					[]byte(`{"metadata":{"annotations":{"cni.projectcalico.org/podIP":"10.65.1.1/32"}}}`), metav1.PatchOptions{}, "status")
				return err
			}},
			{"list Kubernetes networkpolicies", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.NetworkingV1().NetworkPolicies("").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"create the default ippool", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return create(d, "ippools", "kind: IPPool\nmetadata: {name: default-ipv4-ippool}\nspec: {cidr: 192.168.0.0/16, ipipMode: Always}")
			}},
			{"create and update felixconfigurations", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				if err := create(d, "felixconfigurations", "kind: FelixConfiguration\nmetadata: {name: node.node-1}\nspec: {}"); err != nil {
					return err
				}
				return update(d, "felixconfigurations", "node.node-1")
			}},
			{"create and update clusterinformations", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				if err := create(d, "clusterinformations", "kind: ClusterInformation\nmetadata: {name: default}\nspec: {datastoreReady: true}"); err != nil {
					return err
				}
				return update(d, "clusterinformations", "default")
			}},
			{"IPAM: create an ipamblock, a blockaffinity and an ipamhandle", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				if err := create(d, "ipamblocks", block("node-new", "10.65.4.0/26")); err != nil {
					return err
				}
				if err := create(d, "blockaffinities", affinity("node-new", "10.65.4.0/26")); err != nil {
					return err
				}
				return create(d, "ipamhandles", handle("node-new"))
			}},
			{"IPAM: update an ipamblock", true, func(d dynamic.Interface, _ kubernetes.Interface) error { return update(d, "ipamblocks", "node-upd") }},
			{"IPAM: delete an ipamhandle", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return d.Resource(crd("ipamhandles")).Delete(ctx, "node-del", metav1.DeleteOptions{})
			}},
			{"get ipamconfigs", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				_, err := d.Resource(crd("ipamconfigs")).Get(ctx, "default", metav1.GetOptions{})
				return err
			}},

			{"delete a namespace", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				return k.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{})
			}},
			{"create a Calico networkpolicy", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				_, err := d.Resource(crd("networkpolicies")).Namespace("default").Create(ctx, object(t,
					"kind: NetworkPolicy\nmetadata: {name: sneaky, namespace: default}\nspec: {selector: all()}"), metav1.CreateOptions{})
				return err
			}},
			{"create a globalnetworkpolicy", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return create(d, "globalnetworkpolicies", "kind: GlobalNetworkPolicy\nmetadata: {name: sneaky}\nspec: {selector: all()}")
			}},
			{"list secrets", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"update an existing ippool", false, func(d dynamic.Interface, _ kubernetes.Interface) error { return update(d, "ippools", "pool-a") }},
			{"update ipamconfigs", false, func(d dynamic.Interface, _ kubernetes.Interface) error { return update(d, "ipamconfigs", "default") }},
			{"create a pod", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
				return err
			}},
			{"patch a pod's spec", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Pods("default").Patch(ctx, "web-0", types.StrategicMergePatchType,
					[]byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
				return err
			}},
			{"delete a node", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				return k.CoreV1().Nodes().Delete(ctx, "node-1", metav1.DeleteOptions{})
			}},
			{"delete a bgppeer", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return d.Resource(crd("bgppeers")).Delete(ctx, "node-1-tor", metav1.DeleteOptions{})
			}},
		},
		"calico-kube-controllers": {
			{"list and watch nodes", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				if _, err := k.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
					return err
				}
				w, err := k.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{TimeoutSeconds: &oneSecond})
				if err == nil {
					w.Stop()
				}
				return err
			}},
			{"list and watch pods", true, func(_ dynamic.Interface, k kubernetes.Interface) error {
				if _, err := k.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil {
					return err
				}
				w, err := k.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{TimeoutSeconds: &oneSecond})
				if err == nil {
					w.Stop()
				}
				return err
			}},
			{"IPAM: list ipamblocks, blockaffinities, ipamhandles", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				for _, p := range []string{"ipamblocks", "blockaffinities", "ipamhandles"} {
					if err := list(d, p); err != nil {
						return err
					}
				}
				return nil
			}},
			{"IPAM: release into an ipamblock (update)", true, func(d dynamic.Interface, _ kubernetes.Interface) error { return update(d, "ipamblocks", "kc-upd") }},
			{"IPAM: delete an empty block, its affinity and a handle", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				for _, p := range []string{"ipamblocks", "blockaffinities", "ipamhandles"} {
					if err := d.Resource(crd(p)).Delete(ctx, "kc-del", metav1.DeleteOptions{}); err != nil {
						return err
					}
				}
				return nil
			}},
			{"delete a deleted node's bgppeer", true, func(d dynamic.Interface, _ kubernetes.Interface) error {
				if err := list(d, "bgppeers"); err != nil {
					return err
				}
				return d.Resource(crd("bgppeers")).Delete(ctx, "node-1-tor", metav1.DeleteOptions{})
			}},

			{"create a pod", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
				return err
			}},
			{"create an ipamblock", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return create(d, "ipamblocks", block("kc-new", "10.65.5.0/26"))
			}},
			{"update a node", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				n, err := s.Client.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
				if err != nil {
					return err
				}
				_, err = k.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
				return err
			}},
			{"list secrets", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
				return err
			}},
			{"list namespaces", false, func(_ dynamic.Interface, k kubernetes.Interface) error {
				_, err := k.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
				return err
			}},
			{"create an ippool", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return create(d, "ippools", "kind: IPPool\nmetadata: {name: sneaky}\nspec: {cidr: 10.99.0.0/16}")
			}},
			{"create a felixconfiguration", false, func(d dynamic.Interface, _ kubernetes.Interface) error {
				return create(d, "felixconfigurations", "kind: FelixConfiguration\nmetadata: {name: sneaky}\nspec: {}")
			}},
		},
	}
	for _, sa := range []string{"calico-node", "calico-kube-controllers"} {
		t.Run(sa, func(t *testing.T) {
			dyn, kube := asServiceAccount(t, s, sa)
			for _, tc := range cases[sa] {
				t.Run(tc.name, func(t *testing.T) {
					err := tc.do(dyn, kube)
					switch {
					case tc.allowed && err != nil:
						t.Errorf("expected %s allowed to %s, got %v", sa, tc.name, err)
					case !tc.allowed && !apierrors.IsForbidden(err):
						t.Errorf("expected %s refused to %s with Forbidden, got %v", sa, tc.name, err)
					}
				})
			}
			if t.Failed() {
				out, _ := s.Kubectl(t, "auth", "can-i", "--list", "--as=system:serviceaccount:kube-system:"+sa)
				t.Logf("kubectl auth can-i --list as %s:\n%s", sa, out)
			}
		})
	}
}

var oneSecond int64 = 1

// calico-node opens its datastore from the DaemonSet's environment; in a pod KUBECONFIG is empty (its service
// account), here a kubeconfig file stands in for it.
func TestKDDCalicoNodeOpensTheKubernetesDatastore(t *testing.T) {
	c := loadKDD(t)
	env := c.env(t, container(t, c.daemonSets["calico-node"].Spec.Template.Spec, "calico-node"))
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600)
	env["KUBECONFIG"] = kubeconfig
	ds, err := connect.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("calico-node cannot open its datastore from calico-kdd.yaml's environment: %v", err)
	}
	defer ds.Close()
	if ds.Type != connect.Kubernetes {
		t.Errorf("calico-node opened %s, want the Kubernetes datastore", ds.Type)
	}
}
