package calicoctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/calico-l3/calico/api"
)

const convertUsage = `Usage:
  calicoctl convert --filename=<FILENAME> [--output=<OUTPUT>] [--ignore-validation]

Convert manifests of the pre-v3 calicoctl (apiVersion: v1; kinds bgpPeer, hostEndpoint, ipPool, node, policy,
profile and workloadEndpoint) to projectcalico.org/v3, printing the result. Nothing is written to the datastore.

  -f, --filename=<FILENAME>  File to convert; "-" reads stdin.
  -o, --output=<OUTPUT>      yaml (the default) or json.
      --ignore-validation    Print the converted resources even if they fail validation.

Examples:
  calicoctl convert -f ./policy.yaml -o yaml
  cat policy.json | calicoctl convert -f -
`

func runConvert(_ context.Context, env *Env, args []string) int {
	fs := env.FlagSet("convert")
	var file, format string
	var ignoreValidation bool
	fs.StringVar(&file, "f", "", "")
	fs.StringVar(&file, "filename", "", "")
	fs.StringVar(&format, "o", formatYAML, "")
	fs.StringVar(&format, "output", formatYAML, "")
	fs.BoolVar(&ignoreValidation, "ignore-validation", false, "")
	pos, code, ok := env.Parse(fs, args, convertUsage)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		return env.usageError(fmt.Errorf("convert takes no arguments besides its options, got %q", pos))
	case file == "":
		return env.usageError(fmt.Errorf("convert needs --filename (-f)"))
	}
	if format == "yml" {
		format = formatYAML
	}
	if format != formatYAML && format != formatJSON {
		return env.fail(fmt.Errorf("unrecognized output format '%s'", format))
	}
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(env.Stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return env.failed(fmt.Errorf("reading %s: %w", describeFile(file), err))
	}
	resources, err := convertV1(data)
	if err != nil {
		return env.failed(err)
	}
	if !ignoreValidation {
		for _, r := range resources {
			if err := validateConverted(r); err != nil {
				fmt.Fprintf(env.Stderr, "Converted manifest resource(s) failed validation: %s: %v\n"+
					"Re-run the command with '--ignore-validation' flag to see the converted output.\n", api.ID(r), err)
				return 1
			}
		}
	}
	var out any = resources
	if len(resources) == 1 {
		out = resources[0]
	}
	return env.printed(writeObject(env.Stdout, format, out))
}

// validateConverted validates a copy of r with its defaults filled in, as create would see it; r itself is
// printed as converted.
func validateConverted(r api.Resource) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("copying %s: %w", api.ID(r), err)
	}
	c := api.KindOf(r).New()
	if err := json.Unmarshal(b, c); err != nil {
		return fmt.Errorf("copying %s: %w", api.ID(r), err)
	}
	c.Default()
	return c.Validate()
}
