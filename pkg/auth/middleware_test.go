package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
)

// newServer serves three routes the way the API uses the package:
//
//	GET  /read   optional authentication (read-only views)
//	POST /write  a release manager, checked by Require
//	POST /check  the role named by ?need, checked by Check in the handler
func newServer(p Policy) *echo.Echo {
	e := echo.New()
	whoami := func(c echo.Context) error {
		id, ok := FromContext(c.Request().Context())
		if !ok {
			return c.JSON(http.StatusOK, map[string]any{"anonymous": true})
		}
		return c.JSON(http.StatusOK, id)
	}
	e.GET("/read", whoami, p.Middleware(false))
	e.POST("/write", whoami, p.Middleware(true), Require(ReleaseManager))
	e.POST("/check", func(c echo.Context) error {
		if err := Check(c.Request().Context(), Role(c.QueryParam("need"))); err != nil {
			return err
		}
		return whoami(c)
	}, p.Middleware(false))
	return e
}

type response struct {
	Code            int
	Body            map[string]any
	WWWAuthenticate string
}

func TestMiddleware(t *testing.T) {
	const (
		challenge = `Bearer realm="slipway"`
		invalid   = `Bearer realm="slipway", error="invalid_token", error_description="invalid token"`
	)
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	cookie := func(tok string, extra ...string) http.Header {
		h := http.Header{"Cookie": {CookieName + "=" + tok}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	msg := func(m string) map[string]any { return map[string]any{"message": m} }
	who := func(name string, role Role) map[string]any { return map[string]any{"name": name, "role": string(role)} }
	anonymous := map[string]any{"anonymous": true}
	missing := response{401, msg("missing token: send Authorization: Bearer <token>"), challenge}

	toks := loadTokens(t)
	sessions, _ := newSessions(t, toks)
	rmSession, devSession := signIn(t, sessions, rmToken), signIn(t, sessions, devToken)
	noSession := response{401, msg("session expired or signed out: sign in again"),
		`Bearer realm="slipway", error="invalid_token", error_description="session expired or signed out: sign in again"`}
	tests := []struct {
		name         string
		toks         *Tokens
		method, path string
		header       http.Header
		want         response
	}{
		{"write without token", toks, "POST", "/write", nil, missing},
		{"write with unknown token", toks, "POST", "/write", bearer("not-a-token-0123456789"), response{401, msg("invalid token"), invalid}},
		{"write with basic auth", toks, "POST", "/write", http.Header{"Authorization": {"Basic ZGFuYTpwdw=="}},
			response{401, msg("invalid token: the Authorization header is not a Bearer token"),
				`Bearer realm="slipway", error="invalid_token", error_description="invalid token: the Authorization header is not a Bearer token"`}},
		{"write with empty bearer", toks, "POST", "/write", http.Header{"Authorization": {"Bearer "}},
			response{401, msg("invalid token: the Authorization header is not a Bearer token"),
				`Bearer realm="slipway", error="invalid_token", error_description="invalid token: the Authorization header is not a Bearer token"`}},
		{"write as developer", toks, "POST", "/write", bearer(devToken),
			response{403, msg("dana is a developer; this needs release-manager"), ""}},
		{"write as release manager", toks, "POST", "/write", bearer(rmToken), response{200, who("rita", ReleaseManager), ""}},
		{"write as admin (sha256 entry)", toks, "POST", "/write", bearer(adminToken), response{200, who("ada", Admin), ""}},
		{"scheme is case-insensitive", toks, "POST", "/write", http.Header{"Authorization": {"bearer " + rmToken}},
			response{200, who("rita", ReleaseManager), ""}},
		{"header wins over cookie", toks, "POST", "/write", http.Header{"Authorization": {"Bearer " + devToken}, "Cookie": {CookieName + "=" + rmSession}},
			response{403, msg("dana is a developer; this needs release-manager"), ""}},
		{"write with session", toks, "POST", "/write", cookie(rmSession), response{200, who("rita", ReleaseManager), ""}},
		{"write with session, same origin", toks, "POST", "/write", cookie(rmSession, "Sec-Fetch-Site", "same-origin"),
			response{200, who("rita", ReleaseManager), ""}},
		{"write with session, cross site", toks, "POST", "/write", cookie(rmSession, "Sec-Fetch-Site", "cross-site"),
			response{403, msg("cross-site request with the slipway_session cookie refused"), ""}},
		{"write with unknown session", toks, "POST", "/write", cookie("not-a-token-0123456789"), noSession},
		// The cookie holds a session id, never the token itself.
		{"write with the token as cookie", toks, "POST", "/write", cookie(rmToken), noSession},
		{"read anonymously", toks, "GET", "/read", nil, response{200, anonymous, ""}},
		{"read with token", toks, "GET", "/read", bearer(devToken), response{200, who("dana", Developer), ""}},
		{"read with session", toks, "GET", "/read", cookie(devSession), response{200, who("dana", Developer), ""}},
		{"read with session, cross site", toks, "GET", "/read", cookie(devSession, "Sec-Fetch-Site", "cross-site"),
			response{200, who("dana", Developer), ""}},
		{"read with stale cookie", toks, "GET", "/read", cookie("not-a-token-0123456789"), response{200, anonymous, ""}},
		{"read with the token as cookie", toks, "GET", "/read", cookie(devToken), response{200, anonymous, ""}},
		{"read with unknown token", toks, "GET", "/read", bearer("not-a-token-0123456789"), response{401, msg("invalid token"), invalid}},
		{"check anonymously", toks, "POST", "/check?need=developer", nil, missing},
		{"check developer needs admin", toks, "POST", "/check?need=admin", bearer(devToken),
			response{403, msg("dana is a developer; this needs admin"), ""}},
		{"check release manager needs admin", toks, "POST", "/check?need=admin", bearer(rmToken),
			response{403, msg("rita is a release-manager; this needs admin"), ""}},
		{"check admin needs admin", toks, "POST", "/check?need=admin", bearer(adminToken), response{200, who("ada", Admin), ""}},
		{"check developer needs developer", toks, "POST", "/check?need=developer", bearer(devToken), response{200, who("dana", Developer), ""}},
		{"no tokens: write", nil, "POST", "/write", bearer(rmToken), response{401, msg("no API tokens are configured"), challenge}},
		{"no tokens: write without token", nil, "POST", "/write", nil, response{401, msg("no API tokens are configured"), challenge}},
		{"no tokens: read", nil, "GET", "/read", bearer(rmToken), response{200, anonymous, ""}},
		{"no tokens: check", nil, "POST", "/check?need=developer", bearer(adminToken),
			response{401, msg("no API tokens are configured"), challenge}},
	}
	servers := map[*Tokens]*echo.Echo{toks: newServer(Policy{Tokens: toks, Sessions: sessions}), nil: newServer(Policy{})}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			rec := httptest.NewRecorder()
			servers[tt.toks].ServeHTTP(rec, req)
			got := response{Code: rec.Code, WWWAuthenticate: rec.Header().Get("WWW-Authenticate")}
			if err := json.Unmarshal(rec.Body.Bytes(), &got.Body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name     string
		id       *Identity
		need     Role
		wantCode int
		wantIs   error
	}{
		{"anonymous", nil, Developer, http.StatusUnauthorized, ErrUnauthenticated},
		{"too weak", &Identity{"dana", Developer}, ReleaseManager, http.StatusForbidden, ErrForbidden},
		{"unknown role", &Identity{"x", "root"}, Developer, http.StatusForbidden, ErrForbidden},
		{"enough", &Identity{"rita", ReleaseManager}, ReleaseManager, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ctx
			if tt.id != nil {
				c = WithIdentity(ctx, *tt.id)
			}
			err := Check(c, tt.need)
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != tt.wantCode || !errors.Is(err, tt.wantIs) {
				t.Errorf("Check = %v, want an *echo.HTTPError %d wrapping %v", err, tt.wantCode, tt.wantIs)
			}
		})
	}
}
