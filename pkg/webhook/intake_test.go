package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/scm/github"
)

// untouchable is a body that fails the test if anything reads it: what is
// refused before the body is read must not read it.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

// syncBuffer is a log sink shared by the handler and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Refusals before verification: the answer's status and reason code, the
// body not read where the refusal needs no body, nothing stored, the
// denial counted, and nothing the sender chose in the log.
func TestIntakeRefusesBeforeVerification(t *testing.T) {
	huge := strings.Repeat("A", 100<<10)
	tests := []struct {
		name       string
		req        request
		bodyUnread bool // the handler must refuse without reading the body
		length     int64
		wantCode   int
		wantReason string
		wantDenied string // slipway_auth_denied_total reason; "" = not counted
	}{
		{name: "100 KB delivery id", req: ghRequest(t, "push", "push.json").with("X-GitHub-Delivery", huge), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadDeliveryHeader},
		{name: "65-character delivery id", req: ghRequest(t, "push", "push.json").with("X-GitHub-Delivery", strings.Repeat("a", 65)), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadDeliveryHeader},
		{name: "delivery id with a newline", req: ghRequest(t, "push", "push.json").with("X-GitHub-Delivery", "a\nlevel=ERROR"), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadDeliveryHeader},
		{name: "delivery id with a space", req: glRequest(t, "Push Hook", "push.json").with("X-Gitlab-Event-UUID", "a b"), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadDeliveryHeader},
		{name: "missing delivery id", req: ghRequest(t, "push", "push.json").with("X-GitHub-Delivery", ""), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadDeliveryHeader},
		{name: "github event name not a name", req: ghRequest(t, "push; rm -rf", "push.json"), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadEventHeader},
		{name: "github event name 100 KB", req: ghRequest(t, strings.Repeat("a", 100<<10), "push.json"), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadEventHeader},
		{name: "missing github event", req: ghRequest(t, "push", "push.json").with("X-GitHub-Event", ""), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadEventHeader},
		{name: "gitlab event name not a hook", req: glRequest(t, "Push", "push.json"), bodyUnread: true,
			wantCode: 400, wantReason: ReasonBadEventHeader},
		{name: "github unsigned", req: ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", ""), bodyUnread: true,
			wantCode: 401, wantReason: ReasonMissingSignature, wantDenied: ReasonMissingSignature},
		{name: "github signature not hex", req: ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", "sha256="+huge), bodyUnread: true,
			wantCode: 401, wantReason: ReasonMalformedSignature, wantDenied: ReasonMalformedSignature},
		{name: "github sha1 signature", req: ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", "sha1=0000000000000000000000000000000000000000"), bodyUnread: true,
			wantCode: 401, wantReason: ReasonMalformedSignature, wantDenied: ReasonMalformedSignature},
		{name: "github wrong signature", req: ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", github.Sign([]byte("wrong"), nil)),
			wantCode: 401, wantReason: ReasonBadSignature, wantDenied: ReasonBadSignature},
		{name: "gitlab wrong token, body unread", req: glRequest(t, "Push Hook", "push.json").with("X-Gitlab-Token", "nope"), bodyUnread: true,
			wantCode: 401, wantReason: ReasonBadToken, wantDenied: ReasonBadToken},
		{name: "gitlab no token, body unread", req: glRequest(t, "Push Hook", "push.json").with("X-Gitlab-Token", ""), bodyUnread: true,
			wantCode: 401, wantReason: ReasonMissingToken, wantDenied: ReasonMissingToken},
		{name: "declared length over the cap", req: ghRequest(t, "push", "push.json"), bodyUnread: true, length: MaxBody + 1,
			wantCode: 413, wantReason: ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			logs := &syncBuffer{}
			reg := prometheus.NewRegistry()
			e, h := newServer(t, rec, WithLogger(slog.New(slog.NewTextHandler(logs, nil))), WithRegisterer(reg))
			var body io.Reader = bytes.NewReader(tt.req.body)
			if tt.bodyUnread {
				body = untouchable{t}
			}
			req := httptest.NewRequest(http.MethodPost, tt.req.path, body)
			req.ContentLength = int64(len(tt.req.body))
			if tt.length != 0 {
				req.ContentLength = tt.length
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tt.req.headers {
				req.Header[http.CanonicalHeaderKey(k)] = []string{v} // as sent, unchecked
			}
			w := httptest.NewRecorder()
			e.ServeHTTP(w, req)
			var resp Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatalf("answer %q: %v", w.Body, err)
			}
			if w.Code != tt.wantCode || resp.Reason != tt.wantReason {
				t.Errorf("answer %d %+v, want %d with reason %s", w.Code, resp, tt.wantCode, tt.wantReason)
			}
			if rec.calls != 0 {
				t.Errorf("store called %d times", rec.calls)
			}
			denied := 0.0
			if tt.wantDenied != "" {
				denied = 1
			}
			if got := testutil.ToFloat64(h.m.authDenied.WithLabelValues(tt.wantDenied)); got != denied {
				t.Errorf("slipway_auth_denied_total{reason=%q} = %v, want %v", tt.wantDenied, got, denied)
			}
			out := logs.String()
			if strings.Contains(out, "AAAA") || strings.Contains(out, "level=ERROR\n") || strings.Contains(out, "rm -rf") || len(out) > 512 {
				t.Errorf("the log carries what the sender chose (%d bytes):\n%.600s", len(out), out)
			}
			if !strings.Contains(out, "remote=") || !strings.Contains(out, "reason="+tt.wantReason) {
				t.Errorf("the log lacks the client address and the reason:\n%s", out)
			}
			if len(w.Body.Bytes()) > 200 {
				t.Errorf("a %d-byte answer to an unverified sender: %s", w.Body.Len(), w.Body)
			}
		})
	}
}

