package insights

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// fakeSource answers promotions per environment, no audit, and the one
// commit c1 (run r1 of event 1).
type fakeSource struct {
	promotions map[string][]release.Promotion
	committed  time.Time
	err        error
	lists      int
}

func (f *fakeSource) ListPromotions(_ context.Context, fl store.PromotionFilter) ([]release.Promotion, error) {
	f.lists++
	return f.promotions[fl.To], f.err
}

func (f *fakeSource) ListAudit(context.Context, store.AuditFilter) ([]release.AuditEntry, error) {
	return nil, nil
}

func (f *fakeSource) ListRuns(_ context.Context, fl store.RunFilter) ([]run.Run, error) {
	if fl.SHA == "c1" {
		return []run.Run{{ID: "ci/r1", EventID: 1, SHA: "c1"}}, nil
	}
	return nil, nil
}

func (f *fakeSource) GetEvent(_ context.Context, id int64) (*event.Event, error) {
	if id == 1 {
		return &event.Event{ID: 1, SHA: "c1", CommitTime: f.committed}, nil
	}
	return nil, store.ErrNotFound
}

func TestCollector(t *testing.T) {
	now := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(now)
	src := &fakeSource{committed: now.Add(-50 * time.Hour), promotions: map[string][]release.Promotion{
		// prod: c1 rolled out 48h ago (lead 2h), then a rolled-back rollout
		// created 11h ago, ended 10h ago (down 1h): CFR 1/2.
		"prod": {
			{ID: 2, Kind: release.KindPromote, State: release.PromotionFailed, PipelineRuns: []string{"x"},
				CreatedAt: now.Add(-11 * time.Hour), FinishedAt: now.Add(-10 * time.Hour)},
			{ID: 1, Kind: release.KindPromote, State: release.PromotionSucceeded, Commit: "c1", PipelineRuns: []string{"x"},
				CreatedAt: now.Add(-49 * time.Hour), FinishedAt: now.Add(-48 * time.Hour)},
		},
	}}
	c := NewCollector(New(src, []string{"hello"}, []string{"qa", "prod"}, WithClock(clk)), 30*24*time.Hour, time.Minute)
	// qa has no lead time and no restore: those gauges are absent, not 0.
	want := `
# HELP slipway_dora_change_failure_ratio Changes rolled back, aborted or followed by a rollback, over changes that reached the clusters in the window (DORA change failure rate).
# TYPE slipway_dora_change_failure_ratio gauge
slipway_dora_change_failure_ratio{app="hello",env="prod"} 0.5
slipway_dora_change_failure_ratio{app="hello",env="qa"} 0
# HELP slipway_dora_deployments Changes rolled out successfully in the window.
# TYPE slipway_dora_deployments gauge
slipway_dora_deployments{app="hello",env="prod"} 1
slipway_dora_deployments{app="hello",env="qa"} 0
# HELP slipway_dora_deployments_per_day Changes rolled out successfully per day over the window (DORA deployment frequency).
# TYPE slipway_dora_deployments_per_day gauge
slipway_dora_deployments_per_day{app="hello",env="prod"} 0.03333333333333333
slipway_dora_deployments_per_day{app="hello",env="qa"} 0
# HELP slipway_dora_errors_total Refreshes of the DORA gauges that failed to read the store.
# TYPE slipway_dora_errors_total counter
slipway_dora_errors_total 0
# HELP slipway_dora_lead_time_seconds Median time from commit to rollout finished over the window (DORA lead time for changes); absent without a sample.
# TYPE slipway_dora_lead_time_seconds gauge
slipway_dora_lead_time_seconds{app="hello",env="prod"} 7200
# HELP slipway_dora_time_to_restore_seconds Median time a failed change left the environment degraded over the window (DORA time to restore); absent without a sample.
# TYPE slipway_dora_time_to_restore_seconds gauge
slipway_dora_time_to_restore_seconds{app="hello",env="prod"} 3600
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if src.lists != 2 {
		t.Fatalf("first scrape listed promotions %d times, want 2 (qa, prod)", src.lists)
	}

	// Within the refresh interval a scrape reads nothing; a failed refresh
	// keeps the last figures and counts the error.
	src.err = errors.New("database is locked")
	_ = testutil.CollectAndCount(c)
	if src.lists != 2 {
		t.Fatalf("a scrape within the refresh interval listed promotions again (%d)", src.lists)
	}
	clk.Step(time.Minute)
	if n := testutil.CollectAndCount(c, "slipway_dora_deployments"); n != 2 {
		t.Errorf("after a failed refresh %d deployment gauges, want the last 2", n)
	}
	if got := testutil.ToFloat64(errorsOnly{c}); got != 1 {
		t.Errorf("slipway_dora_errors_total = %v, want 1", got)
	}
}

// errorsOnly collects the error counter of c alone.
type errorsOnly struct{ c *Collector }

func (e errorsOnly) Describe(ch chan<- *prometheus.Desc) { ch <- descErrors }
func (e errorsOnly) Collect(ch chan<- prometheus.Metric) {
	_, errs := e.c.current()
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, errs)
}
