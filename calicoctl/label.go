package calicoctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/calico-l3/calico/api"
)

const labelUsage = `Usage:
  calicoctl label <KIND> <NAME> ( <key>=<value> [--overwrite] | <key> --remove ) [--namespace=<NS>] [options]

Add, change or remove one label of a stored resource. The resource is checked before it is written; on any error
nothing is written.

  -n, --namespace=<NS>  Namespace of namespaced resources [default: default].
      --overwrite       Replace the value of a label the resource already has (without it, that is an error).
      --remove          Remove the label <key> (it is an error if the resource does not have it).

Examples:
  calicoctl label workloadendpoints nginx --namespace=default app=web
  calicoctl label nodes node1 cluster=frontend --overwrite
  calicoctl label nodes node1 cluster --remove
`

func runLabel(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("label")
	var namespace string
	var overwrite, remove bool
	fs.StringVar(&namespace, "n", "", "")
	fs.StringVar(&namespace, "namespace", "", "")
	fs.BoolVar(&overwrite, "overwrite", false, "")
	fs.BoolVar(&remove, "remove", false, "")
	pos, code, ok := env.Parse(fs, args, labelUsage)
	if !ok {
		return code
	}
	switch {
	case len(pos) != 3:
		return env.usageError(errors.New("label needs <KIND> <NAME> and <key>=<value> or <key> --remove"))
	case overwrite && remove:
		return env.usageError(errors.New("--overwrite and --remove cannot be used together"))
	}
	kindArg, name, label := pos[0], pos[1], pos[2]
	key, value := label, ""
	if !remove {
		kv := strings.Split(label, "=")
		if len(kv) != 2 {
			return env.fail(fmt.Errorf("invalid label %s", label))
		}
		key, value = kv[0], kv[1]
	}
	kind, ns, err := kindAndNamespace(kindArg, namespace, false)
	if err != nil {
		return env.fail(err)
	}
	ds, err := env.Datastore()
	if err != nil {
		return env.fail(err)
	}
	var result string
	err = readModifyWrite(ctx, ds, kind, ns, name, func(r api.Resource) (api.Resource, error) {
		labels := r.GetObjectMeta().Labels
		if labels == nil {
			labels = map[string]string{}
		}
		old, had := labels[key]
		switch {
		case remove && !had:
			return nil, labelError{fmt.Errorf("cannot remove label of %s %s, key %s does not exist", kindArg, name, key)}
		case remove:
			delete(labels, key)
			result = fmt.Sprintf("Successfully removed label %s from %s %s", key, kindArg, name)
		case had && old != value && !overwrite:
			//lint:ignore ST1005 Calico's own message, which operators search for
			return nil, labelError{fmt.Errorf("failed to update label of %s %s, key %s is already present. please use '--overwrite' to set a new value.",
				kindArg, name, key)}
		case had:
			labels[key] = value
			result = fmt.Sprintf("Successfully updated label %s on %s %s", key, kindArg, name)
		default:
			labels[key] = value
			result = fmt.Sprintf("Successfully set label %s on %s %s", key, kindArg, name)
		}
		r.GetObjectMeta().Labels = labels
		r.Default()
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("checking the labelled resource: %w", err)
		}
		return r, nil
	})
	var le labelError
	var re readError
	switch {
	case errors.As(err, &le):
		return env.fail(le.err)
	case errors.As(err, &re):
		return env.fail(fmt.Errorf("failed to get %s %s, error %w", kindArg, name, err))
	case err != nil:
		return env.fail(fmt.Errorf("failed to update %s %s, label not changed: %w", kindArg, name, err))
	}
	fmt.Fprintln(env.Stdout, result)
	return 0
}

// labelError is a refusal of the label command itself (a missing key, a key without --overwrite), printed as it is.
type labelError struct{ err error }

func (e labelError) Error() string { return e.err.Error() }
