// Package etcdtest starts private, throw-away etcd servers for tests: one process on free loopback ports with a
// temporary data directory, stopped and removed when the test ends.
package etcdtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running test etcd.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	t        testing.TB
	bin      string
	dir      string
	args     []string
	cmd      *exec.Cmd
}

// Start runs a fresh etcd for this test and returns its client endpoint.
func Start(t testing.TB) string {
	return StartServer(t).Endpoint
}

// StartServer runs a fresh etcd for this test; the Server can be stopped and restarted to simulate an outage.
func StartServer(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real etcd; skipped with -short (make unit runs pure logic only)")
	}
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if _, statErr := os.Stat("/usr/bin/etcd"); statErr == nil {
			bin = "/usr/bin/etcd"
		} else {
			t.Skip("etcd binary not found (apt-get install etcd-server; `make test` installs it)")
		}
	}
	dir := t.TempDir()
	client, peer := freePort(t), freePort(t)
	s := &Server{
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", client),
		t:        t,
		bin:      bin,
		dir:      dir,
		args: []string{
			"--name", "test", "--data-dir", filepath.Join(dir, "data"),
			"--listen-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
			"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", client),
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
			"--initial-cluster", fmt.Sprintf("test=http://127.0.0.1:%d", peer),
			"--logger", "zap", "--log-level", "error",
		},
	}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server (the data directory stays until the test ends, so Restart resumes it).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Restart starts the server again on the same ports and data, and waits until it is healthy.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Env = serverEnv()
	log, err := os.Create(filepath.Join(s.dir, "etcd.log"))
	if err != nil {
		s.t.Fatalf("creating etcd log: %v", err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Die with the test binary even if it is killed before cleanup runs. The kernel sends the death signal when
	// the *thread* that started the child exits, so start it from a thread that lives as long as the process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := StartOnLongLivedThread(cmd); err != nil {
		s.t.Fatalf("starting etcd: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := os.ReadFile(filepath.Join(s.dir, "etcd.log"))
	s.Stop()
	s.t.Fatalf("etcd did not become healthy at %s within 20s; its log:\n%s", s.Endpoint, out)
}

var spawnRequests = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives until the process ends
		for f := range spawnRequests {
			f()
		}
	}()
}

// StartOnLongLivedThread starts cmd from a thread that never exits, so a Pdeathsig set on it fires only when the
// test process dies (the kernel sends it when the starting thread exits). Other harnesses start their servers
// with it too.
func StartOnLongLivedThread(cmd *exec.Cmd) error {
	done := make(chan error)
	spawnRequests <- func() { done <- cmd.Start() }
	return <-done
}

// serverEnv drops ETCD_* variables: etcd reads them as flags, and ours (ETCD_ENDPOINTS, ETCD_CERT_FILE…) are
// meant for clients.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
