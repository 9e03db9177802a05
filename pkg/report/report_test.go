package report

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const (
	ns      = "ci"
	baseURL = "https://slipway.example.com"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// newPR is a managed GitHub push PipelineRun for sha, pending.
func newPR(name, sha string, mods ...func(*pipelinev1.PipelineRun)) *pipelinev1.PipelineRun {
	pr := &pipelinev1.PipelineRun{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         ns,
			Name:              name,
			CreationTimestamp: metav1.NewTime(t0),
			Labels: map[string]string{
				tekton.LabelManaged:  "true",
				tekton.LabelProvider: "github",
				tekton.LabelKind:     "push",
				tekton.LabelApp:      "web",
				tekton.LabelSHA:      sha,
				tekton.LabelEventID:  "7",
			},
			Annotations: map[string]string{
				tekton.AnnotationRepo: "acme/web",
				tekton.AnnotationRef:  "refs/heads/main",
			},
		},
	}
	for _, m := range mods {
		m(pr)
	}
	return pr
}

func running(pr *pipelinev1.PipelineRun) {
	pr.Status.StartTime = &metav1.Time{Time: t0.Add(time.Second)}
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown,
		Reason: "Running", Message: "Tasks Completed: 0 (Failed: 0, Cancelled 0), Skipped: 0"})
}

func finished(status corev1.ConditionStatus, reason, msg string) func(*pipelinev1.PipelineRun) {
	return func(pr *pipelinev1.PipelineRun) {
		pr.Status.StartTime = &metav1.Time{Time: t0.Add(time.Second)}
		pr.Status.CompletionTime = &metav1.Time{Time: t0.Add(time.Minute)}
		pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: msg})
	}
}

var succeeded = finished(corev1.ConditionTrue, "Succeeded", "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0")

func withResults(pr *pipelinev1.PipelineRun) {
	pr.Status.Results = []pipelinev1.PipelineRunResult{
		{Name: "IMAGE_URL", Value: *pipelinev1.NewStructuredValues("registry.local/web:abc12345")},
		{Name: "IMAGE_DIGEST", Value: *pipelinev1.NewStructuredValues("sha256:0123")},
	}
}

func failedTaskRun(pr *pipelinev1.PipelineRun, task, msg string) *pipelinev1.TaskRun {
	name := pr.Name + "-" + task
	pr.Status.ChildReferences = append(pr.Status.ChildReferences, pipelinev1.ChildStatusReference{
		TypeMeta: runtime.TypeMeta{APIVersion: "tekton.dev/v1", Kind: "TaskRun"}, Name: name, PipelineTaskName: task,
	})
	// TaskRuns carry their PipelineRun's labels, Slipway's among them.
	tr := &pipelinev1.TaskRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{tekton.LabelManaged: "true"}}}
	tr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{
		Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse, Reason: "Failed", Message: msg,
	}}}
	return tr
}

// harness runs a Reporter over a fake Tekton clientset with the real
// informer, an in-memory store and fake SCM clients.
type harness struct {
	tc      *fake.Clientset
	runs    *memRuns
	github  *fakeSCM
	gitlab  *fakeSCM
	watches chan struct{}

	mu       sync.Mutex
	finished []run.Run
}

func newHarness(t *testing.T, runs *memRuns, objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{
		tc:      fake.NewSimpleClientset(objs...),
		runs:    runs,
		github:  &fakeSCM{fail: map[string][]error{}},
		gitlab:  &fakeSCM{fail: map[string][]error{}},
		watches: make(chan struct{}, 16),
	}
	// Open the watch here so the test knows when it is live: events sent
	// before the fake's watch exists would be lost.
	h.tc.PrependWatchReactor("pipelineruns", func(a k8stesting.Action) (bool, watch.Interface, error) {
		wa := a.(k8stesting.WatchActionImpl)
		w, err := h.tc.Tracker().Watch(a.GetResource(), a.GetNamespace(), wa.ListOptions)
		if err != nil {
			return true, nil, err
		}
		h.watches <- struct{}{}
		return true, w, nil
	})
	return h
}

