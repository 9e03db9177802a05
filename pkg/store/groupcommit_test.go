package store

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeDB is a flushFunc that fails any batch holding a "bad" delivery, the
// way a constraint violation aborts a whole transaction.
type fakeDB struct {
	mu      sync.Mutex
	batches [][]string // deliveries of each committed batch
	calls   int
	// gate, if set, holds the first flush until closed.
	gate chan struct{}
}

func (f *fakeDB) flush(_ context.Context, rows []*writeReq) ([]recordResult, error) {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first && f.gate != nil {
		<-f.gate
	}
	var ds []string
	for _, r := range rows {
		if r.row.delivery == "bad" {
			return nil, errors.New("CHECK constraint failed")
		}
		ds = append(ds, r.row.delivery)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, ds)
	res := make([]recordResult, len(rows))
	for i := range rows {
		res[i] = recordResult{id: int64(len(f.batches)*1000 + i)}
	}
	return res, nil
}

// waitStarted yields until the first flush has begun.
func (f *fakeDB) waitStarted() {
	for {
		f.mu.Lock()
		n := f.calls
		f.mu.Unlock()
		if n > 0 {
			return
		}
		runtime.Gosched()
	}
}

func row(d string) *writeReq { return &writeReq{row: &eventRow{provider: "github", delivery: d}} }

// waitQueued yields until n requests wait in the channel; no timing.
func waitQueued(c *committer, n int) {
	for len(c.reqs) < n {
		runtime.Gosched()
	}
}

func TestCommitterBatchesWaitingCallers(t *testing.T) {
	db := &fakeDB{gate: make(chan struct{})}
	c := newCommitter(db.flush, 1)
	defer c.close()

	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.do(context.Background(), row("first")); err != nil {
			t.Errorf("first: %v", err)
		}
	})
	// While "first" commits, the rest pile up and go in one batch.
	db.waitStarted()
	rest := []string{"a", "b", "c", "d", "e"}
	for _, d := range rest {
		wg.Go(func() {
			if _, err := c.do(context.Background(), row(d)); err != nil {
				t.Errorf("%s: %v", d, err)
			}
		})
	}
	waitQueued(c, len(rest))
	close(db.gate)
	wg.Wait()

	db.mu.Lock()
	defer db.mu.Unlock()
	slices.Sort(db.batches[1])
	if diff := cmp.Diff([][]string{{"first"}, rest}, db.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
}

func TestCommitterBadRowFailsAlone(t *testing.T) {
	db := &fakeDB{gate: make(chan struct{})}
	c := newCommitter(db.flush, 1)
	defer c.close()

	type outcome struct {
		Delivery string
		Failed   bool
	}
	var (
		mu  sync.Mutex
		got []outcome
		wg  sync.WaitGroup
	)
	send := func(d string) {
		wg.Go(func() {
			_, err := c.do(context.Background(), row(d))
			mu.Lock()
			got = append(got, outcome{d, err != nil})
			mu.Unlock()
		})
	}
	send("warmup") // held at the gate so the next three share a batch
	db.waitStarted()
	for _, d := range []string{"ok1", "bad", "ok2"} {
		send(d)
	}
	waitQueued(c, 3)
	close(db.gate)
	wg.Wait()

	slices.SortFunc(got, func(a, b outcome) int { return strings.Compare(a.Delivery, b.Delivery) })
	want := []outcome{{"bad", true}, {"ok1", false}, {"ok2", false}, {"warmup", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func TestCommitterClosedAndCanceled(t *testing.T) {
	db := &fakeDB{}
	c := newCommitter(db.flush, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.do(ctx, row("canceled")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled caller: err = %v, want context.Canceled", err)
	}
	if _, err := c.do(context.Background(), row("kept")); err != nil {
		t.Errorf("do: %v", err)
	}
	c.close()
	c.close() // idempotent
	if _, err := c.do(context.Background(), row("late")); !errors.Is(err, errClosed) {
		t.Errorf("after close: err = %v, want errClosed", err)
	}
	for _, b := range db.batches {
		if slices.Contains(b, "canceled") || slices.Contains(b, "late") {
			t.Errorf("batch %v holds an event whose caller was gone", b)
		}
	}
}
