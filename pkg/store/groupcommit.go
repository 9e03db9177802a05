package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group commit: RecordEvent is on the webhook's request path and must be
// durable before the webhook answers 202, so every event costs a commit
// (an fsync). The dispatcher's claims and finishes and the reporter's run
// updates are writes too, and on SQLite they all go through one writer
// connection: committed one by one they queued there behind each other
// (bench/RESULTS.md, "Dispatch"). So every write of the hot path is a
// request to the committer, whose writer goroutines take whatever requests
// are waiting, write them all in one transaction and answer each only
// after that commit: one fsync (and on PostgreSQL one round trip) for the
// lot. Nothing waits on a timer: an idle store commits a lone write at
// once; a busy one builds bigger batches while the previous commit is in
// flight.

const (
	// maxBatch bounds one transaction (and the multi-row INSERT's bind
	// parameters: 13 a row).
	maxBatch = 256
	// flushTimeout bounds one batch's transaction. It does not come from a
	// caller: a caller that gives up must not abort the others' commit.
	flushTimeout = 30 * time.Second
)

var errClosed = errors.New("store is closed")

// rowScanner is what a statement's result rows offer: *sql.Rows and
// pgx.Rows both have it.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// stmt is one statement of a write. Its callbacks keep what they learn in
// their request and must assign, not accumulate: a failed batch is written
// again, one request at a time. An error a callback returns fails its own
// request only (ErrNotFound, a row that does not scan); the statements of
// a request must be written so that such a request changed nothing, since
// the transaction still commits for the others. An error executing a
// statement fails the whole batch.
type stmt struct {
	q    string // rebound for the dialect
	args []any
	// rows reads what the statement returns; nil for a plain exec.
	rows func(rowScanner) error
	// affected, when set, gets the number of rows an exec changed.
	affected func(n int64) error
}

// writeReq is one caller's write: a new event (row) or other statements.
type writeReq struct {
	ctx   context.Context
	row   *eventRow
	stmts []stmt
	// lazy: the caller does not need the write to survive a power cut,
	// only a crash of the process (a claim: losing it only means the event
	// is claimed again). A batch of lazy requests alone may skip the fsync.
	lazy bool
	done chan recordResult // buffered: a writer never blocks on a caller
	// early, when set (buffered), gets a new event's id as soon as its
	// INSERT has run, before the commit (early.go).
	early chan int64
}

// recordResult answers a writeReq: the event's id and whether it was a
// duplicate for a row, and its error.
type recordResult struct {
	id  int64
	dup bool
	err error
}

// flushFunc writes reqs in one transaction and returns one result per
// request, or an error when nothing was committed.
type flushFunc func(ctx context.Context, reqs []*writeReq) ([]recordResult, error)

type committer struct {
	flush flushFunc
	reqs  chan *writeReq
	quit  chan struct{}
	wg    sync.WaitGroup

	// mu orders senders against close: no send starts after closed is set,
	// so the writers' final drain sees every request.
	mu     sync.RWMutex
	closed bool
}

func newCommitter(flush flushFunc, writers int) *committer {
	c := &committer{
		flush: flush,
		reqs:  make(chan *writeReq, maxBatch),
		quit:  make(chan struct{}),
	}
	for range writers {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// do hands req to a writer and waits for the commit that holds it.
func (c *committer) do(ctx context.Context, req *writeReq) (recordResult, error) {
	if err := c.submit(ctx, req); err != nil {
		return recordResult{}, err
	}
	return c.wait(ctx, req)
}

// submit hands req to a writer without waiting for its commit.
func (c *committer) submit(ctx context.Context, req *writeReq) error {
	req.ctx, req.done = ctx, make(chan recordResult, 1)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return errClosed
	}
	select {
	case c.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait waits for the commit that holds a submitted req.
func (c *committer) wait(ctx context.Context, req *writeReq) (recordResult, error) {
	select {
	case r := <-req.done:
		return r, r.err
	case <-ctx.Done():
		// The write may still commit; a retry then finds it done.
		return recordResult{}, ctx.Err()
	}
}

// exec is do for a write that answers nothing but its error.
func (c *committer) exec(ctx context.Context, lazy bool, stmts ...stmt) error {
	_, err := c.do(ctx, &writeReq{stmts: stmts, lazy: lazy})
	return err
}

func (c *committer) loop() {
	defer c.wg.Done()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		case <-c.quit:
			c.drain()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

// drain commits what is left after close.
func (c *committer) drain() {
	for {
		select {
		case r := <-c.reqs:
			c.commit([]*writeReq{r})
		default:
			return
		}
	}
}

// commit writes a batch; if the batch fails, it writes the requests one by
// one so that one bad request fails only its own caller.
func (c *committer) commit(batch []*writeReq) {
	live := make([]*writeReq, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- recordResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	res, err := c.flushOnce(live)
	if err == nil {
		for i, r := range live {
			r.done <- res[i]
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- recordResult{err: err}
		return
	}
	for _, r := range live {
		res, err := c.flushOnce([]*writeReq{r})
		if err != nil {
			r.done <- recordResult{err: err}
			continue
		}
		r.done <- res[0]
	}
}

func (c *committer) flushOnce(reqs []*writeReq) ([]recordResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	return c.flush(ctx, reqs)
}

// close stops taking writes, commits those already handed over, and waits
// for the writers to finish.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	c.wg.Wait()
}
