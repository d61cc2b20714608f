// Package e2e runs whole clusters on one machine: hosts are network namespaces (tests/harness), each running the
// real binaries of this repository with real BIRD against one real etcd.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// binDir holds calico-node, calicoctl, birdcl and calico, built once for the whole package.
var binDir string

// repoRoot holds templates/ and conf.d/, which confd reads.
var repoRoot string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	if os.Getuid() == 0 {
		dir, err := os.MkdirTemp("", "e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building binaries: %v\n%s", err, out)
			os.Exit(1)
		}
		binDir = dir
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needRoot skips tests that create namespaces and run BIRD unless they can.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: creates network namespaces and runs BIRD")
	}
	for _, bin := range []string{"bird", "etcd", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (`make test` installs it)", bin)
		}
	}
}
