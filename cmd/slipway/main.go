// Command slipway is the Slipway CI/CD service and its CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/slipway-ci/slipway/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
