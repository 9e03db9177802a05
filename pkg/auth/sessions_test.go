package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// memSessions is an in-memory SessionStore of the same shape as the
// store's: keyed by hash, expiring on the clock.
type memSessions struct {
	mu    sync.Mutex
	clock *clocktesting.FakePassiveClock
	rows  map[string]memSession
}

type memSession struct {
	id      Identity
	expires time.Time
}

func (m *memSessions) CreateSession(_ context.Context, hash string, id Identity, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.rows[hash]; dup {
		return errors.New("duplicate")
	}
	m.rows[hash] = memSession{id, expires}
	return nil
}

func (m *memSessions) SessionIdentity(_ context.Context, hash string) (Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[hash]
	if !ok || !m.clock.Now().Before(r.expires) {
		return Identity{}, ErrNoSession
	}
	return r.id, nil
}

func (m *memSessions) DeleteSession(_ context.Context, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rows, hash)
	return nil
}

func newSessions(t *testing.T, toks *Tokens) (*Sessions, *memSessions) {
	t.Helper()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st := &memSessions{clock: clk, rows: map[string]memSession{}}
	s, err := NewSessions(st, toks, time.Hour, clk)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func signIn(t *testing.T, s *Sessions, token string) string {
	t.Helper()
	id, _, err := s.SignIn(t.Context(), token)
	if err != nil {
		t.Fatalf("SignIn: %v", err)
	}
	return id
}

func TestSessions(t *testing.T) {
	ctx := t.Context()
	toks := loadTokens(t)
	s, st := newSessions(t, toks)

	if _, _, err := s.SignIn(ctx, "not-a-token-0123456789"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("SignIn with a wrong token: err = %v, want ErrUnauthenticated", err)
	}
	id := signIn(t, s, devToken)
	if id == devToken || len(id) != 43 {
		t.Fatalf("session id %q: want 43 random characters, not the token", id)
	}
	for hash := range st.rows {
		if hash == id || hash == devToken {
			t.Errorf("the store holds %q in the clear", hash)
		}
	}
	if got, ok := s.Identify(ctx, id); !ok || got != (Identity{"dana", Developer}) {
		t.Errorf("Identify = %+v, %v", got, ok)
	}
	for _, bad := range []string{"", devToken, id + "x", id[:42] + "!"} {
		if _, ok := s.Identify(ctx, bad); ok {
			t.Errorf("Identify(%q) succeeded", bad)
		}
	}

	// Signed out: gone.
	if err := s.SignOut(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Identify(ctx, id); ok {
		t.Error("a signed-out session still identifies")
	}
	// Expired: gone.
	id = signIn(t, s, devToken)
	st.clock.SetTime(st.clock.Now().Add(time.Hour))
	if _, ok := s.Identify(ctx, id); ok {
		t.Error("an expired session still identifies")
	}
	// Its token left the tokens file: gone.
	id = signIn(t, s, rmToken)
	other, err := Parse([]byte(`[{name: dana, role: developer, token: ` + devToken + `}]`))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSessions(st, other, time.Hour, st.clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Identify(ctx, id); ok {
		t.Error("a session of a removed token still identifies")
	}
}

// TestSessionMiddleware: an expired or signed-out session is refused on
// writes and read as anonymous on reads.
func TestSessionMiddleware(t *testing.T) {
	toks := loadTokens(t)
	s, st := newSessions(t, toks)
	srv := newServer(Policy{Tokens: toks, Sessions: s})
	do := func(method, path, session string) int {
		req := httptest.NewRequest(method, path, nil)
		req.AddCookie(&http.Cookie{Name: CookieName, Value: session})
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	live, ended, expired := signIn(t, s, rmToken), signIn(t, s, rmToken), signIn(t, s, rmToken)
	if err := s.SignOut(t.Context(), ended); err != nil {
		t.Fatal(err)
	}
	for h, r := range st.rows {
		if r.id.Name == "rita" && h == sessionHash(expired) {
			st.rows[h] = memSession{r.id, st.clock.Now()}
		}
	}
	got := map[string]int{"live": do("POST", "/write", live), "ended": do("POST", "/write", ended), "expired": do("POST", "/write", expired)}
	want := map[string]int{"live": 200, "ended": 401, "expired": 401}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("codes (-want +got):\n%s", d)
	}
}
