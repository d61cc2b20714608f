package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/calico-l3/calico/felix/desired"
)

// This file is the edge of the package: everything here reads or writes the kernel, through netlink, /proc/sys
// or the iptables, ipset and conntrack commands, always inside the configured network namespace.

const (
	iptablesRestore  = "iptables-restore"
	iptablesSave     = "iptables-save"
	ip6tablesRestore = "ip6tables-restore"
	ip6tablesSave    = "ip6tables-save"
	ipsetCmd         = "ipset"
)

// family is one IP family's iptables: the programs that read and write it and where its desired tables are.
// Everything else about programming iptables is the same for both.
type family struct {
	version       int    // 4 or 6
	iptables      string // "iptables" or "ip6tables", for messages and Report.Repaired
	save, restore string
	label         string // prefix of "table/chain" in reports: "" for IPv4, "ip6:" for IPv6
	ipsetFamily   string // the family of the ipsets its rules use: inet or inet6
}

var families = []family{
	{version: 4, iptables: "iptables", save: iptablesSave, restore: iptablesRestore, ipsetFamily: desired.FamilyInet},
	{version: 6, iptables: "ip6tables", save: ip6tablesSave, restore: ip6tablesRestore, label: "ip6:", ipsetFamily: desired.FamilyInet6},
}

// tablesOf returns the family's desired tables; nil means the family is left alone.
func (f family) tablesOf(st *desired.State) map[string]*desired.Table {
	if f.version == 6 {
		return st.Tables6
	}
	if st.Tables == nil {
		return map[string]*desired.Table{} // IPv4 is always felix's: no tables means none of felix's rules
	}
	return st.Tables
}

// inNS runs fn with the calling thread in the dataplane's network namespace, so that commands it starts and
// /proc/sys/net files it opens belong to that namespace.
func (d *Dataplane) inNS(fn func() error) error {
	if d.netns == nil {
		return fn()
	}
	return d.netns.Do(func(ns.NetNS) error { return fn() })
}

// run executes a command in the dataplane's namespace, records it in the report and returns its output. The
// error carries the command's stderr. The iptables programs are those of the chosen backend.
func (d *Dataplane) run(ctx context.Context, rep *Report, stdin string, program string, args ...string) (string, error) {
	return d.runTool(ctx, rep, stdin, d.tools, program, args...)
}

// runTool is run with the programs of a given backend.
func (d *Dataplane) runTool(ctx context.Context, rep *Report, stdin string, tools backendTools, program string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	start := time.Now()
	binary := program
	if b, ok := tools[program]; ok {
		binary = b
	}
	err := d.inNS(func() error {
		cmd := exec.CommandContext(ctx, binary, args...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		return cmd.Run()
	})
	rep.Execs = append(rep.Execs, Exec{Program: program, Binary: binary, Args: args, Duration: time.Since(start), Failed: err != nil})
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", binary, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// --- iptables

// readTables reads every table of a family with one iptables-save (or ip6tables-save) when any table is unknown
// to felix (first apply, after a failure) or on resync; otherwise it returns nil and the tables are planned
// against what felix last wrote. (With the nf_tables backend every iptables-save fetches the whole ruleset, so
// one read beats one per table.)
func (d *Dataplane) readTables(ctx context.Context, f family, names []string, resync bool, rep *Report) (map[string]tableState, error) {
	need := resync
	for _, name := range names {
		if _, known := d.tables[tableID{f.version, name}]; !known {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	out, err := d.run(ctx, rep, "", f.save)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.iptables, err)
	}
	tables, err := parseSave(out)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.iptables, err)
	}
	for _, name := range names {
		if _, ok := tables[name]; !ok {
			tables[name] = tableState{} // a table nobody has used yet
		}
		if then, known := d.tables[tableID{f.version, name}]; known {
			for _, c := range driftedChains(then, tables[name]) {
				rep.Repaired = append(rep.Repaired, f.iptables+" "+name+"/"+c)
				d.log.Warn("iptables chain changed behind felix's back", "iptables", f.iptables, "table", name, "chain", c)
			}
		}
	}
	return tables, nil
}

