package confd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testLogger sends engine logs to the test's log, shown when a test fails.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// confDir writes files (relative path → content) under a new conf dir with conf.d/ and templates/.
func confDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"conf.d", "templates"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// resourceToml is a conf.d file for template src written to dest, reading prefix /calico/bgp/v1 and keys.
func resourceToml(src, dest string, keys []string, extra string) string {
	return fmt.Sprintf("[template]\nsrc = %q\ndest = %q\nprefix = \"/calico/bgp/v1\"\nkeys = [\"%s\"]\n%s",
		src, dest, strings.Join(keys, `", "`), extra)
}

// startEngine runs e in the background until the test ends.
func startEngine(t *testing.T, e *Engine, src Source) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, src) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fileIs(name, want string) func() bool {
	return func() bool {
		b, err := os.ReadFile(name)
		return err == nil && string(b) == want
	}
}

var baseKeys = map[string]string{
	"/calico/bgp/v1/global/as_num":         "64512",
	"/calico/bgp/v1/global/loglevel":       "info",
	"/calico/bgp/v1/host/node1/ip_addr_v4": "10.0.0.1",
}

func TestOnetimeSyncsEveryResource(t *testing.T) {
	out := t.TempDir()
	dir := confDir(t, map[string]string{
		"conf.d/as.toml":        resourceToml("as.template", out+"/as.cfg", []string{"/global"}, ""),
		"conf.d/ip.toml":        resourceToml("ip.template", out+"/ip.cfg", []string{"/host//NODENAME"}, ""),
		"templates/as.template": `as {{getv "/global/as_num"}}`,
		"templates/ip.template": `ip {{getv "/host/node1/ip_addr_v4"}}`,
	})
	e := New(Config{ConfDir: dir, NodeName: "node1", Onetime: true, Logger: testLogger(t)})
	if err := e.Run(context.Background(), newMemSource(baseKeys)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for name, want := range map[string]string{"as.cfg": "as 64512", "ip.cfg": "ip 10.0.0.1"} {
		if !fileIs(filepath.Join(out, name), want)() {
			t.Errorf("%s does not hold %q", name, want)
		}
	}
	if s := e.Stats(); s.Renders != 2 || s.Writes != 2 || s.Errors != 0 {
		t.Errorf("Stats = %+v; want 2 renders, 2 writes, 0 errors", s)
	}
}

func TestOnetimeReturnsTheErrorOfEachFailedResource(t *testing.T) {
	out := t.TempDir()
	dir := confDir(t, map[string]string{
		"conf.d/bad.toml":         resourceToml("bad.template", out+"/bad.cfg", []string{"/global"}, ""),
		"conf.d/good.toml":        resourceToml("good.template", out+"/good.cfg", []string{"/global"}, ""),
		"templates/bad.template":  "\n{{getv \"/global/missing\"}}",
		"templates/good.template": `as {{getv "/global/as_num"}}`,
	})
	e := New(Config{ConfDir: dir, Onetime: true, Logger: testLogger(t)})
	err := e.Run(context.Background(), newMemSource(baseKeys))
	if err == nil || !strings.Contains(err.Error(), "resource bad.toml (template bad.template)") || !strings.Contains(err.Error(), "bad.template:2") {
		t.Errorf("Run error = %v; want one naming bad.toml, bad.template and line 2", err)
	}
	if !fileIs(filepath.Join(out, "good.cfg"), "as 64512")() {
		t.Error("the good resource was not written because another one failed")
	}
	if _, err := os.Stat(filepath.Join(out, "bad.cfg")); err == nil {
		t.Error("the failed resource wrote a file")
	}
}

func TestRunFailsOnAnUnreadableConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
	}{
		{name: "an unknown TOML key", files: map[string]string{"conf.d/x.toml": "[template]\nsrc = \"x\"\ndest = \"/tmp/x\"\nbogus = 1\n"}, wantErr: "x.toml: unknown key(s) template.bogus"},
		{name: "a missing template file", files: map[string]string{"conf.d/x.toml": "[template]\nsrc = \"gone.template\"\ndest = \"/tmp/x\"\n"}, wantErr: "gone.template"},
		{name: "a template that does not parse", files: map[string]string{
			"conf.d/x.toml": "[template]\nsrc = \"x.template\"\ndest = \"/tmp/x\"\n", "templates/x.template": "{{end}}"}, wantErr: "x.template:1"},
	}
	for _, tt := range tests {
		for _, onetime := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s (onetime %v)", tt.name, onetime), func(t *testing.T) {
				e := New(Config{ConfDir: confDir(t, tt.files), Onetime: onetime, Logger: testLogger(t)})
				err := e.Run(context.Background(), newMemSource(baseKeys))
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Run error = %v; want one containing %q", err, tt.wantErr)
				}
			})
		}
	}
}

