package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

const (
	devToken = "dev-token-0123456789"
	rmToken  = "rm-token-0123456789ab"
)

// fakePromotions answers like the service does, by input.
type fakePromotions struct {
	who []string
	// orphansErr is the east cluster's failure in Orphans.
	orphansErr string
	pf         store.PromotionFilter
	af         store.AuditFilter
}

func (f *fakePromotions) note(who promotion.Caller, what string) {
	f.who = append(f.who, who.Name+" "+what)
}

func (f *fakePromotions) Promote(_ context.Context, who promotion.Caller, req promotion.Request) (*release.Promotion, error) {
	what := "promote " + req.App + " " + req.From + "→" + req.To + " " + req.Digest
	if req.PolicyOverride != "" {
		what += " override: " + req.PolicyOverride
	}
	f.note(who, what)
	switch req.App {
	case "nope":
		return nil, fmt.Errorf("%w: unknown app %q", promotion.ErrNotFound, req.App)
	case "forged":
		return &release.Promotion{ID: 2, App: req.App, To: req.To, State: release.PromotionRefused, Reason: "promotion refused: no readable SLSA provenance"}, nil
	}
	return &release.Promotion{ID: 1, App: req.App, To: req.To, State: release.PromotionRunning, RequestedBy: who.Name}, nil
}

func (f *fakePromotions) Rollback(_ context.Context, who promotion.Caller, app, env string) (*release.Promotion, error) {
	f.note(who, "rollback "+app+" "+env)
	return &release.Promotion{ID: 3, Kind: release.KindRollback, App: app, To: env, State: release.PromotionAwaitingApproval}, nil
}

func (f *fakePromotions) Approve(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	f.note(who, fmt.Sprint("approve ", id))
	switch {
	case id == 99:
		return nil, fmt.Errorf("%w: no promotion 99", promotion.ErrNotFound)
	case !who.ReleaseManager:
		return nil, fmt.Errorf("%w: approving needs the release-manager role", promotion.ErrForbidden)
	case id == 2:
		return nil, fmt.Errorf("%w: promotion 2 is refused", promotion.ErrConflict)
	}
	return &release.Promotion{ID: id, State: release.PromotionRunning, ApprovedBy: who.Name}, nil
}

func (f *fakePromotions) Abort(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	f.note(who, fmt.Sprint("abort ", id))
	return &release.Promotion{ID: id, State: release.PromotionAborted}, nil
}

func (f *fakePromotions) Continue(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	f.note(who, fmt.Sprint("continue ", id))
	return &release.Promotion{ID: id, State: release.PromotionRunning}, nil
}

func (f *fakePromotions) Get(_ context.Context, id int64) (*release.Promotion, error) {
	if id != 1 {
		return nil, fmt.Errorf("%w: no promotion %d", promotion.ErrNotFound, id)
	}
	return &release.Promotion{ID: 1, State: release.PromotionSucceeded}, nil
}

func (f *fakePromotions) List(_ context.Context, pf store.PromotionFilter) ([]release.Promotion, error) {
	f.pf = pf
	return nil, nil
}

func (f *fakePromotions) Audit(_ context.Context, af store.AuditFilter) ([]release.AuditEntry, error) {
	f.af = af
	return []release.AuditEntry{{ID: 1, Actor: "dana", Action: "promote", Result: "succeeded"}}, nil
}

// RetireApp answers like the service by input: admins only, "nope" is
// unknown, a name with capitals invalid, "flaky" fails in one cluster.
func (f *fakePromotions) RetireApp(_ context.Context, who promotion.Caller, app string, dryRun bool) (*release.Retirement, error) {
	f.note(who, fmt.Sprintf("delete %s dry=%v", app, dryRun))
	switch {
	case !who.Admin:
		return nil, fmt.Errorf("%w: deleting an app needs the admin role", promotion.ErrForbidden)
	case app == "nope":
		return nil, fmt.Errorf("%w: unknown app %q", promotion.ErrNotFound, app)
	case strings.ToLower(app) != app:
		return nil, fmt.Errorf("%w: app name %q", promotion.ErrInvalid, app)
	}
	r := &release.Retirement{App: app, DryRun: dryRun, Clusters: []release.RetiredCluster{
		{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"deployment/" + app}},
		{Env: "prod", Cluster: "east", Namespace: "apps-prod"},
	}}
	if app == "flaky" {
		r.Clusters[1].Error = "cluster away"
	}
	return r, nil
}

// Orphans: release managers and admins; "east" failed.
func (f *fakePromotions) Orphans(_ context.Context, who promotion.Caller) (*release.OrphanReport, error) {
	f.note(who, "orphans")
	if !who.ReleaseManager {
		return nil, fmt.Errorf("%w: the orphan report needs the release-manager role", promotion.ErrForbidden)
	}
	return &release.OrphanReport{Clusters: []release.RetiredCluster{
		{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"deployment/old (app old)"}},
		{Env: "prod", Cluster: "east", Namespace: "apps-prod", Error: f.orphansErr},
	}}, nil
}