// syncTable makes one table of a family match with at most one iptables-restore. now is the table as just read,
// or nil to plan against what felix last wrote.
func (d *Dataplane) syncTable(ctx context.Context, f family, table string, want renderedTable, now tableState, rep *Report) error {
	id := tableID{f.version, table}
	have, fresh := now, now != nil
	if !fresh {
		have = d.tables[id]
	}
	p := planTable(table, want, have)
	if len(p.hooked) > 0 && !fresh {
		// Hooks share kernel chains with other programs' rules, which felix does not follow between reads; it
		// deletes its old hooks by position, so it reads the positions first.
		now, err := d.readTable(ctx, f, table, rep)
		if err != nil {
			delete(d.tables, id)
			return err
		}
		have, fresh = now, true
		p = planTable(table, want, have)
	}
	if p.script != "" {
		err := d.restoreStages(ctx, d.tools, f, table, p, rep)
		if err != nil && !fresh {
			// Perhaps someone changed the table since felix last read it; read it and try once more.
			d.log.Warn("iptables-restore failed; rereading the table and retrying", "iptables", f.iptables, "table", table, "err", err)
			now, rerr := d.readTable(ctx, f, table, rep)
			if rerr == nil {
				p = planTable(table, want, now)
				err = d.restoreStages(ctx, d.tools, f, table, p, rep)
			}
		}
		if err != nil {
			delete(d.tables, id)
			return err
		}
	}
	d.tables[id] = p.after
	for _, c := range p.written {
		rep.ChainsWritten = append(rep.ChainsWritten, f.label+table+"/"+c)
	}
	for _, c := range p.hooked {
		rep.HooksWritten = append(rep.HooksWritten, f.label+table+"/"+c)
	}
	for _, c := range p.deleted {
		rep.ChainsDeleted = append(rep.ChainsDeleted, f.label+table+"/"+c)
	}
	if p.script != "" {
		d.log.Info("iptables table written", "iptables", f.iptables, "table", table, "chainsWritten", len(p.written),
			"hooksWritten", len(p.hooked), "chainsDeleted", len(p.deleted))
	}
	return nil
}

func (d *Dataplane) readTable(ctx context.Context, f family, table string, rep *Report) (tableState, error) {
	out, err := d.run(ctx, rep, "", f.save, "-t", table)
	if err != nil {
		return nil, fmt.Errorf("reading %s table %s: %w", f.iptables, table, err)
	}
	tables, err := parseSave(out)
	if err != nil {
		return nil, fmt.Errorf("reading %s table %s: %w", f.iptables, table, err)
	}
	if st, ok := tables[table]; ok {
		return st, nil
	}
	return tableState{}, nil
}

// restoreStages runs a plan with a backend's programs: its one transaction, or its stages in order when it has
// them.
func (d *Dataplane) restoreStages(ctx context.Context, tools backendTools, f family, table string, p tablePlan, rep *Report) error {
	if len(p.stages) == 0 {
		return d.restore(ctx, tools, f, table, p.script, rep)
	}
	for i, script := range p.stages {
		if err := d.restore(ctx, tools, f, table, script, rep); err != nil {
			return fmt.Errorf("stage %d of %d: %w", i+1, len(p.stages), err)
		}
	}
	return nil
}

var failedLine = regexp.MustCompile(`line:? (\d+)`)

// restore runs one iptables-restore (or ip6tables-restore) transaction. On failure the error quotes the script
// line it names.
func (d *Dataplane) restore(ctx context.Context, tools backendTools, f family, table, script string, rep *Report) error {
	_, err := d.runTool(ctx, rep, script, tools, f.restore, "--noflush", "--wait")
	if err == nil {
		return nil
	}
	if m := failedLine.FindStringSubmatch(err.Error()); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			if lines := strings.Split(script, "\n"); n <= len(lines) {
				err = fmt.Errorf("%w (line %d: %s)", err, n, lines[n-1])
			}
		}
	}
	return fmt.Errorf("writing %s table %s: %w", f.iptables, table, err)
}

// --- ipsets

