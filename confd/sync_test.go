package confd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// applyOrFail runs Apply and fails the test on error.
func applyOrFail(t *testing.T, res *Resource, content string) SyncResult {
	t.Helper()
	r, err := Apply(context.Background(), res, []byte(content), SyncOptions{})
	if err != nil {
		t.Fatalf("Apply(%q): %v", content, err)
	}
	return r
}

func readOrFail(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func statOrFail(t *testing.T, name string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func assertNoStageFiles(t *testing.T, dest string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+"*"))
	if len(left) > 0 {
		t.Errorf("staged files left behind: %v", left)
	}
}

func TestApplyReplacesOnlyWhenSomethingChanged(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "config", "bird.cfg")
	res := &Resource{Name: "bird.toml", Dest: dest}

	if r := applyOrFail(t, res, "one\n"); !r.Changed {
		t.Error("first Apply reported unchanged; want changed (dest did not exist)")
	}
	if got := readOrFail(t, dest); got != "one\n" {
		t.Errorf("dest holds %q; want %q", got, "one\n")
	}
	if mode := statOrFail(t, dest).Mode().Perm(); mode != 0o644 {
		t.Errorf("new dest has mode %o; want the default 644", mode)
	}
	assertNoStageFiles(t, dest)

	before := statOrFail(t, dest)
	if r := applyOrFail(t, res, "one\n"); r.Changed {
		t.Error("Apply of identical content reported changed; want unchanged")
	}
	if !os.SameFile(before, statOrFail(t, dest)) {
		t.Error("Apply of identical content replaced the file; want it left alone")
	}
	assertNoStageFiles(t, dest)

	if r := applyOrFail(t, res, "two\n"); !r.Changed {
		t.Error("Apply of new content reported unchanged; want changed")
	}
	if got := readOrFail(t, dest); got != "two\n" {
		t.Errorf("dest holds %q; want %q", got, "two\n")
	}
	if os.SameFile(before, statOrFail(t, dest)) {
		t.Error("new content was written in place; want a rename of a staged file")
	}
	assertNoStageFiles(t, dest)
}

func TestApplyMode(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: no existing dest
		mode     os.FileMode
		want     os.FileMode
		changed  bool
	}{
		{name: "a new file without a mode gets 0644", want: 0o644, changed: true},
		{name: "a new file gets the configured mode", mode: 0o600, want: 0o600, changed: true},
		{name: "without a mode an existing file keeps its mode", existing: 0o640, want: 0o640, changed: false},
		{name: "a different configured mode alone causes a rewrite", existing: 0o644, mode: 0o600, want: 0o600, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "out.cfg")
			if tt.existing != 0 {
				writeFile(t, dest, "same")
				if err := os.Chmod(dest, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			r := applyOrFail(t, &Resource{Dest: dest, Mode: tt.mode}, "same")
			if r.Changed != tt.changed {
				t.Errorf("Changed = %v; want %v", r.Changed, tt.changed)
			}
			if got := statOrFail(t, dest).Mode().Perm(); got != tt.want {
				t.Errorf("mode = %o; want %o", got, tt.want)
			}
		})
	}
}

func TestApplyOwner(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out.cfg")
	uid, gid := os.Geteuid(), os.Getegid()
	r := applyOrFail(t, &Resource{Dest: dest, UID: intp(uid), GID: intp(gid)}, "x")
	if !r.Changed {
		t.Fatal("Apply reported unchanged for a new file")
	}
	if st := statOrFail(t, dest).Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("owner = %d:%d; want %d:%d", st.Uid, st.Gid, uid, gid)
	}
	if r := applyOrFail(t, &Resource{Dest: dest}, "x"); r.Changed {
		t.Error("Apply without uid/gid reported changed for a file owned by the effective ids; want unchanged")
	}

	foreign := &Resource{Dest: dest, UID: intp(4242), GID: intp(4343)}
	if uid != 0 {
		_, err := Apply(context.Background(), foreign, []byte("x"), SyncOptions{})
		if err == nil || !strings.Contains(err.Error(), "operation not permitted") {
			t.Errorf("Apply with a foreign owner as non-root: error = %v; want operation not permitted", err)
		}
		if got := readOrFail(t, dest); got != "x" {
			t.Errorf("dest holds %q after a failed chown; want it unchanged", got)
		}
		return
	}
	if r := applyOrFail(t, foreign, "x"); !r.Changed {
		t.Error("Apply with only a different owner reported unchanged; want changed")
	}
	if st := statOrFail(t, dest).Sys().(*syscall.Stat_t); st.Uid != 4242 || st.Gid != 4343 {
		t.Errorf("owner = %d:%d; want 4242:4343", st.Uid, st.Gid)
	}
	if r := applyOrFail(t, foreign, "x"); r.Changed {
		t.Error("second Apply with the same owner reported changed; want unchanged")
	}
}

