package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/auth"
)

const adminToken = "admin-token-0123456789"

func TestRetireAPI(t *testing.T) {
	tokens, err := auth.Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}, {name: rita, role: release-manager, token: ` + rmToken + `}, {name: ada, role: admin, token: ` + adminToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, target, token string
		wantCode                    int
		wantBody                    string
		wantCalls                   []string
		orphansErr                  string
	}{
		{name: "no token", method: "DELETE", target: "/api/v1/apps/shop?dryRun=true", wantCode: 401},
		{name: "developer", method: "DELETE", target: "/api/v1/apps/shop", token: devToken, wantCode: 403, wantCalls: []string{"dana delete shop dry=false"}},
		{name: "release manager dry run", method: "DELETE", target: "/api/v1/apps/shop?dryRun=true", token: rmToken, wantCode: 403,
			wantCalls: []string{"rita delete shop dry=true"}},
		{name: "admin dry run", method: "DELETE", target: "/api/v1/apps/shop?dryRun=true", token: adminToken, wantCode: 200,
			wantBody:  `{"app":"shop","dryRun":true,"clusters":[{"env":"qa","cluster":"local","namespace":"apps-qa","objects":["deployment/shop"]},{"env":"prod","cluster":"east","namespace":"apps-prod","objects":[]}]}`,
			wantCalls: []string{"ada delete shop dry=true"}},
		{name: "admin deletes", method: "DELETE", target: "/api/v1/apps/shop", token: adminToken, wantCode: 200, wantBody: `"dryRun":false`,
			wantCalls: []string{"ada delete shop dry=false"}},
		{name: "a cluster failed", method: "DELETE", target: "/api/v1/apps/flaky", token: adminToken, wantCode: 502, wantBody: `"error":"cluster away"`,
			wantCalls: []string{"ada delete flaky dry=false"}},
		{name: "bad dryRun", method: "DELETE", target: "/api/v1/apps/shop?dryRun=maybe", token: adminToken, wantCode: 400, wantBody: "dryRun"},
		{name: "unknown app", method: "DELETE", target: "/api/v1/apps/nope", token: adminToken, wantCode: 404, wantBody: "unknown app",
			wantCalls: []string{"ada delete nope dry=false"}},
		{name: "bad name", method: "DELETE", target: "/api/v1/apps/Shop", token: adminToken, wantCode: 400, wantBody: "app name",
			wantCalls: []string{"ada delete Shop dry=false"}},
		{name: "removed apps", method: "GET", target: "/api/v1/apps/retired", token: devToken, wantCode: 200,
			wantBody: `{"items":[{"app":"old","environments":["qa"],"state":"pending"}]}`},
		{name: "removed apps without token", method: "GET", target: "/api/v1/apps/retired", wantCode: 401},
		{name: "orphans as developer", method: "GET", target: "/api/v1/orphans", token: devToken, wantCode: 403, wantCalls: []string{"dana orphans"}},
		{name: "orphans without token", method: "GET", target: "/api/v1/orphans", wantCode: 401},
		{name: "orphans as release manager", method: "GET", target: "/api/v1/orphans", token: rmToken, wantCode: 200,
			wantBody:  `{"clusters":[{"env":"qa","cluster":"local","namespace":"apps-qa","objects":["deployment/old (app old)"]},{"env":"prod","cluster":"east","namespace":"apps-prod","objects":[]}]}`,
			wantCalls: []string{"rita orphans"}},
		{name: "orphans, a cluster failed", method: "GET", target: "/api/v1/orphans", token: adminToken, orphansErr: "cluster away", wantCode: 502,
			wantBody: `"error":"cluster away"`, wantCalls: []string{"ada orphans"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePromotions{orphansErr: tt.orphansErr}
			e := echo.New()
			RegisterPromotions(e, f, f, f, Access{Tokens: tokens})
			req := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s = %d %s, want %d with %s", tt.method, tt.target, rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if diff := cmp.Diff(tt.wantCalls, f.who); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
