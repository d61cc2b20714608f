package controllers

import (
	"fmt"
	"strings"
	"time"
)

// Env is calico-kube-controllers' configuration from its environment (the datastore's ETCD_* variables are read
// by the datastore package).
type Env struct {
	Enabled         []string      // ENABLED_CONTROLLERS, default all
	ResyncPeriod    time.Duration // RECONCILER_PERIOD, default 5m
	LeakGracePeriod time.Duration // LEAK_GRACE_PERIOD, default 15m; 0 turns leak collection off
	Kubeconfig      string        // KUBECONFIG; empty means in-cluster
	StatusFile      string        // STATUS_FILE, default /status/status.json
	LogLevel        string        // LOG_LEVEL: debug, info (default), warning, error
}

// EnvFromLookup reads the environment; every bad value is an error naming its variable.
func EnvFromLookup(getenv func(string) string) (Env, error) {
	e := Env{
		ResyncPeriod:    5 * time.Minute,
		LeakGracePeriod: 15 * time.Minute,
		Kubeconfig:      getenv("KUBECONFIG"),
		StatusFile:      "/status/status.json",
		LogLevel:        "info",
	}
	switch t := getenv("DATASTORE_TYPE"); t {
	case "", "etcdv3":
	case "kubernetes":
		return e, fmt.Errorf("DATASTORE_TYPE: %q is not supported by this calico-kube-controllers yet; use etcdv3", t)
	default:
		return e, fmt.Errorf("DATASTORE_TYPE: %q is not a datastore type (etcdv3)", t)
	}
	enabled := getenv("ENABLED_CONTROLLERS")
	if enabled == "" {
		enabled = strings.Join(All, ",")
	}
	var err error
	if e.Enabled, err = ParseEnabled(enabled); err != nil {
		return e, err
	}
	if e.ResyncPeriod, err = duration(getenv, "RECONCILER_PERIOD", e.ResyncPeriod, false); err != nil {
		return e, err
	}
	if e.LeakGracePeriod, err = duration(getenv, "LEAK_GRACE_PERIOD", e.LeakGracePeriod, true); err != nil {
		return e, err
	}
	if v := getenv("STATUS_FILE"); v != "" {
		e.StatusFile = v
	}
	if v := strings.ToLower(getenv("LOG_LEVEL")); v != "" {
		switch v {
		case "debug", "info", "warning", "warn", "error", "fatal", "panic":
			e.LogLevel = v
		default:
			return e, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warning, error", getenv("LOG_LEVEL"))
		}
	}
	return e, nil
}

// duration reads a Go duration ("90s", "5m"); zero is allowed only where it means "off".
func duration(getenv func(string) string, name string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (like 90s or 5m)", name, v)
	}
	if d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("%s: %q must be positive", name, v)
	}
	return d, nil
}
