package dataplane

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// The iptables backends. The kernel keeps the two apart: rules written with one are invisible to the other's
// save and restore, yet both are evaluated. Felix must therefore write with the backend the host's other
// programs (kube-proxy, the kubelet, Docker) use, or its rules and theirs run in an order nobody chose.
const (
	BackendAuto   = "Auto"   // the backend the host already uses (see chooseBackend)
	BackendNFT    = "NFT"    // iptables over nf_tables (iptables-nft-*)
	BackendLegacy = "Legacy" // the legacy x_tables interface (iptables-legacy-*)
)

// backendTools are the programs that read and write the iptables of one backend, by the name the rest of the
// package knows them by ("iptables-save", …). Reports and metrics keep those names; Exec.Binary says which
// program ran.
type backendTools map[string]string

// iptablesPrograms are the programs a backend must provide: the save and restore of both families.
var iptablesPrograms = []string{iptablesSave, iptablesRestore, ip6tablesSave, ip6tablesRestore}

// backendSuffix is the infix of a backend's programs in their package (iptables-nft-save, iptables-legacy-save) and
// the word `iptables-save -V` prints for it ("iptables-save v1.8.9 (nf_tables)"; before 1.8 there was only legacy,
// and no word).
var backendSuffix = map[string]struct{ infix, version string }{
	BackendNFT:    {"nft", "(nf_tables)"},
	BackendLegacy: {"legacy", "(legacy)"},
}

// findTools looks for a backend's programs: first under their backend's own names, then under the plain names
// if those are that backend (as on hosts that install only one). It returns nil when the backend is not
// installed.
func findTools(backend string, lookPath func(string) (string, error), version func(string) string) backendTools {
	named := backendTools{}
	for _, p := range iptablesPrograms {
		name := backendProgram(backend, p)
		if _, err := lookPath(name); err != nil {
			named = nil
			break
		}
		named[p] = name
	}
	if named != nil {
		return named
	}
	for _, p := range iptablesPrograms {
		if _, err := lookPath(p); err != nil {
			return nil
		}
	}
	v := version(iptablesSave)
	if strings.Contains(v, backendSuffix[backend].version) || (backend == BackendLegacy && !strings.Contains(v, "(")) {
		plain := backendTools{}
		for _, p := range iptablesPrograms {
			plain[p] = p
		}
		return plain
	}
	return nil
}

// backendView is what one backend holds in both families, as its save programs print it.
type backendView struct {
	rules int  // rules ("-A" lines)
	hint  bool // the chain the kubelet creates to say which backend it uses (KUBE-IPTABLES-HINT)
}

// viewOf reads a backend's view from the output of its iptables-save and ip6tables-save.
func viewOf(saves ...string) backendView {
	var v backendView
	for _, out := range saves {
		for line := range strings.Lines(out) {
			switch {
			case strings.HasPrefix(line, "-A "):
				v.rules++
			case strings.HasPrefix(line, ":KUBE-IPTABLES-HINT "), strings.HasPrefix(line, ":KUBE-KUBELET-CANARY "):
				v.hint = true
			}
		}
	}
	return v
}

// chooseBackend is Auto's decision, and why: the backend the kubelet marked as its own, else the one holding
// more rules (felix's own from an earlier run among them, so the choice sticks), nf_tables on a tie.
func chooseBackend(legacy, nft backendView) (backend, reason string) {
	switch {
	case legacy.hint && !nft.hint:
		return BackendLegacy, "the kubelet's KUBE-IPTABLES-HINT chain is in the legacy tables"
	case nft.hint && !legacy.hint:
		return BackendNFT, "the kubelet's KUBE-IPTABLES-HINT chain is in the nf_tables tables"
	case legacy.rules > nft.rules:
		return BackendLegacy, fmt.Sprintf("the legacy tables hold more rules (%d against %d)", legacy.rules, nft.rules)
	default:
		return BackendNFT, fmt.Sprintf("the legacy tables hold no more rules than nf_tables (%d against %d)", legacy.rules, nft.rules)
	}
}

