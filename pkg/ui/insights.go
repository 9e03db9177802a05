package ui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/insights"
)

// Insights computes the DORA keys of the configured apps and
// environments (*insights.Service).
type Insights interface {
	Compute(ctx context.Context, q insights.Query) ([]insights.Keys, error)
	Apps() []string
	Envs() []string
}

// WithInsights adds the /insights page (linked from the navigation): the
// DORA keys of each app and environment with their charts. Default: none.
func WithInsights(i Insights) Option { return func(u *UI) error { u.insights = i; return nil } }

// insightsWindows are the windows the page offers; any other that
// insights.ParseWindow reads works in the URL too.
var insightsWindows = []string{"7d", "30d", "90d"}

type insightsData struct {
	Window, AppQ, EnvQ string
	Windows            []string
	Apps, Envs         []string
	Err                string
	From, To           time.Time
	Rows               []InsightsRow
}

// InsightsRow is one app in one environment: its four keys, for humans,
// and their charts.
type InsightsRow struct {
	insights.Keys
	LeadTimeText, RestoreText, FailureRateText, PerDayText string
	DailyChart, LeadChart, RestoreChart                    template.HTML
}

// insightsPage shows the keys over ?window= (30d by default) for every
// app and environment, or the ?app= and ?env= chosen. A bad parameter is
// a 400 page that says which.
func (u *UI) insightsPage(c echo.Context) error {
	d := insightsData{Window: c.QueryParam("window"), AppQ: c.QueryParam("app"), EnvQ: c.QueryParam("env"),
		Windows: insightsWindows, Apps: u.insights.Apps(), Envs: u.insights.Envs()}
	if d.Window == "" {
		d.Window = insights.FormatWindow(insights.DefaultWindow)
	}
	w, err := insights.ParseWindow(d.Window)
	if err == nil && !slices.Contains(d.Windows, d.Window) {
		d.Windows = append(slices.Clone(d.Windows), d.Window)
	}
	if err != nil {
		d.Err = err.Error()
		return u.render(c, http.StatusBadRequest, "insights", "Insights", "insights", d)
	}
	keys, err := u.insights.Compute(c.Request().Context(), insights.Query{App: d.AppQ, Env: d.EnvQ, Window: w})
	if errors.Is(err, insights.ErrInvalid) {
		d.Err = err.Error()
		return u.render(c, http.StatusBadRequest, "insights", "Insights", "insights", d)
	}
	if err != nil {
		d.Err = "Cannot compute the figures: " + err.Error()
		return u.render(c, http.StatusServiceUnavailable, "insights", "Insights", "insights", d)
	}
	for _, k := range keys {
		d.From, d.To = k.From, k.To
		d.Rows = append(d.Rows, insightsRow(k))
	}
	return u.render(c, http.StatusOK, "insights", "Insights", "insights", d)
}

func insightsRow(k insights.Keys) InsightsRow {
	r := InsightsRow{Keys: k, LeadTimeText: "—", RestoreText: "—", FailureRateText: "—",
		PerDayText: strconv.FormatFloat(k.PerDay, 'f', 2, 64)}
	if len(k.LeadTimes) > 0 {
		r.LeadTimeText = humanDuration(k.LeadTime)
	}
	if len(k.Restores) > 0 {
		r.RestoreText = humanDuration(k.TimeToRestore)
	}
	if k.Changes > 0 {
		r.FailureRateText = strconv.FormatFloat(100*k.ChangeFailureRate, 'f', 0, 64) + " %"
	}
	where := k.App + " in " + k.Env
	daily := make([]Bar, len(k.Daily))
	for i, n := range k.Daily {
		daily[i] = Bar{Label: k.From.Add(time.Duration(i) * 24 * time.Hour).UTC().Format("Jan 2"), Value: float64(n)}
	}
	r.DailyChart = barChart("Deployments per day, "+where, "", true, daily)
	r.LeadChart = barChart("Lead time per deployment, "+where, " h", false, samples(k.LeadTimes))
	r.RestoreChart = barChart("Time to restore per failure, "+where, " h", false, samples(k.Restores))
	return r
}

// samples are bars of hours labelled by commit, else by date.
func samples(ss []insights.Sample) []Bar {
	bars := make([]Bar, len(ss))
	for i, s := range ss {
		label := s.At.UTC().Format("Jan 2")
		if s.Commit != "" {
			label = event.ShortSHA(s.Commit)
		}
		bars[i] = Bar{Label: label, Value: s.Duration.Hours()}
	}
	return bars
}

// humanDuration reads "45s", "12m 05s", "3h 20m" or "2d 4h".
func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	var t0 time.Time
	t0 = t0.Add(time.Hour) // duration() treats the zero time as "not started"
	return duration(t0, t0.Add(d), t0)
}
