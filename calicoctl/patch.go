package calicoctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

const patchUsage = `Usage:
  calicoctl patch <KIND> <NAME> --patch=<PATCH> [--type=<TYPE>] [--namespace=<NS>] [options]

Change one stored resource in place with a patch. The result is checked like a resource being created before it
is written; on any error nothing is written.

  -p, --patch=<PATCH>   The patch, in JSON (or YAML).
  -t, --type=<TYPE>     strategic (the default) or merge: a partial object merged into the resource (RFC 7386:
                        objects merge key by key, null removes a field, lists are replaced whole, as Calico's
                        strategic merge does for its resources); json: a JSON Patch (RFC 6902), an array of
                        add/remove/replace/move/copy/test operations. Like Calico, a partial object is merged
                        whatever the type.
  -n, --namespace=<NS>  Namespace of namespaced resources [default: default].

Examples:
  calicoctl patch node node-0 --patch '{"spec":{"bgp":{"routeReflectorClusterID":"244.0.0.1"}}}'
  calicoctl patch ippool pool1 -p '[{"op":"replace","path":"/spec/natOutgoing","value":true}]' --type json
`

// Patch types.
const (
	patchStrategic = "strategic"
	patchMerge     = "merge"
	patchJSON      = "json"
)

func runPatch(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("patch")
	var patch, patchType, namespace string
	fs.StringVar(&patch, "p", "", "")
	fs.StringVar(&patch, "patch", "", "")
	fs.StringVar(&patchType, "t", patchStrategic, "")
	fs.StringVar(&patchType, "type", patchStrategic, "")
	fs.StringVar(&namespace, "n", "", "")
	fs.StringVar(&namespace, "namespace", "", "")
	pos, code, ok := env.Parse(fs, args, patchUsage)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 2:
		return env.usageError(errors.New("patch needs <KIND> <NAME>"))
	case patch == "":
		return env.usageError(errors.New("patch needs --patch (-p)"))
	case !slices.Contains([]string{patchStrategic, patchMerge, patchJSON}, patchType):
		return env.usageError(fmt.Errorf("unknown patch type '%s': use strategic, merge or json", patchType))
	case pos[1] == "":
		return env.fail(errors.New("resource name may not be empty"))
	}
	kind, ns, err := kindAndNamespace(pos[0], namespace, false)
	if err != nil {
		return env.fail(err)
	}
	ds, err := env.Datastore()
	if err != nil {
		return env.fail(err)
	}
	err = readModifyWrite(ctx, ds, kind, ns, pos[1], func(cur api.Resource) (api.Resource, error) {
		return patchResource(cur, []byte(patch), patchType)
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "Hit error: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "Successfully patched 1 '%s' resource\n", kind.Name)
	return 0
}

// patchResource applies a patch to a copy of cur and returns the result, defaulted and validated. The patch may
// not change what names the resource (kind, name, namespace) nor the fields the datastore owns (uid,
// creationTimestamp); it may give metadata.resourceVersion, to apply only if the resource is still at it.
func patchResource(cur api.Resource, patch []byte, patchType string) (api.Resource, error) {
	orig, err := api.AsJSON(cur)
	if err != nil {
		return nil, fmt.Errorf("reading the stored resource: %w", err)
	}
	doc, err := decodeJSON(orig)
	if err != nil {
		return nil, fmt.Errorf("reading the stored resource: %w", err)
	}
	js, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("the patch is not valid JSON or YAML: %w", err)
	}
	p, err := decodeJSON(js)
	if err != nil {
		return nil, fmt.Errorf("the patch is not valid JSON or YAML: %w", err)
	}
	switch p.(type) {
	case map[string]any:
		if err := checkNoDirectives(p, ""); err != nil {
			return nil, err
		}
		doc = mergePatch(doc, p)
	case []any:
		if patchType != patchJSON {
			return nil, fmt.Errorf("the patch is a list of operations: give --type json to apply a JSON patch")
		}
		if doc, err = applyJSONPatch(doc, js); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("the patch must be an object (or, with --type json, a list of operations)")
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("writing the patched resource: %w", err)
	}
	r, err := decodePatched(cur, b)
	if err != nil {
		return nil, err
	}
	r.Default()
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("checking the patched resource: %w", err)
	}
	return r, nil
}

