package main

import (
	"context"
	"log/slog"

	"github.com/calico-l3/calico/node/birdrestart"
)

// watchBIRDInterfaces restarts this node's BIRD when its list of deleted interfaces grows too long (see package
// birdrestart) until ctx ends. It runs inside confd, which runs exactly where BIRD does; a failure here is logged
// and leaves confd running, as BIRD without the restarts still routes.
func watchBIRDInterfaces(ctx context.Context, getenv func(string) string, log *slog.Logger) {
	cfg, err := birdrestart.ConfigFromEnv(getenv, log)
	if err != nil {
		log.Error("BIRD will not be restarted for its stale interfaces", "err", err)
		return
	}
	if err := birdrestart.Run(ctx, cfg); err != nil {
		log.Error("BIRD will not be restarted for its stale interfaces", "err", err)
	}
}
