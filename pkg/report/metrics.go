package report

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// metrics are nil-safe so a Reporter without a registerer skips them.
type metrics struct {
	runs  *prometheus.CounterVec
	posts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, errors.New("registerer must not be nil")
	}
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_runs_total",
			Help: "Pipeline runs that reached a terminal state, by state.",
		}, []string{"state"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_status_posts_total",
			Help: "Commit status posts, by provider and result (ok, retry, error, no_client).",
		}, []string{"provider", "result"}),
	}
	for _, c := range []prometheus.Collector{m.runs, m.posts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering reporter metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) finished(s run.State) {
	if m != nil {
		m.runs.WithLabelValues(string(s)).Inc()
	}
}

func (m *metrics) posted(p event.Provider, result string) {
	if m != nil {
		m.posts.WithLabelValues(string(p), result).Inc()
	}
}
