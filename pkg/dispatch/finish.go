package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// pairedStore holds back the run a worker records (CreateRun) until the
// same worker writes its event's outcome, and writes both at once when that
// outcome is "dispatched". Recording them apart cost two commits per event
// on the store's writer, and with many workers they queued there instead of
// creating PipelineRuns (bench/RESULTS.md, "Dispatch"). A held run is
// written before any other outcome, so every path records what it did
// before.
type pairedStore struct {
	Store

	mu   sync.Mutex
	held map[int64]*run.Run // by event id
}

// pairRuns wraps st so that a dispatched event and its run are written
// together.
func pairRuns(st Store) Store {
	return &pairedStore{Store: st, held: map[int64]*run.Run{}}
}

// CreateRun holds r until its event's outcome is written.
func (p *pairedStore) CreateRun(ctx context.Context, r *run.Run) error {
	p.mu.Lock()
	prev, ok := p.held[r.EventID]
	if !ok || prev.ID == r.ID {
		p.held[r.EventID] = r
	}
	p.mu.Unlock()
	if ok && prev.ID != r.ID {
		// A second run for one event: the first keeps the pairing, this
		// one is written on its own.
		return p.Store.CreateRun(ctx, r)
	}
	return nil
}

// take removes and returns the run held for event id.
func (p *pairedStore) take(id int64) *run.Run {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.held[id]
	delete(p.held, id)
	return r
}

// flush writes a held run on its own, before an outcome that is not
// "dispatched".
func (p *pairedStore) flush(ctx context.Context, id int64) error {
	if r := p.take(id); r != nil {
		return p.Store.CreateRun(ctx, r)
	}
	return nil
}

func (p *pairedStore) FinishEvent(ctx context.Context, id int64, state event.State, reason string) error {
	if state == event.Dispatched {
		if r := p.take(id); r != nil {
			return p.FinishDispatched(ctx, id, r, reason)
		}
		return p.Store.FinishEvent(ctx, id, state, reason)
	}
	if err := p.flush(ctx, id); err != nil {
		return err
	}
	return p.Store.FinishEvent(ctx, id, state, reason)
}

func (p *pairedStore) RetryEvent(ctx context.Context, id int64, cause error, notBefore time.Time) error {
	if err := p.flush(ctx, id); err != nil {
		return err
	}
	return p.Store.RetryEvent(ctx, id, cause, notBefore)
}
