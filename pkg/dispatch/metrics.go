package dispatch

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	dispatchLatency prometheus.Histogram
	events          *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	m := &metrics{
		dispatchLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slipway_dispatch_latency_seconds",
			Help:    "Time from webhook receipt to PipelineRun creation.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_dispatch_events_total",
			Help: "Events handled by the dispatcher, by result (dispatched, ignored, failed, retried).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.dispatchLatency, m.events} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("dispatch: registering metrics: %w", err)
		}
	}
	return m, nil
}

// The methods accept a nil receiver: metrics are optional.

func (m *metrics) latency(d time.Duration) {
	if m != nil && d >= 0 {
		m.dispatchLatency.Observe(d.Seconds())
	}
}

func (m *metrics) event(result string) {
	if m != nil {
		m.events.WithLabelValues(result).Inc()
	}
}
