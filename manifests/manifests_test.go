package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/calico-l3/calico/cni"
	"github.com/calico-l3/calico/datastore"
	felixconfig "github.com/calico-l3/calico/felix/config"
	"github.com/calico-l3/calico/k8s/controllers"
	"github.com/calico-l3/calico/k8s/installcni"
	"github.com/calico-l3/calico/node"
)

var files = []string{"calico.yaml"}

// strict decodes like an API server with fieldValidation=Strict: an unknown or duplicated field is an error.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kjson.SerializerOptions{Yaml: true, Strict: true})

// documents splits a manifest file into its YAML documents, skipping ones that hold only comments.
func documents(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
}

func stripComments(d []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(d, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}

func decode(doc []byte) (runtime.Object, error) {
	obj, _, err := strict.Decode(doc, nil, nil)
	return obj, err
}

// cluster is every object of both files.
type cluster struct {
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           map[string]*rbacv1.ClusterRole
	bindings        map[string]*rbacv1.ClusterRoleBinding
	nsRoles         map[string]*rbacv1.Role
	nsBindings      map[string]*rbacv1.RoleBinding
	daemonSets      map[string]*appsv1.DaemonSet
	deployments     map[string]*appsv1.Deployment
}

func load(t *testing.T) *cluster { return loadFiles(t, files...) }

// loadFiles decodes every document of the files strictly into one cluster.
func loadFiles(t *testing.T, names ...string) *cluster {
	t.Helper()
	c := &cluster{
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, roles: map[string]*rbacv1.ClusterRole{},
		bindings: map[string]*rbacv1.ClusterRoleBinding{}, daemonSets: map[string]*appsv1.DaemonSet{},
		deployments: map[string]*appsv1.Deployment{}, nsRoles: map[string]*rbacv1.Role{},
		nsBindings: map[string]*rbacv1.RoleBinding{},
	}
	for _, f := range names {
		for i, d := range documents(t, f) {
			obj, err := decode(d)
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				c.configMaps[o.Name] = o
			case *corev1.Secret:
				c.secrets[o.Name] = o
			case *corev1.ServiceAccount:
				c.serviceAccounts[o.Name] = o
			case *rbacv1.ClusterRole:
				c.roles[o.Name] = o
			case *rbacv1.ClusterRoleBinding:
				c.bindings[o.Name] = o
			case *rbacv1.Role:
				c.nsRoles[o.Name] = o
			case *rbacv1.RoleBinding:
				c.nsBindings[o.Name] = o
			case *appsv1.DaemonSet:
				c.daemonSets[o.Name] = o
			case *appsv1.Deployment:
				c.deployments[o.Name] = o
			default:
				t.Fatalf("%s document %d: unexpected %T", f, i+1, obj)
			}
		}
	}
	return c
}

func TestEveryDocumentDecodesStrictly(t *testing.T) {
	want := map[string][]string{
		"calico.yaml": {"ConfigMap/calico-config", "Secret/calico-etcd-secrets", "ServiceAccount/calico-node",
			"ClusterRole/calico-node", "ClusterRoleBinding/calico-node", "Role/calico-node-bgp-passwords",
			"RoleBinding/calico-node-bgp-passwords", "DaemonSet/calico-node",
			"ServiceAccount/calico-kube-controllers", "ClusterRole/calico-kube-controllers",
			"ClusterRoleBinding/calico-kube-controllers", "Deployment/calico-kube-controllers"},
	}
	for _, f := range files {
		var got []string
		for i, d := range documents(t, f) {
			obj, err := decode(d)
			if err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			gvks, _, _ := scheme.Scheme.ObjectKinds(obj)
			m := obj.(interface {
				GetName() string
				GetNamespace() string
			})
			got = append(got, gvks[0].Kind+"/"+m.GetName())
			namespaced := !strings.HasPrefix(gvks[0].Kind, "Cluster")
			if namespaced && m.GetNamespace() != "kube-system" {
				t.Errorf("%s %s/%s: namespace %q, want kube-system", f, gvks[0].Kind, m.GetName(), m.GetNamespace())
			}
		}
		if !slices.Equal(got, want[f]) {
			t.Errorf("%s holds %v, want %v", f, got, want[f])
		}
	}
}

