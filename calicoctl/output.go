package calicoctl

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
)

// Output formats of get.
const (
	formatPS   = "ps"
	formatWide = "wide"
	formatYAML = "yaml"
	formatJSON = "json"
)

func checkFormat(f string) error {
	switch f {
	case formatPS, formatWide, formatYAML, formatJSON:
		return nil
	}
	return fmt.Errorf("unrecognized output format '%s'", f)
}

// resourceList is the <Kind>List a listing get prints as YAML or JSON.
type resourceList struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   listMeta       `json:"metadata"`
	Items      []api.Resource `json:"items"`
}

type listMeta struct {
	ResourceVersion string `json:"resourceVersion"`
}

func newResourceList(k *api.Kind, items []api.Resource, revision int64) resourceList {
	if items == nil {
		items = []api.Resource{}
	}
	return resourceList{APIVersion: api.Group, Kind: k.Name + "List",
		Metadata: listMeta{ResourceVersion: fmt.Sprint(revision)}, Items: items}
}

// writeObject prints v (a resource or a resourceList) as YAML or as JSON indented by two spaces, with the fields
// the resources hold beyond this project's types (api.Unmodeled).
func writeObject(w io.Writer, format string, v any) error {
	v, err := withUnmodeled(v)
	if err != nil {
		return fmt.Errorf("formatting output: %w", err)
	}
	var out []byte
	if format == formatJSON {
		out, err = json.MarshalIndent(v, "", "  ")
		out = append(out, '\n')
	} else {
		out, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("formatting output: %w", err)
	}
	_, err = w.Write(out)
	return err
}

// withUnmodeled turns the resources in v into their JSON as api.Marshal writes it.
func withUnmodeled(v any) (any, error) {
	switch x := v.(type) {
	case api.Resource:
		return api.AsJSON(x)
	case []api.Resource:
		return asJSON(x)
	case resourceList:
		items, err := asJSON(x.Items)
		if err != nil {
			return nil, err
		}
		return struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   listMeta          `json:"metadata"`
			Items      []json.RawMessage `json:"items"`
		}{x.APIVersion, x.Kind, x.Metadata, items}, nil
	}
	return v, nil
}

func asJSON(rs []api.Resource) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(rs))
	for i, r := range rs {
		b, err := api.AsJSON(r)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// writeTable prints resources of one kind as a table (with a NAMESPACE column first when showNamespace),
// followed by a blank line.
func writeTable(w io.Writer, format string, k *api.Kind, rs []api.Resource, showNamespace bool, c tableContext) error {
	cols := columnsByKind[k.Name].ps
	if format == formatWide {
		cols = columnsByKind[k.Name].wide
	}
	if showNamespace && k.Namespaced {
		cols = append([]column{{"NAMESPACE", func(r api.Resource, _ tableContext) string {
			return r.GetObjectMeta().Namespace
		}}}, cols...)
	}
	tw := tabwriter.NewWriter(w, 5, 1, 3, ' ', 0)
	for _, col := range cols {
		fmt.Fprint(tw, col.heading+"\t")
	}
	fmt.Fprintln(tw)
	for _, r := range rs {
		for _, col := range cols {
			fmt.Fprint(tw, col.value(r, c)+"\t")
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}
