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

// RecordClaimedEarly is RecordEvent for a caller that dispatches the event
// itself at once (the webhook handing it to a free dispatch worker): a new
// queued event is written already claimed for lease, attempts 1, in the
// same commit, so no claim stands between the 202 and the PipelineRun. If
// the caller dies, the lease runs out and any replica claims the event, as
// after any claim. A duplicate or ignored event is recorded as by
// RecordEvent and claims nothing.
//
// It answers once the new event's id is known rather than once it is
// committed. wait returns what the commit did: the event's id, whether it
// was a redelivery of one recorded before (nothing was written), or the
// error that kept it from being recorded; any number of callers may wait.
// Whoever starts work on the event under id must wait before writing
// anything about it, and undo what it did if wait reports an error. id is
// 0 for a redelivery, told before any work starts, and when the commit
// came first (wait has the answer at once).
func (s *DB) RecordClaimedEarly(ctx context.Context, ev *event.Event, lease time.Duration) (id int64, wait func() (int64, bool, error), err error) {
	if lease <= 0 {
		return 0, nil, fmt.Errorf("record claimed event: lease must be positive, got %s", lease)
	}
	e := *ev
	if s.d.preallocate {
		var next, existing int64
		if err := s.r.QueryRowContext(ctx, s.qNextID, string(ev.Provider), ev.Delivery).Scan(&existing, &next); err != nil {
			return 0, nil, fmt.Errorf("record event %s/%s: next id: %w", ev.Provider, ev.Delivery, err)
		}
		if existing > 0 {
			return 0, settled(recordResult{id: existing, dup: true}).wait, nil
		}
		e.ID = next
	}
	row, err := s.newEventRow(&e, lease)
	if err != nil {
		return 0, nil, err
	}
	req := &writeReq{row: &row, early: make(chan int64, 1)}
	if err := s.rec.submit(ctx, req); err != nil {
		return 0, nil, fmt.Errorf("record event %s/%s: %w", ev.Provider, ev.Delivery, err)
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
		return r.id, r.wait, nil
	}
	select {
	case id := <-req.early:
		r.id = id
	case <-r.done:
		// Committed (or failed) before the id was seen, or a redelivery:
		// the caller has its answer from wait at once.
	}
	return r.id, r.wait, nil
}
