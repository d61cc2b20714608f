package installcni

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Placeholders are the names install-cni replaces in CNI_NETWORK_CONFIG, spelled as in Calico's manifests.
var Placeholders = []string{
	"__CNI_MTU__",
	"__DATASTORE_TYPE__",
	"__ETCD_CA_CERT_FILE__",
	"__ETCD_CERT_FILE__",
	"__ETCD_ENDPOINTS__",
	"__ETCD_KEY_FILE__",
	"__KUBECONFIG_FILENAME__",
	"__KUBECONFIG_FILEPATH__",
	"__KUBERNETES_NODE_NAME__",
	"__KUBERNETES_SERVICE_HOST__",
	"__KUBERNETES_SERVICE_PORT__",
	"__LOG_LEVEL__",
	"__SERVICEACCOUNT_TOKEN__",
}

const tokenPlaceholder = "__SERVICEACCOUNT_TOKEN__"

// placeholderRE matches anything spelled like a placeholder, known or not.
var placeholderRE = regexp.MustCompile(`__[A-Z][A-Z0-9_]*[A-Z0-9]__`)

// PlaceholdersIn lists the placeholder-like names in a template, each once, in order of first appearance.
func PlaceholdersIn(template string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllString(template, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Values are what the placeholders become. Paths are as the host sees them.
type Values struct {
	ServiceHost    string // __KUBERNETES_SERVICE_HOST__
	ServicePort    string // __KUBERNETES_SERVICE_PORT__
	Token          string // __SERVICEACCOUNT_TOKEN__
	KubeconfigPath string // __KUBECONFIG_FILEPATH__ (and its base name, __KUBECONFIG_FILENAME__)
	EtcdEndpoints  string // __ETCD_ENDPOINTS__
	EtcdKeyFile    string // __ETCD_KEY_FILE__: empty when there is no key
	EtcdCertFile   string // __ETCD_CERT_FILE__
	EtcdCACertFile string // __ETCD_CA_CERT_FILE__
	MTU            int    // __CNI_MTU__
	NodeName       string // __KUBERNETES_NODE_NAME__
	LogLevel       string // __LOG_LEVEL__
	DatastoreType  string // __DATASTORE_TYPE__
}

func (v Values) replacements() map[string]string {
	return map[string]string{
		"__CNI_MTU__":                 strconv.Itoa(v.MTU),
		"__DATASTORE_TYPE__":          v.DatastoreType,
		"__ETCD_CA_CERT_FILE__":       v.EtcdCACertFile,
		"__ETCD_CERT_FILE__":          v.EtcdCertFile,
		"__ETCD_ENDPOINTS__":          v.EtcdEndpoints,
		"__ETCD_KEY_FILE__":           v.EtcdKeyFile,
		"__KUBECONFIG_FILENAME__":     path.Base(v.KubeconfigPath),
		"__KUBECONFIG_FILEPATH__":     v.KubeconfigPath,
		"__KUBERNETES_NODE_NAME__":    v.NodeName,
		"__KUBERNETES_SERVICE_HOST__": v.ServiceHost,
		"__KUBERNETES_SERVICE_PORT__": v.ServicePort,
		"__LOG_LEVEL__":               v.LogLevel,
		tokenPlaceholder:              v.Token,
	}
}

// NetworkConfig is a rendered and checked CNI network configuration.
type NetworkConfig struct {
	// Bytes is what to write, with the token in it.
	Bytes []byte
	// Redacted is the same with the token shown as <redacted>, compacted to one line, for the log.
	Redacted string
	// IsList is true for a configuration list ("plugins"), false for a single plugin configuration ("type").
	IsList bool
	// HasToken says that the service account token is in Bytes, so it must be rewritten when the token changes.
	HasToken bool
}

// Render replaces every placeholder in template and checks the result: no placeholder-like name is left, the
// result is JSON, and it is a CNI network configuration list (every plugin with a type) or a single plugin
// configuration. Values are inserted JSON-escaped, so a value with a quote cannot break the document.
func Render(template string, v Values) (NetworkConfig, error) {
	repl := v.replacements()
	if left := unknownPlaceholders(template); len(left) > 0 {
		return NetworkConfig{}, fmt.Errorf("unknown placeholder %s (install-cni replaces %s)",
			strings.Join(left, ", "), strings.Join(Placeholders, " "))
	}
	// Two renderings in one pass each: the redacted one, on which the checks run (so no error or log line ever
	// shows the token, and byte offsets in errors match the logged config), and the one to write.
	var redactedPairs, finalPairs []string
	for _, name := range Placeholders {
		val := jsonEscape(repl[name])
		finalPairs = append(finalPairs, name, val)
		if name == tokenPlaceholder {
			val = "<redacted>"
		}
		redactedPairs = append(redactedPairs, name, val)
	}
	hasToken := strings.Contains(template, tokenPlaceholder)
	redacted := strings.NewReplacer(redactedPairs...).Replace(template)
	if err := checkJSON([]byte(redacted)); err != nil {
		return NetworkConfig{}, err
	}
	final := strings.NewReplacer(finalPairs...).Replace(template)
	isList, err := checkShape([]byte(final))
	if err != nil {
		return NetworkConfig{}, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(redacted)); err != nil {
		return NetworkConfig{}, fmt.Errorf("compacting the config for the log: %w", err)
	}
	return NetworkConfig{Bytes: []byte(final), Redacted: compact.String(), IsList: isList, HasToken: hasToken}, nil
}

// unknownPlaceholders lists the names in template that look like placeholders but are not ones install-cni
// replaces.
func unknownPlaceholders(template string) []string {
	var out []string
	for _, m := range PlaceholdersIn(template) {
		if !slices.Contains(Placeholders, m) {
			out = append(out, m)
		}
	}
	return out
}

// jsonEscape is s as it must appear between the quotes of a JSON string.
func jsonEscape(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// checkJSON reports where a document stops being JSON, by byte, line and column, with the line itself.
func checkJSON(doc []byte) error {
	var v any
	err := json.Unmarshal(doc, &v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	off := int(se.Offset)
	if off > len(doc) {
		off = len(doc)
	}
	line := 1 + bytes.Count(doc[:off], []byte("\n"))
	start := bytes.LastIndexByte(doc[:off], '\n') + 1
	end := bytes.IndexByte(doc[off:], '\n')
	if end < 0 {
		end = len(doc)
	} else {
		end += off
	}
	return fmt.Errorf("not valid JSON at byte %d (line %d column %d, after replacing placeholders: %q): %s",
		se.Offset, line, off-start, strings.TrimSpace(string(doc[start:end])), se.Error())
}

// checkShape says whether doc is a configuration list or a single plugin configuration, and that the runtime
// can load it, by the rules of libcni (which the runtimes use): a list has a string name, a parseable cniVersion,
// true/false flags, and a non-empty "plugins" whose every entry is an object with a type and the types libcni
// decodes it into; a single configuration has a name and a type. Unlike libcni, a list without "plugins" is
// refused: install-cni writes no per-network plugin directory for the runtime to find them in.
func checkShape(doc []byte) (isList bool, err error) {
	var top map[string]any
	if err := json.Unmarshal(doc, &top); err != nil {
		return false, fmt.Errorf("not a JSON object: %w", err)
	}
	if err := nonEmptyString(top, "name", "name"); err != nil {
		return false, err
	}
	if v, ok := top["cniVersion"]; ok {
		s, ok := v.(string)
		if !ok {
			return false, fmt.Errorf("cniVersion must be a string, got %s", jsonType(v))
		}
		if _, err := version.GreaterThan(s, version.Current()); err != nil {
			return false, fmt.Errorf("cniVersion %q is not a version: %w", s, err)
		}
	}
	rawPlugins, isList := top["plugins"]
	if !isList {
		if _, ok := top["type"]; !ok {
			return false, errors.New(`neither a configuration list (no "plugins") nor a single plugin configuration (no "type")`)
		}
		return false, checkPlugin(top, doc, "")
	}
	for _, flag := range []string{"disableCheck", "disableGC", "loadOnlyInlinedPlugins"} {
		switch v := top[flag].(type) {
		case nil, bool:
		case string:
			if l := strings.ToLower(v); l != "true" && l != "false" {
				return true, fmt.Errorf("%s must be true or false, got %q", flag, v)
			}
		default:
			return true, fmt.Errorf("%s must be true or false, got %s", flag, jsonType(v))
		}
	}
	plugins, ok := rawPlugins.([]any)
	if !ok {
		return true, fmt.Errorf("plugins must be a list, got %s", jsonType(rawPlugins))
	}
	if len(plugins) == 0 {
		return true, errors.New("plugins is empty: a configuration list needs at least one plugin")
	}
	for i, p := range plugins {
		field := fmt.Sprintf("plugins[%d]", i)
		obj, ok := p.(map[string]any)
		if !ok {
			return true, fmt.Errorf("%s must be an object, got %s", field, jsonType(p))
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			return true, fmt.Errorf("%s: %w", field, err)
		}
		if err := checkPlugin(obj, raw, field+"."); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkPlugin checks one plugin configuration: a type, and the fields every runtime decodes (capabilities,
// ipam, dns) of the right JSON types.
func checkPlugin(obj map[string]any, raw []byte, prefix string) error {
	if err := nonEmptyString(obj, "type", prefix+"type"); err != nil {
		return err
	}
	var pc types.PluginConf
	if err := json.Unmarshal(raw, &pc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s%s: got a JSON %s where a %s is expected", prefix, te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("%s: %w", strings.TrimSuffix(prefix, "."), err)
	}
	return nil
}

func nonEmptyString(obj map[string]any, key, field string) error {
	v, ok := obj[key]
	if !ok {
		return fmt.Errorf("%s is missing", field)
	}
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s must be a string, got %s", field, jsonType(v))
	}
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s is empty", field)
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// ConfFileName is the file name the config is written under, and whether a single plugin configuration must
// be wrapped into a list first. With no CNI_CONF_NAME, a list is 10-calico.conflist and a single configuration
// 10-calico.conf. A .conflist name with a single configuration wraps it, as libcni would; a .conf or .json name
// holds one plugin, so a list under that name is refused.
func ConfFileName(confName string, isList bool) (name string, wrap bool, err error) {
	switch {
	case confName == "" && isList:
		return "10-calico.conflist", false, nil
	case confName == "":
		return "10-calico.conf", false, nil
	case path.Ext(confName) == ".conflist":
		return confName, !isList, nil
	case isList:
		return "", false, fmt.Errorf(`CNI_CONF_NAME %q names a single plugin configuration file, but the config is a list ("plugins"): name it .conflist`, confName)
	}
	return confName, false, nil
}

// wrapInList turns a single plugin configuration into a one-plugin list, the way libcni's ConfListFromConf does:
// the list takes the plugin's name and cniVersion.
func wrapInList(doc []byte) ([]byte, error) {
	var conf map[string]any
	if err := json.Unmarshal(doc, &conf); err != nil {
		return nil, err
	}
	list := map[string]any{"name": conf["name"], "plugins": []any{conf}}
	if v, ok := conf["cniVersion"]; ok {
		list["cniVersion"] = v
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
