package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// memRecords is an in-memory store.Notifications that reports each final
// outcome on done.
type memRecords struct {
	mu   sync.Mutex
	next int64
	recs map[int64]store.Notification
	done chan store.Notification
	// runs are what ListRuns finds, newest first, filtered as the store does.
	runs []run.Run
}

func newMemRecords() *memRecords {
	return &memRecords{recs: map[int64]store.Notification{}, done: make(chan store.Notification, 100)}
}

func (m *memRecords) CreateNotification(_ context.Context, n *store.Notification) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	n.ID = m.next
	if n.State == "" {
		n.State = store.NotificationPending
	}
	m.recs[n.ID] = *n
	if n.State != store.NotificationPending {
		m.done <- *n
	}
	return nil
}

func (m *memRecords) UpdateNotification(_ context.Context, n *store.Notification) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[n.ID] = *n
	if n.State != store.NotificationPending {
		m.done <- *n
	}
	return nil
}

// ClaimNotifications finds nothing: the runs of these tests are queued
// by Finished. TestNotifierResumes claims from a real store.
func (m *memRecords) ClaimNotifications(context.Context, int, time.Duration) ([]store.Notification, error) {
	return nil, nil
}

func (m *memRecords) GetRun(_ context.Context, id string) (*run.Run, error) {
	return nil, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
}

func (m *memRecords) ListRuns(_ context.Context, f store.RunFilter) ([]run.Run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []run.Run
	for _, r := range m.runs {
		if r.Repo == f.Repo && r.SHA == f.SHA && r.MRNumber == f.MRNumber {
			out = append(out, r)
		}
	}
	return out, nil
}

// wait returns the next n final outcomes, sorted by channel.
func (m *memRecords) wait(t *testing.T, n int) []store.Notification {
	t.Helper()
	var out []store.Notification
	for range n {
		select {
		case r := <-m.done:
			out = append(out, r)
		case <-t.Context().Done():
			t.Fatalf("got %d of %d notification outcomes", len(out), n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel < out[j].Channel })
	return out
}

type fakeCommenter struct {
	mu   sync.Mutex
	got  []string
	errs []error
}

func (f *fakeCommenter) UpsertComment(_ context.Context, repo scm.Repo, mr int, marker, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return err
	}
	f.got = append(f.got, fmt.Sprintf("%s#%d\n%s\n%s", repo.FullName, mr, marker, body))
	return nil
}

func (f *fakeCommenter) CreateComment(context.Context, scm.Repo, int, string) error { return nil }

// hookServer answers with the given statuses in turn, then 200, and keeps
// the bodies.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	bodies   []string
}

