package birdrestart

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultLimit is how many deleted workload interfaces a BIRD may have in its list before it is restarted. At a
// few thousand stale entries a stock BIRD 1.6 spends several times its first CPU on each scan; a restart costs
// the peers nothing while graceful restart holds.
const DefaultLimit = 2000

// Daemon is one BIRD process: its program name and the pid file BIRD writes (runit/bird/run starts it with -P
// beside its control socket), which names the running BIRD whatever supervises it.
type Daemon struct {
	Name    string // the program name, as /proc/<pid>/comm shows it: bird or bird6
	PidFile string // <control socket without .ctl>.pid
}

// Config says what to watch and when to restart.
type Config struct {
	Limit    int      // see Tracker.Limit
	Prefixes []string // workload interface name prefixes (felix's interface prefix)
	Daemons  []Daemon
	Log      *slog.Logger
}

// ConfigFromEnv reads BIRD_STALE_INTERFACE_LIMIT (DefaultLimit; 0 disables), FELIX_INTERFACEPREFIX (cali, or a
// comma-separated list, as felix reads it), and where BIRD's pid files are as runit/bird/run and runit/bird6/run
// put them: beside BIRD_CTL_SOCKET and BIRD6_CTL_SOCKET, by default bird.ctl and bird6.ctl in CALICO_RUN_DIR
// (/var/run/calico).
func ConfigFromEnv(getenv func(string) string, log *slog.Logger) (Config, error) {
	c := Config{Limit: DefaultLimit, Log: log}
	if v := strings.TrimSpace(getenv("BIRD_STALE_INTERFACE_LIMIT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("BIRD_STALE_INTERFACE_LIMIT=%q: want a count of interfaces, 0 to never restart BIRD", v)
		}
		c.Limit = n
	}
	prefixes := getenv("FELIX_INTERFACEPREFIX")
	if strings.TrimSpace(prefixes) == "" {
		prefixes = "cali"
	}
	for _, p := range strings.Split(prefixes, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.Prefixes = append(c.Prefixes, p)
		}
	}
	runDir := strings.TrimSpace(getenv("CALICO_RUN_DIR"))
	if runDir == "" {
		runDir = "/var/run/calico"
	}
	for _, d := range []struct{ name, sockVar string }{{"bird", "BIRD_CTL_SOCKET"}, {"bird6", "BIRD6_CTL_SOCKET"}} {
		sock := strings.TrimSpace(getenv(d.sockVar))
		if sock == "" {
			sock = filepath.Join(runDir, d.name+".ctl")
		}
		c.Daemons = append(c.Daemons, Daemon{Name: d.name, PidFile: strings.TrimSuffix(sock, ".ctl") + ".pid"})
	}
	return c, nil
}

// Run watches this network namespace's link deletions until ctx ends, restarting each BIRD whose Tracker says so.
// A broken netlink subscription (the socket's buffer overflowed under churn, say) is opened again; the deletions
// it missed go uncounted, which only delays a restart.
func Run(ctx context.Context, c Config) error {
	if c.Limit <= 0 {
		c.Log.Info("BIRD is never restarted for its stale interfaces (BIRD_STALE_INTERFACE_LIMIT=0)")
		return nil
	}
	c.Log.Info("Restarting BIRD once its list holds too many deleted workload interfaces",
		"limit", c.Limit, "prefixes", c.Prefixes)
	trackers := make([]Tracker, len(c.Daemons))
	for i := range trackers {
		trackers[i].Limit = c.Limit
	}
	for ctx.Err() == nil {
		updates := make(chan netlink.LinkUpdate, 256)
		err := netlink.LinkSubscribeWithOptions(updates, ctx.Done(), netlink.LinkSubscribeOptions{
			ReceiveBufferSize: 1 << 20,
			ErrorCallback: func(err error) {
				if ctx.Err() == nil {
					c.Log.Warn("Link subscription failed; deleted interfaces may go uncounted", "err", err)
				}
			},
		})
		if err != nil {
			return fmt.Errorf("subscribing to link updates: %w", err)
		}
		for u := range updates {
			if u.Header.Type != unix.RTM_DELLINK || u.Family == unix.AF_BRIDGE || !c.workload(u.Attrs().Name) {
				continue
			}
			for i, d := range c.Daemons {
				pid := d.pid()
				if restart, n := trackers[i].Deleted(pid, u.Attrs().Name); restart {
					c.restart(d, pid, n)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (c Config) workload(name string) bool {
	for _, p := range c.Prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// restart kills BIRD without letting it close its sessions, so its peers keep its routes (graceful restart);
// runit starts it again.
func (c Config) restart(d Daemon, pid, deleted int) {
	err := syscall.Kill(pid, syscall.SIGKILL)
	if err != nil {
		c.Log.Error("Cannot restart BIRD for its stale interfaces", "daemon", d.Name, "pid", pid, "deleted", deleted, "err", err)
		return
	}
	c.Log.Warn("Restarting BIRD: too many deleted interfaces in its list", "daemon", d.Name, "pid", pid,
		"deleted", deleted, "limit", c.Limit)
}

// pid is the running BIRD's pid, or 0 when runit runs none (not started, between restarts, or still the run
// script waiting for confd's first configuration).
func (d Daemon) pid() int {
	return pidOf(d.PidFile, d.Name)
}

// pidOf reads a runit pid file and returns the pid if that process runs the named program, else 0.
func pidOf(pidFile, name string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != name {
		return 0
	}
	return pid
}
