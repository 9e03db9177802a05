// Package client is the Go client of Slipway's REST API (/api/v1): typed
// methods over the API's wire types, bearer-token authentication, and
// errors that carry the HTTP status and the server's message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slipway-ci/slipway/pkg/api/wire"
)

// maxAnswer bounds the bytes read of one answer.
const maxAnswer = 16 << 20

// Client calls one Slipway server. Create it with New; it is safe for
// concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with "Authorization: Bearer
// token". Default: none; the server then answers reads it leaves open and
// 401 for the rest.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sends the requests through h. Default: an http.Client
// without a timeout, since FollowRun streams for as long as a build runs;
// bound calls with their context.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client of the server at baseURL (scheme://host[/prefix]).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an answer other than 2xx (and 422 with a refused promotion).
type Error struct {
	// StatusCode is the HTTP status, e.g. 401, 403, 404.
	StatusCode int
	// Message is the server's reason.
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.StatusCode) }

// StatusCode returns the HTTP status of err if it is (or wraps) an *Error,
// else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// do sends body (if any) as JSON with hdr and decodes the answer into
// out. accept lists the non-2xx codes that are answers, not errors.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, hdr http.Header, body, out any, accept ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, query, rd)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, a := range accept {
		ok = ok || resp.StatusCode == a
	}
	if !ok {
		return resp.StatusCode, answerError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func (c *Client) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// answerError reads the server's {"message": …}, else its text.
func answerError(code int, data []byte) *Error {
	var m wire.Error
	if json.Unmarshal(data, &m) != nil || m.Message == "" {
		m.Message = strings.TrimSpace(string(data))
	}
	if m.Message == "" {
		m.Message = http.StatusText(code)
	}
	return &Error{StatusCode: code, Message: m.Message}
}

// runPath is /runs/{namespace}/{name} of id "namespace/name".
func runPath(id string) (string, error) {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", fmt.Errorf("run %q: want namespace/name", id)
	}
	return "/runs/" + url.PathEscape(ns) + "/" + url.PathEscape(name), nil
}

// set adds k=v to q unless v is empty or zero.
// list GETs a list route and returns its items.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, error) {
	var l wire.List[T]
	_, err := c.do(ctx, http.MethodGet, path, q, nil, nil, &l)
	return l.Items, err
}

