package webhook

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// AuthDeniedHelp is the help of slipway_auth_denied_total{reason}. Another
// part of the server (the API) may register the same family on the same
// registry: with this help and the one label, the handler shares it.
const AuthDeniedHelp = "Requests refused for failed authentication or authorisation, by reason; nothing about them is stored."

type metrics struct {
	events     *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	authDenied *prometheus.CounterVec
	inflight   prometheus.Gauge
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
		authDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_auth_denied_total",
			Help: AuthDeniedHelp,
		}, []string{"reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slipway_webhook_inflight_bytes",
			Help: "Webhook body bytes held now, across requests (capped by webhook-max-inflight-bytes).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.events, m.duration, m.inflight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering webhook metrics: %w", err)
		}
	}
	// The API counts its own denials in the same family; share it.
	if err := reg.Register(m.authDenied); err != nil {
		var are prometheus.AlreadyRegisteredError
		existing, ok := (*prometheus.CounterVec)(nil), false
		if errors.As(err, &are) {
			existing, ok = are.ExistingCollector.(*prometheus.CounterVec)
		}
		if !ok {
			return nil, fmt.Errorf("registering webhook metrics: %w", err)
		}
		m.authDenied = existing
	}
	return m, nil
}
