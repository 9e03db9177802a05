package webhook

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events   *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_webhook_events_total",
			Help: "Webhook deliveries by provider, event kind and result (queued, ignored, duplicate, unauthorized, malformed, unsupported, error).",
		}, []string{"provider", "kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_webhook_request_duration_seconds",
			Help:    "Time to answer a webhook delivery (for a dispatched event, up to --dispatch-wait for its PipelineRun create), by provider and HTTP status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"provider", "code"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering webhook metrics: %w", err)
		}
	}
	return m, nil
}
