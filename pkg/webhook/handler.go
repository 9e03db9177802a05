// Package webhook is Slipway's intake: echo handlers that cap the body,
// verify the sender, parse the delivery and record it in the durable queue.
// Nothing else happens on the request path; the dispatcher does the work.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// MaxBody is the default largest payload accepted (WithMaxBodyBytes):
// GitHub caps deliveries at 25 MB.
const MaxBody = 25 << 20

// recordTimeout bounds the store write. The write is detached from the
// request so a sender hanging up after verification does not lose the event.
const recordTimeout = 10 * time.Second

// Recorder stores a verified event; store.Events satisfies it.
type Recorder interface {
	RecordEvent(ctx context.Context, ev *event.Event) (id int64, duplicate bool, err error)
}

// Intake takes a verified, parsed event: it records it durably and may
// hand it to dispatch at once; *dispatch.Intake is one. The receipt's
// Dispatch channel, when not nil, gets what dispatching did.
type Intake interface {
	Accept(ctx context.Context, ev *event.Event) (event.Receipt, error)
}

// queue is the Intake that only records: the dispatcher claims the event
// from the queue, woken by wake (when set).
type queue struct {
	rec  Recorder
	wake func()
}

func (q queue) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	id, dup, err := q.rec.RecordEvent(ctx, ev)
	if err == nil && !dup && ev.Action != event.Ignore && q.wake != nil {
		q.wake()
	}
	return event.Receipt{ID: id, Duplicate: dup}, err
}

// Handler serves POST /hooks/github and POST /hooks/gitlab.
type Handler struct {
	rec          Recorder
	in           Intake
	githubSecret []byte
	gitlabToken  string
	// Per-repository secrets, the allowlist and the pinned git hosts (trust.go).
	repoSecrets  map[event.Provider]map[string]string
	allowedRepos []string
	gitHosts     map[event.Provider]scm.GitHost
	wake         func()
	wait         time.Duration
	log          *slog.Logger
	reg          prometheus.Registerer
	m            *metrics

	maxBody     int64
	maxInflight int64
	inflight    *semaphore.Weighted // body bytes held, across requests
	deniedLog   *rate.Limiter       // lines about refused unverified senders
	clock       clock.PassiveClock
}

// Option configures a Handler.
type Option func(*Handler)

// WithGitHubSecret sets the secret GitHub signs deliveries with. Default:
// none, and every GitHub delivery is refused with 401.
func WithGitHubSecret(secret []byte) Option {
	return func(h *Handler) { h.githubSecret = append([]byte(nil), secret...) }
}

// WithGitLabToken sets the secret token configured on the GitLab webhook.
// Default: none, and every GitLab delivery is refused with 401.
func WithGitLabToken(token string) Option {
	return func(h *Handler) { h.gitlabToken = token }
}

// WithWake sets a function called after an event is queued, so the
// dispatcher can start at once instead of at its next poll. It must not
// block. Default: none.
func WithWake(wake func()) Option {
	return func(h *Handler) { h.wake = wake }
}

// WithIntake makes the handler record each event through in instead of
// its Recorder, so that dispatch can take a new event at once (see
// dispatch.Intake): the PipelineRun is then created with no claim round
// trip and no wake-up between the commit and the worker. WithWake's
// function is not called; in wakes its own dispatcher. Default: record
// into the Recorder given to New.
func WithIntake(in Intake) Option {
	return func(h *Handler) { h.in = in }
}

// WithDispatchWait makes the answer to an event handed to a worker (see
// WithIntake) wait up to d for what its dispatch did — the PipelineRun
// created, the filter that skipped it, the error it will be retried for —
// and say so in the body. A sender that sends its next event after the
// answer (a git host's delivery queue, a script) is then paced by
// dispatch instead of piling events up faster than they can start. Past
// d the answer goes out as usual; the event is durable either way.
// Default: 0, answer as soon as the event is recorded.
func WithDispatchWait(d time.Duration) Option {
	return func(h *Handler) { h.wait = d }
}

// WithRegisterer registers the handler's metrics there. Default: the
// metrics are kept but not registered anywhere.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(h *Handler) { h.reg = reg }
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) { h.log = l }
}