// syncIPSetsBefore creates and updates felix's ipsets; stale ones are destroyed by syncIPSetsAfter once iptables
// no longer refers to them. Stale sets of a family whose iptables felix leaves alone are kept, since rules there
// may still use them.
func (d *Dataplane) syncIPSetsBefore(ctx context.Context, st *desired.State, resync bool, rep *Report) (ipsetPlan, error) {
	want := st.IPSets
	leave := func(setFamily string) bool {
		for _, f := range families {
			if f.ipsetFamily == setFamily && f.tablesOf(st) == nil {
				return true
			}
		}
		return false
	}
	if len(want) == 0 {
		if _, err := exec.LookPath(ipsetCmd); err != nil {
			return ipsetPlan{after: ipsetState{}}, nil // no ipset tool, and nothing to do with it
		}
	}
	if resync || d.sets == nil {
		out, err := d.run(ctx, rep, "", ipsetCmd, "save")
		if err != nil {
			d.sets = nil
			return ipsetPlan{}, fmt.Errorf("reading ipsets: %w", err)
		}
		now, err := parseIPSetSave(out)
		if err != nil {
			d.sets = nil
			return ipsetPlan{}, fmt.Errorf("reading ipsets: %w", err)
		}
		if d.sets != nil {
			for _, name := range driftedSets(d.sets, now) {
				rep.Repaired = append(rep.Repaired, "ipset "+name)
				d.log.Warn("ipset changed behind felix's back", "set", name)
			}
		}
		d.sets = now
	}
	p, err := planIPSets(want, d.sets, d.cfg.IPSetMaxElem, leave, &d.wanted)
	if err != nil {
		return ipsetPlan{}, err
	}
	if len(p.edits) > 0 && d.editSets(p.edits, rep) {
		d.log.Info("ipsets written", "sets", p.written, "members", len(p.edits))
	} else if p.update != "" {
		if _, err := d.run(ctx, rep, p.update, ipsetCmd, "restore"); err != nil {
			d.sets = nil
			return ipsetPlan{}, fmt.Errorf("writing ipsets: %w", err)
		}
		d.log.Info("ipsets written", "sets", p.written)
	}
	rep.IPSetsWritten = append(rep.IPSetsWritten, p.written...)
	return p, nil
}

// editSets makes member edits through netlink, one request each, sparing the exec of ipset for the few members
// an endpoint change brings. It says whether all went through; if not, the caller runs the same change through
// ipset restore, which (like these edits) does not mind members already added or deleted.
func (d *Dataplane) editSets(edits []memberEdit, rep *Report) bool {
	start := time.Now()
	defer func() { rep.IPSetNetlinkTime += time.Since(start) }()
	for _, e := range edits {
		entry, err := e.entry()
		if err == nil {
			if e.add {
				err = d.nl.IpsetAdd(e.set, entry)
			} else {
				err = d.nl.IpsetDel(e.set, entry)
			}
		}
		if err != nil {
			d.log.Warn("ipset member edit through netlink failed; writing the change with ipset restore", "set", e.set,
				"member", e.member, "add", e.add, "err", err)
			return false
		}
	}
	return true
}

func (d *Dataplane) syncIPSetsAfter(ctx context.Context, p ipsetPlan, rep *Report) error {
	if p.destroy != "" {
		if _, err := d.run(ctx, rep, p.destroy, ipsetCmd, "restore"); err != nil {
			d.sets = nil
			return fmt.Errorf("destroying stale ipsets: %w", err)
		}
		d.log.Info("stale ipsets destroyed", "sets", p.deleted)
		rep.IPSetsDeleted = append(rep.IPSetsDeleted, p.deleted...)
	}
	d.sets = p.after
	return nil
}

// --- links, tunnel and sysctls

// syncTunnel makes the IPIP device match (see planTunnel).
func (d *Dataplane) syncTunnel(want *desired.Tunnel, rep *Report) error {
	name := DefaultTunnelName
	if want != nil && want.Name != "" {
		name = want.Name
	}
	// Looked up directly rather than in the link table: felix's own last change may not have arrived there yet.
	var obs linkObs
	link, err := d.nl.LinkByName(name)
	switch {
	case err == nil:
		a := link.Attrs()
		obs = linkObs{Exists: true, Up: a.Flags&net.FlagUp != 0, MTU: a.MTU}
		var addrs []netlink.Addr
		err := retryDump(func() (err error) { addrs, err = d.nl.AddrList(link, netlink.FAMILY_V4); return err })
		if err != nil {
			return fmt.Errorf("listing addresses of %s: %w", name, err)
		}
		for _, ad := range addrs {
			if p, ok := ipNetToPrefix(ad.IPNet); ok {
				obs.Addrs = append(obs.Addrs, p)
			}
		}
	case !isGone(err):
		return fmt.Errorf("looking up %s: %w", name, err)
	}
	p := planTunnel(obs, want)
	if p.empty() {
		return nil
	}
	note := func(change string) {
		rep.TunnelChanges = append(rep.TunnelChanges, change)
		d.log.Info("tunnel changed", "device", name, "change", change)
	}
	if p.Create {
		err := d.nl.LinkAdd(&netlink.Iptun{LinkAttrs: netlink.LinkAttrs{Name: name}})
		// Creating the first ipip device loads the module, whose fallback device tunl0 may then already exist.
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating IPIP device %s: %w", name, err)
		}
		if link, err = d.nl.LinkByName(name); err != nil {
			return fmt.Errorf("finding IPIP device %s after creating it: %w", name, err)
		}
		d.noteLink(link)
		note("created")
	}
	return d.applyDevice(link, name, p.MTU, p.DelAddrs, p.Down, p.Up, p.AddAddr, note)
}

