package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/store"
)

func testRunLogs(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	t0 := clock.Now()
	clone := &store.StepLog{RunID: "ci/web-1", Task: "clone", Step: "clone", TaskRun: "web-1-clone",
		Log: "Cloning into '.'...\n", Size: 20, StartedAt: t0.Add(-2 * time.Second), FinishedAt: t0.Add(-time.Second)}
	build := &store.StepLog{RunID: "ci/web-1", Task: "build-push", Step: "build", TaskRun: "web-1-build-push", ExitCode: 1,
		Log: "tail <script>\x00\n", Truncated: true, Size: 1 << 20, StartedAt: t0, FinishedAt: t0.Add(time.Minute)}
	other := &store.StepLog{RunID: "ci/web-2", Task: "clone", Step: "clone", Log: ""}
	for _, l := range []*store.StepLog{build, clone, other} {
		if err := s.SaveStepLog(ctx, l); err != nil {
			t.Fatalf("SaveStepLog(%s %s): %v", l.RunID, l.Task, err)
		}
	}
	// Another replica saves the same step again: one row, the last write.
	clock.Advance(time.Second)
	again := *clone
	again.Log = "Cloning into '.'...\ndone.\n"
	if err := s.SaveStepLog(ctx, &again); err != nil {
		t.Fatalf("SaveStepLog again: %v", err)
	}

	wantClone := *clone
	wantClone.Log, wantClone.SavedAt = again.Log, t0.Add(time.Second)
	wantBuild := *build
	wantBuild.Log, wantBuild.SavedAt = "tail <script>\uFFFD\n", t0
	got, err := s.ListStepLogs(ctx, "ci/web-1")
	if err != nil {
		t.Fatalf("ListStepLogs: %v", err)
	}
	if diff := cmp.Diff([]store.StepLog{wantClone, wantBuild}, got); diff != "" {
		t.Errorf("ListStepLogs (-want +got):\n%s", diff)
	}
	one, err := s.GetStepLog(ctx, "ci/web-1", "build-push", "build")
	if err != nil {
		t.Fatalf("GetStepLog: %v", err)
	}
	if diff := cmp.Diff(&wantBuild, one); diff != "" {
		t.Errorf("GetStepLog (-want +got):\n%s", diff)
	}
	if _, err := s.GetStepLog(ctx, "ci/web-1", "clone", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetStepLog(missing) err = %v, want ErrNotFound", err)
	}
	if got, err := s.ListStepLogs(ctx, "ci/none"); err != nil || len(got) != 0 {
		t.Errorf("ListStepLogs(no logs) = %v, %v; want none", got, err)
	}
	for _, bad := range []*store.StepLog{nil, {Task: "t", Step: "s"}, {RunID: "ci/x", Step: "s"}, {RunID: "ci/x", Task: "t"}} {
		if err := s.SaveStepLog(ctx, bad); err == nil {
			t.Errorf("SaveStepLog(%+v): want error", bad)
		}
	}
}

// testPruneRunLogs: a run's logs go all at once, when its last step log is
// older than the retention; younger runs keep all of theirs.
func testPruneRunLogs(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	save := func(run, task string) {
		t.Helper()
		if err := s.SaveStepLog(ctx, &store.StepLog{RunID: run, Task: task, Step: "s", Log: "x\n"}); err != nil {
			t.Fatalf("SaveStepLog: %v", err)
		}
	}
	// day 0: old and straddling begin; day 9: straddling ends, young runs.
	save("ci/old", "clone")
	save("ci/old", "build")
	save("ci/straddling", "clone")
	clock.Advance(9 * 24 * time.Hour)
	save("ci/straddling", "build")
	save("ci/young", "clone")

	clock.Advance(2 * 24 * time.Hour) // old: 11 days, straddling: its last 2 days
	n, err := s.PruneStepLogs(ctx, 10*24*time.Hour)
	if err != nil {
		t.Fatalf("PruneStepLogs: %v", err)
	}
	if n != 2 {
		t.Errorf("PruneStepLogs deleted %d step logs, want 2 (ci/old's)", n)
	}
	for _, tc := range []struct {
		run  string
		want int
	}{{"ci/old", 0}, {"ci/straddling", 2}, {"ci/young", 1}} {
		got, err := s.ListStepLogs(ctx, tc.run)
		if err != nil || len(got) != tc.want {
			t.Errorf("ListStepLogs(%s) = %d logs, %v; want %d", tc.run, len(got), err, tc.want)
		}
	}
	clock.Advance(9 * 24 * time.Hour)
	if n, err := s.PruneStepLogs(ctx, 10*24*time.Hour); err != nil || n != 3 {
		t.Errorf("PruneStepLogs after 20 days = %d, %v; want 3", n, err)
	}
	if _, err := s.PruneStepLogs(ctx, 0); err == nil {
		t.Error("PruneStepLogs(0): want error")
	}
}

func testGetEvent(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	st := Open(t, url, store.WithClock(clock))
	s := st
	ev := Event("get-1")
	id, _ := record(t, st, ev)
	got, err := s.GetEvent(ctx, id)
	if err != nil {
		t.Fatalf("GetEvent: %v", err)
	}
	if diff := cmp.Diff(stored(ev, id, "queued", clock.Now()), *got); diff != "" {
		t.Errorf("GetEvent (-want +got):\n%s", diff)
	}
	if _, err := s.GetEvent(ctx, id+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEvent(missing) err = %v, want ErrNotFound", err)
	}
}
