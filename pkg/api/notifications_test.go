package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/store"
)

type fakeNotifications struct {
	items []store.Notification
	got   store.NotificationFilter
}

func (f *fakeNotifications) ListNotifications(_ context.Context, nf store.NotificationFilter) ([]store.Notification, error) {
	f.got = nf
	return f.items, nil
}

func TestNotifications(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	failed := store.Notification{ID: 3, RunID: "ci/web-1", Channel: "slack", Target: "https://hooks.slack.com",
		State: store.NotificationFailed, Attempts: 6, LastError: "503", CreatedAt: at, UpdatedAt: at}
	tests := []struct {
		name       string
		url        string
		items      []store.Notification
		wantCode   int
		wantFilter store.NotificationFilter
		wantItems  []store.Notification
	}{
		{"failed of a run", "/api/v1/notifications?state=failed&run=ci/web-1&limit=5", []store.Notification{failed}, 200,
			store.NotificationFilter{Limit: 5, RunID: "ci/web-1", State: store.NotificationFailed}, []store.Notification{failed}},
		{"empty is a list", "/api/v1/notifications", nil, 200, store.NotificationFilter{Limit: defaultLimit}, []store.Notification{}},
		{"bad state", "/api/v1/notifications?state=lost", nil, 400, store.NotificationFilter{}, nil},
		{"bad limit", "/api/v1/notifications?limit=0", nil, 400, store.NotificationFilter{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNotifications{items: tt.items}
			e := echo.New()
			RegisterNotifications(e, f, Access{})
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.url, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("code %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode != 200 {
				return
			}
			if diff := cmp.Diff(tt.wantFilter, f.got); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
			var got wire.List[wire.Notification]
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want := listOf(tt.wantItems, notificationView)
			if diff := cmp.Diff(want.Items, got.Items); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
		})
	}
}
