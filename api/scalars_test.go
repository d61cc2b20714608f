package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseASNumber(t *testing.T) {
	cases := []struct {
		in      string
		want    ASNumber
		wantErr string
	}{
		{"64512", 64512, ""},
		{"0", 0, ""},
		{"4294967295", 4294967295, ""},
		{"1.10", 65546, ""},
		{"0.65535", 65535, ""},
		{"65535.65535", 4294967295, ""},
		{"4294967296", 0, "must be 0-4294967295"},
		{"-1", 0, "must be 0-4294967295"},
		{"", 0, "not valid"},
		{"as64512", 0, "not valid"},
		{"65536.1", 0, "dotted form needs two numbers 0-65535"},
		{"1.65536", 0, "dotted form needs two numbers 0-65535"},
		{"1.2.3", 0, "dotted form"},
		{".10", 0, "dotted form"},
		{"1.", 0, "dotted form"},
	}
	for _, c := range cases {
		t.Run("AS number "+c.in, func(t *testing.T) {
			got, err := ParseASNumber(c.in)
			checkScalar(t, got, err, c.want, c.wantErr)
		})
	}
}

func TestASNumberFromJSON(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    ASNumber
		wantErr string
	}{
		{"a plain number", `64512`, 64512, ""},
		{"a number in a string", `"64512"`, 64512, ""},
		{"the dotted form 1.10", `"1.10"`, 65546, ""},
		{"a number beyond 32 bits", `4294967296`, 0, "out of range"},
		{"an unquoted dotted form, which YAML turns into the float 1.1", `1.1`, 0, "quoted dotted string"},
		{"a negative number", `-5`, 0, "quoted dotted string"},
		{"a boolean", `true`, 0, "must be a number"},
		{"a bad dotted string", `"1.x"`, 0, "not valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got ASNumber
			err := json.Unmarshal([]byte(c.in), &got)
			checkScalar(t, got, err, c.want, c.wantErr)
		})
	}
	if s := ASNumber(65546).String(); s != "65546" {
		t.Errorf("expected ASNumber(65546) to print as 65546, got %q", s)
	}
}

func TestParsePort(t *testing.T) {
	cases := []struct {
		in      string
		want    Port
		wantErr string
	}{
		{"80", Port{MinPort: 80, MaxPort: 80}, ""},
		{"1", Port{MinPort: 1, MaxPort: 1}, ""},
		{"65535", Port{MinPort: 65535, MaxPort: 65535}, ""},
		{"1000:2000", Port{MinPort: 1000, MaxPort: 2000}, ""},
		{"443:443", Port{MinPort: 443, MaxPort: 443}, ""},
		{"1:65535", Port{MinPort: 1, MaxPort: 65535}, ""},
		{"http", Port{PortName: "http"}, ""},
		{"http-alt", Port{PortName: "http-alt"}, ""},
		{"0", Port{}, "between 1 and 65535"},
		{"65536", Port{}, "between 1 and 65535"},
		{"-1", Port{}, "between 1 and 65535"},
		{"2000:1000", Port{}, "port range \"2000:1000\" is invalid"},
		{"0:100", Port{}, "port range"},
		{"100:65536", Port{}, "port range"},
		{"1000:", Port{}, "port range"},
		{":2000", Port{}, "port range"},
		{"1:2:3", Port{}, "port range"},
		{"a:b", Port{}, "port range"},
		{"HTTP", Port{}, "not a number, a range or a valid port name"},
		{"-http", Port{}, "not a number, a range or a valid port name"},
		{"", Port{}, "not a number, a range or a valid port name"},
	}
	for _, c := range cases {
		t.Run("port "+c.in, func(t *testing.T) {
			got, err := ParsePort(c.in)
			checkScalar(t, got, err, c.want, c.wantErr)
		})
	}
}

