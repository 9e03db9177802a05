package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/slipway-ci/slipway/pkg/event"
)

// Finishing a dispatched event used to take two transactions (CreateRun,
// then FinishEvent), each an fsync on the single SQLite writer; with many
// dispatch workers they queued behind each other and behind the webhook's
// commits (measured in bench/RESULTS.md, "Dispatch"). FinishDispatched does
// both in one transaction, and like RecordEvent it shares that transaction
// with every other caller waiting at the time.

// dispatchedReq is one FinishDispatched call.
type dispatchedReq struct {
	ctx    context.Context
	id     int64
	run    *Run
	reason string
	done   chan error // buffered: a writer never blocks on a caller
}

// FinishDispatched records run (a no-op if a run with its ID exists) and
// moves event id to dispatched with reason, atomically. It returns
// ErrNotFound (wrapped) when there is no event id, and then records nothing.
func (s *sqlStore) FinishDispatched(ctx context.Context, id int64, run *Run, reason string) error {
	if run == nil || run.ID == "" {
		return errors.New("finish dispatched: a run needs an ID (namespace/name)")
	}
	req := &dispatchedReq{ctx: ctx, id: id, run: run, reason: reason, done: make(chan error, 1)}
	if err := s.fin.send(ctx, req); err != nil {
		return fmt.Errorf("finish dispatched event %d: %w", id, err)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The batch may still commit; a retry then finds the event final
		// and the run recorded.
		return fmt.Errorf("finish dispatched event %d: %w", id, ctx.Err())
	}
}

// flushDispatched writes a batch in one transaction. An event that does not
// exist fails the whole batch, so that its run is not recorded either; the
// batcher then retries the calls one by one.
func (s *sqlStore) flushDispatched(ctx context.Context, reqs []*dispatchedReq) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	now := s.ts()
	for _, q := range reqs {
		r := q.run
		created := r.CreatedAt
		if created.IsZero() {
			created = now
		}
		if _, err := tx.ExecContext(ctx, s.qCreateRun,
			r.ID, r.EventID, string(r.Provider), string(r.Kind), r.Repo, r.ProjectID, r.App, r.Ref, r.SHA, r.MRNumber,
			string(r.State), string(r.Reported), r.Message, r.ImageURL, r.ImageDigest,
			s.nullTime(created), s.nullTime(r.StartedAt), s.nullTime(r.FinishedAt), s.d.timeArg(now)); err != nil {
			return fmt.Errorf("finish dispatched event %d: create run %s: %w", q.id, r.ID, err)
		}
		res, err := tx.ExecContext(ctx, s.qFinish, string(event.Dispatched), q.reason, s.d.timeArg(now), q.id)
		if err != nil {
			return fmt.Errorf("finish dispatched event %d: %w", q.id, err)
		}
		if err := affectedOne(res, fmt.Sprintf("finish dispatched event %d", q.id)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("finish dispatched: commit: %w", err)
	}
	return nil
}

// batcher hands waiting requests to writer goroutines, which write all of
// them in one transaction; like committer, it never waits on a timer.
type batcher struct {
	flush func(ctx context.Context, reqs []*dispatchedReq) error
	reqs  chan *dispatchedReq
	quit  chan struct{}
	wg    sync.WaitGroup

	mu     sync.RWMutex // orders sends against close, as in committer
	closed bool
}

func newBatcher(flush func(context.Context, []*dispatchedReq) error, writers int) *batcher {
	b := &batcher{flush: flush, reqs: make(chan *dispatchedReq, maxBatch), quit: make(chan struct{})}
	for range writers {
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

func (b *batcher) send(ctx context.Context, req *dispatchedReq) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errClosed
	}
	select {
	case b.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) loop() {
	defer b.wg.Done()
	batch := make([]*dispatchedReq, 0, maxBatch)
	for {
		select {
		case r := <-b.reqs:
			batch = append(batch[:0], r)
		case <-b.quit:
			for {
				select {
				case r := <-b.reqs:
					b.commit([]*dispatchedReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.commit(batch)
	}
}

// commit writes a batch; when it fails, each request is written alone so
// that one bad request fails only its own caller.
func (b *batcher) commit(batch []*dispatchedReq) {
	live := make([]*dispatchedReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	err := b.flushOnce(live)
	if err == nil || len(live) == 1 {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	for _, r := range live {
		r.done <- b.flushOnce([]*dispatchedReq{r})
	}
}

func (b *batcher) flushOnce(reqs []*dispatchedReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	return b.flush(ctx, reqs)
}

// close stops taking requests, writes those already handed over and waits.
func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	b.wg.Wait()
}
