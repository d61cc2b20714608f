package calico

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/confd"
	"github.com/calico-l3/calico/confd/keyview"
	"github.com/calico-l3/calico/datastore"
)

var update = flag.Bool("update", false, "rewrite the golden files in confd/testdata")

const (
	repoRoot = "../.." // holds conf.d/ and templates/, as /etc/calico/confd does in the image
	goldens  = "../testdata"
)

// goldenCase is confd/testdata/<case>/case.yaml; the resources are in resources.yaml beside it.
type goldenCase struct {
	NodeName   string            `json:"nodeName"`
	RouterID   string            `json:"routerID"`
	LogLevel   string            `json:"logLevel"`
	Affinities map[string]string `json:"affinities"`
	// Secrets are the Kubernetes Secrets calico-node can read, for BGP passwords: name → key → value.
	Secrets map[string]map[string]string `json:"secrets"`
}

// loadCase reads a case directory into keyview's input.
func loadCase(t *testing.T, dir string) keyview.Input {
	t.Helper()
	var c goldenCase
	data, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("%s/case.yaml: %v", dir, err)
	}
	in := keyview.Input{NodeName: c.NodeName, RouterID: c.RouterID, LogLevel: c.LogLevel, Affinities: c.Affinities, Secrets: c.Secrets}
	manifest, err := os.ReadFile(filepath.Join(dir, "resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := api.Decode(manifest)
	if err == nil {
		err = api.Prepare(docs, "")
	}
	if err != nil {
		t.Fatalf("%s/resources.yaml: %v", dir, err)
	}
	for _, d := range docs {
		if !in.Add(d.Resource) {
			t.Fatalf("%s/resources.yaml: document %d is a %s, which the BGP view does not read", dir, d.Index, api.KindOf(d.Resource).Name)
		}
	}
	return in
}

// TestGolden renders every case in confd/testdata with the shipped conf.d and templates, compares each file with
// its golden copy and has BIRD parse the result with the resources' own check commands.
func TestGolden(t *testing.T) {
	entries, err := os.ReadDir(goldens)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) {
			dir := filepath.Join(goldens, e.Name())
			in := loadCase(t, dir)
			view, warns := keyview.Build(in)
			if len(warns) > 0 {
				t.Errorf("the case's resources gave warnings: %q", warns)
			}
			resources, err := confd.LoadResources(repoRoot, in.NodeName)
			if err != nil {
				t.Fatal(err)
			}
			rendered := t.TempDir()
			for _, res := range resources {
				text, err := os.ReadFile(filepath.Join(repoRoot, "templates", res.Src))
				if err != nil {
					t.Fatal(err)
				}
				tmpl, err := confd.ParseTemplate(res.Src, string(text))
				if err != nil {
					t.Fatal(err)
				}
				got, err := confd.Render(res, tmpl, view)
				if err != nil {
					t.Fatalf("rendering %s: %v", res.Name, err)
				}
				name := filepath.Base(res.Dest)
				if err := os.WriteFile(filepath.Join(rendered, name), got, 0o644); err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join(dir, name), got)
			}
			for _, res := range resources {
				if res.CheckCmd == "" {
					continue
				}
				t.Run("check "+filepath.Base(res.Dest), func(t *testing.T) {
					runCheck(t, res, filepath.Join(rendered, filepath.Base(res.Dest)))
				})
			}
		})
	}
	if ran == 0 {
		t.Fatalf("no cases in %s", goldens)
	}
}

// compareGolden compares got with the golden file, or rewrites it with -update.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./confd/... -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test ./confd/... -update rewrites it; review the diff):\n%s",
			path, firstDifference(string(want), string(got)))
	}
}

// firstDifference shows the first line where want and got differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n want %q\n got  %q", i+1, wl, gl)
		}
	}
	return "(same lines; the files differ in line endings)"
}

// runCheck runs a resource's check_cmd on a rendered file, with the files it includes beside it.
func runCheck(t *testing.T, res *confd.Resource, file string) {
	t.Helper()
	bin := strings.Fields(res.CheckCmd)[0]
	if _, err := exec.LookPath(bin); err != nil {
		t.Skipf("%s is not installed (apt-get install bird), so BIRD cannot check %s", bin, filepath.Base(file))
	}
	cmd := strings.ReplaceAll(res.CheckCmd, "{{.src}}", file)
	if out, err := exec.Command("/bin/sh", "-c", cmd).CombinedOutput(); err != nil {
		text, _ := os.ReadFile(file)
		t.Errorf("%s rejected the rendering: %v\n%s\n--- %s ---\n%s", cmd, err, out, filepath.Base(file), text)
	}
}