// New returns a Handler recording into rec.
func New(rec Recorder, opts ...Option) (*Handler, error) {
	if rec == nil {
		return nil, errors.New("webhook handler: nil Recorder")
	}
	h := &Handler{rec: rec, log: slog.New(slog.DiscardHandler), maxBody: MaxBody, maxInflight: DefaultMaxInflightBytes,
		deniedLog: rate.NewLimiter(5, 5), clock: clock.RealClock{}}
	for _, o := range opts {
		o(h)
	}
	if h.in == nil {
		h.in = queue{rec: rec, wake: h.wake}
	}
	if err := h.checkTrustOptions(); err != nil {
		return nil, fmt.Errorf("webhook handler: %w", err)
	}
	h.inflight = newInflight(h.maxInflight)
	m, err := newMetrics(h.reg)
	if err != nil {
		return nil, fmt.Errorf("webhook handler: %w", err)
	}
	h.m = m
	return h, nil
}

// Register adds the webhook routes to e.
func (h *Handler) Register(e *echo.Echo) {
	e.POST("/hooks/github", h.GitHub)
	e.POST("/hooks/gitlab", h.GitLab)
}

// provider is what differs between hosts on the request path.
type provider struct {
	name           event.Provider
	eventHeader    string
	deliveryHeader string
	validEvent     func(string) bool
	// precheck refuses, before the body is read, what cannot verify.
	precheck func(r *http.Request) *refusal
	// verify checks the sender over the body as read, before it is
	// joined for parsing, and says whose secret it holds.
	verify func(r *http.Request, b *body) (signer string, err error)
	parse  func(eventType, delivery string, body []byte) (*event.Event, error)
}

// GitHub handles a GitHub delivery.
func (h *Handler) GitHub(c echo.Context) error {
	return h.serve(c, provider{
		name:           event.GitHub,
		eventHeader:    github.EventHeader,
		deliveryHeader: github.DeliveryHeader,
		validEvent:     validGitHubEvent,
		precheck:       h.precheckGitHub,
		verify:         h.githubSigner,
		parse:          github.ParseWebhook,
	})
}

// GitLab handles a GitLab delivery.
func (h *Handler) GitLab(c echo.Context) error {
	return h.serve(c, provider{
		name:           event.GitLab,
		eventHeader:    gitlab.EventHeader,
		deliveryHeader: gitlab.DeliveryHeader,
		validEvent:     validGitLabEvent,
		precheck:       h.precheckGitLab,
		verify: func(r *http.Request, _ *body) (string, error) {
			return h.gitlabSigner(r.Header.Get(gitlab.TokenHeader))
		},
		parse: gitlab.ParseWebhook,
	})
}

