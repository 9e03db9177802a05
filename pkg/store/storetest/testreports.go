package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

func testTestReports(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	t0 := clock.Now()
	const sha = "3f786850e387550fdab836ed7e6dc881de23001b"
	runs := []run.Run{
		{ID: "ci/shop-1", EventID: 1, Provider: event.GitHub, Kind: event.Push, Repo: "acme/shop", App: "shop", Ref: "refs/heads/main", SHA: sha, State: run.Failed, CreatedAt: t0},
		{ID: "ci/shop-2", EventID: 2, Provider: event.GitHub, Kind: event.Push, Repo: "acme/shop", App: "shop", Ref: "refs/heads/main", SHA: sha, State: run.Failed, CreatedAt: t0.Add(time.Minute)},
		{ID: "ci/other-1", EventID: 3, Provider: event.GitHub, Kind: event.Push, Repo: "acme/other", App: "other", Ref: "refs/heads/main", SHA: sha, State: run.Failed, CreatedAt: t0},
	}
	for i := range runs {
		if err := s.CreateRun(ctx, &runs[i]); err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
	}
	failing := &testreport.Report{Truncated: true, Cases: []testreport.Case{
		{Suite: "example.com/shop", Name: "TestCart", Status: testreport.Failed, Time: 1500 * time.Millisecond, Output: "cart.go:9: got 3\x00"},
		{Suite: "example.com/shop", Name: "TestCart", Status: testreport.Passed}, // a duplicate name is kept
		{Suite: "example.com/shop", Name: "TestPay", Status: testreport.Skipped},
	}}
	// Saved twice (a resync, another replica): one copy.
	for range 2 {
		if err := s.SaveTestReport(ctx, "ci/shop-1", failing); err != nil {
			t.Fatalf("SaveTestReport: %v", err)
		}
	}
	passing := &testreport.Report{Cases: []testreport.Case{{Suite: "example.com/shop", Name: "TestCart", Status: testreport.Passed}}}
	for _, id := range []string{"ci/shop-2", "ci/other-1"} {
		if err := s.SaveTestReport(ctx, id, passing); err != nil {
			t.Fatalf("SaveTestReport: %v", err)
		}
	}
	if err := s.SaveTestReport(ctx, "ci/shop-2", &testreport.Report{Cases: []testreport.Case{{Name: "x", Status: "exploded"}}}); err == nil {
		t.Error("SaveTestReport took a case with an unknown status")
	}

	got, err := s.GetTestReport(ctx, "ci/shop-1")
	if err != nil {
		t.Fatalf("GetTestReport: %v", err)
	}
	want := *failing
	want.Cases = append([]testreport.Case(nil), failing.Cases...)
	want.Cases[0].Output = "cart.go:9: got 3" // the store keeps no NUL (PostgreSQL text refuses it)
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("GetTestReport (-want +got):\n%s", diff)
	}
	if _, err := s.GetTestReport(ctx, "ci/none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTestReport(no report) err = %v, want ErrNotFound", err)
	}
	empty := &testreport.Report{}
	if err := s.SaveTestReport(ctx, "ci/none", empty); err != nil {
		t.Fatalf("SaveTestReport(empty): %v", err)
	}
	if got, err := s.GetTestReport(ctx, "ci/none"); err != nil || len(got.Cases) != 0 {
		t.Errorf("GetTestReport(empty report) = %v, %v; want a report without cases", got, err)
	}

	hist, err := s.TestHistory(ctx, "acme/shop", "shop", "example.com/shop", "TestCart", 0)
	if err != nil {
		t.Fatalf("TestHistory: %v", err)
	}
	wantHist := []testreport.Outcome{
		{RunID: "ci/shop-2", SHA: sha, Status: testreport.Passed, At: t0.Add(time.Minute)},
		{RunID: "ci/shop-1", SHA: sha, Status: testreport.Failed, At: t0},
		{RunID: "ci/shop-1", SHA: sha, Status: testreport.Passed, At: t0},
	}
	if diff := cmp.Diff(wantHist, hist); diff != "" {
		t.Errorf("TestHistory (-want +got):\n%s", diff)
	}
	if got, _ := s.TestHistory(ctx, "acme/shop", "shop", "example.com/shop", "TestCart", 1); len(got) != 1 {
		t.Errorf("TestHistory(limit 1) = %d results", len(got))
	}

	// Retention deletes a run's results with the run.
	clock.Advance(48 * time.Hour)
	if _, err := s.Prune(ctx, store.TableRuns, time.Hour, 10); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if _, err := s.GetTestReport(ctx, "ci/shop-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetTestReport after the run was pruned: err = %v, want ErrNotFound", err)
	}
	if got, err := s.TestHistory(ctx, "acme/shop", "shop", "example.com/shop", "TestCart", 0); err != nil || len(got) != 0 {
		t.Errorf("TestHistory after pruning = %v, %v; want none", got, err)
	}
}