// applyDevice makes the changes both felix devices (tunl0, vxlan.calico) share, in an order that never leaves a
// stale address up: MTU (0: leave it), stale addresses out, down or up, then the wanted address in. Each change is
// passed to note.
func (d *Dataplane) applyDevice(link netlink.Link, name string, mtu int, delAddrs []netip.Prefix, down, up bool,
	addAddr netip.Prefix, note func(string)) error {
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := d.nl.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("setting MTU %d on %s: %w", mtu, name, err)
		}
		note("mtu " + strconv.Itoa(mtu))
	}
	for _, a := range delAddrs {
		if err := d.nl.AddrDel(link, &netlink.Addr{IPNet: prefixToIPNet(a)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("removing address %s from %s: %w", a, name, err)
		}
		note("removed address " + a.String())
	}
	if down {
		if err := d.nl.LinkSetDown(link); err != nil {
			return fmt.Errorf("setting %s down: %w", name, err)
		}
		note("down")
	}
	if up {
		if err := d.nl.LinkSetUp(link); err != nil {
			return fmt.Errorf("setting %s up: %w", name, err)
		}
		note("up")
	}
	if addAddr.IsValid() {
		if err := d.nl.AddrAdd(link, &netlink.Addr{IPNet: prefixToIPNet(addAddr)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding address %s to %s: %w", addAddr, name, err)
		}
		note("address " + addAddr.String())
	}
	return nil
}

// ifaceSysctls are the sysctls felix wrote or found on one incarnation (index) of an interface, so a recreated
// interface is written again.
type ifaceSysctls struct {
	ifindex int
	values  map[string]string // trimmed
	// given is the desired map the values were last found equal to. A desired state is never changed once applied,
	// so the same map handed again (an unchanged endpoint's, apply after apply) needs no comparing; a resync forgets
	// every interface's values and compares afresh.
	given map[string]string
}

// sameMap says whether a and b are the very same map (not merely equal); two nil maps are not.
func sameMap(a, b map[string]string) bool {
	return a != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// sameSysctls says whether the desired values are those remembered (trimmed).
func sameSysctls(memo, want map[string]string) bool {
	if len(memo) != len(want) {
		return false
	}
	for p, v := range want {
		if m, ok := memo[p]; !ok || m != strings.TrimSpace(v) {
			return false
		}
	}
	return true
}

// syncSysctls writes the host-wide sysctls and those of every desired interface that exists, each only when the
// kernel's value differs. An interface whose values felix already wrote is not read again until the next resync:
// an apply at 10,000 interfaces only compares each interface's few values with what it remembers.
func (d *Dataplane) syncSysctls(st *desired.State, links map[string]linkInfo, rep *Report) error {
	var pending []sysctlItem
	for _, p := range sortedKeys(st.Sysctls) {
		if v, ok := d.sysctl[p]; !ok || v != strings.TrimSpace(st.Sysctls[p]) {
			pending = append(pending, sysctlItem{p, st.Sysctls[p], 0})
		}
	}
	for p := range d.sysctl {
		if _, ok := st.Sysctls[p]; !ok {
			delete(d.sysctl, p)
		}
	}
	for key := range d.ifSysctl {
		if _, ok := st.Interfaces[key]; !ok {
			delete(d.ifSysctl, key)
		}
	}
	var todo, waiting []string // interfaces (keys of st.Interfaces)
	for key, iface := range st.Interfaces {
		l, ok := links[ifaceName(key, iface)]
		switch m, known := d.ifSysctl[key]; {
		case !ok:
			waiting = append(waiting, key)
		case !known || m.ifindex != l.index:
			todo = append(todo, key)
		case sameMap(m.given, iface.Sysctls):
		case sameSysctls(m.values, iface.Sysctls):
			m.given = iface.Sysctls
			d.ifSysctl[key] = m
		default:
			todo = append(todo, key)
		}
	}
	slices.Sort(waiting)
	for _, key := range waiting {
		rep.InterfacesWaiting = append(rep.InterfacesWaiting, ifaceName(key, st.Interfaces[key]))
	}
	slices.Sort(todo)
	for _, key := range todo {
		iface := st.Interfaces[key]
		delete(d.ifSysctl, key) // remembered again once all its values are ensured
		for _, p := range sortedKeys(iface.Sysctls) {
			pending = append(pending, sysctlItem{p, iface.Sysctls[p], links[ifaceName(key, iface)].index})
		}
	}
	if len(pending) == 0 {
		return nil
	}
	results, err := d.ensureSysctls(pending)
	errs := []error{err}
	failed := map[int]bool{} // interfaces (by index) with a value not ensured
	for i, it := range pending {
		r := results[i]
		switch {
		case !r.done: // its thread could not enter the namespace; err says so
			failed[it.ifindex] = true
			continue
		case r.err != nil:
			errs = append(errs, r.err)
			failed[it.ifindex] = true
			continue
		}
		if it.ifindex == 0 {
			d.sysctl[it.path] = strings.TrimSpace(it.value)
		}
		if r.set {
			rep.SysctlsSet = append(rep.SysctlsSet, it.path+"="+it.value)
			d.log.Info("sysctl set", "path", it.path, "value", it.value)
		}
	}
	for _, key := range todo {
		iface := st.Interfaces[key]
		idx := links[ifaceName(key, iface)].index
		if failed[idx] {
			continue
		}
		values := make(map[string]string, len(iface.Sysctls))
		for p, v := range iface.Sysctls {
			values[p] = strings.TrimSpace(v)
		}
		d.ifSysctl[key] = ifaceSysctls{ifindex: idx, values: values, given: iface.Sysctls}
	}
	return errors.Join(errs...)
}

// ifaceName is the name of the desired interface st.Interfaces[key].
func ifaceName(key string, iface desired.Interface) string {
	if iface.Name != "" {
		return iface.Name
	}
	return key
}

// sysctlWorkers caps the threads that ensure interface sysctls at once.
const sysctlWorkers = 4

// sysctlItem is one sysctl to ensure; ifindex is 0 for a host-wide one.
type sysctlItem struct {
	path, value string
	ifindex     int
}

// sysctlResult is what ensuring one sysctl did; done is false when it was not attempted.
type sysctlResult struct {
	done, set bool
	err       error
}

// ensureSysctls ensures items in the dataplane's namespace and says what each did. Each sysctl costs a path walk
// in /proc/sys and a few syscalls, so a cold start at 10,000 interfaces (40,000 sysctls) spends seconds here on
// one thread. The host-wide items (ifindex 0) go first, on one thread, since they may change every interface's
// value (ip_forward sets each one's forwarding); then the interfaces are shared among up to sysctlWorkers
// threads, the items of one interface in order on one thread. The error is that of entering the namespace.
func (d *Dataplane) ensureSysctls(items []sysctlItem) ([]sysctlResult, error) {
	results := make([]sysctlResult, len(items))
	ensure := func(run []int) {
		for _, i := range run {
			set, err := ensureSysctl(items[i].path, items[i].value)
			results[i] = sysctlResult{done: true, set: set, err: err}
		}
	}
	var host []int
	var ifaces [][]int // indexes of items, one slice per interface
	for i, it := range items {
		switch {
		case it.ifindex == 0:
			host = append(host, i)
		case len(ifaces) > 0 && items[i-1].ifindex == it.ifindex:
			ifaces[len(ifaces)-1] = append(ifaces[len(ifaces)-1], i)
		default:
			ifaces = append(ifaces, []int{i})
		}
	}
	var errs []error
	if len(host) > 0 {
		errs = append(errs, d.inNS(func() error { ensure(host); return nil }))
	}
	var taken atomic.Int64 // interfaces handed out to threads
	threadErrs := make([]error, min(sysctlWorkers, runtime.GOMAXPROCS(0), len(ifaces)))
	var wg sync.WaitGroup
	for w := range threadErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			threadErrs[w] = d.inNS(func() error {
				for k := taken.Add(1) - 1; k < int64(len(ifaces)); k = taken.Add(1) - 1 {
					ensure(ifaces[k])
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return results, errors.Join(append(errs, threadErrs...)...)
}

// ensureSysctl writes value to /proc/sys/<rel> unless it already holds it; set says whether it wrote. It opens
// the file once for reading and writing, and reads and writes it with bare syscalls: os.ReadFile and
// os.WriteFile add an open, fstat calls and a second read per file, which at tens of thousands of sysctls cost
// more than the reads and writes themselves.
func ensureSysctl(rel, value string) (set bool, err error) {
	clean := path.Clean(rel)
	if rel == "" || path.IsAbs(rel) || clean != rel || strings.HasPrefix(clean, "..") {
		return false, fmt.Errorf("invalid sysctl path %q (want a path below /proc/sys like net/ipv4/ip_forward)", rel)
	}
	file := "/proc/sys/" + clean
	fd, err := openSysctl(file, unix.O_RDWR)
	readOnly := errors.Is(err, unix.EACCES) // a read-only sysctl: fine as long as it holds the value
	if readOnly {
		fd, err = openSysctl(file, unix.O_RDONLY)
	}
	if err != nil {
		return false, fmt.Errorf("reading sysctl %s: %w", rel, err)
	}
	defer unix.Close(fd)
	cur, err := readSysctl(fd, file)
	if err != nil {
		return false, fmt.Errorf("reading sysctl %s: %w", rel, err)
	}
	if strings.TrimSpace(cur) == strings.TrimSpace(value) {
		return false, nil
	}
	if readOnly {
		return false, fmt.Errorf("setting sysctl %s=%s: it is read-only (and %s)", rel, value, strings.TrimSpace(cur))
	}
	if err := writeSysctl(fd, file, value); err != nil {
		return false, fmt.Errorf("setting sysctl %s=%s: %w", rel, value, err)
	}
	return true, nil
}

// readSysctl returns the content of an open /proc/sys file.
func readSysctl(fd int, file string) (string, error) {
	var buf [128]byte
	var out []byte
	for {
		n, err := unix.Read(fd, buf[:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return "", &os.PathError{Op: "read", Path: file, Err: err}
		case n == 0:
			return string(out), nil
		}
		out = append(out, buf[:n]...)
	}
}

// writeSysctl writes value to an open /proc/sys file from its start, with one write, as the kernel parses it.
func writeSysctl(fd int, file, value string) error {
	n, err := unix.Pwrite(fd, []byte(value), 0)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Pwrite(fd, []byte(value), 0)
	}
	switch {
	case err != nil:
		return &os.PathError{Op: "write", Path: file, Err: err}
	case n != len(value):
		return &os.PathError{Op: "write", Path: file, Err: io.ErrShortWrite}
	}
	return nil
}

func openSysctl(file string, mode int) (int, error) {
	for {
		fd, err := unix.Open(file, mode|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: file, Err: err}
		}
		return fd, nil
	}
}

// --- routes

// syncRoutes makes felix's routes match and flushes conntrack for workload addresses whose route went away.
//
// felix plans against its memory of its routes (d.routes) rather than listing the routing table on every apply:
// at 10,000 workloads the listing costs far more than the one route an apply usually changes. The memory follows
// what felix wrote and the routes the kernel removed with their links (links.downed). The routes are listed
// when fresh is set (Resync, RefreshRoutes), when the memory is unknown (first apply, after a failure, after a
// gap in the link events), and once more when a write fails against the memory: perhaps someone changed felix's
// routes since it last listed them. (So while a route of another protocol holds a destination felix wants, every
// apply lists the routes, as every apply did before felix remembered them.)
func (d *Dataplane) syncRoutes(ctx context.Context, want []desired.Route, links linkView, fresh bool, rep *Report) error {
	if !links.followed {
		d.routes = nil
	}
	if gone := d.routes.forgetRoutesVia(links.downed); gone > 0 {
		d.log.Debug("routes removed by the kernel with their links", "routes", gone)
	}
	read := fresh || d.routes == nil
	var flush []netip.Addr
	for retried := false; ; retried = true {
		have, doubles := d.routes, []kernelRoute(nil)
		if read {
			listed, err := d.listRoutes()
			if err != nil {
				d.routes = nil
				return err
			}
			if d.routes != nil && !retried {
				for _, dst := range driftedRoutes(d.routes, listed) {
					rep.Repaired = append(rep.Repaired, "route "+dst.String())
					d.log.Warn("route changed behind felix's back", "dst", dst.String())
				}
			}
			have, doubles = indexRoutes(listed)
		}
		p, err := planRoutes(want, have, links.byName)
		if err != nil {
			return fmt.Errorf("planning routes: %w", err)
		}
		res := d.writeRoutes(p, doubles, have, rep)
		flush = append(flush, res.flush...)
		if !read && (len(res.errs) > 0 || len(res.conflicts) > 0) {
			level := slog.LevelDebug // a conflict is reported, and warned of, after the retry
			if len(res.errs) > 0 {
				level = slog.LevelWarn
			}
			d.log.Log(ctx, level, "writing routes failed; listing them and retrying", "err", errors.Join(res.errs...),
				"conflicts", len(res.conflicts))
			read = true
			continue
		}
		for _, r := range p.Skipped {
			rep.RoutesWaiting = append(rep.RoutesWaiting, fmt.Sprintf("%s dev %s", r.Dst, r.Iface))
		}
		for _, r := range res.conflicts {
			rep.RouteConflicts = append(rep.RouteConflicts, r.String())
			d.log.Warn("route not added: a route of another protocol holds the destination", "route", r.String())
		}
		d.routes = have
		if len(res.errs) > 0 {
			d.routes = nil // what a failed write left is unknown
		}
		if len(flush) > 0 {
			d.flushConntrack(flush, rep)
		}
		return errors.Join(res.errs...)
	}
}

// routeWrites is what carrying out a route plan did besides what it reported.
type routeWrites struct {
	errs      []error
	conflicts []kernelRoute // routes not added: a route of another protocol holds the destination
	flush     []netip.Addr  // workload addresses whose route went away or moved
}

// writeRoutes removes the doubles (second felix routes for a destination), then carries out a route plan,
// reporting each route it removed, replaced or added and recording it in have. One route failing does not stop
// the others.
func (d *Dataplane) writeRoutes(p routePlan, doubles []kernelRoute, have routeTable, rep *Report) routeWrites {
	var w routeWrites
	ops := make([]routeOp, 0, len(doubles)+len(p.Del)+len(p.Replace)+len(p.Add))
	for _, r := range doubles {
		ops = append(ops, routeOp{opDelete, r})
	}
	for _, r := range p.Del {
		ops = append(ops, routeOp{opDelete, r})
	}
	for _, c := range p.Replace {
		ops = append(ops, routeOp{opReplace, c.New})
	}
	for _, r := range p.Add {
		ops = append(ops, routeOp{opAdd, r})
	}
	if len(ops) == 0 {
		return w
	}
	errs := d.sendRoutes(ops)
	for i, op := range ops {
		r, err := op.route, errs[i]
		switch {
		case i < len(doubles):
			if err != nil && !errors.Is(err, unix.ESRCH) && !isGone(err) {
				w.errs = append(w.errs, fmt.Errorf("removing route %s: %w", r, err))
				continue
			}
			rep.RoutesRemoved = append(rep.RoutesRemoved, r.String())
			d.log.Info("route removed", "route", r.String())
		case op.kind == opDelete:
			if err != nil && !errors.Is(err, unix.ESRCH) && !isGone(err) { // ESRCH, ENODEV: gone already
				w.errs = append(w.errs, fmt.Errorf("removing route %s: %w", r, err))
				continue
			}
			delete(have, r.Dst)
			rep.RoutesRemoved = append(rep.RoutesRemoved, r.String())
			d.log.Info("route removed", "route", r.String())
			if r.isWorkload() {
				w.flush = append(w.flush, r.Dst.Addr())
			}
		case op.kind == opReplace:
			old := have[r.Dst]
			if err != nil {
				if isGone(err) {
					d.invalidateLinks()
				}
				w.errs = append(w.errs, fmt.Errorf("replacing route %s with %s: %w", old, r, err))
				continue
			}
			have[r.Dst] = r
			rep.RoutesReplaced = append(rep.RoutesReplaced, r.String())
			d.log.Info("route replaced", "old", old.String(), "new", r.String())
			if old.isWorkload() {
				w.flush = append(w.flush, old.Dst.Addr())
			}
		case errors.Is(err, unix.EEXIST):
			w.conflicts = append(w.conflicts, r)
		case err != nil:
			if isGone(err) {
				d.invalidateLinks() // the interface went after felix last heard of it
			}
			w.errs = append(w.errs, fmt.Errorf("adding route %s: %w", r, err))
		default:
			have[r.Dst] = r
			rep.RoutesAdded = append(rep.RoutesAdded, r.String())
			d.log.Debug("route added", "route", r.String())
		}
	}
	return w
}

// sendRoutes sends route requests through the dataplane's route socket and returns each one's error. It opens
// the socket in the namespace when none is open, and closes it after a socket error (which fails every request
// not acked) so that the next apply opens a fresh one.
func (d *Dataplane) sendRoutes(ops []routeOp) []error {
	if d.rsock == nil {
		err := d.inNS(func() (err error) { d.rsock, err = openRouteSocket(); return err })
		if err != nil {
			errs := make([]error, len(ops))
			for i := range errs {
				errs[i] = err
			}
			return errs
		}
	}
	errs, err := d.rsock.do(ops)
	if err != nil {
		d.rsock.close()
		d.rsock = nil
	}
	return errs
}

// listRoutes returns felix's routes in the main table. It lists them through a handle of its own with the
// kernel's strict checking on, so that the kernel sends only felix's routes (of its protocol, in the main table):
// a host with 10,000 workload interfaces has tens of thousands of other routes (IPv6 link-local and local
// routes on every interface), which a plain dump sends, and the netlink library decodes, only to drop them.
// Kernels older than 4.20, which have no strict checking, send everything and the library filters.
func (d *Dataplane) listRoutes() ([]kernelRoute, error) {
	if d.dumpNL == nil {
		var h *netlink.Handle
		var err error
		if d.netns != nil {
			h, err = netlink.NewHandleAt(d.nsh, unix.NETLINK_ROUTE)
		} else {
			h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		}
		if err != nil {
			return nil, fmt.Errorf("opening netlink to list routes: %w", err)
		}
		if err := h.SetStrictCheck(true); err != nil {
			d.log.Debug("the kernel has no strict netlink checking; route listings include every route", "err", err)
		}
		d.dumpNL = h
	}
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	var routes []netlink.Route
	err := retryDump(func() (err error) {
		routes, err = d.dumpNL.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing routes of protocol %d: %w", RouteProtocol, err)
	}
	out := make([]kernelRoute, 0, len(routes))
	for _, r := range routes {
		out = append(out, fromNetlinkRoute(r))
	}
	return out, nil
}

// otherRouteType marks a felix route of a type felix never writes (say, unreachable); it never matches.
const otherRouteType desired.RouteType = -1

func fromNetlinkRoute(r netlink.Route) kernelRoute {
	var kr kernelRoute
	if r.Dst != nil {
		kr.Dst, _ = ipNetToPrefix(r.Dst)
	} else if r.Family == netlink.FAMILY_V6 {
		kr.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	} else {
		kr.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	switch r.Type {
	case unix.RTN_BLACKHOLE:
		kr.Type = desired.Blackhole
		return kr // the kernel reports IPv6 blackholes on lo; the device means nothing
	case unix.RTN_UNICAST:
		kr.Type = desired.Unicast
	default:
		kr.Type = otherRouteType
	}
	kr.LinkIndex = r.LinkIndex
	if gw, ok := netip.AddrFromSlice(r.Gw); ok {
		kr.Gateway = gw.Unmap()
	}
	kr.OnLink = r.Flags&int(netlink.FLAG_ONLINK) != 0
	return kr
}

// flushConntrack deletes the conntrack entries from and to workload addresses that are gone, so a later
// workload with the same address does not inherit their flows: one pass over the kernel's table per family,
// through netlink, deleting every entry whose original or reply source is one of them. A failure is logged, not
// an error: the routes are right either way.
func (d *Dataplane) flushConntrack(addrs []netip.Addr, rep *Report) {
	byFamily := map[netlink.InetFamily][]netlink.CustomConntrackFilter{}
	var names []string
	for _, a := range addrs {
		fam := netlink.InetFamily(unix.AF_INET)
		if a.Is6() {
			fam = unix.AF_INET6
		}
		for _, dir := range []netlink.ConntrackFilterType{netlink.ConntrackOrigSrcIP, netlink.ConntrackReplySrcIP} {
			f := &netlink.ConntrackFilter{}
			if err := f.AddIP(dir, a.AsSlice()); err != nil {
				d.log.Warn("flushing conntrack entries failed", "addr", a.String(), "err", err)
				return
			}
			byFamily[fam] = append(byFamily[fam], f)
		}
		names = append(names, a.String())
	}
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		if len(byFamily[fam]) == 0 {
			continue
		}
		start := time.Now()
		n, err := d.nl.ConntrackDeleteFilters(netlink.ConntrackTable, fam, byFamily[fam]...)
		rep.ConntrackTime += time.Since(start)
		if err != nil {
			d.log.Warn("flushing conntrack entries failed", "addrs", names, "err", err)
			return
		}
		d.log.Debug("conntrack entries flushed", "family", fam, "entries", n)
	}
	rep.ConntrackFlushed = append(rep.ConntrackFlushed, names...)
}

// retryDump runs a netlink dump again when the kernel says it changed while being dumped (the result may then
// be incomplete).
func retryDump(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// --- conversions

func ipNetToPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