func set(q url.Values, k string, v any) {
	switch v := v.(type) {
	case string:
		if v != "" {
			q.Set(k, v)
		}
	case int:
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	case int64:
		if v != 0 {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
}

// EventFilter narrows ListEvents; zero fields match everything (Limit 0
// is the server's default, 50).
type EventFilter struct {
	Repo  string
	State string
	Limit int
}

// ListEvents lists recorded webhook events, newest first.
func (c *Client) ListEvents(ctx context.Context, f EventFilter) ([]wire.Event, error) {
	q := url.Values{}
	set(q, "repo", f.Repo)
	set(q, "state", f.State)
	set(q, "limit", f.Limit)
	return list[wire.Event](ctx, c, "/api/v1/events", q)
}

// RunFilter narrows ListRuns; zero fields match everything.
type RunFilter struct {
	Repo  string
	Ref   string
	State string
	MR    int
	Limit int
}

// ListRuns lists the runs Slipway started, newest first.
func (c *Client) ListRuns(ctx context.Context, f RunFilter) ([]wire.Run, error) {
	q := url.Values{}
	set(q, "repo", f.Repo)
	set(q, "ref", f.Ref)
	set(q, "state", f.State)
	set(q, "mr", f.MR)
	set(q, "limit", f.Limit)
	return list[wire.Run](ctx, c, "/api/v1/runs", q)
}

// GetRun reads run id ("namespace/name").
func (c *Client) GetRun(ctx context.Context, id string) (*wire.Run, error) {
	p, err := runPath(id)
	if err != nil {
		return nil, err
	}
	var r wire.Run
	if _, err := c.do(ctx, http.MethodGet, "/api/v1"+p, nil, nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Rerun queues a new run of the same repo, ref and SHA as run id. The
// same idempotencyKey (8–64 letters, digits, - or _; empty for none)
// queues it once, however often it is sent.
func (c *Client) Rerun(ctx context.Context, id, idempotencyKey string) (*wire.RerunResult, error) {
	p, err := runPath(id)
	if err != nil {
		return nil, err
	}
	var hdr http.Header
	if idempotencyKey != "" {
		hdr = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	var r wire.RerunResult
	if _, err := c.do(ctx, http.MethodPost, "/api/v1"+p+"/rerun", nil, hdr, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Cancel cancels run id; Cancelled is false when it had already finished.
func (c *Client) Cancel(ctx context.Context, id string) (*wire.CancelResult, error) {
	p, err := runPath(id)
	if err != nil {
		return nil, err
	}
	var r wire.CancelResult
	if _, err := c.do(ctx, http.MethodPost, "/api/v1"+p+"/cancel", nil, nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PromotionFilter narrows ListPromotions; zero fields match everything.
type PromotionFilter struct {
	App   string
	To    string
	State string
	Limit int
}

// ListPromotions lists promotions, newest first.
func (c *Client) ListPromotions(ctx context.Context, f PromotionFilter) ([]wire.Promotion, error) {
	q := url.Values{}
	set(q, "app", f.App)
	set(q, "to", f.To)
	set(q, "state", f.State)
	set(q, "limit", f.Limit)
	return list[wire.Promotion](ctx, c, "/api/v1/promotions", q)
}

// GetPromotion reads promotion id.
func (c *Client) GetPromotion(ctx context.Context, id int64) (*wire.Promotion, error) {
	var p wire.Promotion
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/promotions/"+strconv.FormatInt(id, 10), nil, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Promote asks for a promotion. A promotion the gate refused is an
// answer, not an error: its State is "refused" with the Reason.
func (c *Client) Promote(ctx context.Context, req wire.PromoteRequest) (*wire.Promotion, error) {
	return c.promotion(ctx, http.MethodPost, "/api/v1/promotions", req, http.StatusUnprocessableEntity)
}

// Rollback asks for the previous distinct digest of app in env.
func (c *Client) Rollback(ctx context.Context, app, env string) (*wire.Promotion, error) {
	return c.promotion(ctx, http.MethodPost, "/api/v1/apps/"+url.PathEscape(app)+"/rollback", wire.RollbackRequest{Env: env}, http.StatusUnprocessableEntity)
}

// Approve approves promotion id (release-manager and above).
func (c *Client) Approve(ctx context.Context, id int64) (*wire.Promotion, error) {
	return c.promotion(ctx, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/approve", id), nil)
}

// Abort aborts promotion id; a rollout in progress rolls back.
func (c *Client) Abort(ctx context.Context, id int64) (*wire.Promotion, error) {
	return c.promotion(ctx, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/abort", id), nil)
}

// Continue moves promotion id's canary, paused "manual", to its next step.
func (c *Client) Continue(ctx context.Context, id int64) (*wire.Promotion, error) {
	return c.promotion(ctx, http.MethodPost, fmt.Sprintf("/api/v1/promotions/%d/continue", id), nil)
}

func (c *Client) promotion(ctx context.Context, method, path string, body any, accept ...int) (*wire.Promotion, error) {
	var p wire.Promotion
	if _, err := c.do(ctx, method, path, nil, nil, body, &p, accept...); err != nil {
		return nil, err
	}
	return &p, nil
}

// DeleteApp removes app from every environment and forgets its history
// (admin); see RetireApp for what went where.
func (c *Client) DeleteApp(ctx context.Context, app string) error {
	_, err := c.RetireApp(ctx, app, false)
	return err
}

// RetireApp deletes app from every cluster of every environment and
// forgets its history (admin); dryRun deletes nothing and answers what
// would go. It waits for the deploy runs. When a cluster's run failed,
// the answer comes with a *RetirementError (HTTP 502) naming them.
func (c *Client) RetireApp(ctx context.Context, app string, dryRun bool) (*wire.Retirement, error) {
	q := url.Values{}
	if dryRun {
		q.Set("dryRun", "true")
	}
	var r wire.Retirement
	code, err := c.do(ctx, http.MethodDelete, "/api/v1/apps/"+url.PathEscape(app), q, nil, nil, &r, http.StatusBadGateway)
	if err != nil {
		return nil, err
	}
	if code == http.StatusBadGateway {
		return &r, &RetirementError{Retirement: &r}
	}
	return &r, nil
}

// RetirementError: some clusters' runs failed; Retirement says which and
// what the others deleted.
type RetirementError struct{ Retirement *wire.Retirement }

func (e *RetirementError) Error() string {
	var failed []string
	for _, c := range e.Retirement.Clusters {
		if c.Error != "" {
			failed = append(failed, c.Env+"/"+c.Cluster+": "+c.Error)
		}
	}
	return fmt.Sprintf("retiring %s failed in %s", e.Retirement.App, strings.Join(failed, "; "))
}

// Orphans asks for the orphan report (release-manager and above); it
// waits for the listing runs. When one failed, the report comes with a
// *RetirementError naming the clusters.
func (c *Client) Orphans(ctx context.Context) (*wire.OrphanReport, error) {
	var r wire.OrphanReport
	code, err := c.do(ctx, http.MethodGet, "/api/v1/orphans", nil, nil, nil, &r, http.StatusBadGateway)
	if err != nil {
		return nil, err
	}
	if code == http.StatusBadGateway {
		return &r, &RetirementError{Retirement: &wire.Retirement{App: "the orphan report", Clusters: r.Clusters}}
	}
	return &r, nil
}

// RemovedApps lists apps with deployments recorded that the release
// config no longer lists, and whether they are pending, being retired or
// failed to be.
func (c *Client) RemovedApps(ctx context.Context) ([]wire.RemovedApp, error) {
	return list[wire.RemovedApp](ctx, c, "/api/v1/apps/retired", nil)
}

// AuditFilter narrows Audit; zero fields match everything.
type AuditFilter struct {
	App         string
	Actor       string
	PromotionID int64
	Limit       int
}

// Audit lists the audit log, newest first.
func (c *Client) Audit(ctx context.Context, f AuditFilter) ([]wire.AuditEntry, error) {
	q := url.Values{}
	set(q, "app", f.App)
	set(q, "actor", f.Actor)
	set(q, "promotion", f.PromotionID)
	set(q, "limit", f.Limit)
	return list[wire.AuditEntry](ctx, c, "/api/v1/audit", q)
}

// NotificationFilter narrows ListNotifications; zero fields match everything.
type NotificationFilter struct {
	RunID string
	State string
	Limit int
}

// ListNotifications lists notification deliveries, newest first.
func (c *Client) ListNotifications(ctx context.Context, f NotificationFilter) ([]wire.Notification, error) {
	q := url.Values{}
	set(q, "run", f.RunID)
	set(q, "state", f.State)
	set(q, "limit", f.Limit)
	return list[wire.Notification](ctx, c, "/api/v1/notifications", q)
}

// PolicyCheck reads the dependency policy outcome of an image digest
// ("sha256:…") as the CI run's policy step recorded it.
func (c *Client) PolicyCheck(ctx context.Context, digest string) (*wire.PolicyCheck, error) {
	var p wire.PolicyCheck
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/images/"+url.PathEscape(digest)+"/policy", nil, nil, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
