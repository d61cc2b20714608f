// Package e2e runs whole clusters on one machine: hosts are network namespaces (tests/harness), each running the
// real binaries of this repository with real BIRD against one real etcd.
package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// binDir holds calico-node, calicoctl, birdcl and calico, built once for the whole package.
var binDir string

// repoRoot holds templates/ and conf.d/, which confd reads.
var repoRoot string

func TestMain(m *testing.M) {
	if addr := os.Getenv("E2E_TCP_SERVE"); addr != "" {
		os.Exit(serveTCP(addr))
	}
	if addr := os.Getenv("E2E_TCP_CONNECT"); addr != "" {
		os.Exit(connectTCP(addr))
	}
	if addr := os.Getenv("E2E_UDP_SERVE"); addr != "" {
		os.Exit(serveUDP(addr))
	}
	if addr := os.Getenv("E2E_UDP_EXCHANGE"); addr != "" {
		os.Exit(exchangeUDP(addr))
	}
	if url := os.Getenv("E2E_HTTP_GET"); url != "" {
		os.Exit(httpGet(url))
	}
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
func needRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end; skipped with -short")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: creates network namespaces and runs BIRD")
	}
	for _, bin := range []string{"bird", "etcd", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (`make test` installs it)", bin)
		}
	}
}

// serveTCP is what the test binary does when started as a server inside a pod: accept and answer "ok".
func serveTCP(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		c.Write([]byte("ok\n"))
		c.Close()
	}
}

// connectTCP exits 0 when addr answers within a second.
func connectTCP(addr string) int {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok\n" {
		return 1
	}
	return 0
}

// serveUDP is what the test binary does when started as a UDP server inside a pod: echo every datagram back.
func serveUDP(addr string) int {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return 1
		}
		c.WriteTo(buf[:n], from)
	}
}

// exchangeUDP exits 0 when a datagram sent to addr is echoed back within a second.
func exchangeUDP(addr string) int {
	c, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("e2e-udp")); err != nil {
		return 1
	}
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "e2e-udp" {
		return 1
	}
	return 0
}

// interrupt ends a ping so that it prints its summary.
var interrupt = syscall.SIGINT

// httpGet prints the status code and body of a GET, for probing endpoints inside a host's namespace.
func httpGet(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d\n%s", resp.StatusCode, body)
	return 0
}
