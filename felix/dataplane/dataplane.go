// Package dataplane makes the host's kernel match felix's desired state (felix/desired): routes of felix's own
// route protocol, the IPIP tunnel device, the VXLAN device and its peers, host and interface sysctls, ipsets and
// iptables. It is the only part of felix that touches the kernel.
//
// Each kind of state has a pure planner (planTable, planIPSets, planRoutes, planTunnel, planVXLAN) that compares
// the desired state with what the kernel holds and says what to write; the rest of the package reads the kernel,
// runs those plans and reports what it changed. iptables is written with one `iptables-restore --noflush`
// transaction per table and only where something differs; every rule carries a hash comment, so drift is found
// by comparing hashes and repaired in place. felix remembers what it wrote, so a steady-state Apply neither
// reads nor writes iptables, ipsets or routes (links are followed through a netlink subscription, and so are the
// routes the kernel removes with a link); Resync reads everything back and repairs what changed behind its back.
// IPv6 goes the same way through ip6tables-save and ip6tables-restore: the same planner and the same memory,
// kept per family.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/calico-l3/calico/felix/desired"
)

// Config says where and how the dataplane writes.
type Config struct {
	// NetnsPath is the network namespace to program, e.g. /run/netns/x; empty means the process's own. Every
	// netlink call, /proc/sys write and command (iptables-restore, ipset, conntrack) acts on that namespace.
	NetnsPath string
	// InterfacePrefix is the name prefix of workload interfaces that WatchLinks reports; default "cali".
	InterfacePrefix string
	// AppendHooks puts felix's rules at the end of the kernel's chains (INPUT, FORWARD, …) instead of the top:
	// FelixConfiguration chainInsertMode Append, for hosts whose own rules must see packets first.
	AppendHooks bool
	// IptablesBackend is the iptables backend to write with: BackendNFT, BackendLegacy, or BackendAuto (also
	// "") for the one the host already uses, decided once by New.
	IptablesBackend string
	// IPSetMaxElem is the maxelem of the ipsets felix creates; default 1048576.
	IPSetMaxElem int
	// Logger receives one line per change; default slog.Default().
	Logger *slog.Logger
}

// Report says what one Apply or Resync changed. Tables and chains are written "table/chain" for iptables and
// "ip6:table/chain" for ip6tables.
type Report struct {
	RoutesAdded, RoutesReplaced, RoutesRemoved []string
	RoutesWaiting                              []string // workload routes whose interface does not exist yet
	RouteConflicts                             []string // destinations held by a route of another protocol
	ChainsWritten, ChainsDeleted               []string // cali- chains created or rewritten, and deleted
	HooksWritten                               []string // kernel chains whose felix rules were replaced
	IPSetsWritten, IPSetsDeleted               []string
	SysctlsSet                                 []string // "path=value", path relative to /proc/sys
	InterfacesWaiting                          []string // desired interfaces that do not exist yet
	TunnelChanges                              []string
	VXLANChanges                               []string      // the VXLAN device and its neighbour and FDB entries
	ConntrackFlushed                           []string      // addresses whose conntrack entries were deleted
	ConntrackTime                              time.Duration // spent deleting them (through netlink, not a command)
	IPSetNetlinkTime                           time.Duration // spent editing set members through netlink
	// Repaired lists what a Resync found changed behind felix's back: "iptables table/chain",
	// "ip6tables table/chain", "ipset name", "route dst".
	Repaired []string
	Execs    []Exec // every command run, in order
}

// Exec is one command the dataplane ran.
type Exec struct {
	Program  string // e.g. "iptables-restore", "ip6tables-restore", whatever the backend
	Binary   string // the program run: e.g. "iptables-nft-restore" for Program "iptables-restore"
	Args     []string
	Duration time.Duration
	Failed   bool
}

// Changed says whether anything in the kernel was changed.
func (r Report) Changed() bool {
	return len(r.RoutesAdded)+len(r.RoutesReplaced)+len(r.RoutesRemoved)+len(r.ChainsWritten)+
		len(r.ChainsDeleted)+len(r.HooksWritten)+len(r.IPSetsWritten)+len(r.IPSetsDeleted)+len(r.SysctlsSet)+
		len(r.TunnelChanges)+len(r.VXLANChanges)+len(r.ConntrackFlushed) > 0
}

// Runs counts the executions of one program, e.g. "iptables-restore".
func (r Report) Runs(program string) int {
	n := 0
	for _, e := range r.Execs {
		if e.Program == program {
			n++
		}
	}
	return n
}

// RunTime is the total time spent running one program.
func (r Report) RunTime(program string) time.Duration {
	var d time.Duration
	for _, e := range r.Execs {
		if e.Program == program {
			d += e.Duration
		}
	}
	return d
}