// selectBackend settles the configured backend (Config.IptablesBackend) into the programs felix will run, then
// cleans the other backend. Auto reads the legacy tables, and the nf_tables ones only when the legacy ones hold
// rules, since with nf_tables every save fetches the whole ruleset.
func (d *Dataplane) selectBackend(ctx context.Context) error {
	configured := d.cfg.IptablesBackend
	if configured == "" {
		configured = BackendAuto
	}
	version := func(p string) string {
		out, _ := exec.CommandContext(ctx, p, "-V").CombinedOutput()
		return string(out)
	}
	tools := map[string]backendTools{}
	for _, b := range []string{BackendNFT, BackendLegacy} {
		tools[b] = findTools(b, exec.LookPath, version)
	}
	// Each backend's tables are read at most once, whether to choose or to clean.
	read := map[string]backendSaves{}
	saves := func(b string) backendSaves {
		if s, ok := read[b]; ok {
			return s
		}
		read[b] = d.readSaves(ctx, tools[b])
		return read[b]
	}
	chosen, reason := configured, "configured"
	switch configured {
	case BackendNFT, BackendLegacy:
		if tools[configured] == nil {
			return fmt.Errorf("iptables backend %s: %s are not installed", configured,
				strings.Join(toolNames(configured), ", "))
		}
	case BackendAuto:
		switch {
		case tools[BackendNFT] == nil && tools[BackendLegacy] == nil:
			return fmt.Errorf("iptables backend Auto: %s are not installed, nor %s",
				strings.Join(toolNames(BackendNFT), ", "), strings.Join(toolNames(BackendLegacy), ", "))
		case tools[BackendLegacy] == nil:
			chosen, reason = BackendNFT, "only the nf_tables programs are installed"
		case tools[BackendNFT] == nil:
			chosen, reason = BackendLegacy, "only the legacy programs are installed"
		default:
			chosen, reason = detectBackend(saves)
		}
	default:
		return fmt.Errorf("iptables backend %q: must be one of %s, %s, %s", configured, BackendAuto, BackendNFT, BackendLegacy)
	}
	d.backend, d.tools = chosen, tools[chosen]
	d.log.Info("iptables backend chosen", "backend", chosen, "configured", configured, "reason", reason,
		"restore", d.tools[iptablesRestore])
	for b, other := range tools {
		if b != chosen && other != nil {
			if err := d.cleanBackend(ctx, b, other, saves(b)); err != nil {
				return err
			}
		}
	}
	return nil
}

// backendSaves is what one backend's iptables-save and ip6tables-save printed (in the order of families), or why
// a family could not be read.
type backendSaves struct {
	out [2]string
	err [2]error
}

// readSaves runs a backend's save programs in the dataplane's namespace.
func (d *Dataplane) readSaves(ctx context.Context, tools backendTools) backendSaves {
	var s backendSaves
	var rep Report
	for i, f := range families {
		s.out[i], s.err[i] = d.runTool(ctx, &rep, "", tools, f.save)
	}
	return s
}

// cleanBackend removes felix's chains and hooks from a backend felix does not write: what a felix configured
// with the other backend left before a switch. The kernel evaluates the rules of both, so a stale policy left
// there would go on dropping (or allowing) traffic. A backend whose tables cannot be read holds nothing.
func (d *Dataplane) cleanBackend(ctx context.Context, backend string, tools backendTools, saves backendSaves) error {
	var rep Report
	nothing, err := renderTable(nil, nil, false)
	if err != nil {
		return err
	}
	for i, f := range families {
		if err := saves.err[i]; err != nil {
			d.log.Debug("not cleaning the other iptables backend: cannot read it", "backend", backend, "iptables", f.iptables, "err", err)
			continue
		}
		tables, err := parseSave(saves.out[i])
		if err != nil {
			return fmt.Errorf("reading the %s backend's %s: %w", backend, f.iptables, err)
		}
		for _, name := range sortedKeys(tables) {
			p := planTable(name, nothing, tables[name])
			if p.script == "" {
				continue
			}
			if err := d.restoreStages(ctx, tools, f, name, p, &rep); err != nil {
				return fmt.Errorf("removing felix's rules from the %s backend: %w", backend, err)
			}
			d.log.Warn("removed felix's rules from the iptables backend it does not use", "backend", backend,
				"iptables", f.iptables, "table", name, "chainsDeleted", len(p.deleted), "hooksRemoved", len(p.hooked))
		}
	}
	return nil
}

// detectBackend is Auto with both backends installed, given each backend's saves. A backend whose tables cannot
// be read (a kernel built without one of them) is not chosen.
func detectBackend(saves func(backend string) backendSaves) (backend, reason string) {
	legacy, err := viewOfSaves(saves(BackendLegacy))
	if err != nil {
		return BackendNFT, "the legacy tables cannot be read: " + err.Error()
	}
	if legacy.rules == 0 && !legacy.hint {
		return BackendNFT, "the legacy tables hold no rules"
	}
	nft, err := viewOfSaves(saves(BackendNFT))
	if err != nil {
		return BackendLegacy, "the nf_tables tables cannot be read: " + err.Error()
	}
	return chooseBackend(legacy, nft)
}

// viewOfSaves is what one backend holds. An IPv4 table that cannot be read is an error; a failing ip6tables-save
// (no IPv6 in the kernel) counts as nothing.
func viewOfSaves(s backendSaves) (backendView, error) {
	if s.err[0] != nil {
		return backendView{}, s.err[0]
	}
	v6 := s.out[1]
	if s.err[1] != nil {
		v6 = ""
	}
	return viewOf(s.out[0], v6), nil
}

// backendProgram is the name of program in a backend's own set: iptables-restore is iptables-nft-restore.
func backendProgram(backend, program string) string {
	return strings.Replace(program, "tables-", "tables-"+backendSuffix[backend].infix+"-", 1)
}

// toolNames are the programs a backend is looked for under, for messages.
func toolNames(backend string) []string {
	var out []string
	for _, p := range iptablesPrograms {
		out = append(out, backendProgram(backend, p))
	}
	return out
}

// Backend is the iptables backend felix writes: BackendNFT or BackendLegacy.
func (d *Dataplane) Backend() string { return d.backend }
