// Command birdcl is a small client for BIRD's control socket: `birdcl -s /var/run/calico/bird.ctl show protocols`
// runs one command; with no command it reads commands from standard input, one per line.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/calico-l3/calico/bird"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("birdcl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("s", "/var/run/calico/bird.ctl", "BIRD control socket")
	timeout := fs.Duration("t", 5*time.Second, "timeout for each reply")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: birdcl [-s SOCKET] [-t TIMEOUT] [COMMAND...]   (no COMMAND: read commands from stdin)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := bird.Dial(*socket, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "birdcl:", err)
		return 1
	}
	defer c.Close()
	if fs.NArg() > 0 {
		return command(c, strings.Join(fs.Args(), " "), stdout, stderr)
	}
	fmt.Fprintln(stdout, c.Banner)
	status := 0
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "quit" || line == "exit" {
			break
		}
		if command(c, line, stdout, stderr) != 0 {
			status = 1
		}
	}
	return status
}

// command prints a reply the way birdc does: the text of each line, without the codes.
func command(c *bird.Conn, cmd string, stdout, stderr io.Writer) int {
	lines, err := c.Command(cmd)
	for _, l := range lines {
		if l.Code == 0 && l.Text == "" {
			continue
		}
		fmt.Fprintln(stdout, l.Text)
	}
	if err != nil {
		fmt.Fprintln(stderr, "birdcl:", err)
		return 1
	}
	return 0
}
