package dispatch

import (
	"context"
	"errors"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/slipway-ci/slipway/pkg/event"
)

// memRecorder records into a memStore as the SQL stores do: a redelivery
// (same provider and delivery) gets the first id and writes nothing; an
// early record tells the new id at once, and its commit waits for commit
// (when set) and then fails with commitErr (when set), storing nothing.
type memRecorder struct {
	st        *memStore
	err       error // every record fails at once
	commit    chan struct{}
	commitErr error

	mu         sync.Mutex
	byDelivery map[string]int64
	plain      int
	leases     []time.Duration // of the events recorded claimed
}

var _ Recorder = (*memRecorder)(nil)

func newMemRecorder(st *memStore) *memRecorder {
	return &memRecorder{st: st, byDelivery: map[string]int64{}}
}

func (r *memRecorder) known(ev *event.Event) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.byDelivery[string(ev.Provider)+"/"+ev.Delivery]
	return id, ok
}

func (r *memRecorder) RecordEvent(_ context.Context, ev *event.Event) (int64, bool, error) {
	if r.err != nil {
		return 0, false, r.err
	}
	if id, ok := r.known(ev); ok {
		return id, true, nil
	}
	id := r.st.add(*ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plain++
	r.byDelivery[string(ev.Provider)+"/"+ev.Delivery] = id
	return id, false, nil
}

func (r *memRecorder) RecordClaimedEarly(_ context.Context, ev *event.Event, lease time.Duration) (int64, func() (int64, bool, error), error) {
	if r.err != nil {
		return 0, nil, r.err
	}
	if id, ok := r.known(ev); ok {
		return 0, func() (int64, bool, error) { return id, true, nil }, nil
	}
	r.mu.Lock()
	r.leases = append(r.leases, lease)
	r.mu.Unlock()
	const unstored = 41 // the id a failed commit would have had
	id := int64(unstored)
	if r.commitErr == nil {
		id = r.st.addClaimed(*ev, lease).ID
		r.mu.Lock()
		r.byDelivery[string(ev.Provider)+"/"+ev.Delivery] = id
		r.mu.Unlock()
	}
	wait := sync.OnceValues(func() (int64, error) {
		if r.commit != nil {
			<-r.commit
		}
		return id, r.commitErr
	})
	return id, func() (int64, bool, error) { id, err := wait(); return id, false, err }, nil
}

// accepting makes h's dispatcher take handed-over events as a running one
// whose last claim found the queue empty does.
func (h *harness) accepting() {
	h.d.hmu.Lock()
	defer h.d.hmu.Unlock()
	h.d.accepting, h.d.drained, h.d.runCtx = true, true, context.Background()
}

// A new event goes to a free worker recorded already claimed; with none
// free it is queued and the dispatcher woken. A redelivery or a failed
// record gives the worker back; an ignored event takes none.
func TestIntakeAccept(t *testing.T) {
	type receipt struct {
		ID        int64
		Duplicate bool
		Handed    bool
		Err       bool
	}
	type want struct {
		Receipts   []receipt
		Plain      int             // events recorded queued
		Leases     []time.Duration // events recorded claimed
		Woken      bool
		Dispatched []int64 // events finished dispatched by a worker
		Prefetched int     // .slipway.yaml reads
	}
	pushA := push("main", shaA, "d1")
	deleted := push("main", event.ZeroSHA, "d2")
	deleted.Action, deleted.Reason = event.Ignore, "the ref was deleted"
	tests := []struct {
		name    string
		busy    bool // every worker busy
		evs     []event.Event
		failing bool
		want    want
	}{
		{"free worker: recorded claimed and handed over", false, []event.Event{pushA},
			false, want{Receipts: []receipt{{ID: 1, Handed: true}}, Leases: []time.Duration{2 * time.Minute}, Dispatched: []int64{1}, Prefetched: 1}},
		{"no free worker: queued and the dispatcher woken", true, []event.Event{pushA},
			false, want{Receipts: []receipt{{ID: 1}}, Plain: 1, Woken: true, Prefetched: 1}},
		{"redelivery: the reserved worker is given back", false, []event.Event{pushA, pushA},
			false, want{Receipts: []receipt{{ID: 1, Handed: true}, {ID: 1, Duplicate: true}}, Leases: []time.Duration{2 * time.Minute}, Dispatched: []int64{1}, Prefetched: 1}},
		{"ignored event: no worker taken, nothing fetched", false, []event.Event{deleted},
			false, want{Receipts: []receipt{{ID: 1}}, Plain: 1}},
		{"store down: the worker is given back", false, []event.Event{pushA},
			true, want{Receipts: []receipt{{Err: true}}, Prefetched: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithWorkers(1))
			h.store.finished = make(chan int64, 4)
			h.accepting()
			if tt.busy {
				h.d.slots <- struct{}{}
			}
			rec := newMemRecorder(h.store)
			if tt.failing {
				rec.err = errors.New("disk on fire")
			}
			in, err := NewIntake(rec, h.d)
			if err != nil {
				t.Fatal(err)
			}
			var got want
			for i := range tt.evs {
				ev := tt.evs[i]
				rc, err := in.Accept(context.Background(), &ev)
				got.Receipts = append(got.Receipts, receipt{ID: rc.ID, Duplicate: rc.Duplicate, Handed: rc.Dispatch != nil, Err: err != nil})
				if rc.Dispatch != nil {
					<-rc.Dispatch
				}
				h.d.wg.Wait() // the worker has written the outcome
			}
			close(h.store.finished)
			for id := range h.store.finished {
				got.Dispatched = append(got.Dispatched, id)
			}
			got.Plain, got.Leases = rec.plain, rec.leases
			got.Woken = len(h.d.wake) > 0
			for len(h.d.prefetching) > 0 { // reads still in flight; no timing involved
				goruntime.Gosched()
			}
			got.Prefetched = h.scm.readCount(shaA)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			busy := 0
			if tt.busy {
				busy = 1
			}
			if n := len(h.d.slots); n != busy {
				t.Errorf("%d workers busy afterwards, want %d", n, busy)
			}
		})
	}
}

// The worker gets the event as soon as its id is known and creates the
// PipelineRun while the commit is in flight; Accept returns only once the
// commit is known, and a failed commit is Accept's error and undoes the
// PipelineRun.
func TestIntakeHandsOverBeforeTheCommit(t *testing.T) {
	for _, tt := range []struct {
		name      string
		commitErr error
		wantRuns  int
	}{
		{"commit lands", nil, 1},
		{"commit fails", errors.New("disk full"), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithWorkers(1))
			h.accepting()
			rec := newMemRecorder(h.store)
			rec.commit, rec.commitErr = make(chan struct{}), tt.commitErr
			created := make(chan struct{})
			h.cs.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
				close(created)
				return false, nil, nil
			})
			in, err := NewIntake(rec, h.d)
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan error, 1)
			go func() {
				ev := push("main", shaA, "d1")
				_, err := in.Accept(context.Background(), &ev)
				accepted <- err
			}()
			<-created // the create went out before the commit landed
			select {
			case err := <-accepted:
				t.Fatalf("Accept returned (%v) before the commit landed", err)
			default:
			}
			close(rec.commit)
			if err := <-accepted; !errors.Is(err, tt.commitErr) {
				t.Errorf("Accept = %v, want %v", err, tt.commitErr)
			}
			h.d.wg.Wait()
			if n := len(h.runs(t)); n != tt.wantRuns {
				t.Errorf("%d PipelineRuns left, want %d", n, tt.wantRuns)
			}
		})
	}
}
