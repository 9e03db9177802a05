package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// The JSON the API answers is its contract: the README's and the e2e
// suite's field names. Each view is printed from a row with every field
// set, so a field added to, renamed in or dropped from the store shows
// here, not in a client.
func TestViewJSON(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		view any
		want string
	}{
		{"event", eventView(&event.Event{ID: 7, Provider: event.GitLab, Kind: event.MergeRequest, Repo: "o/r", Ref: "refs/heads/f", SHA: "abc",
			Delivery: "d-1", State: event.Failed, Reason: "no repo config", Attempts: 3, LastError: "503", MRNumber: 4, ReceivedAt: at,
			Author: "ada", CommitMessage: "secret plans"}),
			`{"id":7,"provider":"gitlab","kind":"merge_request","repo":"o/r","ref":"refs/heads/f","sha":"abc","delivery":"d-1","state":"failed",` +
				`"reason":"no repo config","attempts":3,"lastError":"503","mrNumber":4,"receivedAt":"2026-11-01T12:00:00Z"}`},
		{"run", runView(&run.Run{ID: "b/web-1", EventID: 7, Provider: event.GitHub, Kind: event.Push, Repo: "o/r", ProjectID: 9, App: "web",
			Ref: "refs/heads/main", SHA: "abc", MRNumber: 4, State: run.Failed, Reported: run.Failed, Message: "unit tests failed",
			ImageURL: "reg/web:abc", ImageDigest: "sha256:1", CreatedAt: at, StartedAt: at, FinishedAt: at.Add(time.Minute)}),
			`{"id":"b/web-1","eventId":7,"provider":"github","kind":"push","repo":"o/r","projectId":9,"app":"web","ref":"refs/heads/main",` +
				`"sha":"abc","mrNumber":4,"state":"failure","message":"unit tests failed","imageUrl":"reg/web:abc","imageDigest":"sha256:1",` +
				`"createdAt":"2026-11-01T12:00:00Z","startedAt":"2026-11-01T12:00:00Z","finishedAt":"2026-11-01T12:01:00Z"}`},
		{"pending run", runView(&run.Run{ID: "b/web-2", State: run.Pending, CreatedAt: at}),
			`{"id":"b/web-2","eventId":0,"provider":"","kind":"","repo":"","app":"","ref":"","sha":"","state":"pending","createdAt":"2026-11-01T12:00:00Z"}`},
		{"promotion", promotionView(&release.Promotion{ID: 3, Kind: release.KindPromote, App: "shop", From: "qa", To: "prod", Digest: "sha256:1",
			SourceImage: "qa/shop@sha256:1", TargetImage: "prod/shop@sha256:1", Commit: "abc", RunID: "b/shop-1", State: release.PromotionFailed,
			Reason: "smoke test failed", Progress: "wave 1/1", RequestedBy: "dana", ApprovedBy: "rita", PipelineRuns: []string{"d/shop-prod-1"},
			CreatedAt: at, UpdatedAt: at, FinishedAt: at}),
			`{"id":3,"kind":"promote","app":"shop","from":"qa","to":"prod","digest":"sha256:1","sourceImage":"qa/shop@sha256:1",` +
				`"targetImage":"prod/shop@sha256:1","commit":"abc","runId":"b/shop-1","state":"failed","reason":"smoke test failed",` +
				`"progress":"wave 1/1","requestedBy":"dana","approvedBy":"rita","pipelineRuns":["d/shop-prod-1"],` +
				`"createdAt":"2026-11-01T12:00:00Z","updatedAt":"2026-11-01T12:00:00Z","finishedAt":"2026-11-01T12:00:00Z"}`},
		{"audit entry", auditView(&release.AuditEntry{ID: 1, At: at, Actor: "rita", Role: "release-manager", Action: "approve", App: "shop",
			From: "qa", To: "prod", Digest: "sha256:1", PromotionID: 3, Result: "accepted"}),
			`{"id":1,"at":"2026-11-01T12:00:00Z","actor":"rita","role":"release-manager","action":"approve","app":"shop","from":"qa",` +
				`"to":"prod","digest":"sha256:1","promotionId":3,"result":"accepted"}`},
		{"notification", notificationView(&store.Notification{ID: 2, RunID: "b/web-1", Repo: "o/r", Channel: "slack", Target: "hooks.slack.com",
			Subject: "web failed", State: store.NotificationSent, Attempts: 1, LastError: "", CreatedAt: at, UpdatedAt: at,
			ClaimedUntil: at, Claim: 4}),
			`{"id":2,"runId":"b/web-1","repo":"o/r","channel":"slack","target":"hooks.slack.com","subject":"web failed","state":"sent",` +
				`"attempts":1,"createdAt":"2026-11-01T12:00:00Z","updatedAt":"2026-11-01T12:00:00Z"}`},
		{"empty list", listOf([]run.Run(nil), runView), `{"items":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.view)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
		})
	}
}

// With public-read, events, runs and notifications are open to anonymous
// readers, but a token that is sent must be valid.
func TestPublicReads(t *testing.T) {
	e := echo.New()
	fr := &fakeReader{runs: []run.Run{{ID: "b/web-1", State: run.Running}}}
	tokens := testTokens(t)
	Register(e, fr, Access{Tokens: tokens, PublicRead: true})
	RegisterNotifications(e, &fakeNotifications{}, Access{Tokens: tokens, PublicRead: true})
	tests := []struct {
		target, auth string
		want         int
	}{
		{"/api/v1/events", "", 200},
		{"/api/v1/runs", "", 200},
		{"/api/v1/runs/b/web-1", "", 200},
		{"/api/v1/notifications", "", 200},
		{"/api/v1/runs", "Bearer " + devToken, 200},
		{"/api/v1/events", "Bearer wrong-token-0123456789", 401},
		{"/api/v1/runs", "Bearer wrong-token-0123456789", 401},
		{"/api/v1/runs/b/web-1", "Bearer wrong-token-0123456789", 401},
		{"/api/v1/notifications", "Bearer wrong-token-0123456789", 401},
		{"/api/v1/runs", "Basic eDp5", 401},
		{"/api/v1/runs?state=done", "", 400},
		{"/api/v1/runs?state=success", "", 200},
		{"/api/v1/runs?mr=x", "", 400},
		{"/api/v1/runs?limit=1001", "", 400},
		{"/api/v1/runs/B/web-1", "", 400},
		{"/api/v1/runs/b/web_1", "", 400},
		{"/api/v1/runs/b/nope", "", 404},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, tt.target, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("GET %s (%q) = %d %s, want %d", tt.target, tt.auth, rec.Code, rec.Body, tt.want)
		}
	}
}

// With tokens configured and no public-read, every read needs a token:
// anonymous and bad requests alike get 401 before any parameter is read.
func TestReadsNeedAToken(t *testing.T) {
	tokens := testTokens(t)
	tests := []struct {
		name   string
		access Access
		target string
		auth   string
		want   int
	}{
		{"events, anonymous", Access{Tokens: tokens}, "/api/v1/events", "", 401},
		{"runs, anonymous", Access{Tokens: tokens}, "/api/v1/runs", "", 401},
		{"run, anonymous", Access{Tokens: tokens}, "/api/v1/runs/b/web-1", "", 401},
		{"notifications, anonymous", Access{Tokens: tokens}, "/api/v1/notifications", "", 401},
		{"bad state, anonymous", Access{Tokens: tokens}, "/api/v1/runs?state=done", "", 401},
		{"runs, developer", Access{Tokens: tokens}, "/api/v1/runs", "Bearer " + devToken, 200},
		{"notifications, developer", Access{Tokens: tokens}, "/api/v1/notifications", "Bearer " + devToken, 200},
		{"bad state, developer", Access{Tokens: tokens}, "/api/v1/runs?state=done", "Bearer " + devToken, 400},
		{"runs, wrong token", Access{Tokens: tokens}, "/api/v1/runs", "Bearer wrong-token-0123456789", 401},
		{"runs, public-read", Access{Tokens: tokens, PublicRead: true}, "/api/v1/runs", "", 200},
		{"runs, no tokens configured", Access{}, "/api/v1/runs", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			Register(e, &fakeReader{runs: []run.Run{{ID: "b/web-1", State: run.Running}}}, tt.access)
			RegisterNotifications(e, &fakeNotifications{}, tt.access)
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET %s = %d %s, want %d", tt.target, rec.Code, rec.Body, tt.want)
			}
		})
	}
}
