package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/ui"
)

// webUI assembles the web UI and the collector that saves step logs. With
// API tokens configured, signed-in developers may re-run and cancel;
// without, the pages are read-only.
func webUI(ctx context.Context, cfg *config.Config, st store.Store, tc versioned.Interface, kc kubernetes.Interface, tokens *auth.Tokens, wake func(), prs ui.PipelineRunCache) (*ui.UI, *ui.Collector, error) {
	logs, ok := st.(store.RunLogs)
	if !ok {
		return nil, nil, errors.New("the store does not keep run logs")
	}
	insecure := insecureRegistries(cfg)
	// The run pages read from watches Slipway has anyway: the reporter's
	// PipelineRuns and the log collector's TaskRuns.
	logCap, err := cfg.StepLogCapBytes()
	if err != nil {
		return nil, nil, err
	}
	collector := ui.NewCollector(tc, kc, logs, cfg.Namespace, logCap)
	opts := []ui.Option{
		ui.WithLogCap(logCap),
		ui.WithRunCache(prs, collector),
		ui.WithPublicURL(cfg.PublicURL),
		ui.WithSCMAPIURLs(cfg.GitHubAPIURL, cfg.GitLabAPIURL),
		ui.WithRegistryOptions(insecure, remote.WithAuthFromKeychain(authn.DefaultKeychain)),
		ui.WithWake(wake),
		ui.WithShutdown(ctx),
	}
	if n, ok := st.(store.Notifications); ok {
		opts = append(opts, ui.WithNotifications(n))
	}
	if rec, ok := st.(ui.Recorder); ok {
		opts = append(opts, ui.WithRecorder(rec))
	}
	if tokens != nil {
		opts = append(opts, ui.WithAuth(ui.Auth{
			Identify: auth.Middleware(tokens, false),
			Require:  auth.Require(auth.Developer),
			Viewer: func(ctx context.Context) (ui.Viewer, bool) {
				id, ok := auth.FromContext(ctx)
				return ui.Viewer{Name: id.Name, CanAct: id.Role.Allows(auth.Developer)}, ok
			},
		}))
	}
	u, err := ui.New(st, logs, tc, kc, cfg.Namespace, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("web UI: %w", err)
	}
	return u, collector, nil
}
