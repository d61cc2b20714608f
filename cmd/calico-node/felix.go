package main

import (
	"context"
	"errors"
	"io"

	"github.com/calico-l3/calico/felix"
)

func runFelix(ctx context.Context, stdout io.Writer, getenv func(string) string) int {
	log := logger(stdout, getenv("FELIX_LOGSEVERITYSCREEN"))
	name, err := nodeName(getenv)
	if err != nil {
		log.Error("felix cannot start: " + err.Error())
		return 1
	}
	env := func(k string) string {
		if k == "NODENAME" {
			return name
		}
		return getenv(k)
	}
	ds, err := openDatastore(getenv)
	if err != nil {
		log.Error("felix cannot start: " + err.Error())
		return 1
	}
	defer ds.Close()
	err = felix.Run(ctx, felix.Options{Datastore: ds, Getenv: env, Logger: log})
	switch {
	case errors.Is(err, felix.ErrRestart):
		return 129 // any non-zero exit: runit starts felix again with the new configuration
	case err != nil:
		log.Error("felix failed", "err", err)
		return 1
	}
	return 0
}
