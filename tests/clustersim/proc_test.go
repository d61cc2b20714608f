package clustersim

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPUCountsFromTheLastParenthesis(t *testing.T) {
	// A command name with spaces and a parenthesis, as a process may name itself.
	line := "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 1000 123456 789"
	got, err := parseStatCPU(line)
	if err != nil || got != 325*clockTick {
		t.Fatalf("expected utime+stime 325 ticks (%s), got %s (err %v)", 325*clockTick, got, err)
	}
	if ppid, err := parseStatPPID(line); err != nil || ppid != 1 {
		t.Fatalf("expected parent pid 1, got %d (err %v)", ppid, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Fatal("expected an error for a line without a command name")
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tetcd\nVmPeak:\t  999 kB\nVmRSS:\t   2048 kB\nThreads:\t12\n"
	if got, err := parseStatusRSS(status); err != nil || got != 2048*1024 {
		t.Fatalf("expected 2 MiB, got %d (err %v)", got, err)
	}
	if _, err := parseStatusRSS("Name:\tzombie\n"); err == nil {
		t.Fatal("expected an error when VmRSS is missing")
	}
}

func TestParseSchedstat(t *testing.T) {
	if got, err := parseSchedstat("157739793 455876472 452\n"); err != nil || got != 157739793*time.Nanosecond {
		t.Fatalf("expected 157739793ns, got %s (err %v)", got, err)
	}
}

func TestReadProcOfThisProcessGrowsWithWork(t *testing.T) {
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = strings.Repeat("x", x%100)
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.CPU <= before.CPU || after.RSS <= 0 {
		t.Fatalf("expected CPU to grow and a positive RSS, got %+v then %+v", before, after)
	}
}

func TestFindChildFindsItByArgument(t *testing.T) {
	cmd := exec.Command("sleep", "30.4242")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid, err := FindChild("sleep", "30.4242")
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("expected pid %d, got %d (err %v)", cmd.Process.Pid, pid, err)
	}
	if _, err := FindChild("sleep", "30.4243"); err == nil {
		t.Fatal("expected no child with another argument")
	}
}

func TestParseMetricsSumsLabels(t *testing.T) {
	body := `# HELP etcd_debugging_mvcc_watcher_total Total number of watchers.
# TYPE etcd_debugging_mvcc_watcher_total gauge
etcd_debugging_mvcc_watcher_total 400
etcd_network_client_grpc_sent_bytes_total{type="x"} 1.5e+06
etcd_network_client_grpc_sent_bytes_total{type="y",le="a b}c"} 500000
process_start_time_seconds 1.7e+09 1700000000000
`
	got, err := parseMetrics([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"etcd_debugging_mvcc_watcher_total": 400,
		"etcd_network_client_grpc_sent_bytes_total": 2e6, "process_start_time_seconds": 1.7e9} {
		if got[name] != want {
			t.Errorf("%s: expected %g, got %g", name, want, got[name])
		}
	}
	if _, err := parseMetrics([]byte("no_value\n")); err == nil {
		t.Error("expected an error for a line without a value")
	}
}