// signedGitHub is push.json with fields changed, signed.
func signedGitHub(t *testing.T, change func(map[string]any)) request {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(fixture(t, "github/push.json"), &doc); err != nil {
		t.Fatal(err)
	}
	change(doc)
	body, _ := json.Marshal(doc)
	return request{"/hooks/github", map[string]string{
		"X-GitHub-Event": "push", "X-GitHub-Delivery": "gh-1",
		"X-Hub-Signature-256": github.Sign([]byte(ghSecret), body),
	}, body}
}

// After verification: what names things in git and the store is checked.
func TestIntakeChecksVerifiedFields(t *testing.T) {
	repo := func(name string) func(map[string]any) {
		return func(d map[string]any) { d["repository"].(map[string]any)["full_name"] = name }
	}
	tests := []struct {
		name       string
		change     func(map[string]any)
		wantCode   int
		wantReason string
	}{
		{"as sent", func(map[string]any) {}, 202, ""},
		{"sha too short", func(d map[string]any) { d["after"] = "6113728f" }, 400, ReasonBadSHA},
		{"sha not hex", func(d map[string]any) { d["after"] = strings.Repeat("g", 40) }, 400, ReasonBadSHA},
		{"sha 900 KB", func(d map[string]any) { d["after"] = strings.Repeat("a", 900<<10) }, 400, ReasonBadSHA},
		{"sha-256 object name", func(d map[string]any) { d["after"] = strings.Repeat("ab", 32) }, 202, ""},
		{"before sha bad", func(d map[string]any) { d["before"] = "xyz" }, 400, ReasonBadSHA},
		{"ref with ..", func(d map[string]any) { d["ref"] = "refs/heads/a..b" }, 400, ReasonBadRef},
		{"ref with a space", func(d map[string]any) { d["ref"] = "refs/heads/a b" }, 400, ReasonBadRef},
		{"ref with a newline", func(d map[string]any) { d["ref"] = "refs/heads/a\nb" }, 400, ReasonBadRef},
		{"ref ending .lock", func(d map[string]any) { d["ref"] = "refs/heads/a.lock" }, 400, ReasonBadRef},
		{"ref 100 KB", func(d map[string]any) { d["ref"] = "refs/heads/" + strings.Repeat("a", 100<<10) }, 400, ReasonBadRef},
		{"repo without owner", repo("hello"), 400, ReasonBadRepo},
		{"repo nested on github", repo("a/b/c"), 400, ReasonBadRepo},
		{"repo with ..", repo("../etc"), 400, ReasonBadRepo},
		{"repo with a space", repo("a/b c"), 400, ReasonBadRepo},
		{"repo .github", repo("octo/.github"), 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			e, _ := newServer(t, rec)
			code, resp := do(t, e, signedGitHub(t, tt.change))
			if code != tt.wantCode || resp.Reason != tt.wantReason {
				t.Errorf("answer %d %+v, want %d with reason %q", code, resp, tt.wantCode, tt.wantReason)
			}
			if stored := len(rec.events); (code == 202) != (stored == 1) {
				t.Errorf("%d events stored for a %d answer", stored, code)
			}
		})
	}
}

