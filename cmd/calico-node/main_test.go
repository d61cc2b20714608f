package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestModeSelection(t *testing.T) {
	none := func(string) string { return "" }
	cases := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "choose one of -startup, -confd, -felix"},
		{[]string{"-startup", "-felix"}, 2, "", "more than one incompatible argument provided: -startup -felix"},
		{[]string{"-v"}, 0, "dev", ""},
		{[]string{"-bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"-startup"}, 1, "Calico node failed to start: ETCD_ENDPOINTS: no etcd endpoints specified", ""},
		{[]string{"-confd"}, 1, "no NODENAME and no stored node name", ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		env := none
		if len(c.args) == 1 && c.args[0] == "-confd" {
			env = func(k string) string {
				if k == "CALICO_NODENAME_FILE" {
					return t.TempDir() + "/missing"
				}
				return ""
			}
		}
		code := run(context.Background(), c.args, &out, &errOut, env)
		if code != c.code || !strings.Contains(out.String(), c.inStdout) || !strings.Contains(errOut.String(), c.inStderr) {
			t.Errorf("calico-node %v: got exit %d, stdout %q, stderr %q; want exit %d with %q / %q",
				c.args, code, out.String(), errOut.String(), c.code, c.inStdout, c.inStderr)
		}
	}
}
