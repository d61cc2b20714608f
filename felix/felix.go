// Package felix is the node agent that makes the kernel match the datastore: it streams datastore changes into
// the pure calculation (felix/calc), which yields the desired dataplane (felix/desired), and hands that to the
// only kernel-facing layer (felix/dataplane). This file is the loop that ties them together, with health and
// metrics endpoints.
package felix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/felix/calc"
	"github.com/calico-l3/calico/felix/config"
	"github.com/calico-l3/calico/felix/dataplane"
)

// ErrRestart is returned when a configuration change can only take effect in a new process; the supervisor
// (runit) restarts felix.
var ErrRestart = errors.New("configuration changed in a way that needs a restart")

// Watcher is what felix needs from the datastore.
type Watcher interface {
	Watch(ctx context.Context, prefix string, fromRevision int64) <-chan datastore.Event
}

// Options are felix's inputs.
type Options struct {
	Datastore Watcher
	Getenv    func(string) string
	Logger    *slog.Logger
	NetnsPath string // program another network namespace (tests); empty means felix's own
}

// watched are the datastore prefixes felix follows: every resource, and every node's block affinities (routes to
// other nodes' IPIP blocks need them).
var watched = []string{datastore.ResourcePrefix, datastore.IPAMPrefix + "host/"}

type tagged struct {
	prefix string
	ev     datastore.Event
}

