package node

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// Iface is a host interface and its addresses, as autodetection sees it.
type Iface struct {
	Name  string
	Addrs []*net.IPNet
}

// Method is a parsed IP_AUTODETECTION_METHOD.
type Method struct {
	Kind     string           // first-found, can-reach, interface, skip-interface, cidr
	Target   string           // can-reach destination
	Patterns []*regexp.Regexp // interface / skip-interface
	CIDRs    []*net.IPNet     // cidr
}

// firstFoundExcludes are the interfaces first-found never picks: containers, bridges, tunnels, loopback.
var firstFoundExcludes = regexp.MustCompile(`^(docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|lo|cali.*|tunl.*|flannel.*|kube-ipvs.*|vxlan.*|wireguard.*)$`)

// ParseMethod parses first-found, can-reach=X, interface=R1,R2, skip-interface=R1,R2 and cidr=C1,C2.
func ParseMethod(s string) (Method, error) {
	kind, arg, _ := strings.Cut(s, "=")
	m := Method{Kind: kind}
	switch kind {
	case "first-found":
		return m, nil
	case "can-reach":
		if arg == "" {
			return m, fmt.Errorf("can-reach needs a destination: can-reach=8.8.8.8 or can-reach=host.example")
		}
		m.Target = arg
		return m, nil
	case "interface", "skip-interface":
		if arg == "" {
			return m, fmt.Errorf("%s needs one or more comma-separated regular expressions", kind)
		}
		for _, p := range strings.Split(arg, ",") {
			re, err := regexp.Compile("^" + p + "$")
			if err != nil {
				return m, fmt.Errorf("%s: %q is not a regular expression: %w", kind, p, err)
			}
			m.Patterns = append(m.Patterns, re)
		}
		return m, nil
	case "cidr":
		for _, c := range strings.Split(arg, ",") {
			_, n, err := net.ParseCIDR(strings.TrimSpace(c))
			if err != nil {
				return m, fmt.Errorf("cidr: %q is not a CIDR", c)
			}
			m.CIDRs = append(m.CIDRs, n)
		}
		return m, nil
	}
	return m, fmt.Errorf("unknown autodetection method %q: use first-found, can-reach=, interface=, skip-interface= or cidr=", kind)
}

// Pick chooses an address of the wanted family from the interfaces, by a method other than can-reach.
// It returns the address (with its prefix length) and the interface it is on.
func (m Method) Pick(ifaces []Iface, v6 bool) (*net.IPNet, string, error) {
	for _, ifc := range ifaces {
		if !m.interfaceAllowed(ifc.Name) {
			continue
		}
		for _, a := range ifc.Addrs {
			if (a.IP.To4() == nil) != v6 || !a.IP.IsGlobalUnicast() {
				continue
			}
			if m.Kind == "cidr" && !anyContains(m.CIDRs, a.IP) {
				continue
			}
			return a, ifc.Name, nil
		}
	}
	return nil, "", fmt.Errorf("no interface has a usable IPv%s address for method %s", map[bool]string{false: "4", true: "6"}[v6], m.Kind)
}

func (m Method) interfaceAllowed(name string) bool {
	switch m.Kind {
	case "interface":
		return anyMatch(m.Patterns, name)
	case "skip-interface":
		return !anyMatch(m.Patterns, name) && !firstFoundExcludes.MatchString(name)
	default:
		return !firstFoundExcludes.MatchString(name)
	}
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func anyContains(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// HostInterfaces lists the host's interfaces that are up, in kernel order, with their addresses.
func HostInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []Iface
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing addresses of %s: %w", i.Name, err)
		}
		ifc := Iface{Name: i.Name}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ifc.Addrs = append(ifc.Addrs, n)
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

// reach finds the source address the kernel would use to reach target, and the interface that holds it.
// It sends no packet: connecting a UDP socket only consults the routing table.
func reach(target string, ifaces []Iface, v6 bool) (*net.IPNet, string, error) {
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	conn, err := net.Dial(network, net.JoinHostPort(target, "80"))
	if err != nil {
		return nil, "", fmt.Errorf("can-reach=%s: %w", target, err)
	}
	defer conn.Close()
	src := conn.LocalAddr().(*net.UDPAddr).IP
	for _, ifc := range ifaces {
		for _, a := range ifc.Addrs {
			if a.IP.Equal(src) {
				return a, ifc.Name, nil
			}
		}
	}
	return nil, "", fmt.Errorf("can-reach=%s: source address %s is on no interface", target, src)
}
