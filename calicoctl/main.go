// Package calicoctl is the calicoctl command line: it reads resource manifests, checks them, writes them to the
// datastore and prints what is stored as tables, YAML or JSON. It owns the command table, argument parsing, the
// connection settings (flags, environment, config file) and the checks that span resources (IPPool overlap,
// immutable pool fields and uses). Main is the whole program; cmd/calicoctl only calls it.
package calicoctl

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Command is one calicoctl subcommand. Run gets the arguments after the command name and returns the exit code.
type Command struct {
	Summary string
	Run     func(ctx context.Context, env *Env, args []string) int
}

// commands is the command table. To add a subcommand, write its Run function in a file of its own and add a line
// here; Run parses its own flags with env.FlagSet and env.Parse.
var commands = map[string]Command{
	"create":  {"Create resources from a file.", runCreate},
	"apply":   {"Create or update resources from a file.", runApply},
	"replace": {"Replace existing resources from a file.", runReplace},
	"delete":  {"Delete resources named in a file or on the command line.", runDelete},
	"get":     {"Print resources.", runGet},
	"version": {"Print the client and cluster versions.", runVersion},
	"node":    {"Show this node's BGP status (node status).", runNode},
	"ipam":    {"Show, release and check IP address management.", runIPAM},
	"convert": {"Convert pre-v3 (apiVersion v1) manifests to projectcalico.org/v3.", runConvert},
	"patch":   {"Change a stored resource with a patch.", runPatch},
	"label":   {"Add, change or remove a label of a stored resource.", runLabel},
}

// Main runs calicoctl with the arguments after the program name and returns the process exit code:
// 0 on success, 1 on any failure.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv, args: args}
	defer env.Close()

	fs := env.FlagSet("calicoctl")
	if err := fs.Parse(args); err != nil {
		return env.usageError(err)
	}
	if env.help {
		fmt.Fprint(stdout, mainUsage())
		return 0
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, mainUsage())
		return 1
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		return env.usageError(fmt.Errorf("unknown command %q", name))
	}
	return cmd.Run(ctx, env, fs.Args()[1:])
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString(`Usage:
  calicoctl [options] <command> [<args>...]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s%s\n", n, commands[n].Summary)
	}
	b.WriteString(`
Options (accepted before or after the command):
` + globalOptionsHelp + `
Run 'calicoctl <command> --help' for the options of one command.
`)
	return b.String()
}
