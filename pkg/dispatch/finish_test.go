package dispatch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// callLog is a Store with FinishDispatched that writes down each call.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *callLog) add(s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
	return nil
}

func (c *callLog) ClaimEvents(context.Context, int, time.Duration) ([]event.Event, error) {
	return nil, nil
}

func (c *callLog) FinishEvent(_ context.Context, id int64, state event.State, reason string) error {
	return c.add(fmt.Sprintf("FinishEvent %d %s %s", id, state, reason))
}

func (c *callLog) RetryEvent(_ context.Context, id int64, _ error, _ time.Time) error {
	return c.add(fmt.Sprintf("RetryEvent %d", id))
}

func (c *callLog) CreateRun(_ context.Context, r *run.Run) error {
	return c.add("CreateRun " + r.ID)
}

func (c *callLog) FinishDispatched(_ context.Context, id int64, r *run.Run, reason string) error {
	return c.add(fmt.Sprintf("FinishDispatched %d %s %s", id, r.ID, reason))
}

func TestPairedStore(t *testing.T) {
	ctx := context.Background()
	run := func(ev int64, id string) *run.Run { return &run.Run{ID: id, EventID: ev} }
	tests := []struct {
		name string
		do   func(s Store)
		want []string
	}{
		{
			name: "dispatched: run and outcome in one write",
			do: func(s Store) {
				_ = s.CreateRun(ctx, run(1, "ns/a"))
				_ = s.FinishEvent(ctx, 1, event.Dispatched, "created")
			},
			want: []string{"FinishDispatched 1 ns/a created"},
		},
		{
			name: "retried after the run was made: run first, then the retry",
			do: func(s Store) {
				_ = s.CreateRun(ctx, run(1, "ns/a"))
				_ = s.RetryEvent(ctx, 1, errors.New("x"), time.Time{})
			},
			want: []string{"CreateRun ns/a", "RetryEvent 1"},
		},
		{
			name: "failed after the run was made: run first, then the outcome",
			do: func(s Store) {
				_ = s.CreateRun(ctx, run(1, "ns/a"))
				_ = s.FinishEvent(ctx, 1, event.Failed, "boom")
			},
			want: []string{"CreateRun ns/a", "FinishEvent 1 failed boom"},
		},
		{
			name: "no run: outcomes as they are",
			do: func(s Store) {
				_ = s.FinishEvent(ctx, 1, event.Dispatched, "cancelled 2 runs")
				_ = s.FinishEvent(ctx, 2, event.Ignored, "skip ci")
				_ = s.RetryEvent(ctx, 3, errors.New("x"), time.Time{})
			},
			want: []string{"FinishEvent 1 dispatched cancelled 2 runs", "FinishEvent 2 ignored skip ci", "RetryEvent 3"},
		},
		{
			name: "runs of different events stay apart",
			do: func(s Store) {
				_ = s.CreateRun(ctx, run(1, "ns/a"))
				_ = s.CreateRun(ctx, run(2, "ns/b"))
				_ = s.FinishEvent(ctx, 2, event.Dispatched, "b")
				_ = s.FinishEvent(ctx, 1, event.Dispatched, "a")
			},
			want: []string{"FinishDispatched 2 ns/b b", "FinishDispatched 1 ns/a a"},
		},
		{
			name: "a second run for one event is written at once",
			do: func(s Store) {
				_ = s.CreateRun(ctx, run(1, "ns/a"))
				_ = s.CreateRun(ctx, run(1, "ns/other"))
				_ = s.FinishEvent(ctx, 1, event.Dispatched, "a")
			},
			want: []string{"CreateRun ns/other", "FinishDispatched 1 ns/a a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &callLog{}
			s := pairRuns(log)
			tt.do(s)
			if d := cmp.Diff(tt.want, log.calls); d != "" {
				t.Errorf("store calls (-want +got):\n%s", d)
			}
		})
	}
}

// TestDispatchOnSQLiteRecordsEveryRun runs many workers' worth of events
// through the real SQLite store, where runs and outcomes are written
// together, and checks each event ends dispatched with its run recorded.
func TestDispatchOnSQLiteRecordsEveryRun(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := New(st, fake.NewSimpleClientset(), map[event.Provider]scm.Client{event.GitHub: newFakeSCM()}, runOpts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 24
	for i := range n {
		ev := push("main", fmt.Sprintf("%040x", i+1), fmt.Sprintf("d%d", i))
		if _, _, err := st.RecordEvent(ctx, &ev); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := st.ClaimEvents(ctx, n, time.Minute)
	if err != nil || len(evs) != n {
		t.Fatalf("ClaimEvents = %d, %v; want %d", len(evs), err, n)
	}
	var wg sync.WaitGroup
	for i := range evs {
		wg.Go(func() { d.Handle(ctx, &evs[i]) })
	}
	wg.Wait()
	done, err := st.ListEvents(ctx, store.EventFilter{State: event.Dispatched})
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != n {
		t.Fatalf("%d events dispatched, want %d", len(done), n)
	}
	runs, err := st.ListRuns(ctx, store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byEvent := map[int64]string{}
	for _, r := range runs {
		byEvent[r.EventID] = r.ID
	}
	for _, ev := range done {
		id, ok := byEvent[ev.ID]
		if !ok {
			t.Errorf("event %d: no run recorded", ev.ID)
			continue
		}
		if want := "created PipelineRun " + id; ev.Reason != want {
			t.Errorf("event %d reason %q, want %q", ev.ID, ev.Reason, want)
		}
	}
}
