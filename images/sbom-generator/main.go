// Command sbom-generator is Slipway's BuildKit SBOM generator: the image
// that `attest:sbom=generator=IMAGE` runs for every build. BuildKit mounts
// the built rootfs read-only at $BUILDKIT_SCAN_SOURCE (and the build
// contexts or stages marked for scanning under $BUILDKIT_SCAN_SOURCE_EXTRAS)
// and collects every file written to $BUILDKIT_SCAN_DESTINATION as one
// in-toto statement. The catalogue comes from the syft library, built into
// this binary, so the image needs neither a shell nor a network.
//
// It lives in its own Go module so syft's dependency graph stays out of
// Slipway's.
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
	err := run(ctx, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sbom-generator:", err)
		os.Exit(1)
	}
}
