package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

// Denials counts refused requests in slipway_auth_denied_total{reason}
// and logs a few of them a second, with the client address, through the
// request's logger: a refusal writes nothing to the store, so a flood of
// them costs neither disk nor log space.
type Denials struct {
	count *prometheus.CounterVec
	lines *rate.Limiter
	clock clock.PassiveClock
}

// NewDenials registers the counter on reg, or shares it with the webhook
// handler that registered it first (same name, help and label). reg nil:
// counted but not exported.
func NewDenials(reg prometheus.Registerer) (*Denials, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_auth_denied_total", Help: webhook.AuthDeniedHelp}, []string{"reason"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			existing, ok := (*prometheus.CounterVec)(nil), false
			if errors.As(err, &are) {
				existing, ok = are.ExistingCollector.(*prometheus.CounterVec)
			}
			if !ok {
				return nil, fmt.Errorf("registering slipway_auth_denied_total: %w", err)
			}
			c = existing
		}
	}
	return &Denials{count: c, lines: rate.NewLimiter(5, 5), clock: clock.RealClock{}}, nil
}

// Record counts one refusal for reason and logs it unless the log's
// budget (5 lines a second) is spent. Only what the server knows is
// logged: the method, the route (not the path, which the caller chose),
// the reason and the client address.
func (d *Denials) Record(c echo.Context, reason string) {
	d.count.WithLabelValues(reason).Inc()
	if d.lines.AllowN(d.clock.Now(), 1) {
		logging.From(c.Request().Context()).Warn("request refused", "method", c.Request().Method, "route", c.Path(),
			"reason", reason, "remote", c.RealIP())
	}
}

// Middleware records every 401 and 403 the routes after it answer.
func (d *Denials) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			var he *echo.HTTPError
			if errors.As(err, &he) && (he.Code == http.StatusUnauthorized || he.Code == http.StatusForbidden) {
				reason := auth.DenialReason(err)
				if reason == "" {
					reason = "forbidden"
				}
				d.Record(c, reason)
			}
			return err
		}
	}
}