func TestAPassRetriesAResourceWhoseCheckNeedsAFileWrittenLater(t *testing.T) {
	out := t.TempDir()
	// a.toml sorts first, but its check needs the file that b.toml writes (as bird.cfg includes bird_ipam.cfg).
	dir := confDir(t, map[string]string{
		"conf.d/a.toml":        resourceToml("a.template", out+"/main.cfg", []string{"/global"}, fmt.Sprintf("check_cmd = \"test -e %s/inc.cfg\"\n", out)),
		"conf.d/b.toml":        resourceToml("b.template", out+"/inc.cfg", []string{"/global"}, ""),
		"templates/a.template": `main`,
		"templates/b.template": `included`,
	})
	e := New(Config{ConfDir: dir, Onetime: true, Logger: testLogger(t)})
	if err := e.Run(context.Background(), newMemSource(baseKeys)); err != nil {
		t.Fatalf("Run: %v; want the failed check retried after inc.cfg was written", err)
	}
	if s := e.Stats(); s.Renders != 3 || s.Writes != 2 || s.Errors != 0 {
		t.Errorf("Stats = %+v; want 3 renders (a, b, a again), 2 writes, 0 errors", s)
	}
}

// watchFixture is one resource (as.toml → out/as.cfg over /global) run by an engine in watch mode.
type watchFixture struct {
	dir, dest, reloads string
	src                *memSource
	eng                *Engine
}

func startWatch(t *testing.T, tmpl, extraToml string, cfg Config) *watchFixture {
	t.Helper()
	out := t.TempDir()
	f := &watchFixture{dest: filepath.Join(out, "as.cfg"), reloads: filepath.Join(out, "reloads")}
	toml := resourceToml("as.template", f.dest, []string{"/global"}, extraToml+fmt.Sprintf("reload_cmd = \"echo r >> %s\"\n", f.reloads))
	f.dir = confDir(t, map[string]string{"conf.d/as.toml": toml, "templates/as.template": tmpl})
	cfg.ConfDir, cfg.Logger = f.dir, testLogger(t)
	f.eng = New(cfg)
	f.src = newMemSource(baseKeys)
	startEngine(t, f.eng, f.src)
	return f
}

func (f *watchFixture) reloadCount() int {
	b, _ := os.ReadFile(f.reloads)
	return strings.Count(string(b), "r\n")
}

func TestWatchCoalescesABurstOfChangesIntoFewRenders(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first render", fileIs(f.dest, "as 64512"))
	for i := range 1000 {
		f.src.Set("/calico/bgp/v1/global/as_num", fmt.Sprint(65000+i))
	}
	waitFor(t, "the last value", fileIs(f.dest, "as 65999"))
	time.Sleep(100 * time.Millisecond) // let any straggling render happen before counting
	s := f.eng.Stats()
	t.Logf("1000 updates: %+v", s)
	if s.Renders > 3 {
		t.Errorf("1000 rapid updates caused %d renders in all; want at most 3 (first sync + the burst)", s.Renders)
	}
	if s.Reloads != s.Writes || f.reloadCount() != int(s.Writes) {
		t.Errorf("Stats = %+v with %d reload lines; want one reload per write", s, f.reloadCount())
	}
}

