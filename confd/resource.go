package confd

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/BurntSushi/toml"
)

// nodeNameToken in a prefix or key stands for "/<node name>", so that one resource file serves every node.
const nodeNameToken = "//NODENAME"

// Resource is one template resource: which keys a template reads, where the result goes and how it is checked
// and activated. It is loaded from the [template] table of a conf.d/*.toml file.
type Resource struct {
	// Name is the file the resource came from (e.g. "bird.toml"), used in logs and errors.
	Name string
	// Src is the template file, relative to the templates directory.
	Src string
	// Dest is the file the rendered template is written to.
	Dest string
	// Prefix is stripped from every key before the template sees it; //NODENAME is already expanded.
	Prefix string
	// Keys are the key paths (under Prefix) the template reads; //NODENAME is already expanded.
	Keys []string
	// Mode is the permission of Dest; 0 keeps the mode of an existing Dest, or uses 0644 for a new one.
	Mode os.FileMode
	// UID and GID own Dest; nil means the effective id of this process.
	UID, GID *int
	// CheckCmd validates the staged file before it replaces Dest; {{.src}} is the staged file's path.
	CheckCmd string
	// ReloadCmd runs after Dest changed.
	ReloadCmd string
}

// resourceFile mirrors the TOML layout of a conf.d file.
type resourceFile struct {
	Template *struct {
		Src       string   `toml:"src"`
		Dest      string   `toml:"dest"`
		Prefix    string   `toml:"prefix"`
		Keys      []string `toml:"keys"`
		Mode      string   `toml:"mode"`
		UID       *int     `toml:"uid"`
		GID       *int     `toml:"gid"`
		CheckCmd  string   `toml:"check_cmd"`
		ReloadCmd string   `toml:"reload_cmd"`
	} `toml:"template"`
}

// ParseResource parses the TOML text of the resource file called name. nodeName replaces //NODENAME in the
// prefix and keys.
func ParseResource(name string, data []byte, nodeName string) (*Resource, error) {
	var f resourceFile
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, fmt.Errorf("parsing resource %s: %w", name, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("parsing resource %s: unknown key(s) %s", name, strings.Join(keys, ", "))
	}
	t := f.Template
	if t == nil {
		return nil, fmt.Errorf("parsing resource %s: missing [template] table", name)
	}
	if t.Src == "" {
		return nil, fmt.Errorf("parsing resource %s: template.src is empty", name)
	}
	if t.Dest == "" {
		return nil, fmt.Errorf("parsing resource %s: template.dest is empty", name)
	}
	// A negative id means "unset", as -1 does for chown(2).
	if t.UID != nil && *t.UID < 0 {
		t.UID = nil
	}
	if t.GID != nil && *t.GID < 0 {
		t.GID = nil
	}
	r := &Resource{
		Name:      name,
		Src:       t.Src,
		Dest:      t.Dest,
		UID:       t.UID,
		GID:       t.GID,
		CheckCmd:  t.CheckCmd,
		ReloadCmd: t.ReloadCmd,
	}
	if t.Mode != "" {
		m, err := parseMode(t.Mode)
		if err != nil {
			return nil, fmt.Errorf("parsing resource %s: template.mode: %w", name, err)
		}
		r.Mode = m
	}
	if r.Prefix, err = expandNodeName(t.Prefix, nodeName); err != nil {
		return nil, fmt.Errorf("parsing resource %s: template.prefix: %w", name, err)
	}
	for _, k := range t.Keys {
		k, err := expandNodeName(k, nodeName)
		if err != nil {
			return nil, fmt.Errorf("parsing resource %s: template.keys: %w", name, err)
		}
		r.Keys = append(r.Keys, k)
	}
	prefix := r.cleanPrefix()
	for _, p := range r.watchPaths() {
		if !underPath(p, prefix) {
			return nil, fmt.Errorf("parsing resource %s: key %s leaves the prefix %s", name, p, prefix)
		}
	}
	if _, err := template.New("check_cmd").Parse(r.CheckCmd); err != nil {
		return nil, fmt.Errorf("parsing resource %s: template.check_cmd: %w", name, err)
	}
	if _, err := template.New("reload_cmd").Parse(r.ReloadCmd); err != nil {
		return nil, fmt.Errorf("parsing resource %s: template.reload_cmd: %w", name, err)
	}
	return r, nil
}

// parseMode reads an octal permission such as "0644" or "644".
func parseMode(s string) (os.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an octal mode", s)
	}
	if m == 0 || m > 0o777 {
		return 0, fmt.Errorf("%q must be a permission between 0001 and 0777", s)
	}
	return os.FileMode(m), nil
}

func expandNodeName(s, nodeName string) (string, error) {
	if !strings.Contains(s, nodeNameToken) {
		return s, nil
	}
	if nodeName == "" {
		return "", fmt.Errorf("%s uses %s but no node name is configured", s, nodeNameToken)
	}
	return strings.ReplaceAll(s, nodeNameToken, "/"+nodeName), nil
}

// LoadResources reads every conf.d/*.toml under confDir, sorted by file name.
func LoadResources(confDir, nodeName string) ([]*Resource, error) {
	files, err := filepath.Glob(filepath.Join(confDir, "conf.d", "*.toml"))
	if err != nil {
		return nil, fmt.Errorf("listing resources in %s: %w", confDir, err)
	}
	sort.Strings(files)
	var out []*Resource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading resource: %w", err)
		}
		r, err := ParseResource(filepath.Base(f), data, nodeName)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// cleanPrefix is Prefix as an absolute, clean path ("/" when empty).
func (r *Resource) cleanPrefix() string {
	return path.Clean("/" + r.Prefix)
}

// watchPaths are the absolute key paths the resource reads: Prefix joined with each of Keys.
func (r *Resource) watchPaths() []string {
	prefix := r.cleanPrefix()
	out := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		out[i] = path.Join(prefix, k)
	}
	return out
}

// Select returns the part of snapshot that the resource reads, keyed as the template sees it (Prefix
// stripped, so /calico/bgp/v1/host/node1/ip_addr_v4 under prefix /calico/bgp/v1 becomes /host/node1/ip_addr_v4).
// A key matches a watched path only at a segment boundary: /host matches /host/a but not /hostile.
func (r *Resource) Select(snapshot map[string]string) map[string]string {
	paths := r.watchPaths()
	prefix := r.cleanPrefix()
	out := map[string]string{}
	for k, v := range snapshot {
		for _, p := range paths {
			if underPath(k, p) {
				out[relativeKey(k, prefix)] = v
				break
			}
		}
	}
	return out
}

// underPath reports whether key is dir itself or lies below it.
func underPath(key, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(key, "/")
	}
	return key == dir || strings.HasPrefix(key, dir+"/")
}

// relativeKey strips prefix from key, keeping a leading slash.
func relativeKey(key, prefix string) string {
	if prefix == "/" {
		return key
	}
	rest := strings.TrimPrefix(key, prefix)
	if rest == "" {
		return "/"
	}
	return rest
}

// expandCmd fills {{.src}} in a check or reload command.
func expandCmd(cmd, src string) (string, error) {
	t, err := template.New("cmd").Parse(cmd)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]string{"src": src}); err != nil {
		return "", err
	}
	return b.String(), nil
}