// start runs a Reporter until the test ends and waits for its watch.
func (h *harness) start(t *testing.T, opts ...Option) *Reporter {
	t.Helper()
	return h.startWith(t, nil, opts...)
}

func (h *harness) startWith(t *testing.T, clk *testingclock.FakeClock, opts ...Option) *Reporter {
	t.Helper()
	opts = append([]Option{
		WithNamespace(ns),
		WithBaseURL(baseURL + "/"),
		WithBackoff(time.Millisecond, 10*time.Millisecond),
		WithOnFinished(func(_ context.Context, r run.Run) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.finished = append(h.finished, r)
		}),
	}, opts...)
	r, err := New(factoryOf(h.tc), h.runs, map[event.Provider]scm.Client{event.GitHub: h.github, event.GitLab: h.gitlab}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if clk != nil {
		r.clock = clk
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-h.watches:
	case err := <-done:
		t.Fatalf("Run returned before watching: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the PipelineRun watch")
	}
	return r
}

func (h *harness) create(t *testing.T, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *pipelinev1.PipelineRun:
			_, err = h.tc.TektonV1().PipelineRuns(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		case *pipelinev1.TaskRun:
			_, err = h.tc.TektonV1().TaskRuns(o.Namespace).Create(context.Background(), o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
}

func (h *harness) update(t *testing.T, pr *pipelinev1.PipelineRun) {
	t.Helper()
	if _, err := h.tc.TektonV1().PipelineRuns(pr.Namespace).Update(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating %s: %v", pr.Name, err)
	}
}

func (h *harness) finishedRuns() []run.Run {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]run.Run(nil), h.finished...)
}

// sync creates a fresh run and waits for its status. With one worker the
// queue is FIFO, so everything enqueued before it has been handled.
func (h *harness) sync(t *testing.T) {
	t.Helper()
	h.create(t, newPR("sync", "5555"))
	waitFor(t, "the sync run's status", func() bool { return len(h.github.callsFor("5555")) == 1 })
}

func status(sha string, st scm.StatusState, desc, name string) call {
	return call{
		Repo: scm.Repo{FullName: "acme/web"},
		Status: scm.Status{SHA: sha, State: st, Context: "slipway/ci", Description: desc,
			TargetURL: baseURL + "/runs/ci/" + name, Ref: "main"},
	}
}

