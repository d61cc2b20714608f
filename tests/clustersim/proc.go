package clustersim

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on every Linux architecture Go
// supports).
const clockTick = 10 * time.Millisecond

// ProcStat is a process's CPU time so far and its resident memory now.
type ProcStat struct {
	CPU time.Duration // user + system
	RSS int64         // bytes
}

// ReadProc reads the CPU time and RSS of process pid from /proc. The CPU time is the sum of its threads' run
// times in nanoseconds (/proc/<pid>/task/*/schedstat), since one policy write costs etcd less than the 10 ms
// tick /proc/<pid>/stat counts in; the tick count is the fallback where schedstat is missing.
func ReadProc(pid int) (ProcStat, error) {
	cpu, err := schedCPU(pid)
	if err != nil {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return ProcStat{}, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
		}
		if cpu, err = parseStatCPU(string(stat)); err != nil {
			return ProcStat{}, fmt.Errorf("process %d: %w", pid, err)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStat{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	rss, err := parseStatusRSS(string(status))
	if err != nil {
		return ProcStat{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return ProcStat{CPU: cpu, RSS: rss}, nil
}

// schedCPU sums the run time of the process's threads. A thread that has exited is no longer counted; Go
// programs such as etcd keep their threads.
func schedCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no schedstat for process %d", pid)
	}
	var total time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited meanwhile
		}
		d, err := parseSchedstat(string(b))
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// parseSchedstat returns the first field of a schedstat line: nanoseconds spent running.
func parseSchedstat(line string) (time.Duration, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty schedstat line")
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("unexpected schedstat line %q", line)
	}
	return time.Duration(ns), nil
}

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected CPU time %q in /proc stat", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStatusRSS returns VmRSS of a /proc/<pid>/status file, in bytes.
func parseStatusRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected VmRSS line %q", strings.TrimSpace(line))
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc status")
}

// FindChild returns the pid of the child of this process that runs program (its argv[0]'s base name) with arg
// among its arguments; the test etcd is found by its client URL, which is unique to it.
func FindChild(program, arg string) (int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue // it exited meanwhile
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if filepath.Base(argv[0]) != program || !slices.Contains(argv[1:], arg) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		if ppid, err := parseStatPPID(string(stat)); err == nil && ppid == self {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child process %s with argument %s", program, arg)
}

func parseStatPPID(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	return strconv.Atoi(f[1])
}

// Metrics fetches the Prometheus metrics of the server at endpoint (etcd serves them on its client URL at
// /metrics) and returns each metric's value, summed over its labels.
func Metrics(ctx context.Context, endpoint string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching metrics from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading metrics from %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics from %s: %s", endpoint, resp.Status)
	}
	return parseMetrics(body)
}

// parseMetrics reads the Prometheus text format: "name{labels} value [timestamp]" lines, '#' comments.
func parseMetrics(body []byte) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated labels in metric line %q", line)
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("no value in metric line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in metric line %q", line)
		}
		out[name] += v
	}
	return out, sc.Err()
}

// Names of etcd's metrics the benchmark reads (etcd 3.4 and later serve them).
const (
	WatchersMetric = "etcd_debugging_mvcc_watcher_total"
	StreamsMetric  = "etcd_debugging_mvcc_watch_stream_total"
	SentMetric     = "etcd_network_client_grpc_sent_bytes_total"
)

// WaitWatchers polls etcd's watcher count until it reaches want or timeout passes, and returns the last count.
// A datastore watch is registered just after its listing, so the count lags the nodes' sync a little.
func WaitWatchers(ctx context.Context, endpoint string, want float64, timeout time.Duration) (float64, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := Metrics(ctx, endpoint)
		if err != nil {
			return 0, err
		}
		if got := m[WatchersMetric]; got >= want || time.Now().After(deadline) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
