// Command pushbench measures, on the running local stack, what a developer
// waits for after a push — webhook → pending → PipelineRun → first pod →
// clone → unit-test step → image pushed → success — and writes the
// per-phase table to bench/RESULTS.md. See bench/README.md.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}
