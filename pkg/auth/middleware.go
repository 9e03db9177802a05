package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// CookieName is the cookie the web UI keeps its session id in (see
// Sessions); never a token.
const CookieName = "slipway_session"

var (
	// ErrUnauthenticated is behind every 401: no token, a wrong one, or no
	// tokens configured at all.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden is behind every 403.
	ErrForbidden = errors.New("forbidden")

	errInvalidToken = fmt.Errorf("%w: invalid token", ErrUnauthenticated)
	errNoSession    = fmt.Errorf("%w: session expired or ended", ErrUnauthenticated)
	errMissing      = fmt.Errorf("%w: missing token", ErrUnauthenticated)
	errUnconfigured = fmt.Errorf("%w: no tokens configured", ErrUnauthenticated)
	errCrossSite    = fmt.Errorf("%w: cross-site cookie", ErrForbidden)
)

// DenialReason is a short code for why err refused a request, for a
// metric label: no-tokens, missing-token, invalid-token, no-session,
// cross-site or forbidden; "" when err is not a refusal of this package.
func DenialReason(err error) string {
	switch {
	case errors.Is(err, errUnconfigured):
		return "no-tokens"
	case errors.Is(err, errMissing):
		return "missing-token"
	case errors.Is(err, errInvalidToken):
		return "invalid-token"
	case errors.Is(err, errNoSession):
		return "no-session"
	case errors.Is(err, errCrossSite):
		return "cross-site"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrUnauthenticated):
		return "unauthenticated"
	}
	return ""
}

const (
	msgUnconfigured = "no API tokens are configured"
	msgMissing      = "missing token: send Authorization: Bearer <token>"
	msgInvalid      = "invalid token"
	msgNotBearer    = "invalid token: the Authorization header is not a Bearer token"
	msgNoSession    = "session expired or signed out: sign in again"
	msgCrossSite    = "cross-site request with the " + CookieName + " cookie refused"
)

func unauthenticated(msg string, cause error) *echo.HTTPError {
	return &echo.HTTPError{Code: http.StatusUnauthorized, Message: msg, Internal: cause}
}

// Policy is how requests authenticate: bearer tokens, and the web UI's
// session cookie when Sessions is set.
type Policy struct {
	Tokens   *Tokens
	Sessions *Sessions
}

// Middleware is Policy{Tokens: t}.Middleware(required): bearer tokens
// only, the session cookie is not read.
func Middleware(t *Tokens, required bool) echo.MiddlewareFunc {
	return Policy{Tokens: t}.Middleware(required)
}

// Middleware authenticates "Authorization: Bearer <token>" (or the session
// cookie, for the web UI) when present and stores the
// Identity in the request context. With required=true a request without a
// valid token gets 401 {"message": "..."} with WWW-Authenticate: Bearer and
// a reason (missing / invalid token); with required=false anonymous
// requests pass (read-only views).
//
// A stale cookie on a read-only view is ignored rather than refused, so an
// expired session never locks anyone out of what anonymous callers see; an invalid Authorization
// header is always refused, since the client meant to authenticate. A
// cookie on a state-changing request that a browser marks cross-site is
// refused (403), so another site cannot post a form as the user.
//
// With t nil (no tokens configured) nobody is authenticated: required
// routes answer 401 "no API tokens are configured", and Require and Check
// give the same reason on the others.
//
// Handlers must return the errors of Check unwrapped: echo renders only a
// bare *echo.HTTPError with its code.
func (p Policy) Middleware(required bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := p.authenticate(c, required)
			if err == nil {
				err = next(c)
			}
			challenge(c, err)
			return err
		}
	}
}

func (p Policy) authenticate(c echo.Context, required bool) error {
	req := c.Request()
	ctx := req.Context()
	t := p.Tokens
	if t == nil {
		if required {
			return unauthenticated(msgUnconfigured, errUnconfigured)
		}
		c.SetRequest(req.WithContext(withoutTokens(ctx)))
		return nil
	}
	token, fromCookie, ok := credentials(req, p.Sessions != nil)
	if !ok {
		return unauthenticated(msgNotBearer, errInvalidToken)
	}
	if token == "" {
		if required {
			return unauthenticated(msgMissing, errMissing)
		}
		return nil
	}
	var id Identity
	if fromCookie {
		if id, ok = p.Sessions.Identify(ctx, token); !ok {
			if !required {
				return nil
			}
			return unauthenticated(msgNoSession, errNoSession)
		}
	} else if id, ok = t.Authenticate(token); !ok {
		// Logged (never the token: it may be a real one with a typo) by
		// whoever counts denials, rate-limited; see api.Denials.
		return unauthenticated(msgInvalid, errInvalidToken)
	}
	if fromCookie && !safeMethod(req.Method) && crossSite(req) {
		return &echo.HTTPError{Code: http.StatusForbidden, Message: msgCrossSite, Internal: errCrossSite}
	}
	c.SetRequest(req.WithContext(WithIdentity(ctx, id)))
	return nil
}

// credentials returns the token of req, or with cookies true its session
// id (empty if neither), and whether it came from the cookie; ok is false
// for an Authorization header that is not a well-formed Bearer one.
func credentials(req *http.Request, cookies bool) (token string, fromCookie, ok bool) {
	if h := req.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, tok, found := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !found || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return "", false, false
		}
		return tok, false, true
	}
	if !cookies {
		return "", false, true
	}
	if ck, err := req.Cookie(CookieName); err == nil && ck.Value != "" {
		return ck.Value, true, true
	}
	return "", false, true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite reports whether a browser says the request comes from another
// site. Clients other than browsers send no Sec-Fetch-Site and pass.
func crossSite(req *http.Request) bool {
	switch req.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}

// challenge adds the WWW-Authenticate header RFC 6750 asks of a 401,
// including those a handler returns from Check.
func challenge(c echo.Context, err error) {
	var he *echo.HTTPError
	if err == nil || !errors.As(err, &he) || he.Code != http.StatusUnauthorized || c.Response().Committed {
		return
	}
	h := c.Response().Header()
	if h.Get(echo.HeaderWWWAuthenticate) != "" {
		return
	}
	v := `Bearer realm="slipway"`
	if errors.Is(err, errInvalidToken) || errors.Is(err, errNoSession) {
		v += `, error="invalid_token", error_description="` + fmt.Sprint(he.Message) + `"`
	}
	h.Set(echo.HeaderWWWAuthenticate, v)
}

// Require answers 403 {"message": "<name> is a developer; this needs
// release-manager"} unless the identity allows need (401 if none). It goes
// after Middleware.
func Require(need Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := Check(c.Request().Context(), need); err != nil {
				challenge(c, err)
				return err
			}
			return next(c)
		}
	}
}

// Check is Require inside a handler, for when the role needed depends on the
// request (promoting into an environment that needs approval). The error
// is an *echo.HTTPError (401 or 403) to return as it is; errors.Is tells
// ErrUnauthenticated from ErrForbidden.
func Check(ctx context.Context, need Role) error {
	id, ok := FromContext(ctx)
	if !ok {
		if noTokens(ctx) {
			return unauthenticated(msgUnconfigured, errUnconfigured)
		}
		return unauthenticated(msgMissing, errMissing)
	}
	if !id.Role.Allows(need) {
		return &echo.HTTPError{
			Code:     http.StatusForbidden,
			Message:  fmt.Sprintf("%s is %s %s; this needs %s", id.Name, article(id.Role), id.Role, need),
			Internal: ErrForbidden,
		}
	}
	return nil
}

func article(r Role) string {
	if strings.HasPrefix(string(r), "a") {
		return "an"
	}
	return "a"
}