func TestApplyCheckCommand(t *testing.T) {
	const check = `grep -q good {{.src}} || { echo "syntax error in {{.src}}"; exit 1; }`
	tests := []struct {
		name      string
		existing  string // "": no existing dest
		content   string
		keepStage bool
		wantErr   string
		wantDest  string // "": dest must not exist
	}{
		{name: "a passing check lets the new file in", existing: "good old", content: "good new", wantDest: "good new"},
		{name: "a passing check creates a missing file", content: "good new", wantDest: "good new"},
		{name: "a failing check keeps the old file and reports the output", existing: "good old", content: "bad new",
			wantErr: "syntax error in", wantDest: "good old"},
		{name: "a failing check does not create a missing file", content: "bad new", wantErr: "syntax error in"},
		{name: "a failing check with KeepStageFile leaves the stage to inspect", existing: "good old", content: "bad new",
			keepStage: true, wantErr: "exit status 1", wantDest: "good old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "bird.cfg")
			if tt.existing != "" {
				writeFile(t, dest, tt.existing)
			}
			res := &Resource{Name: "bird.toml", Dest: dest, CheckCmd: check}
			r, err := Apply(context.Background(), res, []byte(tt.content), SyncOptions{KeepStageFile: tt.keepStage})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Apply: unexpected error %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply error = %v; want one containing %q", err, tt.wantErr)
				}
				if r.Changed {
					t.Error("a failed check reported Changed; want unchanged")
				}
			}
			if tt.wantDest == "" {
				if _, err := os.Stat(dest); !os.IsNotExist(err) {
					t.Errorf("dest exists after a failed check (stat error %v); want no file", err)
				}
			} else if got := readOrFail(t, dest); got != tt.wantDest {
				t.Errorf("dest holds %q; want %q", got, tt.wantDest)
			}
			stages, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".bird.cfg*"))
			switch {
			case tt.keepStage && len(stages) != 1:
				t.Errorf("staged files = %v; want exactly one kept", stages)
			case tt.keepStage && readOrFail(t, stages[0]) != tt.content:
				t.Errorf("kept stage holds %q; want %q", readOrFail(t, stages[0]), tt.content)
			case !tt.keepStage && len(stages) != 0:
				t.Errorf("staged files left behind: %v", stages)
			}
		})
	}
}

func TestCheckCommandSeesTheStagedFileBesideDest(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "bird.cfg")
	seen := filepath.Join(t.TempDir(), "seen")
	res := &Resource{Dest: dest, CheckCmd: "echo {{.src}} > " + seen}
	applyOrFail(t, res, "x")
	got := strings.TrimSpace(readOrFail(t, seen))
	if filepath.Dir(got) != dir || !strings.HasPrefix(filepath.Base(got), ".bird.cfg") || got == dest {
		t.Errorf("check_cmd saw %q; want a staged file %s/.bird.cfgNNNN", got, dir)
	}
}

func TestReloadCommandRunsOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "bird.cfg")
	log := filepath.Join(dir, "reloads")
	res := &Resource{Dest: dest, ReloadCmd: "echo reload >> " + log}
	reloads := func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "reload\n")
	}
	steps := []struct {
		content      string
		wantReloaded bool
		wantReloads  int
	}{
		{"a", true, 1},
		{"a", false, 1},
		{"b", true, 2},
		{"b", false, 2},
	}
	for i, s := range steps {
		r := applyOrFail(t, res, s.content)
		if r.Reloaded != s.wantReloaded || reloads() != s.wantReloads {
			t.Errorf("step %d (content %q): Reloaded = %v with %d reloads; want %v with %d",
				i, s.content, r.Reloaded, reloads(), s.wantReloaded, s.wantReloads)
		}
	}
}

func TestAFailedReloadStillReportsTheWrite(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "bird.cfg")
	res := &Resource{Dest: dest, ReloadCmd: "echo bird is not running; exit 3"}
	r, err := Apply(context.Background(), res, []byte("new"), SyncOptions{})
	if err == nil || !strings.Contains(err.Error(), "bird is not running") {
		t.Errorf("Apply error = %v; want the reload command's output", err)
	}
	if !r.Changed || r.Reloaded {
		t.Errorf("result = %+v; want Changed and not Reloaded", r)
	}
	if got := readOrFail(t, dest); got != "new" {
		t.Errorf("dest holds %q; want the new content", got)
	}
}

func TestNoopNeverWrites(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "bird.cfg")
	writeFile(t, dest, "old")
	res := &Resource{Dest: dest, CheckCmd: "touch " + filepath.Join(dir, "checked"), ReloadCmd: "touch " + filepath.Join(dir, "reloaded")}
	r, err := Apply(context.Background(), res, []byte("new"), SyncOptions{Noop: true})
	if err != nil || !r.Changed || r.Reloaded {
		t.Errorf("noop Apply = %+v, %v; want Changed (it differs), not Reloaded, no error", r, err)
	}
	if got := readOrFail(t, dest); got != "old" {
		t.Errorf("noop Apply changed dest to %q", got)
	}
	for _, f := range []string{"checked", "reloaded"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("noop Apply ran a command (%s exists)", f)
		}
	}
}

func TestApplyRefusesADirectoryAsDest(t *testing.T) {
	dest := t.TempDir()
	if _, err := Apply(context.Background(), &Resource{Dest: dest}, []byte("x"), SyncOptions{}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Apply to a directory: error = %v; want not a regular file", err)
	}
}

func TestSyncRendersAndApplies(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "as.cfg")
	res := &Resource{Dest: dest, Prefix: "/calico/bgp/v1", Keys: []string{"/global"}}
	tmpl, err := ParseTemplate("as.template", `as {{getv "/global/as_num"}};`)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Sync(context.Background(), res, tmpl, map[string]string{"/calico/bgp/v1/global/as_num": "64512"}, SyncOptions{})
	if err != nil || !r.Changed {
		t.Fatalf("Sync = %+v, %v; want changed", r, err)
	}
	if got := readOrFail(t, dest); got != "as 64512;" {
		t.Errorf("dest holds %q; want %q", got, "as 64512;")
	}
	_, err = Sync(context.Background(), res, tmpl, map[string]string{}, SyncOptions{})
	if err == nil || !strings.Contains(err.Error(), "as.template:1") {
		t.Errorf("Sync over a view without the key: error = %v; want a render error naming as.template:1", err)
	}
	if got := readOrFail(t, dest); got != "as 64512;" {
		t.Errorf("a failed render changed dest to %q", got)
	}
}
