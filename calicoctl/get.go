package calicoctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/calico-l3/calico/api"
	"github.com/calico-l3/calico/datastore"
)

const getUsage = `Usage:
  calicoctl get ( <KIND> [<NAME>] | --filename=<FILENAME> ) [--output=<OUTPUT>] [--namespace=<NS>] [--all-namespaces] [options]

Print resources: one by name, every one of a kind, or those named in a file.

  -f, --filename=<FILENAME>  File of resources to look up; "-" reads stdin.
  -o, --output=<OUTPUT>      ps (a table, the default), wide (more columns), yaml or json.
  -n, --namespace=<NS>       Namespace of namespaced resources [default: default].
  -a, --all-namespaces       List namespaced resources of every namespace.

Kinds (case-insensitive; plurals and short names work too): bgpConfiguration, bgpPeer, clusterInformation,
felixConfiguration, globalNetworkPolicy, globalNetworkSet, hostEndpoint, ipPool, networkPolicy, node, profile,
tier, workloadEndpoint.
`

// getRequest is a parsed get command.
type getRequest struct {
	file, format, namespace string
	allNamespaces           bool
	kindArg, name           string
}

func runGet(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("get")
	var req getRequest
	fs.StringVar(&req.file, "f", "", "")
	fs.StringVar(&req.file, "filename", "", "")
	fs.StringVar(&req.format, "o", formatPS, "")
	fs.StringVar(&req.format, "output", formatPS, "")
	fs.StringVar(&req.namespace, "n", "", "")
	fs.StringVar(&req.namespace, "namespace", "", "")
	fs.BoolVar(&req.allNamespaces, "a", false, "")
	fs.BoolVar(&req.allNamespaces, "all-namespaces", false, "")
	pos, code, ok := env.Parse(fs, args, getUsage)
	if !ok {
		return code
	}
	switch {
	case req.file != "" && len(pos) > 0:
		return env.usageError(errors.New("get takes either <KIND> [<NAME>] or --filename, not both"))
	case req.file == "" && (len(pos) == 0 || len(pos) > 2):
		return env.usageError(errors.New("get needs <KIND> [<NAME>] or --filename"))
	case len(pos) > 0:
		req.kindArg = pos[0]
	}
	if len(pos) == 2 {
		req.name = pos[1]
	}
	if err := req.check(); err != nil {
		return env.failed(err)
	}
	if req.file != "" {
		return env.getFromFile(ctx, req)
	}
	return env.getKind(ctx, req)
}

// check rejects option combinations that cannot work, before the datastore is touched.
func (req getRequest) check() error {
	if req.namespace != "" && req.allNamespaces {
		return errors.New("cannot use both --namespace and --all-namespaces flags at the same time")
	}
	if req.allNamespaces && req.name != "" {
		return errors.New("a resource NAME is looked up in one namespace: use --namespace, not --all-namespaces")
	}
	return checkFormat(req.format)
}

// getKind prints one named resource or every resource of a kind.
func (e *Env) getKind(ctx context.Context, req getRequest) int {
	kind, ns, err := kindAndNamespace(req.kindArg, req.namespace, req.allNamespaces)
	if err != nil {
		return e.failed(err)
	}
	ds, err := e.Datastore()
	if err != nil {
		return e.failed(err)
	}
	var items []api.Resource
	var listed any
	if req.name != "" {
		r, err := getOrImplied(ctx, ds, kind, ns, req.name)
		if err != nil {
			return e.getFailed(err)
		}
		items, listed = []api.Resource{r}, r
	} else {
		var rev int64
		items, rev, err = ds.List(ctx, kind, ns)
		if err != nil {
			return e.getFailed(err)
		}
		items = withTiersInOrder(kind, items)
		listed = newResourceList(kind, items, rev)
	}
	if req.format == formatYAML || req.format == formatJSON {
		return e.printed(writeObject(e.Stdout, req.format, listed))
	}
	tc, err := tableContextFor(ctx, ds, kind, req.format)
	if err != nil {
		return e.getFailed(err)
	}
	return e.printed(writeTable(e.Stdout, req.format, kind, items, req.namespace != "" || req.allNamespaces, tc))
}

// getFromFile prints the stored versions of the resources a file names.
func (e *Env) getFromFile(ctx context.Context, req getRequest) int {
	docs, err := e.loadManifest(req.file, req.namespace)
	if err != nil {
		return e.failed(err)
	}
	ds, err := e.Datastore()
	if err != nil {
		return e.failed(err)
	}
	items := make([]api.Resource, 0, len(docs))
	for _, d := range docs {
		m := d.Resource.GetObjectMeta()
		r, err := getOrImplied(ctx, ds, api.KindOf(d.Resource), m.Namespace, m.Name)
		if err != nil {
			return e.getFailed(err)
		}
		items = append(items, r)
	}
	switch {
	case req.format == formatYAML || req.format == formatJSON:
		var v any = items
		if len(items) == 1 {
			v = items[0]
		}
		return e.printed(writeObject(e.Stdout, req.format, v))
	}
	// One table per run of resources of the same kind, in file order.
	for start := 0; start < len(items); {
		kind := api.KindOf(items[start])
		end := start + 1
		for end < len(items) && api.KindOf(items[end]) == kind {
			end++
		}
		tc, err := tableContextFor(ctx, ds, kind, req.format)
		if err != nil {
			return e.getFailed(err)
		}
		if err := writeTable(e.Stdout, req.format, kind, items[start:end], req.namespace != "", tc); err != nil {
			return e.printed(err)
		}
		start = end
	}
	return 0
}

// tableContextFor reads what the columns of a kind need besides the resources: the cluster AS number for
// the nodes' wide table.
func tableContextFor(ctx context.Context, ds datastore.Client, kind *api.Kind, format string) (tableContext, error) {
	tc := tableContext{defaultAS: api.DefaultASNumber}
	if kind.Name != "Node" || format != formatWide {
		return tc, nil
	}
	bgpKind, _ := api.LookupKind("BGPConfiguration")
	r, err := ds.Get(ctx, bgpKind, "", "default")
	switch {
	case errors.Is(err, datastore.ErrNotFound):
		return tc, nil
	case err != nil:
		return tc, err
	}
	tc.defaultAS = r.(*api.BGPConfiguration).Spec.EffectiveASNumber()
	return tc, nil
}

func (e *Env) getFailed(err error) int {
	fmt.Fprintf(e.Stderr, "Failed to get resources: %v\n", err)
	return 1
}

// printed turns an output error (such as a closed pipe) into the exit code.
func (e *Env) printed(err error) int {
	if err != nil {
		fmt.Fprintf(e.Stderr, "Failed to print resources: %v\n", err)
		return 1
	}
	return 0
}
