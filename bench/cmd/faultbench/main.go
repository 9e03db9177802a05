// Command faultbench is the fault run of issue 16 on the local stack:
// signed GitHub and GitLab webhooks against Slipway's HA deployment on
// PostgreSQL while the leader is SIGKILLed twice, the kube-apiserver is
// stopped for 30 s and PostgreSQL is restarted; it counts runs, final
// statuses and notifications, times each recovery and writes the Fault
// run section of bench/RESULTS.md. See bench/README.md.
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
		fmt.Fprintln(os.Stderr, "faultbench:", err)
		os.Exit(1)
	}
}
