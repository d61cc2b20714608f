// Package datastore stores projectcalico.org/v3 resources in etcd v3 under Calico's key layout and watches them.
// It owns the keys, the revisions (compare-and-swap updates) and the connection settings; it knows nothing of
// what the resources mean.
package datastore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// Config says how to reach etcd.
type Config struct {
	Endpoints      []string
	KeyFile        string
	CertFile       string
	CACertFile     string
	Username       string
	Password       string
	DialTimeout    time.Duration // how long to wait for a first connection (default 5s)
	RequestTimeout time.Duration // how long one request may take (default 10s)
}

// ConfigFromEnv reads ETCD_ENDPOINTS (comma separated, required), ETCD_KEY_FILE, ETCD_CERT_FILE,
// ETCD_CA_CERT_FILE, ETCD_USERNAME and ETCD_PASSWORD.
func ConfigFromEnv() (Config, error) {
	return ConfigFromLookup(os.Getenv)
}

// ConfigFromLookup is ConfigFromEnv over any variable source.
func ConfigFromLookup(get func(string) string) (Config, error) {
	c := Config{
		KeyFile:    get("ETCD_KEY_FILE"),
		CertFile:   get("ETCD_CERT_FILE"),
		CACertFile: get("ETCD_CA_CERT_FILE"),
		Username:   get("ETCD_USERNAME"),
		Password:   get("ETCD_PASSWORD"),
	}
	if t := get("DATASTORE_TYPE"); t != "" && t != "etcdv3" {
		return c, fmt.Errorf("DATASTORE_TYPE=%q: this reads etcd's settings; open the datastore with package datastore/connect", t)
	}
	eps, err := ParseEndpoints(get("ETCD_ENDPOINTS"))
	if err != nil {
		return c, fmt.Errorf("ETCD_ENDPOINTS: %w", err)
	}
	c.Endpoints = eps
	return c, nil
}

// ParseEndpoints splits and checks a comma-separated endpoint list such as "http://10.0.0.1:2379,https://…".
func ParseEndpoints(s string) ([]string, error) {
	var eps []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			return nil, fmt.Errorf("endpoint %q must start with http:// or https://", e)
		}
		eps = append(eps, e)
	}
	if len(eps) == 0 {
		return nil, errors.New("no etcd endpoints specified")
	}
	return eps, nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if c.KeyFile == "" && c.CertFile == "" && c.CACertFile == "" {
		return nil, nil
	}
	if (c.KeyFile == "") != (c.CertFile == "") {
		return nil, errors.New("ETCD_KEY_FILE and ETCD_CERT_FILE must be given together")
	}
	for name, f := range map[string]string{"ETCD_KEY_FILE": c.KeyFile, "ETCD_CERT_FILE": c.CertFile, "ETCD_CA_CERT_FILE": c.CACertFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	info := transport.TLSInfo{CertFile: c.CertFile, KeyFile: c.KeyFile, TrustedCAFile: c.CACertFile}
	cfg, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading etcd TLS files: %w", err)
	}
	return cfg, nil
}
