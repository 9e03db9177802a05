package notify

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Two notifiers ("replicas") on two handles of one real store are both
// told a run failed, at once: the chat hook gets one post.
func TestTwoReplicasNotifyOnce(t *testing.T) {
	ctx := t.Context()
	url := "sqlite://" + filepath.Join(t.TempDir(), "slipway.db")
	hooks := newHookServer(t)
	hook, err := NewWebhook(hooks.URL+"/hook", JSONFormat, nil)
	if err != nil {
		t.Fatal(err)
	}
	ciRun := failedRun()
	var dups atomic.Int32
	var notifiers []*Notifier
	for i := range 2 {
		st, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if i == 0 {
			if err := st.CreateRun(ctx, &ciRun); err != nil {
				t.Fatal(err)
			}
		}
		n, err := New(st, func(_ context.Context, r run.Run) Summary { return Summary{Run: r} },
			WithWebhooks(hook), WithOnDuplicate(func() { dups.Add(1) }))
		if err != nil {
			t.Fatal(err)
		}
		notifiers = append(notifiers, n)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, n := range notifiers {
		wg.Go(func() {
			if err := n.Run(rctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	var finished sync.WaitGroup
	for _, n := range notifiers {
		finished.Go(func() { n.Finished(ctx, ciRun) })
	}
	finished.Wait()
	if got := dups.Load(); got != 1 {
		t.Errorf("duplicates suppressed = %d, want 1", got)
	}
	for deadline := time.Now().Add(10 * time.Second); len(hooks.posts()) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
	}
	cancel()
	wg.Wait() // each notifier finished what it had queued
	if p := hooks.posts(); len(p) != 1 {
		t.Errorf("webhook got %d posts, want 1", len(p))
	}
}
