package controllers

import (
	"fmt"
	"strings"
	"time"
)

// Env is calico-kube-controllers' configuration from its environment (the datastore's ETCD_* variables are read
// by the datastore package).
type Env struct {
	// KubernetesDatastore is DATASTORE_TYPE=kubernetes (default etcdv3).
	KubernetesDatastore bool
	Enabled             []string      // ENABLED_CONTROLLERS, default all
	ResyncPeriod        time.Duration // RECONCILER_PERIOD, default 5m
	LeakGracePeriod     time.Duration // LEAK_GRACE_PERIOD, default 15m; 0 turns leak collection off
	Kubeconfig          string        // KUBECONFIG; empty means in-cluster
	StatusFile          string        // STATUS_FILE, default /status/status.json
	LogLevel            string        // LOG_LEVEL: debug, info (default), warning, error
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
		e.KubernetesDatastore = true
	default:
		return e, fmt.Errorf("DATASTORE_TYPE: %q is not a datastore type (etcdv3 or kubernetes)", t)
	}
	enabled := getenv("ENABLED_CONTROLLERS")
	switch {
	case enabled == "" && e.KubernetesDatastore:
		enabled = Node // the rest is read straight from Kubernetes in that mode
	case enabled == "":
		enabled = strings.Join(All, ",")
	}
	var err error
	if e.Enabled, err = ParseEnabled(enabled); err != nil {
		return e, err
	}
	for _, name := range e.Enabled {
		if e.KubernetesDatastore && name != Node {
			return e, fmt.Errorf("ENABLED_CONTROLLERS: %q has nothing to do with DATASTORE_TYPE=kubernetes, which reads %s "+
				"straight from Kubernetes; enable only node", name, mirrored[name])
		}
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
