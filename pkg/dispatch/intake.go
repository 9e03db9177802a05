package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
)

// Recorder is what the intake needs from pkg/store; its SQL stores have it.
type Recorder interface {
	RecordEvent(ctx context.Context, ev *event.Event) (id int64, duplicate bool, err error)
	// RecordClaimedEarly records ev already claimed for lease and tells
	// its id before the commit lands (0 when it cannot: a redelivery, or
	// the commit came first); wait returns what the commit did.
	RecordClaimedEarly(ctx context.Context, ev *event.Event, lease time.Duration) (id int64, wait func() (int64, bool, error), err error)
}

// Intake records the webhook's verified events and hands each new one to
// a free worker of its Dispatcher at once: the event is written already
// claimed, and the worker's PipelineRun create overlaps the commit (see
// overlap.go). With no worker free, the event is queued and the
// dispatcher woken. It is webhook.Intake.
type Intake struct {
	rec Recorder
	d   *Dispatcher
}

// NewIntake returns an Intake recording into rec and dispatching with d.
func NewIntake(rec Recorder, d *Dispatcher) (*Intake, error) {
	if rec == nil || d == nil {
		return nil, errors.New("dispatch intake: a recorder and a dispatcher are required")
	}
	return &Intake{rec: rec, d: d}, nil
}

// Accept records ev and returns once its record is committed (or failed):
// nothing is acknowledged before it is durable. When a worker took ev,
// the receipt's Dispatch gets what dispatching it did, before that is
// recorded. ev is not kept: the worker has its own copy.
func (in *Intake) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	if ev.Action == event.Ignore {
		id, dup, err := in.rec.RecordEvent(ctx, ev)
		return event.Receipt{ID: id, Duplicate: dup}, err
	}
	// What the worker will read is fetched while ev is recorded.
	in.d.prefetch(ev)
	lease, ok := in.d.reserve()
	if !ok {
		id, dup, err := in.rec.RecordEvent(ctx, ev)
		if err == nil && !dup {
			in.d.Wake()
		}
		return event.Receipt{ID: id, Duplicate: dup}, err
	}
	received := in.d.clock.Now()
	early, wait, err := in.rec.RecordClaimedEarly(ctx, ev, lease)
	if err != nil {
		in.d.free()
		return event.Receipt{}, err
	}
	if early == 0 {
		// A redelivery, or the commit came first: nothing to overlap.
		id, dup, err := wait()
		if err != nil || dup {
			in.d.free()
			return event.Receipt{ID: id, Duplicate: dup}, err
		}
		early = id
	}
	e := *ev // the worker's own: it sets the committed id
	e.ID, e.State, e.Attempts, e.ReceivedAt = early, event.Queued, 1, received
	done := in.d.dispatchReserved(&e, wait)
	id, dup, err := wait()
	if err != nil || dup {
		return event.Receipt{ID: id, Duplicate: dup}, err
	}
	return event.Receipt{ID: id, Dispatch: done}, nil
}
