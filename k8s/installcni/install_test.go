package installcni

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/calico-l3/calico/cni"
	"github.com/calico-l3/calico/internal/syncbuf"
)

// host is a temporary directory laid out as install-cni's container sees the host and itself: the image's
// binaries, the host's bin and net dirs, the service account (kubelet's ..data layout) and the etcd secret.
type host struct {
	t    *testing.T
	root string
	env  map[string]string
}

func newHost(t *testing.T) *host {
	t.Helper()
	root := t.TempDir()
	h := &host{t: t, root: root}
	for _, d := range []string{"image/opt/cni/bin", "host/opt/cni/bin", "host/etc/cni/net.d", "secrets", "sa"} {
		h.mkdir(d)
	}
	h.write("image/opt/cni/bin/calico", "calico plugin v1", 0o755)
	if err := os.Symlink("calico", h.path("image/opt/cni/bin/calico-ipam")); err != nil {
		t.Fatal(err)
	}
	h.setToken("token-1")
	h.write("sa/..data/ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0o644)
	for _, f := range []string{"ca.crt", "namespace"} {
		_ = os.Symlink("..data/"+f, h.path("sa/"+f))
	}
	// The Secret as the manifest ships it: every key present and empty.
	for _, f := range []string{"etcd-key", "etcd-cert", "etcd-ca"} {
		h.write("secrets/"+f, "", 0o400)
	}
	h.env = map[string]string{
		"CNI_NET_DIR_MOUNT":           h.path("host/etc/cni/net.d"),
		"CNI_BIN_DIR_MOUNT":           h.path("host/opt/cni/bin"),
		"CNI_SECONDARY_BIN_DIR_MOUNT": h.path("host/secondary-bin-dir"),
		"CNI_BIN_SOURCE_DIR":          h.path("image/opt/cni/bin"),
		"SERVICE_ACCOUNT_PATH":        h.path("sa"),
		"TLS_ASSETS_DIR":              h.path("secrets"),
		"CALICO_NODENAME_FILE":        h.path("nodename"),
		"KUBERNETES_SERVICE_HOST":     "10.96.0.1",
		"KUBERNETES_SERVICE_PORT":     "443",
		"KUBERNETES_NODE_NAME":        "node-1",
		"ETCD_ENDPOINTS":              "http://10.0.0.1:2379",
		"CNI_MTU":                     "1440",
		"CNI_CONF_NAME":               "10-calico.conflist",
		"CNI_NETWORK_CONFIG":          calicoTemplate,
		"SLEEP":                       "false",
	}
	return h
}

func (h *host) path(rel string) string { return filepath.Join(h.root, rel) }

func (h *host) mkdir(rel string) {
	h.t.Helper()
	if err := os.MkdirAll(h.path(rel), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) write(rel, content string, mode os.FileMode) {
	h.t.Helper()
	h.mkdir(filepath.Dir(rel))
	_ = os.Remove(h.path(rel)) // it may be read-only, like the secret's files
	if err := os.WriteFile(h.path(rel), []byte(content), mode); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Chmod(h.path(rel), mode); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) read(rel string) string {
	h.t.Helper()
	b, err := os.ReadFile(h.path(rel))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

var tokenGeneration int

// setToken replaces the service account token the way kubelet's atomic writer does: the files go into a new
// timestamped directory, a ..data_tmp symlink to it is renamed over ..data, and the old directory is removed.
// sa/token is a symlink to ..data/token throughout.
func (h *host) setToken(tok string) {
	h.t.Helper()
	tokenGeneration++
	gen := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", tokenGeneration, os.Getpid())
	h.write("sa/"+gen+"/token", tok, 0o644)
	if ca, err := os.ReadFile(h.path("sa/..data/ca.crt")); err == nil {
		h.write("sa/"+gen+"/ca.crt", string(ca), 0o644)
	}
	old, _ := os.Readlink(h.path("sa/..data"))
	if err := os.Symlink(gen, h.path("sa/..data_tmp")); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(h.path("sa/..data_tmp"), h.path("sa/..data")); err != nil {
		h.t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(h.path("sa/" + old))
	}
	_ = os.Symlink("..data/token", h.path("sa/token"))
}

func (h *host) getenv(k string) string { return h.env[k] }

// run is `calico-node -install-cni` with the host's environment; it returns the exit code and the log.
func (h *host) run(ctx context.Context) (int, string) {
	var out syncbuf.Buffer
	code := Main(ctx, slog.New(slog.NewTextHandler(&out, nil)), h.getenv)
	return code, out.String()
}

func (h *host) mustRun() string {
	h.t.Helper()
	code, log := h.run(context.Background())
	if code != 0 {
		h.t.Fatalf("install-cni exited %d:\n%s", code, log)
	}
	return log
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

// files lists every file under the host's directories, to show that nothing was written.
func (h *host) files() []string {
	var out []string
	for _, d := range []string{"host"} {
		_ = filepath.WalkDir(h.path(d), func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				out = append(out, strings.TrimPrefix(p, h.root+"/"))
			}
			return nil
		})
	}
	return out
}

func TestInstallWritesEverything(t *testing.T) {
	h := newHost(t)
	h.write("secrets/etcd-ca", "CA PEM", 0o400)
	log := h.mustRun()

	for _, b := range []string{"calico", "calico-ipam"} {
		p := h.path("host/opt/cni/bin/" + b)
		if m := mode(t, p); !m.IsRegular() || m.Perm() != 0o755 {
			t.Errorf("%s: mode %v, want a regular file 0755 (calico-ipam is a copy, not the image's symlink)", b, m)
		}
		if got := h.read("host/opt/cni/bin/" + b); got != "calico plugin v1" {
			t.Errorf("%s holds %q", b, got)
		}
	}
	if m := mode(t, h.path("host/etc/cni/net.d/calico-kubeconfig")); m.Perm() != 0o600 {
		t.Errorf("calico-kubeconfig mode %v, want 0600", m)
	}
	if m := mode(t, h.path("host/etc/cni/net.d/calico-tls/etcd-ca")); m.Perm() != 0o644 {
		t.Errorf("etcd-ca mode %v, want 0644", m)
	}
	for _, f := range []string{"etcd-key", "etcd-cert"} {
		if _, err := os.Stat(h.path("host/etc/cni/net.d/calico-tls/" + f)); !os.IsNotExist(err) {
			t.Errorf("%s is empty in the secret, so it must not be installed (stat: %v)", f, err)
		}
	}
	conf := h.read("host/etc/cni/net.d/10-calico.conflist")
	if m := mode(t, h.path("host/etc/cni/net.d/10-calico.conflist")); m.Perm() != 0o600 {
		t.Errorf("the config holds the token, so its mode must be 0600, got %v", m)
	}
	if left := PlaceholdersIn(conf); len(left) > 0 {
		t.Errorf("placeholders left in the installed config: %v", left)
	}
	var doc struct {
		Plugins []map[string]any
	}
	if err := json.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Plugins[0]
	for k, want := range map[string]any{
		"etcd_endpoints":    "http://10.0.0.1:2379",
		"etcd_ca_cert_file": "/etc/cni/net.d/calico-tls/etcd-ca", // the host's path, not the mount's
		"etcd_key_file":     "",
		"mtu":               float64(1440),
		"nodename":          "node-1",
		"log_level":         "info",
	} {
		if p[k] != want {
			t.Errorf("%s = %#v, want %#v", k, p[k], want)
		}
	}
	if kc := p["kubernetes"].(map[string]any)["kubeconfig"]; kc != "/etc/cni/net.d/calico-kubeconfig" {
		t.Errorf("kubernetes.kubeconfig = %v, want the host path /etc/cni/net.d/calico-kubeconfig", kc)
	}
	if tok := p["policy"].(map[string]any)["k8s_auth_token"]; tok != "token-1" {
		t.Errorf("k8s_auth_token = %v, want the token", tok)
	}

	for _, want := range []string{
		"Installed " + h.path("host/opt/cni/bin/calico"),
		"Wrote Calico CNI binaries to " + h.path("host/opt/cni/bin"),
		"secondary-bin-dir does not exist",
		`msg="CNI config" config="{\"name\":\"k8s-pod-network\"`,
		"Created CNI config 10-calico.conflist",
		"Done configuring CNI.  Sleep=false",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "token-1") {
		t.Errorf("the log shows the token:\n%s", log)
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.HasPrefix(l, "time=") {
			t.Errorf("every event is one structured line, got %q", l)
		}
	}
}

func TestSecondaryBinDirIsWrittenWhenPresent(t *testing.T) {
	h := newHost(t)
	h.mkdir("host/secondary-bin-dir")
	h.mustRun()
	for _, b := range []string{"calico", "calico-ipam"} {
		if got := h.read("host/secondary-bin-dir/" + b); got != "calico plugin v1" {
			t.Errorf("secondary %s holds %q", b, got)
		}
	}
}

func TestBinariesAreRewrittenOnlyWhenTheyDiffer(t *testing.T) {
	h := newHost(t)
	h.mustRun()
	dest := h.path("host/opt/cni/bin/calico")
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(dest, past, past); err != nil {
		t.Fatal(err)
	}
	ino := func(p string) uint64 { return mode2stat(t, p).Ino }
	before := ino(dest)

	log := h.mustRun()
	if st := mode2stat(t, dest); st.Ino != before || !time.Unix(st.Mtim.Unix()).Equal(past) {
		t.Errorf("an identical binary was rewritten (inode %d→%d, mtime %v→%v)", before, st.Ino, past, time.Unix(st.Mtim.Unix()))
	}
	if !strings.Contains(log, dest+" is up to date") || strings.Contains(log, "Installed "+dest) {
		t.Errorf("the log should say the binary is up to date:\n%s", log)
	}

	h.write("image/opt/cni/bin/calico", "calico plugin v2", 0o755)
	h.mustRun()
	if got := h.read("host/opt/cni/bin/calico"); got != "calico plugin v2" || ino(dest) == before {
		t.Errorf("a changed binary must be replaced through a new file: holds %q", got)
	}
	if left, _ := filepath.Glob(h.path("host/opt/cni/bin/.*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func mode2stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t)
}

func TestSkipAndUpdateBinaries(t *testing.T) {
	t.Run("SKIP_CNI_BINARIES", func(t *testing.T) {
		h := newHost(t)
		h.env["SKIP_CNI_BINARIES"] = "calico-ipam"
		log := h.mustRun()
		if _, err := os.Stat(h.path("host/opt/cni/bin/calico-ipam")); !os.IsNotExist(err) {
			t.Errorf("calico-ipam was installed despite SKIP_CNI_BINARIES (stat: %v)", err)
		}
		if !strings.Contains(log, "calico-ipam is in SKIP_CNI_BINARIES, skipping") {
			t.Errorf("the log does not say so:\n%s", log)
		}
	})
	t.Run("UPDATE_CNI_BINARIES=false", func(t *testing.T) {
		h := newHost(t)
		h.write("host/opt/cni/bin/calico", "the host's own calico", 0o755)
		h.env["UPDATE_CNI_BINARIES"] = "false"
		h.mustRun()
		if got := h.read("host/opt/cni/bin/calico"); got != "the host's own calico" {
			t.Errorf("an existing binary was overwritten: %q", got)
		}
		if got := h.read("host/opt/cni/bin/calico-ipam"); got != "calico plugin v1" {
			t.Errorf("a missing binary must still be installed: %q", got)
		}
	})
}

func TestBadInputsInstallNothing(t *testing.T) {
	cases := []struct {
		name  string
		setup func(h *host)
		want  string
	}{
		{"a config that is not JSON", func(h *host) {
			h.env["CNI_NETWORK_CONFIG"] = `{"name": "k8s-pod-network", "plugins": [{"type": "calico", "mtu": __CNI_MTU__,}]}`
		}, "CNI_NETWORK_CONFIG: not valid JSON at byte 72 (line 1 column 72"},
		{"a plugin without a type", func(h *host) {
			h.env["CNI_NETWORK_CONFIG"] = `{"name":"k8s-pod-network","cniVersion":"0.3.1","plugins":[{"ipam":{"type":"calico-ipam"}}]}`
		}, "CNI_NETWORK_CONFIG: plugins[0].type is missing"},
		{"a placeholder left over", func(h *host) {
			h.env["CNI_NETWORK_CONFIG"] = strings.Replace(calicoTemplate, "__LOG_LEVEL__", "__CNI_LOG_LEVEL__", 1)
		}, "CNI_NETWORK_CONFIG: unknown placeholder __CNI_LOG_LEVEL__"},
		{"a list under a .conf name", func(h *host) { h.env["CNI_CONF_NAME"] = "10-calico.conf" }, "name it .conflist"},
		{"no API server address", func(h *host) { delete(h.env, "KUBERNETES_SERVICE_HOST") },
			"KUBERNETES_SERVICE_HOST is not set (install-cni needs the API server address"},
		{"a key without its certificate", func(h *host) { h.write("secrets/etcd-key", "KEY", 0o400) },
			"only one of etcd-key"},
		{"a kubeconfig path in the config but no token", func(h *host) { _ = os.RemoveAll(h.path("sa")) },
			"uses __SERVICEACCOUNT_TOKEN__, but there is no service account token"},
		{"no binaries to install", func(h *host) { _ = os.RemoveAll(h.path("image/opt/cni/bin")); h.mkdir("image/opt/cni/bin") },
			"CNI_BIN_SOURCE_DIR: no CNI binaries"},
		{"no host bin dir mounted", func(h *host) { _ = os.RemoveAll(h.path("host/opt/cni/bin")) },
			"CNI_BIN_DIR_MOUNT: "},
		{"SLEEP that is not a boolean", func(h *host) { h.env["SLEEP"] = "maybe" }, `SLEEP: "maybe" is not a boolean`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t)
			c.setup(h)
			code, log := h.run(context.Background())
			// slog's text handler escapes quotes in the message.
			if code != 1 || !strings.Contains(log, strings.Trim(strconv.Quote(c.want), `"`)) {
				t.Errorf("got exit %d, want 1 with %q in the log:\n%s", code, c.want, log)
			}
			if f := h.files(); len(f) > 0 {
				t.Errorf("nothing may be written when the input is bad, found %v", f)
			}
		})
	}
}

func TestStaleFilesAreRemoved(t *testing.T) {
	h := newHost(t)
	h.write("host/etc/cni/net.d/10-calico.conf", `{"name":"old","type":"calico"}`, 0o644)
	h.write("host/etc/cni/net.d/calico-tls/etcd-cert", "OLD CERT", 0o644)
	log := h.mustRun()
	for _, f := range []string{"10-calico.conf", "calico-tls/etcd-cert"} {
		if _, err := os.Stat(h.path("host/etc/cni/net.d/" + f)); !os.IsNotExist(err) {
			t.Errorf("%s is stale and must be removed (stat: %v)", f, err)
		}
	}
	if !strings.Contains(log, "Removed stale "+h.path("host/etc/cni/net.d/10-calico.conf")) {
		t.Errorf("the log does not say the old config was removed:\n%s", log)
	}
}

func TestWithoutATokenNoKubeconfigIsWritten(t *testing.T) {
	h := newHost(t)
	_ = os.RemoveAll(h.path("sa"))
	h.env["CNI_NETWORK_CONFIG"] = `{"cniVersion":"0.3.1","name":"test-calico","type":"calico","etcd_endpoints":"__ETCD_ENDPOINTS__","ipam":{"type":"calico-ipam"}}`
	delete(h.env, "CNI_CONF_NAME")
	log := h.mustRun()
	if _, err := os.Stat(h.path("host/etc/cni/net.d/calico-kubeconfig")); !os.IsNotExist(err) {
		t.Errorf("no token, so no calico-kubeconfig (stat: %v)", err)
	}
	if m := mode(t, h.path("host/etc/cni/net.d/10-calico.conf")); m.Perm() != 0o644 {
		t.Errorf("a single plugin config is 10-calico.conf, mode 0644; got %v", m)
	}
	if !strings.Contains(log, "not writing calico-kubeconfig") {
		t.Errorf("the log does not say why:\n%s", log)
	}
}

// TestMTUZeroReachesThePlugin is the manifests' veth_mtu "0" end to end: install-cni writes "mtu": 0 and the
// plugin takes that as "felix's MTU file decides".
func TestMTUZeroReachesThePlugin(t *testing.T) {
	h := newHost(t)
	h.env["CNI_MTU"] = "0"
	h.mustRun()
	conf := h.read("host/etc/cni/net.d/10-calico.conflist")
	if !strings.Contains(conf, `"mtu":0`) && !strings.Contains(conf, `"mtu": 0`) {
		t.Errorf(`expected "mtu": 0 in the installed config, got:\n%s`, conf)
	}
	var l struct {
		Name       string           `json:"name"`
		CNIVersion string           `json:"cniVersion"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(conf), &l); err != nil || len(l.Plugins) == 0 {
		t.Fatalf("expected a plugin list, got %+v (%v)", l, err)
	}
	// The runtime adds the list's name and version; the kubeconfig is read where this test wrote it.
	entry := l.Plugins[0]
	entry["name"], entry["cniVersion"] = l.Name, l.CNIVersion
	entry["kubernetes"] = map[string]any{"kubeconfig": h.path("host/etc/cni/net.d/calico-kubeconfig")}
	stdin, _ := json.Marshal(entry)
	c, err := cni.ParseConfig(stdin, func(string) string { return "" })
	if err != nil {
		t.Fatalf("expected the plugin to take mtu 0, got %v\n%s", err, stdin)
	}
	mtu, err := c.VethMTU(func(path string) ([]byte, error) {
		if path != "/var/lib/calico/mtu" {
			t.Errorf("expected the plugin to read felix's /var/lib/calico/mtu, read %s", path)
		}
		return []byte("1430\n"), nil
	})
	if err != nil || mtu != 1430 {
		t.Errorf("expected the veth MTU 1430 from felix's file, got %d (%v)", mtu, err)
	}
}

func TestASinglePluginUnderAConflistNameIsWrapped(t *testing.T) {
	h := newHost(t)
	h.env["CNI_NETWORK_CONFIG"] = `{"cniVersion":"0.3.1","name":"test-calico","type":"calico","ipam":{"type":"calico-ipam"}}`
	h.mustRun()
	var l struct {
		Name    string
		Plugins []map[string]any
	}
	if err := json.Unmarshal([]byte(h.read("host/etc/cni/net.d/10-calico.conflist")), &l); err != nil || l.Name != "test-calico" || len(l.Plugins) != 1 {
		t.Errorf("want a one-plugin list, got %+v (%v)", l, err)
	}
}

func TestTokenRotationRewritesKubeconfig(t *testing.T) {
	h := newHost(t)
	h.env["SLEEP"] = "true"
	cfg, err := FromEnv(h.getenv)
	if err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	inst := &Installer{Config: cfg, Log: slog.New(slog.NewTextHandler(&out, nil)), Hostname: os.Hostname,
		Debounce: 50 * time.Millisecond, Resync: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inst.Run(ctx) }()

	kubeconfigToken := func() string {
		b, err := os.ReadFile(h.path("host/etc/cni/net.d/calico-kubeconfig"))
		if err != nil {
			return ""
		}
		rc, err := clientcmd.RESTConfigFromKubeConfig(b)
		if err != nil {
			t.Fatalf("a half-written kubeconfig was visible: %v\n%s", err, b)
		}
		return rc.BearerToken
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not happen within 5s; log:\n%s", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the first install", func() bool { return strings.Contains(out.String(), "Sleep=true") })
	if tok := kubeconfigToken(); tok != "token-1" {
		t.Fatalf("first token %q", tok)
	}
	binBefore := mode2stat(t, h.path("host/opt/cni/bin/calico")).Ino

	h.setToken("token-2")
	waitFor("calico-kubeconfig holding the new token", func() bool { return kubeconfigToken() == "token-2" })
	waitFor("the config holding the new token", func() bool {
		return strings.Contains(h.read("host/etc/cni/net.d/10-calico.conflist"), `"k8s_auth_token": "token-2"`)
	})
	if mode(t, h.path("host/etc/cni/net.d/calico-kubeconfig")).Perm() != 0o600 {
		t.Error("the rewritten kubeconfig must stay 0600")
	}
	if mode2stat(t, h.path("host/opt/cni/bin/calico")).Ino != binBefore {
		t.Error("a token change must not reinstall the binaries")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if strings.Contains(out.String(), "token-2") || strings.Contains(out.String(), "token-1") {
		t.Errorf("the log shows a token:\n%s", out.String())
	}
}

func TestSleepKeepsRunningUntilCancelled(t *testing.T) {
	h := newHost(t)
	h.env["SLEEP"] = "true"
	ctx, cancel := context.WithCancel(context.Background())
	codec := make(chan int, 1)
	go func() { c, _ := h.run(ctx); codec <- c }()
	select {
	case c := <-codec:
		t.Fatalf("with SLEEP=true install-cni exited (%d) before being stopped", c)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case c := <-codec:
		if c != 0 {
			t.Errorf("exit %d after SIGTERM, want 0", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("install-cni did not stop")
	}
}

// TestKubeconfigReachesAnAPIServer points the installed calico-kubeconfig at a TLS server standing in for the
// API server, whose certificate is the service account CA, and asks it for its version through client-go.
func TestKubeconfigReachesAnAPIServer(t *testing.T) {
	var gotAuth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	svcHost, svcPort, _ := net.SplitHostPort(hostPort)

	h := newHost(t)
	h.env["KUBERNETES_SERVICE_HOST"], h.env["KUBERNETES_SERVICE_PORT"] = svcHost, svcPort
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.TLS.Certificates[0].Certificate[0]})
	h.write("sa/..data/ca.crt", string(ca), 0o644)
	h.mustRun()

	rc, err := clientcmd.BuildConfigFromFlags("", h.path("host/etc/cni/net.d/calico-kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != srv.URL || !bytes.Equal(rc.CAData, ca) || rc.BearerToken != "token-1" {
		t.Errorf("server %q CA %d bytes token %q; want %q, the CA, token-1", rc.Host, len(rc.CAData), rc.BearerToken, srv.URL)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("client-go with calico-kubeconfig: %v", err)
	}
	if v.GitVersion != "v1.37.2" || gotAuth != "Bearer token-1" {
		t.Errorf("got version %q with Authorization %q", v.GitVersion, gotAuth)
	}
}
