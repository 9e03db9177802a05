package store

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
)

// Recording the webhook's event takes a commit: an fsync on SQLite, a
// round trip and an fsync on PostgreSQL. Dispatch needs only the event's id
// to start (the PipelineRun is labelled with it), so RecordClaimedEarly
// tells the id as soon as it is settled and the commit lands while the
// PipelineRun is being created: the two overlap instead of adding up. On
// SQLite the id is the INSERT's, known before COMMIT (the write lock is
// held, so no other writer can take it); on PostgreSQL it is taken from the
// sequence beforehand, in the same round trip as the redelivery check.

// recording is an event handed to the store whose commit may still be in
// flight.
type recording struct {
	id    int64 // known before the commit; 0 when not
	done  chan struct{}
	final recordResult
}

// wait returns what the commit did. Any number of callers may wait.
func (r *recording) wait() (id int64, duplicate bool, err error) {
	<-r.done
	return r.final.id, r.final.dup, r.final.err
}

func settled(res recordResult) *recording {
	r := &recording{done: make(chan struct{}), final: res}
	close(r.done)
	return r
}

// RecordClaimedEarly is RecordClaimed answering once the new event's id is
// known rather than once it is committed. wait returns what the commit
// did: the event's id, whether it was a redelivery of one recorded before
// (nothing was written), or the error that kept it from being recorded;
// any number of callers may wait. Whoever starts work on the event under
// id must wait before writing anything about it, and undo what it did if
// wait reports an error. id is 0 for a redelivery, told before any work
// starts, and when the commit came first (wait has the answer at once).
func (s *sqlStore) RecordClaimedEarly(ctx context.Context, ev *event.Event, lease time.Duration) (id int64, wait func() (int64, bool, error), err error) {
	r, err := s.recordEarly(ctx, ev, lease)
	if err != nil {
		return 0, nil, err
	}
	return r.id, r.wait, nil
}

func (s *sqlStore) recordEarly(ctx context.Context, ev *event.Event, lease time.Duration) (*recording, error) {
	if lease <= 0 {
		return nil, fmt.Errorf("record claimed event: lease must be positive, got %s", lease)
	}
	e := *ev
	if s.d.preallocate {
		var next, existing int64
		if err := s.r.QueryRowContext(ctx, s.qNextID, string(ev.Provider), ev.Delivery).Scan(&existing, &next); err != nil {
			return nil, fmt.Errorf("record event %s/%s: next id: %w", ev.Provider, ev.Delivery, err)
		}
		if existing > 0 {
			return settled(recordResult{id: existing, dup: true}), nil
		}
		e.ID = next
	}
	row, err := s.newEventRow(&e, lease)
	if err != nil {
		return nil, err
	}
	req := &writeReq{row: &row, early: make(chan int64, 1)}
	if err := s.rec.submit(ctx, req); err != nil {
		return nil, fmt.Errorf("record event %s/%s: %w", ev.Provider, ev.Delivery, err)
	}
	r := &recording{id: e.ID, done: make(chan struct{})}
	go func() {
		res, err := s.rec.wait(ctx, req)
		if err != nil {
			res.err = fmt.Errorf("record event %s/%s: %w", ev.Provider, ev.Delivery, err)
		}
		r.final = res
		close(r.done)
	}()
	if r.id > 0 {
		return r, nil
	}
	select {
	case id := <-req.early:
		r.id = id
	case <-r.done:
		// Committed (or failed) before the id was seen, or a redelivery:
		// the caller has its answer from wait at once.
	}
	return r, nil
}
