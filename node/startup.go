package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

// Version is written to ClusterInformation; set at build time.
var Version = "dev"

// Startup is one run of calico-node -startup.
type Startup struct {
	Config     Config
	Datastore  datastore.Client
	Log        *slog.Logger
	Interfaces func() ([]Iface, error) // HostInterfaces unless a test says otherwise
	Name       string                  // the node name Run decided on
}

// Run registers this node and creates the cluster defaults. It logs one line per decision and returns an error
// that says what to fix; nothing is half-done on failure except what was already valid on its own.
func (s *Startup) Run(ctx context.Context) error {
	log := s.Log
	if s.Interfaces == nil {
		s.Interfaces = HostInterfaces
	}
	name, err := s.nodeName()
	if err != nil {
		return err
	}
	log.Info("Determined node name", "node", name)
	s.Name = name

	if err := s.waitForDatastore(ctx); err != nil {
		return err
	}
	nodeKind, _ := api.LookupKind("Node")
	node := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	existing := false
	switch r, err := s.Datastore.Get(ctx, nodeKind, "", name); {
	case err == nil:
		node = r.(*api.Node)
		existing = true
		log.Info("Found existing node resource", "node", name)
	case errors.Is(err, datastore.ErrNotFound):
		log.Info("Building new node resource", "node", name)
	default:
		return fmt.Errorf("reading node %s from the datastore: %w", name, err)
	}
	api.SetTypeMeta(node)

	// The vxlan backend needs the address as much as bird does: felix uses it as the node's VTEP address.
	if s.Config.Backend != "none" || s.Config.IP != "" {
		if err := s.configureAddresses(ctx, node); err != nil {
			return err
		}
	}
	if err := s.configureAS(node); err != nil {
		return err
	}
	if s.Config.NodeRef != "" {
		s.addOrchRef(node)
	}
	s.ensureDirs()

	if node.Spec.BGP != nil && *node.Spec.BGP == (api.NodeBGPSpec{}) {
		node.Spec.BGP = nil
	}
	if err := node.Validate(); err != nil {
		return fmt.Errorf("node %s is not valid: %w", name, err)
	}
	if existing {
		_, err = s.Datastore.Update(ctx, node)
	} else {
		_, err = s.Datastore.Create(ctx, node)
	}
	if err != nil {
		return fmt.Errorf("writing node %s: %w", name, err)
	}
	log.Info("Node resource written", "node", name, "ipv4", bgpField(node, "v4"), "ipv6", bgpField(node, "v6"))

	if err := s.createPools(ctx); err != nil {
		return err
	}
	if err := s.ensureClusterDefaults(ctx, name); err != nil {
		return err
	}
	if err := writeNodeName(s.Config.NodeNameFile, name); err != nil {
		return err
	}
	log.Info("Using node name: " + name)
	return nil
}

// nodeName follows Calico's order: NODENAME, the stored name, HOSTNAME, the OS hostname.
func (s *Startup) nodeName() (string, error) {
	c := s.Config
	var name string
	switch {
	case c.NodeName != "":
		name = c.NodeName
		s.Log.Info("Using NODENAME environment for node name", "node", name)
	case readNodeName(c.NodeNameFile) != "":
		name = readNodeName(c.NodeNameFile)
		s.Log.Info("Using stored node name from "+c.NodeNameFile, "node", name)
	case c.Hostname != "":
		name = c.Hostname
		s.Log.Info("Using HOSTNAME environment (lowercase) for node name", "node", name)
	default:
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("no NODENAME or HOSTNAME given and the host name is unknown: %w", err)
		}
		name = strings.ToLower(strings.TrimSpace(h))
		s.Log.Warn("No NODENAME or HOSTNAME: using the host name; set NODENAME to make it explicit", "node", name)
	}
	check := api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
	if err := check.Validate(); err != nil {
		return "", fmt.Errorf("node name %q is not usable: %w", name, err)
	}
	return name, nil
}

func readNodeName(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writeNodeName(path, name string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing node name file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(name), 0o644); err != nil {
		return fmt.Errorf("writing node name file: %w", err)
	}
	return os.Rename(tmp, path)
}

