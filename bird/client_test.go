package bird

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startBIRD runs a real BIRD with a configuration that touches nothing outside itself: no kernel protocol, and
// a passive BGP session that never sends a packet.
func startBIRD(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("bird")
	if err != nil {
		t.Skip("bird is not installed (apt-get install bird; `make test` installs it)")
	}
	if testing.Short() || os.Getuid() != 0 {
		t.Skip("BIRD needs root to start")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bird.cfg")
	sock := filepath.Join(dir, "bird.ctl")
	os.WriteFile(cfg, []byte(`router id 10.255.0.1;
protocol device { scan time 2; }
protocol static static1 { route 10.255.1.0/24 blackhole; }
protocol bgp Mesh_10_255_0_2 { local as 64512; neighbor 10.255.0.2 as 64512; passive on; import all; export none; }
`), 0o644)
	cmd := exec.Command(bin, "-f", "-c", cfg, "-s", sock, "-P", filepath.Join(dir, "bird.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("BIRD did not create its socket %s", sock)
	return ""
}

func TestShowProtocolsAgainstARealBIRD(t *testing.T) {
	sock := startBIRD(t)
	c, err := Dial(sock, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Banner == "" {
		t.Errorf("no greeting read")
	}
	protos, err := c.Protocols()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Protocol{}
	for _, p := range protos {
		byName[p.Name] = p
	}
	if p := byName["static1"]; p.Proto != "Static" || p.State != "up" {
		t.Errorf("static1: got %+v", p)
	}
	if p := byName["Mesh_10_255_0_2"]; p.Proto != "BGP" || p.State != "start" || p.Info == "" {
		t.Errorf("passive BGP peer should be in state start with info (e.g. Passive): got %+v", p)
	}
	if _, err := c.Command("show nonsense"); err == nil {
		t.Errorf("an unknown command should be an error")
	}
	lines, err := c.Command("show route")
	if err != nil || len(lines) == 0 {
		t.Errorf("show route: %v %v", lines, err)
	}
}

func TestParseProtocolsRejectsAnUnknownTableFormat(t *testing.T) {
	_, err := ParseProtocols([]Line{{Code: 2002, Text: "name proto state"}})
	if err == nil {
		t.Errorf("want an error for an unknown header")
	}
}

func TestDialToAMissingSocketNamesIt(t *testing.T) {
	_, err := Dial("/nonexistent/bird.ctl", time.Second)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/bird.ctl") {
		t.Errorf("got %v", err)
	}
}
