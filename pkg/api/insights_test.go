package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/insights"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// insightsServer serves /api/v1/insights over a store holding one
// successful rollout of web into prod (from 09:00 to 10:00 on day 0 of
// the week before now) and one rolled back by its rollout (11:00–11:30).
func insightsServer(t *testing.T, a Access) *echo.Echo {
	t.Helper()
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(day0.Add(9 * time.Hour))
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clk))
	ctx := context.Background()
	ok := &release.Promotion{Kind: release.KindPromote, App: "web", From: "qa", To: "prod", Digest: "sha256:a",
		State: release.PromotionRunning, RequestedBy: "rita", PipelineRuns: []string{"ci/deploy-1"}}
	if err := st.CreatePromotion(ctx, ok); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Hour)
	ok.State = release.PromotionSucceeded
	if err := st.UpdatePromotion(ctx, ok); err != nil {
		t.Fatal(err)
	}
	clk.Step(time.Hour)
	bad := &release.Promotion{Kind: release.KindPromote, App: "web", From: "qa", To: "prod", Digest: "sha256:b",
		State: release.PromotionRunning, RequestedBy: "rita", PipelineRuns: []string{"ci/deploy-2"}}
	if err := st.CreatePromotion(ctx, bad); err != nil {
		t.Fatal(err)
	}
	clk.Step(30 * time.Minute)
	bad.State = release.PromotionFailed
	if err := st.UpdatePromotion(ctx, bad); err != nil {
		t.Fatal(err)
	}
	svc := insights.New(st, []string{"web"}, []string{"qa", "prod"},
		insights.WithClock(clocktesting.NewFakePassiveClock(day0.Add(7*24*time.Hour))))
	e := echo.New()
	RegisterInsights(e, svc, a)
	return e
}

func TestInsights(t *testing.T) {
	e := insightsServer(t, Access{})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/insights?window=7d&app=web&env=prod", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	var got wire.Insights
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	half := 1800.0
	// One deployment in 7 days, no commit known (no lead time); one of two
	// changes failed, down for the 30 minutes its rollout ran.
	want := wire.Insights{Window: "7d", From: day0, To: day0.Add(7 * 24 * time.Hour), Items: []wire.InsightsKeys{{
		App: "web", Env: "prod", Deployments: 1, DeploymentsPerDay: 1.0 / 7, Daily: []int{1, 0, 0, 0, 0, 0, 0},
		Changes: 2, Failures: 1, ChangeFailureRate: 0.5, TimeToRestoreSeconds: &half, Restores: 1,
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /api/v1/insights (-want +got):\n%s", diff)
	}
	if !strings.Contains(rec.Body.String(), `"leadTimeSeconds":null`) {
		t.Errorf("a lead time without samples should be null: %s", rec.Body)
	}

	// Without filters: every app × env, default window 30d.
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/insights", nil))
	var all wire.Insights
	if err := json.Unmarshal(rec.Body.Bytes(), &all); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("code %d, %v: %s", rec.Code, err, rec.Body)
	}
	var names []string
	for _, k := range all.Items {
		names = append(names, k.App+"/"+k.Env)
	}
	if diff := cmp.Diff([]string{"web/qa", "web/prod"}, names); diff != "" || all.Window != "30d" {
		t.Errorf("window %q, items (-want +got):\n%s", all.Window, diff)
	}
}

func TestInsightsBadInput(t *testing.T) {
	e := insightsServer(t, Access{})
	tests := []struct{ url, want string }{
		{"/api/v1/insights?window=0d", "whole days from 1d to 90d"},
		{"/api/v1/insights?window=91d", "whole days from 1d to 90d"},
		{"/api/v1/insights?window=30m", "must be from 1h to 90d"},
		{"/api/v1/insights?window=week", "want whole days such as 30d"},
		{"/api/v1/insights?window=" + strings.Repeat("9", 17) + "d", "longer than 16 bytes"},
		{"/api/v1/insights?app=shop", `no app \"shop\"`},
		{"/api/v1/insights?env=staging", `no environment \"staging\"`},
		{"/api/v1/insights?app=" + strings.Repeat("a", 254), "app is longer than 253 bytes"},
		{"/api/v1/insights?since=7d", `unknown parameter \"since\"`},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.url, nil))
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("code %d body %s; want 400 saying %s", rec.Code, rec.Body, tt.want)
			}
		})
	}
}

func TestInsightsAuthorization(t *testing.T) {
	tokens, err := auth.Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		access Access
		token  string
		want   int
	}{
		{"no token", Access{Tokens: tokens}, "", http.StatusUnauthorized},
		{"a wrong token", Access{Tokens: tokens}, "not-a-token-0123456789", http.StatusUnauthorized},
		{"a developer", Access{Tokens: tokens}, devToken, http.StatusOK},
		{"anonymous with public read", Access{Tokens: tokens, PublicRead: true}, "", http.StatusOK},
		{"a wrong token with public read", Access{Tokens: tokens, PublicRead: true}, "not-a-token-0123456789", http.StatusUnauthorized},
		{"no tokens configured", Access{}, "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := insightsServer(t, tt.access)
			req := httptest.NewRequest(http.MethodGet, "/api/v1/insights?window=7d", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("code %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
		})
	}
}
