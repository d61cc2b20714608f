package calicoctl

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// deadEndpoint is an endpoint nothing listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	return ep
}

func configFile(c *ctl, endpoint string) string {
	return c.file(fmt.Sprintf("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nmetadata:\nspec:\n  datastoreType: etcdv3\n  etcdEndpoints: %s\n", endpoint))
}

// The command line wins over the environment, which wins over the config file.
func TestConnectionSettingsPrecedence(t *testing.T) {
	c := startCtl(t)
	dead := deadEndpoint(t)
	tests := []struct {
		name     string
		env      string // ETCD_ENDPOINTS, "" for unset
		file     string // the config file's etcdEndpoints, "" for no file
		flag     string // --etcd-endpoints, "" for none
		wantDead bool
	}{
		{"the config file alone is used", "", c.ep, "", false},
		{"the environment overrides the config file", c.ep, dead, "", false},
		{"the environment is used even when the file would work", dead, c.ep, "", true},
		{"the flag overrides the environment", dead, "", c.ep, false},
		{"the flag overrides the environment and the file", dead, dead, c.ep, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			c.env = map[string]string{"ETCD_ENDPOINTS": tt.env, "CALICOCTL_TIMEOUT": "1s"}
			args := []string{"get", "ippool"}
			if tt.file != "" {
				args = append(args, "-c", configFile(c, tt.file))
			}
			if tt.flag != "" {
				args = append([]string{"--etcd-endpoints", tt.flag}, args...)
			}
			r := c.run("", args...)
			switch {
			case tt.wantDead && (r.code != 1 || !strings.Contains(r.stderr, dead)):
				t.Errorf("calicoctl %s: got %v, want a failure naming %s", strings.Join(args, " "), r, dead)
			case !tt.wantDead && r.code != 0:
				t.Errorf("calicoctl %s: got %v, want success against %s", strings.Join(args, " "), r, c.ep)
			}
		})
	}
}

func TestUnreachableDatastoreFailsFastNamingTheEndpoint(t *testing.T) {
	dead := deadEndpoint(t)
	c := &ctl{t: t, env: map[string]string{"ETCD_ENDPOINTS": dead, "CALICOCTL_TIMEOUT": "1s"}}
	for _, args := range [][]string{{"get", "nodes"}, {"delete", "ippool", "p"}} {
		start := time.Now()
		r := c.run("", args...)
		elapsed := time.Since(start)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if r.code != 1 || len(lines) != 1 || !strings.Contains(r.stderr, dead) || !strings.Contains(r.stderr, "datastore unreachable") {
			t.Errorf("calicoctl %s against %s: got %v, want exit 1 and one line saying the datastore at that endpoint is unreachable",
				strings.Join(args, " "), dead, r)
		}
		if elapsed > 4*time.Second {
			t.Errorf("calicoctl %s took %v with CALICOCTL_TIMEOUT=1s, want under 4s", strings.Join(args, " "), elapsed)
		}
	}
}

func TestBadConfigFileIsReported(t *testing.T) {
	c := &ctl{t: t, env: map[string]string{}}
	path := c.file("apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  etcdEndpoint: http://x:2379\n")
	c.expect(1, "", "Failed to execute command: config file "+path+
		": error unmarshaling JSON: while decoding JSON: json: unknown field \"etcdEndpoint\"\n", "", "get", "ippool", "--config", path)
}
