package calicoctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// This file applies patches to JSON documents decoded with UseNumber (maps, slices, json.Number, strings, bools,
// nil): JSON Merge Patch (RFC 7386) and JSON Patch (RFC 6902).

// decodeJSON decodes a JSON document keeping numbers exactly as written.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// mergePatch applies an RFC 7386 merge patch: objects merge key by key, null removes a key, and anything else
// (arrays included) replaces the target's value.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// jsonPatchOp is one operation of an RFC 6902 JSON Patch.
type jsonPatchOp struct {
	Op    string          `json:"op"`
	Path  *string         `json:"path"`
	From  *string         `json:"from"`
	Value json.RawMessage `json:"value"`
}

// applyJSONPatch applies the operations of an RFC 6902 patch in order; the first that fails stops it.
func applyJSONPatch(doc any, patch []byte) (any, error) {
	var ops []jsonPatchOp
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ops); err != nil {
		return nil, fmt.Errorf("a JSON patch is an array of operations with op, path, and value or from: %w", err)
	}
	for i, op := range ops {
		var err error
		if doc, err = applyJSONPatchOp(doc, op); err != nil {
			return nil, fmt.Errorf("JSON patch operation %d (%s): %w", i, op.Op, err)
		}
	}
	return doc, nil
}

func applyJSONPatchOp(doc any, op jsonPatchOp) (any, error) {
	if op.Path == nil {
		return nil, fmt.Errorf("path is missing")
	}
	path, err := parsePointer(*op.Path)
	if err != nil {
		return nil, err
	}
	value := func() (any, error) {
		if op.Value == nil {
			return nil, fmt.Errorf("value is missing")
		}
		return decodeJSON(op.Value)
	}
	from := func() ([]string, error) {
		if op.From == nil {
			return nil, fmt.Errorf("from is missing")
		}
		return parsePointer(*op.From)
	}
	switch op.Op {
	case "add":
		v, err := value()
		if err != nil {
			return nil, err
		}
		return pointerSet(doc, path, v, true)
	case "remove":
		doc, _, err := pointerRemove(doc, path)
		return doc, err
	case "replace":
		v, err := value()
		if err != nil {
			return nil, err
		}
		if _, err := pointerGet(doc, path); err != nil {
			return nil, err
		}
		return pointerSet(doc, path, v, false)
	case "move", "copy":
		f, err := from()
		if err != nil {
			return nil, err
		}
		var v any
		if op.Op == "move" {
			if len(path) > len(f) && reflect.DeepEqual(path[:len(f)], f) {
				return nil, fmt.Errorf("cannot move '%s' into itself", *op.From)
			}
			doc, v, err = pointerRemove(doc, f)
		} else {
			v, err = pointerGet(doc, f)
			if err == nil {
				v, err = deepCopyJSON(v)
			}
		}
		if err != nil {
			return nil, err
		}
		return pointerSet(doc, path, v, true)
	case "test":
		v, err := value()
		if err != nil {
			return nil, err
		}
		got, err := pointerGet(doc, path)
		if err != nil {
			return nil, err
		}
		if !jsonEqual(got, v) {
			return nil, fmt.Errorf("test failed: the value at '%s' differs", *op.Path)
		}
		return doc, nil
	}
	return nil, fmt.Errorf("unknown op '%s': use add, remove, replace, move, copy or test", op.Op)
}

// parsePointer splits an RFC 6901 JSON pointer into unescaped tokens ("" is the whole document).
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path '%s' is not a JSON pointer: it must start with '/'", p)
	}
	tokens := strings.Split(p[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

func arrayIndex(a []any, tok string, forAdd bool) (int, error) {
	if forAdd && tok == "-" {
		return len(a), nil
	}
	i, err := strconv.Atoi(tok)
	limit := len(a) - 1
	if forAdd {
		limit = len(a)
	}
	if err != nil || i < 0 || i > limit || (len(tok) > 1 && tok[0] == '0') {
		return 0, fmt.Errorf("array index '%s' is out of range", tok)
	}
	return i, nil
}

func pointerGet(doc any, path []string) (any, error) {
	for _, tok := range path {
		switch c := doc.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("path member '%s' does not exist", tok)
			}
			doc = v
		case []any:
			i, err := arrayIndex(c, tok, false)
			if err != nil {
				return nil, err
			}
			doc = c[i]
		default:
			return nil, fmt.Errorf("path member '%s' is inside a value that is neither an object nor an array", tok)
		}
	}
	return doc, nil
}

// pointerSet sets (or, when insert, adds: inserting into arrays) the value at path and returns the new document.
func pointerSet(doc any, path []string, v any, insert bool) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := pointerGet(doc, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
		return doc, nil
	case []any:
		i, err := arrayIndex(c, last, insert)
		if err != nil {
			return nil, err
		}
		if !insert {
			c[i] = v
			return doc, nil
		}
		c = append(c[:i], append([]any{v}, c[i:]...)...)
		return pointerSet(doc, path[:len(path)-1], c, false)
	}
	return nil, fmt.Errorf("cannot set '%s' inside a value that is neither an object nor an array", last)
}

// pointerRemove removes the value at path and returns the new document and the value.
func pointerRemove(doc any, path []string) (any, any, error) {
	if len(path) == 0 {
		return nil, nil, fmt.Errorf("cannot remove the whole document")
	}
	parent, err := pointerGet(doc, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, fmt.Errorf("path member '%s' does not exist", last)
		}
		delete(c, last)
		return doc, v, nil
	case []any:
		i, err := arrayIndex(c, last, false)
		if err != nil {
			return nil, nil, err
		}
		v := c[i]
		rest := append(append([]any{}, c[:i]...), c[i+1:]...)
		doc, err = pointerSet(doc, path[:len(path)-1], rest, false)
		return doc, v, err
	}
	return nil, nil, fmt.Errorf("cannot remove '%s' from a value that is neither an object nor an array", last)
}

func deepCopyJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeJSON(b)
}

// jsonEqual compares JSON values, numbers by value (1 equals 1.0).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return x == y || (err1 == nil && err2 == nil && fx == fy)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
