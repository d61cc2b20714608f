// Command calicoctl manages Calico resources in the datastore; the program lives in package calicoctl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/calico-l3/calico/calicoctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := calicoctl.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
