package confd

import (
	"strings"
	"testing"
	"time"
)

func TestTemplateFunctions(t *testing.T) {
	t.Setenv("CONFD_TEST_SET", "from-env")
	t.Setenv("CONFD_TEST_EMPTY", "")
	view := map[string]string{
		"/global/as_num":              "64512",
		"/global/node_mesh":           `{"enabled":true}`,
		"/host/node1/ip_addr_v4":      "10.0.0.1",
		"/host/node1/as_num":          "64513",
		"/host/node2/ip_addr_v4":      "10.0.0.2",
		"/host/node2/peer_v4/1.2.3.4": `{"ip":"1.2.3.4","as_num":"65000"}`,
		"/list":                       `["a","b"]`,
	}
	tests := []struct {
		name    string
		tmpl    string
		want    string
		wantErr string
	}{
		{name: "exists is true for a key", tmpl: `{{exists "/global/as_num"}}`, want: "true"},
		{name: "exists is false for a directory", tmpl: `{{exists "/global"}}`, want: "false"},
		{name: "get returns the pair", tmpl: `{{with get "/global/as_num"}}{{.Key}}={{.Value}}{{end}}`, want: "/global/as_num=64512"},
		{name: "get of a missing key fails", tmpl: `{{get "/nope"}}`, wantErr: "key not found: /nope"},
		{name: "gets returns matching pairs sorted", tmpl: `{{range gets "/host/*/ip_addr_v4"}}{{.Key}} {{.Value}};{{end}}`,
			want: "/host/node1/ip_addr_v4 10.0.0.1;/host/node2/ip_addr_v4 10.0.0.2;"},
		{name: "getv returns a value", tmpl: `{{getv "/host/node1/as_num"}}`, want: "64513"},
		{name: "getv with a default covers a missing key", tmpl: `{{getv "/host/node2/as_num" "64512"}}`, want: "64512"},
		{name: "getv without a default fails on a missing key", tmpl: `{{getv "/host/node2/as_num"}}`, wantErr: "key not found"},
		{name: "getvs returns sorted values", tmpl: `{{getvs "/host/*/ip_addr_v4"}}`, want: "[10.0.0.1 10.0.0.2]"},
		{name: "getallkvs returns everything", tmpl: `{{len getallkvs}}`, want: "7"},
		{name: "ls lists children", tmpl: `{{ls "/host/node2"}}`, want: "[ip_addr_v4 peer_v4]"},
		{name: "lsdir lists only directories", tmpl: `{{lsdir "/host/node2"}}`, want: "[peer_v4]"},
		{name: "base and dir split a key", tmpl: `{{base "/host/node1/as_num"}} {{dir "/host/node1/as_num"}}`, want: "as_num /host/node1"},
		{name: "split and join round-trip", tmpl: `{{join (split "a.b.c" ".") "-"}}`, want: "a-b-c"},
		{name: "json decodes an object", tmpl: `{{$p := json (getv "/host/node2/peer_v4/1.2.3.4")}}{{$p.ip}} AS {{$p.as_num}}`, want: "1.2.3.4 AS 65000"},
		{name: "json of a boolean field", tmpl: `{{if (json (getv "/global/node_mesh")).enabled}}mesh{{end}}`, want: "mesh"},
		{name: "json of invalid text fails", tmpl: `{{json "{"}}`, wantErr: "decoding JSON object"},
		{name: "jsonArray decodes an array", tmpl: `{{range jsonArray (getv "/list")}}{{.}};{{end}}`, want: "a;b;"},
		{name: "map builds a map", tmpl: `{{$m := map "a" 1 "b" "x"}}{{$m.a}}{{$m.b}}`, want: "1x"},
		{name: "map with an odd argument count fails", tmpl: `{{map "a"}}`, wantErr: "key/value pairs"},
		{name: "map with a non-string key fails", tmpl: `{{map 1 2}}`, wantErr: "not a string"},
		{name: "getenv reads the environment", tmpl: `{{getenv "CONFD_TEST_SET"}}`, want: "from-env"},
		{name: "getenv falls back to the default when empty", tmpl: `{{getenv "CONFD_TEST_EMPTY" "dflt"}}`, want: "dflt"},
		{name: "getenv of an unset variable is empty", tmpl: `[{{getenv "CONFD_TEST_UNSET_XYZ"}}]`, want: "[]"},
		{name: "toUpper and toLower", tmpl: `{{toUpper "aB"}}{{toLower "aB"}}`, want: "ABab"},
		{name: "contains", tmpl: `{{contains "calico" "lic"}} {{contains "calico" "x"}}`, want: "true false"},
		{name: "replace takes a count", tmpl: `{{replace "10.0.0.1" "." "_" -1}} {{replace "a.b.c" "." "_" 1}}`, want: "10_0_0_1 a_b.c"},
		{name: "trimSuffix and hasSuffix", tmpl: `{{trimSuffix "10.0.0.0-26" "-26"}} {{hasSuffix "10.0.0.1-32" "-32"}}`, want: "10.0.0.0 true"},
		{name: "lookupIP of a literal address returns it", tmpl: `{{lookupIP "10.9.8.7"}}`, want: "[10.9.8.7]"},
		{name: "atoi parses a number", tmpl: `{{add (atoi "41") 1}}`, want: "42"},
		{name: "atoi of text fails", tmpl: `{{atoi "x"}}`, wantErr: "invalid syntax"},
		{name: "arithmetic", tmpl: `{{add 7 2}} {{sub 7 2}} {{mul 7 2}} {{div 7 2}} {{mod 7 2}}`, want: "9 5 14 3 1"},
		{name: "division by zero fails", tmpl: `{{div 1 0}}`, wantErr: "division by zero"},
		{name: "modulo by zero fails", tmpl: `{{mod 1 0}}`, wantErr: "modulo by zero"},
		{name: "seq counts inclusively", tmpl: `{{seq 1 3}}`, want: "[1 2 3]"},
		{name: "seq backwards is empty", tmpl: `{{len (seq 3 1)}}`, want: "0"},
		{name: "sort sorts strings", tmpl: `{{sort (split "c,a,b" ",")}}`, want: "[a b c]"},
		{name: "hashToIPv4 gives the first four bytes of sha256", tmpl: `{{hashToIPv4 "node1"}}`, want: "202.18.243.27"},
		{name: "printf is available", tmpl: `{{printf "Mesh_%s" (replace "10.0.0.2" "." "_" -1)}}`, want: "Mesh_10_0_0_2"},
		{name: "datetime returns the current year", tmpl: `{{datetime.Year}}`, want: time.Now().Format("2006")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ParseTemplate("test.template", tt.tmpl)
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.tmpl, err)
			}
			out, err := tmpl.Execute(view)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%s rendered %q, error %v; want an error containing %q", tt.tmpl, out, err, tt.wantErr)
				}
				return
			}
			if err != nil || string(out) != tt.want {
				t.Errorf("%s = %q, error %v; want %q", tt.tmpl, out, err, tt.want)
			}
		})
	}
}

func TestSortDoesNotReorderItsArgument(t *testing.T) {
	in := []string{"b", "a"}
	_ = sortStrings(in)
	if in[0] != "b" {
		t.Errorf("sort changed its argument to %v; want it left as [b a]", in)
	}
}
