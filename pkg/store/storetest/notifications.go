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
	s, ok := Open(t, url, store.WithClock(clock.Now)).(store.Notifications)
	if !ok {
		t.Fatal("the store does not record notifications")
	}
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

	if err := s.UpdateNotification(ctx, &store.Notification{ID: 999999, State: store.NotificationSent}); !errors.Is(err, store.ErrNotFound) {
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
