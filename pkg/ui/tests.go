package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

// TestReports reads runs' test reports and a test's history (*store.DB).
type TestReports interface {
	GetTestReport(ctx context.Context, runID string) (*testreport.Report, error)
	TestHistory(ctx context.Context, repo, app, suite, name string, limit int) ([]testreport.Outcome, error)
}

// WithTestReports shows each run's test results on its page, failed tests
// first with their output and a flaky mark, and serves a test's history at
// /runs/{ns}/{name}/tests/history. Default: neither.
func WithTestReports(r TestReports) Option {
	return func(u *UI) error { u.tests = r; return nil }
}

// flakyChecks bounds the history lookups one run page makes: one per
// failed test, for the first ones.
const flakyChecks = 20

// historyDepth is how many past results the flaky check and the history
// page read.
const historyDepth = 50

// TestsView is a run's test report as its page shows it.
type TestsView struct {
	Counts    testreport.Counts
	Truncated bool
	Cases     []TestCaseView
	// None: the run has no report (no tests ran, no toolchain report).
	None bool
	Err  string
}

// TestCaseView is one test with its flaky mark and history link.
type TestCaseView struct {
	testreport.Case
	Flaky   bool
	History string
}

func (u *UI) testsView(ctx context.Context, r *run.Run, ns, name string) *TestsView {
	rep, err := u.tests.GetTestReport(ctx, r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return &TestsView{None: true}
	}
	if err != nil {
		return &TestsView{Err: "The test report cannot be read right now: " + err.Error()}
	}
	cases := append([]testreport.Case(nil), rep.Cases...)
	testreport.SortCases(cases)
	v := &TestsView{Counts: rep.Counts(), Truncated: rep.Truncated, Cases: make([]TestCaseView, 0, len(cases))}
	checks := 0
	for _, c := range cases {
		cv := TestCaseView{Case: c, History: historyURL(ns, name, c)}
		if c.Status == testreport.Failed && checks < flakyChecks {
			checks++
			// A failed lookup only loses the mark, not the page.
			if h, err := u.tests.TestHistory(ctx, r.Repo, r.App, c.Suite, c.Name, historyDepth); err == nil {
				cv.Flaky = len(testreport.FlakySHAs(h)) > 0
			}
		}
		v.Cases = append(v.Cases, cv)
	}
	return v
}

func historyURL(ns, name string, c testreport.Case) string {
	q := url.Values{"suite": {c.Suite}, "name": {c.Name}}
	return "/runs/" + url.PathEscape(ns) + "/" + url.PathEscape(name) + "/tests/history?" + q.Encode()
}

// historyData is the test history page.
type historyData struct {
	Namespace, Name string
	Run             *run.Run
	Suite, Test     string
	Flaky           []string
	Results         []testreport.Outcome
	Err             string
}

func (u *UI) testHistoryPage(c echo.Context) error {
	ctx := c.Request().Context()
	ns, name := c.Param("namespace"), c.Param("name")
	suite, test := c.QueryParam("suite"), c.QueryParam("name")
	if test == "" || len(test) > testreport.MaxName || len(suite) > testreport.MaxName {
		return u.errorPage(c, http.StatusBadRequest, "Name the test: ?suite=…&name=… (at most 512 bytes each).")
	}
	r, err := u.st.GetRun(ctx, ns+"/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return u.errorPage(c, http.StatusNotFound, "There is no run "+ns+"/"+name+".")
	}
	if err != nil {
		return u.errorPage(c, http.StatusServiceUnavailable, err.Error())
	}
	d := historyData{Namespace: ns, Name: name, Run: r, Suite: suite, Test: test}
	d.Results, err = u.tests.TestHistory(ctx, r.Repo, r.App, suite, test, historyDepth)
	if err != nil {
		d.Err = "The history cannot be read right now: " + err.Error()
	}
	d.Flaky = testreport.FlakySHAs(d.Results)
	return u.render(c, http.StatusOK, "testhistory", test+" · "+r.App+" "+event.ShortSHA(r.SHA), "runs", d)
}
