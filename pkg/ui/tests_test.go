package ui

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

func withTests(st *store.DB) []Option { return []Option{WithTestReports(st)} }

// section cuts the <section> whose heading id is id out of a page.
func section(t *testing.T, body, id string) string {
	t.Helper()
	start := strings.Index(body, `<section aria-labelledby="`+id+`">`)
	if start < 0 {
		t.Fatalf("no %s section in\n%s", id, body)
	}
	end := strings.Index(body[start:], "</section>")
	return body[start : start+end+len("</section>")]
}

// TestGoldenRunPageTests: failed tests first, open with their output (HTML
// escaped), the flaky one marked, each linked to its history.
func TestGoldenRunPageTests(t *testing.T) {
	e := newEnvWith(t, objects(true), withTests)
	e.recordRun(run.Failed)
	ctx := context.Background()
	// An earlier run of the same commit where TestFlaky passed.
	if err := e.st.CreateRun(ctx, &run.Run{ID: ns + "/web-earlier", EventID: 99, Provider: event.GitHub, Kind: event.Push,
		Repo: "acme/web", App: "web", Ref: "refs/heads/main", SHA: sha, State: run.Succeeded, CreatedAt: t0.Add(-1)}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SaveTestReport(ctx, ns+"/web-earlier", &testreport.Report{Cases: []testreport.Case{
		{Suite: "web", Name: "TestFlaky", Status: testreport.Passed}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SaveTestReport(ctx, ns+"/"+runName, &testreport.Report{Cases: []testreport.Case{
		{Suite: "web", Name: "TestOK", Status: testreport.Passed},
		{Suite: "web", Name: "TestSkip", Status: testreport.Skipped, Output: "not yet"},
		{Suite: "web", Name: "TestFlaky", Status: testreport.Failed, Output: "dial tcp: timeout"},
		{Suite: "web", Name: "TestCart", Status: testreport.Failed, Output: "cart_test.go:9: got <nil>, want 4"},
	}}); err != nil {
		t.Fatal(err)
	}
	code, body, _ := e.get("/runs/" + ns + "/" + runName)
	if code != http.StatusOK {
		t.Fatalf("GET run page: %d\n%s", code, body)
	}
	got := section(t, body, "tests-title")
	p := filepath.Join("testdata", "run-tests.golden.html")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run make update-golden)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("tests section (-want +got):\n%s", diff)
	}
	if strings.Index(body, `id="tests-title"`) > strings.Index(body, `id="timeline-title"`) {
		t.Error("the tests come after the task logs; they should come first")
	}

	// The history link leads to the test's history, flaky mark included.
	code, body, _ = e.get("/runs/" + ns + "/" + runName + "/tests/history?suite=web&name=TestFlaky")
	if code != http.StatusOK {
		t.Fatalf("GET history: %d\n%s", code, body)
	}
	for _, s := range []string{`id="flaky"`, `<a href="/runs/` + ns + `/web-earlier">`, `<tr data-status="failed">`, `<tr data-status="passed">`} {
		if !strings.Contains(body, s) {
			t.Errorf("history page lacks %q", s)
		}
	}
	if code, _, _ := e.get("/runs/" + ns + "/" + runName + "/tests/history?suite=web"); code != http.StatusBadRequest {
		t.Errorf("history without a name: %d, want 400", code)
	}
}

func TestRunPageTestsAbsent(t *testing.T) {
	tests := []struct {
		name     string
		done     bool
		opts     func(*store.DB) []Option
		wantNone bool // the "No test report" line
		wantSec  bool // a tests section at all
	}{
		{"finished without a report", true, withTests, true, true},
		{"running, no report yet", false, withTests, false, false},
		{"reports not shown", true, func(*store.DB) []Option { return nil }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, objects(tt.done), tt.opts)
			e.recordRun(map[bool]run.State{true: run.Succeeded, false: run.Running}[tt.done])
			_, body, _ := e.get("/runs/" + ns + "/" + runName)
			if got := strings.Contains(body, `id="tests-title"`); got != tt.wantSec {
				t.Errorf("tests section shown: %v, want %v", got, tt.wantSec)
			}
			if got := strings.Contains(body, `id="tests-none"`); got != tt.wantNone {
				t.Errorf("no-report note shown: %v, want %v", got, tt.wantNone)
			}
		})
	}
}
