package server

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/ui"
)

// webUI assembles the web UI and the collector that saves step logs. With
// API tokens configured, signed-in developers may re-run and cancel;
// without, the pages are read-only.
func webUI(ctx context.Context, cfg *config.Config, st *store.DB, tc versioned.Interface, informers externalversions.SharedInformerFactory,
	kc kubernetes.Interface, tokens *auth.Tokens, wake func(), prs ui.PipelineRunCache) (*ui.UI, *steplog.Collector, error) {
	insecure := insecureRegistries(cfg)
	// The run pages read from watches Slipway has anyway: the reporter's
	// PipelineRuns and the log collector's TaskRuns.
	logCap, err := cfg.StepLogCapBytes()
	if err != nil {
		return nil, nil, err
	}
	collector := steplog.NewCollector(informers, kc, st, cfg.Namespace, logCap)
	opts := []ui.Option{
		ui.WithLogCap(logCap),
		ui.WithRunCache(prs, collector),
		ui.WithPublicURL(cfg.PublicURL),
		ui.WithSCMAPIURLs(cfg.GitHubAPIURL, cfg.GitLabAPIURL),
		ui.WithRegistryOptions(insecure, remote.WithAuthFromKeychain(authn.DefaultKeychain)),
		ui.WithWake(wake),
		ui.WithShutdown(ctx),
		ui.WithNotifications(st),
		ui.WithRecorder(st),
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
	u, err := ui.New(st, st, tc, kc, cfg.Namespace, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("web UI: %w", err)
	}
	return u, collector, nil
}
