// Package cli holds slipway's cobra commands. Each command parses its flags
// and calls one package (`serve` calls server.New and Run); the work and
// the server's wiring live in those packages, not here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X …/pkg/cli.Version=…".
var Version = "dev"

// exitError carries a specific exit code (e.g. a failed verification is 1,
// bad usage is 2).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// NewRootCmd builds the command tree.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "slipway",
		Short:         "Slipway: CI/CD for Kubernetes on Tekton",
		Long:          "Slipway turns GitHub and GitLab webhooks into Tekton PipelineRuns that test, build and push images with SLSA provenance, and reports back on the commit.",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		NewServeCmd(),
		NewRenderCmd(),
		NewBuildCmd(),
		NewProvenanceCmd(),
		NewSBOMCmd(),
		NewPolicyCmd(),
		NewVerifyCmd(),
		NewDeployCmd(),
		NewPromoteCmd(),
		NewApproveCmd(),
		NewAbortCmd(),
		NewRollbackCmd(),
		NewPromotionsCmd(),
		NewAppCmd(),
		NewOrphansCmd(),
		NewAuditCmd(),
		NewRunsCmd(),
		NewLogsCmd(),
		NewRerunCmd(),
		NewCancelCmd(),
		NewEventsCmd(),
		NewTestReportCmd(),
		NewCacheCmd(),
	)
	return root
}

// Execute runs the command line and returns the process exit code.
func Execute(ctx context.Context, args []string) int {
	root := NewRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "slipway:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	return 0
}
