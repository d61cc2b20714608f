package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Document is one resource read from a manifest, with its 1-based position in the file for error messages.
type Document struct {
	Index    int
	Resource Resource
}

// DocumentError says which document of a manifest is wrong and why.
type DocumentError struct {
	Index int
	Kind  string
	Name  string
	Err   error
}

func (e *DocumentError) Error() string {
	where := fmt.Sprintf("document %d", e.Index)
	if e.Kind != "" {
		where += " (" + e.Kind
		if e.Name != "" {
			where += fmt.Sprintf(" '%s'", e.Name)
		}
		where += ")"
	}
	return where + ": " + e.Err.Error()
}

func (e *DocumentError) Unwrap() error { return e.Err }

// docSeparator matches a "---" line, with an optional comment and a Windows line ending.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#[^\r\n]*)?\r?$`)

// Decode reads a manifest: YAML or JSON, several documents separated by ---, a JSON array, or a kind: List (or
// <Kind>List) with items. Every field is checked strictly: a field that is neither modeled here nor defined by
// Calico's projectcalico.org/v3 API for the kind is an error naming its path; one Calico defines but this project
// does not model is kept in the resource's Unmodeled, to be stored as written (see Unmarshal).
// Decode neither defaults nor validates; see Prepare.
func Decode(data []byte) ([]Document, error) {
	var docs []Document
	err := EachItem(data, func(index int, item []byte) error {
		r, err := decodeOne(item)
		if err != nil {
			return err
		}
		docs = append(docs, Document{Index: index, Resource: r})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return docs, nil
}

// EachItem calls fn with the JSON of every resource of a manifest (YAML or JSON documents separated by ---, JSON
// arrays, List items) in order, with its 1-based position. An error, from the manifest or from fn, comes back as a
// *DocumentError naming the position, and the kind and name when the item has them.
func EachItem(data []byte, fn func(index int, item []byte) error) error {
	index := 0
	for _, part := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		index++
		js, err := yaml.YAMLToJSON([]byte(part))
		if err != nil {
			return &DocumentError{Index: index, Err: fmt.Errorf("not valid YAML or JSON: %w", err)}
		}
		items, err := splitItems(js)
		if err != nil {
			return &DocumentError{Index: index, Err: err}
		}
		for i, item := range items {
			if i > 0 {
				index++
			}
			if err := fn(index, item); err != nil {
				return &DocumentError{Index: index, Kind: peekKind(item), Name: peekName(item), Err: err}
			}
		}
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// splitItems turns a JSON array or a List object into its items; anything else is one item.
func splitItems(js []byte) ([]json.RawMessage, error) {
	js = bytes.TrimSpace(js)
	if bytes.HasPrefix(js, []byte("[")) {
		var items []json.RawMessage
		if err := json.Unmarshal(js, &items); err != nil {
			return nil, err
		}
		return items, nil
	}
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, fmt.Errorf("a resource must be an object with apiVersion, kind, metadata and spec: %w", err)
	}
	if strings.EqualFold(head.Kind, "List") || (strings.HasSuffix(head.Kind, "List") && head.Items != nil) {
		return head.Items, nil
	}
	return []json.RawMessage{js}, nil
}

func peekKind(js []byte) string {
	var h TypeMeta
	_ = json.Unmarshal(js, &h)
	return h.Kind
}

func peekName(js []byte) string {
	var h struct {
		Metadata ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(js, &h)
	return h.Metadata.Name
}

// seedEraHints tells users of the pre-v3 calicoctl how to write their resource today.
var seedEraHints = map[string]string{
	"ippool":           "kind: IPPool, metadata.name: <a name>, spec.cidr: <the old metadata.cidr>, spec.ipipMode: Always|CrossSubnet|Never (was spec.ipip.enabled/mode), spec.natOutgoing (was spec.nat-outgoing)",
	"profile":          "kind: Profile, metadata.name: <the old metadata.name>, spec.ingress/spec.egress rules (actions Allow, Deny, Log, Pass; was allow/deny), spec.labelsToApply (was metadata.tags/labels)",
	"policy":           "kind: GlobalNetworkPolicy (or namespaced NetworkPolicy), spec.selector, spec.order, spec.types, spec.ingress/egress rules with actions Allow, Deny, Log, Pass",
	"bgppeer":          "kind: BGPPeer, metadata.name: <a name>, spec.peerIP (was metadata.peerIP), spec.asNumber, spec.node (was metadata.node; empty for a global peer)",
	"node":             "kind: Node, metadata.name, spec.bgp.ipv4Address (as a CIDR like 10.0.0.1/24), spec.bgp.asNumber",
	"hostendpoint":     "kind: HostEndpoint, metadata.name, spec.node, spec.interfaceName, spec.expectedIPs",
	"workloadendpoint": "kind: WorkloadEndpoint, metadata.name and metadata.namespace, spec.node, spec.interfaceName, spec.ipNetworks",
}

func decodeOne(js []byte) (Resource, error) {
	var tm TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, fmt.Errorf("a resource must be an object with apiVersion, kind, metadata and spec: %w", err)
	}
	if tm.APIVersion != Group {
		// Old manifests said apiVersion: v1 (or nothing) and spelled kinds in camel case ("ipPool"); a v3 kind
		// name without apiVersion is a v3 manifest that forgot it.
		hint, seedEra := seedEraHints[strings.ToLower(tm.Kind)]
		if tm.APIVersion == "" && isKindName(tm.Kind) {
			seedEra = false
		}
		if seedEra && (tm.APIVersion == "v1" || tm.APIVersion == "") {
			return nil, fmt.Errorf("apiVersion '%s' kind '%s' is the old (pre-v3) calicoctl format, which is not supported; "+
				"write apiVersion: %s with %s", tm.APIVersion, tm.Kind, Group, hint)
		}
		if tm.APIVersion == "" {
			return nil, fmt.Errorf("apiVersion is missing: write apiVersion: %s", Group)
		}
		return nil, fmt.Errorf("apiVersion '%s' is not supported: write apiVersion: %s", tm.APIVersion, Group)
	}
	if tm.Kind == "" {
		return nil, fmt.Errorf("kind is missing")
	}
	var kind *Kind
	for _, k := range Kinds {
		if k.Name == tm.Kind {
			kind = k
		}
	}
	if kind == nil {
		if k, err := LookupKind(tm.Kind); err == nil {
			return nil, fmt.Errorf("kind '%s' is not known: did you mean '%s'?", tm.Kind, k.Name)
		}
		return nil, fmt.Errorf("kind '%s' is not known", tm.Kind)
	}
	r := kind.New()
	var raw any
	rd := json.NewDecoder(bytes.NewReader(js))
	rd.UseNumber() // keep numbers as written, for the scalar decoders checkFields runs
	if err := rd.Decode(&raw); err != nil {
		return nil, err
	}
	if err := checkFields(reflect.TypeOf(r), raw, "", kind.Name); err != nil {
		return nil, err
	}
	// Calico's calicoctl reads a YAML boolean or number where a string is expected as its text (a label
	// "rack: 1" is the string "1"), so this one does too.
	if coerced, changed := coerceStrings(reflect.TypeOf(r), raw); changed {
		b, err := json.Marshal(coerced)
		if err != nil {
			return nil, err
		}
		js = b
	}
	// checkFields has refused every field that is neither modeled here nor defined by Calico; the ones Calico
	// defines are kept beside the typed object, to be stored with it.
	if err := json.Unmarshal(js, r); err != nil {
		return nil, FieldTypeError(err)
	}
	r.GetObjectMeta().Unmodeled = unmodeledOf(reflect.TypeOf(r), raw)
	return r, nil
}

// FieldTypeError rewrites encoding/json's type errors to name the field the user wrote.
func FieldTypeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("error with field %s: expected %s, got a %s", te.Field, te.Type, te.Value)
	}
	return err
}

