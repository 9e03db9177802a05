package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/clock"
)

// DefaultSessionTTL is how long a UI sign-in lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// ErrNoSession is what a SessionStore answers for a session it does not
// hold or that has expired.
var ErrNoSession = errors.New("no such session")

// SessionStore keeps sessions by the SHA-256 (hex) of their id, never the
// id itself (the store implements it).
type SessionStore interface {
	CreateSession(ctx context.Context, hash string, id Identity, expires time.Time) error
	// SessionIdentity is ErrNoSession once the session expired or ended.
	SessionIdentity(ctx context.Context, hash string) (Identity, error)
	DeleteSession(ctx context.Context, hash string) error
}

// Sessions are the web UI's sign-ins: the browser's cookie holds a random
// id, the store its hash and who signed in. A session ends at its expiry,
// on sign-out, or when its token's entry leaves the tokens file.
type Sessions struct {
	st     SessionStore
	tokens *Tokens
	ttl    time.Duration
	clock  clock.PassiveClock
}

// NewSessions keeps sessions in st for ttl (DefaultSessionTTL if 0),
// signing in holders of tokens.
func NewSessions(st SessionStore, tokens *Tokens, ttl time.Duration, clk clock.PassiveClock) (*Sessions, error) {
	if st == nil || tokens == nil {
		return nil, errors.New("sessions: a store and tokens are required")
	}
	if ttl < 0 {
		return nil, fmt.Errorf("sessions: ttl %s must not be negative", ttl)
	}
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Sessions{st: st, tokens: tokens, ttl: ttl, clock: clk}, nil
}

// TTL is how long a new session lasts.
func (s *Sessions) TTL() time.Duration { return s.ttl }

// SignIn checks token and starts a session for its holder; id is the
// cookie's value. An unknown token is ErrUnauthenticated.
func (s *Sessions) SignIn(ctx context.Context, token string) (id string, who Identity, err error) {
	who, ok := s.tokens.Authenticate(token)
	if !ok {
		return "", Identity{}, errInvalidToken
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Identity{}, fmt.Errorf("new session id: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(b[:])
	if err := s.st.CreateSession(ctx, sessionHash(id), who, s.clock.Now().Add(s.ttl)); err != nil {
		return "", Identity{}, fmt.Errorf("starting a session: %w", err)
	}
	return id, who, nil
}

// Identify returns who session id signed in, if it is still valid.
func (s *Sessions) Identify(ctx context.Context, id string) (Identity, bool) {
	if !validSessionID(id) {
		return Identity{}, false
	}
	who, err := s.st.SessionIdentity(ctx, sessionHash(id))
	if err != nil || !s.tokens.has(who) {
		return Identity{}, false
	}
	return who, true
}

// SignOut ends session id; an unknown one is no error.
func (s *Sessions) SignOut(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return nil
	}
	if err := s.st.DeleteSession(ctx, sessionHash(id)); err != nil {
		return fmt.Errorf("ending a session: %w", err)
	}
	return nil
}

func sessionHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// validSessionID: 43 characters of unpadded base64url, what SignIn makes;
// anything else is refused before the store is asked.
func validSessionID(id string) bool {
	if len(id) != 43 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' && r != '_'
	}) < 0
}
