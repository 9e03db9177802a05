package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/webhook"
)

// TestDenials: refusals are counted in the family the webhook registers
// (one registry, one metric), logged at most 5 lines a second with the
// client address, and never reach the service.
func TestDenials(t *testing.T) {
	reg := prometheus.NewRegistry()
	// As the webhook handler registers it.
	reg.MustRegister(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_auth_denied_total", Help: webhook.AuthDeniedHelp}, []string{"reason"}))
	d, err := NewDenials(reg)
	if err != nil {
		t.Fatalf("NewDenials after the webhook: %v", err)
	}
	var logs bytes.Buffer
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.SetRequest(c.Request().WithContext(logging.Into(c.Request().Context(), slog.New(slog.NewTextHandler(&logs, nil)))))
			return next(c)
		}
	})
	f := &fakePromotions{}
	RegisterPromotions(e, f, f, f, Access{Tokens: testTokens(t), Denials: d})
	send := func(method, target, token string) {
		req := httptest.NewRequest(method, target, strings.NewReader(`{"app":"shop","to":"prod"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
	for range 20 {
		send("POST", "/api/v1/promotions", "")
	}
	send("DELETE", "/api/v1/apps/"+strings.Repeat("x", 100<<10), "wrong-token-0123456789")
	send("DELETE", "/api/v1/apps/shop", rmToken) // 403 from the service
	if len(f.who) != 1 {
		t.Errorf("service calls %q: want only the authenticated one", f.who)
	}

	got := map[string]float64{}
	for _, r := range []string{"missing-token", "invalid-token", "forbidden"} {
		got[r] = testutil.ToFloat64(d.count.WithLabelValues(r))
	}
	if diff := cmp.Diff(map[string]float64{"missing-token": 20, "invalid-token": 1, "forbidden": 1}, got); diff != "" {
		t.Errorf("slipway_auth_denied_total (-want +got):\n%s", diff)
	}
	lines := strings.Count(logs.String(), "request refused")
	if lines != 5 || !strings.Contains(logs.String(), "remote=192.0.2.1") {
		t.Errorf("%d log lines, want 5 with the remote address:\n%s", lines, logs.String())
	}
	if strings.Contains(logs.String(), "xxxxxxxx") {
		t.Error("the log holds the caller's path")
	}
}

func TestLimiter(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l, err := NewLimiter(1, 2, 2, clk)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, l.Middleware())
	get := func(remote string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.RemoteAddr = remote + ":1234"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("Retry-After")
	}
	type res struct {
		Code       int
		RetryAfter string
	}
	var got []res
	for _, remote := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2"} {
		c, ra := get(remote)
		got = append(got, res{c, ra})
	}
	clk.SetTime(clk.Now().Add(time.Second))
	c, ra := get("192.0.2.1")
	got = append(got, res{c, ra})
	want := []res{{204, ""}, {204, ""}, {429, "1"}, {204, ""}, {204, ""}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
	if _, err := NewLimiter(0, 1, 0, nil); err == nil {
		t.Error("NewLimiter(0/s): no error")
	}
	if _, err := NewLimiter(1, 0, 0, nil); err == nil {
		t.Error("NewLimiter(burst 0): no error")
	}
}
