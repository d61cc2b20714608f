package calicoctl

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/calico-l3/calico/api"
)

// Build information, set at link time:
//
//	go build -ldflags "-X github.com/calico-l3/calico/calicoctl.Version=v1.2.3 \
//	  -X github.com/calico-l3/calico/calicoctl.GitCommit=$(git rev-parse HEAD) \
//	  -X github.com/calico-l3/calico/calicoctl.BuildDate=$(date -u +%FT%TZ)" ./cmd/calicoctl
//
// GitCommit and BuildDate fall back to what the Go toolchain recorded from version control.
var (
	Version   = "dev"
	GitCommit = ""
	BuildDate = ""
)

const versionUsage = `Usage:
  calicoctl version [options]

Print the version of this client and, when the datastore answers, of the cluster (from ClusterInformation
"default").
`

func runVersion(ctx context.Context, env *Env, args []string) int {
	fs := env.FlagSet("version")
	pos, code, ok := env.Parse(fs, args, versionUsage)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return env.usageError(fmt.Errorf("version takes no arguments, got %q", pos))
	}
	commit, date := buildVCS()
	line := func(label, value string) { fmt.Fprintf(env.Stdout, "%-18s %s\n", label, value) }
	line("Client Version:", Version)
	line("Build date:", date)
	line("Git commit:", commit)

	info, err := clusterInformation(ctx, env)
	if err != nil {
		fmt.Fprintf(env.Stdout, "Unable to retrieve Cluster Version or Type: %v\n", err)
		return 0
	}
	line("Cluster Version:", info.Spec.CalicoVersion)
	line("Cluster Type:", info.Spec.ClusterType)
	return 0
}

func clusterInformation(ctx context.Context, env *Env) (*api.ClusterInformation, error) {
	ds, err := env.Datastore()
	if err != nil {
		return nil, err
	}
	kind, _ := api.LookupKind("ClusterInformation")
	r, err := ds.Get(ctx, kind, "", "default")
	if err != nil {
		return nil, err
	}
	return r.(*api.ClusterInformation), nil
}

// buildVCS returns GitCommit and BuildDate, or what the toolchain stamped into the binary, or "unknown".
func buildVCS() (commit, date string) {
	commit, date = GitCommit, BuildDate
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return commit, date
}
