package cli

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/server"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
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

// promotionService assembles the promotion service from release-config.
// Without release-config it returns a nil service: no promotions, no
// auto-deploy.
func promotionService(cfg *config.Config, st store.Store, tc versioned.Interface, kc kubernetes.Interface, dyn dynamic.Interface) (*promotion.Service, error) {
	if cfg.ReleaseConfig == "" {
		return nil, nil
	}
	rel, err := environment.Load(cfg.ReleaseConfig)
	if err != nil {
		return nil, err
	}
	ps, ok := st.(promotion.Store)
	if !ok {
		return nil, errors.New("the store cannot record promotions")
	}
	insecure := insecureRegistries(cfg)
	remoteOpts := []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	gate := newGate(cfg, st, remoteOpts)
	svc, err := promotion.New(rel, ps, gate, tc, promotion.Options{
		Namespace:          cfg.Namespace,
		SlipwayImage:       cfg.SlipwayImage,
		ServiceAccount:     cfg.DeployAccount,
		DeployTimeout:      cfg.DeployTimeout,
		Remote:             remoteOpts,
		InsecureRegistries: insecure,
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// newGate is the provenance gate of this instance: it requires the
// builder id the CI PipelineRuns pass to their builds (cfg.Builder()).
func newGate(cfg *config.Config, runs promote.RunLister, remoteOpts []remote.Option) *promote.Gate {
	return &promote.Gate{BuilderID: cfg.Builder(), Runs: promote.StoreRuns{Runs: runs}, Remote: remoteOpts}
}

// AutoDeployer deploys a finished run (*promotion.Service).
type AutoDeployer interface {
	AutoDeploy(ctx context.Context, run store.Run, defaultBranch string) (*store.Promotion, error)
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
func withAutoDeploy(next func(context.Context, store.Run), svc AutoDeployer, events store.EventGetter, log *slog.Logger) func(context.Context, store.Run) {
	if svc == nil {
		return next
	}
	return func(ctx context.Context, run store.Run) {
		next(ctx, run)
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		var defaultBranch string
		if events != nil {
			if ev, err := events.GetEvent(actx, run.EventID); err == nil {
				defaultBranch = ev.DefaultBranch
			} else {
				log.WarnContext(ctx, "auto-deploy: reading the run's event for the default branch", "run", run.ID, "event", run.EventID, "err", err)
			}
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

// pruner deletes old finished PipelineRuns per app (prune-keep).
type pruner struct {
	tc        versioned.Interface
	namespace string
	keep      int // finished PipelineRuns kept per app; 0 keeps all
	// logs and logAge prune the stored step logs of runs older than logAge;
	// 0 keeps them.
	logs   store.RunLogs
	logAge time.Duration
	every  time.Duration
}

var _ server.Component = (*pruner)(nil)

func (p *pruner) Run(ctx context.Context) error {
	if p.keep < 1 && p.logAge <= 0 {
		return nil
	}
	log := logging.From(ctx).With("component", "pruner")
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		if p.keep > 0 {
			if n, err := tekton.Prune(ctx, p.tc, p.namespace, p.keep); err != nil {
				log.Warn("pruning PipelineRuns", "err", err)
			} else if n > 0 {
				log.Info("pruned PipelineRuns", "deleted", n, "keep", p.keep)
			}
		}
		if p.logAge > 0 {
			if n, err := p.logs.PruneStepLogs(ctx, p.logAge); err != nil {
				log.Warn("pruning stored step logs", "err", err)
			} else if n > 0 {
				log.Info("pruned stored step logs", "deleted", n, "older than", p.logAge)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
