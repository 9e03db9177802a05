package ui

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/pkg/api"
)

// checkOrigin refuses cross-site posts: the cookie is SameSite=Strict, and
// a post whose Origin (or Referer) names another site is refused too.
// HTML forms must name their origin; API clients with a Bearer token send
// none, which is fine for them (no cookie rides along cross-site).
func (u *UI) checkOrigin(form bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			origin := r.Header.Get("Origin")
			if origin == "" || origin == "null" {
				if ref := r.Header.Get("Referer"); ref != "" {
					if p, err := url.Parse(ref); err == nil {
						origin = p.Scheme + "://" + p.Host
					}
				}
			}
			if origin == "" {
				if form {
					return echo.NewHTTPError(http.StatusForbidden, "cross-site check: the form post names no origin")
				}
				return next(c)
			}
			if !u.sameOrigin(r, origin) {
				return echo.NewHTTPError(http.StatusForbidden, "cross-site check: origin "+origin+" is not Slipway's")
			}
			return next(c)
		}
	}
}

func (u *UI) sameOrigin(r *http.Request, origin string) bool {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	if u.publicURL != nil && strings.EqualFold(o.Scheme, u.publicURL.Scheme) && strings.EqualFold(o.Host, u.publicURL.Host) {
		return true
	}
	return strings.EqualFold(o.Host, r.Host)
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// actions is the API's re-run and cancel, shared so a button acts exactly
// as POST /api/v1/runs/{ns}/{name}/rerun|cancel does.
func (u *UI) actions() *api.RunActions {
	var rec api.EventRecorder
	if u.rec != nil {
		rec = u.rec
	}
	return api.NewRunActions(u.st, rec, u.tekton, u.namespace, u.wake)
}

// rerunForm queues a re-run; the form's request id makes a form posted
// twice (double click, reload) queue one.
func (u *UI) rerunForm(c echo.Context) error {
	id := c.Param("namespace") + "/" + c.Param("name")
	var by string
	if v, ok := u.viewer(c); ok {
		by = v.Name
	}
	if _, err := u.actions().Rerun(c.Request().Context(), id, c.FormValue("request"), by); err != nil {
		return u.formError(c, api.HTTPError(err))
	}
	q := url.Values{}
	if r, _ := u.st.GetRun(c.Request().Context(), id); r != nil {
		q.Set("repo", r.Repo)
	}
	return c.Redirect(http.StatusSeeOther, "/events?"+q.Encode())
}

func (u *UI) cancelForm(c echo.Context) error {
	res, err := u.actions().Cancel(c.Request().Context(), c.Param("namespace"), c.Param("name"))
	if err != nil {
		return u.formError(c, api.HTTPError(err))
	}
	notice := "cancelled"
	if !res.Cancelled {
		notice = "finished"
	}
	return c.Redirect(http.StatusSeeOther, "/runs/"+url.PathEscape(c.Param("namespace"))+"/"+url.PathEscape(c.Param("name"))+"?notice="+notice)
}

// formError shows an action's error as a page rather than JSON.
func (u *UI) formError(c echo.Context, err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		return u.errorPage(c, he.Code, msg)
	}
	return err
}

type signinData struct {
	Next string
	Err  string
}

func (u *UI) signinPage(c echo.Context) error {
	return u.render(c, http.StatusOK, "signin", "Sign in", "signin", signinData{Next: localPath(c.QueryParam("next"))})
}

// signin checks the token with the server's own authentication and starts
// a session, whose id (not the token) goes in an HttpOnly, SameSite=Strict
// cookie.
func (u *UI) signin(c echo.Context) error {
	token := strings.TrimSpace(c.FormValue("token"))
	next := localPath(c.FormValue("next"))
	if token == "" {
		return u.render(c, http.StatusBadRequest, "signin", "Sign in", "signin", signinData{Next: next, Err: "Enter an API token."})
	}
	session, ok, err := u.auth.SignIn(c.Request().Context(), token)
	if err != nil {
		return u.errorPage(c, http.StatusServiceUnavailable, "Signing in failed; try again.")
	}
	if !ok {
		if u.auth.Denied != nil {
			u.auth.Denied(c, "bad-signin")
		}
		return u.render(c, http.StatusUnauthorized, "signin", "Sign in", "signin", signinData{Next: next, Err: "That token is not valid."})
	}
	c.SetCookie(&http.Cookie{Name: CookieName, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Scheme() == "https" || u.publicURL != nil && u.publicURL.Scheme == "https", MaxAge: int(u.auth.SessionTTL.Seconds())})
	return c.Redirect(http.StatusSeeOther, next)
}

// signout ends the session in the store, not only in the browser, so a
// copied cookie stops working too.
func (u *UI) signout(c echo.Context) error {
	if ck, err := c.Cookie(CookieName); err == nil && ck.Value != "" {
		if err := u.auth.SignOut(c.Request().Context(), ck.Value); err != nil {
			return u.errorPage(c, http.StatusServiceUnavailable, "Signing out failed; try again.")
		}
	}
	c.SetCookie(&http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return c.Redirect(http.StatusSeeOther, localPath(c.FormValue("next")))
}

// localPath keeps redirects on this site: p must be an absolute path with
// no host, scheme or user, else "/". Browsers drop tabs and newlines from a
// Location and read "\\" as "/", so "/\t/evil.example" or "/\\evil" would
// leave the site; any control character, "//" or "/\\" is refused, also once
// percent-decoded, since some clients decode a Location before following it.
func localPath(p string) string {
	if !isLocalPath(p) {
		return "/"
	}
	if d, err := url.PathUnescape(p); err == nil && d != p && !isLocalPath(d) {
		return "/"
	}
	return p
}

func isLocalPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || !utf8.ValidString(p) {
		return false
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && !strings.HasPrefix(u.Path, "//")
}
