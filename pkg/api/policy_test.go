package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api/wire"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

type fakePolicy map[string]*run.PolicyCheck

func (f fakePolicy) PolicyCheck(_ context.Context, d string) (*run.PolicyCheck, error) {
	if d == "sha256:"+strings.Repeat("e", 64) {
		return nil, errors.New("database is locked")
	}
	if c, ok := f[d]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("policy check: %w", store.ErrNotFound)
}

func TestPolicyRoute(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	failed := "sha256:" + strings.Repeat("a", 64)
	none := "sha256:" + strings.Repeat("b", 64)
	f := fakePolicy{
		failed: {Digest: failed, RunID: "ci/web-1", Outcome: run.PolicyFailed, Packages: 4, More: 2, CheckedAt: at,
			Violations: []run.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}},
		none: {Digest: none, RunID: "ci/web-2", Outcome: run.PolicyNone, CheckedAt: at},
	}
	tests := []struct {
		name     string
		digest   string
		wantCode int
		want     *wire.PolicyCheck
	}{
		{"failed", failed, 200, &wire.PolicyCheck{Digest: failed, RunID: "ci/web-1", Outcome: "failed", Packages: 4, More: 2, CheckedAt: at,
			Violations: []wire.PolicyViolation{{Package: "example.com/slipway-vuln", Version: "v1.0.0", Rule: "advisory", ID: "SLIPWAY-2026-0001", Severity: "CRITICAL", Fixed: "1.2.0"}}}},
		// No violations is an empty list, not null.
		{"no policy", none, 200, &wire.PolicyCheck{Digest: none, RunID: "ci/web-2", Outcome: "none", CheckedAt: at, Violations: []wire.PolicyViolation{}}},
		{"unknown", "sha256:" + strings.Repeat("c", 64), 404, nil},
		{"store down", "sha256:" + strings.Repeat("e", 64), 503, nil},
		{"a tag", "latest", 400, nil},
		{"upper case", "sha256:" + strings.Repeat("A", 64), 400, nil},
		{"short", "sha256:abc", 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := echo.New()
			RegisterPolicy(e, f, Access{})
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/images/"+tc.digest+"/policy", nil))
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.want == nil {
				return
			}
			var got wire.PolicyCheck
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, &got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
