// Package controllers is calico-kube-controllers for the etcd datastore: it mirrors Kubernetes objects into
// Calico's datastore (namespaces and service accounts as profiles, NetworkPolicies as Calico policies, pod labels
// onto their endpoints) and cleans up after deleted nodes (their Calico Node, block affinities and leaked
// addresses). Each controller lists and watches through client-go informers, resyncs against the datastore
// periodically, and only writes what differs, so a restart changes nothing. What a Kubernetes object becomes is
// decided by the pure packages k8s/conversion and k8s/policy; this package is the edge that reads and writes.
package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/ipam"
)

// Names of the controllers, as ENABLED_CONTROLLERS lists them.
const (
	Policy           = "policy"
	Namespace        = "namespace"
	ServiceAccount   = "serviceaccount"
	WorkloadEndpoint = "workloadendpoint"
	Node             = "node"
)

// All lists every controller, in the order Calico's documentation does.
var All = []string{Policy, Namespace, ServiceAccount, WorkloadEndpoint, Node}

// mirrored is what each mirroring controller copies into the datastore.
var mirrored = map[string]string{Policy: "NetworkPolicies", Namespace: "namespaces", ServiceAccount: "service accounts",
	WorkloadEndpoint: "pod labels"}

// Config is what the controllers need.
type Config struct {
	Kube      kubernetes.Interface
	Datastore datastore.Client
	IPAM      *ipam.IPAM
	// KubernetesDatastore says the datastore is the API server itself: then Calico Nodes are the Kubernetes
	// Nodes (nothing to remove when one goes) and only the node controller has work to do.
	KubernetesDatastore bool
	// Enabled names the controllers to run (a subset of All).
	Enabled []string
	// ResyncPeriod is how often each controller compares all of Kubernetes with the datastore (Calico's
	// RECONCILER_PERIOD, 5m by default); events keep them in step in between.
	ResyncPeriod time.Duration
	// LeakGracePeriod is how long an address must stay without a live pod before the node controller releases
	// it (Calico's leakGracePeriod, 15m by default); 0 turns the release of leaked addresses off. Addresses on
	// deleted nodes whose pods are gone are released without waiting.
	LeakGracePeriod time.Duration
	Log             *slog.Logger
}

// Manager runs the enabled controllers.
type Manager struct {
	cfg         Config
	log         *slog.Logger
	factory     informers.SharedInformerFactory
	controllers []*controller
	api         *apiHealth
	writes      atomic.Int64
}

// ParseEnabled reads ENABLED_CONTROLLERS: a comma-separated list of controller names.
func ParseEnabled(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(All, name) {
			return nil, fmt.Errorf("ENABLED_CONTROLLERS: unknown controller %q (known: %s)", name, strings.Join(All, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ENABLED_CONTROLLERS: no controller named (known: %s)", strings.Join(All, ", "))
	}
	return out, nil
}

// New sets up the enabled controllers; Run starts them.
func New(cfg Config) (*Manager, error) {
	if cfg.Kube == nil || cfg.Datastore == nil || cfg.IPAM == nil {
		return nil, fmt.Errorf("controllers need a Kubernetes client, a datastore and its IPAM")
	}
	for _, name := range cfg.Enabled {
		if !slices.Contains(All, name) {
			return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(All, ", "))
		}
		if cfg.KubernetesDatastore && name != Node {
			return nil, fmt.Errorf("controller %q has nothing to do on the Kubernetes datastore, which reads %s straight from "+
				"Kubernetes; run only the node controller", name, mirrored[name])
		}
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 5 * time.Minute
	}
	if cfg.LeakGracePeriod < 0 {
		return nil, fmt.Errorf("leak grace period %s is negative", cfg.LeakGracePeriod)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Manager{cfg: cfg, log: cfg.Log, factory: informers.NewSharedInformerFactory(cfg.Kube, 0)}
	w := &writer{ds: cfg.Datastore, writes: &m.writes, log: cfg.Log}
	for _, name := range cfg.Enabled {
		var c *controller
		switch name {
		case Namespace:
			c = newNamespaceController(m.factory, w, cfg.Log)
		case ServiceAccount:
			c = newServiceAccountController(m.factory, w, cfg.Log)
		case Policy:
			c = newPolicyController(m.factory, w, cfg.Log)
		case WorkloadEndpoint:
			c = newEndpointController(m.factory, w, cfg.Log)
		case Node:
			c = newNodeController(m.factory, w, cfg.IPAM, cfg.KubernetesDatastore, cfg.LeakGracePeriod, cfg.Log)
		}
		m.controllers = append(m.controllers, c)
	}
	m.api = newAPIHealth(cfg.Kube, cfg.Log)
	for _, c := range m.controllers {
		for _, inf := range c.informers {
			// Shared informers (pods) get the same handler twice; the second call just replaces the first.
			if err := inf.SetWatchErrorHandler(m.api.watchError); err != nil {
				return nil, fmt.Errorf("controller %s: %w", c.name, err)
			}
		}
	}
	return m, nil
}

// Run starts the informers and every controller and returns when ctx ends.
func (m *Manager) Run(ctx context.Context) {
	m.log.Info("Starting controllers", "controllers", m.cfg.Enabled, "resyncPeriod", m.cfg.ResyncPeriod,
		"leakGracePeriod", m.cfg.LeakGracePeriod)
	m.factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.api.run(ctx)
	}()
	for _, c := range m.controllers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, m.cfg.ResyncPeriod)
		}()
	}
	wg.Wait()
	m.factory.Shutdown()
}

// Ready says whether the API server answers, every controller has finished a resync and none is failing now.
func (m *Manager) Ready() bool {
	if m.api.failing.Load() {
		return false
	}
	for _, c := range m.controllers {
		if !c.healthy() {
			return false
		}
	}
	return true
}

// Writes counts the datastore writes the controllers have made (creates, updates, deletes, releases).
func (m *Manager) Writes() int64 { return m.writes.Load() }
