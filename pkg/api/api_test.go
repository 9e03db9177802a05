package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

type fakeReader struct {
	events []event.Event
	runs   []run.Run
	gotEF  store.EventFilter
	gotRF  store.RunFilter
	err    error
}

func (f *fakeReader) ListEvents(_ context.Context, ef store.EventFilter) ([]event.Event, error) {
	f.gotEF = ef
	return f.events, f.err
}

func (f *fakeReader) ListRuns(_ context.Context, rf store.RunFilter) ([]run.Run, error) {
	f.gotRF = rf
	return f.runs, f.err
}

func (f *fakeReader) GetRun(_ context.Context, id string) (*run.Run, error) {
	for _, r := range f.runs {
		if r.ID == id {
			return &r, nil
		}
	}
	return nil, store.ErrNotFound
}

func TestAPI(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	fr := &fakeReader{
		events: []event.Event{{ID: 7, Provider: event.GitHub, Kind: event.Push, Repo: "o/r", Ref: "refs/heads/main", SHA: "abc",
			Delivery: "d-1", State: event.Ignored, Reason: "branch main was deleted", ReceivedAt: at}},
		runs: []run.Run{{ID: "builds/web-abc-123", Repo: "o/r", State: run.Running, CreatedAt: at}},
	}
	tests := []struct {
		name     string
		target   string
		wantCode int
		wantBody string
		check    func(t *testing.T)
	}{
		{
			name: "events", target: "/api/v1/events?limit=5&repo=o/r", wantCode: 200,
			wantBody: `{"items":[{"id":7,"provider":"github","kind":"push","repo":"o/r","ref":"refs/heads/main","sha":"abc","delivery":"d-1","state":"ignored","reason":"branch main was deleted","attempts":0,"receivedAt":"2026-11-01T12:00:00Z"}]}`,
			check: func(t *testing.T) {
				if diff := cmp.Diff(store.EventFilter{Limit: 5, Repo: "o/r"}, fr.gotEF); diff != "" {
					t.Errorf("filter (-want +got)\n%s", diff)
				}
			},
		},
		{name: "bad limit", target: "/api/v1/events?limit=0", wantCode: 400},
		{name: "bad state", target: "/api/v1/events?state=done", wantCode: 400},
		{name: "runs by mr", target: "/api/v1/runs?mr=3", wantCode: 200, check: func(t *testing.T) {
			if fr.gotRF.MRNumber != 3 || fr.gotRF.Limit != defaultLimit {
				t.Errorf("filter = %+v", fr.gotRF)
			}
		}},
		{name: "run", target: "/api/v1/runs/builds/web-abc-123", wantCode: 200},
		{name: "missing run", target: "/api/v1/runs/builds/nope", wantCode: 404},
	}
	e := echo.New()
	Register(e, fr, Access{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if rec.Code != tt.wantCode {
				t.Fatalf("code = %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantBody != "" {
				var got, want any
				_ = json.Unmarshal(rec.Body.Bytes(), &got)
				_ = json.Unmarshal([]byte(tt.wantBody), &want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("body (-want +got)\n%s", diff)
				}
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
	fr.err = errors.New("db down")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/runs", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("store error: code = %d, want 503", rec.Code)
	}
}
