package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group commit: RecordEvent is on the webhook's request path and must be
// durable before the webhook answers 202, so every event costs a commit
// (an fsync). Writer goroutines take whatever callers are waiting, write
// them in one transaction and answer each only after that commit, so the
// cost of one fsync is shared by all of them. Nothing waits on a timer: an
// idle store commits a lone event at once; a busy one builds bigger
// batches while the previous commit is in flight.

const (
	// maxBatch bounds one transaction (and its bind parameters: 13 a row).
	maxBatch = 256
	// flushTimeout bounds one batch's transaction. It does not come from a
	// caller: a caller that gives up must not abort the others' commit.
	flushTimeout = 30 * time.Second
)

var errClosed = errors.New("store is closed")

type recordResult struct {
	id  int64
	dup bool
	err error
}

type recordReq struct {
	ctx  context.Context
	row  eventRow
	done chan recordResult // buffered: a writer never blocks on a caller
}

// flushFunc writes rows in one transaction and returns one result per row,
// or an error when nothing was committed.
type flushFunc func(ctx context.Context, rows []eventRow) ([]recordResult, error)

type committer struct {
	flush flushFunc
	reqs  chan *recordReq
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
		reqs:  make(chan *recordReq, maxBatch),
		quit:  make(chan struct{}),
	}
	for range writers {
		c.wg.Add(1)
		go c.loop()
	}
	return c
}

// do hands row to a writer and waits for the commit that holds it.
func (c *committer) do(ctx context.Context, row eventRow) (recordResult, error) {
	req := &recordReq{ctx: ctx, row: row, done: make(chan recordResult, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return recordResult{}, errClosed
	}
	select {
	case c.reqs <- req:
	case <-ctx.Done():
		c.mu.RUnlock()
		return recordResult{}, ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case r := <-req.done:
		return r, r.err
	case <-ctx.Done():
		// The row may still commit; a redelivery then finds it.
		return recordResult{}, ctx.Err()
	}
}

func (c *committer) loop() {
	defer c.wg.Done()
	batch := make([]*recordReq, 0, maxBatch)
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
			c.commit([]*recordReq{r})
		default:
			return
		}
	}
}

// commit writes a batch; if the batch fails, it writes the rows one by one
// so that one bad row fails only its own caller.
func (c *committer) commit(batch []*recordReq) {
	live := make([]*recordReq, 0, len(batch))
	rows := make([]eventRow, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- recordResult{err: err}
			continue
		}
		live = append(live, r)
		rows = append(rows, r.row)
	}
	if len(live) == 0 {
		return
	}
	res, err := c.flushOnce(rows)
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
		res, err := c.flushOnce([]eventRow{r.row})
		if err != nil {
			r.done <- recordResult{err: err}
			continue
		}
		r.done <- res[0]
	}
}

func (c *committer) flushOnce(rows []eventRow) ([]recordResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	return c.flush(ctx, rows)
}

// close stops taking events, commits those already handed over, and waits
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
