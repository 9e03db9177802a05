package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// dispatchedStore is the optional method pkg/dispatch looks for.
type dispatchedStore interface {
	FinishDispatched(ctx context.Context, id int64, run *run.Run, reason string) error
}

func TestFinishDispatchedSQLite(t *testing.T)   { testFinishDispatched(t, sqliteURL) }
func TestFinishDispatchedPostgres(t *testing.T) { testFinishDispatched(t, postgresURL) }

func testFinishDispatched(t *testing.T, fresh func(testing.TB) string) {
	ctx := context.Background()
	open := func(t *testing.T) (*store.DB, dispatchedStore) {
		s := storetest.Open(t, fresh(t))
		return s, s
	}
	claim := func(t *testing.T, s *store.DB, n int) []event.Event {
		t.Helper()
		for i := range n {
			if _, _, err := s.RecordEvent(ctx, storetest.Event(fmt.Sprintf("d-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := s.ClaimEvents(ctx, n, time.Minute)
		if err != nil || len(evs) != n {
			t.Fatalf("ClaimEvents = %d events, %v; want %d", len(evs), err, n)
		}
		return evs
	}
	ciRun := func(ev event.Event) *run.Run {
		return &run.Run{ID: fmt.Sprintf("ns/run-%d", ev.ID), EventID: ev.ID, Provider: ev.Provider, Kind: ev.Kind,
			Repo: ev.Repo, App: "shop", Ref: ev.Ref, SHA: ev.SHA, State: run.Pending,
			CreatedAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	}

	t.Run("records the run and finishes the event, concurrently", func(t *testing.T) {
		s, fd := open(t)
		evs := claim(t, s, 40)
		var wg sync.WaitGroup
		errs := make([]error, len(evs))
		for i, ev := range evs {
			wg.Go(func() { errs[i] = fd.FinishDispatched(ctx, ev.ID, ciRun(ev), "created "+ciRun(ev).ID) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("FinishDispatched(%d): %v", evs[i].ID, err)
			}
		}
		done, err := s.ListEvents(ctx, store.EventFilter{State: event.Dispatched})
		if err != nil {
			t.Fatal(err)
		}
		if len(done) != len(evs) {
			t.Errorf("%d dispatched events, want %d", len(done), len(evs))
		}
		for _, ev := range done {
			if ev.Reason != "created "+ciRun(ev).ID {
				t.Errorf("event %d reason %q", ev.ID, ev.Reason)
			}
			got, err := s.GetRun(ctx, ciRun(ev).ID)
			if err != nil {
				t.Fatalf("GetRun: %v", err)
			}
			want := ciRun(ev)
			if d := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".ProjectID" }, cmp.Ignore())); d != "" {
				t.Errorf("run of event %d (-want +got):\n%s", ev.ID, d)
			}
		}
	})

	t.Run("an existing run is kept", func(t *testing.T) {
		s, fd := open(t)
		ev := claim(t, s, 1)[0]
		first := ciRun(ev)
		first.Message = "recorded by the reporter"
		if err := s.CreateRun(ctx, first); err != nil {
			t.Fatal(err)
		}
		if err := fd.FinishDispatched(ctx, ev.ID, ciRun(ev), "again"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRun(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Message != first.Message {
			t.Errorf("run message = %q, want the first record's %q", got.Message, first.Message)
		}
	})

	t.Run("an unknown event fails alone and records no run", func(t *testing.T) {
		s, fd := open(t)
		ev := claim(t, s, 1)[0]
		ghost := ciRun(ev)
		ghost.ID = "ns/ghost"
		var wg sync.WaitGroup
		var okErr, ghostErr error
		wg.Go(func() { okErr = fd.FinishDispatched(ctx, ev.ID, ciRun(ev), "ok") })
		wg.Go(func() { ghostErr = fd.FinishDispatched(ctx, 999999, ghost, "ghost") })
		wg.Wait()
		if okErr != nil {
			t.Errorf("FinishDispatched(known): %v", okErr)
		}
		if !errors.Is(ghostErr, store.ErrNotFound) {
			t.Errorf("FinishDispatched(unknown) = %v, want ErrNotFound", ghostErr)
		}
		if _, err := s.GetRun(ctx, ghost.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetRun(ghost) = %v, want ErrNotFound", err)
		}
		if _, err := s.GetRun(ctx, ciRun(ev).ID); err != nil {
			t.Errorf("GetRun(known): %v", err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		_, fd := open(t)
		if err := fd.FinishDispatched(ctx, 1, &run.Run{}, "x"); err == nil {
			t.Error("a run without ID: want an error")
		}
	})
}

// claimingStore is the optional method the webhook hands events over with.
type claimingStore interface {
	RecordClaimedEarly(ctx context.Context, ev *event.Event, lease time.Duration) (int64, func() (int64, bool, error), error)
}

// recordClaimed records ev claimed and waits for the commit.
func recordClaimed(ctx context.Context, cs claimingStore, ev *event.Event, lease time.Duration) (int64, bool, error) {
	_, wait, err := cs.RecordClaimedEarly(ctx, ev, lease)
	if err != nil {
		return 0, false, err
	}
	return wait()
}

func TestRecordClaimedSQLite(t *testing.T)   { testRecordClaimed(t, sqliteURL) }
func TestRecordClaimedPostgres(t *testing.T) { testRecordClaimed(t, postgresURL) }

func testRecordClaimed(t *testing.T, fresh func(testing.TB) string) {
	ctx := context.Background()
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	s := storetest.Open(t, fresh(t), store.WithClock(clock))
	var cs claimingStore = s
	ignored := storetest.Event("ignored")
	ignored.Action, ignored.Reason = event.Ignore, "not a branch"
	tests := []struct {
		name    string
		ev      *event.Event
		wantDup bool
	}{
		{"queued", storetest.Event("a"), false},
		{"redelivered", storetest.Event("a"), true},
		{"ignored", ignored, false},
	}
	for _, tt := range tests {
		if _, dup, err := recordClaimed(ctx, cs, tt.ev, time.Minute); err != nil || dup != tt.wantDup {
			t.Fatalf("%s: RecordClaimed = dup %v, %v; want dup %v", tt.name, dup, err, tt.wantDup)
		}
	}
	if _, _, err := recordClaimed(ctx, cs, storetest.Event("b"), 0); err == nil {
		t.Error("RecordClaimed without a lease: want an error")
	}
	// Leased to the recorder: nobody else may claim it yet.
	if evs, err := s.ClaimEvents(ctx, 10, time.Minute); err != nil || len(evs) != 0 {
		t.Fatalf("ClaimEvents during the lease = %d events, %v; want none", len(evs), err)
	}
	clock.SetTime(clock.Now().Add(2 * time.Minute))
	evs, err := s.ClaimEvents(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type claimed struct {
		Delivery string
		Attempts int
	}
	var got []claimed
	for _, ev := range evs {
		got = append(got, claimed{ev.Delivery, ev.Attempts})
	}
	if d := cmp.Diff([]claimed{{"a", 2}}, got); d != "" {
		t.Errorf("claimed after the lease (-want +got):\n%s", d)
	}
}
