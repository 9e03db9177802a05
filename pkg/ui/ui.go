// Package ui serves Slipway's web UI: the runs and events lists and the
// run page with its live timeline and step logs. Pages are rendered on the
// server (html/template), so they read without JavaScript; a little plain
// JavaScript (static/app.js) follows a running build over Server-Sent
// Events.
package ui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	versioned "github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
)

//go:embed templates static
var assets embed.FS

// Reader is the part of the store the pages list and show.
type Reader interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]event.Event, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]run.Run, error)
	GetRun(ctx context.Context, id string) (*run.Run, error)
	// GetEvent names who pushed a run's event.
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

// Recorder records the synthetic event of a re-run, copied from the event
// that started the run, so the re-run is durable and goes through the
// dispatcher like any push.
type Recorder interface {
	RecordEvent(ctx context.Context, ev *event.Event) (id int64, duplicate bool, err error)
	GetEvent(ctx context.Context, id int64) (*event.Event, error)
}

// Viewer is the signed-in user as the pages see them.
type Viewer struct {
	Name string
	// CanAct allows re-running and cancelling (developer role and above).
	CanAct bool
}

// Auth plugs the server's authentication into the UI.
type Auth struct {
	// Identify reads the caller's token (Bearer header) or session (the
	// slipway_session cookie) into the request's context and lets
	// anonymous callers through.
	Identify echo.MiddlewareFunc
	// Require refuses callers who may not re-run or cancel.
	Require echo.MiddlewareFunc
	// Viewer returns the caller Identify found in ctx.
	Viewer func(ctx context.Context) (Viewer, bool)
	// SignIn checks an API token and starts a session; session is the
	// cookie's value (never the token). ok false: the token is not valid.
	SignIn func(ctx context.Context, token string) (session string, ok bool, err error)
	// SignOut ends a session.
	SignOut func(ctx context.Context, session string) error
	// SessionTTL is how long the cookie lives; the server's session
	// decides. Default 12h.
	SessionTTL time.Duration
	// PublicRead lets anonymous visitors read every page; by default a
	// page asks them to sign in and a stream answers 401.
	PublicRead bool
	// Denied, when set, is told of every failed sign-in (counted and
	// logged by the server; nothing is stored).
	Denied func(c echo.Context, reason string)
	// Throttle, when set, goes before the sign-in form's handler (the
	// server's per-client rate limit).
	Throttle echo.MiddlewareFunc
}

// CookieName is the cookie the sign-in form sets: a session id.
const CookieName = "slipway_session"

// UI holds the pages' dependencies. Create it with New.
type UI struct {
	st        Reader
	logs      store.RunLogs
	rec       Recorder
	tekton    versioned.Interface
	kube      kubernetes.Interface
	namespace string

	auth      *Auth
	notes     store.Notifications
	insights  Insights
	policy    PolicyChecks
	tests     TestReports
	publicURL *url.URL
	web       map[event.Provider]string
	wake      func()
	prov      *provenanceCache
	poll      time.Duration
	logCap    int
	clock     clock.PassiveClock
	tmpl      *template.Template
	// stop ends the streams: a shutdown must not wait for open pages.
	stop context.Context
	// prCache and trCache, when set, serve PipelineRuns and TaskRuns
	// from a watch.
	prCache PipelineRunCache
	trCache TaskRunCache
	streams *streamSlots
}

// PipelineRunCache serves Slipway's PipelineRuns from a watch, so open run
// pages (each re-read every second) do not read them from the API server;
// *report.Reporter is one. ok false: it cannot answer, ask the API.
type PipelineRunCache interface {
	CachedPipelineRun(ns, name string) (pr *pipelinev1.PipelineRun, ok bool)
}

// TaskRunCache does the same for a PipelineRun's TaskRuns; *Collector is one.
type TaskRunCache interface {
	CachedTaskRuns(ns, pipelineRun string) (trs []pipelinev1.TaskRun, ok bool)
}

// WithRunCache makes the run pages read PipelineRuns from prs and TaskRuns
// from trs whenever they can answer (either may be nil). Default: a GET
// and a LIST per page refresh.
func WithRunCache(prs PipelineRunCache, trs TaskRunCache) Option {
	return func(u *UI) error { u.prCache, u.trCache = prs, trs; return nil }
}

// Option configures the UI.
type Option func(*UI) error

// WithAuth enables sign-in and the re-run and cancel buttons. Without it
// the pages are read-only.
func WithAuth(a Auth) Option {
	return func(u *UI) error {
		if a.Identify == nil || a.Require == nil || a.Viewer == nil || a.SignIn == nil || a.SignOut == nil {
			return errors.New("auth: Identify, Require, Viewer, SignIn and SignOut are all required")
		}
		if a.SessionTTL <= 0 {
			a.SessionTTL = 12 * time.Hour
		}
		u.auth = &a
		return nil
	}
}

