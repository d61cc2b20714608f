// Package bird talks to a running BIRD daemon over its control socket: it sends commands and parses the
// numbered reply lines. birdcl and `calicoctl node status` are built on it.
package bird

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Line is one reply line: its code (a continuation line carries the code of the line it continues) and text.
type Line struct {
	Code int
	Text string
}

// Conn is an open control-socket session.
type Conn struct {
	c       net.Conn
	r       *bufio.Reader
	timeout time.Duration
	Banner  string // e.g. "BIRD 1.6.8 ready."
}

// Dial connects to a BIRD control socket and reads its greeting.
func Dial(socket string, timeout time.Duration) (*Conn, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return nil, fmt.Errorf("connecting to BIRD at %s: %w", socket, err)
	}
	conn := &Conn{c: c, r: bufio.NewReader(c), timeout: timeout}
	lines, err := conn.readReply()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("reading BIRD greeting from %s: %w", socket, err)
	}
	if len(lines) > 0 {
		conn.Banner = lines[len(lines)-1].Text
	}
	return conn, nil
}

// Close ends the session.
func (c *Conn) Close() error { return c.c.Close() }

// Command sends one command and returns its reply lines. A BIRD error reply (codes 8000-9999) is an error.
func (c *Conn) Command(cmd string) ([]Line, error) {
	if strings.ContainsAny(cmd, "\n\r") {
		return nil, fmt.Errorf("a BIRD command is one line")
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write([]byte(cmd + "\n")); err != nil {
		return nil, fmt.Errorf("sending %q to BIRD: %w", cmd, err)
	}
	lines, err := c.readReply()
	if err != nil {
		return nil, fmt.Errorf("reading BIRD's reply to %q: %w", cmd, err)
	}
	for _, l := range lines {
		if l.Code >= 8000 {
			return lines, fmt.Errorf("BIRD refused %q: %s", cmd, l.Text)
		}
	}
	return lines, nil
}

// readReply reads lines until one whose code is followed by a space, which ends a reply.
func (c *Conn) readReply() ([]Line, error) {
	var lines []Line
	for {
		_ = c.c.SetReadDeadline(time.Now().Add(c.timeout))
		s, err := c.r.ReadString('\n')
		if err != nil {
			return lines, err
		}
		s = strings.TrimRight(s, "\n")
		if strings.HasPrefix(s, " ") {
			code := 0
			if len(lines) > 0 {
				code = lines[len(lines)-1].Code
			}
			lines = append(lines, Line{Code: code, Text: s[1:]})
			continue
		}
		if len(s) < 5 {
			return lines, fmt.Errorf("malformed reply line %q", s)
		}
		code, err := strconv.Atoi(s[:4])
		if err != nil {
			return lines, fmt.Errorf("malformed reply line %q", s)
		}
		lines = append(lines, Line{Code: code, Text: s[5:]})
		if s[4] == ' ' {
			return lines, nil
		}
	}
}

// Protocol is one row of `show protocols`.
type Protocol struct {
	Name, Proto, Table, State, Since, Info string
}

// Protocols runs `show protocols` and parses the table.
func (c *Conn) Protocols() ([]Protocol, error) {
	lines, err := c.Command("show protocols")
	if err != nil {
		return nil, err
	}
	return ParseProtocols(lines)
}

// ParseProtocols reads the reply to `show protocols`: a 2002 header naming the columns, then one row per protocol.
func ParseProtocols(lines []Line) ([]Protocol, error) {
	var out []Protocol
	header := false
	for _, l := range lines {
		switch {
		case l.Code == 2002:
			if strings.Join(strings.Fields(l.Text), " ") != "name proto table state since info" {
				return nil, fmt.Errorf("unknown BIRD table output format: %q", l.Text)
			}
			header = true
		case l.Code == 1002 && header:
			f := strings.Fields(l.Text)
			if len(f) < 5 {
				return nil, fmt.Errorf("unexpected protocol row %q", l.Text)
			}
			out = append(out, Protocol{Name: f[0], Proto: f[1], Table: f[2], State: f[3], Since: f[4], Info: strings.Join(f[5:], " ")})
		}
	}
	if !header {
		return nil, fmt.Errorf("no protocol table in BIRD's reply")
	}
	return out, nil
}