func TestPortJSON(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    Port
		wantErr string
		out     string // how it is written back; "" means as read
	}{
		{"a number", `80`, Port{MinPort: 80, MaxPort: 80}, "", ""},
		{"a number in a string is written back as a number", `"80"`, Port{MinPort: 80, MaxPort: 80}, "", `80`},
		{"a range", `"1000:2000"`, Port{MinPort: 1000, MaxPort: 2000}, "", ""},
		{"a one-port range is written back as a number", `"22:22"`, Port{MinPort: 22, MaxPort: 22}, "", `22`},
		{"a name", `"metrics"`, Port{PortName: "metrics"}, "", ""},
		{"port 0", `0`, Port{}, "port 0 is invalid", ""},
		{"port 65536", `65536`, Port{}, "port 65536 is invalid", ""},
		{"a fraction", `80.5`, Port{}, "must be a number, a range", ""},
		{"an object", `{"port": 80}`, Port{}, "must be a number, a range", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Port
			err := json.Unmarshal([]byte(c.in), &got)
			checkScalar(t, got, err, c.want, c.wantErr)
			if c.wantErr != "" {
				return
			}
			out, err := json.Marshal(got)
			want := c.out
			if want == "" {
				want = c.in
			}
			if err != nil || string(out) != want {
				t.Fatalf("expected %v to be written as %s, got %s (%v)", got, want, out, err)
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	cases := []struct {
		name       string
		in         string
		want       Protocol
		wantErr    string
		wantNum    uint8
		wantPorts  bool
		wantString string
	}{
		{"TCP by name", `"TCP"`, Protocol{Name: "TCP"}, "", 6, true, "TCP"},
		{"UDP by name", `"UDP"`, Protocol{Name: "UDP"}, "", 17, true, "UDP"},
		{"SCTP by name", `"SCTP"`, Protocol{Name: "SCTP"}, "", 132, true, "SCTP"},
		{"UDPLite by name has no ports in Calico", `"UDPLite"`, Protocol{Name: "UDPLite"}, "", 136, false, "UDPLite"},
		{"ICMP by name", `"ICMP"`, Protocol{Name: "ICMP"}, "", 1, false, "ICMP"},
		{"ICMPv6 by name", `"ICMPv6"`, Protocol{Name: "ICMPv6"}, "", 58, false, "ICMPv6"},
		{"TCP by number", `6`, Protocol{Number: 6}, "", 6, true, "6"},
		{"UDP by number in a string", `"17"`, Protocol{Number: 17}, "", 17, true, "17"},
		{"GRE by number", `47`, Protocol{Number: 47}, "", 47, false, "47"},
		{"an unknown name is kept for Validate to reject", `"tcp"`, Protocol{Name: "tcp"}, "", 0, false, "tcp"},
		{"number 0 is rejected", `0`, Protocol{}, "out of range (1-255)", 0, false, ""},
		{"number 256 is rejected", `256`, Protocol{}, "out of range (1-255)", 0, false, ""},
		{"a boolean is rejected", `true`, Protocol{}, "must be a name or a number", 0, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Protocol
			err := json.Unmarshal([]byte(c.in), &got)
			checkScalar(t, got, err, c.want, c.wantErr)
			if c.wantErr != "" {
				return
			}
			if got.Num() != c.wantNum || got.SupportsPorts() != c.wantPorts || got.String() != c.wantString {
				t.Fatalf("expected number %d, ports %v, string %q; got %d, %v, %q",
					c.wantNum, c.wantPorts, c.wantString, got.Num(), got.SupportsPorts(), got.String())
			}
		})
	}
}

func TestDurationJSON(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr string
	}{
		{"seconds", `"90s"`, 90 * time.Second, ""},
		{"minutes and seconds", `"1m30s"`, 90 * time.Second, ""},
		{"milliseconds", `"500ms"`, 500 * time.Millisecond, ""},
		{"a bare number is rejected", `90`, 0, "must be a string like"},
		{"a word is rejected", `"soon"`, 0, "duration \"soon\" is invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Duration
			err := json.Unmarshal([]byte(c.in), &got)
			checkScalar(t, got.Duration, err, c.want, c.wantErr)
		})
	}
	out, _ := json.Marshal(Duration{90 * time.Second})
	if string(out) != `"1m30s"` {
		t.Errorf("expected 90s to be written as \"1m30s\", got %s", out)
	}
}

func checkScalar[T comparable](t *testing.T, got T, err error, want T, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("expected an error containing %q, got %v (value %v)", wantErr, err, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("expected %v, got error %v", want, err)
	}
	if got != want {
		t.Fatalf("expected %v, got %v", want, got)
	}
}
