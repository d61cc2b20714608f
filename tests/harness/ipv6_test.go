package harness

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestEnableIPv6GivesEveryHostAnAddressAndADefaultRouteViaTheRouter(t *testing.T) {
	if testing.Short() || os.Getuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	c, err := New(Options{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.EnableIPv6(); err != nil {
		t.Fatal(err)
	}
	h1, h2 := c.Hosts[0], c.Hosts[1]
	if want := netip.MustParseAddr("fd00:" + c.ID + "::11"); h1.IP6() != want {
		t.Errorf("host1's IPv6 address: got %s, want %s", h1.IP6(), want)
	}
	if !c.Subnet6().Contains(h2.IP6()) || !c.Subnet6().Contains(c.External.IP6()) {
		t.Errorf("host2 (%s) and the router (%s) should be in %s", h2.IP6(), c.External.IP6(), c.Subnet6())
	}
	out, err := h1.Run("ip", "-6", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, h1.IP6().String()+"/64") {
		t.Errorf("host1's eth0 should carry %s/64: %v\n%s", h1.IP6(), err, out)
	}
	route, _ := h2.Run("ip", "-6", "route", "show", "default")
	if want := "default via " + c.External.IP6().String() + " dev eth0"; !strings.Contains(route, want) {
		t.Errorf("host2's IPv6 default route: got %q, want it to contain %q", route, want)
	}
	if out, err := h1.Run("ping", "-6", "-c1", "-W2", h2.IP6().String()); err != nil {
		t.Errorf("host1 cannot reach host2 over IPv6: %v\n%s", err, out)
	}
	if out, err := h2.Run("ping", "-6", "-c1", "-W2", c.External.IP6().String()); err != nil {
		t.Errorf("host2 cannot reach the router over IPv6: %v\n%s", err, out)
	}
}
