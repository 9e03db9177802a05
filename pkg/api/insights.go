package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/insights"
)

// InsightsReader computes the DORA keys (*insights.Service).
type InsightsReader interface {
	Compute(ctx context.Context, q insights.Query) ([]insights.Keys, error)
}

// RegisterInsights adds GET /api/v1/insights?window=&app=&env= to e: the
// four DORA keys of each configured app and environment (or of the one
// named) over window (30d by default; whole days or a duration, 1h to
// 90d). Readable as runs are (see Access): the figures name no one. An
// unknown app or environment, a bad window or an unknown parameter is a
// 400 that says which.
func RegisterInsights(e *echo.Echo, r InsightsReader, a Access) {
	group(e).GET("/insights", func(c echo.Context) error {
		for k := range c.QueryParams() {
			switch k {
			case "window", "app", "env":
			default:
				if len(k) > 32 {
					k = k[:32] + "…"
				}
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("unknown parameter %q: want window, app or env", k))
			}
		}
		q := insights.Query{App: c.QueryParam("app"), Env: c.QueryParam("env")}
		if err := capped("app", q.App, "env", q.Env); err != nil {
			return err
		}
		w := c.QueryParam("window")
		if len(w) > 16 {
			return echo.NewHTTPError(http.StatusBadRequest, "window is longer than 16 bytes: want whole days such as 30d, or a duration such as 72h")
		}
		var err error
		if q.Window, err = insights.ParseWindow(w); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		keys, err := r.Compute(c.Request().Context(), q)
		if errors.Is(err, insights.ErrInvalid) {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		if err != nil {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "computing insights: "+err.Error())
		}
		return c.JSON(http.StatusOK, insightsView(q.Window, keys))
	}, a.open()...)
}

func insightsView(window time.Duration, keys []insights.Keys) wire.Insights {
	out := wire.Insights{Window: insights.FormatWindow(window), Items: make([]wire.InsightsKeys, 0, len(keys))}
	for _, k := range keys {
		out.From, out.To = k.From, k.To
		out.Items = append(out.Items, wire.InsightsKeys{
			App: k.App, Env: k.Env, Deployments: k.Deployments, DeploymentsPerDay: k.PerDay, Daily: k.Daily,
			LeadTimeSeconds: seconds(k.LeadTime, len(k.LeadTimes)), LeadTimeSamples: len(k.LeadTimes),
			Changes: k.Changes, Failures: k.Failures, ChangeFailureRate: k.ChangeFailureRate,
			TimeToRestoreSeconds: seconds(k.TimeToRestore, len(k.Restores)), Restores: len(k.Restores), Unrestored: k.Unrestored,
		})
	}
	return out
}

// seconds is d in seconds, nil without samples: "no figure" is not 0.
func seconds(d time.Duration, samples int) *float64 {
	if samples == 0 {
		return nil
	}
	s := d.Seconds()
	return &s
}
