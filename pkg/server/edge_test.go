package server

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/slipway-ci/slipway/pkg/auth"
)

const edgeToken = "dev-token-0123456789abcdef"

// TestEdge runs serve with a tokens file: reads need a token or a session,
// the session cookie is not the token, signing out revokes it, and no
// refused request writes a row.
func TestEdge(t *testing.T) {
	cfg := testConfig(t)
	cfg.APITokensFile = filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(cfg.APITokensFile, []byte("- {name: dana, role: developer, token: "+edgeToken+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.APIBurst = 1000 // this test is not about the rate limit
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := New(ctx, cfg, WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, body url.Values, hdr ...string) answer {
		t.Helper()
		var req *http.Request
		if body != nil {
			req, _ = http.NewRequest(method, base+path, strings.NewReader(body.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, base+path, nil)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return answer{StatusCode: resp.StatusCode, cookies: resp.Cookies()}
	}
	rows := func() int {
		db, err := sql.Open("sqlite", strings.TrimPrefix(cfg.Store, "sqlite://"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(`SELECT (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM audit) + (SELECT COUNT(*) FROM sessions)
			+ (SELECT COUNT(*) FROM promotions)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	before := rows()
	for path, want := range map[string]int{"/api/v1/runs": 401, "/api/v1/events": 401, "/api/v1/notifications": 401, "/runs": 303, "/events": 303,
		"/runs/ci/web-1/stream": 401} {
		if got := do("GET", path, nil).StatusCode; got != want {
			t.Errorf("anonymous GET %s = %d, want %d", path, got, want)
		}
	}
	for range 10 {
		_ = do("POST", "/api/v1/promotions", nil)
		_ = do("DELETE", "/api/v1/apps/"+strings.Repeat("a", 100<<10), nil)
	}
	if got := do("POST", "/signin", url.Values{"token": {"wrong-token-0123456789"}}, "Origin", base).StatusCode; got != 401 {
		t.Errorf("sign-in with a wrong token = %d, want 401", got)
	}
	if after := rows(); after != before {
		t.Errorf("refused requests wrote %d rows", after-before)
	}
	if got := do("GET", "/api/v1/runs", nil, "Authorization", "Bearer "+edgeToken).StatusCode; got != 200 {
		t.Errorf("GET /api/v1/runs with a token = %d, want 200", got)
	}

	resp := do("POST", "/signin", url.Values{"token": {edgeToken}, "next": {"/runs"}}, "Origin", base)
	var session string
	for _, c := range resp.cookies {
		if c.Name == auth.CookieName {
			session = c.Value
		}
	}
	if resp.StatusCode != 303 || session == "" || strings.Contains(session, edgeToken) {
		t.Fatalf("sign-in: %d, session %q: want 303 and a session id that is not the token", resp.StatusCode, session)
	}
	cookie := auth.CookieName + "=" + session
	for _, path := range []string{"/runs", "/api/v1/runs"} {
		if got := do("GET", path, nil, "Cookie", cookie).StatusCode; got != 200 {
			t.Errorf("GET %s with the session = %d, want 200", path, got)
		}
	}
	if got := do("GET", "/runs", nil, "Cookie", auth.CookieName+"="+edgeToken).StatusCode; got != 303 {
		t.Errorf("GET /runs with the token as cookie = %d, want 303 to sign in", got)
	}
	if got := do("POST", "/signout", url.Values{}, "Origin", base, "Cookie", cookie).StatusCode; got != 303 {
		t.Errorf("sign-out = %d", got)
	}
	if got := do("GET", "/api/v1/runs", nil, "Cookie", cookie).StatusCode; got != 401 {
		t.Errorf("GET /api/v1/runs with a signed-out session = %d, want 401", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// answer is what the edge test reads of a response whose body is closed.
type answer struct {
	StatusCode int
	cookies    []*http.Cookie
}
