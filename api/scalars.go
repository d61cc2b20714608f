package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ASNumber is a BGP AS number. Manifests may write it as a number (64512) or in dotted form ("1.10").
type ASNumber uint32

// UnmarshalJSON accepts 64512, "64512" and "1.10".
func (a *ASNumber) UnmarshalJSON(b []byte) error {
	var n uint64
	if err := json.Unmarshal(b, &n); err == nil {
		if n > 0xffffffff {
			return fmt.Errorf("AS number %d is out of range (0-4294967295)", n)
		}
		*a = ASNumber(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("AS number must be a number or a quoted dotted string like \"1.10\", not %s", b)
	}
	v, err := ParseASNumber(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseASNumber parses "64512" or the dotted form "1.10" (high.low 16-bit halves).
func ParseASNumber(s string) (ASNumber, error) {
	if hi, lo, dotted := strings.Cut(s, "."); dotted {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, fmt.Errorf("AS number %q is not valid: dotted form needs two numbers 0-65535", s)
		}
		return ASNumber(h<<16 | l), nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("AS number %q is not valid: must be 0-4294967295 or dotted like 1.10", s)
	}
	return ASNumber(n), nil
}

// String prints the plain number.
func (a ASNumber) String() string { return strconv.FormatUint(uint64(a), 10) }

// Protocol is a protocol name (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite) or number 1-255.
type Protocol struct {
	Name   string // set when written as a name
	Number uint8  // set when written as a number
}

// ProtocolFromString builds a Protocol from "TCP" or "6".
func ProtocolFromString(s string) Protocol {
	if n, err := strconv.ParseUint(s, 10, 8); err == nil {
		return Protocol{Number: uint8(n)}
	}
	return Protocol{Name: s}
}

// UnmarshalJSON accepts a name or a number.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 1 || n > 255 {
			return fmt.Errorf("protocol number %d is out of range (1-255)", n)
		}
		*p = Protocol{Number: uint8(n)}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("protocol must be a name or a number, not %s", b)
	}
	*p = ProtocolFromString(s)
	return nil
}

// MarshalJSON writes the name or the number, as it was given.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return json.Marshal(p.Number)
}

func (p Protocol) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// Num returns the IP protocol number (TCP 6, UDP 17, ICMP 1, ICMPv6 58, SCTP 132, UDPLite 136), or 0 if unknown.
func (p Protocol) Num() uint8 {
	if p.Name == "" {
		return p.Number
	}
	return protocolNumbers[p.Name]
}

var protocolNumbers = map[string]uint8{"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136}

// SupportsPorts says whether rules with this protocol may match ports: TCP, UDP and SCTP, as in Calico.
func (p Protocol) SupportsPorts() bool {
	n := p.Num()
	return n == 6 || n == 17 || n == 132
}

// Port is a port, a range "1000:2000", or a named port of the endpoint.
type Port struct {
	MinPort  uint16
	MaxPort  uint16
	PortName string
}

// UnmarshalJSON accepts 80, "80", "1000:2000" and "http".
func (p *Port) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		if n < 1 || n > 65535 {
			return fmt.Errorf("port %d is invalid: port number must be between 1 and 65535", n)
		}
		*p = Port{MinPort: uint16(n), MaxPort: uint16(n)}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("port must be a number, a range \"min:max\" or a name, not %s", b)
	}
	v, err := ParsePort(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParsePort parses "80", "1000:2000" or a port name.
func ParsePort(s string) (Port, error) {
	lo, hi, isRange := strings.Cut(s, ":")
	if !isRange {
		if n, err := strconv.Atoi(s); err == nil {
			if n < 1 || n > 65535 {
				return Port{}, fmt.Errorf("port %d is invalid: port number must be between 1 and 65535", n)
			}
			return Port{MinPort: uint16(n), MaxPort: uint16(n)}, nil
		}
		if !portNameRE.MatchString(s) {
			return Port{}, fmt.Errorf("port %q is invalid: not a number, a range or a valid port name", s)
		}
		return Port{PortName: s}, nil
	}
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || l < 1 || h > 65535 || l > h {
		return Port{}, fmt.Errorf("port range %q is invalid: must be min:max with 1 <= min <= max <= 65535", s)
	}
	return Port{MinPort: uint16(l), MaxPort: uint16(h)}, nil
}

// MarshalJSON writes a number, a "min:max" string or the name.
func (p Port) MarshalJSON() ([]byte, error) {
	switch {
	case p.PortName != "":
		return json.Marshal(p.PortName)
	case p.MinPort == p.MaxPort:
		return json.Marshal(p.MinPort)
	default:
		return json.Marshal(p.String())
	}
}

func (p Port) String() string {
	switch {
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.Itoa(int(p.MinPort))
	default:
		return fmt.Sprintf("%d:%d", p.MinPort, p.MaxPort)
	}
}

// Duration is a time.Duration written as a string like "90s" in manifests.
type Duration struct{ time.Duration }

// UnmarshalJSON parses "90s", "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"90s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q is invalid: %w", s, err)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }
