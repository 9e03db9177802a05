package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const (
	shaA = "1111111111111111111111111111111111111111"
	shaB = "2222222222222222222222222222222222222222"
	ns   = "ci"
)

var runOpts = tekton.RunOptions{Namespace: ns, ImagePrefix: "registry.local:5000/team", SlipwayImage: "registry.local:5000/slipway/tools:v1"}

type harness struct {
	d     *Dispatcher
	store *memStore
	cs    *fake.Clientset
	scm   *fakeSCM
	clock *clocktesting.FakeClock
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	c := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	h := &harness{store: newMemStore(c), cs: fake.NewSimpleClientset(), scm: newFakeSCM(), clock: c}
	opts = append([]Option{WithClock(c)}, opts...)
	d, err := New(h.store, h.cs, map[event.Provider]scm.Client{event.GitHub: h.scm, event.GitLab: h.scm}, runOpts, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// No jitter, so expectations are exact.
	d.backoff.Jitter = 0
	h.d = d
	return h
}

// step claims every due event and handles them one by one.
func (h *harness) step(t *testing.T) int {
	t.Helper()
	evs, err := h.store.ClaimEvents(context.Background(), 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		h.d.Handle(context.Background(), &evs[i])
	}
	return len(evs)
}

func (h *harness) runs(t *testing.T) []pipelinev1.PipelineRun {
	t.Helper()
	l, err := h.cs.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

type outcome struct {
	State    event.State
	Reason   string
	Attempts int
}

func (h *harness) outcome(id int64) outcome {
	ev := h.store.get(id)
	return outcome{State: ev.State, Reason: ev.Reason, Attempts: ev.Attempts}
}

func push(branch, sha, delivery string) event.Event {
	return event.Event{
		Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: delivery,
		Repo: "acme/web", CloneURL: "https://github.com/acme/web.git",
		Ref: "refs/heads/" + branch, SHA: sha, CommitMessage: "fix things",
	}
}

func mr(n int, sha, delivery string) event.Event {
	e := push("feature/x", sha, delivery)
	e.Kind, e.MRNumber, e.SourceBranch, e.TargetBranch = event.MergeRequest, n, "feature/x", "main"
	return e
}

func TestBuildCreatesRun(t *testing.T) {
	h := newHarness(t)
	id := h.store.add(push("main", shaA, "d1"))
	h.step(t)

	prs := h.runs(t)
	if len(prs) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(prs))
	}
	pr := prs[0]
	want := outcome{State: event.Dispatched, Reason: "created PipelineRun ci/" + pr.Name, Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	if !strings.HasPrefix(pr.Name, "web-11111111-") {
		t.Errorf("name %q, want web-11111111-<hash>", pr.Name)
	}
	params := map[string]string{}
	for _, p := range pr.Spec.Params {
		params[p.Name] = p.Value.StringVal
	}
	wantParams := map[string]string{
		"repo-url": "https://github.com/acme/web.git", "revision": shaA, "ref": "refs/heads/main",
		"app": "web", "image": "registry.local:5000/team/web", "image-tag": "11111111",
		"event-kind": "push", "mr-number": "", "slipway-image": "registry.local:5000/slipway/tools:v1",
	}
	if diff := cmp.Diff(wantParams, params); diff != "" {
		t.Errorf("params (-want +got)\n%s", diff)
	}
	wantLabels := map[string]string{
		tekton.LabelManaged: "true", tekton.LabelEventID: "1", tekton.LabelProvider: "github",
		tekton.LabelKind: "push", tekton.LabelApp: "web", tekton.LabelRepoHash: tekton.RepoHash(event.GitHub, "acme/web"),
		tekton.LabelBranchHash: tekton.BranchHash("main"), tekton.LabelSHA: shaA, tekton.LabelPipeline: "ci",
		tekton.LabelTrust: tekton.TrustTrusted,
	}
	if diff := cmp.Diff(wantLabels, pr.Labels); diff != "" {
		t.Errorf("labels (-want +got)\n%s", diff)
	}
	wantRun := run.Run{
		ID: "ci/" + pr.Name, EventID: id, Provider: event.GitHub, Kind: event.Push, Repo: "acme/web",
		App: "web", Ref: "refs/heads/main", SHA: shaA, State: run.Pending, CreatedAt: h.clock.Now(),
	}
	if diff := cmp.Diff(map[string]run.Run{wantRun.ID: wantRun}, h.store.runs); diff != "" {
		t.Errorf("recorded runs (-want +got)\n%s", diff)
	}
}

// A retry after a crash between Create and FinishEvent finds the run there.
func TestRetriedEventReusesRun(t *testing.T) {
	h := newHarness(t)
	id := h.store.add(push("main", shaA, "d1"))
	evs, _ := h.store.ClaimEvents(context.Background(), 1, time.Minute)
	h.d.Handle(context.Background(), &evs[0])
	// The same claimed event again, as after a lost FinishEvent.
	h.d.Handle(context.Background(), &evs[0])

	prs := h.runs(t)
	if len(prs) != 1 {
		t.Fatalf("%d PipelineRuns, want 1", len(prs))
	}
	want := outcome{State: event.Dispatched, Reason: "PipelineRun ci/" + prs[0].Name + " already existed", Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	if len(h.store.runs) != 1 {
		t.Errorf("%d runs recorded, want 1", len(h.store.runs))
	}
}

func TestFilters(t *testing.T) {
	tag := func(name string) event.Event {
		e := push("x", shaA, "d")
		e.Kind, e.Ref = event.Tag, "refs/tags/"+name
		return e
	}
	withPaths := func(e event.Event, paths ...string) event.Event {
		e.ChangedPaths = paths
		return e
	}
	withMsg := func(e event.Event, msg string) event.Event {
		e.CommitMessage = msg
		return e
	}
	tests := []struct {
		name   string
		config string
		ev     event.Event
		want   outcome
	}{
		{
			name: "branch", config: "branches: [main]", ev: push("feature/x", shaA, "d"),
			want: outcome{State: event.Ignored, Reason: "branch feature/x does not match branches [main]", Attempts: 1},
		},
		{
			name: "tag", config: "tags: ['v*']", ev: tag("nightly"),
			want: outcome{State: event.Ignored, Reason: "tag nightly does not match tags [v*]", Attempts: 1},
		},
		{
			name: "paths", config: "paths: ['src/**']", ev: withPaths(push("main", shaA, "d"), "README.md", "docs/a.md"),
			want: outcome{State: event.Ignored, Reason: "no changed path matches paths [src/**]", Attempts: 1},
		},
		{
			name: "ignorePaths", config: "ignorePaths: ['docs/**', '*.md']", ev: withPaths(push("main", shaA, "d"), "README.md", "docs/a.md"),
			want: outcome{State: event.Ignored, Reason: "every changed path matches ignorePaths [docs/** *.md]", Attempts: 1},
		},
		{
			name: "skip ci", ev: withMsg(push("main", shaA, "d"), "docs: typo [skip ci]"),
			want: outcome{State: event.Ignored, Reason: "commit message contains [skip ci]", Attempts: 1},
		},
		{
			name: "ci skip any case", ev: withMsg(push("main", shaA, "d"), "wip [CI SKIP]"),
			want: outcome{State: event.Ignored, Reason: "commit message contains [ci skip]", Attempts: 1},
		},
		{
			name: "merge requests are not branch-filtered", config: "branches: [main]", ev: mr(3, shaA, "d"),
			want: outcome{State: event.Dispatched, Attempts: 1},
		},
		{
			name: "unknown changed paths build", config: "paths: ['src/**']", ev: push("main", shaA, "d"),
			want: outcome{State: event.Dispatched, Attempts: 1},
		},
		{
			name: "one path outside ignorePaths builds", config: "ignorePaths: ['docs/**']", ev: withPaths(push("main", shaA, "d"), "docs/a.md", "main.go"),
			want: outcome{State: event.Dispatched, Attempts: 1},
		},
		{
			name: "matching branch and tag build", config: "branches: ['release/*']\ntags: ['v*']", ev: tag("v1.0.0"),
			want: outcome{State: event.Dispatched, Attempts: 1},
		},
		{
			name: "deleted branch", ev: push("main", event.ZeroSHA, "d"),
			want: outcome{State: event.Ignored, Reason: "the ref was deleted", Attempts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.config != "" {
				h.scm.files[shaA] = tt.config
			}
			id := h.store.add(tt.ev)
			h.step(t)
			got := h.outcome(id)
			if tt.want.State == event.Dispatched {
				got.Reason = "" // the run name is checked elsewhere
				if n := len(h.runs(t)); n != 1 {
					t.Errorf("%d PipelineRuns, want 1", n)
				}
			} else if n := len(h.runs(t)); n != 0 {
				t.Errorf("%d PipelineRuns, want none", n)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("event (-want +got)\n%s", diff)
			}
		})
	}
}

func TestBadConfigFails(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = "brnches: [main]\n"
	id := h.store.add(push("main", shaA, "d1"))
	h.step(t)
	got := h.outcome(id)
	if got.State != event.Failed || !strings.Contains(got.Reason, `unknown field "brnches"`) {
		t.Errorf("event = %+v, want failed with the parse error", got)
	}
	if n := len(h.runs(t)); n != 0 {
		t.Errorf("%d PipelineRuns, want none", n)
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantRetry time.Duration // 0: the event fails at once
	}{
		{name: "unavailable", err: apierrors.NewServiceUnavailable("apiserver down"), wantRetry: time.Second},
		{name: "timeout asks for a delay", err: apierrors.NewTimeoutError("slow", 30), wantRetry: 30 * time.Second},
		{name: "throttled", err: apierrors.NewTooManyRequests("slow down", 10), wantRetry: 10 * time.Second},
		{name: "internal", err: apierrors.NewInternalError(errors.New("etcd")), wantRetry: time.Second},
		{name: "connection refused", err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, wantRetry: time.Second},
		{name: "forbidden", err: apierrors.NewForbidden(schema.GroupResource{Group: "tekton.dev", Resource: "pipelineruns"}, "x", errors.New("RBAC"))},
		{name: "invalid", err: apierrors.NewBadRequest("admission webhook denied the request")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			broken := true
			h.cs.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
				if broken {
					return true, nil, tt.err
				}
				return false, nil, nil
			})
			id := h.store.add(push("main", shaA, "d1"))
			start := h.clock.Now()
			h.step(t)
			ev := h.store.get(id)
			if tt.wantRetry == 0 {
				if ev.State != event.Failed || !strings.Contains(ev.Reason, tt.err.Error()) {
					t.Fatalf("event = %s %q, want failed with %q", ev.State, ev.Reason, tt.err)
				}
				return
			}
			if ev.State != event.Queued || !strings.Contains(ev.LastError, tt.err.Error()) {
				t.Fatalf("event = %s, last error %q; want queued with %q", ev.State, ev.LastError, tt.err)
			}
			if got := h.store.notBefore[id].Sub(start); got != tt.wantRetry {
				t.Errorf("retry after %s, want %s", got, tt.wantRetry)
			}
			if n := h.step(t); n != 0 {
				t.Fatalf("claimed %d events before they were due", n)
			}
			broken = false
			h.clock.Step(tt.wantRetry)
			h.step(t)
			if got := h.outcome(id); got.State != event.Dispatched || got.Attempts != 2 {
				t.Errorf("after healing: %+v, want dispatched on attempt 2", got)
			}
			if n := len(h.runs(t)); n != 1 {
				t.Errorf("%d PipelineRuns, want 1", n)
			}
		})
	}
}

