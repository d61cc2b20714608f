package calicoctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/calico-l3/calico/bird"
)

const nodeUsage = `Usage:
  calicoctl node status [--bird-socket-dir=<DIR>]

Shows this node's BGP peerings, read from BIRD's control sockets (bird.ctl for IPv4, bird6.ctl for IPv6) in
<DIR> (default /var/run/calico, or CALICO_BIRD_SOCKET_DIR). Must run on the node, as root.
`

func runNode(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("node")
	dir := fs.String("bird-socket-dir", "", "")
	pos, code, ok := env.Parse(fs, args, nodeUsage)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] != "status" {
		return env.usageError(fmt.Errorf("node: expected the subcommand 'status'"))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(env.Stderr, "Need super user privileges: Operation not permitted")
		return 1
	}
	if *dir == "" {
		*dir = env.Getenv("CALICO_BIRD_SOCKET_DIR")
	}
	if *dir == "" {
		*dir = "/var/run/calico"
	}
	return nodeStatus(env.Stdout, *dir, processRunning)
}

// nodeStatus prints whether Calico runs and one peer table per BIRD that answers on its socket.
func nodeStatus(w io.Writer, dir string, running func(match func(cmdline []string) bool) bool) int {
	if !running(isCalicoProcess) {
		fmt.Fprintln(w, "Calico process is not running.")
		return 1
	}
	fmt.Fprintln(w, "Calico process is running.")
	status := 0
	for _, fam := range []struct{ name, sock, birdName string }{{"IPv4", "bird.ctl", "bird"}, {"IPv6", "bird6.ctl", "bird6"}} {
		c, err := bird.Dial(filepath.Join(dir, fam.sock), 2*time.Second)
		if err != nil {
			fmt.Fprintf(w, "\nINFO: BIRDv%s process: '%s' is not running.\n", fam.name[3:], fam.birdName)
			continue
		}
		protos, err := c.Protocols()
		c.Close()
		fmt.Fprintf(w, "\n%s BGP status\n", fam.name)
		if err != nil {
			fmt.Fprintf(w, "Error querying BIRD: %v\n", err)
			status = 1
			continue
		}
		rows := peerRows(protos, fam.name == "IPv6")
		if len(rows) == 0 {
			fmt.Fprintf(w, "No %s peers found.\n", fam.name)
			continue
		}
		writeBoxTable(w, []string{"PEER ADDRESS", "PEER TYPE", "STATE", "SINCE", "INFO"}, rows)
	}
	fmt.Fprintln(w)
	return status
}

var peerName = regexp.MustCompile(`^(Global|Node|Mesh)_(.+)$`)

var peerTypes = map[string]string{"Mesh": "node-to-node mesh", "Global": "global", "Node": "node specific"}

// peerRows keeps BGP protocols named Mesh_/Global_/Node_<ip with _ for . or :> and turns them into table rows.
func peerRows(protos []bird.Protocol, v6 bool) [][]string {
	var rows [][]string
	for _, p := range protos {
		m := peerName.FindStringSubmatch(p.Name)
		if p.Proto != "BGP" || m == nil {
			continue
		}
		addr := m[2]
		if i := strings.Index(addr, "_port_"); i >= 0 {
			addr = addr[:i]
		}
		if v6 {
			addr = strings.ReplaceAll(addr, "_", ":")
		} else {
			addr = strings.ReplaceAll(addr, "_", ".")
		}
		rows = append(rows, []string{addr, peerTypes[m[1]], p.State, p.Since, p.Info})
	}
	return rows
}

// writeBoxTable draws the bordered table calicoctl users know from `node status`.
func writeBoxTable(w io.Writer, headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := "+"
	for _, wd := range widths {
		line += strings.Repeat("-", wd+2) + "+"
	}
	fmt.Fprintln(w, line)
	fmt.Fprint(w, "|")
	for i, h := range headers {
		pad := widths[i] - len(h)
		fmt.Fprintf(w, " %s%s%s |", strings.Repeat(" ", pad/2), h, strings.Repeat(" ", pad-pad/2))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, line)
	for _, r := range rows {
		fmt.Fprint(w, "|")
		for i, c := range r {
			fmt.Fprintf(w, " %-*s |", widths[i], c)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, line)
}

// isCalicoProcess matches felix and confd, whichever way they were started.
func isCalicoProcess(cmdline []string) bool {
	if len(cmdline) == 0 {
		return false
	}
	base := filepath.Base(cmdline[0])
	if base == "calico-felix" {
		return true
	}
	if base != "calico-node" {
		return false
	}
	for _, a := range cmdline[1:] {
		if a == "-felix" || a == "-confd" || a == "--felix" || a == "--confd" {
			return true
		}
	}
	return false
}

// processRunning scans /proc for a process whose command line matches.
func processRunning(match func([]string) bool) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			return true
		}
	}
	return false
}
