package api

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/auth"
)

// Access is the API's one authentication policy: bearer tokens (pkg/auth)
// and, for the web UI, session cookies. The zero value serves reads to
// anyone and refuses every write (no tokens configured).
type Access struct {
	// Tokens nil means none are configured: reads stay open (nobody
	// could sign in) and every write answers 401.
	Tokens *auth.Tokens
	// Sessions, when set, also accepts the UI's session cookie.
	Sessions *auth.Sessions
	// PublicRead lets anonymous callers read events, runs and
	// notifications although tokens are configured. Default false: every
	// read needs a token or a session.
	PublicRead bool
	// Denials, when set, counts and logs every refusal (401, 403).
	Denials *Denials
	// Limit, when set, answers 429 to a client beyond its rate.
	Limit *Limiter
}

func (a Access) policy() auth.Policy { return auth.Policy{Tokens: a.Tokens, Sessions: a.Sessions} }

// front is what every route has before authentication: the per-client
// rate limit, then the counting of refusals.
func (a Access) front() []echo.MiddlewareFunc {
	var mw []echo.MiddlewareFunc
	if a.Limit != nil {
		mw = append(mw, a.Limit.Middleware())
	}
	if a.Denials != nil {
		mw = append(mw, a.Denials.Middleware())
	}
	return mw
}

// open is for the pipeline's own records (events, runs, notifications):
// with tokens configured they need a token or a session of any role,
// unless PublicRead; a token that is sent must be valid (401 otherwise).
func (a Access) open() []echo.MiddlewareFunc {
	required := a.Tokens.Len() > 0 && !a.PublicRead
	return append(a.front(), a.policy().Middleware(required))
}

// read is for promotions and the audit log: once tokens are configured
// they need a developer token, public-read or not, since they say who did
// what.
func (a Access) read() []echo.MiddlewareFunc {
	if a.Tokens.Len() == 0 {
		return a.open()
	}
	return append(a.front(), a.policy().Middleware(true), auth.Require(auth.Developer))
}

// write needs a valid token (401) of at least role need (403). need ""
// leaves the role to the handler (auth.Check), for writes whose role
// depends on the request.
func (a Access) write(need auth.Role) []echo.MiddlewareFunc {
	mw := append(a.front(), a.policy().Middleware(true))
	if need != "" {
		mw = append(mw, auth.Require(need))
	}
	return mw
}

func group(e *echo.Echo) *echo.Group { return e.Group("/api/v1") }
