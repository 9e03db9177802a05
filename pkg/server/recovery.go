package server

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/recovery"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/store"
)

// recoveryLoops builds the delivery recovery loops cfg asks for (none
// when recover-interval is 0). They run on the leader: see leaderLoops.
func recoveryLoops(cfg *config.Config, st *store.DB, admit admitter, in recovery.Intake, reg prometheus.Registerer) (map[string]Component, error) {
	out := map[string]Component{}
	if cfg.RecoverInterval <= 0 {
		return out, nil
	}
	metric, err := recovery.NewMetric(reg)
	if err != nil {
		return nil, err
	}
	opts := recovery.Options{Interval: cfg.RecoverInterval, Window: cfg.RecoverWindow, Recovered: metric}
	hooks, err := cfg.RecoverHooks()
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		c, err := github.NewClient(cfg.GitHubToken.Reveal(), cfg.GitHubAPIURL, nil)
		if err != nil {
			return nil, fmt.Errorf("github recovery client: %w", err)
		}
		g, err := recovery.NewGitHub(c, st, hooks, opts)
		if err != nil {
			return nil, err
		}
		out["recovery-github"] = g
	}
	if projects := cfg.RecoverProjects(); len(projects) > 0 {
		c, err := gitlab.NewClient(cfg.GitLabToken.Reveal(), cfg.GitLabAPIURL, nil)
		if err != nil {
			return nil, fmt.Errorf("gitlab recovery client: %w", err)
		}
		g, err := recovery.NewGitLab(c, st, admittedIntake{admit: admit, in: in}, projects, opts)
		if err != nil {
			return nil, err
		}
		out["recovery-gitlab"] = g
	}
	return out, nil
}

// admitter applies the webhook's allowlist and clone URL pinning
// (*webhook.Handler).
type admitter interface {
	Admit(p event.Provider, ev *event.Event)
}

// admittedIntake holds a recovered GitLab event to the rules its webhook
// would have met before handing it to the intake the webhooks use.
type admittedIntake struct {
	admit admitter
	in    recovery.Intake
}

func (a admittedIntake) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	a.admit.Admit(ev.Provider, ev)
	return a.in.Accept(ctx, ev)
}
