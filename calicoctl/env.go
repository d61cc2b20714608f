package calicoctl

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/calico-l3/calico/datastore"
	"github.com/calico-l3/calico/datastore/connect"
	"github.com/calico-l3/calico/ipam"
)

// Env is what a command works with: its streams, its environment, the connection options from the command line
// and the datastore, opened on first use so that commands which need no datastore never wait for one.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string

	args []string // the whole command line after the program name, for usage messages
	conn connFlags
	help bool

	ds     datastore.Client
	opened *connect.Datastore // ds, with its IPAM
	dsErr  error
}

// connFlags are the global options that say how to reach the datastore.
type connFlags struct {
	configFile string // -c/--config; "" means the default path, used only if it exists
	endpoints  string // --etcd-endpoints
}

const globalOptionsHelp = `  -c, --config=<FILE>          CalicoAPIConfig file [default: ` + DefaultConfigFile + `, used only if it exists]
      --etcd-endpoints=<EPS>   Comma-separated etcd endpoints, e.g. http://10.0.0.1:2379
  -h, --help                   Show help.

Connection settings: each setting comes from the first of these that gives it: command-line flags, then the
environment (DATASTORE_TYPE, ETCD_ENDPOINTS, ETCD_KEY_FILE, ETCD_CERT_FILE, ETCD_CA_CERT_FILE, ETCD_USERNAME,
ETCD_PASSWORD, KUBECONFIG), then the config file, then the defaults (etcdv3 at ` + DefaultEndpoint + `).
DATASTORE_TYPE=kubernetes keeps resources as custom resources in the API server KUBECONFIG names (in a pod:
its service account).
CALICOCTL_TIMEOUT (e.g. 10s; default 5s) bounds each datastore request.
`

// FlagSet returns a flag set for a command that already holds the global options, so that they may be given
// before or after the command name.
func (e *Env) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&e.conn.configFile, "c", e.conn.configFile, "")
	fs.StringVar(&e.conn.configFile, "config", e.conn.configFile, "")
	fs.StringVar(&e.conn.endpoints, "etcd-endpoints", e.conn.endpoints, "")
	fs.BoolVar(&e.help, "h", false, "")
	fs.BoolVar(&e.help, "help", false, "")
	return fs
}

// Parse parses args with flags allowed anywhere among the positional arguments ("--" ends the flags).
// When it returns ok=false the command should return code at once: help was printed (0) or the arguments
// were wrong (1, with the reason on stderr).
func (e *Env) Parse(fs *flag.FlagSet, args []string, usage string) (positional []string, code int, ok bool) {
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, e.usageError(err), false
	}
	if e.help {
		fmt.Fprint(e.Stdout, usage+"\nOptions of every command:\n"+globalOptionsHelp)
		return nil, 0, false
	}
	return positional, 0, true
}

// parseInterspersed lets the standard flag package accept flags after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// usageError reports wrong arguments the way calicoctl users know, after the reason.
func (e *Env) usageError(reason error) int {
	fmt.Fprintf(e.Stderr, "%v\nInvalid option: 'calicoctl %s'. Use flag '--help' to read about a specific subcommand.\n",
		reason, strings.Join(e.args, " "))
	return 1
}

// Datastore opens the datastore on first use with the resolved connection settings and returns the same
// client afterwards: etcd, or the API server's custom resources with DATASTORE_TYPE=kubernetes.
func (e *Env) Datastore() (datastore.Client, error) {
	if e.ds != nil || e.dsErr != nil {
		return e.ds, e.dsErr
	}
	e.ds, e.dsErr = e.open()
	return e.ds, e.dsErr
}

func (e *Env) open() (datastore.Client, error) {
	conn, err := loadConfig(e.conn, e.Getenv, os.ReadFile)
	if err != nil {
		return nil, err
	}
	if conn.Kubernetes {
		e.opened, err = connect.OpenKubernetes(conn.Kubeconfig, conn.Timeout)
	} else {
		e.opened, err = connect.OpenEtcd(conn.Etcd)
	}
	if err != nil {
		return nil, err
	}
	return e.opened, nil
}

// IPAM is the allocator of the datastore.
func (e *Env) IPAM() (*ipam.IPAM, error) {
	if _, err := e.Datastore(); err != nil {
		return nil, err
	}
	return e.opened.IPAM, nil
}

// Close releases the datastore connection, if one was opened.
func (e *Env) Close() {
	if e.opened != nil {
		_ = e.opened.Close()
	}
}
