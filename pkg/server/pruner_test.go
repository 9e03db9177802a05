package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/store"
)

// TestPrunerLogs: with log retention set the pruner deletes old runs'
// stored logs, even when PipelineRuns are kept (prune-keep 0).
func TestPrunerLogs(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	logs := st
	if err := logs.SaveStepLog(ctx, &store.StepLog{RunID: "ci/old", Task: "clone", Step: "clone", Log: "x"}); err != nil {
		t.Fatal(err)
	}
	clock.SetTime(clock.Now().Add(31 * 24 * time.Hour))

	p := &pruner{logs: logs, logAge: 30 * 24 * time.Hour, every: 10 * time.Millisecond}
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := logs.ListStepLogs(ctx, "ci/old")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pruner kept a 31-day-old log with a 30-day retention")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
