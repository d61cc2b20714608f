package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadInputIsRefusedNamingTheVariableOrFlag(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status.json")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		{"an unknown controller", nil, map[string]string{"ENABLED_CONTROLLERS": "policy,nope"}, 1, `ENABLED_CONTROLLERS: unknown controller "nope"`},
		{"a mirroring controller on the Kubernetes datastore", nil, map[string]string{"DATASTORE_TYPE": "kubernetes",
			"ENABLED_CONTROLLERS": "policy"}, 1, "nothing to do with DATASTORE_TYPE=kubernetes"},
		{"no etcd endpoints", nil, map[string]string{"KUBECONFIG": "/nonexistent"}, 1, "ETCD_ENDPOINTS"},
		{"a probe without -r or -l", []string{"-check-status"}, map[string]string{"STATUS_FILE": status}, 2, "exactly one of -r and -l"},
		{"a probe before any status was written", []string{"-check-status", "-l"}, map[string]string{"STATUS_FILE": status}, 1, "reading status"},
		{"an unknown flag", []string{"-bogus"}, nil, 2, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr, func(k string) string { return tt.env[k] })
			out := stdout.String() + stderr.String()
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out, tt.code, tt.want)
			}
		})
	}
}
