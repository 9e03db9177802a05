package store_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// BenchmarkDispatchCycle drives the store the way `slipway serve` does in a
// dispatch burst, all at once on one store: webhooks record events (64 in
// flight), 32 dispatch workers claim one event each and finish it with its
// run, and a reporter records each run's first and final state. One op is
// one event through all of it. This is where the writes of the three
// components meet on SQLite's single writer.
func BenchmarkDispatchCycle(b *testing.B) {
	for _, e := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", postgresURL}} {
		b.Run(e.name, func(b *testing.B) {
			s := storetest.Open(b, e.url(b))
			var fd dispatchedStore = s
			ctx := context.Background()
			runs := make(chan *run.Run, b.N)
			// ready holds one token per recorded, unclaimed event, so the
			// workers claim only when there is work, as Wake makes them.
			ready := make(chan struct{}, b.N)
			var wg sync.WaitGroup
			var recorded, claimed, reported atomic.Int64
			b.ResetTimer()
			for range 64 {
				wg.Go(func() {
					for i := recorded.Add(1); i <= int64(b.N); i = recorded.Add(1) {
						if _, _, err := s.RecordEvent(ctx, storetest.Event("cycle-"+strconv.FormatInt(i, 10))); err != nil {
							b.Error(err)
							return
						}
						ready <- struct{}{}
					}
				})
			}
			for range 32 {
				wg.Go(func() {
					for claimed.Add(1) <= int64(b.N) {
						<-ready
						evs, err := s.ClaimEvents(ctx, 1, time.Hour)
						if err != nil {
							b.Error(err)
							return
						}
						if len(evs) != 1 {
							b.Errorf("claimed %d events, want 1", len(evs))
							return
						}
						for _, ev := range evs {
							r := &run.Run{ID: fmt.Sprintf("ns/run-%d", ev.ID), EventID: ev.ID, Provider: ev.Provider,
								Kind: ev.Kind, Repo: ev.Repo, App: "app", Ref: ev.Ref, SHA: ev.SHA, State: run.Pending}
							if err := fd.FinishDispatched(ctx, ev.ID, r, "created"); err != nil {
								b.Error(err)
								return
							}
							runs <- r
						}
					}
				})
			}
			for range 4 {
				wg.Go(func() {
					for reported.Add(1) <= int64(b.N) {
						r := <-runs
						// The reporter's view: the run may not be recorded
						// yet (a no-op here), then pending, then failed.
						if err := s.CreateRun(ctx, r); err != nil {
							b.Error(err)
							return
						}
						prev := *r
						for _, st := range []run.State{run.Pending, run.Failed} {
							u := *r
							u.State, u.Reported = st, st
							err := s.UpdateRun(ctx, &u, prev)
							prev = u
							if err != nil {
								b.Error(err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.StopTimer()
			n, err := s.ListEvents(ctx, store.EventFilter{State: event.Dispatched})
			if err != nil || len(n) != b.N {
				b.Fatalf("%d dispatched events (%v), want %d", len(n), err, b.N)
			}
		})
	}
}
