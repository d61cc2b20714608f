package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This file is the only part of the package that touches the kernel: the veth pair, addresses, routes and
// sysctls of one pod attachment.

// podLink describes the wiring of one attachment.
type podLink struct {
	Netns    string      // path of the pod's network namespace
	IfName   string      // the pod-side name, e.g. eth0
	HostVeth string      // the host-side name, cali…
	MTU      int         // both ends
	IPs      []net.IPNet // /32 and /128 addresses for the pod side
}

// wiredLink is what setup learned about the pair it made.
type wiredLink struct {
	PodMAC string
}

var (
	gw4           = net.ParseIP(GatewayIPv4).To4()
	defaultRoute4 = net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	defaultRoute6 = net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
)

func hasFamily(ips []net.IPNet, v6 bool) bool {
	return slices.ContainsFunc(ips, func(n net.IPNet) bool { return (n.IP.To4() == nil) == v6 })
}

// setupPodLink creates the veth pair with its pod end inside the namespace, configures both ends and the pod's
// routes. It must run in the host namespace. On error the caller removes the host veth (which takes the pod end
// with it).
func setupPodLink(pl podLink) (wiredLink, error) {
	podNS, err := ns.GetNS(pl.Netns)
	if err != nil {
		return wiredLink{}, fmt.Errorf("opening netns %s: %w", pl.Netns, err)
	}
	defer podNS.Close()

	if old, err := linkByName(pl.HostVeth); err == nil {
		// Left by an ADD that died before it could clean up; the endpoint check already showed it is not in use.
		if err := netlink.LinkDel(old); err != nil {
			return wiredLink{}, fmt.Errorf("removing stale host veth %s: %w", pl.HostVeth, err)
		}
	}

	hostMAC, _ := net.ParseMAC(HostMAC)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: pl.HostVeth, MTU: pl.MTU, HardwareAddr: hostMAC},
		PeerName:      pl.IfName,
		PeerMTU:       uint32(pl.MTU),
		PeerNamespace: netlink.NsFd(int(podNS.Fd())),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return wiredLink{}, fmt.Errorf("creating veth %s/%s: an interface named %s already exists in netns %s",
				pl.HostVeth, pl.IfName, pl.IfName, pl.Netns)
		}
		return wiredLink{}, fmt.Errorf("creating veth %s/%s: %w", pl.HostVeth, pl.IfName, err)
	}

	if err := setupHostSide(pl); err != nil {
		return wiredLink{}, err
	}
	var wired wiredLink
	err = podNS.Do(func(ns.NetNS) error {
		var err error
		wired, err = setupPodSide(pl)
		return err
	})
	if err != nil || !hasFamily(pl.IPs, true) {
		return wired, err
	}
	// The host end gets its link-local address once the pair has carrier, that is once the pod end is up.
	hostLL, err := hostLinkLocal(pl.HostVeth, 5*time.Second)
	if err != nil {
		return wiredLink{}, err
	}
	err = podNS.Do(func(ns.NetNS) error { return addIPv6DefaultRoute(pl, hostLL) })
	return wired, err
}

