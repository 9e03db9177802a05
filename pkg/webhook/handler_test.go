package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/webhooks"
)

// fakeRecorder is an in-memory store.Events.RecordEvent: it keeps events and
// answers redeliveries (same provider and delivery) with the first id.
type fakeRecorder struct {
	mu     sync.Mutex
	err    error
	calls  int
	events []*event.Event
}

func (f *fakeRecorder) RecordEvent(_ context.Context, ev *event.Event) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return 0, false, f.err
	}
	for _, old := range f.events {
		if old.Provider == ev.Provider && old.Delivery == ev.Delivery {
			return old.ID, true, nil
		}
	}
	ev.ID = int64(len(f.events) + 1)
	f.events = append(f.events, ev)
	return ev.ID, false, nil
}

const (
	ghSecret = "gh-secret"
	glToken  = "gl-token"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(webhooks.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type request struct {
	path    string
	headers map[string]string
	body    []byte
}

func ghRequest(t *testing.T, eventType, file string) request {
	body := fixture(t, path.Join("github", file))
	return request{"/hooks/github", map[string]string{
		"X-GitHub-Event": eventType, "X-GitHub-Delivery": "gh-1",
		"X-Hub-Signature-256": github.Sign([]byte(ghSecret), body),
	}, body}
}

func glRequest(t *testing.T, eventType, file string) request {
	return request{"/hooks/gitlab", map[string]string{
		"X-Gitlab-Event": eventType, "X-Gitlab-Event-UUID": "gl-1", "X-Gitlab-Token": glToken,
	}, fixture(t, path.Join("gitlab", file))}
}

func (r request) with(key, value string) request {
	h := map[string]string{}
	for k, v := range r.headers {
		h[k] = v
	}
	if value == "" {
		delete(h, key)
	} else {
		h[key] = value
	}
	r.headers = h
	return r
}

func do(t *testing.T, e *echo.Echo, r request) (int, Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var resp Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("answer %q is not JSON: %v", rec.Body, err)
	}
	return rec.Code, resp
}

func newServer(t *testing.T, rec Recorder, opts ...Option) (*echo.Echo, *Handler) {
	t.Helper()
	h, err := New(rec, append([]Option{WithGitHubSecret([]byte(ghSecret)), WithGitLabToken(glToken)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	h.Register(e)
	return e, h
}

var (
	ghPush = &event.Event{
		ID: 1, Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: "gh-1",
		Repo: "Codertocat/Hello-World", CloneURL: "https://github.com/Codertocat/Hello-World.git",
		WebURL: "https://github.com/Codertocat/Hello-World", DefaultBranch: "master",
		Ref: "refs/heads/master", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", BeforeSHA: event.ZeroSHA,
		Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
		CommitMessage: "Initial commit", CommitTime: time.Date(2019, 5, 15, 15, 19, 25, 0, time.UTC),
		ChangedPaths: []string{"README.md"},
	}
	ghBranchDeleted = &event.Event{
		ID: 1, Provider: event.GitHub, Kind: event.Push, Action: event.Ignore, Reason: "branch feature was deleted",
		Delivery: "gh-1", Repo: "Codertocat/Hello-World", CloneURL: "https://github.com/Codertocat/Hello-World.git",
		WebURL: "https://github.com/Codertocat/Hello-World", DefaultBranch: "master",
		Ref: "refs/heads/feature", SHA: event.ZeroSHA, BeforeSHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
		Author: "Codertocat", AuthorEmail: "21031067+Codertocat@users.noreply.github.com",
	}
	glMR = &event.Event{
		ID: 1, Provider: event.GitLab, Kind: event.MergeRequest, Action: event.Build, Delivery: "gl-1",
		Repo: "gitlabhq/gitlab-test", ProjectID: 1,
		CloneURL: "http://example.com/gitlabhq/gitlab-test.git", WebURL: "http://example.com/gitlabhq/gitlab-test",
		DefaultBranch: "master", Ref: "refs/merge-requests/1/head",
		SHA: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", BeforeSHA: "95790bf891e76fee5e1747ab589903a6a1f80f22",
		MRNumber: 1, SourceBranch: "ms-viewport", TargetBranch: "master", MRTitle: "MS-Viewport",
		Author: "user1", AuthorEmail: "user1@example.com",
		CommitMessage: "fixed readme", CommitTime: time.Date(2012, 1, 3, 21, 36, 29, 0, time.UTC),
	}
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name     string
		req      request
		storeErr error
		noSecret bool
		wantCode int
		wantResp Response
		// wantEvent is what the store got; nil means RecordEvent was not called.
		wantEvent *event.Event
		wantWake  int
	}{{
		name:      "github push is queued",
		req:       ghRequest(t, "push", "push.json"),
		wantCode:  http.StatusAccepted,
		wantResp:  Response{ID: 1},
		wantEvent: ghPush,
		wantWake:  1,
	}, {
		name:      "github branch deletion is recorded as ignored",
		req:       ghRequest(t, "push", "push-branch-deleted.json"),
		wantCode:  http.StatusAccepted,
		wantResp:  Response{ID: 1, Ignored: "branch feature was deleted"},
		wantEvent: ghBranchDeleted,
	}, {
		name:     "github bad signature",
		req:      ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", github.Sign([]byte("wrong"), []byte("x"))),
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "signature does not match the payload", Reason: ReasonBadSignature},
	}, {
		name:     "github missing signature",
		req:      ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", ""),
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "missing X-Hub-Signature-256 header", Reason: ReasonMissingSignature},
	}, {
		name:     "github secret not configured",
		req:      ghRequest(t, "push", "push.json"),
		noSecret: true,
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "github webhook secret is not configured", Reason: ReasonNotConfigured},
	}, {
		name: "github malformed JSON with a valid signature",
		req: request{"/hooks/github", map[string]string{
			"X-GitHub-Event": "push", "X-GitHub-Delivery": "gh-1",
			"X-Hub-Signature-256": github.Sign([]byte(ghSecret), []byte(`{"ref":`)),
		}, []byte(`{"ref":`)},
		wantCode: http.StatusBadRequest,
		wantResp: Response{Error: "the payload is not a usable github event", Reason: ReasonMalformedPayload},
	}, {
		name:     "github form-encoded content type",
		req:      ghRequest(t, "push", "push.json").with("Content-Type", "application/x-www-form-urlencoded"),
		wantCode: http.StatusBadRequest,
		wantResp: Response{Error: "the webhook must send application/json", Reason: ReasonBadContentType},
	}, {
		name:     "github missing delivery id",
		req:      ghRequest(t, "push", "push.json").with("X-GitHub-Delivery", ""),
		wantCode: http.StatusBadRequest,
		wantResp: Response{Error: "X-GitHub-Delivery must be 1 to 64 characters of A-Z, a-z, 0-9 and '-'", Reason: ReasonBadDeliveryHeader},
	}, {
		name:     "github unknown event is acknowledged, not recorded",
		req:      ghRequest(t, "issues", "ping.json"),
		wantCode: http.StatusOK,
		wantResp: Response{Ignored: "unsupported event"},
	}, {
		name:     "github ping",
		req:      ghRequest(t, "ping", "ping.json"),
		wantCode: http.StatusOK,
		wantResp: Response{Ignored: "ping"},
	}, {
		name:      "store failure",
		req:       ghRequest(t, "push", "push.json"),
		storeErr:  errors.New("database is locked"),
		wantCode:  http.StatusServiceUnavailable,
		wantResp:  Response{Error: "could not record the event; redeliver later"},
		wantEvent: nil,
	}, {
		name:      "gitlab merge request with new commits is queued",
		req:       glRequest(t, "Merge Request Hook", "merge_request-update-oldrev.json"),
		wantCode:  http.StatusAccepted,
		wantResp:  Response{ID: 1},
		wantEvent: glMR,
		wantWake:  1,
	}, {
		name:     "gitlab wrong token",
		req:      glRequest(t, "Merge Request Hook", "merge_request-open.json").with("X-Gitlab-Token", "nope"),
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "webhook token does not match", Reason: ReasonBadToken},
	}, {
		name:     "gitlab missing token",
		req:      glRequest(t, "Push Hook", "push.json").with("X-Gitlab-Token", ""),
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "missing X-Gitlab-Token header", Reason: ReasonMissingToken},
	}, {
		name:     "gitlab token not configured",
		req:      glRequest(t, "Push Hook", "push.json"),
		noSecret: true,
		wantCode: http.StatusUnauthorized,
		wantResp: Response{Error: "gitlab webhook token is not configured", Reason: ReasonNotConfigured},
	}, {
		name:     "gitlab unknown event",
		req:      glRequest(t, "Pipeline Hook", "push.json"),
		wantCode: http.StatusOK,
		wantResp: Response{Ignored: "unsupported event"},
	}, {
		name:     "gitlab malformed",
		req:      request{"/hooks/gitlab", glRequest(t, "Push Hook", "push.json").headers, []byte(`[1,2]`)},
		wantCode: http.StatusBadRequest,
		wantResp: Response{Error: "the payload is not a usable gitlab event", Reason: ReasonMalformedPayload},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{err: tt.storeErr}
			wakes := 0
			var opts []Option
			if tt.noSecret {
				opts = append(opts, WithGitHubSecret(nil), WithGitLabToken(""))
			}
			opts = append(opts, WithWake(func() { wakes++ }))
			e, _ := newServer(t, rec, opts...)
			code, resp := do(t, e, tt.req)
			if code != tt.wantCode {
				t.Errorf("status = %d, want %d", code, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantResp, resp); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			var got *event.Event
			if len(rec.events) > 0 {
				got = rec.events[0]
			}
			if diff := cmp.Diff(tt.wantEvent, got); diff != "" {
				t.Errorf("recorded event (-want +got):\n%s", diff)
			}
			if code == http.StatusUnauthorized && rec.calls != 0 {
				t.Errorf("store called %d times on an unauthorized request", rec.calls)
			}
			if wakes != tt.wantWake {
				t.Errorf("wake called %d times, want %d", wakes, tt.wantWake)
			}
		})
	}
}