func TestSCMTransientRetried(t *testing.T) {
	h := newHarness(t)
	h.scm.errs = []error{&scm.TransientError{Err: errors.New("502 bad gateway"), RetryAfter: time.Minute}}
	id := h.store.add(push("main", shaA, "d1"))
	start := h.clock.Now()
	h.step(t)
	if got := h.store.get(id); got.State != event.Queued || h.store.notBefore[id].Sub(start) != time.Minute {
		t.Fatalf("event %s due at +%s, want queued, due at +1m (host's Retry-After)", got.State, h.store.notBefore[id].Sub(start))
	}
	h.clock.Step(time.Minute)
	h.step(t)
	if got := h.outcome(id); got.State != event.Dispatched {
		t.Errorf("event = %+v, want dispatched", got)
	}
	// The failed read was not cached.
	if n := h.scm.readCount(shaA); n != 2 {
		t.Errorf("ReadFile called %d times, want 2", n)
	}
}

func TestGivesUp(t *testing.T) {
	h := newHarness(t, WithMaxAttempts(3), WithBackoff(time.Second, 4*time.Second))
	h.cs.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("down")
	})
	id := h.store.add(push("main", shaA, "d1"))
	for i := 0; i < 3; i++ {
		h.step(t)
		h.clock.Step(time.Hour)
	}
	want := outcome{State: event.Failed, Attempts: 3,
		Reason: "gave up after 3 attempts: creating PipelineRun ci/" + h.runName(t, id) + ": down"}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
}

func (h *harness) runName(t *testing.T, id int64) string {
	t.Helper()
	ev := h.store.get(id)
	return tekton.RunName(tekton.AppName(ev.Repo), &ev)
}

func isCancelled(t *testing.T, h *harness, name string) bool {
	t.Helper()
	pr, err := h.cs.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled
}

func TestSupersede(t *testing.T) {
	tests := []struct {
		name          string
		config        string
		first, second event.Event
		// newerFirst handles the second (newer) event before the first.
		newerFirst    bool
		wantCancelled bool
	}{
		{name: "mr second push", first: mr(7, shaA, "d1"), second: mr(7, shaB, "d2"), wantCancelled: true},
		{name: "mr cancel off", config: "cancelInProgress: {mergeRequests: false}", first: mr(7, shaA, "d1"), second: mr(7, shaB, "d2")},
		{name: "other mr", first: mr(7, shaA, "d1"), second: mr(8, shaB, "d2")},
		{name: "same sha again", first: mr(7, shaA, "d1"), second: mr(7, shaA, "d2")},
		{name: "old event handled late", first: mr(7, shaA, "d1"), second: mr(7, shaB, "d2"), newerFirst: true},
		{name: "branch default off", first: push("main", shaA, "d1"), second: push("main", shaB, "d2")},
		{name: "branch on", config: "cancelInProgress: {branches: true}", first: push("main", shaA, "d1"), second: push("main", shaB, "d2"), wantCancelled: true},
		{name: "branch on, other branch", config: "cancelInProgress: {branches: true}", first: push("main", shaA, "d1"), second: push("dev", shaB, "d2")},
		{name: "branch push spares mr runs", config: "cancelInProgress: {branches: true}", first: mr(7, shaA, "d1"), second: push("feature/x", shaB, "d2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			// A merge request's cancel policy is the default branch's.
			h.scm.files[shaA], h.scm.files[shaB], h.scm.files["main"] = tt.config, tt.config, tt.config
			first := h.store.add(tt.first)
			second := h.store.add(tt.second)
			if tt.newerFirst {
				evs, _ := h.store.ClaimEvents(context.Background(), 2, time.Minute)
				h.d.Handle(context.Background(), &evs[1])
				h.d.Handle(context.Background(), &evs[0])
			} else {
				h.step(t) // claims and handles in id order
			}
			if got := isCancelled(t, h, h.runName(t, first)); got != tt.wantCancelled {
				t.Errorf("first run cancelled = %v, want %v", got, tt.wantCancelled)
			}
			if isCancelled(t, h, h.runName(t, second)) {
				t.Errorf("the newer run was cancelled")
			}
			if got := h.outcome(second).Reason; tt.wantCancelled != strings.HasSuffix(got, ", cancelled 1 older runs") {
				t.Errorf("reason %q, want the cancellation mentioned: %v", got, tt.wantCancelled)
			}
		})
	}
}

func TestCloseCancelsMRRuns(t *testing.T) {
	h := newHarness(t)
	a := h.store.add(mr(7, shaA, "d1"))
	b := h.store.add(mr(7, shaB, "d2"))
	other := h.store.add(mr(8, shaB, "d3"))
	// Dispatch with cancel-in-progress off so all three start running.
	h.scm.files["main"] = "cancelInProgress: {mergeRequests: false}" // the default branch decides
	h.step(t)
	// The first run finished already: it must not count.
	pr, err := h.cs.TektonV1().PipelineRuns(ns).Get(context.Background(), h.runName(t, a), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue}}}
	if _, err := h.cs.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	closed := mr(7, shaB, "d4")
	closed.Action = event.Cancel
	id := h.store.add(closed)
	h.step(t)
	want := outcome{State: event.Dispatched, Reason: "cancelled 1 runs", Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	got := map[string]bool{"a": isCancelled(t, h, h.runName(t, a)), "b": isCancelled(t, h, h.runName(t, b)), "other": isCancelled(t, h, h.runName(t, other))}
	if diff := cmp.Diff(map[string]bool{"a": false, "b": true, "other": false}, got); diff != "" {
		t.Errorf("cancelled (-want +got)\n%s", diff)
	}
}

func TestConfigReadOncePerSHA(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = "app: site"
	h.store.add(push("main", shaA, "d1"))
	h.store.add(mr(3, shaA, "d2"))
	h.store.add(push("dev", shaB, "d3"))
	h.step(t)
	got := map[string]int{shaA: h.scm.readCount(shaA), shaB: h.scm.readCount(shaB)}
	if diff := cmp.Diff(map[string]int{shaA: 1, shaB: 1}, got); diff != "" {
		t.Errorf("ReadFile calls by SHA (-want +got)\n%s", diff)
	}
	if n := len(h.runs(t)); n != 3 {
		t.Errorf("%d PipelineRuns, want 3", n)
	}
}