// TestResourcesCheckAndReloadOnlyThisNodesBIRD pins what the shipped conf.d files promise.
func TestResourcesCheckAndReloadOnlyThisNodesBIRD(t *testing.T) {
	resources, err := confd.LoadResources(repoRoot, "node1")
	if err != nil {
		t.Fatal(err)
	}
	byDest := map[string]*confd.Resource{}
	for _, r := range resources {
		byDest[filepath.Base(r.Dest)] = r
		if !strings.HasPrefix(r.Dest, "/etc/calico/confd/config/") {
			t.Errorf("%s writes %s; want a file in /etc/calico/confd/config/", r.Name, r.Dest)
		}
		if strings.Contains(r.ReloadCmd, "pkill") || strings.Contains(r.ReloadCmd, "killall") {
			t.Errorf("%s reloads with %q, which reaches every BIRD on the machine", r.Name, r.ReloadCmd)
		}
	}
	want := map[string]struct{ check, socket string }{
		"bird.cfg":       {"bird -p -c {{.src}}", "/var/run/calico/bird.ctl"},
		"bird6.cfg":      {"bird6 -p -c {{.src}}", "/var/run/calico/bird6.ctl"},
		"bird_aggr.cfg":  {"", "/var/run/calico/bird.ctl"},
		"bird6_aggr.cfg": {"", "/var/run/calico/bird6.ctl"},
		"bird_ipam.cfg":  {"", "/var/run/calico/bird.ctl"},
		"bird6_ipam.cfg": {"", "/var/run/calico/bird6.ctl"},
	}
	for dest, w := range want {
		r := byDest[dest]
		if r == nil {
			t.Errorf("no resource renders %s", dest)
			continue
		}
		if r.CheckCmd != w.check {
			t.Errorf("%s: check_cmd = %q; want %q", r.Name, r.CheckCmd, w.check)
		}
		if !strings.Contains(r.ReloadCmd, w.socket) || !strings.Contains(r.ReloadCmd, "configure") {
			t.Errorf("%s: reload_cmd = %q; want a configure through %s", r.Name, r.ReloadCmd, w.socket)
		}
		if !strings.Contains(r.Prefix, "/host/node1") {
			t.Errorf("%s: prefix %q is not this node's", r.Name, r.Prefix)
		}
	}
	// BIRD's files only: the tunnel addresses are the allocate-tunnel-addrs service's, which watches the pools.
	if len(resources) != len(want) {
		t.Errorf("conf.d has %d resources; want %d", len(resources), len(want))
	}
}