func TestLifecycleSuccess(t *testing.T) {
	h := newHarness(t, newMemRuns())
	reg := prometheus.NewRegistry()
	r := h.start(t, WithRegisterer(reg))

	pr := newPR("web-1", "1111")
	h.create(t, pr)
	waitFor(t, "pending", func() bool { return len(h.github.callsFor("1111")) == 1 })
	running(pr)
	h.update(t, pr)
	waitFor(t, "running", func() bool { return len(h.github.callsFor("1111")) == 2 })
	succeeded(pr)
	withResults(pr)
	h.update(t, pr)
	waitFor(t, "success", func() bool { return len(h.github.callsFor("1111")) == 3 })
	waitFor(t, "the finished hook", func() bool { return len(h.finishedRuns()) == 1 })

	want := []call{
		status("1111", scm.StatePending, "Build queued", "web-1"),
		status("1111", scm.StateRunning, "Build running", "web-1"),
		status("1111", scm.StateSuccess, "Build succeeded", "web-1"),
	}
	if diff := cmp.Diff(want, h.github.callsFor("1111")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	wantRun := run.Run{
		ID: "ci/web-1", EventID: 7, Provider: event.GitHub, Kind: event.Push, Repo: "acme/web", App: "web",
		Ref: "refs/heads/main", SHA: "1111", State: run.Succeeded, Reported: run.Succeeded,
		Message:  "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0",
		ImageURL: "registry.local/web:abc12345", ImageDigest: "sha256:0123",
		CreatedAt: t0, StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(time.Minute),
	}
	got, _ := h.runs.get("ci/web-1")
	if diff := cmp.Diff(wantRun, got); diff != "" {
		t.Errorf("stored run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]run.Run{wantRun}, h.finishedRuns()); diff != "" {
		t.Errorf("finished hook (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.metrics.runs.WithLabelValues("success")); got != 1 {
		t.Errorf("slipway_runs_total{state=success} = %v, want 1", got)
	}
}

// Runs already finished when the reporter first sees them post only their
// final state.
func TestFinishedRuns(t *testing.T) {
	failed := newPR("web-2", "2222", finished(corev1.ConditionFalse, "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 2"))
	tr := failedTaskRun(failed, "unit-test", `"step-test" exited with code 1`)
	canceled := newPR("web-3", "3333", finished(corev1.ConditionFalse, "Cancelled", "PipelineRun \"web-3\" was cancelled"))
	lost := newPR("web-4", "4444", finished(corev1.ConditionFalse, "Failed", "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0"))
	lost.Status.ChildReferences = []pipelinev1.ChildStatusReference{{Name: "pruned", PipelineTaskName: "build"}}

	h := newHarness(t, newMemRuns(), failed, tr, canceled, lost)
	h.start(t)

	tests := []struct {
		sha, name   string
		want        call
		wantMessage string
	}{{
		sha: "2222", name: "web-2",
		want:        status("2222", scm.StateFailure, `unit-test (step test): exited with code 1`, "web-2"),
		wantMessage: "The step \"test\" exited with code 1.\n\nHow to fix it: run the tests locally (`slipway render --print-test-command .` prints the exact command) and fix the failing ones.",
	}, {
		sha: "3333", name: "web-3",
		want:        status("3333", scm.StateCanceled, "Build canceled", "web-3"),
		wantMessage: `PipelineRun "web-3" was cancelled`,
	}, {
		sha: "4444", name: "web-4",
		want:        status("4444", scm.StateFailure, "Build failed: Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0", "web-4"),
		wantMessage: "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			waitFor(t, "stored final state", func() bool {
				r, ok := h.runs.get("ci/" + tc.name)
				return ok && r.Reported.Terminal()
			})
			if diff := cmp.Diff([]call{tc.want}, h.github.callsFor(tc.sha)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			r, _ := h.runs.get("ci/" + tc.name)
			if diff := cmp.Diff(tc.wantMessage, r.Message); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
	waitFor(t, "finished hooks", func() bool { return len(h.finishedRuns()) == 3 })
}

func TestTransientErrorsAreRetried(t *testing.T) {
	h := newHarness(t, newMemRuns())
	reg := prometheus.NewRegistry()
	h.github.fail["6666"] = []error{
		&scm.TransientError{Err: errors.New("502 bad gateway")},
		&scm.TransientError{Err: errors.New("connection reset")},
	}
	r := h.start(t, WithRegisterer(reg))
	h.create(t, newPR("web-6", "6666", succeeded))
	waitFor(t, "reported success", func() bool {
		r, ok := h.runs.get("ci/web-6")
		return ok && r.Reported == run.Succeeded
	})
	want := []call{
		status("6666", scm.StateSuccess, "Build succeeded", "web-6"),
		status("6666", scm.StateSuccess, "Build succeeded", "web-6"),
		status("6666", scm.StateSuccess, "Build succeeded", "web-6"),
	}
	if diff := cmp.Diff(want, h.github.callsFor("6666")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.metrics.posts.WithLabelValues("github", "retry")); got != 2 {
		t.Errorf("slipway_status_posts_total{result=retry} = %v, want 2", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clk := testingclock.NewFakeClock(t0)
	h := newHarness(t, newMemRuns())
	h.github.fail["7777"] = []error{&scm.TransientError{Err: errors.New("429 rate limited"), RetryAfter: time.Hour}}
	h.startWith(t, clk, WithWorkers(1))
	h.create(t, newPR("web-7", "7777", succeeded))
	waitFor(t, "first attempt", func() bool { return len(h.github.callsFor("7777")) == 1 })

	// The backoff alone (1ms) would be due now; the host asked for an hour.
	clk.Step(59 * time.Minute)
	h.sync(t)
	if got := len(h.github.callsFor("7777")); got != 1 {
		t.Fatalf("%d attempts before Retry-After passed, want 1", got)
	}
	waitFor(t, "the retry after the hour", func() bool {
		clk.Step(time.Minute)
		return len(h.github.callsFor("7777")) == 2
	})
	waitFor(t, "reported success", func() bool {
		r, _ := h.runs.get("ci/web-7")
		return r.Reported == run.Succeeded
	})
}

func TestPermanentErrorIsRecorded(t *testing.T) {
	h := newHarness(t, newMemRuns())
	h.github.fail["8888"] = []error{errors.New("422 no commit found for SHA")}
	h.start(t, WithWorkers(1))
	pr := newPR("web-8", "8888", succeeded)
	h.create(t, pr)
	waitFor(t, "recorded error", func() bool {
		r, _ := h.runs.get("ci/web-8")
		return r.Reported == run.Succeeded
	})
	// Touch the run: a new look must not post the given-up state again.
	pr.Annotations["touched"] = "yes"
	h.update(t, pr)
	h.sync(t)

	if got := len(h.github.callsFor("8888")); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
	r, _ := h.runs.get("ci/web-8")
	want := "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0 (status not posted: posting success status: 422 no commit found for SHA)"
	if diff := cmp.Diff(want, r.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	// Given up is still finished: notifications go out once.
	if got := h.finishedRuns(); len(got) != 1 || got[0].ID != "ci/web-8" {
		t.Errorf("finished hook calls = %v, want one for ci/web-8", got)
	}
}

// A store write that fails after a successful post is retried without
// posting the same state again.
func TestStoreErrorDoesNotRepost(t *testing.T) {
	runs := newMemRuns()
	runs.failUpdates = 2
	h := newHarness(t, runs)
	h.start(t)
	h.create(t, newPR("web-13", "1313", succeeded))
	waitFor(t, "reported success", func() bool {
		r, _ := h.runs.get("ci/web-13")
		return r.Reported == run.Succeeded
	})
	want := []call{status("1313", scm.StateSuccess, "Build succeeded", "web-13")}
	if diff := cmp.Diff(want, h.github.callsFor("1313")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	waitFor(t, "the finished hook", func() bool { return len(h.finishedRuns()) == 1 })
}

func TestRestartPostsNothingTwice(t *testing.T) {
	done := run.Run{
		ID: "ci/web-9", Provider: event.GitHub, Kind: event.Push, Repo: "acme/web", Ref: "refs/heads/main", SHA: "9999",
		State: run.Succeeded, Reported: run.Succeeded, Message: "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0",
		CreatedAt: t0, StartedAt: t0.Add(time.Second), FinishedAt: t0.Add(time.Minute),
	}
	// The dispatcher posted pending; the run is now running.
	dispatched := run.Run{
		ID: "ci/web-10", Provider: event.GitHub, Kind: event.Push, Repo: "acme/web", Ref: "refs/heads/main", SHA: "1010",
		State: run.Pending, Reported: run.Pending, CreatedAt: t0,
	}
	h := newHarness(t, newMemRuns(done, dispatched),
		newPR("web-9", "9999", succeeded), newPR("web-10", "1010", running))
	h.start(t, WithWorkers(1))
	h.sync(t)

	if got := h.github.callsFor("9999"); len(got) != 0 {
		t.Errorf("finished run posted again: %v", got)
	}
	want := []call{status("1010", scm.StateRunning, "Build running", "web-10")}
	if diff := cmp.Diff(want, h.github.callsFor("1010")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if got := h.finishedRuns(); len(got) != 0 {
		t.Errorf("finished hook called for an already reported run: %v", got)
	}
}

func TestGitLabMergeRequestRef(t *testing.T) {
	pr := newPR("web-11", "1111aaaa", running, func(pr *pipelinev1.PipelineRun) {
		pr.Labels[tekton.LabelProvider] = "gitlab"
		pr.Labels[tekton.LabelKind] = "merge_request"
		pr.Labels[tekton.LabelMR] = "5"
		pr.Annotations[tekton.AnnotationRepo] = "group/sub/web"
		pr.Annotations[tekton.AnnotationProjectID] = "42"
		pr.Annotations[tekton.AnnotationRef] = "refs/merge-requests/5/head"
		pr.Annotations[tekton.AnnotationSourceBranch] = "feature/login"
	})
	h := newHarness(t, newMemRuns(), pr)
	h.start(t, WithStatusContext("ci/slipway"))
	waitFor(t, "the MR status", func() bool { return len(h.gitlab.callsFor("1111aaaa")) == 1 })

	want := []call{{
		Repo: scm.Repo{FullName: "group/sub/web", ProjectID: 42},
		Status: scm.Status{SHA: "1111aaaa", State: scm.StateRunning, Context: "ci/slipway", Description: "Build running",
			TargetURL: baseURL + "/runs/ci/web-11", Ref: "feature/login"},
	}}
	if diff := cmp.Diff(want, h.gitlab.callsFor("1111aaaa")); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	waitFor(t, "the stored run", func() bool {
		r, ok := h.runs.get("ci/web-11")
		return ok && r.Reported == run.Running
	})
	r, _ := h.runs.get("ci/web-11")
	if r.MRNumber != 5 || r.ProjectID != 42 || r.Kind != event.MergeRequest {
		t.Errorf("stored run = %+v, want MR 5 of project 42", r)
	}
}

func TestUnmanagedAndUnknownProvider(t *testing.T) {
	unlabelled := newPR("other-1", "aaaa", running, func(pr *pipelinev1.PipelineRun) { delete(pr.Labels, tekton.LabelManaged) })
	notOurs := newPR("other-2", "bbbb", running, func(pr *pipelinev1.PipelineRun) { pr.Labels[tekton.LabelManaged] = "false" })
	bitbucket := newPR("web-12", "cccc", succeeded, func(pr *pipelinev1.PipelineRun) { pr.Labels[tekton.LabelProvider] = "bitbucket" })
	h := newHarness(t, newMemRuns())
	h.start(t, WithWorkers(1))
	// Created after the watch opened, so the watch path is filtered too.
	h.create(t, unlabelled, notOurs, bitbucket)
	h.sync(t)

	for _, id := range []string{"ci/other-1", "ci/other-2"} {
		if r, ok := h.runs.get(id); ok {
			t.Errorf("unmanaged run %s recorded: %+v", id, r)
		}
	}
	for _, sha := range []string{"aaaa", "bbbb", "cccc"} {
		if got := h.github.callsFor(sha); len(got) != 0 {
			t.Errorf("status posted for %s: %v", sha, got)
		}
	}
	r, _ := h.runs.get("ci/web-12")
	if r.Reported != run.Succeeded || !strings.Contains(r.Message, `no SCM client for provider "bitbucket"`) {
		t.Errorf("run without a client = %+v, want it recorded with the reason", r)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tc := fake.NewSimpleClientset()
	tests := []struct {
		name string
		opt  Option
	}{
		{"relative base URL", WithBaseURL("slipway.example.com")},
		{"empty context", WithStatusContext(" ")},
		{"no workers", WithWorkers(0)},
		{"backoff max below base", WithBackoff(time.Second, time.Millisecond)},
		{"nil registerer", WithRegisterer(nil)},
		{"negative resync", WithResync(-time.Second)},
	}
	for _, tc2 := range tests {
		t.Run(tc2.name, func(t *testing.T) {
			if _, err := New(factoryOf(tc), newMemRuns(), nil, tc2.opt); err == nil {
				t.Error("New accepted a bad option")
			}
		})
	}
	if _, err := New(nil, newMemRuns(), nil); err == nil {
		t.Error("New accepted a nil informer factory")
	}
}

// CachedPipelineRun serves the run pages from the reporter's watch: the
// runs it watches, a nil "none" for a missing one, and no answer for
// another namespace or before the watch is up.
func TestCachedPipelineRun(t *testing.T) {
	h := newHarness(t, newMemRuns())
	r, err := New(factoryOf(h.tc), h.runs, nil, WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.CachedPipelineRun(ns, "web-1"); ok {
		t.Fatal("CachedPipelineRun answered before the watch was up")
	}
	r = h.start(t)
	h.create(t, newPR("web-1", "1111"))
	h.sync(t) // the watch has seen everything created before the sync run
	pr, ok := r.CachedPipelineRun(ns, "web-1")
	if !ok || pr == nil || pr.Name != "web-1" {
		t.Fatalf("CachedPipelineRun(web-1) = %v, %v; want the run", pr, ok)
	}
	pr.Labels["mutated"] = "yes" // a copy: the cache is not touched
	if again, _ := r.CachedPipelineRun(ns, "web-1"); again.Labels["mutated"] != "" {
		t.Error("CachedPipelineRun returned the cached object itself")
	}
	if pr, ok := r.CachedPipelineRun(ns, "missing"); !ok || pr != nil {
		t.Errorf("CachedPipelineRun(missing) = %v, %v; want nil, true", pr, ok)
	}
	if _, ok := r.CachedPipelineRun("elsewhere", "web-1"); ok {
		t.Error("CachedPipelineRun answered for a namespace it does not watch")
	}
}

// factoryOf is the informer factory the server shares, over tc.
func factoryOf(tc versioned.Interface) externalversions.SharedInformerFactory {
	return externalversions.NewSharedInformerFactoryWithOptions(tc, 0, externalversions.WithNamespace(ns),
		externalversions.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = tekton.LabelManaged + "=true" }))
}

// A failed PipelineRun seen before its failed TaskRun (separate watches)
// waits for it instead of posting the PipelineRun's bare message.
func TestFailedRunWaitsForItsTaskRun(t *testing.T) {
	failed := newPR("web-5", "5151", finished(corev1.ConditionFalse, "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 2"))
	tr := failedTaskRun(failed, "generate-dockerfile", `"step-render" exited with code 1`)
	stale := tr.DeepCopy()
	stale.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown, Reason: "Running"}}}

	h := newHarness(t, newMemRuns(), stale)
	clk := testingclock.NewFakeClock(t0)
	r := h.startWith(t, clk)
	h.create(t, failed)
	waitFor(t, "the first attempt to wait", func() bool { return r.limiter.NumRequeues("ci/web-5") >= 1 })
	if got := h.github.callsFor("5151"); len(got) != 0 {
		t.Fatalf("posted before the TaskRun was known: %+v", got)
	}

	if _, err := h.tc.TektonV1().TaskRuns(ns).UpdateStatus(context.Background(), tr, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("updating TaskRun: %v", err)
	}
	waitFor(t, "the failed TaskRun in the cache", func() bool {
		got, err := r.trLister.TaskRuns(ns).Get(tr.Name)
		return err == nil && got.Status.GetCondition(apis.ConditionSucceeded).IsFalse()
	})
	waitFor(t, "the status naming the task", func() bool {
		clk.Step(time.Second)
		return len(h.github.callsFor("5151")) == 1
	})
	got := h.github.callsFor("5151")[0].Status.Description
	if !strings.HasPrefix(got, "generate-dockerfile (step render)") {
		t.Errorf("description %q does not name the failed task and step", got)
	}
}

// Each app of a monorepo reports on its own context, slipway/ci/<app>;
// a repository's single app keeps slipway/ci.
func TestMonorepoStatusContexts(t *testing.T) {
	api := newPR("api-11", "1111aaaa", running, func(pr *pipelinev1.PipelineRun) {
		pr.Labels[tekton.LabelApp] = "api"
		pr.Annotations[tekton.AnnotationMonorepo] = "true"
	})
	web := newPR("web-11", "1111aaaa", running, func(pr *pipelinev1.PipelineRun) {
		pr.Annotations[tekton.AnnotationMonorepo] = "true"
	})
	single := newPR("site-11", "2222bbbb", running)
	h := newHarness(t, newMemRuns(), api, web, single)
	h.start(t)
	waitFor(t, "three statuses", func() bool {
		return len(h.github.callsFor("1111aaaa")) == 2 && len(h.github.callsFor("2222bbbb")) == 1
	})
	var got []string
	for _, c := range append(h.github.callsFor("1111aaaa"), h.github.callsFor("2222bbbb")...) {
		got = append(got, c.Status.SHA+" "+c.Status.Context)
	}
	sort.Strings(got)
	want := []string{"1111aaaa slipway/ci/api", "1111aaaa slipway/ci/web", "2222bbbb slipway/ci"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status contexts (-want +got):\n%s", diff)
	}
}
