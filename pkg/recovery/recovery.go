// Package recovery finds the webhook deliveries Slipway missed (it was
// down, restarting, or refused them for capacity) and gets them in: a git
// host does not retry a failed delivery by itself. GitHub keeps its
// hooks' deliveries, so failed ones the store lacks are redelivered
// through the API and come back through the verified webhook path.
// GitLab keeps none, so the recent heads of configured projects are
// compared with recorded events and the missing ones are enqueued as the
// events their webhooks would have given, with reason "recovered".
//
// The loops run on the leader only (pkg/server): one asker is enough, and
// what was asked is recorded in the store so no pass asks twice.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/retry"
)

// Reason is the queue reason of an event recovery enqueued.
const Reason = "recovered"

// How a delivery was recovered: the metric's "how" label.
const (
	HowRedelivered = "redelivered"
	HowEnqueued    = "enqueued"
)

// Defaults of Options.
const (
	DefaultWindow = 3 * time.Hour
	// DefaultMaxPages bounds the deliveries read per hook and pass.
	DefaultMaxPages = 10
	// DefaultMaxPerPass bounds the redeliveries or events one pass asks.
	DefaultMaxPerPass = 100
)

// Options bound a recovery loop.
type Options struct {
	// Interval between passes; the first pass runs at start. Must be > 0.
	Interval time.Duration
	// Window is how far back a pass looks. Default: DefaultWindow.
	Window time.Duration
	// MaxPages caps the delivery pages read per GitHub hook and pass.
	// Default: DefaultMaxPages.
	MaxPages int
	// MaxPerPass caps what one pass recovers. Default: DefaultMaxPerPass.
	MaxPerPass int
	// Clock. Default: the real clock.
	Clock clock.WithTicker
	// Recovered counts recovered deliveries; nil counts nothing. See
	// NewMetric.
	Recovered *prometheus.CounterVec
}

func (o *Options) complete() error {
	if o.Interval <= 0 {
		return fmt.Errorf("recovery: the interval must be positive, got %s", o.Interval)
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < 0 {
		return fmt.Errorf("recovery: negative window %s", o.Window)
	}
	if o.MaxPages <= 0 {
		o.MaxPages = DefaultMaxPages
	}
	if o.MaxPerPass <= 0 {
		o.MaxPerPass = DefaultMaxPerPass
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	return nil
}

func (o *Options) count(provider, how string) {
	if o.Recovered != nil {
		o.Recovered.WithLabelValues(provider, how).Inc()
	}
}

// NewMetric registers slipway_recovered_deliveries_total{provider,how}
// with reg.
func NewMetric(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_recovered_deliveries_total",
		Help: "Webhook deliveries Slipway missed and recovered, by provider and how (redelivered by the host, enqueued from its API).",
	}, []string{"provider", "how"})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("registering recovery metrics: %w", err)
	}
	return c, nil
}

// errRateLimited ends a pass: the host asked us to wait.
type errRateLimited struct {
	after time.Duration
	err   error
}

func (e *errRateLimited) Error() string {
	return fmt.Sprintf("rate limited (retry after %s): %v", e.after, e.err)
}
func (e *errRateLimited) Unwrap() error { return e.err }

// limited turns a transient host error into the end of the pass: a rate
// limit, a 429 or a 5xx all say "not now", and asking further only
// spends what is left of the quota.
func limited(err error) error {
	if ok, after := retry.IsTransient(err); ok {
		return &errRateLimited{after: after, err: err}
	}
	return err
}

// loop runs pass at once and then every interval, or after the wait a
// rate-limited pass was told when that is longer. A failed pass is
// logged and the loop goes on: the next pass looks again.
func loop(ctx context.Context, o Options, name string, pass func(context.Context) error) error {
	log := logging.From(ctx).With("component", "recovery", "provider", name)
	for {
		wait := o.Interval
		err := pass(ctx)
		var rl *errRateLimited
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return nil
		case errors.As(err, &rl):
			log.Warn("delivery recovery pass stopped: the host asked to wait", "retryAfter", rl.after, "error", rl.err)
			wait = max(wait, rl.after)
		case err != nil:
			log.Error("delivery recovery pass failed", "error", err)
		}
		t := o.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}
