package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/store"
)

func testNotifications(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	t0 := clock.Now()
	mail := &store.Notification{RunID: "ci/web-1", Repo: "acme/web", Channel: "email", Target: "dev@example.com", Subject: "failed"}
	if err := s.CreateNotification(ctx, mail); err != nil {
		t.Fatalf("CreateNotification: %v", err)
	}
	clock.Advance(time.Second)
	t1 := clock.Now()
	chat := &store.Notification{RunID: "ci/web-2", Channel: "slack", Target: "hooks.slack.com"}
	if err := s.CreateNotification(ctx, chat); err != nil {
		t.Fatalf("CreateNotification: %v", err)
	}
	if mail.ID == 0 || chat.ID == 0 || mail.ID == chat.ID {
		t.Fatalf("ids %d and %d, want two distinct non-zero", mail.ID, chat.ID)
	}
	clock.Advance(time.Second)
	t2 := clock.Now()
	chat.State, chat.Attempts, chat.LastError = store.NotificationFailed, 5, "503 Service Unavailable"
	if err := s.UpdateNotification(ctx, chat); err != nil {
		t.Fatalf("UpdateNotification: %v", err)
	}

	wantMail := store.Notification{ID: mail.ID, RunID: "ci/web-1", Repo: "acme/web", Channel: "email", Target: "dev@example.com",
		Subject: "failed", State: store.NotificationPending, CreatedAt: t0, UpdatedAt: t0}
	wantChat := store.Notification{ID: chat.ID, RunID: "ci/web-2", Channel: "slack", Target: "hooks.slack.com",
		State: store.NotificationFailed, Attempts: 5, LastError: "503 Service Unavailable", CreatedAt: t1, UpdatedAt: t2}
	for _, tc := range []struct {
		name string
		f    store.NotificationFilter
		want []store.Notification
	}{
		{"all, newest first", store.NotificationFilter{}, []store.Notification{wantChat, wantMail}},
		{"failed", store.NotificationFilter{State: store.NotificationFailed}, []store.Notification{wantChat}},
		{"by run", store.NotificationFilter{RunID: "ci/web-1"}, []store.Notification{wantMail}},
		{"limit", store.NotificationFilter{Limit: 1}, []store.Notification{wantChat}},
	} {
		got, err := s.ListNotifications(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: ListNotifications: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: ListNotifications (-want +got):\n%s", tc.name, diff)
		}
	}

	if err := s.UpdateNotification(ctx, &store.Notification{ID: 999999, Target: "x", State: store.NotificationSent}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateNotification(missing) err = %v, want ErrNotFound", err)
	}
	for _, bad := range []*store.Notification{
		{Channel: "email", Target: "x"},
		{RunID: "ci/x", Channel: "email", Target: "x", State: "lost"},
	} {
		if err := s.CreateNotification(ctx, bad); err == nil {
			t.Errorf("CreateNotification(%+v): want error", bad)
		}
	}
	if _, err := s.ListNotifications(ctx, store.NotificationFilter{Limit: -1}); err == nil {
		t.Error("ListNotifications(limit -1): want error")
	}
}

// testNotificationClaims: a pending notification is handed to one sender
// at a time, and a sender whose lease was taken over can no longer record
// an outcome, so the notification is sent once.
func testNotificationClaims(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	t0 := clock.Now()
	// Queued by a live sender: leased for 10 minutes.
	leased := &store.Notification{RunID: "ci/web-1", Channel: "email", Target: "dev@example.com", ClaimedUntil: t0.Add(10 * time.Minute)}
	// Recorded without a lease (a shutdown released it).
	free := &store.Notification{RunID: "ci/web-2", Channel: "webhook", Target: "https://chat.example.com"}
	sent := &store.Notification{RunID: "ci/web-3", Channel: "slack", Target: "https://hooks.slack.com", State: store.NotificationSent}
	for _, n := range []*store.Notification{leased, free, sent} {
		if err := s.CreateNotification(ctx, n); err != nil {
			t.Fatalf("CreateNotification: %v", err)
		}
	}
	ids := func(ns []store.Notification) []int64 {
		var out []int64
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	claim := func(limit int) []store.Notification {
		t.Helper()
		got, err := s.ClaimNotifications(ctx, limit, 5*time.Minute)
		if err != nil {
			t.Fatalf("ClaimNotifications: %v", err)
		}
		return got
	}

	got := claim(10)
	if diff := cmp.Diff([]int64{free.ID}, ids(got)); diff != "" {
		t.Fatalf("first claim (-want +got):\n%s", diff)
	}
	if got[0].Claim != 1 || !got[0].ClaimedUntil.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("claimed %+v, want claim 1 until %s", got[0], t0.Add(5*time.Minute))
	}
	if got := claim(10); len(got) != 0 {
		t.Errorf("claim while leased: got %v, want none", ids(got))
	}

	// The live sender's lease runs out: the other sender takes it over,
	// and the first one's outcome is refused.
	clock.Advance(11 * time.Minute)
	got = claim(1)
	if diff := cmp.Diff([]int64{leased.ID}, ids(got)); diff != "" {
		t.Fatalf("claim after the lease (-want +got):\n%s", diff)
	}
	leased.State, leased.Attempts = store.NotificationSent, 1
	if err := s.UpdateNotification(ctx, leased); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateNotification by the sender that lost its claim: err = %v, want ErrNotFound", err)
	}
	taken := got[0]
	taken.State, taken.Attempts, taken.Target, taken.ClaimedUntil = store.NotificationSent, 1, "dev@example.com, ada@example.com", time.Time{}
	if err := s.UpdateNotification(ctx, &taken); err != nil {
		t.Fatalf("UpdateNotification by the new owner: %v", err)
	}
	// free's lease also ran out; nothing else is pending.
	if diff := cmp.Diff([]int64{free.ID}, ids(claim(10))); diff != "" {
		t.Errorf("last claim (-want +got):\n%s", diff)
	}
	list, err := s.ListNotifications(ctx, store.NotificationFilter{RunID: "ci/web-1"})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListNotifications = %v, %v", list, err)
	}
	if list[0].State != store.NotificationSent || list[0].Target != "dev@example.com, ada@example.com" {
		t.Errorf("stored %+v, want sent to the new target", list[0])
	}
	if _, err := s.ClaimNotifications(ctx, 0, time.Minute); err == nil {
		t.Error("ClaimNotifications(limit 0): want error")
	}
}