func newHookServer(t *testing.T, statuses ...int) *hookServer {
	h := &hookServer{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies = append(h.bodies, string(b))
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", r.Header.Get("Content-Type"))
		}
		code := http.StatusOK
		if len(h.statuses) > 0 {
			code, h.statuses = h.statuses[0], h.statuses[1:]
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) posts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

func TestNotifierDelivers(t *testing.T) {
	ms := startMailServer(t, StartTLS)
	mailer, err := NewMailer(SMTPConfig{Addr: ms.addr, Username: "ci", Password: "s3cret", From: "ci@example.com", TLSConfig: &tls.Config{RootCAs: ms.ca}})
	if err != nil {
		t.Fatal(err)
	}
	generic := newHookServer(t, 503, 502) // two failures, then accepted
	slack := newHookServer(t)
	gone := newHookServer(t, 404) // permanent: not retried
	mkHook := func(url string, f ChatFormat) *Webhook {
		h, err := NewWebhook(url+"/services/T000/B000/XXXX", f, nil)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	comments := &fakeCommenter{errs: []error{&scm.TransientError{Err: io.ErrUnexpectedEOF}}}
	recs := newMemRecords()
	n, err := New(recs, func(context.Context, run.Run) Summary { return failedSummary() },
		WithEmail(mailer, []string{"team@example.com"}, true),
		WithWebhooks(mkHook(generic.URL, JSONFormat), mkHook(slack.URL, SlackFormat), mkHook(gone.URL, JSONFormat)),
		WithMRComments(map[event.Provider]scm.Commenter{event.GitHub: comments}),
		WithRetry(5, time.Second, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var slept atomic.Int64
	n.sleep = func(context.Context, time.Duration) error { slept.Add(1); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()

	n.Finished(ctx, failedRun())
	got := recs.wait(t, 5)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	subject := "[slipway] acme/web #7 failed (1a2b3c4d)"
	rec := func(channel, target string, state store.NotificationState, attempts int, lastErr string) store.Notification {
		return store.Notification{RunID: "ci/web-1a2b3c4d-abcd", Repo: "acme/web", Channel: channel, Target: target,
			Subject: subject, State: state, Attempts: attempts, LastError: lastErr}
	}
	want := []store.Notification{
		rec("email", "team@example.com, ada@example.com", store.NotificationSent, 1, ""),
		rec("mr-comment", "acme/web#7", store.NotificationSent, 2, ""),
		rec("slack", slack.URL, store.NotificationSent, 1, ""),
		rec("webhook", generic.URL, store.NotificationSent, 3, ""),
		rec("webhook", gone.URL, store.NotificationFailed, 1, "chat webhook "+gone.URL+": 404 Not Found: "),
	}
	sort.SliceStable(want, func(i, j int) bool { return want[i].Channel < want[j].Channel })
	sort.SliceStable(got, func(i, j int) bool {
		return got[i].Channel < got[j].Channel || got[i].Channel == got[j].Channel && got[i].Attempts > got[j].Attempts
	})
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Notification{}, "ID", "ClaimedUntil")); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if s := slept.Load(); s != 3 {
		t.Errorf("slept %d times between retries, want 3 (2 webhook, 1 comment)", s)
	}

	// The generic payload, as the third (accepted) post.
	posts := generic.posts()
	if len(posts) != 3 {
		t.Fatalf("generic webhook got %d posts, want 3", len(posts))
	}
	var p ChatPayload
	if err := json.Unmarshal([]byte(posts[2]), &p); err != nil {
		t.Fatal(err)
	}
	wantP := ChatPayload{
		Event: "run.finished", Run: "ci/web-1a2b3c4d-abcd", Repo: "acme/web", Provider: "github", Ref: "refs/pull/7/head",
		SHA: "1a2b3c4d5e6f", MRNumber: 7, State: "failure", Summary: subject, FailedTask: "unit-test", FailedStep: "go-test",
		LogTail: []string{"=== RUN TestCart", "--- FAIL: TestCart (0.00s)", "FAIL"}, DurationSec: 95,
		URL: "https://ci.example.com/runs/ci/web-1a2b3c4d-abcd",
	}
	if diff := cmp.Diff(wantP, p); diff != "" {
		t.Errorf("generic payload (-want +got):\n%s", diff)
	}
	var sl struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(slack.posts()[0]), &sl); err != nil {
		t.Fatal(err)
	}
	if want := subject + " <https://ci.example.com/runs/ci/web-1a2b3c4d-abcd|details>"; sl.Text != want || len(sl.Blocks) != 2 {
		t.Errorf("slack message text %q with %d blocks, want %q with 2", sl.Text, len(sl.Blocks), want)
	}
	if m := ms.messages(); len(m) != 1 || !strings.Contains(m[0].Data, "https://ci.example.com/runs/ci/web-1a2b3c4d-abcd") {
		t.Errorf("mail server got %d messages, want 1 with the link", len(m))
	}
	if len(comments.got) != 1 || !strings.HasPrefix(comments.got[0], "acme/web#7\n"+scm.CommentMarker+"\n### ❌ Slipway CI failed") {
		t.Errorf("comments %q", comments.got)
	}
}

func TestNotifierWho(t *testing.T) {
	succeeded := failedRun()
	succeeded.State = run.Succeeded
	push := failedRun()
	push.Kind, push.MRNumber, push.Ref = event.Push, 0, "refs/heads/main"
	cancelled := failedRun()
	cancelled.State = run.Canceled
	hook, _ := NewWebhook("https://chat.example.com/hook", JSONFormat, nil)
	comments := map[event.Provider]scm.Commenter{event.GitHub: &fakeCommenter{}}
	for _, tc := range []struct {
		name      string
		run       run.Run
		onSuccess bool
		want      []string
	}{
		{"failed MR", failedRun(), false, []string{"mr-comment", "webhook"}},
		{"failed push", push, false, []string{"webhook"}},
		{"succeeded MR", succeeded, false, []string{"mr-comment"}},
		{"succeeded MR, on success", succeeded, true, []string{"mr-comment", "webhook"}},
		{"cancelled MR", cancelled, true, []string{"mr-comment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(newMemRecords(), func(_ context.Context, r run.Run) Summary { return Summary{Run: r} },
				WithWebhooks(hook), WithMRComments(comments), WithOnSuccess(tc.onSuccess))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range n.dests(tc.run) {
				got = append(got, d.channel)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("channels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotifierQueueFull(t *testing.T) {
	recs := newMemRecords()
	hook, _ := NewWebhook("https://chat.example.com/hook", JSONFormat, nil)
	n, err := New(recs, func(_ context.Context, r run.Run) Summary { return Summary{Run: r} }, WithQueueSize(1), WithWebhooks(hook))
	if err != nil {
		t.Fatal(err)
	}
	// Not running: the first waits in the queue, recorded as pending; the
	// second finds the queue full and is recorded as failed.
	n.Finished(context.Background(), failedRun())
	n.Finished(context.Background(), failedRun())
	got := recs.wait(t, 1)
	if got[0].State != store.NotificationFailed || got[0].LastError != "not sent: notification queue full" || got[0].ID != 2 {
		t.Errorf("dropped run recorded as %+v", got[0])
	}
	recs.mu.Lock()
	defer recs.mu.Unlock()
	if first := recs.recs[1]; first.State != store.NotificationPending || first.ClaimedUntil.IsZero() {
		t.Errorf("queued run recorded as %+v, want pending and leased", first)
	}
}

// TestNotifierResumes: a notification queued by a notifier that stopped
// (cleanly, or crashed) is sent by the next one on the same store, once.
func TestNotifierResumes(t *testing.T) {
	shutdown := func(ctx context.Context, n *Notifier) error {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		return n.Run(ctx) // releases what is queued
	}
	for _, tc := range []struct {
		name string
		stop func(ctx context.Context, n *Notifier) error
		// stopFirst stops the first notifier before the run finishes (the
		// reporter outlived it).
		stopFirst bool
		// wait is how long the next notifier starts after the first one.
		wait time.Duration
	}{
		{"clean shutdown", shutdown, false, 0},
		{"finished after shutdown", shutdown, true, 0},
		{"crash", func(context.Context, *Notifier) error { return nil }, false, 11 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			clock := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clock))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			var records Records = st
			ciRun := failedRun()
			if err := st.CreateRun(ctx, &ciRun); err != nil {
				t.Fatal(err)
			}
			hooks := newHookServer(t)
			hook, err := NewWebhook(hooks.URL+"/hook", JSONFormat, nil)
			if err != nil {
				t.Fatal(err)
			}
			newNotifier := func() *Notifier {
				n, err := New(records, func(_ context.Context, r run.Run) Summary { return Summary{Run: r} }, WithWebhooks(hook))
				if err != nil {
					t.Fatal(err)
				}
				n.clock = clock
				return n
			}

			first := newNotifier()
			if !tc.stopFirst {
				first.Finished(ctx, ciRun)
			}
			if err := tc.stop(ctx, first); err != nil {
				t.Fatal(err)
			}
			if tc.stopFirst {
				first.Finished(ctx, ciRun)
			}
			clock.SetTime(clock.Now().Add(tc.wait))

			second := newNotifier()
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error)
			go func() { done <- second.Run(rctx) }()
			var got []store.Notification
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				got, err = st.ListNotifications(ctx, store.NotificationFilter{RunID: ciRun.ID})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0].State != store.NotificationPending || time.Now().After(deadline) {
					break
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			want := []store.Notification{{RunID: ciRun.ID, Repo: "acme/web", Channel: "webhook", Target: hooks.URL,
				Subject: "[slipway] acme/web #7 failed (1a2b3c4d)", State: store.NotificationSent, Attempts: 1}}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Notification{}, "ID", "CreatedAt", "UpdatedAt", "Claim")); diff != "" {
				t.Errorf("notifications (-want +got):\n%s", diff)
			}
			if p := hooks.posts(); len(p) != 1 {
				t.Errorf("webhook got %d posts, want 1", len(p))
			}
			// Sent is final: a third notifier finds nothing to resume.
			clock.SetTime(clock.Now().Add(time.Hour))
			if jobs := newNotifier().claim(ctx); len(jobs) != 0 {
				t.Errorf("a third notifier resumed %+v", jobs)
			}
		})
	}
}

func TestWebhookRedacts(t *testing.T) {
	h, err := NewWebhook("https://hooks.slack.com/services/T000/B000/SECRET", SlackFormat, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Target(); got != "https://hooks.slack.com" {
		t.Errorf("Target = %q", got)
	}
	// An unreachable host: the error must not carry the secret path.
	h, _ = NewWebhook("http://127.0.0.1:1/services/SECRET", JSONFormat, nil)
	err = h.Post(context.Background(), failedSummary())
	if err == nil || retry.IsTerminal(err) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("Post to a closed port: %v; want a transient error without the secret", err)
	}
	for _, bad := range []string{"", "ftp://x/y", "/relative"} {
		if _, err := NewWebhook(bad, JSONFormat, nil); err == nil {
			t.Errorf("NewWebhook(%q): want error", bad)
		}
	}
}
