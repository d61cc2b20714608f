package calicoctl

import (
	"fmt"
	"io"
)

// verb names what a command does to resources, for its messages.
type verb struct{ name, past string }

var (
	verbCreate  = verb{"create", "created"}
	verbApply   = verb{"apply", "applied"}
	verbReplace = verb{"replace", "replaced"}
	verbDelete  = verb{"delete", "deleted"}
)

// outcome is what a command did to a list of resources: it stops at the first error.
type outcome struct {
	total int    // resources asked for
	done  int    // resources handled before err
	kind  string // the kind of every resource, or "" when they differ
	err   error
}

// report prints an outcome in the words calicoctl users know and returns the exit code.
// Success goes to stdout; failures, and the error of a partial success, to stderr.
func report(stdout, stderr io.Writer, v verb, o outcome) int {
	switch {
	case o.total == 0:
		fmt.Fprintln(stderr, "No resources specified in file")
		return 1
	case o.err == nil && o.kind != "":
		fmt.Fprintf(stdout, "Successfully %s %d '%s' resource(s)\n", v.past, o.done, o.kind)
		return 0
	case o.err == nil:
		fmt.Fprintf(stdout, "Successfully %s %d resource(s)\n", v.past, o.done)
		return 0
	case o.done == 0 && o.total == 1:
		fmt.Fprintf(stderr, "Failed to %s '%s' resource: %v\n", v.name, o.kind, o.err)
	case o.done == 0 && o.kind != "":
		fmt.Fprintf(stderr, "Failed to %s any '%s' resources: %v\n", v.name, o.kind, o.err)
	case o.done == 0:
		fmt.Fprintf(stderr, "Failed to %s any resources: %v\n", v.name, o.err)
	case o.kind != "":
		fmt.Fprintf(stdout, "Partial success: %s the first %d out of %d '%s' resources:\n", v.past, o.done, o.total, o.kind)
		fmt.Fprintf(stderr, "Hit error: %v\n", o.err)
	default:
		fmt.Fprintf(stdout, "Partial success: %s the first %d out of %d resources:\n", v.past, o.done, o.total)
		fmt.Fprintf(stderr, "Hit error: %v\n", o.err)
	}
	return 1
}

// failed prints "Failed to execute command: <err>" (bad arguments or files, nothing done) and returns 1.
func (e *Env) failed(err error) int {
	fmt.Fprintf(e.Stderr, "Failed to execute command: %v\n", err)
	return 1
}
