package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/calico-l3/calico/ipam"
)

const ipamUsage = `Usage:
  calicoctl ipam show [--ip=<IP> | --show-blocks | --show-borrowed | --show-configuration]
  calicoctl ipam release --ip=<IP>
  calicoctl ipam check

show     prints each pool's size and use as a table; --show-blocks adds a row per block, --show-borrowed lists
         the addresses a node took from another node's block, --show-configuration prints the IPAM settings and
         --ip reports whether one address is in use and its attributes
release  releases one address whose workload is gone
check    reads all IPAM state at one revision and reports inconsistencies (exit 1 when there are any)
`

func runIPAM(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("ipam")
	ip := fs.String("ip", "", "")
	showBlocks := fs.Bool("show-blocks", false, "")
	showBorrowed := fs.Bool("show-borrowed", false, "")
	showConfig := fs.Bool("show-configuration", false, "")
	pos, code, ok := env.Parse(fs, args, ipamUsage)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return env.usageError(fmt.Errorf("ipam: expected one of show, release, check"))
	}
	shows := 0
	for _, set := range []bool{*ip != "", *showBlocks, *showBorrowed, *showConfig} {
		if set {
			shows++
		}
	}
	switch {
	case shows > 1 && pos[0] == "show":
		return env.usageError(errors.New("ipam show: --ip, --show-blocks, --show-borrowed and --show-configuration exclude each other"))
	case pos[0] != "show" && (*showBlocks || *showBorrowed || *showConfig):
		return env.usageError(fmt.Errorf("ipam %s: --show-blocks, --show-borrowed and --show-configuration belong to ipam show", pos[0]))
	}
	var addr net.IP
	if *ip != "" {
		if addr = net.ParseIP(*ip); addr == nil {
			return env.fail(fmt.Errorf("error with field IP = '%s' (not a valid IP address)", *ip))
		}
	}
	m, err := env.IPAM()
	if err != nil {
		return env.fail(err)
	}
	switch pos[0] {
	case "show":
		switch {
		case addr != nil:
			return ipamShowIP(ctx, env, m, addr)
		case *showBorrowed:
			return ipamShowBorrowed(ctx, env, m)
		case *showConfig:
			return ipamShowConfig(ctx, env, m)
		}
		return ipamShow(ctx, env, m, *showBlocks)
	case "release":
		if addr == nil {
			return env.usageError(fmt.Errorf("ipam release: --ip is required"))
		}
		return ipamRelease(ctx, env, m, addr)
	case "check":
		return ipamCheck(ctx, env, m)
	}
	return env.usageError(fmt.Errorf("ipam: unknown subcommand %q", pos[0]))
}

func (e *Env) fail(err error) int {
	fmt.Fprintf(e.Stderr, "%v\n", err)
	return 1
}

// ipamShow prints Calico's utilization table: a row per pool and, with showBlocks, a row per block after its
// pool's (blocks in no pool come last, without a pool row). This implementation has no IPReservation resource,
// so IPS RESERVED is always 0.
func ipamShow(ctx context.Context, env *Env, m *ipam.IPAM, showBlocks bool) int {
	usage, err := m.Utilization(ctx)
	if err != nil {
		return env.fail(fmt.Errorf("reading IPAM utilization: %w", err))
	}
	t := table{header: []string{"GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS RESERVED", "IPS FREE"}}
	for _, u := range usage {
		if u.CIDR.IsValid() {
			capacity, _ := new(big.Float).SetInt(u.Capacity).Float64()
			free, _ := new(big.Float).SetInt(u.Free).Float64()
			t.rows = append(t.rows, utilizationRow("IP Pool", u.CIDR.String(), capacity, float64(u.InUse), 0, free))
		}
		if !showBlocks {
			continue
		}
		for _, b := range u.BlockList {
			t.rows = append(t.rows, utilizationRow("Block", b.CIDR.String(), float64(b.Capacity), float64(b.InUse), 0,
				float64(b.Capacity-b.InUse)))
		}
	}
	return env.printed(t.render(env.Stdout))
}

// utilizationRow formats counts as Calico does: five significant digits (1.8447e+19 for a /64) and percentages of
// the capacity rounded to the nearest integer.
func utilizationRow(grouping, cidr string, capacity, inUse, reserved, free float64) []string {
	withPercent := func(n float64) string {
		return fmt.Sprintf("%.5g (%.f%%)", n, 100*n/capacity)
	}
	return []string{grouping, cidr, fmt.Sprintf("%.5g", capacity), withPercent(inUse), withPercent(reserved), withPercent(free)}
}