func TestConfigCacheEvicts(t *testing.T) {
	h := newHarness(t, WithConfigCacheSize(1))
	h.store.add(push("main", shaA, "d1"))
	h.store.add(push("main", shaB, "d2"))
	h.store.add(push("main", shaA, "d3"))
	h.step(t)
	if n := h.scm.readCount(shaA); n != 2 {
		t.Errorf("ReadFile(%s) called %d times, want 2 (evicted by the other SHA)", shaA[:8], n)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, WithMetrics(reg))
	h.store.add(push("main", shaA, "d1"))
	h.store.add(push("main", shaB, "d2"))
	skip := push("main", shaB, "d3")
	skip.CommitMessage = "[skip ci]"
	h.store.add(skip)
	h.step(t)
	if got := testutil.ToFloat64(h.d.metrics.events.WithLabelValues("dispatched")); got != 2 {
		t.Errorf("dispatched = %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.d.metrics.events.WithLabelValues("ignored")); got != 1 {
		t.Errorf("ignored = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "slipway_dispatch_latency_seconds"); err != nil || n != 1 {
		t.Errorf("latency series = %d (%v), want 1", n, err)
	}
}

// Run handles queued events on its workers and returns once ctx ends.
func TestRun(t *testing.T) {
	h := newHarness(t, WithWorkers(3), WithPollInterval(time.Hour))
	const n = 10
	h.store.finished = make(chan int64, n)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.d.Run(ctx) }()
	for i := 0; i < n; i++ {
		sha := strings.Repeat(string(rune('a'+i%6)), 40)
		h.store.add(push("main", sha, "d"+string(rune('0'+i))))
	}
	h.d.Wake() // the poll interval is an hour: only Wake gets these going
	for i := 0; i < n; i++ {
		select {
		case <-h.store.finished:
		case err := <-errc:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
			t.Fatalf("only %d of %d events finished", i, n)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := len(h.runs(t)); got != n {
		t.Errorf("%d PipelineRuns, want %d", got, n)
	}
}

// A worker reserved by the webhook counts against the limit, and an event
// handed to it is handled like a claimed one; nothing is reserved while
// Run is not running, nor while queued events wait (TestHandoffKeepsOrder).
func TestHandoff(t *testing.T) {
	h := newHarness(t, WithWorkers(2), WithPollInterval(time.Hour))
	h.store.finished = make(chan int64, 2)
	if _, ok := h.d.reserve(); ok {
		t.Fatal("reserve before Run: got a worker")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.d.Run(ctx) }()
	lease, ok := h.d.reserve()
	for !ok { // until Run has started; no timing involved
		goruntime.Gosched()
		lease, ok = h.d.reserve()
	}
	if lease != 2*time.Minute {
		t.Errorf("lease = %s, want the dispatcher's 2m0s", lease)
	}
	if _, ok := h.d.reserve(); !ok {
		t.Fatal("second reserve of 2 workers: none free")
	}
	if _, ok := h.d.reserve(); ok {
		t.Fatal("third reserve of 2 workers: got one")
	}
	// The third caller queued its event: no handover until Run's next
	// claim (woken by the free) has found the queue empty again.
	h.d.free()
	for _, ok := h.d.reserve(); !ok; _, ok = h.d.reserve() {
		goruntime.Gosched()
	}
	// The webhook records them claimed; here the fake store claims them.
	h.store.add(push("main", shaA, "d1"))
	h.store.add(push("main", shaB, "d2"))
	evs, err := h.store.ClaimEvents(ctx, 2, lease)
	if err != nil || len(evs) != 2 {
		t.Fatalf("ClaimEvents = %d, %v", len(evs), err)
	}
	var outcomes []<-chan event.Outcome
	for i := range evs {
		outcomes = append(outcomes, h.d.dispatchReserved(&evs[i], committed(&evs[i])))
	}
	for i, done := range outcomes {
		// What the webhook answers with: the run it created.
		if o := <-done; o.State != event.Dispatched || !strings.HasPrefix(o.Reason, "created PipelineRun ") {
			t.Errorf("event %d: Dispatch outcome %+v, want dispatched with the run created", evs[i].ID, o)
		}
	}
	got := map[int64]bool{}
	for range evs {
		got[<-h.store.finished] = true
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if o := h.outcome(ev.ID); !got[ev.ID] || o.State != event.Dispatched {
			t.Errorf("event %d: finished %v, outcome %+v; want dispatched", ev.ID, got[ev.ID], o)
		}
	}
	if n := len(h.runs(t)); n != 2 {
		t.Errorf("%d PipelineRuns, want 2", n)
	}
	if _, ok := h.d.reserve(); ok {
		t.Error("reserve after Run returned: got a worker")
	}
}

// Run claims when events may be queued (at start, on Wake, after a refused
// reserve), not each time a worker that was handed an event frees up: that
// claim found nothing and cost a write transaction per event.
func TestRunClaimsOnlyWhenOwed(t *testing.T) {
	tests := []struct {
		name string
		// refuse makes one reserve fail for want of a worker (the webhook
		// then queues its event) before the final Wake.
		refuse     bool
		wantClaims int
	}{
		{"handed-over events only", false, 2},     // at start, on Wake
		{"a refused reserve queues one", true, 3}, // at start, on the freed worker, on Wake
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithWorkers(2), WithPollInterval(time.Hour))
			const n = 20
			h.store.finished = make(chan int64, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- h.d.Run(ctx) }()
			// reserve waits for a free worker first: a reserve refused for
			// want of one marks the queue undrained, which would make the
			// claims counted below depend on goroutine timing.
			reserve := func() time.Duration {
				for {
					for len(h.d.slots) == cap(h.d.slots) {
						goruntime.Gosched()
					}
					if lease, ok := h.d.reserve(); ok { // refused only until Run's first claim
						return lease
					}
					goruntime.Gosched()
				}
			}
			waitClaims := func(want int) {
				for h.store.claimCalls() < want {
					goruntime.Gosched()
				}
			}
			// One event at a time on 2 workers: reserve always finds one.
			for i := range n {
				lease := reserve()
				sha := strings.Repeat(string(rune('a'+i%6)), 40)
				ev := h.store.addClaimed(push("main", sha, fmt.Sprintf("d%d", i)), lease)
				h.d.dispatchReserved(ev, committed(ev))
				<-h.store.finished
			}
			claims := 1
			if tt.refuse {
				reserve()
				reserve()
				if _, ok := h.d.reserve(); ok {
					t.Fatal("third reserve of 2 workers: got one")
				}
				h.d.free()
				h.d.free()
				claims++
				waitClaims(claims)
			}
			h.d.Wake()
			waitClaims(claims + 1)
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if got := h.store.claimCalls(); got != tt.wantClaims {
				t.Errorf("ClaimEvents called %d times, want %d", got, tt.wantClaims)
			}
			if got := len(h.runs(t)); got != n {
				t.Errorf("%d PipelineRuns, want %d", got, n)
			}
		})
	}
}