// The checks above mean something only if the decoder does reject what an API server rejects.
func TestTheStrictDecoderRejectsUnknownFields(t *testing.T) {
	for _, d := range documents(t, "calico.yaml") {
		if !bytes.Contains(d, []byte("kind: DaemonSet")) {
			continue
		}
		bad := bytes.Replace(d, []byte("hostNetwork: true"), []byte("hostNetwrok: true"), 1)
		if _, err := decode(bad); err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.hostNetwrok"`) {
			t.Errorf("a misspelt field must be refused, got %v", err)
		}
		return
	}
	t.Fatal("no DaemonSet in calico.yaml")
}

// imageBuilt is the default IMAGE of image/build.sh.
func imageBuilt(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../image/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE="\$\{IMAGE:-([^}]+)\}"`).FindSubmatch(b)
	if m == nil {
		t.Fatal(`image/build.sh has no IMAGE="${IMAGE:-…}" line`)
	}
	return string(m[1])
}

// shippedPaths are the files image/Dockerfile puts in the image: COPY destinations and ln -s link names.
func shippedPaths(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../image/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "COPY" {
			dest := f[len(f)-1]
			for _, src := range f[1 : len(f)-1] {
				if strings.HasSuffix(dest, "/") {
					out[dest+path.Base(src)] = true
				} else {
					out[dest] = true
				}
			}
		}
	}
	for _, m := range regexp.MustCompile(`ln -sf? \S+ (/\S+)`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out
}

// env resolves a container's environment as the kubelet would, with the pod on node "node-1".
func (c *cluster) env(t *testing.T, ctr corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = e.Value
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r := e.ValueFrom.ConfigMapKeyRef
			cm, ok := c.configMaps[r.Name]
			if !ok {
				t.Errorf("container %s: %s refers to ConfigMap %s, which no manifest creates", ctr.Name, e.Name, r.Name)
				continue
			}
			v, ok := cm.Data[r.Key]
			if !ok {
				t.Errorf("container %s: %s refers to key %s, which ConfigMap %s lacks", ctr.Name, e.Name, r.Key, r.Name)
			}
			out[e.Name] = v
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName":
			out[e.Name] = "node-1"
		default:
			t.Errorf("container %s: %s has a source this test does not resolve", ctr.Name, e.Name)
		}
	}
	return out
}

func fieldRef(ctr corev1.Container, name string) string {
	for _, e := range ctr.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// mounts maps each mount path of a container to its volume.
func mounts(t *testing.T, spec corev1.PodSpec, ctr corev1.Container) map[string]corev1.Volume {
	t.Helper()
	out := map[string]corev1.Volume{}
	for _, m := range ctr.VolumeMounts {
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		if i < 0 {
			t.Errorf("container %s mounts %s from volume %s, which the pod lacks", ctr.Name, m.MountPath, m.Name)
			continue
		}
		out[m.MountPath] = spec.Volumes[i]
	}
	return out
}

func TestImagesAreTheOneBuilt(t *testing.T) {
	c, want := load(t), imageBuilt(t)
	specs := map[string]corev1.PodSpec{}
	for n, ds := range c.daemonSets {
		specs["DaemonSet "+n] = ds.Spec.Template.Spec
	}
	for n, d := range c.deployments {
		specs["Deployment "+n] = d.Spec.Template.Spec
	}
	for what, s := range specs {
		for _, ctr := range append(s.InitContainers, s.Containers...) {
			if ctr.Image != want {
				t.Errorf("%s container %s: image %s, want %s (image/build.sh's IMAGE)", what, ctr.Name, ctr.Image, want)
			}
		}
	}
}

func TestCalicoNodeContainer(t *testing.T) {
	c := load(t)
	ds := c.daemonSets["calico-node"]
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Error("calico-node must use the host's network: it programs the host's routes and runs BGP")
	}
	if spec.PriorityClassName != "system-node-critical" || spec.ServiceAccountName != "calico-node" {
		t.Errorf("priorityClassName %q serviceAccountName %q", spec.PriorityClassName, spec.ServiceAccountName)
	}
	for _, effect := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
		if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
			return tl.Key == "" && tl.Operator == corev1.TolerationOpExists && tl.Effect == effect
		}) {
			t.Errorf("calico-node must tolerate every %s taint", effect)
		}
	}
	if u := ds.Spec.UpdateStrategy; u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("update strategy %+v, want RollingUpdate with maxUnavailable 1", u)
	}

	ctr := container(t, spec, "calico-node")
	if ctr.SecurityContext == nil || ctr.SecurityContext.Privileged == nil || !*ctr.SecurityContext.Privileged {
		t.Error("the calico-node container must be privileged")
	}
	if got := fieldRef(ctr, "NODENAME"); got != "spec.nodeName" {
		t.Errorf("NODENAME comes from %q, want spec.nodeName (the CNI plugin names the node the same way)", got)
	}
	env := c.env(t, ctr)
	getenv := func(k string) string { return env[k] }
	if _, err := node.ConfigFromEnv(getenv); err != nil {
		t.Errorf("calico-node -startup refuses the environment: %v", err)
	}
	fc, err := felixconfig.Load(getenv, nil, nil)
	if err != nil {
		t.Fatalf("felix refuses the environment: %v", err)
	}
	if !fc.HealthEnabled || fc.IPv6Support || fc.DefaultEndpointToHostAction != "Accept" || fc.IPIPMTU != 0 {
		t.Errorf("felix: health %v, IPv6 %v, endpoint-to-host %s, IPIP MTU %d (want 0: felix sizes tunl0 from the host interface)", fc.HealthEnabled, fc.IPv6Support, fc.DefaultEndpointToHostAction, fc.IPIPMTU)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", ctr.LivenessProbe, "/liveness"}, {"readiness", ctr.ReadinessProbe, "/readiness"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.IntValue() != fc.HealthPort {
			t.Errorf("%s probe %+v, want GET %s on felix's health port %d", p.name, p.probe, p.path, fc.HealthPort)
		}
	}

	env["ETCD_ENDPOINTS"] = "http://10.0.0.1:2379" // what the operator fills in
	if _, err := datastore.ConfigFromLookup(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the datastore refuses the environment once etcd_endpoints is set: %v", err)
	}

	m := mounts(t, spec, ctr)
	for p, host := range map[string]string{
		"/lib/modules": "/lib/modules", "/run/xtables.lock": "/run/xtables.lock", "/var/run/calico": "/var/run/calico",
		"/var/lib/calico": "/var/lib/calico", "/var/log/calico": "/var/log/calico",
	} {
		if v, ok := m[p]; !ok || v.HostPath == nil || v.HostPath.Path != host {
			t.Errorf("calico-node must mount the host's %s at %s, got %+v", host, p, v)
		}
	}
	if v := m["/calico-secrets"]; v.Secret == nil || v.Secret.SecretName != "calico-etcd-secrets" {
		t.Errorf("/calico-secrets must be the calico-etcd-secrets Secret, got %+v", v)
	}
}

func TestInstallCNIContainer(t *testing.T) {
	c := load(t)
	spec := c.daemonSets["calico-node"].Spec.Template.Spec
	ctr := container(t, spec, "install-cni")
	if want := []string{"/bin/calico-node", "-install-cni"}; !slices.Equal(ctr.Command, want) {
		t.Errorf("command %q, want %q", ctr.Command, want)
	}
	if shipped := shippedPaths(t); !shipped[ctr.Command[0]] {
		t.Errorf("the image has no %s (image/Dockerfile ships %v)", ctr.Command[0], shipped)
	}
	env := c.env(t, ctr)
	for name := range env {
		if !slices.Contains(installcni.EnvVars, name) {
			t.Errorf("install-cni does not read %s", name)
		}
	}
	if got := fieldRef(ctr, "KUBERNETES_NODE_NAME"); got != "spec.nodeName" {
		t.Errorf("KUBERNETES_NODE_NAME comes from %q, want spec.nodeName", got)
	}
	cfg, err := installcni.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("install-cni refuses the environment: %v", err)
	}
	if !cfg.Sleep || cfg.ConfName != "10-calico.conflist" || cfg.MTU != 0 || cfg.NodeName != "node-1" {
		t.Errorf("install-cni would run with %+v", cfg)
	}
	m := mounts(t, spec, ctr)
	for mount, host := range map[string]string{cfg.BinDirMount: "/opt/cni/bin", cfg.NetDirMount: cfg.HostNetDir} {
		if v, ok := m[mount]; !ok || v.HostPath == nil || v.HostPath.Path != host {
			t.Errorf("install-cni writes %s, which must be the host's %s; got %+v", mount, host, v)
		}
	}
	if v := m[cfg.TLSAssetsDir]; v.Secret == nil || v.Secret.SecretName != "calico-etcd-secrets" {
		t.Errorf("install-cni reads etcd TLS files from %s, which must be the calico-etcd-secrets Secret; got %+v", cfg.TLSAssetsDir, v)
	}
}

// TestInstallCNIModeExists runs the manifest's command (with the binary built from this tree) and sees
// install-cni, not the flag parser, answer.
func TestInstallCNIModeExists(t *testing.T) {
	if testing.Short() {
		t.Skip("builds calico-node")
	}
	c := load(t)
	ctr := container(t, c.daemonSets["calico-node"].Spec.Template.Spec, "install-cni")
	bin := filepath.Join(t.TempDir(), "calico-node")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/calico-node").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, ctr.Command[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "install-cni: CNI_NETWORK_CONFIG is not set") {
		t.Errorf("%s %v with no environment: %v\n%s\nwant exit 1 from install-cni asking for CNI_NETWORK_CONFIG", bin, ctr.Command[1:], err, out)
	}
}

func TestCNINetworkConfig(t *testing.T) {
	c := load(t)
	cm := c.configMaps["calico-config"]
	tmpl := cm.Data["cni_network_config"]

	used := installcni.PlaceholdersIn(tmpl)
	for _, p := range used {
		if !slices.Contains(installcni.Placeholders, p) {
			t.Errorf("cni_network_config uses %s, which install-cni does not replace", p)
		}
	}
	for _, p := range []string{"__ETCD_ENDPOINTS__", "__ETCD_KEY_FILE__", "__ETCD_CERT_FILE__", "__ETCD_CA_CERT_FILE__",
		"__CNI_MTU__", "__KUBERNETES_NODE_NAME__", "__KUBECONFIG_FILEPATH__", "__LOG_LEVEL__"} {
		if !slices.Contains(used, p) {
			t.Errorf("cni_network_config does not use %s", p)
		}
	}

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "calico-kubeconfig")
	tls := map[string]string{}
	for _, n := range []string{"etcd-key", "etcd-cert", "etcd-ca"} {
		tls[n] = filepath.Join(dir, n)
	}
	for _, p := range append([]string{kubeconfig}, tls["etcd-key"], tls["etcd-cert"], tls["etcd-ca"]) {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := installcni.Values{
		KubeconfigPath: kubeconfig, EtcdEndpoints: "http://10.0.0.1:2379", MTU: 1440, NodeName: "node-1",
		LogLevel: installcni.DefaultLogLevel, DatastoreType: installcni.DefaultDatastoreType, Token: "t",
	}
	withTLS := base
	withTLS.EtcdKeyFile, withTLS.EtcdCertFile, withTLS.EtcdCACertFile = tls["etcd-key"], tls["etcd-cert"], tls["etcd-ca"]
	shipped := shippedPaths(t)

	for _, tc := range []struct {
		name string
		v    installcni.Values
	}{{"without etcd TLS", base}, {"with etcd TLS", withTLS}} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := installcni.Render(tmpl, tc.v)
			if err != nil {
				t.Fatalf("install-cni refuses cni_network_config: %v", err)
			}
			var list struct {
				Name       string            `json:"name"`
				CNIVersion string            `json:"cniVersion"`
				Plugins    []json.RawMessage `json:"plugins"`
			}
			if err := json.Unmarshal(nc.Bytes, &list); err != nil || !nc.IsList {
				t.Fatalf("not a list: %v", err)
			}
			calico := -1
			for i, raw := range list.Plugins {
				var p struct {
					Type string `json:"type"`
					IPAM struct {
						Type string `json:"type"`
					} `json:"ipam"`
				}
				if err := json.Unmarshal(raw, &p); err != nil {
					t.Fatal(err)
				}
				for _, bin := range []string{p.Type, p.IPAM.Type} {
					if bin != "" && !shipped["/opt/cni/bin/"+bin] {
						t.Errorf("plugins[%d] needs the %s binary, which the image does not ship: every pod on a host without it fails", i, bin)
					}
				}
				if p.Type == "calico" {
					calico = i
				}
			}
			if calico < 0 {
				t.Fatal("no calico plugin in the list")
			}
			// The runtime hands each plugin its entry with the list's name and cniVersion added.
			var entry map[string]any
			if err := json.Unmarshal(list.Plugins[calico], &entry); err != nil {
				t.Fatal(err)
			}
			entry["name"], entry["cniVersion"] = list.Name, list.CNIVersion
			stdin, _ := json.Marshal(entry)
			conf, err := cni.ParseConfig(stdin, func(string) string { return "" })
			if err != nil {
				t.Fatalf("the calico plugin refuses its entry: %v\n%s", err, stdin)
			}
			if conf.MTU != 1440 || conf.Nodename != "node-1" || conf.EtcdKeyFile != tc.v.EtcdKeyFile || conf.LogFilePath != "/var/log/calico/cni/cni.log" ||
				conf.IPAMLockFile != "/var/run/calico/ipam.lock" {
				t.Errorf("the plugin would run with %+v", conf)
			}
			// Read from the JSON rather than cni.NetConf so this holds whichever way the plugin names the fields.
			var k8s struct {
				Policy     struct{ Type string }       `json:"policy"`
				Kubernetes struct{ Kubeconfig string } `json:"kubernetes"`
			}
			if err := json.Unmarshal(stdin, &k8s); err != nil || k8s.Policy.Type != "k8s" || k8s.Kubernetes.Kubeconfig != kubeconfig {
				t.Errorf("policy/kubernetes sections: %+v (%v)", k8s, err)
			}
		})
	}
}

func TestSecretAndVolumes(t *testing.T) {
	c := load(t)
	s := c.secrets["calico-etcd-secrets"]
	var keys []string
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"etcd-ca", "etcd-cert", "etcd-key"}; !slices.Equal(keys, want) {
		t.Errorf("calico-etcd-secrets has %v, want %v", keys, want)
	}
	specs := []corev1.PodSpec{c.daemonSets["calico-node"].Spec.Template.Spec, c.deployments["calico-kube-controllers"].Spec.Template.Spec}
	for _, spec := range specs {
		for _, v := range spec.Volumes {
			if v.Secret == nil {
				continue
			}
			if _, ok := c.secrets[v.Secret.SecretName]; !ok {
				t.Errorf("volume %s uses Secret %s, which no manifest creates", v.Name, v.Secret.SecretName)
			}
			if m := v.Secret.DefaultMode; m == nil || *m != 0o400 {
				got := "unset"
				if m != nil {
					got = fmt.Sprintf("%#o", *m)
				}
				t.Errorf("volume %s: defaultMode %s, want 0400 (the etcd key is a secret)", v.Name, got)
			}
		}
		for _, ctr := range spec.Containers {
			mounts(t, spec, ctr)
			c.env(t, ctr)
		}
	}
}

// allows says whether rules grant verb on resource of group.
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func TestRBACIsWhatTheComponentsUse(t *testing.T) {
	c := load(t)
	cases := []struct {
		role    string
		sa      string
		granted map[string][]string // "group/resource" → verbs; nothing else may be granted
	}{
		{"calico-node", "calico-node", map[string][]string{
			"/pods": {"get"}, "/pods/status": {"patch"}, "/namespaces": {"get"}, "/serviceaccounts": {"get"}, "/nodes": {"get"},
		}},
		{"calico-kube-controllers", "calico-kube-controllers", map[string][]string{
			"/pods": {"get", "list", "watch"}, "/namespaces": {"get", "list", "watch"},
			"/serviceaccounts": {"get", "list", "watch"}, "/nodes": {"get", "list", "watch"},
			"networking.k8s.io/networkpolicies": {"get", "list", "watch"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			role, ok := c.roles[tc.role]
			if !ok {
				t.Fatalf("no ClusterRole %s", tc.role)
			}
			for gr, verbs := range tc.granted {
				group, resource, _ := strings.Cut(gr, "/")
				for _, v := range verbs {
					if !allows(role.Rules, group, resource, v) {
						t.Errorf("%s cannot %s %s", tc.role, v, gr)
					}
				}
			}
			for _, r := range role.Rules {
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						for _, v := range r.Verbs {
							if !slices.Contains(tc.granted[g+"/"+res], v) {
								t.Errorf("%s grants %s on %s/%s, more than the components use", tc.role, v, g, res)
							}
						}
					}
				}
			}
			b, ok := c.bindings[tc.role]
			if !ok || b.RoleRef.Name != tc.role || b.RoleRef.Kind != "ClusterRole" ||
				!slices.Contains(b.Subjects, rbacv1.Subject{Kind: "ServiceAccount", Name: tc.sa, Namespace: "kube-system"}) {
				t.Errorf("ClusterRoleBinding %s: %+v", tc.role, b)
			}
			if _, ok := c.serviceAccounts[tc.sa]; !ok {
				t.Errorf("no ServiceAccount %s", tc.sa)
			}
		})
	}
	if got := c.deployments["calico-kube-controllers"].Spec.Template.Spec.ServiceAccountName; got != "calico-kube-controllers" {
		t.Errorf("calico-kube-controllers runs as %q", got)
	}
}

func TestKubeControllersDeployment(t *testing.T) {
	c := load(t)
	d := c.deployments["calico-kube-controllers"]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	ctr := container(t, d.Spec.Template.Spec, "calico-kube-controllers")
	if want := []string{"/bin/calico-kube-controllers"}; !slices.Equal(ctr.Command, want) {
		t.Errorf("command %q, want %q", ctr.Command, want)
	}
	if shipped := shippedPaths(t); !shipped[ctr.Command[0]] {
		t.Errorf("the image has no %s (image/Dockerfile ships %v)", ctr.Command[0], shipped)
	}
	env := c.env(t, ctr)
	if got := env["ENABLED_CONTROLLERS"]; got != "policy,namespace,serviceaccount,workloadendpoint,node" {
		t.Errorf("ENABLED_CONTROLLERS=%q", got)
	}
	env["ETCD_ENDPOINTS"] = "http://10.0.0.1:2379"
	if _, err := datastore.ConfigFromLookup(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the datastore refuses the environment once etcd_endpoints is set: %v", err)
	}
	if _, err := controllers.EnvFromLookup(func(k string) string { return env[k] }); err != nil {
		t.Errorf("calico-kube-controllers refuses its environment: %v", err)
	}
	for name, probe := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
		flag := map[string]string{"readiness": "-r", "liveness": "-l"}[name]
		if want := []string{"/bin/calico-kube-controllers", "-check-status", flag}; probe == nil || probe.Exec == nil || !slices.Equal(probe.Exec.Command, want) {
			t.Errorf("%s probe %+v, want exec %q", name, probe, want)
		}
	}
}

func TestCalicoNodeRecordsItsKubernetesNode(t *testing.T) {
	c := load(t)
	ctr := container(t, c.daemonSets["calico-node"].Spec.Template.Spec, "calico-node")
	if got := fieldRef(ctr, "CALICO_K8S_NODE_REF"); got != "spec.nodeName" {
		t.Errorf("CALICO_K8S_NODE_REF comes from %q, want spec.nodeName (the node controller finds Calico Nodes by it)", got)
	}
}
