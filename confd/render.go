package confd

import (
	"bytes"
	"fmt"
	"text/template"

	"github.com/calico-l3/calico/confd/kvstore"
)

// Template is a parsed resource template. It is safe to render concurrently.
type Template struct {
	t *template.Template
}

// ParseTemplate parses template text. name (the template file name) appears in every parse and execution
// error together with the line, e.g. "template: bird.cfg.template:12:5: ...".
func ParseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Funcs(funcMap(kvstore.New(nil))).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing template: %w", err)
	}
	return &Template{t: t}, nil
}

// Name returns the name the template was parsed with.
func (t *Template) Name() string { return t.t.Name() }

// Execute renders the template over view, a key view as the template sees it (see Resource.Select). It only
// reads view; the caller must not change it while Execute runs.
func (t *Template) Execute(view map[string]string) ([]byte, error) {
	// The store functions are looked up when the template runs, so a clone with those rebound renders
	// over this view without disturbing concurrent renders of the same template.
	tt, err := t.t.Clone()
	if err != nil {
		return nil, fmt.Errorf("cloning template %s: %w", t.Name(), err)
	}
	tt.Funcs(storeFuncs(kvstore.New(view)))
	var b bytes.Buffer
	if err := tt.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("rendering: %w", err)
	}
	return b.Bytes(), nil
}

// Render renders tmpl over the keys of snapshot that res reads.
func Render(res *Resource, tmpl *Template, snapshot map[string]string) ([]byte, error) {
	return tmpl.Execute(res.Select(snapshot))
}