// isKindName says whether s is exactly the name of a kind ("IPPool").
func isKindName(s string) bool {
	for _, k := range Kinds {
		if k.Name == s {
			return true
		}
	}
	return false
}

// listIndex matches the list indices in a field path ("spec.ingress[0].action").
var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// checkFields walks raw JSON against a Go type. It reports the dotted path of the first field that the type lacks
// and that Calico's API does not define for the kind either (a typo, most likely), and runs the decoders of the scalar types (ports, protocols, AS numbers, durations) on their values so that their
// errors name the field they came from; encoding/json would return them without it.
func checkFields(t reflect.Type, raw any, path, kind string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		if raw == nil {
			return nil
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return nil // left to the decoder
		}
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
			return fmt.Errorf("error with field %s: %w", strings.TrimPrefix(path, "."), err)
		}
		return nil
	}
	switch v := raw.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for _, k := range sortedKeys(v) {
				if err := checkFields(t.Elem(), v[k], path+"."+k, kind); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for _, k := range sortedKeys(v) {
				ft, ok := fields[k]
				if !ok {
					at := strings.TrimPrefix(path+"."+k, ".")
					if CalicoDefines(kind, at) {
						continue // kept as written, not checked here
					}
					return fmt.Errorf("unknown field '%s'", at)
				}
				if err := checkFields(ft, v[k], path+"."+k, kind); err != nil {
					return err
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, item := range v {
				if err := checkFields(t.Elem(), item, fmt.Sprintf("%s[%d]", path, i), kind); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// coerceStrings replaces booleans and numbers that sit where t holds a plain string with their text, as
// sigs.k8s.io/yaml does when it decodes into a typed target. It reports whether anything changed.
func coerceStrings(t reflect.Type, raw any) (any, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return raw, false
	}
	changed := false
	switch v := raw.(type) {
	case bool:
		if t.Kind() == reflect.String {
			return strconv.FormatBool(v), true
		}
	case json.Number:
		if t.Kind() == reflect.String {
			return v.String(), true
		}
	case map[string]any:
		var fields map[string]reflect.Type
		if t.Kind() == reflect.Struct {
			fields = jsonFields(t)
		}
		for k, item := range v {
			var ft reflect.Type
			switch {
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			case fields[k] != nil:
				ft = fields[k]
			default:
				continue
			}
			if c, ok := coerceStrings(ft, item); ok {
				v[k], changed = c, true
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, item := range v {
				if c, ok := coerceStrings(t.Elem(), item); ok {
					v[i], changed = c, true
				}
			}
		}
	}
	return raw, changed
}

// jsonFields maps the JSON names of a struct's fields (inlining anonymous untagged structs) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// Prepare applies a namespace (for namespaced kinds, when the document has none and ns is set), defaults and
// validates every document, and returns the first error with the document's index, kind and name.
// Nothing is written anywhere: callers use it to reject a whole file before touching the datastore.
func Prepare(docs []Document, ns string) error {
	for _, d := range docs {
		r := d.Resource
		k := KindOf(r)
		m := r.GetObjectMeta()
		if ns != "" && k.Namespaced {
			if m.Namespace != "" && m.Namespace != ns {
				return &DocumentError{Index: d.Index, Kind: k.Name, Name: m.Name,
					Err: fmt.Errorf("metadata.namespace '%s' differs from the namespace '%s' given on the command line", m.Namespace, ns)}
			}
			m.Namespace = ns
		}
		if !k.Namespaced && m.Namespace != "" {
			return &DocumentError{Index: d.Index, Kind: k.Name, Name: m.Name,
				Err: fmt.Errorf("namespace should not be specified for a non-namespaced resource. %s is not a namespaced resource", k.Name)}
		}
		r.Default()
		if err := r.Validate(); err != nil {
			return &DocumentError{Index: d.Index, Kind: k.Name, Name: m.Name, Err: err}
		}
	}
	return nil
}