func TestHandlerRedelivery(t *testing.T) {
	rec := &fakeRecorder{}
	wakes := 0
	e, _ := newServer(t, rec, WithWake(func() { wakes++ }))
	req := glRequest(t, "Push Hook", "push.json")
	var got []Response
	for range 2 {
		_, resp := do(t, e, req)
		got = append(got, resp)
	}
	want := []Response{{ID: 1}, {ID: 1, Duplicate: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if len(rec.events) != 1 || wakes != 1 {
		t.Errorf("%d events recorded and %d wakes, want 1 and 1", len(rec.events), wakes)
	}
}

// zeros yields n zero bytes without holding them in memory.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > z.n {
		p = p[:z.n]
	}
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

func TestHandlerBodyTooLarge(t *testing.T) {
	tests := []struct {
		name          string
		contentLength int64
	}{
		{"declared length", MaxBody + 1},
		{"chunked, no length", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			e, _ := newServer(t, rec)
			req := httptest.NewRequest(http.MethodPost, "/hooks/github", &zeros{MaxBody + 1})
			req.ContentLength = tt.contentLength
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-GitHub-Delivery", "gh-1")
			req.Header.Set("X-Hub-Signature-256", github.Sign([]byte(ghSecret), nil))
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d, want 413", w.Code)
			}
			if rec.calls != 0 {
				t.Errorf("store called %d times", rec.calls)
			}
		})
	}
}

func TestHandlerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, h := newServer(t, &fakeRecorder{}, WithRegisterer(reg))
	do(t, e, ghRequest(t, "push", "push.json"))
	do(t, e, ghRequest(t, "push", "push.json"))
	do(t, e, ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", "sha256=00"))
	do(t, e, glRequest(t, "Pipeline Hook", "push.json"))
	got := map[string]float64{
		"github/push/queued":          testutil.ToFloat64(h.m.events.WithLabelValues("github", "push", "queued")),
		"github/push/duplicate":       testutil.ToFloat64(h.m.events.WithLabelValues("github", "push", "duplicate")),
		"github/unknown/unauthorized": testutil.ToFloat64(h.m.events.WithLabelValues("github", "unknown", "unauthorized")),
		"gitlab/unknown/unsupported":  testutil.ToFloat64(h.m.events.WithLabelValues("gitlab", "unknown", "unsupported")),
	}
	want := map[string]float64{
		"github/push/queued": 1, "github/push/duplicate": 1,
		"github/unknown/unauthorized": 1, "gitlab/unknown/unsupported": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	n, err := testutil.GatherAndCount(reg, "slipway_webhook_request_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	// Series by provider and status: github 202, 200, 401 and gitlab 200.
	if n != 4 {
		t.Errorf("%d duration series, want 4", n)
	}
	if _, err := New(&fakeRecorder{}, WithRegisterer(reg)); err == nil || !strings.Contains(err.Error(), "registering") {
		t.Errorf("second registration: err = %v, want a registration error", err)
	}
}

func TestNewNilRecorder(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil): want error")
	}
}

