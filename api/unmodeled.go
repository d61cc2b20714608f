package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
)

// Unmodeled is what an object holds beyond this project's types: fields another writer (Calico's own tools, a
// newer version) stored that the types here lack. It is kept beside the typed object so that a read-modify-write
// gives them back unchanged: Unmarshal fills it and Marshal merges it back.
type Unmodeled struct {
	// Fields are the fields the type lacks, by JSON name, with their values as read.
	Fields map[string]any
	// Under holds what modeled objects (struct fields and map values) hold beyond their types, by JSON name or key.
	Under map[string]*Unmodeled
	// Items holds what list items hold beyond their types, by index.
	Items map[int]*Unmodeled
}

// Paths lists the unmodeled fields as dotted paths from the object's root ("spec.allowedUses",
// "spec.ingress[0].http"), sorted.
func (u *Unmodeled) Paths() []string {
	var out []string
	u.paths("", &out)
	sort.Strings(out)
	return out
}

func (u *Unmodeled) paths(prefix string, out *[]string) {
	if u == nil {
		return
	}
	sep := "."
	if prefix == "" {
		sep = ""
	}
	for k := range u.Fields {
		*out = append(*out, prefix+sep+k)
	}
	for k, c := range u.Under {
		c.paths(prefix+sep+k, out)
	}
	for i, c := range u.Items {
		c.paths(fmt.Sprintf("%s[%d]", prefix, i), out)
	}
}

// Unmarshal reads a stored object into r leniently: fields r's type lacks are kept in its metadata's Unmodeled,
// to be written back by Marshal.
//
// Nearly every stored object has no such field, and watchers decode every object they are sent, so the common
// case is decoded once: strictly, into r alone. Only when that finds a field r's type lacks is the object decoded
// again, generically, to find and keep what it holds beyond the type.
func Unmarshal(b []byte, r Resource) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(r); err == nil {
		if _, err := d.Token(); err == io.EOF { // nothing after the object, as json.Unmarshal requires
			r.GetObjectMeta().Unmodeled = nil
			return nil
		}
	}
	reflect.ValueOf(r).Elem().SetZero()
	return unmarshalKeeping(b, r)
}

// unmarshalKeeping decodes b into r and keeps what r's type lacks in r's Unmodeled.
func unmarshalKeeping(b []byte, r Resource) error {
	if err := json.Unmarshal(b, r); err != nil {
		return err
	}
	var raw any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers come back exactly as written
	if err := d.Decode(&raw); err != nil {
		return err
	}
	r.GetObjectMeta().Unmodeled = unmodeledOf(reflect.TypeOf(r), raw)
	return nil
}

// Marshal writes r as JSON with the fields in its metadata's Unmodeled merged back where they were read. They are
// never dropped: a modeled object that held some and is now empty, so left out of the typed JSON (a rule's
// source that only had Calico's serviceAccounts), is written with just them.
func Marshal(r Resource) ([]byte, error) {
	b, err := json.Marshal(r)
	u := r.GetObjectMeta().Unmodeled
	if err != nil || u == nil {
		return b, err
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(merge(v, u))
}

// AsJSON returns r as Marshal writes it, for embedding in output (lists, YAML) that marshals it again.
func AsJSON(r Resource) (json.RawMessage, error) {
	b, err := Marshal(r)
	return json.RawMessage(b), err
}

// unmodeledOf walks raw JSON against a Go type and returns what the type does not model, or nil.
func unmodeledOf(t reflect.Type, raw any) *Unmodeled {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || t.Kind() == reflect.Interface {
		return nil // decoded as a whole
	}
	u := &Unmodeled{}
	switch v := raw.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for k, item := range v {
				ft, ok := fields[k]
				if !ok {
					u.setField(k, item)
					continue
				}
				u.setUnder(k, unmodeledOf(ft, item))
			}
		case reflect.Map:
			for k, item := range v {
				u.setUnder(k, unmodeledOf(t.Elem(), item))
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, item := range v {
				if c := unmodeledOf(t.Elem(), item); c != nil {
					if u.Items == nil {
						u.Items = map[int]*Unmodeled{}
					}
					u.Items[i] = c
				}
			}
		}
	}
	if u.Fields == nil && u.Under == nil && u.Items == nil {
		return nil
	}
	return u
}

func (u *Unmodeled) setField(k string, v any) {
	if u.Fields == nil {
		u.Fields = map[string]any{}
	}
	u.Fields[k] = v
}

func (u *Unmodeled) setUnder(k string, c *Unmodeled) {
	if c == nil {
		return
	}
	if u.Under == nil {
		u.Under = map[string]*Unmodeled{}
	}
	u.Under[k] = c
}

// merge puts u's fields back into v, the generic JSON form of the typed object; v is changed in place.
func merge(v any, u *Unmodeled) any {
	switch x := v.(type) {
	case map[string]any:
		for k, f := range u.Fields {
			if _, typed := x[k]; !typed {
				x[k] = f
			}
		}
		for k, c := range u.Under {
			child, ok := x[k]
			if !ok && (c.Fields != nil || c.Under != nil) {
				child = map[string]any{}
			}
			if child != nil {
				x[k] = merge(child, c)
			}
		}
	case []any:
		for i, c := range u.Items {
			if i < len(x) {
				x[i] = merge(x[i], c)
			}
		}
	}
	return v
}