func TestIntakeGitLabNestedGroups(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(fixture(t, "gitlab/push.json"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["project"].(map[string]any)["path_with_namespace"] = "group/sub/project"
	body, _ := json.Marshal(doc)
	rec := &fakeRecorder{}
	e, _ := newServer(t, rec)
	req := glRequest(t, "Push Hook", "push.json")
	req.body = body
	if code, resp := do(t, e, req); code != 202 || len(rec.events) != 1 || rec.events[0].Repo != "group/sub/project" {
		t.Errorf("answer %d %+v, stored %d; want 202 with group/sub/project", code, resp, len(rec.events))
	}
}

// Bodies in flight are capped across requests: one delivery holding the
// budget (a chunk while read, and its joined copy) makes the next one 503
// with Retry-After, without reading it; once it is done the budget is back.
func TestIntakeInflightBudget(t *testing.T) {
	rec := &fakeRecorder{}
	first := ghRequest(t, "push", "push.json")
	e, _ := newServer(t, rec, WithMaxInflightBytes(chunkSize+int64(len(first.body))))

	pr, pw := io.Pipe()
	req := httptest.NewRequest(http.MethodPost, first.path, pr)
	req.ContentLength = int64(len(first.body))
	for k, v := range first.headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { defer close(done); e.ServeHTTP(w, req) }()
	// Write returns once the handler read the byte: its budget is held.
	if _, err := pw.Write(first.body[:1]); err != nil {
		t.Fatal(err)
	}

	second := httptest.NewRequest(http.MethodPost, "/hooks/gitlab", untouchable{t})
	second.ContentLength = 10
	for k, v := range glRequest(t, "Push Hook", "push.json").headers {
		second.Header.Set(k, v)
	}
	w2 := httptest.NewRecorder()
	e.ServeHTTP(w2, second)
	var resp Response
	_ = json.Unmarshal(w2.Body.Bytes(), &resp)
	if w2.Code != 503 || resp.Reason != ReasonOverCapacity || w2.Header().Get("Retry-After") == "" {
		t.Errorf("second delivery: %d %+v Retry-After %q, want 503 over-capacity with Retry-After", w2.Code, resp, w2.Header().Get("Retry-After"))
	}

	if _, err := pw.Write(first.body[1:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	<-done
	if w.Code != 202 {
		t.Errorf("first delivery: %d %s, want 202", w.Code, w.Body)
	}
	if code, resp := do(t, e, glRequest(t, "Push Hook", "push.json")); code != 202 {
		t.Errorf("after the first: %d %+v, want 202 (budget given back)", code, resp)
	}
	if len(rec.events) != 2 {
		t.Errorf("%d events stored, want 2", len(rec.events))
	}
}

// A chunked body is charged as its buffer grows: past the budget it is
// refused mid-read, and the budget is whole again afterwards.
func TestIntakeChunkedOverBudget(t *testing.T) {
	rec := &fakeRecorder{}
	e, h := newServer(t, rec, WithMaxInflightBytes(1<<20))
	req := httptest.NewRequest(http.MethodPost, "/hooks/github", &zeros{4 << 20})
	req.ContentLength = -1
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "gh-1")
	req.Header.Set("X-Hub-Signature-256", github.Sign([]byte(ghSecret), nil))
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if !h.inflight.TryAcquire(1 << 20) {
		t.Error("the budget was not given back")
	}
	if rec.calls != 0 {
		t.Errorf("store called %d times", rec.calls)
	}
}

func TestIntakeMaxBodyBytes(t *testing.T) {
	rec := &fakeRecorder{}
	e, _ := newServer(t, rec, WithMaxBodyBytes(100))
	code, resp := do(t, e, ghRequest(t, "push", "push.json"))
	if code != 413 || resp.Reason != ReasonTooLarge || rec.calls != 0 {
		t.Errorf("answer %d %+v, %d store calls; want 413 too-large and none", code, resp, rec.calls)
	}
}

// Refusals of unverified senders are logged at most at the set rate; the
// rest are counted.
func TestIntakeDeniedLogIsRateLimited(t *testing.T) {
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	e, h := newServer(t, &fakeRecorder{}, WithLogger(slog.New(slog.NewTextHandler(logs, nil))), WithRegisterer(reg), WithDeniedLogRate(3))
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h.clock = clk
	bad := ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", "")
	for range 50 {
		do(t, e, bad)
	}
	clk.SetTime(clk.Now().Add(time.Second))
	for range 50 {
		do(t, e, bad)
	}
	if n := strings.Count(logs.String(), "\n"); n != 6 {
		t.Errorf("%d log lines for 100 refusals over one second at 3/s, want 6:\n%s", n, logs.String())
	}
	if got := testutil.ToFloat64(h.m.authDenied.WithLabelValues(ReasonMissingSignature)); got != 100 {
		t.Errorf("denied counter = %v, want 100", got)
	}
}

// The API registers slipway_auth_denied_total too: both share one family.
func TestAuthDeniedCounterShared(t *testing.T) {
	reg := prometheus.NewRegistry()
	theirs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "slipway_auth_denied_total", Help: AuthDeniedHelp}, []string{"reason"})
	reg.MustRegister(theirs)
	e, _ := newServer(t, &fakeRecorder{}, WithRegisterer(reg))
	do(t, e, ghRequest(t, "push", "push.json").with("X-Hub-Signature-256", ""))
	if got := testutil.ToFloat64(theirs.WithLabelValues(ReasonMissingSignature)); got != 1 {
		t.Errorf("shared counter = %v, want 1", got)
	}
}

func TestValidRef(t *testing.T) {
	tests := map[string]bool{
		"refs/heads/main": true, "refs/heads/feature/x-1": true, "refs/tags/v1.0.0": true,
		"refs/merge-requests/1/head": true, "refs/heads/a@b": true, "refs/heads/é": true,
		"": false, "main": false, "@": false, "refs/heads/": false, "/refs/heads/a": false,
		"refs//heads": false, "refs/heads/a..b": false, "refs/heads/.hidden": false,
		"refs/heads/a.lock": false, "refs/heads/a.": false, "refs/heads/a@{1}": false,
		"refs/heads/a b": false, "refs/heads/a~1": false, "refs/heads/a^": false,
		"refs/heads/a:b": false, "refs/heads/a?": false, "refs/heads/a*": false,
		"refs/heads/a[": false, "refs/heads/a\\b": false, "refs/heads/a\x00": false,
		"refs/heads/a\x7f": false, "refs/heads/a\tb": false,
	}
	got := map[string]bool{}
	for ref := range tests {
		got[ref] = ValidRef(ref)
	}
	if diff := cmp.Diff(tests, got); diff != "" {
		t.Errorf("ValidRef (-want +got)\n%s", diff)
	}
}

// FuzzHandler sends the handler arbitrary headers, content types,
// signatures and bodies. Whatever comes: the answer is JSON, never a 5xx
// but a 503 for capacity, and nothing is stored unless the signature
// verifies.
func FuzzHandler(f *testing.F) {
	push := []byte(`{"ref":"refs/heads/main","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","before":"0000000000000000000000000000000000000000","repository":{"full_name":"o/r","clone_url":"https://example.invalid/o/r.git"},"head_commit":{"id":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","message":"m"}}`)
	f.Add(true, "github", "push", "d-1", "application/json", true, push)
	f.Add(true, "github", "push", "d-1", "application/json", false, push)
	f.Add(false, "gitlab", "Push Hook", "d-2", "application/json", true, []byte(`{"object_kind":"push"}`))
	f.Add(true, "github", "ping", "x", "", true, []byte(`{}`))
	f.Add(true, "github", "push", strings.Repeat("a", 70), "text/plain", true, []byte(`{"ref":`))
	f.Add(false, "gitlab", "Merge Request Hook", "d\n", "application/json; charset=utf-8", false, []byte(`[]`))
	f.Fuzz(func(t *testing.T, gh bool, _ string, eventType, delivery, contentType string, sign bool, body []byte) {
		rec := &fakeRecorder{}
		h, err := New(rec, WithGitHubSecret([]byte(ghSecret)), WithGitLabToken(glToken), WithMaxBodyBytes(1<<16))
		if err != nil {
			t.Fatal(err)
		}
		e := echo.New()
		h.Register(e)
		path := "/hooks/gitlab"
		if gh {
			path = "/hooks/github"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		set := func(k, v string) { req.Header[http.CanonicalHeaderKey(k)] = []string{v} }
		set("Content-Type", contentType)
		if gh {
			set(github.EventHeader, eventType)
			set(github.DeliveryHeader, delivery)
			sig := github.Sign([]byte("not-the-secret"), body)
			if sign {
				sig = github.Sign([]byte(ghSecret), body)
			}
			set(github.SignatureHeader, sig)
		} else {
			set("X-Gitlab-Event", eventType)
			set("X-Gitlab-Event-UUID", delivery)
			tok := "not-the-token"
			if sign {
				tok = glToken
			}
			set("X-Gitlab-Token", tok)
		}
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		var resp Response
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer %d %q is not JSON: %v", w.Code, w.Body, err)
		}
		if w.Code >= 500 && (w.Code != 503 || resp.Reason != ReasonOverCapacity) {
			t.Fatalf("answer %d %+v", w.Code, resp)
		}
		if !sign && rec.calls != 0 {
			t.Fatalf("an unverified delivery reached the store (%d %+v)", w.Code, resp)
		}
		if rec.calls != 0 && (len(delivery) > 64 || strings.ContainsAny(delivery, " \n/")) {
			t.Fatalf("delivery %q stored", delivery)
		}
	})
}

// Every real payload in webhooks/ passes the field checks.
func TestIntakeAcceptsEveryFixture(t *testing.T) {
	gh := map[string]string{"issue_comment-retest.json": "issue_comment", "issue_comment-ok-to-test.json": "issue_comment", "ping.json": "ping", "push-branch-deleted.json": "push",
		"push-tag-deleted.json": "push", "push-tag.json": "push", "push.json": "push"}
	for _, f := range []string{"closed", "labeled", "opened", "reopened", "synchronize"} {
		gh["pull_request-"+f+".json"] = "pull_request"
	}
	gl := map[string]string{"push.json": "Push Hook", "push-branch-deleted.json": "Push Hook", "tag_push.json": "Tag Push Hook",
		"tag_push-deleted.json": "Tag Push Hook", "note-merge_request-retest.json": "Note Hook", "note-merge_request-ok-to-test.json": "Note Hook"}
	for _, f := range []string{"approved", "close", "merge", "open", "update-oldrev", "update"} {
		gl["merge_request-"+f+".json"] = "Merge Request Hook"
	}
	var reqs []request
	for f, ev := range gh {
		reqs = append(reqs, ghRequest(t, ev, f))
	}
	for f, ev := range gl {
		reqs = append(reqs, glRequest(t, ev, f))
	}
	for _, r := range reqs {
		e, _ := newServer(t, &fakeRecorder{})
		if code, resp := do(t, e, r); code >= 400 {
			t.Errorf("%s %s: %d %+v", r.path, r.headers["X-GitHub-Event"]+r.headers["X-Gitlab-Event"], code, resp)
		}
	}
}