func TestWatchRendersOnlyWhenTheResourceKeysChanged(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first write and reload", func() bool { s := f.eng.Stats(); return s.Writes == 1 && s.Reloads == 1 })
	base := f.eng.Stats()

	f.src.Set("/calico/bgp/v1/host/node1/ip_addr_v4", "10.0.0.99") // not under /global
	time.Sleep(150 * time.Millisecond)
	if s := f.eng.Stats(); s.Renders != base.Renders {
		t.Errorf("a change outside the resource's keys caused %d renders; want none", s.Renders-base.Renders)
	}

	f.src.Set("/calico/bgp/v1/global/loglevel", "debug") // watched, but the template does not print it
	waitFor(t, "a render of the changed view", func() bool { return f.eng.Stats().Renders == base.Renders+1 })
	time.Sleep(50 * time.Millisecond)
	if s := f.eng.Stats(); s.Writes != base.Writes || s.Reloads != base.Reloads || f.reloadCount() != 1 {
		t.Errorf("an identical render wrote or reloaded: %+v (before %+v), %d reload lines; want no write, no reload", s, base, f.reloadCount())
	}

	f.src.Set("/calico/bgp/v1/global/as_num", "65001")
	waitFor(t, "the new value", fileIs(f.dest, "as 65001"))
	waitFor(t, "the second reload", func() bool { return f.reloadCount() == 2 })
}

func TestWatchReRendersWhenATemplateIsEdited(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first render", fileIs(f.dest, "as 64512"))
	writeFile(t, filepath.Join(f.dir, "templates", "as.template"), `local as {{getv "/global/as_num"}};`)
	waitFor(t, "the edited template's output", fileIs(f.dest, "local as 64512;"))
}

func TestWatchRereadsResourcesWhenConfDChanges(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first render", fileIs(f.dest, "as 64512"))
	second := filepath.Join(filepath.Dir(f.dest), "ip.cfg")
	writeFile(t, filepath.Join(f.dir, "templates", "ip.template"), `ip {{getv "/host/node1/ip_addr_v4"}}`)
	writeFile(t, filepath.Join(f.dir, "conf.d", "ip.toml"), resourceToml("ip.template", second, []string{"/host"}, ""))
	waitFor(t, "the new resource's output", fileIs(second, "ip 10.0.0.1"))
}

func TestWatchKeepsTheLastGoodFileWhenATemplateFailsToRender(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first render", fileIs(f.dest, "as 64512"))
	writeFile(t, filepath.Join(f.dir, "templates", "as.template"), `as {{getv "/global/as_num"}} id {{getv "/global/router_id"}}`)
	waitFor(t, "the render error", func() bool { return f.eng.Stats().Errors >= 1 })
	if !fileIs(f.dest, "as 64512")() {
		t.Fatal("a failed render changed the last good file")
	}
	// The next change retries the failed resource.
	f.src.Set("/calico/bgp/v1/global/router_id", "1.2.3.4")
	waitFor(t, "the repaired render", fileIs(f.dest, "as 64512 id 1.2.3.4"))
}

func TestWatchKeepsThePreviousTemplateWhenAnEditDoesNotParse(t *testing.T) {
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{})
	waitFor(t, "the first render", fileIs(f.dest, "as 64512"))
	before := f.eng.Stats().Renders
	writeFile(t, filepath.Join(f.dir, "templates", "as.template"), `as {{if}}`)
	time.Sleep(150 * time.Millisecond)
	if got := f.eng.Stats().Renders; got != before {
		t.Errorf("a template that does not parse caused %d renders; want none", got-before)
	}
	f.src.Set("/calico/bgp/v1/global/as_num", "65002")
	waitFor(t, "a render with the previous template", fileIs(f.dest, "as 65002"))
}

