package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

// TestReader is the part of the store the test report routes read.
type TestReader interface {
	GetRun(ctx context.Context, id string) (*run.Run, error)
	GetTestReport(ctx context.Context, runID string) (*testreport.Report, error)
	TestHistory(ctx context.Context, repo, app, suite, name string, limit int) ([]testreport.Outcome, error)
}

// RegisterTests adds GET /api/v1/runs/{ns}/{name}/tests (the run's test
// report, failed tests first) and …/tests/history?suite=&name= (one test
// across the runs of the same repository and app, with flaky detection),
// readable like the run itself.
func RegisterTests(e *echo.Echo, r TestReader, a Access) {
	h := &testsHandler{r: r}
	g, open := group(e), a.open()
	g.GET("/runs/:namespace/:name/tests", h.report, open...)
	g.GET("/runs/:namespace/:name/tests/history", h.history, open...)
}

type testsHandler struct{ r TestReader }

func (h *testsHandler) report(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	rep, err := h.r.GetTestReport(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "run "+id+" has no test report")
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading test report: "+err.Error())
	}
	return c.JSON(http.StatusOK, TestReportView(id, rep))
}

// TestReportView is the wire shape of a run's report, failed tests first.
func TestReportView(runID string, rep *testreport.Report) wire.TestReport {
	cases := append([]testreport.Case(nil), rep.Cases...)
	testreport.SortCases(cases)
	n := rep.Counts()
	out := wire.TestReport{Run: runID, Total: n.Total, Passed: n.Passed, Failed: n.Failed, Skipped: n.Skipped,
		Truncated: rep.Truncated, Cases: make([]wire.TestCase, 0, len(cases))}
	for _, c := range cases {
		out.Cases = append(out.Cases, wire.TestCase{Suite: c.Suite, Name: c.Name, Status: string(c.Status),
			DurationMs: c.Time.Milliseconds(), Output: c.Output})
	}
	return out
}

func (h *testsHandler) history(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	suite, name := c.QueryParam("suite"), c.QueryParam("name")
	if name == "" || len(name) > testreport.MaxName || len(suite) > testreport.MaxName {
		return echo.NewHTTPError(http.StatusBadRequest, "name (and suite) of a test are required, at most 512 bytes each")
	}
	ctx := c.Request().Context()
	r, err := h.r.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no run "+id)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading run: "+err.Error())
	}
	hist, err := h.r.TestHistory(ctx, r.Repo, r.App, suite, name, limit)
	if err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "reading test history: "+err.Error())
	}
	return c.JSON(http.StatusOK, TestHistoryView(r.Repo, r.App, suite, name, hist))
}

// TestHistoryView is the wire shape of one test's history.
func TestHistoryView(repo, app, suite, name string, hist []testreport.Outcome) wire.TestHistory {
	flaky := testreport.FlakySHAs(hist)
	out := wire.TestHistory{Repo: repo, App: app, Suite: suite, Name: name, Flaky: len(flaky) > 0,
		FlakySHAs: append([]string{}, flaky...), Results: make([]wire.TestOutcome, 0, len(hist))}
	for _, o := range hist {
		out.Results = append(out.Results, wire.TestOutcome{Run: o.RunID, SHA: o.SHA, Status: string(o.Status), At: o.At})
	}
	return out
}