// ipamShowBorrowed prints the addresses nodes took from blocks affine to other nodes (or to none), with what
// holds them: a pod (namespace/name) or the allocation's "type" attribute (ipipTunnelAddress and the like).
func ipamShowBorrowed(ctx context.Context, env *Env, m *ipam.IPAM) int {
	borrowed, unclassified, err := m.Borrowed(ctx)
	if err != nil {
		return env.fail(fmt.Errorf("reading borrowed IP addresses: %w", err))
	}
	t := table{header: []string{"IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"}}
	for _, b := range borrowed {
		kind, to := "", ""
		if pod, ok := b.Attrs["pod"]; ok {
			kind, to = "pod", b.Attrs["namespace"]+"/"+pod
		} else if typ, ok := b.Attrs["type"]; ok {
			kind = typ
		}
		t.rows = append(t.rows, []string{b.Addr.String(), b.BorrowingNode, b.Block.String(), b.BlockOwner, kind, to})
	}
	if err := t.render(env.Stdout); err != nil {
		return env.printed(err)
	}
	if unclassified > 0 {
		fmt.Fprintf(env.Stdout, "\nNote: found %d IP allocations without an explicit node association. Unable to determine if they are borrowed.\n", unclassified)
	}
	return 0
}

// ipamShowConfig prints the IPAM configuration as Calico's PROPERTY/VALUE table. This implementation puts no
// limit on the blocks a host may claim, which Calico shows as MaxBlocksPerHost 0.
func ipamShowConfig(ctx context.Context, env *Env, m *ipam.IPAM) int {
	cfg, err := m.GetConfig(ctx)
	if err != nil {
		return env.fail(fmt.Errorf("error: reading IPAM configuration: %w", err))
	}
	t := table{header: []string{"PROPERTY", "VALUE"}, rows: [][]string{
		{"StrictAffinity", strconv.FormatBool(cfg.StrictAffinity)},
		{"AutoAllocateBlocks", strconv.FormatBool(cfg.AutoAllocateBlocks)},
		{"MaxBlocksPerHost", "0"},
	}}
	return env.printed(t.render(env.Stdout))
}

// ipamShowIP says whether an address is in use and lists its attributes in key order. An address that is not
// assigned, or lies in no pool, is reported as not assigned; like Calico, that is not a failure.
func ipamShowIP(ctx context.Context, env *Env, m *ipam.IPAM, ip net.IP) int {
	_, attrs, err := m.GetAssignmentAttributes(ctx, ip)
	switch {
	case errors.Is(err, ipam.ErrNotAssigned), errors.Is(err, ipam.ErrNotInPool):
		fmt.Fprintf(env.Stdout, "%s is not assigned\n", ip)
		return 0
	case err != nil:
		return env.fail(fmt.Errorf("reading the assignment of %s: %w", ip, err))
	}
	fmt.Fprintf(env.Stdout, "IP %s is in use\n", ip)
	if len(attrs) == 0 {
		fmt.Fprintln(env.Stdout, "No attributes defined")
		return 0
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(env.Stdout, "Attributes:")
	for _, k := range keys {
		fmt.Fprintf(env.Stdout, "  %s: %s\n", k, attrs[k])
	}
	return 0
}

func ipamRelease(ctx context.Context, env *Env, m *ipam.IPAM, ip net.IP) int {
	notAssigned, err := m.ReleaseIPs(ctx, []net.IP{ip})
	if err != nil {
		return env.fail(err)
	}
	if len(notAssigned) > 0 {
		fmt.Fprintf(env.Stderr, "IP address %s is not assigned\n", ip)
		return 1
	}
	fmt.Fprintf(env.Stdout, "Successfully released IP address %s\n", ip)
	return 0
}

func ipamCheck(ctx context.Context, env *Env, m *ipam.IPAM) int {
	r, err := m.Check(ctx)
	if err != nil {
		return env.fail(err)
	}
	fmt.Fprintf(env.Stdout, "Checked %d blocks, %d affinities, %d handles and %d allocated addresses.\n", r.Blocks, r.Affinities, r.Handles, r.Allocations)
	if r.OK() {
		fmt.Fprintln(env.Stdout, "No problems found.")
		return 0
	}
	fmt.Fprintf(env.Stdout, "Found %d problem(s):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(env.Stdout, "  "+p.String())
	}
	return 1
}

// table prints a table the way Calico's calicoctl does with github.com/olekukonko/tablewriter's defaults: ASCII
// borders, headers centred (the odd space of padding on the right), cells that are plain numbers right-aligned
// and all others left-aligned. A table without rows still prints its header and closing border.
type table struct {
	header []string
	rows   [][]string
}

// plainNumber is what tablewriter right-aligns: an integer or decimal, optionally signed or with thousands commas.
var plainNumber = regexp.MustCompile(`^[-+]?(?:\d{1,3}(?:,\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?)$`)

func (t table) render(w io.Writer) error {
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func() {
		for _, w := range widths {
			b.WriteString("+" + strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	row := func(cells []string, align func(cell string, gap int) (left, right int)) {
		for i, c := range cells {
			left, right := align(c, widths[i]-utf8.RuneCountInString(c))
			b.WriteString("| " + strings.Repeat(" ", left) + c + strings.Repeat(" ", right) + " ")
		}
		b.WriteString("|\n")
	}
	line()
	row(t.header, func(_ string, gap int) (int, int) { return gap / 2, gap - gap/2 })
	line()
	for _, r := range t.rows {
		row(r, func(c string, gap int) (int, int) {
			if plainNumber.MatchString(strings.TrimSpace(c)) {
				return gap, 0
			}
			return 0, gap
		})
	}
	line()
	_, err := io.WriteString(w, b.String())
	return err
}