// TestReloadCommandUsesThisNodesSocket runs bird.toml's reload_cmd against a BIRD of its own, reached through
// BIRD_CTL_SOCKET: a reconfigure succeeds, one BIRD rejects fails, and with no BIRD running there is nothing
// to reload. A new `listen bgp` line, which BIRD would not apply while a session holds its listening socket,
// kills BIRD instead (runit starts it again), and only that BIRD, by the pid file beside its socket.
func TestReloadCommandUsesThisNodesSocket(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil || testing.Short() {
		t.Skip("needs bird installed (apt-get install bird); skipped with -short")
	}
	resources, err := confd.LoadResources(repoRoot, "node1")
	if err != nil {
		t.Fatal(err)
	}
	var reloadCmd string
	for _, r := range resources {
		if r.Name == "bird.toml" {
			reloadCmd = r.ReloadCmd
		}
	}
	dir := t.TempDir()
	cfg, sock := filepath.Join(dir, "bird.cfg"), filepath.Join(dir, "bird.ctl")
	// Only a device protocol: this BIRD must not touch the machine's routes.
	if err := os.WriteFile(cfg, []byte("router id 10.0.0.1;\nprotocol device { scan time 10; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reload := func() (string, error) {
		cmd := exec.Command("/bin/sh", "-c", strings.ReplaceAll(reloadCmd, "{{.src}}", cfg))
		cmd.Env = append(os.Environ(), "BIRD_CTL_SOCKET="+sock)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := reload(); err != nil {
		t.Errorf("reload with no BIRD running failed: %v\n%s", err, out)
	}

	// As runit/bird/run starts it: its pid file and the listen line it started with beside its socket.
	if err := os.WriteFile(filepath.Join(dir, "bird.listen"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bird := exec.Command("bird", "-f", "-c", cfg, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	var birdOut bytes.Buffer
	bird.Stdout, bird.Stderr = &birdOut, &birdOut
	if err := bird.Start(); err != nil {
		t.Skipf("cannot start bird: %v", err)
	}
	defer func() { _ = bird.Process.Kill() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Skipf("bird did not open its control socket within 5s (it may need root): %s", birdOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := reload(); err != nil || !strings.Contains(out, "Reconfigured") {
		t.Errorf("reload of a running BIRD: err %v, output %q; want success and \"Reconfigured\"", err, out)
	}
	if err := os.WriteFile(cfg, []byte("router id 10.0.0.1;\nprotocol device { scan time soon; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := reload(); err == nil {
		t.Errorf("reload succeeded although BIRD rejected the configuration; output %q", out)
	}

	if err := os.WriteFile(cfg, []byte("router id 10.0.0.1;\nlisten bgp port 1791;\nprotocol device { scan time 10; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := reload()
	if err != nil || !strings.Contains(out, "restarting bird") {
		t.Errorf("reload with a new listen port: err %v, output %q; want BIRD restarted", err, out)
	}
	exited := make(chan error, 1)
	go func() { exited <- bird.Wait() }()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("BIRD ended with %v, want killed (SIGKILL: no Cease to its peers)", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("BIRD still runs after a reload with a new listen port")
	}
}

// TestEngineWritesEveryFileOnTheFirstRun runs the confd engine once over the shipped resources (their
// destinations moved to a temporary directory) with a Source fed the single-node case: bird.cfg's check needs
// its include files, which do not exist yet, and the run must still end with every file written as in the
// goldens.
func TestEngineWritesEveryFileOnTheFirstRun(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil || testing.Short() {
		t.Skip("needs bird installed (apt-get install bird), for bird.cfg's check_cmd; skipped with -short")
	}
	tmp := t.TempDir()
	out := filepath.Join(tmp, "config")
	for _, sub := range []string{"conf.d", "templates"} {
		if err := os.MkdirAll(filepath.Join(tmp, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(repoRoot, sub, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if sub == "conf.d" {
				data = bytes.ReplaceAll(data, []byte("/etc/calico/confd/config/"), []byte(out+"/"))
			}
			if err := os.WriteFile(filepath.Join(tmp, sub, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Sockets nobody listens on, so the reload commands cannot reach a BIRD of this machine.
	t.Setenv("BIRD_CTL_SOCKET", filepath.Join(tmp, "bird.ctl"))
	t.Setenv("BIRD6_CTL_SOCKET", filepath.Join(tmp, "bird6.ctl"))

	in := loadCase(t, filepath.Join(goldens, "single-node"))
	w := newFakeWatcher(in.NodeName)
	src := startSource(t, w, in.NodeName)
	w.syncAll(datastore.IPAMPrefix + "host/" + in.NodeName + "/")
	var evs []datastore.Event
	for _, n := range in.Nodes {
		evs = append(evs, added(n))
	}
	for _, p := range in.IPPools {
		evs = append(evs, added(p))
	}
	w.send(t, evs...)
	aff := w.chans[datastore.IPAMPrefix+"host/"+in.NodeName+"/"]
	aff <- datastore.Event{Type: datastore.Resync}
	for k, v := range in.Affinities {
		aff <- datastore.Event{Type: datastore.Added, Key: k, Value: []byte(v)}
	}
	aff <- datastore.Event{Type: datastore.InSync}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	engine := confd.New(confd.Config{ConfDir: tmp, NodeName: in.NodeName, Onetime: true, Logger: quiet})
	if err := engine.Run(ctx, src); err != nil {
		t.Fatalf("engine run: %v", err)
	}
	for _, name := range []string{"bird.cfg", "bird6.cfg", "bird_aggr.cfg", "bird6_aggr.cfg", "bird_ipam.cfg", "bird6_ipam.cfg"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Errorf("the engine did not write %s: %v", name, err)
			continue
		}
		want, _ := os.ReadFile(filepath.Join(goldens, "single-node", name))
		if !bytes.Equal(got, want) {
			t.Errorf("%s written by the engine differs from the golden:\n%s", name, firstDifference(string(want), string(got)))
		}
	}
}
