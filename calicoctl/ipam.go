package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"text/tabwriter"

	"github.com/calico-l3/calico/ipam"
)

const ipamUsage = `Usage:
  calicoctl ipam show [--show-blocks]
  calicoctl ipam show --ip=<IP>
  calicoctl ipam release --ip=<IP>
  calicoctl ipam check

show     prints each pool's size and use (--show-blocks adds every block, its host and use; --ip shows who holds an address)
release  releases one address whose workload is gone
check    reads all IPAM state at one revision and reports inconsistencies (exit 1 when there are any)
`

func runIPAM(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("ipam")
	ip := fs.String("ip", "", "")
	showBlocks := fs.Bool("show-blocks", false, "")
	pos, code, ok := env.Parse(fs, args, ipamUsage)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return env.usageError(fmt.Errorf("ipam: expected one of show, release, check"))
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
		if addr != nil {
			return ipamShowIP(ctx, env, m, addr)
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

func ipamShow(ctx context.Context, env *Env, m *ipam.IPAM, showBlocks bool) int {
	usage, err := m.Usage(ctx)
	if err != nil {
		return env.fail(err)
	}
	w := tabwriter.NewWriter(env.Stdout, 5, 1, 3, ' ', 0)
	fmt.Fprintln(w, "GROUPING\tCIDR\tIPS TOTAL\tIPS IN USE\tIPS FREE\t")
	for _, u := range usage {
		fmt.Fprintf(w, "IP Pool\t%s\t%s\t%d (%s)\t%s (%s)\t\n", u.CIDR, u.Capacity, u.InUse, percent(u.InUse, u.Capacity.Int64()), u.Free, percent(u.Free.Int64(), u.Capacity.Int64()))
		if !showBlocks {
			continue
		}
		blocks, err := m.Blocks(ctx)
		if err != nil {
			return env.fail(err)
		}
		sort.Slice(blocks, func(i, j int) bool { return blocks[i].CIDR.Addr().Less(blocks[j].CIDR.Addr()) })
		for _, b := range blocks {
			if b.Pool != u.Name {
				continue
			}
			host := b.Host
			if host == "" {
				host = "(no affinity)"
			}
			fmt.Fprintf(w, "Block\t%s\t%d\t%d (%s)\t%d (%s)\t%s\n", b.CIDR, b.Capacity, b.InUse, percent(int64(b.InUse), int64(b.Capacity)),
				b.Capacity-b.InUse, percent(int64(b.Capacity-b.InUse), int64(b.Capacity)), "affinity host:"+host)
		}
	}
	w.Flush()
	return 0
}

func percent(part, whole int64) string {
	if whole <= 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", part*100/whole)
}

func ipamShowIP(ctx context.Context, env *Env, m *ipam.IPAM, ip net.IP) int {
	handle, attrs, err := m.GetAssignmentAttributes(ctx, ip)
	switch {
	case errors.Is(err, ipam.ErrNotAssigned), errors.Is(err, ipam.ErrNotInPool):
		fmt.Fprintf(env.Stdout, "IP %s %s\n", ip, errText(err))
		return 1
	case err != nil:
		return env.fail(err)
	}
	fmt.Fprintf(env.Stdout, "IP %s is in use\n", ip)
	if handle != "" {
		fmt.Fprintf(env.Stdout, "Handle: %s\n", handle)
	}
	if len(attrs) == 0 {
		fmt.Fprintf(env.Stdout, "No attributes defined for IP %s\n", ip)
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

func errText(err error) string {
	if errors.Is(err, ipam.ErrNotInPool) {
		return "is not part of a configured pool"
	}
	return "is not assigned"
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
