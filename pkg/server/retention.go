package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/store"
)

// rowPruner deletes old rows by table and expired sessions (*store.DB).
type rowPruner interface {
	Prune(ctx context.Context, table store.Table, olderThan time.Duration, batch int) (int64, error)
	PruneSessions(ctx context.Context) (int64, error)
}

// retentionBatch rows go per statement, so pruning never holds the
// writer (SQLite's only one) long enough to delay a webhook's commit.
const retentionBatch = 500

// retention prunes events, runs, notifications and audit rows by age
// (what is not finished stays) and expired sessions, every 10 minutes;
// slipway_pruned_rows_total{table} counts what went.
type retention struct {
	st     rowPruner
	ages   map[store.Table]time.Duration // 0: keep
	pruned *prometheus.CounterVec
	clock  clock.WithTicker
	every  time.Duration
}

var _ Component = (*retention)(nil)

func newRetention(st rowPruner, ages map[store.Table]time.Duration, reg prometheus.Registerer) (*retention, error) {
	r := &retention{st: st, ages: ages, clock: clock.RealClock{}, every: 10 * time.Minute,
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_pruned_rows_total",
			Help: "Rows deleted by retention (retention-* settings), by table.",
		}, []string{"table"})}
	if reg != nil {
		if err := reg.Register(r.pruned); err != nil {
			return nil, fmt.Errorf("retention metrics: %w", err)
		}
	}
	return r, nil
}

func (r *retention) Run(ctx context.Context) error {
	tick := r.clock.NewTicker(r.every)
	defer tick.Stop()
	for {
		r.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C():
		}
	}
}

// once prunes every table once; errors are logged and retried next time.
func (r *retention) once(ctx context.Context) {
	log := logging.From(ctx).With("component", "retention")
	for _, t := range store.Tables {
		age := r.ages[t]
		if age <= 0 {
			continue
		}
		n, err := r.st.Prune(ctx, t, age, retentionBatch)
		r.pruned.WithLabelValues(string(t)).Add(float64(n))
		if err != nil {
			log.Warn("pruning", "table", t, "err", err)
		} else if n > 0 {
			log.Info("pruned", "table", t, "deleted", n, "older than", age)
		}
	}
	n, err := r.st.PruneSessions(ctx)
	r.pruned.WithLabelValues("sessions").Add(float64(n))
	if err != nil {
		log.Warn("pruning", "table", "sessions", "err", err)
	}
}
