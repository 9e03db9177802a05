package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

func TestTestRoutes(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	const sha = "3f786850e387550fdab836ed7e6dc881de23001b"
	for i, id := range []string{"web-1", "web-2", "web-3"} {
		r := &run.Run{ID: buildsNS + "/" + id, EventID: int64(i + 1), Provider: event.GitHub, Kind: event.Push, Repo: "acme/web",
			App: "web", Ref: "refs/heads/main", SHA: sha, State: run.Failed, CreatedAt: time.Unix(int64(1000+i), 0)}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	save := func(id string, cases ...testreport.Case) {
		if err := st.SaveTestReport(ctx, buildsNS+"/"+id, &testreport.Report{Cases: cases}); err != nil {
			t.Fatal(err)
		}
	}
	ok := testreport.Case{Suite: "web", Name: "TestOK", Status: testreport.Passed, Time: 2 * time.Second}
	bad := testreport.Case{Suite: "web", Name: "TestFlaky", Status: testreport.Failed, Output: "timeout"}
	save("web-1", ok, bad)
	bad.Status, bad.Output = testreport.Passed, ""
	save("web-2", bad)
	e := echo.New()
	RegisterTests(e, st, Access{})

	tests := []struct {
		name, path string
		wantCode   int
		want       any
		got        func() any
	}{
		{"report, failed first", "/api/v1/runs/" + buildsNS + "/web-1/tests", 200, &wire.TestReport{
			Run: buildsNS + "/web-1", Total: 2, Passed: 1, Failed: 1,
			Cases: []wire.TestCase{
				{Suite: "web", Name: "TestFlaky", Status: "failed", Output: "timeout"},
				{Suite: "web", Name: "TestOK", Status: "passed", DurationMs: 2000},
			}}, func() any { return &wire.TestReport{} }},
		{"no report", "/api/v1/runs/" + buildsNS + "/web-3/tests", 404, nil, nil},
		{"bad run id", "/api/v1/runs/" + buildsNS + "/Web_1/tests", 400, nil, nil},
		{"history with flaky detection", "/api/v1/runs/" + buildsNS + "/web-3/tests/history?suite=web&name=TestFlaky", 200, &wire.TestHistory{
			Repo: "acme/web", App: "web", Suite: "web", Name: "TestFlaky", Flaky: true, FlakySHAs: []string{sha},
			Results: []wire.TestOutcome{
				{Run: buildsNS + "/web-2", SHA: sha, Status: "passed"},
				{Run: buildsNS + "/web-1", SHA: sha, Status: "failed"},
			}}, func() any { return &wire.TestHistory{} }},
		{"history of a steady test", "/api/v1/runs/" + buildsNS + "/web-1/tests/history?suite=web&name=TestOK", 200, &wire.TestHistory{
			Repo: "acme/web", App: "web", Suite: "web", Name: "TestOK", FlakySHAs: []string{},
			Results: []wire.TestOutcome{{Run: buildsNS + "/web-1", SHA: sha, Status: "passed"}}}, func() any { return &wire.TestHistory{} }},
		{"history needs a name", "/api/v1/runs/" + buildsNS + "/web-1/tests/history?suite=web", 400, nil, nil},
		{"history of an unknown run", "/api/v1/runs/" + buildsNS + "/web-9/tests/history?name=x", 404, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.want == nil {
				return
			}
			got := tt.got()
			if err := json.Unmarshal(rec.Body.Bytes(), got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(wire.TestOutcome{}, "At")); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
