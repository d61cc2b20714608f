package cni

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

func TestEndpointNameDoublesDashesInsideParts(t *testing.T) {
	tests := []struct {
		name                      string
		node, containerID, ifName string
		want                      string
	}{
		{"plain parts are joined with single dashes", "node1", "abc123", "eth0", "node1-cni-abc123-eth0"},
		{"a dash in the node name is doubled", "host-1", "abc123", "eth0", "host--1-cni-abc123-eth0"},
		{"cnitool's container IDs get their dash doubled", "n", "cnitool-0a1b", "eth0", "n-cni-cnitool--0a1b-eth0"},
		{"dashes in every part are doubled", "a-b", "c-d", "e-f", "a--b-cni-c--d-e--f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EndpointName(tt.node, tt.containerID, tt.ifName); got != tt.want {
				t.Errorf("expected %q, got %q", tt.want, got)
			}
		})
	}
}

func TestHostVethNameIsCaliPlusElevenHexOfSHA1(t *testing.T) {
	// sha1("n.c.eth0") = 047019fa0d793edbdb240b7ae4a7d79cd5586fc8
	if got, want := HostVethName(WorkloadID("n", "c", "eth0")), "cali047019fa0d7"; got != want {
		t.Errorf("expected %s, got %s", want, got)
	}
	a := HostVethName(WorkloadID("net", "container-with-a-very-long-id-0123456789abcdef", "eth0"))
	b := HostVethName(WorkloadID("net", "container-with-a-very-long-id-0123456789abcdef", "eth1"))
	if len(a) != 15 || a == b {
		t.Errorf("expected distinct 15-character names for two interfaces of one container, got %q and %q", a, b)
	}
}

func TestHandleIDIsNetworkDotContainer(t *testing.T) {
	if got := HandleID("net1", "abc123", "eth1"); got != "net1.abc123.eth1" {
		t.Errorf("a second interface's handle: got %q, want net1.abc123.eth1", got)
	}
	if got := HandleID("net1", "abc123", "eth0"); got != "net1.abc123" {
		t.Errorf("expected net1.abc123, got %s", got)
	}
}

func TestDefaultProfileAllowsItsOwnNetworkInAndEverythingOut(t *testing.T) {
	p := DefaultProfile("test-calico")
	if err := p.Validate(); err != nil {
		t.Fatalf("expected a valid profile, got %v", err)
	}
	b, _ := json.Marshal(p.Spec)
	want := `{"ingress":[{"action":"Allow","source":{"selector":"has(test-calico)"}}],"egress":[{"action":"Allow"}],"labelsToApply":{"test-calico":""}}`
	if string(b) != want {
		t.Errorf("expected spec\n%s\ngot\n%s", want, b)
	}
}

func TestResultFromEndpointConvertsToEverySpecVersion(t *testing.T) {
	wep := &api.WorkloadEndpoint{
		ObjectMeta: api.ObjectMeta{Name: "n-cni-c-eth0"},
		Spec: api.WorkloadEndpointSpec{
			InterfaceName: "cali047019fa0d7", Endpoint: "eth0", MAC: "0a:58:0a:01:00:05",
			IPNetworks: []string{"10.1.0.5/32", "fd00::5/128"},
		},
	}
	res, err := resultFromEndpoint(wep, "/var/run/netns/pod1")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range SupportedVersions.SupportedVersions() {
		t.Run(v, func(t *testing.T) {
			out, err := res.GetAsVersion(v)
			if err != nil {
				t.Fatalf("expected a %s result, got %v", v, err)
			}
			b, _ := json.Marshal(out)
			var got struct {
				CNIVersion string `json:"cniVersion"`
				Interfaces []struct{ Name, Mac, Sandbox string }
				IPs        []struct{ Address, Version string }
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			ifaces := fmt.Sprint(got.Interfaces)
			if want := "[{cali047019fa0d7 ee:ee:ee:ee:ee:ee } {eth0 0a:58:0a:01:00:05 /var/run/netns/pod1}]"; got.CNIVersion != v || ifaces != want {
				t.Errorf("expected version %s and interfaces %s, got %s and %s", v, want, got.CNIVersion, ifaces)
			}
			ips := fmt.Sprint(got.IPs)
			want := "[{10.1.0.5/32 } {fd00::5/128 }]"
			if strings.HasPrefix(v, "0.") {
				want = "[{10.1.0.5/32 4} {fd00::5/128 6}]" // results before 1.0.0 carry the IP version
			}
			if ips != want {
				t.Errorf("expected ips %s, got %s in %s", want, ips, b)
			}
		})
	}
}

func TestSingleAddressesForcesHostPrefixes(t *testing.T) {
	_, n4, _ := net.ParseCIDR("10.1.240.64/26")
	_, n6, _ := net.ParseCIDR("fd00::40/122")
	got := singleAddresses([]net.IPNet{*n4, *n6})
	if got[0].String() != "10.1.240.64/32" || got[1].String() != "fd00::40/128" {
		t.Errorf("expected 10.1.240.64/32 and fd00::40/128, got %v", got)
	}
}

func TestCNIErrorCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code uint
	}{
		{"a config error is code 7", fieldErr("mtu", "", "bad"), types.ErrInvalidNetworkConfig},
		{"a missing netns is code 8", &netnsError{path: "/x", err: errorString("gone")}, types.ErrInvalidNetNS},
		{"an unreachable datastore is code 11, try again later", fmt.Errorf("reading: %w", datastore.ErrUnreachable), types.ErrTryAgainLater},
		{"anything else is code 999", errorString("boom"), types.ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cniError(tt.err).(*types.Error).Code; got != tt.code {
				t.Errorf("expected code %d, got %d", tt.code, got)
			}
		})
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }
