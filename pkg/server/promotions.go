package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// apiTokens loads --api-tokens-file once for the API and the UI; nil
// (every write refused) when it is not set.
func apiTokens(cfg *config.Config) (*auth.Tokens, error) {
	if cfg.APITokensFile == "" {
		return nil, nil
	}
	return auth.Load(cfg.APITokensFile)
}

// insecureRegistries are the registries reached over plain HTTP: the
// configured ones plus the image registry when it is marked insecure.
func insecureRegistries(cfg *config.Config) []string {
	insecure := append([]string(nil), cfg.InsecureRegistries...)
	if cfg.RegistryInsecure {
		if repo, err := name.NewRepository(cfg.ImageRegistry); err == nil {
			insecure = append(insecure, repo.RegistryStr())
		}
	}
	return insecure
}

// promotionService assembles the promotion service from release-config:
// its deploy runs go to the deploy namespace, followed through informers
// (the deploy namespace's factory). Without release-config it returns a
// nil service: no promotions, no auto-deploy.
func promotionService(cfg *config.Config, st *store.DB, tc versioned.Interface, kc kubernetes.Interface, pol *policy.File, informers promotion.Informers) (*promotion.Service, error) {
	if cfg.ReleaseConfig == "" {
		return nil, nil
	}
	rel, err := environment.Load(cfg.ReleaseConfig)
	if err != nil {
		return nil, err
	}
	insecure := insecureRegistries(cfg)
	remoteOpts := registryAuth()
	gate := newGate(cfg, st, remoteOpts)
	keys, err := verifyKeys(cfg)
	if err != nil {
		return nil, err
	}
	gate.Signatures = gateSignatures(keys, st)
	var polGate promotion.PolicyGate
	if cfg.AdvisoriesConfigMap != "" {
		polGate = &promote.PolicyGate{Policy: pol, Feed: configMapFeed{kc, cfg.Namespace, cfg.AdvisoriesConfigMap}, Remote: remoteOpts}
	}
	notes, err := promotionNotifier(cfg)
	if err != nil {
		return nil, err
	}
	var notifier promotion.Notifier
	if notes != nil {
		notifier = notes // a nil *Promotions must not become a non-nil interface
	}
	svc, err := promotion.New(rel, st, st, gate, tc, promotion.Options{
		Policy:             polGate,
		Namespace:          cfg.DeployNamespace,
		SlipwayImage:       cfg.SlipwayImage,
		ServiceAccount:     cfg.DeployAccount,
		DeployTimeout:      cfg.DeployTimeout,
		Remote:             remoteOpts,
		InsecureRegistries: insecure,
		Informers:          informers,
		Once:               st,
		GitCredentials:     cfg.GitCredentials,
		Notifier:           notifier,
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// registryAuth is how the server authenticates to registries: the
// keychain (a mounted docker config) for the gate, copies and signing.
func registryAuth() []remote.Option {
	return []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// newGate is the provenance gate of this instance: it requires the
// builder id the CI PipelineRuns pass to their builds (cfg.Builder()).
func newGate(cfg *config.Config, runs promote.RunLister, remoteOpts []remote.Option) *promote.Gate {
	return &promote.Gate{BuilderID: cfg.Builder(), Runs: promote.StoreRuns{Runs: runs}, Remote: remoteOpts}
}

// eventGetter reads the event that started a run (*store.DB).
type eventGetter interface {
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

// AutoDeployer deploys a finished run (*promotion.Service).
type AutoDeployer interface {
	AutoDeploy(ctx context.Context, run run.Run, defaultBranch string) (*release.Promotion, error)
}

var _ AutoDeployer = (*promotion.Service)(nil)

// autoDeployer is svc, or nil (no auto-deploy) when there is none; a nil
// *promotion.Service in the interface would not compare equal to nil.
func autoDeployer(svc *promotion.Service) AutoDeployer {
	if svc == nil {
		return nil
	}
	return svc
}

// withAutoDeploy adds the automatic deploy to the first environment to
// the reporter's hook for finished runs. The repository's default branch
// comes from the run's event (its webhook payload); an event that cannot
// be read leaves it unknown.
func withAutoDeploy(next func(context.Context, run.Run), svc AutoDeployer, events eventGetter, log *slog.Logger) func(context.Context, run.Run) {
	if svc == nil {
		return next
	}
	return func(ctx context.Context, run run.Run) {
		next(ctx, run)
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var defaultBranch string
		if ev, err := events.GetEvent(actx, run.EventID); err == nil {
			defaultBranch = ev.DefaultBranch
		} else {
			log.WarnContext(ctx, "auto-deploy: reading the run's event for the default branch", "run", run.ID, "event", run.EventID, "err", err)
		}
		p, err := svc.AutoDeploy(actx, run, defaultBranch)
		switch {
		case err != nil:
			log.ErrorContext(ctx, "auto-deploy", "run", run.ID, "err", err)
		case p != nil:
			log.InfoContext(ctx, "auto-deploy", "run", run.ID, "promotion", p.ID, "app", p.App, "to", p.To, "state", p.State, "reason", p.Reason)
		}
	}
}