func (f *fakePromotions) RemovedApps(context.Context) ([]release.RemovedApp, error) {
	return []release.RemovedApp{{App: "old", Envs: []string{"qa"}, State: release.RemovedPending}}, nil
}

func TestPromotionsAPI(t *testing.T) {
	tokens, err := auth.Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}, {name: rita, role: release-manager, token: ` + rmToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, target, token, body string
		wantCode                          int
		wantBody                          string // substring
		wantWho                           []string
		check                             func(t *testing.T, f *fakePromotions)
	}{
		{name: "promote without token", method: "POST", target: "/api/v1/promotions", body: `{"app":"shop","to":"prod"}`,
			wantCode: 401, wantBody: "missing token", check: nothingReached},
		{name: "promote with a wrong token", method: "POST", target: "/api/v1/promotions", token: "wrong-token-0123456789", body: `{"app":"shop","to":"prod"}`,
			wantCode: 401, wantBody: "invalid token"},
		{name: "promote", method: "POST", target: "/api/v1/promotions", token: devToken, body: `{"app":"shop","from":"qa","to":"prod","digest":"sha256:abc"}`,
			wantCode: 201, wantBody: `"requestedBy":"dana"`, wantWho: []string{"dana promote shop qa→prod sha256:abc"}},
		{name: "refused by the gate", method: "POST", target: "/api/v1/promotions", token: devToken, body: `{"app":"forged","to":"prod"}`,
			wantCode: 422, wantBody: `"reason":"promotion refused: no readable SLSA provenance"`},
		{name: "unknown field", method: "POST", target: "/api/v1/promotions", token: devToken, body: `{"app":"shop","to":"prod","digset":"x"}`,
			wantCode: 400, wantBody: `unknown field \"digset\"`},
		// The service decides who may override (admin); the API passes the reason on.
		{name: "promote with a policy override", method: "POST", target: "/api/v1/promotions", token: rmToken,
			body:     `{"app":"shop","to":"prod","policyOverride":"INC-4711: not reachable"}`,
			wantCode: 201, wantWho: []string{"rita promote shop →prod  override: INC-4711: not reachable"}},
		{name: "missing to", method: "POST", target: "/api/v1/promotions", token: devToken, body: `{"app":"shop"}`,
			wantCode: 400, wantBody: "app and to are required"},
		{name: "unknown app", method: "POST", target: "/api/v1/promotions", token: devToken, body: `{"app":"nope","to":"prod"}`,
			wantCode: 404, wantBody: `unknown app \"nope\"`},
		{name: "developer approves", method: "POST", target: "/api/v1/promotions/1/approve", token: devToken,
			wantCode: 403, wantBody: "approve: forbidden: approving needs the release-manager role"},
		{name: "release manager approves", method: "POST", target: "/api/v1/promotions/1/approve", token: rmToken,
			wantCode: 200, wantBody: `"approvedBy":"rita"`},
		{name: "approve conflict", method: "POST", target: "/api/v1/promotions/2/approve", token: rmToken, wantCode: 409},
		{name: "approve without token", method: "POST", target: "/api/v1/promotions/2/approve", wantCode: 401, check: nothingReached},
		{name: "delete a 100 KB app without token", method: "DELETE", target: "/api/v1/apps/" + strings.Repeat("a", 100<<10), wantCode: 401, check: nothingReached},
		// An authenticated caller may be audited: what would be stored is capped first.
		{name: "delete a 100 KB app, authenticated", method: "DELETE", target: "/api/v1/apps/" + strings.Repeat("a", 100<<10), token: rmToken,
			wantCode: 400, wantBody: "app is longer than 253 bytes", check: nothingReached},
		{name: "promote a 254-byte app", method: "POST", target: "/api/v1/promotions", token: devToken,
			body: `{"app":"` + strings.Repeat("a", 254) + `","to":"qa"}`, wantCode: 400, wantBody: "app is longer", check: nothingReached},
		{name: "promote a long digest", method: "POST", target: "/api/v1/promotions", token: devToken,
			body: `{"app":"shop","to":"qa","digest":"` + strings.Repeat("a", 300) + `"}`, wantCode: 400, wantBody: "digest is longer", check: nothingReached},
		{name: "rollback to a long env", method: "POST", target: "/api/v1/apps/shop/rollback", token: devToken,
			body: `{"env":"` + strings.Repeat("e", 254) + `"}`, wantCode: 400, wantBody: "env is longer", check: nothingReached},
		{name: "approve unknown", method: "POST", target: "/api/v1/promotions/99/approve", token: rmToken, wantCode: 404},
		{name: "approve bad id", method: "POST", target: "/api/v1/promotions/x/approve", token: rmToken, wantCode: 400},
		{name: "abort", method: "POST", target: "/api/v1/promotions/4/abort", token: devToken, wantCode: 200, wantWho: []string{"dana abort 4"}},
		{name: "continue", method: "POST", target: "/api/v1/promotions/4/continue", token: rmToken, wantCode: 200, wantWho: []string{"rita continue 4"}},
		{name: "rollback", method: "POST", target: "/api/v1/apps/shop/rollback", token: devToken, body: `{"env":"prod"}`,
			wantCode: 201, wantBody: `"kind":"rollback"`, wantWho: []string{"dana rollback shop prod"}},
		{name: "rollback without env", method: "POST", target: "/api/v1/apps/shop/rollback", token: devToken, body: `{}`, wantCode: 400},
		{name: "delete app as release manager", method: "DELETE", target: "/api/v1/apps/shop", token: rmToken, wantCode: 403},
		{name: "list without token", method: "GET", target: "/api/v1/promotions", wantCode: 401},
		{name: "list", method: "GET", target: "/api/v1/promotions?app=shop&to=prod&state=awaiting-approval", token: devToken,
			wantCode: 200, wantBody: `{"items":[]}`, check: func(t *testing.T, f *fakePromotions) {
				want := store.PromotionFilter{Limit: defaultLimit, App: "shop", To: "prod", State: release.PromotionAwaitingApproval}
				if diff := cmp.Diff(want, f.pf); diff != "" {
					t.Errorf("filter (-want +got):\n%s", diff)
				}
			}},
		{name: "list bad state", method: "GET", target: "/api/v1/promotions?state=done", token: devToken, wantCode: 400},
		{name: "get", method: "GET", target: "/api/v1/promotions/1", token: devToken, wantCode: 200, wantBody: `"state":"succeeded"`},
		{name: "get unknown", method: "GET", target: "/api/v1/promotions/7", token: devToken, wantCode: 404},
		{name: "audit", method: "GET", target: "/api/v1/audit?actor=dana&promotion=3", token: devToken, wantCode: 200, wantBody: `"actor":"dana"`,
			check: func(t *testing.T, f *fakePromotions) {
				if diff := cmp.Diff(store.AuditFilter{Limit: defaultLimit, Actor: "dana", PromotionID: 3}, f.af); diff != "" {
					t.Errorf("filter (-want +got):\n%s", diff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePromotions{}
			e := echo.New()
			RegisterPromotions(e, f, f, f, Access{Tokens: tokens})
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			if rec.Code != tt.wantCode || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Errorf("%s %s = %d %s, want %d with %s", tt.method, tt.target, rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if tt.wantWho != nil {
				if diff := cmp.Diff(tt.wantWho, f.who); diff != "" {
					t.Errorf("calls (-want +got):\n%s", diff)
				}
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

// Without tokens configured the reads are open, like the rest of the
// API, and every write is refused.
func TestPromotionsAPIWithoutTokens(t *testing.T) {
	e := echo.New()
	f := &fakePromotions{}
	RegisterPromotions(e, f, f, f, Access{})
	for _, tt := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/api/v1/promotions", 200},
		{http.MethodPost, "/api/v1/promotions/1/approve", 401},
	} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d %s, want %d", tt.method, tt.target, rec.Code, rec.Body, tt.want)
		}
	}
}

// Every promotion route refuses a missing or invalid token (401) and a
// malformed id (400) before the service is asked anything.
func TestPromotionRoutesRefuseBadInput(t *testing.T) {
	tokens, err := auth.Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	routes := []struct{ method, target, body string }{
		{"GET", "/api/v1/promotions", ""},
		{"GET", "/api/v1/promotions/1", ""},
		{"GET", "/api/v1/audit", ""},
		{"POST", "/api/v1/promotions", `{"app":"shop","to":"prod"}`},
		{"POST", "/api/v1/promotions/1/approve", ""},
		{"POST", "/api/v1/promotions/1/abort", ""},
		{"POST", "/api/v1/promotions/1/continue", ""},
		{"POST", "/api/v1/apps/shop/rollback", `{"env":"prod"}`},
		{"DELETE", "/api/v1/apps/shop", ""},
	}
	for _, r := range routes {
		for _, tt := range []struct {
			name, auth, target string
			want               int
		}{
			{"no token", "", r.target, 401},
			{"invalid token", "Bearer wrong-token-0123456789", r.target, 401},
			{"not bearer", "Basic ZGFuYTp4", r.target, 401},
			{"malformed id", "Bearer " + devToken, strings.Replace(r.target, "/1", "/0x1", 1), 400},
		} {
			if tt.name == "malformed id" && !strings.Contains(r.target, "/1") {
				continue
			}
			t.Run(r.method+" "+r.target+" "+tt.name, func(t *testing.T) {
				f := &fakePromotions{}
				e := echo.New()
				RegisterPromotions(e, f, f, f, Access{Tokens: tokens})
				req := httptest.NewRequest(r.method, tt.target, strings.NewReader(r.body))
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Errorf("= %d %s, want %d", rec.Code, rec.Body, tt.want)
				}
				if len(f.who) != 0 {
					t.Errorf("the service was asked: %v", f.who)
				}
			})
		}
	}
}

// nothingReached: the request reached no service method, so nothing was
// written or audited.
func nothingReached(t *testing.T, f *fakePromotions) {
	t.Helper()
	if len(f.who) != 0 {
		t.Errorf("the service was called: %q", f.who)
	}
}