// WithNotifications shows each run's notifications on its page and lists
// them at /notifications (linked from the navigation). Default: neither.
func WithNotifications(n store.Notifications) Option {
	return func(u *UI) error { u.notes = n; return nil }
}

// WithRecorder enables re-runs. Default: none, no re-run button.
// PolicyChecks reads the dependency policy's outcome of an image digest.
type PolicyChecks interface {
	PolicyCheck(ctx context.Context, digest string) (*run.PolicyCheck, error)
}

// WithPolicyChecks shows each run's dependency policy outcome on its page.
// Default: not shown (a failure still shows in the run's message).
func WithPolicyChecks(p PolicyChecks) Option { return func(u *UI) error { u.policy = p; return nil } }

func WithRecorder(r Recorder) Option { return func(u *UI) error { u.rec = r; return nil } }

// WithWake is called after a re-run's event is recorded, to wake the
// dispatcher. Default: none (the dispatcher's poll finds it).
func WithWake(f func()) Option { return func(u *UI) error { u.wake = f; return nil } }

// WithPublicURL is the URL users reach Slipway at; form posts must come
// from its origin (or the request's own host). Default: the request's host only.
func WithPublicURL(s string) Option {
	return func(u *UI) error {
		if s == "" {
			return nil
		}
		p, err := url.Parse(s)
		if err != nil || p.Host == "" {
			return fmt.Errorf("public URL %q: want scheme://host", s)
		}
		u.publicURL = p
		return nil
	}
}

// WithSCMAPIURLs sets the GitHub and GitLab API URLs (empty for github.com
// and gitlab.com); commit and merge request links point at their hosts.
func WithSCMAPIURLs(github, gitlab string) Option {
	return func(u *UI) error {
		u.web[event.GitHub] = webBase(event.GitHub, github)
		u.web[event.GitLab] = webBase(event.GitLab, gitlab)
		return nil
	}
}

// WithRegistryOptions sets how image provenance is read: registries
// reached over plain HTTP and remote options (auth, transport).
// Default: HTTPS, anonymous.
func WithRegistryOptions(insecure []string, opts ...remote.Option) Option {
	return func(u *UI) error { u.prov = newProvenanceCache(insecure, opts...); return nil }
}

// WithPollInterval is how often a live run page's stream re-reads the
// PipelineRun and its TaskRuns. Default: one second.
func WithPollInterval(d time.Duration) Option {
	return func(u *UI) error {
		if d <= 0 {
			return fmt.Errorf("poll interval %s: must be positive", d)
		}
		u.poll = d
		return nil
	}
}

// WithLogCap bounds the bytes of each step log read at request time (the
// tail is kept). Default: steplog.DefaultLogCap.
func WithLogCap(n int) Option {
	return func(u *UI) error {
		if n <= 0 {
			return fmt.Errorf("log cap %d: must be positive", n)
		}
		u.logCap = n
		return nil
	}
}

// WithShutdown ends every stream when ctx is done, so a server shutting
// down does not wait for open run pages (browsers reconnect elsewhere).
// Default: streams end with their requests only.
func WithShutdown(ctx context.Context) Option { return func(u *UI) error { u.stop = ctx; return nil } }

// WithStreamLimits caps the live streams (SSE) open at once per client
// address and in total; beyond, 429 with Retry-After. Default: 8 per
// client, 512 in total.
func WithStreamLimits(perClient, total int) Option {
	return func(u *UI) error {
		if perClient < 1 || total < perClient {
			return fmt.Errorf("stream limits %d per client, %d in total: want 1 ≤ per client ≤ total", perClient, total)
		}
		u.streams = newStreamSlots(perClient, total)
		return nil
	}
}

// WithClock sets the clock of durations of running tasks. Default: the real clock.
func WithClock(c clock.PassiveClock) Option { return func(u *UI) error { u.clock = c; return nil } }

