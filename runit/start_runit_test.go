// Tests of the entrypoint with stand-ins for calico-node and BIRD (shell scripts that sleep), so they need runit
// but neither root, etcd nor BIRD: which services each environment enables, that a failed startup enables none,
// and that SIGTERM stops every service before start_runit exits 0.
package runit_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakes writes calico-node, bird and bird6 stand-ins into dir. calico-node -startup stores the node name (or
// fails when told to); every daemon just sleeps, calico-node's after saying how it was started.
func fakes(t *testing.T, dir string) {
	t.Helper()
	scripts := map[string]string{
		"calico-node": `#!/bin/sh
case "$1" in
-startup)
	[ -n "$FAKE_STARTUP_FAILS" ] && { echo "level=ERROR msg=\"Calico node failed to start: no datastore\""; exit 1; }
	printf %s "$NODENAME" > "$CALICO_NODENAME_FILE"
	echo 'level=INFO msg="Calico node started successfully"' ;;
*) echo "calico-node $*"; exec sleep 600 ;;
esac
`,
		"bird":  "#!/bin/sh\nexec sleep 600\n",
		"bird6": "#!/bin/sh\nexec sleep 600\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// bgpServices are the services of the default (bird) backend, sorted as enabled lists them.
var bgpServices = []string{"allocate-tunnel-addrs", "bird", "bird6", "confd", "felix"}

type node struct {
	cmd        *exec.Cmd
	out        *bytes.Buffer
	serviceDir string
	logDir     string
	configDir  string
	exited     chan struct{} // closed when start_runit has exited, err then holds how
	err        error
}

// start runs start_runit with every path in a temporary directory and the given extra environment, after
// writing what confd would have rendered.
func start(t *testing.T, env ...string) *node {
	t.Helper()
	return startNode(t, true, env...)
}

func startNode(t *testing.T, rendered bool, env ...string) *node {
	t.Helper()
	if testing.Short() {
		t.Skip("runs runsvdir and its services")
	}
	for _, b := range []string{"runsvdir", "sv", "svlogd"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s is not installed (apt-get install runit; `make test` installs it)", b)
		}
	}
	dir := t.TempDir()
	bin, cfg := filepath.Join(dir, "bin"), filepath.Join(dir, "config")
	for _, d := range []string{bin, cfg} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fakes(t, bin)
	for _, f := range []string{"bird.cfg", "bird6.cfg"} {
		if !rendered {
			break
		}
		if err := os.WriteFile(filepath.Join(cfg, f), []byte("router id 10.0.0.1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wd, _ := os.Getwd()
	n := &node{out: &bytes.Buffer{}, serviceDir: filepath.Join(dir, "service"), logDir: filepath.Join(dir, "log"), configDir: cfg,
		exited: make(chan struct{})}
	n.cmd = exec.Command("/bin/sh", filepath.Join(wd, "start_runit"))
	n.cmd.Env = append([]string{
		"PATH=" + bin + ":" + os.Getenv("PATH"), "NODENAME=node1",
		"CALICO_NODENAME_FILE=" + filepath.Join(dir, "nodename"),
		"CALICO_SERVICE_AVAILABLE=" + wd, "CALICO_SERVICE_DIR=" + n.serviceDir,
		"CALICO_RUN_DIR=" + filepath.Join(dir, "run"), "CALICO_LOG_DIR=" + n.logDir, "CALICO_CONFD_CONFIG_DIR=" + cfg,
	}, env...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-n.exited:
			case <-time.After(15 * time.Second):
				_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			}
		}
		// Whatever a broken script left: runsv processes live in sessions of their own.
		for _, s := range bgpServices {
			_ = exec.Command("sv", "-w", "2", "force-stop", filepath.Join(n.serviceDir, s)).Run()
			_ = exec.Command("sv", "exit", filepath.Join(n.serviceDir, s)).Run()
		}
	})
	return n
}

// enabled lists the service directories start_runit created.
func (n *node) enabled() []string {
	entries, _ := os.ReadDir(n.serviceDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// pid is runit's pid of a running service, 0 until it runs.
func (n *node) pid(svc string) int {
	stat, _ := os.ReadFile(filepath.Join(n.serviceDir, svc, "supervise", "stat"))
	if strings.TrimSpace(string(stat)) != "run" {
		return 0
	}
	b, _ := os.ReadFile(filepath.Join(n.serviceDir, svc, "supervise", "pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (n *node) waitRunning(t *testing.T, services []string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := map[string]int{}
		for _, s := range services {
			if p := n.pid(s); p != 0 {
				pids[s] = p
			}
		}
		if len(pids) == len(services) {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected %v to run within 15s, running: %v; output:\n%s", services, pids, n.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestStartRunitEnablesTheServicesTheEnvironmentAsksFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
		says string // a line the script should print, if any
	}{
		{"enables felix, the tunnel address allocator, confd and both BIRDs by default", nil, bgpServices, ""},
		{"enables felix alone when the networking backend is none", []string{"CALICO_NETWORKING_BACKEND=none"}, []string{"felix"},
			"CALICO_NETWORKING_BACKEND is none - no BGP daemon running"},
		{"enables felix and the tunnel address allocator when the networking backend is vxlan", []string{"CALICO_NETWORKING_BACKEND=vxlan"},
			[]string{"allocate-tunnel-addrs", "felix"}, "CALICO_NETWORKING_BACKEND is vxlan - no BGP daemon running"},
		{"enables felix, the tunnel address allocator, confd and both BIRDs when the networking backend is bird",
			[]string{"CALICO_NETWORKING_BACKEND=bird"}, bgpServices, ""},
		{"leaves felix out when CALICO_DISABLE_FELIX is true", []string{"CALICO_DISABLE_FELIX=true"},
			[]string{"allocate-tunnel-addrs", "bird", "bird6", "confd"}, ""},
		{"keeps felix when CALICO_DISABLE_FELIX is false", []string{"CALICO_DISABLE_FELIX=false", "CALICO_NETWORKING_BACKEND=none"}, []string{"felix"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := start(t, tc.env...)
			n.waitRunning(t, tc.want)
			if got := n.enabled(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("enabled services = %v, want %v", got, tc.want)
			}
			if got := strings.Count(n.out.String(), "Calico node started successfully"); got != 1 {
				t.Errorf("\"Calico node started successfully\" should appear once, appeared %d times:\n%s", got, n.out)
			}
			if tc.says != "" && !strings.Contains(n.out.String(), tc.says) {
				t.Errorf("the output should say %q:\n%s", tc.says, n.out)
			}
		})
	}
}

func TestStartRunitWithoutFileLoggingDropsTheLogServices(t *testing.T) {
	n := start(t, "CALICO_DISABLE_FILE_LOGGING=true", "CALICO_NETWORKING_BACKEND=none")
	n.waitRunning(t, []string{"felix"})
	if _, err := os.Stat(filepath.Join(n.serviceDir, "felix", "log")); !os.IsNotExist(err) {
		t.Errorf("felix's log service should be left out, stat says %v", err)
	}
	if _, err := os.Stat(filepath.Join(n.logDir, "felix")); !os.IsNotExist(err) {
		t.Errorf("no log directory should be made, stat of %s says %v", filepath.Join(n.logDir, "felix"), err)
	}
}

func TestTheTunnelAddressAllocatorRunsContinuouslyAndLogsIntoItsOwnDirectory(t *testing.T) {
	n := start(t, "CALICO_NETWORKING_BACKEND=vxlan")
	n.waitRunning(t, []string{"allocate-tunnel-addrs"})
	current := filepath.Join(n.logDir, "allocate-tunnel-addrs", "current")
	waitFor(t, "calico-node -allocate-tunnel-addrs in "+current, func() (bool, string) {
		b, _ := os.ReadFile(current)
		return strings.Contains(string(b), "calico-node -allocate-tunnel-addrs\n"), string(b)
	})
}

func TestStartRunitRemovesTheServicesAnEarlierRunEnabled(t *testing.T) {
	serviceDir := filepath.Join(t.TempDir(), "service")
	for _, s := range bgpServices {
		if err := os.MkdirAll(filepath.Join(serviceDir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := start(t, "CALICO_NETWORKING_BACKEND=none", "CALICO_SERVICE_DIR="+serviceDir)
	n.serviceDir = serviceDir
	n.waitRunning(t, []string{"felix"})
	if got := n.enabled(); !reflect.DeepEqual(got, []string{"felix"}) {
		t.Errorf("with the backend none only felix should be left enabled, got %v", got)
	}
}

func TestStartRunitExitsWhenStartupFails(t *testing.T) {
	n := start(t, "FAKE_STARTUP_FAILS=1")
	select {
	case <-n.exited:
		var exit *exec.ExitError
		if !errors.As(n.err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("start_runit should exit 1 when startup fails, got %v", n.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("start_runit did not exit after a failed startup; output:\n%s", n.out)
	}
	if !strings.Contains(n.out.String(), "Calico node failed to start") {
		t.Errorf("the output should say the node failed to start:\n%s", n.out)
	}
	if got := n.enabled(); len(got) != 0 {
		t.Errorf("no service should be enabled after a failed startup, got %v", got)
	}
}

func TestSIGTERMStopsEveryServiceBeforeStartRunitExits(t *testing.T) {
	n := start(t)
	services := bgpServices
	pids := n.waitRunning(t, services)
	// runsv is the parent of each service; it must be gone too, or it would start the service again.
	var runsvs []int
	for _, s := range services {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pids[s]) + "/stat")
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			runsvs = append(runsvs, ppid)
		}
	}
	if err := syscall.Kill(n.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	select {
	case <-n.exited:
		if n.err != nil {
			t.Errorf("start_runit should exit 0 after SIGTERM, got %v; output:\n%s", n.err, n.out)
		}
		t.Logf("start_runit stopped everything and exited %s after SIGTERM", time.Since(began).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatalf("start_runit still runs 20s after SIGTERM; output:\n%s", n.out)
	}
	for s, pid := range pids {
		if alive(pid) {
			t.Errorf("%s (pid %d) still runs after start_runit exited", s, pid)
		}
	}
	for _, pid := range runsvs {
		if alive(pid) {
			t.Errorf("runsv (pid %d) still runs after start_runit exited", pid)
		}
	}
	if !strings.Contains(n.out.String(), "start_runit: stopped") {
		t.Errorf("start_runit should say it stopped:\n%s", n.out)
	}
}

func TestBIRDWaitsForConfdsConfigurationAndRunitRetriesWhenItIsLate(t *testing.T) {
	n := startNode(t, false, "BIRD_CONFIG_WAIT=1")
	// Nothing rendered: bird's run script gives up after BIRD_CONFIG_WAIT seconds, saying why, and runit retries.
	waitFor(t, "bird's log to say it gave up waiting", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(n.logDir, "bird", "current"))
		return strings.Count(string(b), "is confd running?") >= 2, string(b)
	})
	if err := os.WriteFile(filepath.Join(n.configDir, "bird.cfg"), []byte("router id 10.0.0.1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Once bird.cfg is there, the (stand-in) BIRD runs: the service's process is no longer the script.
	waitFor(t, "BIRD to run once bird.cfg exists", func() (bool, string) {
		pid := n.pid("bird")
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		return pid != 0 && strings.HasPrefix(string(cmdline), "sleep\x00600"), string(cmdline)
	})
	if pid := n.pid("bird6"); pid != 0 {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if strings.HasPrefix(string(cmdline), "sleep") {
			t.Errorf("bird6 should still wait for bird6.cfg, yet runs %q", cmdline)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 15s waiting for %s; last seen:\n%s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
