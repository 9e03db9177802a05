package server

import (
	"context"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// stepLogPruner deletes stored step logs past retention (*store.DB).
type stepLogPruner interface {
	PruneStepLogs(ctx context.Context, olderThan time.Duration) (int64, error)
}

// pruner deletes old finished PipelineRuns per app (prune-keep) in each
// of its namespaces: the CI runs' and the deploy runs'.
type pruner struct {
	tc         versioned.Interface
	namespaces []string
	keep       int // finished PipelineRuns kept per app; 0 keeps all
	// logs and logAge prune the stored step logs of runs older than logAge;
	// 0 keeps them.
	logs   stepLogPruner
	logAge time.Duration
	every  time.Duration
}

var _ Component = (*pruner)(nil)

func (p *pruner) Run(ctx context.Context) error {
	if p.keep < 1 && p.logAge <= 0 {
		return nil
	}
	log := logging.From(ctx).With("component", "pruner")
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		for _, ns := range p.namespaces {
			if p.keep < 1 {
				break
			}
			// One namespace failing does not keep the other from its pruning.
			if n, err := tekton.Prune(ctx, p.tc, ns, p.keep); err != nil {
				log.Warn("pruning PipelineRuns", "namespace", ns, "err", err)
			} else if n > 0 {
				log.Info("pruned PipelineRuns", "namespace", ns, "deleted", n, "keep", p.keep)
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
