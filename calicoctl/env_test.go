package calicoctl

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantFile string
		wantWide bool
	}{
		{"flags before positionals", []string{"-f", "x.yaml", "-w", "ippool", "p1"}, []string{"ippool", "p1"}, "x.yaml", true},
		{"flags after positionals", []string{"ippool", "p1", "--filename=x.yaml", "-w"}, []string{"ippool", "p1"}, "x.yaml", true},
		{"flags between positionals", []string{"ippool", "-f", "-", "p1"}, []string{"ippool", "p1"}, "-", false},
		{"a double dash ends the flags", []string{"ippool", "--", "-w", "-f"}, []string{"ippool", "-w", "-f"}, "", false},
		{"no arguments at all", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var file string
			var wide bool
			fs.StringVar(&file, "f", "", "")
			fs.StringVar(&file, "filename", "", "")
			fs.BoolVar(&wide, "w", false, "")
			pos, err := parseInterspersed(fs, tt.args)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.args, err)
			}
			if !reflect.DeepEqual(pos, tt.wantPos) || file != tt.wantFile || wide != tt.wantWide {
				t.Errorf("parse %q: got positionals %q file %q wide %v; want %q %q %v",
					tt.args, pos, file, wide, tt.wantPos, tt.wantFile, tt.wantWide)
			}
		})
	}
}

func TestParseInterspersedRejectsUnknownFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"ippool", "--bogus"}); err == nil {
		t.Error("parse of an unknown flag after a positional: got no error, want one")
	}
}