// Response is the JSON body of every answer.
type Response struct {
	ID        int64  `json:"id,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
	Error     string `json:"error,omitempty"`
	// Reason is a short code for a refusal (the Reason* constants); the
	// detail of what went wrong is in the log, not here.
	Reason string `json:"reason,omitempty"`
	// State and Detail say what dispatch did when it finished within the
	// dispatch wait (WithDispatchWait): e.g. "dispatched" and "created
	// PipelineRun ns/name". Absent: the event is queued.
	State  event.State `json:"state,omitempty"`
	Detail string      `json:"detail,omitempty"`
}

func (h *Handler) serve(c echo.Context, p provider) error {
	start := time.Now()
	r := c.Request()
	code, resp, kind, result := h.handle(r, p)
	if code == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	h.m.events.WithLabelValues(string(p.name), kind, result).Inc()
	h.m.duration.WithLabelValues(string(p.name), strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	return c.JSON(code, resp)
}

// handle returns the status, the answer, and the kind and result labels.
func (h *Handler) handle(r *http.Request, p provider) (code int, resp Response, kind, result string) {
	const unknown = "unknown"

	// 1. Before the sender is known: headers, then whatever verifies
	// without the body, then the body within the per-request and the
	// in-flight caps. Nothing the sender chose is logged on this path.
	f := checkHeaders(r, p)
	if f == nil {
		f = p.precheck(r)
	}
	if f != nil {
		h.denied(r, p, f)
		return f.code, f.response(), unknown, f.result
	}
	raw, f := h.readBody(r)
	defer raw.release()
	if f != nil {
		h.denied(r, p, f)
		return f.code, f.response(), unknown, f.result
	}

	// 2. Verify the sender before looking at the content.
	signer, err := p.verify(r, raw)
	if err != nil {
		f := refuse(http.StatusUnauthorized, ReasonBadSignature, "unauthorized", "signature does not match the payload")
		h.denied(r, p, f)
		return f.code, f.response(), unknown, f.result
	}
	body, f := raw.join()
	if f != nil {
		return f.code, f.response(), unknown, f.result
	}
	delivery := r.Header.Get(p.deliveryHeader) // checked by checkHeaders
	log := h.log.With("provider", p.name, "delivery", delivery, "remote", r.RemoteAddr)

	// A GitHub hook left on the form-encoded content type sends
	// payload=<urlencoded JSON>; say so rather than "invalid JSON".
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
			log.Info("webhook refused: content type", "contentType", ct)
			return http.StatusBadRequest, Response{Error: "the webhook must send application/json", Reason: ReasonBadContentType}, unknown, "malformed"
		}
	}

	// 3. Parse, then check what names things in git and the store.
	ev, err := p.parse(r.Header.Get(p.eventHeader), delivery, body)
	switch {
	case errors.Is(err, scm.ErrPing):
		return http.StatusOK, Response{Ignored: "ping"}, unknown, "ignored"
	case errors.Is(err, scm.ErrUnsupportedEvent):
		return http.StatusOK, Response{Ignored: "unsupported event"}, unknown, "unsupported"
	case err != nil:
		log.Info("webhook payload rejected", "error", err)
		return http.StatusBadRequest, Response{Error: "the payload is not a usable " + string(p.name) + " event", Reason: ReasonMalformedPayload}, unknown, "malformed"
	}
	if f := checkEvent(ev); f != nil {
		log.Info("webhook payload rejected", "reason", f.reason)
		return f.code, f.response(), string(ev.Kind), f.result
	}
	kind = string(ev.Kind)
	// 4. The secret must be the repository's own; then the allowlist and
	// the pinned clone URL, whose refusals are recorded as ignored.
	if f := h.checkSigner(p.name, ev.Repo, signer); f != nil {
		h.denied(r, p, f)
		return f.code, f.response(), kind, f.result
	}
	h.admit(p.name, ev)
	log = log.With("repo", ev.Repo, "sha", ev.SHA, "kind", ev.Kind, "action", ev.Action)

	// 5. Record in the durable queue; the intake may hand the event to a
	// dispatch worker meanwhile. The answer waits for the commit either
	// way: nothing is acknowledged before it is durable.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), recordTimeout)
	defer cancel()
	rc, err := h.in.Accept(ctx, ev)
	if err != nil {
		log.Error("recording webhook event", "error", err)
		return http.StatusServiceUnavailable, Response{Error: "could not record the event; redeliver later"}, kind, "error"
	}
	log = log.With("event", rc.ID)
	if rc.Duplicate {
		log.Info("webhook redelivered")
		return http.StatusOK, Response{ID: rc.ID, Duplicate: true}, kind, "duplicate"
	}
	if ev.Action == event.Ignore {
		log.Info("webhook event ignored", "reason", ev.Reason)
		return http.StatusAccepted, Response{ID: rc.ID, Ignored: ev.Reason}, kind, "ignored"
	}
	log.Info("webhook event queued", "handed", rc.Dispatch != nil)
	resp = Response{ID: rc.ID}
	if rc.Dispatch != nil && h.wait > 0 {
		resp.State, resp.Detail = awaitOutcome(r.Context(), rc.Dispatch, h.wait)
	}
	return http.StatusAccepted, resp, kind, "queued"
}

// awaitOutcome waits up to wait for done; empty when it did not come (the
// sender hung up, or dispatch takes longer).
func awaitOutcome(ctx context.Context, done <-chan event.Outcome, wait time.Duration) (event.State, string) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o := <-done:
		return o.State, o.Reason
	case <-t.C:
	case <-ctx.Done():
	}
	return "", ""
}
