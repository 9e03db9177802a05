package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/pkg/config"
	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/insights"
	"github.com/slipway-ci/slipway/pkg/store"
)

// insightsService computes the DORA keys of the release configuration's
// apps and environments, and exports them on reg; nil without a release
// configuration (nothing is promoted, there is nothing to measure).
func insightsService(cfg *config.Config, st *store.DB, reg prometheus.Registerer) (*insights.Service, error) {
	if cfg.ReleaseConfig == "" {
		return nil, nil
	}
	rel, err := environment.Load(cfg.ReleaseConfig)
	if err != nil {
		return nil, err
	}
	apps := make([]string, 0, len(rel.Apps))
	for _, a := range rel.Apps {
		apps = append(apps, a.Name)
	}
	envs := make([]string, 0, len(rel.Environments))
	for _, e := range rel.Environments {
		envs = append(envs, e.Name)
	}
	svc := insights.New(st, apps, envs)
	if err := reg.Register(insights.NewCollector(svc, insights.DefaultWindow, 0)); err != nil {
		return nil, fmt.Errorf("insights metrics: %w", err)
	}
	return svc, nil
}
