package rules

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/felix/desired"
)

func TestNamedPortRules(t *testing.T) {
	tcp, udp := proto("TCP"), proto("UDP")
	tests := []struct {
		name string
		rule api.Rule
		// want are the match parts of the rendered rules that carry the action, in order.
		want []string
		// sets are the ipsets the rule uses: "s" for a selector set, "n:<port name>/<protocol>" for a named-port
		// set, each followed by the selector it holds.
		sets []string
	}{
		{"a named port alone matches its set on address and port, without the selector's own set",
			api.Rule{Action: api.ActionAllow, Protocol: tcp, Source: api.EntityRule{Selector: "role == 'client'"},
				Destination: api.EntityRule{Selector: "app == 'web'", Ports: ports("http")}},
			[]string{"-p tcp -m set --match-set S(role == \"client\") src -m set --match-set N(http/6) dst,dst"},
			[]string{`s role == "client"`, `n:http/6 app == "web"`}},
		{"a named port without a selector holds every endpoint",
			api.Rule{Action: api.ActionAllow, Protocol: udp, Destination: api.EntityRule{Ports: ports("dns")}},
			[]string{"-p udp -m set --match-set N(dns/17) dst,dst"},
			[]string{"n:dns/17 all()"}},
		{"numeric and named ports are alternatives, and the selector still limits the numeric ones",
			api.Rule{Action: api.ActionAllow, Protocol: tcp,
				Destination: api.EntityRule{Selector: "app == 'web'", Ports: ports("80", "http", "8000:8080", "https", "http")}},
			[]string{
				"-p tcp -m set --match-set S(app == \"web\") dst -m multiport --dports 80,8000:8080",
				"-p tcp -m set --match-set S(app == \"web\") dst -m set --match-set N(http/6) dst,dst",
				"-p tcp -m set --match-set S(app == \"web\") dst -m set --match-set N(https/6) dst,dst",
			},
			[]string{`s app == "web"`, `n:http/6 app == "web"`, `n:https/6 app == "web"`}},
		{"named notPorts must all not match, beside numeric ones",
			api.Rule{Action: api.ActionDeny, Protocol: tcp, Destination: api.EntityRule{NotPorts: ports("ssh", "22", "admin")}},
			[]string{"-p tcp -m multiport ! --dports 22 -m set ! --match-set N(ssh/6) dst,dst -m set ! --match-set N(admin/6) dst,dst"},
			[]string{"n:ssh/6 all()", "n:admin/6 all()"}},
		{"a named source port matches on source address and port",
			api.Rule{Action: api.ActionAllow, Protocol: udp, Source: api.EntityRule{Ports: ports("dns")}},
			[]string{"-p udp -m set --match-set N(dns/17) src,src"},
			[]string{"n:dns/17 all()"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := New(Config{}).Profile("p", api.ProfileSpec{Ingress: []api.Rule{tt.rule}})
			if err != nil {
				t.Fatal(err)
			}
			// Name the sets by what they hold, so the expectations do not depend on the hash.
			names := map[string]string{}
			var sets []string
			for _, s := range out.IPSets {
				if s.NamedPort.Name == "" {
					names[s.Name] = "S(" + s.Selector.String() + ")"
					sets = append(sets, "s "+s.Selector.String())
					if s.IPSetType() != desired.HashNet {
						t.Errorf("expected selector set %s to be hash:net, got %s", s.Name, s.IPSetType())
					}
					continue
				}
				id := s.NamedPort.Name + "/" + strconv.Itoa(int(s.NamedPort.Protocol))
				names[s.Name] = "N(" + id + ")"
				sets = append(sets, "n:"+id+" "+s.Selector.String())
				if !strings.HasPrefix(s.Name, "cali40n:") || len(s.Name) != maxIPSetName {
					t.Errorf("expected a named-port set name cali40n:<hash> of %d characters, got %q", maxIPSetName, s.Name)
				}
				if s.IPSetType() != desired.HashIPPort {
					t.Errorf("expected named-port set %s to be hash:ip,port, got %s", s.Name, s.IPSetType())
				}
			}
			var got []string
			for _, r := range out.Chains["cali-pri-p"] {
				if strings.Contains(r.Match, "-m mark") {
					continue
				}
				m := r.Match
				for name, label := range names {
					m = strings.ReplaceAll(m, name, label)
				}
				got = append(got, m)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("expected matches\n%s\ngot\n%s", strings.Join(tt.want, "\n"), strings.Join(got, "\n"))
			}
			if !sameElements(sets, tt.sets) {
				t.Errorf("expected sets %q, got %q", tt.sets, sets)
			}
		})
	}
}

func TestNamedPortSetIDsDependOnSelectorPortAndProtocol(t *testing.T) {
	name := func(version int, proto *api.Protocol, sel, port string) string {
		t.Helper()
		out, err := New(Config{IPVersion: version}).Profile("p", api.ProfileSpec{Ingress: []api.Rule{{Action: api.ActionAllow,
			Protocol: proto, Destination: api.EntityRule{Selector: sel, Ports: ports(port)}}}})
		if err != nil || len(out.IPSets) != 1 {
			t.Fatalf("expected one set, got %v (%v)", out.IPSets, err)
		}
		return out.IPSets[0].Name
	}
	base := name(4, proto("TCP"), "app == 'a'", "http")
	if again := name(4, proto("6"), "app=='a'", "http"); again != base {
		t.Errorf("expected the same set for the same selector, port and protocol however written, got %s and %s", base, again)
	}
	for what, other := range map[string]string{
		"another selector": name(4, proto("TCP"), "app == 'b'", "http"),
		"another port":     name(4, proto("TCP"), "app == 'a'", "https"),
		"another protocol": name(4, proto("UDP"), "app == 'a'", "http"),
	} {
		if other == base {
			t.Errorf("expected %s to give another set than %s", what, base)
		}
	}
	if v6 := name(6, proto("TCP"), "app == 'a'", "http"); v6 != "cali60"+base[len("cali40"):] {
		t.Errorf("expected the IPv6 set to differ from %s in its family prefix only, got %s", base, v6)
	}
}

func TestNamedPortMembers(t *testing.T) {
	tests := []struct {
		port NamedPort
		addr string
		num  uint16
		want string
	}{
		{NamedPort{Name: "http", Protocol: 6}, "10.0.0.1", 8080, "10.0.0.1,tcp:8080"},
		{NamedPort{Name: "dns", Protocol: 17}, "10.0.0.2", 53, "10.0.0.2,udp:53"},
		{NamedPort{Name: "sig", Protocol: 132}, "fd00::1", 2905, "fd00::1,sctp:2905"},
	}
	for _, tt := range tests {
		if got := tt.port.Member(netip.MustParseAddr(tt.addr), tt.num); got != tt.want {
			t.Errorf("expected member %q for %s port %d, got %q", tt.want, tt.addr, tt.num, got)
		}
	}
}

func sameElements(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