// checkNoDirectives rejects the "$patch", "$retainKeys" and similar keys of Kubernetes strategic merge patches:
// Calico's resources carry no merge keys, so they have nothing to act on here.
func checkNoDirectives(v any, path string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for k, sub := range m {
		if strings.HasPrefix(k, "$") {
			return fmt.Errorf("the patch directive '%s' at '%s' is not supported: give the fields' new values, or null to remove one",
				k, strings.TrimPrefix(path, "."))
		}
		if err := checkNoDirectives(sub, path+"."+k); err != nil {
			return err
		}
	}
	return nil
}

// decodePatched decodes the patched JSON as a resource of cur's kind. Fields cur held beyond this project's types
// are kept; a field the patch adds that neither the type nor Calico's API defines is an error, as it would be in a
// manifest.
func decodePatched(cur api.Resource, b []byte) (api.Resource, error) {
	var tm api.TypeMeta
	if err := json.Unmarshal(b, &tm); err != nil {
		return nil, fmt.Errorf("reading the patched resource: %w", err)
	}
	kind := api.KindOf(cur)
	if tm.Kind != kind.Name || tm.APIVersion != api.Group {
		return nil, fmt.Errorf("the patch may not change kind or apiVersion (%s, %s)", kind.Name, api.Group)
	}
	r := kind.New()
	if err := api.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("reading the patched resource: %w", api.FieldTypeError(err))
	}
	known := map[string]bool{}
	for _, p := range cur.GetObjectMeta().Unmodeled.Paths() {
		known[p] = true
	}
	for _, p := range r.GetObjectMeta().Unmodeled.Paths() {
		if !known[p] && !api.CalicoDefines(kind.Name, p) {
			return nil, fmt.Errorf("unknown field '%s'", p)
		}
	}
	m, c := r.GetObjectMeta(), cur.GetObjectMeta()
	for _, f := range []struct {
		name      string
		got, want string
	}{{"metadata.name", m.Name, c.Name}, {"metadata.namespace", m.Namespace, c.Namespace},
		{"metadata.uid", m.UID, c.UID}, {"metadata.creationTimestamp", m.CreationTimestamp, c.CreationTimestamp}} {
		if f.got != f.want {
			return nil, fmt.Errorf("error with field %s = '%s' (the patch may not change it: it is '%s')", f.name, f.got, f.want)
		}
	}
	return r, nil
}

// readModifyWrite reads a resource, computes its new version with modify and writes it at the version it read.
// When someone else wrote the resource in between, it starts again from the new stored version (a few times);
// unless modify set a resourceVersion of its own, which is then kept and the conflict reported. modify gets a
// resource nobody else holds and may change it. Nothing is written when modify fails.
func readModifyWrite(ctx context.Context, ds datastore.Client, kind *api.Kind, namespace, name string,
	modify func(api.Resource) (api.Resource, error)) error {
	const attempts = 5
	for i := 1; ; i++ {
		cur, err := ds.Get(ctx, kind, namespace, name)
		switch {
		case errors.Is(err, datastore.ErrNotFound):
			return readError{err} // the datastore's message names the resource
		case err != nil:
			return readError{fmt.Errorf("reading %s: %w", api.ID(withName(kind, namespace, name)), err)}
		}
		read := cur.GetObjectMeta().ResourceVersion
		// modify works on its own copy, so that cur stays as stored for the checks of the update.
		b, err := api.AsJSON(cur)
		if err != nil {
			return fmt.Errorf("copying %s: %w", api.ID(cur), err)
		}
		work := kind.New()
		if err := api.Unmarshal(b, work); err != nil {
			return fmt.Errorf("copying %s: %w", api.ID(cur), err)
		}
		r, err := modify(work)
		if err != nil {
			return err
		}
		pinned := r.GetObjectMeta().ResourceVersion != read
		err = updateOne(ctx, ds, r, cur)
		var stale staleVersionError
		if errors.As(err, &stale) && !pinned && i < attempts {
			continue
		}
		if err != nil {
			return fmt.Errorf("updating %s: %w", api.ID(cur), err)
		}
		return nil
	}
}

// readError is readModifyWrite's failure to read the resource at all (it does not exist, or the datastore cannot
// be reached).
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// withName is an empty resource of a kind with its name, for messages about resources that could not be read.
func withName(kind *api.Kind, namespace, name string) api.Resource {
	r := kind.New()
	r.GetObjectMeta().Namespace, r.GetObjectMeta().Name = namespace, name
	return r
}