func TestWatchRetriesAFailedCheckOnATimer(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "bird-ready")
	f := startWatch(t, `as {{getv "/global/as_num"}}`, fmt.Sprintf("check_cmd = \"test -e %s\"\n", gate),
		Config{RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	waitFor(t, "the failed check", func() bool { return f.eng.Stats().Errors >= 1 })
	if _, err := os.Stat(f.dest); err == nil {
		t.Fatal("dest was written although its check failed")
	}
	writeFile(t, gate, "") // no key changes: only the retry timer can notice
	waitFor(t, "the retried write", fileIs(f.dest, "as 64512"))
	waitFor(t, "the reload", func() bool { return f.reloadCount() == 1 })
}

func TestWatchRetriesAFailedReloadWithoutRewriting(t *testing.T) {
	out := t.TempDir()
	gate, reloads, dest := filepath.Join(out, "bird-running"), filepath.Join(out, "reloads"), filepath.Join(out, "as.cfg")
	dir := confDir(t, map[string]string{
		"conf.d/as.toml": resourceToml("as.template", dest, []string{"/global"},
			fmt.Sprintf("reload_cmd = \"test -e %s && echo r >> %s\"\n", gate, reloads)),
		"templates/as.template": `as {{getv "/global/as_num"}}`,
	})
	e := New(Config{ConfDir: dir, RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond, Logger: testLogger(t)})
	startEngine(t, e, newMemSource(baseKeys))
	waitFor(t, "the write whose reload fails", func() bool { return fileIs(dest, "as 64512")() && e.Stats().Errors >= 1 })
	writeFile(t, gate, "")
	waitFor(t, "the retried reload", func() bool { return e.Stats().Reloads == 1 })
	if !fileIs(reloads, "r\n")() {
		t.Error("the reload command did not run exactly once more")
	}
	if s := e.Stats(); s.Writes != 1 || s.Reloads != 1 {
		t.Errorf("Stats = %+v; want 1 write and 1 successful reload", s)
	}
}

func TestWatchRendersDuringALongBurstAfterMaxDelay(t *testing.T) {
	// A settle period longer than the burst: only MaxDelay can cause renders while changes keep coming.
	f := startWatch(t, `as {{getv "/global/as_num"}}`, "", Config{Settle: 10 * time.Second, MaxDelay: 50 * time.Millisecond})
	waitFor(t, "the first render", func() bool { return f.eng.Stats().Renders == 1 })
	for i := 0; i < 250; i++ {
		f.src.Set("/calico/bgp/v1/global/as_num", fmt.Sprint(65000+i))
		time.Sleep(2 * time.Millisecond)
	}
	if n := f.eng.Stats().Renders - 1; n < 2 {
		t.Errorf("a 500ms stream of changes caused %d renders while it lasted; want at least 2 with MaxDelay 50ms", n)
	}
}

// failingSource is a Source whose snapshot always fails.
type failingSource struct{}

func (failingSource) Snapshot(context.Context) (map[string]string, uint64, error) {
	return nil, 0, fmt.Errorf("datastore unreachable")
}

func (failingSource) Changed() <-chan struct{} { return nil }

func TestRunReportsAFailingSource(t *testing.T) {
	for _, onetime := range []bool{true, false} {
		e := New(Config{ConfDir: confDir(t, nil), Onetime: onetime, Logger: testLogger(t)})
		err := e.Run(context.Background(), failingSource{})
		if err == nil || !strings.Contains(err.Error(), "reading key snapshot: datastore unreachable") {
			t.Errorf("Run (onetime %v) with a failing source: error = %v; want the source's error", onetime, err)
		}
	}
}

func TestRunReturnsNilWhenCancelledBeforeTheSourceIsReady(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := confDir(t, map[string]string{
		"conf.d/as.toml":        resourceToml("as.template", filepath.Join(t.TempDir(), "as.cfg"), []string{"/global"}, ""),
		"templates/as.template": `as`,
	})
	e := New(Config{ConfDir: dir, Logger: testLogger(t)})
	if err := e.Run(ctx, newMemSource(nil)); err != nil {
		t.Errorf("Run with a cancelled context = %v; want nil", err)
	}
	if s := e.Stats(); s.Renders != 0 {
		t.Errorf("Run with a cancelled context rendered %d times; want 0", s.Renders)
	}
}

func TestDestDirRedirectsEveryRenderedFile(t *testing.T) {
	out := t.TempDir()
	dir := confDir(t, map[string]string{
		"conf.d/as.toml":        resourceToml("as.template", "/etc/calico/confd/config/as.cfg", []string{"/global"}, ""),
		"templates/as.template": `as {{getv "/global/as_num"}}`,
	})
	e := New(Config{ConfDir: dir, NodeName: "node1", DestDir: out, Onetime: true, Logger: testLogger(t)})
	if err := e.Run(context.Background(), newMemSource(baseKeys)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !fileIs(filepath.Join(out, "as.cfg"), "as 64512")() {
		t.Errorf("as.cfg was not written to DestDir %s", out)
	}
	if _, err := os.Stat("/etc/calico/confd/config/as.cfg"); err == nil {
		t.Errorf("the resource's own dest must not be written when DestDir is set")
	}
}
