package calicoctl

import (
	"bytes"
	"errors"
	"testing"
)

func TestReport(t *testing.T) {
	boom := errors.New("resource already exists: IPPool(pool1)")
	tests := []struct {
		name       string
		verb       verb
		outcome    outcome
		wantStdout string
		wantStderr string
		wantCode   int
	}{
		{"one kind all created names the kind", verbCreate, outcome{total: 2, done: 2, kind: "IPPool"},
			"Successfully created 2 'IPPool' resource(s)\n", "", 0},
		{"mixed kinds all applied leaves the kind out", verbApply, outcome{total: 2, done: 2},
			"Successfully applied 2 resource(s)\n", "", 0},
		{"a single failure names the kind and the error", verbCreate, outcome{total: 1, kind: "IPPool", err: boom},
			"", "Failed to create 'IPPool' resource: resource already exists: IPPool(pool1)\n", 1},
		{"several of one kind and none written", verbReplace, outcome{total: 3, kind: "IPPool", err: boom},
			"", "Failed to replace any 'IPPool' resources: resource already exists: IPPool(pool1)\n", 1},
		{"several of mixed kinds and none written", verbDelete, outcome{total: 3, err: boom},
			"", "Failed to delete any resources: resource already exists: IPPool(pool1)\n", 1},
		{"a partial success of one kind says how far it got", verbCreate, outcome{total: 3, done: 1, kind: "IPPool", err: boom},
			"Partial success: created the first 1 out of 3 'IPPool' resources:\n",
			"Hit error: resource already exists: IPPool(pool1)\n", 1},
		{"a partial success of mixed kinds", verbApply, outcome{total: 3, done: 2, err: boom},
			"Partial success: applied the first 2 out of 3 resources:\n",
			"Hit error: resource already exists: IPPool(pool1)\n", 1},
		{"an empty file is a failure", verbCreate, outcome{},
			"", "No resources specified in file\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := report(&stdout, &stderr, tt.verb, tt.outcome)
			if code != tt.wantCode || stdout.String() != tt.wantStdout || stderr.String() != tt.wantStderr {
				t.Errorf("report: got code %d stdout %q stderr %q\nwant code %d stdout %q stderr %q",
					code, stdout.String(), stderr.String(), tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestStaleVersionMessage(t *testing.T) {
	got := staleVersionError{"12", "15"}.Error()
	want := "Resource version '12' is out of date (latest: 15). Update the resource YAML/JSON in order to make changes."
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