// waitForDatastore pings etcd until it answers or the bounded wait ends.
func (s *Startup) waitForDatastore(ctx context.Context) error {
	type pinger interface{ Ping(context.Context) error }
	p, ok := s.Datastore.(pinger)
	if !ok {
		return nil
	}
	deadline := time.Now().Add(s.Config.DatastoreWait)
	s.Log.Info("Checking datastore connection")
	for attempt := 1; ; attempt++ {
		err := p.Ping(ctx)
		if err == nil {
			s.Log.Info("Datastore connection verified")
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("datastore not reachable after %s (set DATASTORE_WAIT_TIMEOUT to wait longer): %w", s.Config.DatastoreWait, err)
		}
		s.Log.Warn("Waiting for the datastore", "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// configureAddresses sets the node's BGP IPv4/IPv6 addresses and refuses one another node already uses.
func (s *Startup) configureAddresses(ctx context.Context, node *api.Node) error {
	if node.Spec.BGP == nil {
		node.Spec.BGP = &api.NodeBGPSpec{}
	}
	b := node.Spec.BGP
	v4, err := s.address(s.Config.IP, s.Config.IPMethod, b.IPv4Address, false, true)
	if err != nil {
		return err
	}
	v6, err := s.address(s.Config.IP6, s.Config.IP6Method, b.IPv6Address, true, false)
	if err != nil {
		return err
	}
	if v4 == "" && v6 == "" && s.Config.Backend != "none" {
		return errors.New("no IPv4 or IPv6 address for BGP: set IP (an address, or autodetect with IP_AUTODETECTION_METHOD) or IP6")
	}
	if !s.Config.DisableIPCheck {
		if err := s.checkUnique(ctx, node.Name, v4, v6); err != nil {
			return err
		}
	}
	b.IPv4Address, b.IPv6Address = v4, v6
	return nil
}

// address decides one family's address: literal, none, autodetected, or (when unset) the stored one.
func (s *Startup) address(env, method, stored string, v6, autoByDefault bool) (string, error) {
	fam, varName := "IPv4", "IP"
	if v6 {
		fam, varName = "IPv6", "IP6"
	}
	switch {
	case env == "none":
		s.Log.Info("Not using an " + fam + " address: " + varName + "=none")
		return "", nil
	case env == "" && stored != "":
		s.Log.Info("Using "+fam+" address already configured on the node", "address", stored)
		return stored, nil
	case env == "" && !autoByDefault:
		return "", nil
	case env == "" || env == "autodetect":
		return s.autodetect(method, v6)
	}
	n, _ := parseAddr(env, v6) // checked in ConfigFromEnv
	ifaces, _ := s.Interfaces()
	for _, ifc := range ifaces {
		for _, a := range ifc.Addrs {
			if a.IP.Equal(n.IP) {
				if !strings.Contains(env, "/") {
					n.Mask = a.Mask // take the prefix length from the interface, as Calico does
				}
				s.Log.Info(fmt.Sprintf("Using %s address from environment: %s=%s", fam, varName, env), "interface", ifc.Name, "address", n.String())
				return n.String(), nil
			}
		}
	}
	s.Log.Info(fmt.Sprintf("Using %s address from environment: %s=%s", fam, varName, env), "address", n.String())
	s.Log.Warn("Unable to confirm the "+fam+" address is assigned to this host", "address", n.IP.String())
	return n.String(), nil
}

func (s *Startup) autodetect(method string, v6 bool) (string, error) {
	fam := map[bool]string{false: "IPv4", true: "IPv6"}[v6]
	m, _ := ParseMethod(method) // checked in ConfigFromEnv
	ifaces, err := s.Interfaces()
	if err != nil {
		return "", err
	}
	var addr *net.IPNet
	var ifname string
	if m.Kind == "can-reach" {
		addr, ifname, err = reach(m.Target, ifaces, v6)
	} else {
		addr, ifname, err = m.Pick(ifaces, v6)
	}
	if err != nil {
		return "", fmt.Errorf("couldn't autodetect an %s address (method %s): %w", fam, method, err)
	}
	s.Log.Info("Using autodetected "+fam+" address on interface "+ifname+": "+addr.String(), "method", method)
	return addr.String(), nil
}

// checkUnique refuses an address that another node already has.
func (s *Startup) checkUnique(ctx context.Context, self, v4, v6 string) error {
	nodeKind, _ := api.LookupKind("Node")
	nodes, _, err := s.Datastore.List(ctx, nodeKind, "")
	if err != nil {
		return fmt.Errorf("listing nodes to check addresses: %w", err)
	}
	for _, r := range nodes {
		other := r.(*api.Node)
		if other.Name == self || other.Spec.BGP == nil {
			continue
		}
		if v4 != "" && sameIP(v4, other.Spec.BGP.IPv4Address) {
			return fmt.Errorf("calico node '%s' is already using the IPv4 address %s: give this node another address (IP=) or remove that node", other.Name, ipOnly(v4))
		}
		if v6 != "" && sameIP(v6, other.Spec.BGP.IPv6Address) {
			return fmt.Errorf("calico node '%s' is already using the IPv6 address %s: give this node another address (IP6=) or remove that node", other.Name, ipOnly(v6))
		}
	}
	return nil
}

func ipOnly(s string) string {
	ip, _, _ := strings.Cut(s, "/")
	return ip
}

func sameIP(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	return net.ParseIP(ipOnly(a)).Equal(net.ParseIP(ipOnly(b)))
}

func bgpField(n *api.Node, fam string) string {
	if n.Spec.BGP == nil {
		return ""
	}
	if fam == "v4" {
		return n.Spec.BGP.IPv4Address
	}
	return n.Spec.BGP.IPv6Address
}

func (s *Startup) configureAS(node *api.Node) error {
	if s.Config.AS == "" {
		if node.Spec.BGP != nil && node.Spec.BGP.ASNumber != nil {
			s.Log.Info("Using AS number already configured on the node", "as", node.Spec.BGP.ASNumber.String())
		} else {
			s.Log.Info("No AS number configured on node resource, using global value")
		}
		return nil
	}
	as, _ := api.ParseASNumber(s.Config.AS) // checked in ConfigFromEnv
	if node.Spec.BGP == nil {
		node.Spec.BGP = &api.NodeBGPSpec{}
	}
	node.Spec.BGP.ASNumber = &as
	s.Log.Info("Using AS number specified in environment (AS=" + s.Config.AS + ")")
	return nil
}

func (s *Startup) addOrchRef(node *api.Node) {
	for _, r := range node.Spec.OrchRefs {
		if r.Orchestrator == "k8s" && r.NodeName == s.Config.NodeRef {
			return
		}
	}
	node.Spec.OrchRefs = append(node.Spec.OrchRefs, api.OrchRef{NodeName: s.Config.NodeRef, Orchestrator: "k8s"})
}

func (s *Startup) ensureDirs() {
	for _, d := range s.Config.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			s.Log.Warn("Could not create directory", "dir", d, "err", err)
		}
	}
}

// createPools creates each default pool whose IP version has no pool yet.
func (s *Startup) createPools(ctx context.Context) error {
	if s.Config.NoDefaultPools {
		s.Log.Info("Skipping IP pool configuration: NO_DEFAULT_POOLS=true")
		return nil
	}
	poolKind, _ := api.LookupKind("IPPool")
	existing, _, err := s.Datastore.List(ctx, poolKind, "")
	if err != nil {
		return fmt.Errorf("listing IP pools: %w", err)
	}
	var pools []*api.IPPool
	for _, r := range existing {
		pools = append(pools, r.(*api.IPPool))
	}
	for _, pc := range s.Config.Pools {
		v6 := strings.Contains(pc.CIDR, ":")
		if hasFamily(pools, v6) {
			s.Log.Info("IP pool of this version already exists; not creating a default one", "cidr", pc.CIDR)
			continue
		}
		p := &api.IPPool{ObjectMeta: api.ObjectMeta{Name: pc.Name}, Spec: api.IPPoolSpec{CIDR: pc.CIDR, BlockSize: pc.BlockSize,
			IPIPMode: pc.IPIPMode, VXLANMode: pc.VXLANMode, NATOutgoing: pc.NATOutgoing, NodeSelector: pc.NodeSelector}}
		p.Default()
		if err := p.Validate(); err != nil {
			return fmt.Errorf("default pool from CALICO_IPV%sPOOL_*: %w", map[bool]string{false: "4", true: "6"}[v6], err)
		}
		if err := api.PoolsOverlap(p, pools); err != nil {
			return fmt.Errorf("default pool: %w", err)
		}
		if _, err := s.Datastore.Create(ctx, p); err != nil && !errors.Is(err, datastore.ErrAlreadyExists) {
			return fmt.Errorf("creating default pool %s: %w", p.Spec.CIDR, err)
		}
		// No FelixConfiguration is written for an IPIP pool: felix turns IPIP on from the pools, as Calico's does.
		s.Log.Info(fmt.Sprintf("Created default IPv%s pool (%s) with NAT outgoing %t. IPIP mode: %s. VXLAN mode: %s",
			map[bool]string{false: "4", true: "6"}[v6], p.Spec.CIDR, p.Spec.NATOutgoing, p.Spec.IPIPMode, p.Spec.VXLANMode))
	}
	return nil
}

func hasFamily(pools []*api.IPPool, v6 bool) bool {
	for _, p := range pools {
		if p.IsIPv6() == v6 {
			return true
		}
	}
	return false
}

// ensureClusterDefaults writes ClusterInformation and FelixConfiguration defaults, filling only unset fields.
func (s *Startup) ensureClusterDefaults(ctx context.Context, node string) error {
	if err := s.ensureClusterInformation(ctx); err != nil {
		return err
	}
	if err := s.ensureDefaultTier(ctx); err != nil {
		return err
	}
	return s.updateFelixConfig(ctx, "node."+node, func(spec *api.FelixConfigurationSpec) {
		if spec.DefaultEndpointToHostAction == "" {
			spec.DefaultEndpointToHostAction = "Return"
		}
	})
}

// ensureDefaultTier creates the default tier (order 1,000,000, defaultAction Deny) when it is missing, as Calico's
// startup does; an existing one is left as it is.
func (s *Startup) ensureDefaultTier(ctx context.Context) error {
	_, err := s.Datastore.Create(ctx, api.DefaultTier())
	switch {
	case err == nil:
		s.Log.Info("Created the default tier")
	case !errors.Is(err, datastore.ErrAlreadyExists):
		return fmt.Errorf("creating the default tier: %w", err)
	}
	return nil
}

// ensureClusterInformation makes ClusterInformation default what Calico's startup makes it: a clusterGUID (32 hex
// digits) chosen once and then kept, calicoVersion set to this version, datastoreReady true unless it is set
// (an explicit false, left by an upgrade in progress, stays), and CLUSTER_TYPE's types added to clusterType's
// comma-separated list. It writes only when something changes, and never over a concurrent write.
func (s *Startup) ensureClusterInformation(ctx context.Context) error {
	kind, _ := api.LookupKind("ClusterInformation")
	for attempt := 0; attempt < 5; attempt++ {
		ci := &api.ClusterInformation{ObjectMeta: api.ObjectMeta{Name: "default"}}
		r, err := s.Datastore.Get(ctx, kind, "", "default")
		switch {
		case err == nil:
			ci = r.(*api.ClusterInformation)
		case !errors.Is(err, datastore.ErrNotFound):
			return fmt.Errorf("reading ClusterInformation default: %w", err)
		}
		before := ci.Spec
		fillClusterInformation(&ci.Spec, Version, s.Config.ClusterType)
		if err == nil && reflect.DeepEqual(before, ci.Spec) {
			return nil
		}
		if err == nil {
			_, err = s.Datastore.Update(ctx, ci)
		} else {
			_, err = s.Datastore.Create(ctx, api.SetTypeMeta(ci))
		}
		if err == nil {
			s.Log.Info("Wrote ClusterInformation default", "clusterGUID", ci.Spec.ClusterGUID, "calicoVersion", ci.Spec.CalicoVersion,
				"clusterType", ci.Spec.ClusterType)
			return nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrAlreadyExists) {
			return fmt.Errorf("writing ClusterInformation default: %w", err)
		}
	}
	return fmt.Errorf("writing ClusterInformation default: too many concurrent updates")
}

// fillClusterInformation applies ensureClusterInformation's rules to spec.
func fillClusterInformation(spec *api.ClusterInformationSpec, version, clusterType string) {
	if spec.ClusterGUID == "" {
		u := uuid.New() // a random (version 4) UUID, written as its 32 hex digits like Calico's
		spec.ClusterGUID = hex.EncodeToString(u[:])
	}
	if version != "" {
		spec.CalicoVersion = version
	}
	if spec.DatastoreReady == nil {
		ready := true
		spec.DatastoreReady = &ready
	}
	types := strings.Split(spec.ClusterType, ",")
	if spec.ClusterType == "" {
		types = nil
	}
	for _, t := range strings.Split(strings.TrimSuffix(clusterType, ","), ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	spec.ClusterType = strings.Join(types, ",")
}

// updateFelixConfig creates or updates a FelixConfiguration with change applied, retrying on conflicts.
func (s *Startup) updateFelixConfig(ctx context.Context, name string, change func(*api.FelixConfigurationSpec)) error {
	kind, _ := api.LookupKind("FelixConfiguration")
	for attempt := 0; attempt < 5; attempt++ {
		fc := &api.FelixConfiguration{ObjectMeta: api.ObjectMeta{Name: name}}
		r, err := s.Datastore.Get(ctx, kind, "", name)
		switch {
		case err == nil:
			fc = r.(*api.FelixConfiguration)
		case !errors.Is(err, datastore.ErrNotFound):
			return fmt.Errorf("reading FelixConfiguration %s: %w", name, err)
		}
		before := fc.Spec
		change(&fc.Spec)
		if err == nil && reflect.DeepEqual(before, fc.Spec) {
			return nil
		}
		if err == nil {
			_, err = s.Datastore.Update(ctx, fc)
		} else {
			_, err = s.Datastore.Create(ctx, api.SetTypeMeta(fc))
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, datastore.ErrConflict) && !errors.Is(err, datastore.ErrAlreadyExists) {
			return fmt.Errorf("writing FelixConfiguration %s: %w", name, err)
		}
	}
	return fmt.Errorf("writing FelixConfiguration %s: too many concurrent updates", name)
}
