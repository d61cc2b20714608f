package confd

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseResource(t *testing.T) {
	tests := []struct {
		name     string
		toml     string
		nodeName string
		want     *Resource
		wantErr  string
	}{
		{
			name: "every field of the template table is read",
			toml: `[template]
src = "bird.cfg.template"
dest = "/etc/calico/confd/config/bird.cfg"
prefix = "/calico/bgp/v1"
keys = ["/host", "/global"]
mode = "0640"
uid = 0
gid = 7
check_cmd = "bird -p -c {{.src}}"
reload_cmd = "sv hup bird || true"
`,
			want: &Resource{
				Name: "bird.toml", Src: "bird.cfg.template", Dest: "/etc/calico/confd/config/bird.cfg",
				Prefix: "/calico/bgp/v1", Keys: []string{"/host", "/global"}, Mode: 0o640,
				UID: intp(0), GID: intp(7), CheckCmd: "bird -p -c {{.src}}", ReloadCmd: "sv hup bird || true",
			},
		},
		{
			name: "optional fields stay unset",
			toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\n",
			want: &Resource{Name: "bird.toml", Src: "a", Dest: "/b"},
		},
		{
			name: "a uid or gid of -1 means the effective id",
			toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\nuid = -1\ngid = -1\n",
			want: &Resource{Name: "bird.toml", Src: "a", Dest: "/b"},
		},
		{
			name:     "//NODENAME in keys and prefix becomes /<node name>",
			toml:     "[template]\nsrc = \"a\"\ndest = \"/b\"\nprefix = \"/calico/ipam/v2/host//NODENAME/ipv4/block\"\nkeys = [\"/calico/bgp/v1/host//NODENAME\", \"/\"]\n",
			nodeName: "node1",
			want: &Resource{Name: "bird.toml", Src: "a", Dest: "/b", Prefix: "/calico/ipam/v2/host/node1/ipv4/block",
				Keys: []string{"/calico/bgp/v1/host/node1", "/"}},
		},
		{
			name:    "//NODENAME without a node name is an error",
			toml:    "[template]\nsrc = \"a\"\ndest = \"/b\"\nkeys = [\"/host//NODENAME\"]\n",
			wantErr: "no node name is configured",
		},
		{
			name:    "an unknown key is an error naming the file and the key",
			toml:    "[template]\nsrc = \"a\"\ndest = \"/b\"\nreload = \"x\"\n",
			wantErr: "bird.toml: unknown key(s) template.reload",
		},
		{
			name:    "an unknown table is an error",
			toml:    "[other]\nx = 1\n[template]\nsrc = \"a\"\ndest = \"/b\"\n",
			wantErr: "unknown key(s) other",
		},
		{name: "a file without a template table is an error", toml: "", wantErr: "missing [template] table"},
		{name: "an empty src is an error", toml: "[template]\ndest = \"/b\"\n", wantErr: "template.src is empty"},
		{name: "an empty dest is an error", toml: "[template]\nsrc = \"a\"\n", wantErr: "template.dest is empty"},
		{
			name: "a mode without a leading zero is still octal",
			toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\nmode = \"600\"\n",
			want: &Resource{Name: "bird.toml", Src: "a", Dest: "/b", Mode: 0o600},
		},
		{name: "a non-octal mode is an error", toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\nmode = \"0698\"\n", wantErr: "not an octal mode"},
		{name: "a mode with special bits is an error", toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\nmode = \"4755\"\n", wantErr: "between 0001 and 0777"},
		{name: "a mode given as a number is an error", toml: "[template]\nsrc = \"a\"\ndest = \"/b\"\nmode = 644\n", wantErr: "bird.toml"},
		{name: "malformed TOML is an error naming the file", toml: "[template\n", wantErr: "parsing resource bird.toml"},
		{
			name:    "a key that climbs out of the prefix is an error",
			toml:    "[template]\nsrc = \"a\"\ndest = \"/b\"\nprefix = \"/calico\"\nkeys = [\"/../etc\"]\n",
			wantErr: "leaves the prefix",
		},
		{
			name:    "a check_cmd that is not a valid template is an error",
			toml:    "[template]\nsrc = \"a\"\ndest = \"/b\"\ncheck_cmd = \"bird -c {{.src\"\n",
			wantErr: "template.check_cmd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseResource("bird.toml", []byte(tt.toml), tt.nodeName)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseResource error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseResource: unexpected error %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseResource =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	snapshot := map[string]string{
		"/calico/bgp/v1/global/as_num":             "64512",
		"/calico/bgp/v1/host/node1/ip_addr_v4":     "10.0.0.1",
		"/calico/bgp/v1/hostile/x":                 "no",
		"/calico/v1/ipam/v4/pool/10.1.0.0-16":      `{"cidr":"10.1.0.0/16"}`,
		"/calico/ipam/v2/host/node1/ipv4/block/a":  "b1",
		"/calico/ipam/v2/host/node10/ipv4/block/c": "b10",
	}
	tests := []struct {
		name   string
		prefix string
		keys   []string
		want   map[string]string
	}{
		{
			name: "keys under prefix+key are returned with the prefix stripped", prefix: "/calico/bgp/v1", keys: []string{"/host", "/global"},
			want: map[string]string{"/global/as_num": "64512", "/host/node1/ip_addr_v4": "10.0.0.1"},
		},
		{
			name: "a trailing slash on the prefix changes nothing", prefix: "/calico/bgp/v1/", keys: []string{"/global"},
			want: map[string]string{"/global/as_num": "64512"},
		},
		{
			name: "a key matches only at a path boundary", prefix: "/calico/ipam/v2/host/node1/ipv4/block", keys: []string{"/"},
			want: map[string]string{"/a": "b1"},
		},
		{
			name: "an empty prefix keeps absolute keys", prefix: "", keys: []string{"/calico/v1/ipam/v4/pool"},
			want: map[string]string{"/calico/v1/ipam/v4/pool/10.1.0.0-16": `{"cidr":"10.1.0.0/16"}`},
		},
		{
			name: "a key equal to the watched path itself is kept as /", prefix: "/calico/bgp/v1/global/as_num", keys: []string{"/"},
			want: map[string]string{"/": "64512"},
		},
		{name: "no keys select nothing", prefix: "/calico", want: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resource{Prefix: tt.prefix, Keys: tt.keys}
			if got := r.Select(snapshot); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Select = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestLoadResourcesReadsTomlFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "conf.d", "b.toml"), "[template]\nsrc = \"b\"\ndest = \"/b\"\n")
	writeFile(t, filepath.Join(dir, "conf.d", "a.toml"), "[template]\nsrc = \"a\"\ndest = \"/a\"\n")
	writeFile(t, filepath.Join(dir, "conf.d", "README.md"), "not a resource")
	got, err := LoadResources(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if want := []string{"a.toml", "b.toml"}; !reflect.DeepEqual(names, want) {
		t.Errorf("LoadResources loaded %v; want %v", names, want)
	}

	writeFile(t, filepath.Join(dir, "conf.d", "c.toml"), "[template]\nsrc = \"c\"\n")
	if _, err := LoadResources(dir, ""); err == nil || !strings.Contains(err.Error(), "c.toml") {
		t.Errorf("LoadResources with a broken c.toml: error = %v; want one naming c.toml", err)
	}
}

func intp(i int) *int { return &i }

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