// New builds the UI over the store, the step logs and the clusters's
// clients; namespace is where the PipelineRuns run.
func New(st Reader, logs store.RunLogs, tc versioned.Interface, kc kubernetes.Interface, namespace string, opts ...Option) (*UI, error) {
	if st == nil || logs == nil || tc == nil || kc == nil || namespace == "" {
		return nil, errors.New("ui: store, logs, clients and namespace are required")
	}
	u := &UI{st: st, logs: logs, tekton: tc, kube: kc, namespace: namespace,
		web:  map[event.Provider]string{event.GitHub: webBase(event.GitHub, ""), event.GitLab: webBase(event.GitLab, "")},
		poll: time.Second, logCap: steplog.DefaultLogCap, clock: clock.RealClock{}, prov: newProvenanceCache(nil), stop: context.Background(),
		streams: newStreamSlots(8, 512)}
	for _, o := range opts {
		if err := o(u); err != nil {
			return nil, fmt.Errorf("ui: %w", err)
		}
	}
	t, err := template.New("").Funcs(funcs(u)).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui templates: %w", err)
	}
	u.tmpl = t
	return u, nil
}

// Register adds the pages, the stream, the actions and the static assets to e.
func (u *UI) Register(e *echo.Echo) {
	static, _ := fs.Sub(assets, "static")
	e.GET("/ui/static/*", echo.WrapHandler(http.StripPrefix("/ui/static/", staticHandler(static))))

	var mw, read []echo.MiddlewareFunc
	if u.auth != nil {
		mw = append(mw, u.auth.Identify)
		read = mw
		if !u.auth.PublicRead {
			read = append(read, u.needViewer)
		}
	}
	e.GET("/", u.runsPage, read...)
	e.GET("/runs", u.runsPage, read...)
	e.GET("/events", u.eventsPage, read...)
	if u.notes != nil {
		e.GET("/notifications", u.notificationsPage, read...)
	}
	if u.insights != nil {
		e.GET("/insights", u.insightsPage, read...)
	}
	e.GET("/runs/:namespace/:name", u.runPage, read...)
	e.GET("/runs/:namespace/:name/stream", u.stream, read...)
	if u.tests != nil {
		e.GET("/runs/:namespace/:name/tests/history", u.testHistoryPage, read...)
	}
	if u.auth == nil {
		return
	}
	e.GET("/signin", u.signinPage, mw...)
	signin := []echo.MiddlewareFunc{u.checkOrigin(true)}
	if u.auth.Throttle != nil {
		signin = append([]echo.MiddlewareFunc{u.auth.Throttle}, signin...)
	}
	e.POST("/signin", u.signin, signin...)
	e.POST("/signout", u.signout, u.checkOrigin(true))
	// The buttons' forms; /api/v1 (re-run and cancel too) is pkg/api's.
	act := []echo.MiddlewareFunc{u.checkOrigin(true), u.auth.Identify, u.auth.Require}
	e.POST("/runs/:namespace/:name/cancel", u.cancelForm, act...)
	if u.rec != nil {
		e.POST("/runs/:namespace/:name/rerun", u.rerunForm, act...)
	}
}

// needViewer sends an anonymous visitor of a page to sign in first (a
// stream, which a browser cannot follow to a form, answers 401).
func (u *UI) needViewer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := u.viewer(c); ok {
			return next(c)
		}
		if strings.HasSuffix(c.Path(), "/stream") {
			return echo.NewHTTPError(http.StatusUnauthorized, "sign in to follow a run")
		}
		return c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(localPath(c.Request().URL.RequestURI())))
	}
}

// staticHandler serves the embedded assets; they change with the binary,
// so caches revalidate.
func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// viewer returns the signed-in user of the request, if any.
func (u *UI) viewer(c echo.Context) (Viewer, bool) {
	if u.auth == nil {
		return Viewer{}, false
	}
	return u.auth.Viewer(c.Request().Context())
}

// page is what every template gets next to its own data.
type page struct {
	Title    string
	Nav      string
	Viewer   Viewer
	SignedIn bool
	Auth     bool
	// Notifications links the notifications page.
	Notifications bool
	// Insights links the DORA page.
	Insights bool
	Path     string
	Data     any
}

func (u *UI) render(c echo.Context, code int, name, title, nav string, data any) error {
	v, ok := u.viewer(c)
	p := page{Title: title, Nav: nav, Viewer: v, SignedIn: ok, Auth: u.auth != nil, Notifications: u.notes != nil, Insights: u.insights != nil,
		Path: c.Request().URL.RequestURI(), Data: data}
	var b strings.Builder
	if err := u.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		return fmt.Errorf("rendering %s: %w", name, err)
	}
	h := c.Response().Header()
	// The pages load nothing from elsewhere and run only our own script:
	// log text that slipped through escaping still could not execute.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	return c.HTML(code, b.String())
}

// errorPage renders a readable error page.
func (u *UI) errorPage(c echo.Context, code int, msg string) error {
	return u.render(c, code, "error", http.StatusText(code), "", msg)
}

func itoa(n int) string { return strconv.Itoa(n) }
