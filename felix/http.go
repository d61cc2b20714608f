package felix

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// serveHealth answers /liveness (the loop runs) and /readiness (the dataplane has been programmed since the
// datastore was in sync) with 204, or 503.
func serveHealth(host string, port int, s *Stats, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	probe := func(ok func() bool) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			if ok() {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	mux.HandleFunc("/liveness", probe(s.live.Load))
	mux.HandleFunc("/readiness", probe(s.ready.Load))
	return serve(net.JoinHostPort(host, strconv.Itoa(port)), mux, "health", log)
}

// serveMetrics serves /metrics in the Prometheus text format.
func serveMetrics(port int, s *Stats, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, s.prometheus())
	})
	return serve(fmt.Sprintf(":%d", port), mux, "metrics", log)
}

func serve(addr string, h http.Handler, what string, log *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("felix %s endpoint on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("felix "+what+" endpoint stopped", "err", err)
		}
	}()
	log.Info("felix "+what+" endpoint listening", "addr", l.Addr().String())
	return func() { srv.Close() }, nil
}

func (s *Stats) prometheus() string {
	var b strings.Builder
	metric := func(name, kind, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, kind, name, strconv.FormatFloat(v, 'g', -1, 64))
	}
	metric("felix_datastore_updates_total", "counter", "Datastore updates received.", float64(s.updates.Load()))
	metric("felix_dataplane_applies_total", "counter", "Dataplane updates applied, including resyncs.", float64(s.applies.Load()))
	metric("felix_dataplane_apply_seconds_total", "counter", "Time spent applying dataplane updates.", float64(s.applyMicros.Load())/1e6)
	metric("felix_dataplane_failures_total", "counter", "Dataplane updates that failed and were retried.", float64(s.failures.Load()))
	metric("felix_resyncs_total", "counter", "Full reads of the kernel state.", float64(s.resyncs.Load()))
	metric("felix_resync_repairs_total", "counter", "Chains and ipsets a resync found changed behind felix's back.", float64(s.repairs.Load()))
	metric("felix_iptables_restore_calls_total", "counter", "iptables-restore and ip6tables-restore executions.", float64(s.restores.Load()))
	metric("felix_iptables_restore_seconds_total", "counter", "Time spent in iptables-restore and ip6tables-restore.", float64(s.restoreMicros.Load())/1e6)
	metric("felix_routes_added_total", "counter", "Routes felix added.", float64(s.routesAdded.Load()))
	metric("felix_routes_removed_total", "counter", "Routes felix removed.", float64(s.routesRemoved.Load()))
	return b.String()
}