// reserve hands over only when the last claim found the queue drained,
// and a refusal for want of a worker marks the queue as holding the
// caller's event: a new event never overtakes queued ones.
func TestReserveKeepsOrder(t *testing.T) {
	tests := []struct {
		name      string
		drained   bool
		busy      int // of 2 workers
		want      bool
		wantAfter bool // drained afterwards
	}{
		{"queue drained, worker free", true, 0, true, true},
		{"events queued", false, 0, false, false},
		{"all busy: the event queues", true, 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, WithWorkers(2))
			d := h.d
			d.accepting, d.drained = true, tt.drained
			for range tt.busy {
				d.slots <- struct{}{}
			}
			if _, ok := d.reserve(); ok != tt.want {
				t.Errorf("reserve = %v, want %v", ok, tt.want)
			}
			if d.drained != tt.wantAfter {
				t.Errorf("drained = %v afterwards, want %v", d.drained, tt.wantAfter)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	st, cs := newMemStore(clocktesting.NewFakeClock(time.Time{})), fake.NewSimpleClientset()
	tests := []struct {
		name string
		run  tekton.RunOptions
		opts []Option
	}{
		{name: "no namespace", run: tekton.RunOptions{ImagePrefix: "r", SlipwayImage: "i"}},
		{name: "zero workers", run: runOpts, opts: []Option{WithWorkers(0)}},
		{name: "backoff range", run: runOpts, opts: []Option{WithBackoff(time.Minute, time.Second)}},
		{name: "zero attempts", run: runOpts, opts: []Option{WithMaxAttempts(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(st, cs, nil, tt.run, tt.opts...); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

// The default backoff: 1 s doubling to 2 min, jittered up to half again.
func TestBackoff(t *testing.T) {
	d, err := New(newMemStore(clocktesting.NewFakeClock(time.Time{})), fake.NewSimpleClientset(), nil, runOpts)
	if err != nil {
		t.Fatal(err)
	}
	exact := d.backoff
	exact.Jitter = 0
	var got []time.Duration
	for a := 1; a <= 9; a++ {
		base := retry.Delay(exact, a)
		got = append(got, base)
		if j := retry.Delay(d.backoff, a); j < base || j > base+base/2 {
			t.Errorf("attempt %d: jittered wait %s outside [%s, %s]", a, j, base, base+base/2)
		}
	}
	s := time.Second
	want := []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 120 * s, 120 * s}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waits (-want +got)\n%s", diff)
	}
}

func TestPermanentConfigErrors(t *testing.T) {
	tests := []struct {
		name       string
		provider   event.Provider
		readErr    error
		wantReason string
	}{
		{name: "host refuses", provider: event.GitHub, readErr: errors.New("401 bad credentials"), wantReason: "reading .slipway.yaml at 11111111: 401 bad credentials"},
		{name: "no client for provider", provider: "bitbucket", wantReason: `no SCM client configured for provider "bitbucket"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.readErr != nil {
				h.scm.errs = []error{tt.readErr}
			}
			ev := push("main", shaA, "d1")
			ev.Provider = tt.provider
			id := h.store.add(ev)
			h.step(t)
			want := outcome{State: event.Failed, Reason: tt.wantReason, Attempts: 1}
			if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
				t.Errorf("event (-want +got)\n%s", diff)
			}
		})
	}
}

// SIGTERM while a claim is being written: the claimed events are still
// handled before Run returns, not left leased to a stopped process.
func TestRunHandlesEventsClaimedAsShutdownBegins(t *testing.T) {
	h := newHarness(t, WithWorkers(4), WithPollInterval(time.Hour))
	h.store.finished = make(chan int64, 2)
	ids := []int64{h.store.add(push("main", shaA, "d1")), h.store.add(push("main", shaB, "d2"))}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h.store.beforeClaim = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.d.Run(ctx) }()
	<-entered
	cancel() // shutdown begins while the claim is in flight
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got := h.store.get(id).State; got != event.Dispatched {
			t.Errorf("event %d is %s after shutdown, want dispatched", id, got)
		}
	}
}

// prefetch reads the commit's .slipway.yaml while the webhook records the
// event; the worker then finds it cached and does not read it again.
func TestPrefetchReadsTheConfigOnceForTheWorker(t *testing.T) {
	h := newHarness(t)
	h.scm.files[shaA] = "branches: [main]\n"
	ev := push("main", shaA, "d1")
	h.d.prefetch(&ev)
	for h.scm.readCount(shaA) == 0 { // until the prefetch has read; no timing involved
		goruntime.Gosched()
	}
	h.store.add(ev)
	evs, err := h.store.ClaimEvents(context.Background(), 1, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("ClaimEvents = %d, %v", len(evs), err)
	}
	h.d.Handle(context.Background(), &evs[0])
	if o := h.outcome(evs[0].ID); o.State != event.Dispatched {
		t.Fatalf("outcome %+v, want dispatched", o)
	}
	if n := h.scm.readCount(shaA); n != 1 {
		t.Errorf(".slipway.yaml read %d times, want once (by the prefetch)", n)
	}

	// Events that build nothing fetch nothing: no read is even started
	// (prefetch takes a read's token before it returns).
	for len(h.d.prefetching) > 0 { // the first read's token; no timing involved
		goruntime.Gosched()
	}
	del := push("main", event.ZeroSHA, "d2")
	ign := push("main", shaB, "d3")
	ign.Action = event.Ignore
	h.d.prefetch(&del)
	h.d.prefetch(&ign)
	if n := len(h.d.prefetching); n != 0 {
		t.Errorf("deletion and ignored events started %d .slipway.yaml reads, want 0", n)
	}
}
