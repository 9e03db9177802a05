package ui

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
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

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// RerunResult is the answer of the re-run API.
type RerunResult struct {
	EventID int64 `json:"eventId"`
	// Duplicate is true when this request (same request id) was already
	// recorded: nothing new was queued.
	Duplicate bool `json:"duplicate"`
}

// rerun records a copy of the event that started the run, with a delivery
// id made from the run and the request id: a form posted twice (double
// click, reload) queues one re-run, and the dispatcher builds it like any
// push (same repo, ref and SHA), naming its PipelineRun after the new
// delivery.
func (u *UI) rerun(c echo.Context, requestID string) (RerunResult, error) {
	ctx := c.Request().Context()
	id := c.Param("namespace") + "/" + c.Param("name")
	r, err := u.st.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return RerunResult{}, echo.NewHTTPError(http.StatusNotFound, "no run "+id)
	}
	if err != nil {
		return RerunResult{}, echo.NewHTTPError(http.StatusServiceUnavailable, "reading run: "+err.Error())
	}
	orig, err := u.rec.GetEvent(ctx, r.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return RerunResult{}, echo.NewHTTPError(http.StatusConflict, "the event that started "+id+" is no longer recorded")
	}
	if err != nil {
		return RerunResult{}, echo.NewHTTPError(http.StatusServiceUnavailable, "reading event: "+err.Error())
	}
	if requestID == "" {
		requestID = newRequestID()
	} else if !requestIDPattern.MatchString(requestID) {
		return RerunResult{}, echo.NewHTTPError(http.StatusBadRequest, "request id must be 8 to 64 letters, digits, - or _")
	}
	ev := *orig
	ev.ID, ev.State, ev.Reason, ev.Attempts, ev.LastError, ev.ReceivedAt = 0, "", "", 0, "", time.Time{}
	ev.Action, ev.Commented = event.Build, false
	// A person asked for it: a [skip ci] in the commit message must not stop it.
	ev.CommitMessage = ""
	ev.Delivery = "ui-rerun-" + requestID
	if v, ok := u.viewer(c); ok && v.Name != "" {
		ev.Delivery += "-by-" + sanitize(v.Name)
	}
	eid, dup, err := u.rec.RecordEvent(ctx, &ev)
	if err != nil {
		return RerunResult{}, echo.NewHTTPError(http.StatusServiceUnavailable, "recording the re-run: "+err.Error())
	}
	if u.wake != nil && !dup {
		u.wake()
	}
	return RerunResult{EventID: eid, Duplicate: dup}, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(s string) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func (u *UI) rerunAPI(c echo.Context) error {
	res, err := u.rerun(c, c.Request().Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	code := http.StatusAccepted
	if res.Duplicate {
		code = http.StatusOK
	}
	return c.JSON(code, res)
}

func (u *UI) rerunForm(c echo.Context) error {
	res, err := u.rerun(c, c.FormValue("request"))
	if err != nil {
		return u.formError(c, err)
	}
	r, _ := u.st.GetRun(c.Request().Context(), c.Param("namespace")+"/"+c.Param("name"))
	q := url.Values{}
	if r != nil {
		q.Set("repo", r.Repo)
	}
	_ = res
	return c.Redirect(http.StatusSeeOther, "/events?"+q.Encode())
}

// CancelResult is the answer of the cancel API.
type CancelResult struct {
	// Cancelled is false when the run had already finished.
	Cancelled bool `json:"cancelled"`
}

func (u *UI) cancel(c echo.Context) (CancelResult, error) {
	ns, name := c.Param("namespace"), c.Param("name")
	if ns != u.namespace {
		return CancelResult{}, echo.NewHTTPError(http.StatusNotFound, "no run "+ns+"/"+name)
	}
	ctx := c.Request().Context()
	pr, err := u.tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, getOpts)
	if apierrors.IsNotFound(err) || err == nil && pr.Labels[tekton.LabelManaged] != "true" {
		return CancelResult{}, echo.NewHTTPError(http.StatusNotFound, "no PipelineRun "+ns+"/"+name)
	}
	if err != nil {
		return CancelResult{}, echo.NewHTTPError(http.StatusServiceUnavailable, "reading PipelineRun: "+err.Error())
	}
	sent, err := tekton.CancelRun(ctx, u.tekton, pr)
	if err != nil {
		return CancelResult{}, echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return CancelResult{Cancelled: sent}, nil
}

func (u *UI) cancelAPI(c echo.Context) error {
	res, err := u.cancel(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (u *UI) cancelForm(c echo.Context) error {
	res, err := u.cancel(c)
	if err != nil {
		return u.formError(c, err)
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

// signin checks the token with the server's own authentication before
// setting it as an HttpOnly, SameSite=Strict cookie.
func (u *UI) signin(c echo.Context) error {
	token := strings.TrimSpace(c.FormValue("token"))
	next := localPath(c.FormValue("next"))
	if token == "" {
		return u.render(c, http.StatusBadRequest, "signin", "Sign in", "signin", signinData{Next: next, Err: "Enter an API token."})
	}
	probe := c.Request().Clone(c.Request().Context())
	probe.Header = http.Header{"Authorization": {"Bearer " + token}}
	pc := c.Echo().NewContext(probe, httptestRecorder{})
	var ok bool
	_ = u.auth.Identify(func(pc echo.Context) error {
		_, ok = u.auth.Viewer(pc.Request().Context())
		return nil
	})(pc)
	if !ok {
		return u.render(c, http.StatusUnauthorized, "signin", "Sign in", "signin", signinData{Next: next, Err: "That token is not valid."})
	}
	c.SetCookie(&http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Scheme() == "https" || u.publicURL != nil && u.publicURL.Scheme == "https", MaxAge: 12 * 3600})
	return c.Redirect(http.StatusSeeOther, next)
}

func (u *UI) signout(c echo.Context) error {
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

// httptestRecorder swallows what the probe's middleware might write.
type httptestRecorder struct{}

func (httptestRecorder) Header() http.Header         { return http.Header{} }
func (httptestRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (httptestRecorder) WriteHeader(int)             {}