// setupHostSide sets the host end's sysctls and brings it up.
func setupHostSide(pl podLink) error {
	v4, v6 := hasFamily(pl.IPs, false), hasFamily(pl.IPs, true)
	var settings [][2]string
	if v4 {
		settings = append(settings,
			[2]string{"net/ipv4/conf/" + pl.HostVeth + "/proxy_arp", "1"},
			[2]string{"net/ipv4/neigh/" + pl.HostVeth + "/proxy_delay", "0"},
			[2]string{"net/ipv4/conf/" + pl.HostVeth + "/forwarding", "1"})
	}
	if v6 {
		settings = append(settings,
			[2]string{"net/ipv6/conf/" + pl.HostVeth + "/disable_ipv6", "0"},
			[2]string{"net/ipv6/conf/" + pl.HostVeth + "/accept_ra", "0"},
			[2]string{"net/ipv6/conf/" + pl.HostVeth + "/proxy_ndp", "1"},
			[2]string{"net/ipv6/conf/" + pl.HostVeth + "/forwarding", "1"})
	}
	for _, s := range settings {
		if err := writeSysctl(s[0], s[1]); err != nil {
			return err
		}
	}
	link, err := linkByName(pl.HostVeth)
	if err != nil {
		return fmt.Errorf("finding host veth %s: %w", pl.HostVeth, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting host veth %s up: %w", pl.HostVeth, err)
	}
	return nil
}

// hostLinkLocal waits up to timeout for the kernel to give a host link its fe80:: address.
func hostLinkLocal(name string, timeout time.Duration) (net.IP, error) {
	link, err := linkByName(name)
	if err != nil {
		return nil, fmt.Errorf("finding host veth %s: %w", name, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		addrs, err := addrList(link, netlink.FAMILY_V6)
		if err != nil {
			return nil, fmt.Errorf("listing addresses of %s: %w", link.Attrs().Name, err)
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				return a.IP, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("host veth %s has no IPv6 link-local address after %s (is IPv6 disabled on the host?)",
				link.Attrs().Name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setupPodSide runs inside the pod namespace: pod end up, addresses, and the IPv4 link route to the gateway and
// default route via it.
func setupPodSide(pl podLink) (wiredLink, error) {
	link, err := linkByName(pl.IfName)
	if err != nil {
		return wiredLink{}, fmt.Errorf("finding %s in netns %s: %w", pl.IfName, pl.Netns, err)
	}
	if hasFamily(pl.IPs, true) {
		for _, s := range []string{"all", "default", "lo", pl.IfName} {
			if err := writeSysctl("net/ipv6/conf/"+s+"/disable_ipv6", "0"); err != nil {
				return wiredLink{}, err
			}
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return wiredLink{}, fmt.Errorf("setting %s up in netns %s: %w", pl.IfName, pl.Netns, err)
	}
	for _, ip := range pl.IPs {
		addr := &netlink.Addr{IPNet: &ip}
		if ip.IP.To4() == nil {
			addr.Flags = unix.IFA_F_NODAD // the address is ours alone; don't make the pod wait for DAD
		}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return wiredLink{}, fmt.Errorf("adding %s to %s in netns %s: %w", ip.String(), pl.IfName, pl.Netns, err)
		}
	}
	idx := link.Attrs().Index
	var routes []*netlink.Route
	if hasFamily(pl.IPs, false) {
		routes = append(routes,
			&netlink.Route{LinkIndex: idx, Scope: netlink.SCOPE_LINK, Dst: &net.IPNet{IP: gw4, Mask: net.CIDRMask(32, 32)}},
			&netlink.Route{LinkIndex: idx, Dst: &defaultRoute4, Gw: gw4})
	}
	for _, r := range routes {
		if err := netlink.RouteAdd(r); err != nil {
			return wiredLink{}, fmt.Errorf("adding route %s in netns %s: %w", r, pl.Netns, err)
		}
	}
	if hasFamily(pl.IPs, false) {
		// The host answers ARP for the gateway through proxy_arp only when it has a route to 169.254.1.1, which
		// a host without a default route lacks. The gateway's MAC is always the host end's, so the pod is told
		// it instead of asking.
		if err := netlink.NeighSet(gatewayNeighbour(idx)); err != nil {
			return wiredLink{}, fmt.Errorf("adding neighbour %s lladdr %s in netns %s: %w", GatewayIPv4, HostMAC, pl.Netns, err)
		}
	}
	return wiredLink{PodMAC: link.Attrs().HardwareAddr.String()}, nil
}

// gatewayNeighbour is the pod's permanent neighbour entry for its IPv4 gateway: the host end's fixed MAC.
func gatewayNeighbour(linkIndex int) *netlink.Neigh {
	mac, _ := net.ParseMAC(HostMAC)
	return &netlink.Neigh{LinkIndex: linkIndex, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, IP: gw4, HardwareAddr: mac}
}

// addIPv6DefaultRoute runs inside the pod namespace: the default route via the host end's link-local address.
func addIPv6DefaultRoute(pl podLink, hostLL net.IP) error {
	link, err := linkByName(pl.IfName)
	if err != nil {
		return fmt.Errorf("finding %s in netns %s: %w", pl.IfName, pl.Netns, err)
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &defaultRoute6, Gw: hostLL}
	if err := netlink.RouteAdd(r); err != nil {
		return fmt.Errorf("adding route %s in netns %s: %w", r, pl.Netns, err)
	}
	return nil
}

// removeHostVeth deletes the pair by its host end; a missing link is not an error.
func removeHostVeth(name string) error {
	link, err := linkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("finding host veth %s: %w", name, err)
	}
	if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("deleting host veth %s: %w", name, err)
	}
	return nil
}

// checkPodLink verifies an attachment: the host end (up, MAC, sysctls) and, inside the namespace, the pod end
// with exactly the expected addresses and the gateway routes.
func checkPodLink(pl podLink) error {
	host, err := linkByName(pl.HostVeth)
	if err != nil {
		return fmt.Errorf("host veth %s: %w", pl.HostVeth, err)
	}
	if host.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("host veth %s is down", pl.HostVeth)
	}
	if mac := host.Attrs().HardwareAddr.String(); mac != HostMAC {
		return fmt.Errorf("host veth %s has MAC %s, expected %s", pl.HostVeth, mac, HostMAC)
	}
	if hasFamily(pl.IPs, false) {
		for _, s := range []string{"conf/" + pl.HostVeth + "/proxy_arp", "conf/" + pl.HostVeth + "/forwarding"} {
			if v, err := readSysctl("net/ipv4/" + s); err != nil || v != "1" {
				return fmt.Errorf("host sysctl net/ipv4/%s is %q (%v), expected 1", s, v, err)
			}
		}
	}
	var hostLL net.IP
	if hasFamily(pl.IPs, true) {
		if hostLL, err = hostLinkLocal(pl.HostVeth, 0); err != nil {
			return err
		}
	}
	return ns.WithNetNSPath(pl.Netns, func(ns.NetNS) error { return checkPodSide(pl, hostLL) })
}

func checkPodSide(pl podLink, hostLL net.IP) error {
	link, err := linkByName(pl.IfName)
	if err != nil {
		return fmt.Errorf("interface %s in netns %s: %w", pl.IfName, pl.Netns, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		return fmt.Errorf("interface %s in netns %s is down", pl.IfName, pl.Netns)
	}
	addrs, err := addrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", pl.IfName, err)
	}
	var have []string
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() {
			have = append(have, a.IPNet.String())
		}
	}
	var want []string
	for _, ip := range pl.IPs {
		want = append(want, ip.String())
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		return fmt.Errorf("interface %s in netns %s has addresses [%s], expected [%s]", pl.IfName, pl.Netns,
			strings.Join(have, " "), strings.Join(want, " "))
	}
	routes, err := routeList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing routes of %s: %w", pl.IfName, err)
	}
	has := func(dst net.IPNet, gw net.IP, scope netlink.Scope) bool {
		return slices.ContainsFunc(routes, func(r netlink.Route) bool {
			d := r.Dst
			if d == nil {
				d = &defaultRoute4
				if r.Family == netlink.FAMILY_V6 {
					d = &defaultRoute6
				}
			}
			return d.String() == dst.String() && r.Gw.Equal(gw) && (scope == netlink.SCOPE_UNIVERSE || r.Scope == scope)
		})
	}
	if hasFamily(pl.IPs, false) {
		if !has(net.IPNet{IP: gw4, Mask: net.CIDRMask(32, 32)}, nil, netlink.SCOPE_LINK) {
			return fmt.Errorf("netns %s has no route %s dev %s scope link", pl.Netns, GatewayIPv4, pl.IfName)
		}
		if !has(defaultRoute4, gw4, netlink.SCOPE_UNIVERSE) {
			return fmt.Errorf("netns %s has no default route via %s dev %s", pl.Netns, GatewayIPv4, pl.IfName)
		}
		neighs, err := netlink.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("listing neighbours of %s: %w", pl.IfName, err)
		}
		if !slices.ContainsFunc(neighs, func(n netlink.Neigh) bool {
			return n.IP.Equal(gw4) && n.HardwareAddr.String() == HostMAC && n.State&netlink.NUD_PERMANENT != 0
		}) {
			return fmt.Errorf("netns %s has no permanent neighbour %s lladdr %s dev %s", pl.Netns, GatewayIPv4, HostMAC, pl.IfName)
		}
	}
	if hasFamily(pl.IPs, true) && !has(defaultRoute6, hostLL, netlink.SCOPE_UNIVERSE) {
		return fmt.Errorf("netns %s has no IPv6 default route via %s dev %s", pl.Netns, hostLL, pl.IfName)
	}
	return nil
}

func writeSysctl(name, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", name), []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s=%s: %w", strings.ReplaceAll(name, "/", "."), value, err)
	}
	return nil
}

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", name))
	return strings.TrimSpace(string(b)), err
}

// The kernel may interrupt a netlink dump when the table changes under it; netlink then returns a partial answer
// with ErrDumpInterrupted. These wrappers retry a few times.

func retryDump[T any](f func() (T, error)) (T, error) {
	var v T
	var err error
	for range 5 {
		v, err = f()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

func linkByName(name string) (netlink.Link, error) {
	return retryDump(func() (netlink.Link, error) { return netlink.LinkByName(name) })
}

func addrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, family) })
}

func routeList(link netlink.Link, family int) ([]netlink.Route, error) {
	return retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(link, family) })
}

// podLinkMAC is the MAC address of the pod's interface.
func podLinkMAC(netnsPath, ifName string) (string, error) {
	var mac string
	err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := linkByName(ifName)
		if err != nil {
			return fmt.Errorf("interface %s in netns %s: %w", ifName, netnsPath, err)
		}
		mac = link.Attrs().HardwareAddr.String()
		return nil
	})
	return mac, err
}