func TestHandlerLogsStoreFailure(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	e, _ := newServer(t, &fakeRecorder{err: errors.New("database is locked")}, WithLogger(log))
	if code, _ := do(t, e, ghRequest(t, "push", "push.json")); code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", code)
	}
	out := buf.String()
	for _, want := range []string{"database is locked", "delivery=gh-1", "repo=Codertocat/Hello-World", "sha=6113728f27ae82c7b1a177c8d03f9e96e0adf246"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, ghSecret) {
		t.Errorf("log leaks the secret:\n%s", out)
	}
}

// fakeIntake records through a fakeRecorder and, for a new event, answers
// with a dispatch channel holding outcome (when set).
type fakeIntake struct {
	fakeRecorder
	outcome *event.Outcome
	handed  int
}

func (f *fakeIntake) Accept(ctx context.Context, ev *event.Event) (event.Receipt, error) {
	id, dup, err := f.RecordEvent(ctx, ev)
	if err != nil || dup || ev.Action == event.Ignore {
		return event.Receipt{ID: id, Duplicate: dup}, err
	}
	f.handed++
	done := make(chan event.Outcome, 1)
	if f.outcome != nil {
		done <- *f.outcome
	}
	return event.Receipt{ID: id, Dispatch: done}, nil
}

// With an intake, every event goes through its Accept and nothing through
// the Recorder or the wake function; its receipt makes the answer.
func TestHandlerIntake(t *testing.T) {
	type want struct {
		Codes    []int
		Handed   int
		Recorded int // through the handler's own Recorder
		Wakes    int
	}
	push := ghRequest(t, "push", "push.json")
	deleted := ghRequest(t, "push", "push-branch-deleted.json")
	tests := []struct {
		name    string
		reqs    []request
		failing bool
		want    want
	}{
		{"new event: handed over", []request{push}, false, want{Codes: []int{202}, Handed: 1}},
		{"redelivery: 200, handed once", []request{push, push}, false, want{Codes: []int{202, 200}, Handed: 1}},
		{"ignored event: recorded, not handed", []request{deleted}, false, want{Codes: []int{202}}},
		{"intake fails: 503", []request{push}, true, want{Codes: []int{503}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &fakeIntake{}
			if tt.failing {
				in.err = errors.New("disk on fire")
			}
			rec := &fakeRecorder{}
			var got want
			e, _ := newServer(t, rec, WithIntake(in), WithWake(func() { got.Wakes++ }))
			for _, r := range tt.reqs {
				code, _ := do(t, e, r)
				got.Codes = append(got.Codes, code)
			}
			got.Handed, got.Recorded = in.handed, rec.calls
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestHandlerAnswersWithTheDispatchOutcome(t *testing.T) {
	created := &event.Outcome{State: event.Dispatched, Reason: "created PipelineRun ci/hello-3f2a9c1d-1"}
	tests := []struct {
		name    string
		outcome *event.Outcome
		wait    time.Duration
		want    Response
	}{
		{"outcome within the wait: named in the answer", created, time.Second,
			Response{ID: 1, State: event.Dispatched, Detail: created.Reason}},
		{"no wait configured: answered once recorded", created, 0, Response{ID: 1}},
		{"outcome late: answered without it after the wait", nil, 20 * time.Millisecond, Response{ID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &fakeIntake{outcome: tt.outcome}
			e, _ := newServer(t, &fakeRecorder{}, WithIntake(in), WithDispatchWait(tt.wait))
			code, resp := do(t, e, ghRequest(t, "push", "push.json"))
			if code != http.StatusAccepted {
				t.Fatalf("code = %d, want 202", code)
			}
			if d := cmp.Diff(tt.want, resp); d != "" {
				t.Errorf("answer (-want +got):\n%s", d)
			}
		})
	}
}
