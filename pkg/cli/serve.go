package cli

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/server"
)

// NewServeCmd is `slipway serve`: flags and config file in, server.New out.
func NewServeCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive webhooks, dispatch PipelineRuns, report commit statuses",
		Args:  cobra.NoArgs,
	}
	cfg := config.Bind(cmd.Flags())
	cmd.Flags().StringVar(&configPath, "config", os.Getenv(config.EnvName("config")), "YAML config file (keys are the flag names)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := config.Resolve(cmd.Flags(), configPath, os.LookupEnv); err != nil {
			return &exitError{code: 2, err: err}
		}
		if err := cfg.Validate(); err != nil {
			return &exitError{code: 2, err: err}
		}
		if err := cfg.LoadLanguages(configPath); err != nil {
			return &exitError{code: 2, err: err}
		}
		log, err := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		ctx := logging.Into(cmd.Context(), log)
		srv, err := server.New(ctx, cfg, server.WithVersion(Version))
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	}
	return cmd
}
