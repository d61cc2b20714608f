package calicoctl

import (
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	c := &ctl{t: t, env: map[string]string{}}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // a substring of stdout
		wantStderr string // all of stderr
	}{
		{"--help prints the commands and the precedence of settings", []string{"--help"}, 0,
			"Connection settings: each setting comes from the first of these that gives it: command-line flags, then the\nenvironment", ""},
		{"a command's -h prints its own usage", []string{"get", "-h"}, 0, "Usage:\n  calicoctl get ", ""},
		{"help after positional arguments still works", []string{"delete", "ippool", "--help"}, 0, "calicoctl delete ", ""},
		{"an unknown command is a usage error", []string{"frob"}, 1, "",
			"unknown command \"frob\"\nInvalid option: 'calicoctl frob'. " + usageHint},
		{"an unknown global flag is a usage error", []string{"--bogus", "get"}, 1, "",
			"flag provided but not defined: -bogus\nInvalid option: 'calicoctl --bogus get'. " + usageHint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c.with(t)
			r := c.run("", tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stdout, tt.wantStdout) || r.stderr != tt.wantStderr {
				t.Errorf("calicoctl %s: got %v\nwant exit %d, stdout containing %q, stderr %q",
					strings.Join(tt.args, " "), r, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}

	t.Run("no command prints the usage and fails", func(t *testing.T) {
		r := c.run("")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "Usage:\n  calicoctl [options] <command>") {
			t.Errorf("calicoctl with no arguments: got %v, want exit 1 and the usage on stderr", r)
		}
	})
}

func TestVersion(t *testing.T) {
	c := startCtl(t)
	r := c.run("", "version")
	wantStart := "Client Version:    dev\n"
	if r.code != 0 || !strings.HasPrefix(r.stdout, wantStart) ||
		!strings.HasSuffix(r.stdout, "Unable to retrieve Cluster Version or Type: resource does not exist: ClusterInformation(default)\n") {
		t.Errorf("version without ClusterInformation: got %v, want exit 0, %q first and the reason the cluster version is unknown", r, wantStart)
	}

	info := "apiVersion: projectcalico.org/v3\nkind: ClusterInformation\nmetadata: {name: default}\nspec: {calicoVersion: v3.3.0, clusterType: bgp, datastoreReady: true}\n"
	c.expect(0, "Successfully created 1 'ClusterInformation' resource(s)\n", "", info, "create", "-f", "-")
	r = c.run("", "version")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "Cluster Version:   v3.3.0\nCluster Type:      bgp\n") {
		t.Errorf("version with ClusterInformation: got %v, want the cluster version v3.3.0 and type bgp last", r)
	}
}