// Dataplane programs one network namespace. Its methods may be called from several goroutines; they run one at
// a time.
type Dataplane struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	netns  ns.NetNS       // nil: the process's own namespace
	nsh    netns.NsHandle // the same namespace, for netlink subscriptions; -1 when netns is nil
	nl     *netlink.Handle
	tables map[tableID]tableState // each table as felix last read or wrote it; absent: read it before writing
	memo   map[tableID]*tableMemo // per table: rendered chains, to hash only what changed
	sets   ipsetState             // felix's ipsets as last read or written; nil: read them before writing
	wanted ipsetMemo              // desired ipsets normalised, to parse only the sets that changed

	sysctl   map[string]string       // host-wide sysctl values felix wrote or found, by path
	ifSysctl map[string]ifaceSysctls // interface sysctls felix wrote or found, by key of desired.State.Interfaces
	// routes are felix's routes as it last listed or wrote them; nil: list them before planning (see syncRoutes).
	// rereadRoutes makes the next apply list them (RefreshRoutes).
	routes       routeTable
	rereadRoutes bool
	rsock        *routeSocket    // writes routes; nil until the first write, and after a socket error
	dumpNL       *netlink.Handle // lists routes (see listRoutes); nil until the first listing

	linkTable linkTable // the namespace's links, followed through a netlink subscription

	backend string       // the iptables backend chosen by New: BackendNFT or BackendLegacy
	tools   backendTools // its programs
}

// New opens the namespace to program and settles the iptables backend (with Auto, by reading what the legacy
// tables hold there). Nothing else is read, and nothing is written, before the first Apply or Resync.
func New(cfg Config) (*Dataplane, error) {
	d, err := open(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), backendTimeout)
	defer cancel()
	if err := d.selectBackend(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// backendTimeout bounds the reads that choose the iptables backend.
const backendTimeout = time.Minute

// open is New without choosing the backend.
func open(cfg Config) (*Dataplane, error) {
	if cfg.InterfacePrefix == "" {
		cfg.InterfacePrefix = "cali"
	}
	if cfg.IPSetMaxElem <= 0 {
		cfg.IPSetMaxElem = defaultMaxElem
	}
	d := &Dataplane{
		cfg: cfg, log: cfg.Logger, nsh: netns.None(),
		tables: map[tableID]tableState{}, memo: map[tableID]*tableMemo{}, sysctl: map[string]string{},
		ifSysctl: map[string]ifaceSysctls{},
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("component", "dataplane")
	d.linkTable.prefix = cfg.InterfacePrefix
	var err error
	if cfg.NetnsPath == "" {
		d.nl, err = netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("opening netlink: %w", err)
		}
		return d, nil
	}
	if d.netns, err = ns.GetNS(cfg.NetnsPath); err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", cfg.NetnsPath, err)
	}
	if d.nsh, err = netns.GetFromPath(cfg.NetnsPath); err != nil {
		d.netns.Close()
		return nil, fmt.Errorf("opening network namespace %s: %w", cfg.NetnsPath, err)
	}
	if d.nl, err = netlink.NewHandleAt(d.nsh); err != nil {
		d.netns.Close()
		d.nsh.Close()
		return nil, fmt.Errorf("opening netlink in %s: %w", cfg.NetnsPath, err)
	}
	return d, nil
}

// Close stops following links, closes WatchLinks channels and releases the namespace and netlink handles. It
// changes nothing in the kernel.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLinks()
	if d.rsock != nil {
		d.rsock.close()
	}
	if d.dumpNL != nil {
		d.dumpNL.Close()
	}
	d.nl.Close()
	if d.netns != nil {
		d.nsh.Close()
		return d.netns.Close()
	}
	return nil
}

// Apply makes the kernel match st, writing only what differs from what felix last wrote. The first Apply reads
// the kernel and adopts what a previous felix left: only what differs is rewritten, nothing is flushed first.
// Every part is attempted even when another fails; the error joins all failures, and the next Apply retries.
// ip6tables, and the IPv6 ipsets st does not name, are left alone while st.Tables6 is nil.
//
// st must not be modified once handed to Apply or Resync (calc.State never does): a chain's rules or a set's
// members given as the very slice of an earlier call are taken as unchanged without being compared, so that an
// apply costs about as much as what changed. Resync compares them by content.
func (d *Dataplane) Apply(ctx context.Context, st *desired.State) (Report, error) {
	return d.sync(ctx, st, false)
}

// Resync reads the kernel back (iptables-save, ipset save, sysctls, links and felix's routes) instead of trusting
// what felix last wrote, repairs whatever differs from st and reports what changed behind felix's back in
// Report.Repaired. Call it on start and periodically.
func (d *Dataplane) Resync(ctx context.Context, st *desired.State) (Report, error) {
	return d.sync(ctx, st, true)
}

