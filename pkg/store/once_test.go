package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// Each test opens two handles on one database: two replicas.

func TestOnceSQLite(t *testing.T)   { testOnce(t, sqliteURL) }
func TestOncePostgres(t *testing.T) { testOnce(t, postgresURL) }

func testOnce(t *testing.T, fresh func(testing.TB) string) {
	ctx := context.Background()
	pair := func(t *testing.T, opts ...store.Option) (*store.DB, *store.DB) {
		url := fresh(t)
		a := storetest.Open(t, url, opts...)
		return a, storetest.Open(t, url, opts...)
	}

	t.Run("two claimers of one status post: one posts", func(t *testing.T) {
		clock := storetest.NewClock()
		a, b := pair(t, store.WithClock(clock))
		const claimers = 8
		got := make([]store.PostClaim, claimers)
		var wg sync.WaitGroup
		for i := range claimers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				c, err := s.ClaimStatusPost(ctx, "ci/run-1", "success", time.Minute)
				if err != nil {
					t.Errorf("ClaimStatusPost: %v", err)
				}
				got[i] = c
			})
		}
		wg.Wait()
		count := map[store.PostClaim]int{}
		for _, c := range got {
			count[c]++
		}
		if diff := cmp.Diff(map[store.PostClaim]int{store.PostClaimed: 1, store.PostHeld: claimers - 1}, count); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
		// The holder posts; every later claim, on either replica, is told so.
		if err := a.MarkStatusPosted(ctx, "ci/run-1", "success"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
		if c, err := b.ClaimStatusPost(ctx, "ci/run-1", "success", time.Minute); c != store.PostSent || err != nil {
			t.Errorf("claim after the post = %v, %v; want PostSent", c, err)
		}
		// Another state of the same run is its own key.
		if c, err := b.ClaimStatusPost(ctx, "ci/run-1", "failure", time.Minute); c != store.PostClaimed || err != nil {
			t.Errorf("claim of another state = %v, %v; want PostClaimed", c, err)
		}
	})

	t.Run("a failed post is released; a lapsed claim is taken over", func(t *testing.T) {
		clock := storetest.NewClock()
		a, b := pair(t, store.WithClock(clock))
		if c, _ := a.ClaimStatusPost(ctx, "ci/r", "pending", time.Minute); c != store.PostClaimed {
			t.Fatalf("first claim = %v", c)
		}
		if err := a.ReleaseStatusPost(ctx, "ci/r", "pending"); err != nil {
			t.Fatal(err)
		}
		if c, _ := b.ClaimStatusPost(ctx, "ci/r", "pending", time.Minute); c != store.PostClaimed {
			t.Fatalf("claim after release = %v, want PostClaimed", c)
		}
		// b dies holding it: a waits out the lease, then takes it over.
		if c, _ := a.ClaimStatusPost(ctx, "ci/r", "pending", time.Minute); c != store.PostHeld {
			t.Errorf("claim during b's lease = %v, want PostHeld", c)
		}
		clock.Advance(time.Minute)
		if c, _ := a.ClaimStatusPost(ctx, "ci/r", "pending", time.Minute); c != store.PostClaimed {
			t.Errorf("claim after b's lease = %v, want PostClaimed", c)
		}
		if err := a.MarkStatusPosted(ctx, "ci/nope", "pending"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkStatusPosted(unclaimed) = %v, want ErrNotFound", err)
		}
		if _, err := a.ClaimStatusPost(ctx, "", "pending", time.Minute); err == nil {
			t.Error("ClaimStatusPost without a run id: no error")
		}
	})

	t.Run("notifications keyed by run, channel and recipient", func(t *testing.T) {
		a, b := pair(t)
		const writers = 6
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				errs[i] = s.CreateNotification(ctx, &store.Notification{RunID: "ci/r", Channel: "email", Target: "ada@example.com"})
			})
		}
		wg.Wait()
		var ok, dup int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrDuplicate):
				dup++
			default:
				t.Errorf("CreateNotification: %v", err)
			}
		}
		if ok != 1 || dup != writers-1 {
			t.Errorf("CreateNotification: %d recorded, %d duplicates; want 1 and %d", ok, dup, writers-1)
		}
		// Another recipient or channel is another notification.
		for _, n := range []store.Notification{
			{RunID: "ci/r", Channel: "email", Target: "bob@example.com"},
			{RunID: "ci/r", Channel: "webhook", Target: "chat.example.com"},
		} {
			if err := a.CreateNotification(ctx, &n); err != nil {
				t.Errorf("CreateNotification(%s %s): %v", n.Channel, n.Target, err)
			}
		}
		all, err := b.ListNotifications(ctx, store.NotificationFilter{RunID: "ci/r"})
		if err != nil || len(all) != 3 {
			t.Errorf("ListNotifications = %d, %v; want 3", len(all), err)
		}
	})

	t.Run("Once: one of many concurrent callers wins", func(t *testing.T) {
		a, b := pair(t)
		const callers = 8
		won := make([]bool, callers)
		var wg sync.WaitGroup
		for i := range callers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				ok, err := s.Once(ctx, "auto-deploy", "ci/run-7")
				if err != nil {
					t.Errorf("Once: %v", err)
				}
				won[i] = ok
			})
		}
		wg.Wait()
		n := 0
		for _, w := range won {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Once: %d winners, want 1", n)
		}
		if ok, err := a.Once(ctx, "auto-deploy", "ci/run-8"); !ok || err != nil {
			t.Errorf("Once(another key) = %v, %v; want true", ok, err)
		}
		if _, err := a.Once(ctx, "", "x"); err == nil {
			t.Error("Once without a scope: no error")
		}
	})

	t.Run("compare-and-set on run state", func(t *testing.T) {
		a, b := pair(t)
		base := run.Run{ID: "ci/cas", Repo: "acme/shop", SHA: "abc", State: run.Running, Reported: run.Pending}
		if err := a.CreateRun(ctx, &base); err != nil {
			t.Fatal(err)
		}
		const writers = 6
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				next := base
				next.State, next.Reported, next.Message = run.Failed, run.Failed, fmt.Sprintf("writer %d", i)
				errs[i] = s.UpdateRun(ctx, &next, base)
			})
		}
		wg.Wait()
		var ok, conflict int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflict++
			default:
				t.Errorf("UpdateRun: %v", err)
			}
		}
		if ok != 1 || conflict != writers-1 {
			t.Errorf("UpdateRun: %d stored, %d conflicts; want 1 and %d", ok, conflict, writers-1)
		}
	})

	t.Run("run slots counted across replicas", func(t *testing.T) {
		a, b := pair(t)
		const runs, limit = 10, 3
		got := make([]bool, runs)
		var wg sync.WaitGroup
		for i := range runs {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				ok, err := s.AcquireRunSlot(ctx, "repo-hash", fmt.Sprintf("ci/run-%d", i), limit)
				if err != nil {
					t.Errorf("AcquireRunSlot: %v", err)
				}
				got[i] = ok
			})
		}
		wg.Wait()
		var held []string
		for i, ok := range got {
			if ok {
				held = append(held, fmt.Sprintf("ci/run-%d", i))
			}
		}
		if len(held) != limit {
			t.Fatalf("%d runs got a slot, want %d: %v", len(held), limit, held)
		}
		slots, err := b.RunSlots(ctx, "repo-hash")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(held, slots); diff != "" {
			t.Errorf("RunSlots (-want +got):\n%s", diff)
		}
		// Holding a slot answers true again; a full repo refuses; another
		// repo has its own slots; a released slot is free for the next.
		if ok, _ := a.AcquireRunSlot(ctx, "repo-hash", held[0], limit); !ok {
			t.Error("re-acquiring a held slot: false")
		}
		if ok, _ := a.AcquireRunSlot(ctx, "repo-hash", "ci/late", limit); ok {
			t.Error("acquired a slot beyond the limit")
		}
		if ok, _ := a.AcquireRunSlot(ctx, "other-repo", "ci/late", limit); !ok {
			t.Error("another repo's slot refused")
		}
		if err := b.ReleaseRunSlot(ctx, held[0]); err != nil {
			t.Fatal(err)
		}
		if ok, _ := a.AcquireRunSlot(ctx, "repo-hash", "ci/next", limit); !ok {
			t.Error("slot not free after release")
		}
		// No limit: running runs hold their slot regardless.
		if ok, _ := a.AcquireRunSlot(ctx, "repo-hash", "ci/already-running", 0); !ok {
			t.Error("unlimited acquire refused")
		}
	})

	t.Run("queue stats", func(t *testing.T) {
		clock := storetest.NewClock()
		a, _ := pair(t, store.WithClock(clock))
		if n, oldest, err := a.QueueStats(ctx); n != 0 || !oldest.IsZero() || err != nil {
			t.Errorf("empty QueueStats = %d, %v, %v", n, oldest, err)
		}
		t0 := clock.Now().UTC()
		for i := range 3 {
			if _, _, err := a.RecordEvent(ctx, storetest.Event(fmt.Sprintf("q-%d", i))); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second)
		}
		n, oldest, err := a.QueueStats(ctx)
		if n != 3 || !oldest.Equal(t0) || err != nil {
			t.Errorf("QueueStats = %d, %v, %v; want 3, %v", n, oldest, err, t0)
		}
	})
}