// Run programs the dataplane until ctx ends. The dataplane is left as it is on return: felix never flushes on
// exit, so a restart does not interrupt traffic.
func Run(ctx context.Context, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := config.Load(opts.Getenv, nil, nil)
	if err != nil {
		return fmt.Errorf("felix configuration: %w", err)
	}
	log.Info("Starting felix", "host", cfg.Hostname)
	dp, err := dataplane.New(dataplane.Config{NetnsPath: opts.NetnsPath, InterfacePrefix: firstPrefix(cfg.InterfacePrefix),
		AppendHooks: cfg.ChainInsertMode == "Append", IptablesBackend: cfg.IptablesBackend, Logger: log})
	if err != nil {
		return err
	}
	defer dp.Close()
	links, err := dp.WatchLinks(ctx)
	if err != nil {
		return err
	}
	stats := &Stats{}
	if cfg.HealthEnabled {
		stop, err := serveHealth(cfg.HealthHost, cfg.HealthPort, stats, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.PrometheusMetricsEnabled {
		stop, err := serveMetrics(cfg.PrometheusMetricsPort, stats, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	events := make(chan tagged, 1024)
	for _, p := range watched {
		go func(p string) {
			for ev := range opts.Datastore.Watch(ctx, p, 0) {
				select {
				case events <- tagged{p, ev}:
				case <-ctx.Done():
					return
				}
			}
		}(p)
	}

	c := calc.New(cfg.Hostname, calcConfig(cfg))
	resync := time.NewTimer(0) // the first apply after sync is a full read of the kernel
	resync.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	// An apply trusts felix's memory of its routes; the route refresh makes the next one list them and repair drift.
	routes := time.NewTimer(time.Hour)
	routes.Stop()
	dirty, wantResync, synced := false, true, false
	mtu := &mtuTracker{file: cfg.MTUFile, log: log}
	stats.live.Store(true)
	for {
		select {
		case <-ctx.Done():
			log.Info("felix stopping; the dataplane is left as it is")
			return nil
		case t := <-events:
			c.OnEvent(t.prefix, t.ev)
			drain(c, events)
			dirty = true
			stats.updates.Add(1)
		case name, ok := <-links:
			if !ok {
				links = nil // the link watch ended; the periodic resync still catches new interfaces
				continue
			}
			log.Debug("workload interface changed", "iface", name)
			dirty = true
		case <-resync.C:
			wantResync, dirty = true, true
		case <-retry.C:
			dirty = true
		case <-routes.C:
			dp.RefreshRoutes()
			dirty = true
		}
		if !dirty || !c.InSync(watched...) {
			continue
		}
		if !synced {
			log.Info("In sync with the datastore")
			synced = true
		}
		global, perNode := c.FelixConfiguration()
		next, err := config.Load(opts.Getenv, global, perNode)
		if err != nil {
			log.Error("ignoring invalid felix configuration from the datastore", "err", err)
			next = cfg
		}
		if config.NeedsRestart(cfg, next) {
			log.Warn("felix configuration changed; exiting so the supervisor restarts felix with it")
			return ErrRestart
		}
		cfg = next
		cc := calcConfig(cfg)
		cc.HostMTU = mtu.host(dp, c.NodeIPv4(), wantResync)
		if c.NeedsInterfaceAddrs() {
			if addrs, err := dp.InterfaceAddrs(); err != nil {
				log.Warn("cannot read the host's addresses for host endpoints without an interface name", "err", err)
			} else {
				cc.InterfaceAddrs = addrs
			}
		}
		c.SetConfig(cc)
		st := c.State()
		start := time.Now()
		var rep dataplane.Report
		if wantResync {
			rep, err = dp.Resync(ctx, st)
		} else {
			rep, err = dp.Apply(ctx, st)
		}
		stats.record(rep, time.Since(start), wantResync)
		if err != nil {
			log.Error("dataplane update failed; will retry", "err", err)
			stats.failures.Add(1)
			retry.Reset(time.Second)
			continue
		}
		if wantResync {
			if cfg.IptablesRefreshInterval > 0 { // 0 disables the periodic resync, as in Calico
				resync.Reset(cfg.IptablesRefreshInterval)
			}
			if len(rep.Repaired) > 0 {
				log.Warn("resync repaired changes made behind felix's back", "repaired", rep.Repaired)
			}
		}
		mtu.write(st.VethMTU)
		if rep.Changed() {
			log.Info("dataplane updated", "routes+", len(rep.RoutesAdded), "routes-", len(rep.RoutesRemoved),
				"chains", len(rep.ChainsWritten), "chains-", len(rep.ChainsDeleted), "ipsets", len(rep.IPSetsWritten),
				"took", time.Since(start).Round(time.Millisecond))
		}
		if cfg.RouteRefreshInterval > 0 {
			routes.Reset(cfg.RouteRefreshInterval)
		}
		dirty, wantResync = false, false
		stats.ready.Store(true)
	}
}

// drain applies every event already queued, so a burst becomes one dataplane update.
func drain(c *calc.Calculator, events <-chan tagged) {
	for {
		select {
		case t := <-events:
			c.OnEvent(t.prefix, t.ev)
		default:
			return
		}
	}
}

func calcConfig(cfg config.Config) calc.Config {
	cc := calc.DefaultConfig()
	cc.InterfacePrefix = cfg.InterfacePrefix
	cc.DefaultEndpointToHostAction = cfg.DefaultEndpointToHostAction
	cc.FailsafeInbound = cfg.FailsafeInboundHostPorts
	cc.FailsafeOutbound = cfg.FailsafeOutboundHostPorts
	cc.IPIPMTU = cfg.IPIPMTU
	cc.VXLANEnabled = cfg.VXLANEnabled
	cc.VXLANVNI = cfg.VXLANVNI
	cc.VXLANPort = cfg.VXLANPort
	cc.VXLANMTU = cfg.VXLANMTU
	cc.LogPrefix = cfg.LogPrefix
	cc.IPv6Support = cfg.IPv6Support
	return cc
}

func firstPrefix(list string) string {
	for i, ch := range list {
		if ch == ',' {
			return list[:i]
		}
	}
	return list
}

// Stats are felix's counters, served as Prometheus metrics and behind the health endpoints.
type Stats struct {
	live, ready       atomic.Bool
	updates           atomic.Uint64 // datastore updates received
	applies           atomic.Uint64 // dataplane applies (including resyncs)
	resyncs           atomic.Uint64
	failures          atomic.Uint64
	repairs           atomic.Uint64 // things a resync found changed behind felix's back
	restores          atomic.Uint64 // iptables-restore executions
	restoreMicros     atomic.Uint64
	applyMicros       atomic.Uint64
	routesAdded       atomic.Uint64
	routesRemoved     atomic.Uint64
	lastApplyUnixNano atomic.Int64
}

func (s *Stats) record(rep dataplane.Report, took time.Duration, resync bool) {
	s.applies.Add(1)
	if resync {
		s.resyncs.Add(1)
	}
	s.repairs.Add(uint64(len(rep.Repaired)))
	s.restores.Add(uint64(rep.Runs("iptables-restore") + rep.Runs("ip6tables-restore")))
	s.restoreMicros.Add(uint64((rep.RunTime("iptables-restore") + rep.RunTime("ip6tables-restore")).Microseconds()))
	s.applyMicros.Add(uint64(took.Microseconds()))
	s.routesAdded.Add(uint64(len(rep.RoutesAdded)))
	s.routesRemoved.Add(uint64(len(rep.RoutesRemoved)))
	s.lastApplyUnixNano.Store(time.Now().UnixNano())
}
