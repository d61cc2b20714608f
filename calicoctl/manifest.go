package calicoctl

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/calico-l3/calico/api"
)

// loadManifest reads -f FILE ("-" is stdin), decodes every document and defaults and validates all of them, so
// that a file with one bad document is rejected before anything is written.
func (e *Env) loadManifest(file, namespace string) ([]api.Document, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(e.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", describeFile(file), err)
	}
	docs, err := api.Decode(data)
	if err != nil {
		return nil, err
	}
	if err := api.Prepare(docs, namespace); err != nil {
		return nil, err
	}
	return docs, nil
}

// warnUnmodeled tells the user which fields of the manifest are Calico's but not acted on here: they are stored
// as written, for Calico's own components, and shown by get.
func warnUnmodeled(w io.Writer, docs []api.Document) {
	for _, d := range docs {
		if paths := d.Resource.GetObjectMeta().Unmodeled.Paths(); len(paths) > 0 {
			fmt.Fprintf(w, "Warning: %s: %s: defined by Calico's API but not acted on by this project; stored as written\n",
				api.ID(d.Resource), strings.Join(paths, ", "))
		}
	}
}

func describeFile(file string) string {
	if file == "-" {
		return "stdin"
	}
	return file
}

// singleKind is the kind all documents share, or "" when they differ (messages then leave the kind out).
func singleKind(docs []api.Document) string {
	kind := ""
	for i, d := range docs {
		k := api.KindOf(d.Resource).Name
		if i > 0 && k != kind {
			return ""
		}
		kind = k
	}
	return kind
}
