// Command dispatchbench measures webhook → PipelineRun through a real
// `slipway serve` against the client-go floor on the local kube-apiserver,
// on SQLite and PostgreSQL, and writes the results to bench/RESULTS.md.
// See bench/README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dispatchbench:", err)
		os.Exit(1)
	}
}
