package calicoctl

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/calico-l3/calico/bird"
)

func TestPeerRowsKeepCalicoPeersOnly(t *testing.T) {
	protos := []bird.Protocol{
		{Name: "device1", Proto: "Device", State: "up"},
		{Name: "Mesh_172_17_8_102", Proto: "BGP", State: "up", Since: "23:30:04", Info: "Established"},
		{Name: "Global_10_0_0_9", Proto: "BGP", State: "start", Since: "23:30:04", Info: "Connect"},
		{Name: "Node_10_0_0_7_port_1179", Proto: "BGP", State: "up", Since: "23:30:05", Info: "Established"},
		{Name: "other", Proto: "BGP", State: "up"},
	}
	got := peerRows(protos, false)
	want := [][]string{
		{"172.17.8.102", "node-to-node mesh", "up", "23:30:04", "Established"},
		{"10.0.0.9", "global", "start", "23:30:04", "Connect"},
		{"10.0.0.7", "node specific", "up", "23:30:05", "Established"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if v6 := peerRows([]bird.Protocol{{Name: "Mesh_fd00__2", Proto: "BGP"}}, true); v6[0][0] != "fd00::2" {
		t.Errorf("IPv6 peer address: got %q", v6[0][0])
	}
}

func TestNodeStatusTableShape(t *testing.T) {
	var b bytes.Buffer
	writeBoxTable(&b, []string{"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"},
		[][]string{{"172.17.8.102", "node-to-node mesh", "up", "23:30:04", "Established"}})
	want := `+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 172.17.8.102 | node-to-node mesh | up    | 23:30:04 | Established |
+--------------+-------------------+-------+----------+-------------+
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestNodeStatusWithoutCalicoRunning(t *testing.T) {
	var b bytes.Buffer
	if code := nodeStatus(&b, t.TempDir(), func(func([]string) bool) bool { return false }); code != 1 || b.String() != "Calico process is not running.\n" {
		t.Errorf("got %d %q", code, b.String())
	}
}

func TestNodeStatusReadsARealBIRD(t *testing.T) {
	if _, err := exec.LookPath("bird"); err != nil || os.Getuid() != 0 || testing.Short() {
		t.Skip("needs root and bird installed")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bird.cfg")
	os.WriteFile(cfg, []byte("router id 10.255.0.1;\nprotocol device {}\n"+
		"protocol bgp Mesh_10_255_0_2 { local as 64512; neighbor 10.255.0.2 as 64512; passive on; }\n"), 0o644)
	cmd := exec.Command("bird", "-f", "-c", cfg, "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, "bird.ctl")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b bytes.Buffer
	code := nodeStatus(&b, dir, func(func([]string) bool) bool { return true })
	out := b.String()
	for _, want := range []string{"Calico process is running.", "IPv4 BGP status", "| 10.255.0.2   | node-to-node mesh | start |",
		"INFO: BIRDv6 process: 'bird6' is not running."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
}

func TestIsCalicoProcess(t *testing.T) {
	for _, c := range []struct {
		cmd  []string
		want bool
	}{
		{[]string{"/usr/bin/calico-node", "-felix"}, true},
		{[]string{"calico-node", "-confd"}, true},
		{[]string{"calico-node", "-startup"}, false},
		{[]string{"/usr/sbin/bird", "-c", "x"}, false},
		{[]string{"calico-felix"}, true},
	} {
		if got := isCalicoProcess(c.cmd); got != c.want {
			t.Errorf("%v: got %t", c.cmd, got)
		}
	}
}
