package ipam

import (
	"fmt"
	"net/netip"
	"strings"
)

// Key layout under /calico/ipam/v2/, the same as Calico's etcd v3 mode so that its tools read what we write.
const (
	Prefix          = "/calico/ipam/v2/"
	assignmentRoot  = Prefix + "assignment/"
	hostRoot        = Prefix + "host/"
	handleRoot      = Prefix + "handle/"
	ConfigKey       = Prefix + "config"
	affinityHostTag = "host:"
)

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// cidrSegment writes a CIDR the way keys carry it: the slash becomes a dash ("10.0.0.64-26").
func cidrSegment(p netip.Prefix) string {
	return strings.Replace(p.String(), "/", "-", 1)
}

func parseCIDRSegment(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(strings.Replace(s, "-", "/", 1))
	if err != nil || p != p.Masked() {
		return netip.Prefix{}, false
	}
	return p, true
}

// BlockPrefix is the prefix of the block keys of one IP family (4 or 6).
func BlockPrefix(ipVersion int) string {
	return fmt.Sprintf("%sipv%d/block/", assignmentRoot, ipVersion)
}

// BlockKey is where a block lives: /calico/ipam/v2/assignment/ipv4/block/10.0.0.64-26.
func BlockKey(cidr netip.Prefix) string {
	return BlockPrefix(family(cidr)) + cidrSegment(cidr)
}

// ParseBlockKey returns the CIDR of a block key.
func ParseBlockKey(key string) (netip.Prefix, bool) {
	for _, v := range []int{4, 6} {
		if rest, ok := strings.CutPrefix(key, BlockPrefix(v)); ok && !strings.Contains(rest, "/") {
			p, ok := parseCIDRSegment(rest)
			return p, ok && family(p) == v
		}
	}
	return netip.Prefix{}, false
}

// HostAffinityPrefix is the prefix of a host's affinity keys of one IP family, or of both when ipVersion is 0.
func HostAffinityPrefix(host string, ipVersion int) string {
	if ipVersion == 0 {
		return hostRoot + host + "/"
	}
	return fmt.Sprintf("%s%s/ipv%d/block/", hostRoot, host, ipVersion)
}

// AffinityKey is where a host's claim on a block lives: /calico/ipam/v2/host/<host>/ipv4/block/10.0.0.64-26.
func AffinityKey(host string, cidr netip.Prefix) string {
	return HostAffinityPrefix(host, family(cidr)) + cidrSegment(cidr)
}

// ParseAffinityKey returns the host and block CIDR of an affinity key.
func ParseAffinityKey(key string) (host string, cidr netip.Prefix, ok bool) {
	rest, found := strings.CutPrefix(key, hostRoot)
	if !found {
		return "", netip.Prefix{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[2] != "block" || (parts[1] != "ipv4" && parts[1] != "ipv6") {
		return "", netip.Prefix{}, false
	}
	cidr, ok = parseCIDRSegment(parts[3])
	if !ok || fmt.Sprintf("ipv%d", family(cidr)) != parts[1] {
		return "", netip.Prefix{}, false
	}
	return parts[0], cidr, true
}

// HandleKey is where a handle's per-block counts live: /calico/ipam/v2/handle/<id>.
func HandleKey(id string) string { return handleRoot + id }

// ParseHandleKey returns the handle ID of a handle key.
func ParseHandleKey(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, handleRoot)
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// checkHandleID rejects IDs that would not make a single key segment.
func checkHandleID(id string) error {
	if strings.Contains(id, "/") {
		return fmt.Errorf("handle ID %q must not contain '/'", id)
	}
	return nil
}

func checkHost(host string) error {
	if host == "" {
		return fmt.Errorf("no host given")
	}
	if strings.Contains(host, "/") {
		return fmt.Errorf("host name %q must not contain '/'", host)
	}
	return nil
}