// RefreshRoutes makes the next Apply read felix's routes back from the kernel, as Resync does, and repair (and
// report in Report.Repaired) those changed behind felix's back; the rest is left to Resync. An Apply otherwise
// trusts what felix last wrote, and follows only the routes the kernel removes with their links.
func (d *Dataplane) RefreshRoutes() {
	d.mu.Lock()
	d.rereadRoutes = true
	d.mu.Unlock()
}

func (d *Dataplane) sync(ctx context.Context, st *desired.State, resync bool) (Report, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	var rep Report
	if st == nil {
		st = &desired.State{}
	}
	// Everything that can be checked without the kernel is checked before anything is written.
	type familyTables struct {
		f      family
		tables map[string]renderedTable
	}
	var fams []familyTables
	for _, f := range families {
		want := f.tablesOf(st)
		if want == nil {
			d.forget(f) // left alone; read afresh should it be wanted again
			continue
		}
		ft := familyTables{f: f, tables: map[string]renderedTable{}}
		for _, name := range tableNames(want) {
			rt, err := d.render(f, name, want[name], resync)
			if err != nil {
				return rep, fmt.Errorf("rendering %s table %s: %w", f.iptables, name, err)
			}
			ft.tables[name] = rt
		}
		fams = append(fams, ft)
	}
	if _, err := d.wanted.normalise(st.IPSets, resync); err != nil {
		return rep, err
	}
	if _, err := planRoutes(st.Routes, nil, nil); err != nil { // every route waits, but is checked
		return rep, fmt.Errorf("checking routes: %w", err)
	}
	if resync {
		clear(d.sysctl)
		clear(d.ifSysctl)
	}

	var errs []error
	errs = append(errs, d.syncTunnel(st.Tunnel, &rep))
	errs = append(errs, d.syncVXLAN(st.VXLAN, &rep)) // before the links are read: routes may go through it
	links, err := d.links(resync)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	errs = append(errs, d.syncSysctls(st, links.byName, &rep))

	setPlan, setErr := d.syncIPSetsBefore(ctx, st, resync, &rep)
	errs = append(errs, setErr)
	for _, ft := range fams {
		names := sortedKeys(ft.tables)
		now, err := d.readTables(ctx, ft.f, names, resync, &rep)
		if err != nil {
			for _, name := range names {
				delete(d.tables, tableID{ft.f.version, name})
			}
			errs = append(errs, err)
			continue
		}
		for _, name := range names {
			errs = append(errs, d.syncTable(ctx, ft.f, name, ft.tables[name], now[name], &rep))
		}
	}
	if setErr == nil {
		errs = append(errs, d.syncIPSetsAfter(ctx, setPlan, &rep))
	}
	errs = append(errs, d.syncRoutes(ctx, st.Routes, links, resync || d.rereadRoutes, &rep))
	d.rereadRoutes = false

	err = errors.Join(errs...)
	level := slog.LevelDebug
	if rep.Changed() || err != nil || len(rep.Repaired) > 0 {
		level = slog.LevelInfo
	}
	d.log.Log(ctx, level, "dataplane synced", "resync", resync, "changed", rep.Changed(),
		"iptablesRestores", rep.Runs(iptablesRestore), "ip6tablesRestores", rep.Runs(ip6tablesRestore),
		"repaired", len(rep.Repaired),
		"took", time.Since(start).Round(time.Microsecond), "err", err)
	return rep, err
}

// standardTables are the iptables tables felix always looks after (in each family it programs), so that a table
// it stopped using is cleaned.
var standardTables = []string{"filter", "mangle", "nat", "raw"}

// tableNames are the standard tables and any other desired one, sorted.
func tableNames(tables map[string]*desired.Table) []string {
	names := slices.Clone(standardTables)
	for name := range tables {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// tableID names one table of one family in felix's memory of the kernel.
type tableID struct {
	version int // 4 or 6
	name    string
}

// render renders a desired table, reusing the rendering of chains that did not change since the last apply:
// a steady-state apply of a large state hashes nothing. A resync compares every chain's rules by content.
func (d *Dataplane) render(f family, table string, t *desired.Table, resync bool) (renderedTable, error) {
	id := tableID{f.version, table}
	if d.memo[id] == nil {
		d.memo[id] = newTableMemo()
	}
	rt, err := renderTable(t, d.memo[id], resync)
	rt.appendHooks = d.cfg.AppendHooks
	rt.wholeTable = d.backend == BackendLegacy
	return rt, err
}

// forget drops what felix remembers of a family's tables.
func (d *Dataplane) forget(f family) {
	for id := range d.tables {
		if id.version == f.version {
			delete(d.tables, id)
		}
	}
	for id := range d.memo {
		if id.version == f.version {
			delete(d.memo, id)
		}
	}
}
