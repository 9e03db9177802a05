package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// testRetention prunes every table by age in batches: what is old and
// finished goes, what is not finished stays whatever its age.
func testRetention(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	day := 24 * time.Hour

	// Old: three finished events and one still queued.
	var old []int64
	for _, d := range []string{"old-1", "old-2", "old-3", "old-queued"} {
		id, _ := record(t, s, Event(d))
		old = append(old, id)
	}
	for i, st := range []event.State{event.Dispatched, event.Ignored, event.Failed} {
		if err := s.FinishEvent(ctx, old[i], st, "done"); err != nil {
			t.Fatalf("FinishEvent: %v", err)
		}
	}
	runs := []run.Run{
		{ID: "ci/done-a", State: run.Succeeded}, {ID: "ci/done-b", State: run.Failed},
		{ID: "ci/done-c", State: run.Canceled}, {ID: "ci/running", State: run.Running}, {ID: "ci/pending", State: run.Pending},
	}
	for i := range runs {
		r := &runs[i]
		r.EventID, r.Provider, r.Kind, r.Repo, r.App, r.Ref, r.SHA, r.CreatedAt = old[0], event.GitHub, event.Push, "acme/shop", "shop",
			"refs/heads/main", "3f786850e387550fdab836ed7e6dc881de23001b", clock.Now()
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
	}
	for i, st := range []store.NotificationState{store.NotificationSent, store.NotificationFailed, store.NotificationPending} {
		// One recipient each: a notification is keyed (run, channel, target).
		target := fmt.Sprintf("a%d@example.com", i)
		if err := s.CreateNotification(ctx, &store.Notification{RunID: "ci/done-a", Channel: "email", Target: target, State: st}); err != nil {
			t.Fatalf("CreateNotification: %v", err)
		}
	}
	for range 3 {
		if err := s.AppendAudit(ctx, &release.AuditEntry{Actor: "dana", Action: "promote", App: "shop"}); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}

	// A hundred days later, one of each that is recent.
	clock.Advance(100 * day)
	recent, _ := record(t, s, Event("recent"))
	if err := s.FinishEvent(ctx, recent, event.Dispatched, ""); err != nil {
		t.Fatalf("FinishEvent: %v", err)
	}
	if err := s.AppendAudit(ctx, &release.AuditEntry{Actor: "dana", Action: "approve", App: "shop"}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}

	got := map[store.Table]int64{}
	for _, tb := range store.Tables {
		// A batch of 2 makes the prune take several statements.
		n, err := s.Prune(ctx, tb, 90*day, 2)
		if err != nil {
			t.Fatalf("Prune(%s): %v", tb, err)
		}
		got[tb] = n
	}
	want := map[store.Table]int64{store.TableEvents: 3, store.TableRuns: 3, store.TableNotifications: 2, store.TableAudit: 3}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}

	evs, err := s.ListEvents(ctx, store.EventFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"recent", "old-queued"}, deliveries(evs)); d != "" {
		t.Errorf("events left (-want +got):\n%s", d)
	}
	rs, err := s.ListRuns(ctx, store.RunFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if d := cmp.Diff([]string{"ci/pending", "ci/running"}, ids); d != "" {
		t.Errorf("runs left (-want +got):\n%s", d)
	}
	ns, err := s.ListNotifications(ctx, store.NotificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 || ns[0].State != store.NotificationPending {
		t.Errorf("notifications left: %+v, want the pending one", ns)
	}
	au, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(au) != 1 || au[0].Action != "approve" {
		t.Errorf("audit left: %+v, want the recent approve", au)
	}
	// Pruning stays the only way to delete audit rows.
	if _, err := rawDB(t, url).ExecContext(ctx, "DELETE FROM audit"); err == nil {
		t.Error("a plain DELETE FROM audit succeeded; want the append-only refusal")
	}

	for _, bad := range []struct {
		tb    store.Table
		age   time.Duration
		batch int
	}{{"promotions", day, 10}, {store.TableEvents, 0, 10}, {store.TableEvents, day, 0}, {store.TableAudit, -day, 10}} {
		if _, err := s.Prune(ctx, bad.tb, bad.age, bad.batch); err == nil {
			t.Errorf("Prune(%q, %s, %d): no error", bad.tb, bad.age, bad.batch)
		}
	}
}

// testSessions: a session is found by its hash until it expires or is
// deleted.
func testSessions(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, ss := range []store.Session{
		{IDSHA256: h1, Name: "dev", Role: "developer", ExpiresAt: clock.Now().Add(time.Hour)},
		{IDSHA256: h2, Name: "rm", Role: "release-manager", ExpiresAt: clock.Now().Add(2 * time.Hour)},
	} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	if err := s.CreateSession(ctx, store.Session{IDSHA256: h1, Name: "x", Role: "admin", ExpiresAt: clock.Now().Add(time.Hour)}); err == nil {
		t.Error("CreateSession with a hash in use: no error")
	}
	if err := s.CreateSession(ctx, store.Session{IDSHA256: "short", Name: "x", Role: "admin", ExpiresAt: clock.Now()}); err == nil {
		t.Error("CreateSession with a malformed hash: no error")
	}
	got, err := s.GetSession(ctx, h1)
	if err != nil || got.Name != "dev" || got.Role != "developer" || !got.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
		t.Fatalf("GetSession = %+v, %v", got, err)
	}
	clock.Advance(time.Hour)
	if _, err := s.GetSession(ctx, h1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: err = %v, want ErrNotFound", err)
	}
	if n, err := s.PruneSessions(ctx); err != nil || n != 1 {
		t.Errorf("PruneSessions = %d, %v; want 1", n, err)
	}
	if err := s.DeleteSession(ctx, h2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, h2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: err = %v, want ErrNotFound", err)
	}
}
