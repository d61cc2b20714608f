package calicoctl

import (
	"context"
	"errors"
	"fmt"

	"github.com/calico-l3/calico/api"
)

const createUsage = `Usage:
  calicoctl create --filename=<FILENAME> [--skip-exists] [--namespace=<NS>] [options]

Create the resources in a file (YAML or JSON; several documents, or a List). Every document is checked before
anything is written.

  -f, --filename=<FILENAME>  File of resources; "-" reads stdin.
      --skip-exists          Count resources that already exist as created.
  -n, --namespace=<NS>       Namespace for namespaced resources that name none [default: default].
`

const applyUsage = `Usage:
  calicoctl apply --filename=<FILENAME> [--namespace=<NS>] [options]

Create the resources in a file, or update them where they exist.

  -f, --filename=<FILENAME>  File of resources; "-" reads stdin.
  -n, --namespace=<NS>       Namespace for namespaced resources that name none [default: default].
`

const replaceUsage = `Usage:
  calicoctl replace --filename=<FILENAME> [--namespace=<NS>] [options]

Replace existing resources with those in a file. A resource that carries metadata.resourceVersion is replaced
only if that is still the stored version.

  -f, --filename=<FILENAME>  File of resources; "-" reads stdin.
  -n, --namespace=<NS>       Namespace for namespaced resources that name none [default: default].
`

const deleteUsage = `Usage:
  calicoctl delete ( <KIND> <NAME>... | --filename=<FILENAME> ) [--skip-not-exists] [--namespace=<NS>] [options]

Delete resources named on the command line or in a file.

  -f, --filename=<FILENAME>  File of resources; "-" reads stdin.
      --skip-not-exists      Count resources that do not exist as deleted.
  -n, --namespace=<NS>       Namespace of namespaced resources [default: default].
`

func runCreate(ctx context.Context, env *Env, args []string) int {
	return runFileCommand(ctx, env, args, verbCreate, createUsage)
}

func runApply(ctx context.Context, env *Env, args []string) int {
	return runFileCommand(ctx, env, args, verbApply, applyUsage)
}

func runReplace(ctx context.Context, env *Env, args []string) int {
	return runFileCommand(ctx, env, args, verbReplace, replaceUsage)
}

// runFileCommand is create, apply and replace: check the whole file, then write its resources in order,
// stopping at the first error.
func runFileCommand(ctx context.Context, env *Env, args []string, v verb, usage string) int {
	fs := env.FlagSet(v.name)
	var file, namespace string
	var skipExists bool
	fs.StringVar(&file, "f", "", "")
	fs.StringVar(&file, "filename", "", "")
	fs.StringVar(&namespace, "n", "", "")
	fs.StringVar(&namespace, "namespace", "", "")
	if v == verbCreate {
		fs.BoolVar(&skipExists, "skip-exists", false, "")
	}
	pos, code, ok := env.Parse(fs, args, usage)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return env.usageError(fmt.Errorf("%s takes no arguments besides its options, got %q", v.name, pos))
	case file == "":
		return env.usageError(fmt.Errorf("%s needs --filename (-f)", v.name))
	}

	docs, err := env.loadManifest(file, namespace)
	if err != nil {
		return env.failed(err)
	}
	warnUnmodeled(env.Stderr, docs)
	o := outcome{total: len(docs), kind: singleKind(docs)}
	if o.total == 0 {
		return report(env.Stdout, env.Stderr, v, o)
	}
	ds, err := env.Datastore()
	if err != nil {
		return env.failed(err)
	}
	for _, d := range docs {
		switch v {
		case verbCreate:
			err = createOne(ctx, ds, d.Resource, skipExists)
		case verbApply:
			err = applyOne(ctx, ds, d.Resource)
		case verbReplace:
			err = replaceOne(ctx, ds, d.Resource)
		}
		if err != nil {
			o.err = err
			break
		}
		o.done++
	}
	return report(env.Stdout, env.Stderr, v, o)
}

// target names one stored resource.
type target struct {
	kind            *api.Kind
	namespace, name string
	version         string // only delete what is still at this resourceVersion, when set
}

func runDelete(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("delete")
	var file, namespace string
	var skipNotExists bool
	fs.StringVar(&file, "f", "", "")
	fs.StringVar(&file, "filename", "", "")
	fs.StringVar(&namespace, "n", "", "")
	fs.StringVar(&namespace, "namespace", "", "")
	fs.BoolVar(&skipNotExists, "skip-not-exists", false, "")
	pos, code, ok := env.Parse(fs, args, deleteUsage)
	if !ok {
		return code
	}

	var targets []target
	kindName := ""
	switch {
	case file != "" && len(pos) > 0:
		return env.usageError(errors.New("delete takes either <KIND> <NAME>... or --filename, not both"))
	case file != "":
		docs, err := env.loadManifest(file, namespace)
		if err != nil {
			return env.failed(err)
		}
		for _, d := range docs {
			m := d.Resource.GetObjectMeta()
			targets = append(targets, target{api.KindOf(d.Resource), m.Namespace, m.Name, m.ResourceVersion})
		}
		kindName = singleKind(docs)
	case len(pos) < 2:
		return env.usageError(errors.New("delete needs <KIND> <NAME>... or --filename"))
	default:
		kind, ns, err := kindAndNamespace(pos[0], namespace, false)
		if err != nil {
			return env.failed(err)
		}
		for _, name := range pos[1:] {
			targets = append(targets, target{kind: kind, namespace: ns, name: name})
		}
		kindName = kind.Name
	}

	o := outcome{total: len(targets), kind: kindName}
	if o.total == 0 {
		return report(env.Stdout, env.Stderr, verbDelete, o)
	}
	ds, err := env.Datastore()
	if err != nil {
		return env.failed(err)
	}
	for _, t := range targets {
		if err := deleteOne(ctx, ds, t.kind, t.namespace, t.name, t.version, skipNotExists); err != nil {
			o.err = err
			break
		}
		o.done++
	}
	return report(env.Stdout, env.Stderr, verbDelete, o)
}

// kindAndNamespace resolves a KIND argument and the namespace to use with it: -n for namespaced kinds (default
// "default", or "" for all namespaces when allNamespaces), and an error if -n is given for a cluster-scoped kind.
func kindAndNamespace(kindArg, namespace string, allNamespaces bool) (*api.Kind, string, error) {
	kind, err := api.LookupKind(kindArg)
	if err != nil {
		return nil, "", err
	}
	switch {
	case !kind.Namespaced && namespace != "":
		return nil, "", fmt.Errorf("namespace should not be specified for a non-namespaced resource. %s is not a namespaced resource", kind.Name)
	case !kind.Namespaced || allNamespaces:
		return kind, "", nil
	case namespace == "":
		return kind, api.DefaultNamespace, nil
	}
	return kind, namespace, nil
}
