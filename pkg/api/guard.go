package api

import (
	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/auth"
)

// guard is the API's one authentication policy, over bearer tokens
// (pkg/auth). tokens nil means none are configured: reads that are open
// stay open and every write answers 401 "no API tokens are configured".
type guard struct{ tokens *auth.Tokens }

// open is for the pipeline's own records (events, runs, notifications):
// anonymous callers read them, as the README and the e2e suite do; a
// token that is sent must be valid (401 otherwise).
func (g guard) open() []echo.MiddlewareFunc {
	return []echo.MiddlewareFunc{auth.Middleware(g.tokens, false)}
}

// read is for promotions and the audit log: once tokens are configured
// they need a developer token, since they say who did what.
func (g guard) read() []echo.MiddlewareFunc {
	if g.tokens.Len() == 0 {
		return g.open()
	}
	return []echo.MiddlewareFunc{auth.Middleware(g.tokens, true), auth.Require(auth.Developer)}
}

// write needs a valid token (401) of at least role need (403). need ""
// leaves the role to the handler (auth.Check), for writes whose role
// depends on the request.
func (g guard) write(need auth.Role) []echo.MiddlewareFunc {
	mw := []echo.MiddlewareFunc{auth.Middleware(g.tokens, true)}
	if need != "" {
		mw = append(mw, auth.Require(need))
	}
	return mw
}

func group(e *echo.Echo) *echo.Group { return e.Group("/api/v1") }
