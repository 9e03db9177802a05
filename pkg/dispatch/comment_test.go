package dispatch

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// mrSCM adds comments, permissions and MR lookups to fakeSCM.
type mrSCM struct {
	*fakeSCM
	mu       sync.Mutex
	writers  map[string]bool
	head     scm.MergeRequestHead
	comments []string
	statuses []scm.Status
	canWrite int
	// members: group → user → member; groupErr: group → the host's error.
	members  map[string]map[string]bool
	groupErr map[string]error
	memberOf []string // "group user" of each MemberOf call
}

func (f *mrSCM) MemberOf(_ context.Context, group, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.memberOf = append(f.memberOf, group+" "+user)
	if err := f.groupErr[group]; err != nil {
		return false, err
	}
	return f.members[group][user], nil
}

func (f *mrSCM) memberOfCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.memberOf...)
}

func (f *mrSCM) CanWrite(_ context.Context, _ scm.Repo, user string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canWrite++
	return f.writers[user], nil
}

func (f *mrSCM) canWriteCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.canWrite
}

func (f *mrSCM) SetStatus(_ context.Context, _ scm.Repo, st scm.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, st)
	return nil
}

// statusLines are the posted statuses as "<short sha> <state> <context>: <description>".
func (f *mrSCM) statusLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, st := range f.statuses {
		out = append(out, st.SHA[:8]+" "+string(st.State)+" "+st.Context+": "+st.Description)
	}
	return out
}

func (f *mrSCM) CreateComment(_ context.Context, _ scm.Repo, _ int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments = append(f.comments, body)
	return nil
}

func (f *mrSCM) UpsertComment(ctx context.Context, repo scm.Repo, mr int, marker, body string) error {
	return f.CreateComment(ctx, repo, mr, marker+"\n"+body)
}

func (f *mrSCM) MergeRequestHead(context.Context, scm.Repo, int) (scm.MergeRequestHead, error) {
	return f.head, nil
}

func newMRHarness(t *testing.T, opts ...Option) (*harness, *mrSCM) {
	t.Helper()
	h := newHarness(t, opts...)
	f := &mrSCM{fakeSCM: h.scm, writers: map[string]bool{"maintainer": true}}
	h.d.scms = map[event.Provider]scm.Client{event.GitHub: f, event.GitLab: f}
	return h, f
}

// comment is a GitHub "/retest" or "/cancel": no SHA, the commenter as Author.
func comment(action event.Action, n int, who, delivery string) event.Event {
	return event.Event{
		Provider: event.GitHub, Kind: event.MergeRequest, Action: action, Delivery: delivery,
		Repo: "acme/web", CloneURL: "https://github.com/acme/web.git", Ref: "refs/pull/7/head",
		MRNumber: n, Author: who, Commented: true,
	}
}

func TestRetest(t *testing.T) {
	h, f := newMRHarness(t)
	f.head = scm.MergeRequestHead{SHA: shaA, SourceBranch: "feature/x", TargetBranch: "main", Open: true}
	first := h.store.add(mr(7, shaA, "d1"))
	retest := h.store.add(comment(event.Retest, 7, "maintainer", "d2"))
	h.step(t)

	prs := h.runs(t)
	if len(prs) != 2 {
		t.Fatalf("%d PipelineRuns, want 2 (the first and the retest)", len(prs))
	}
	ev := h.store.get(retest)
	if ev.State != event.Dispatched || !strings.HasPrefix(ev.Reason, "created PipelineRun ci/web-11111111-") {
		t.Errorf("retest event: %s %q", ev.State, ev.Reason)
	}
	if h.runName(t, first) == strings.TrimPrefix(ev.Reason, "created PipelineRun ci/") {
		t.Error("the retest reused the first run's name")
	}
	for _, pr := range prs {
		if pr.Labels[tekton.LabelSHA] != shaA || pr.Labels[tekton.LabelMR] != "7" {
			t.Errorf("run %s labels %v, want SHA %s and MR 7", pr.Name, pr.Labels, shaA)
		}
		if pr.Spec.Status != "" {
			t.Errorf("run %s spec.status %q, want started (no limit)", pr.Name, pr.Spec.Status)
		}
	}
	if len(f.comments) != 0 {
		t.Errorf("comments %q, want none", f.comments)
	}
}

// A GitLab note names the head commit: no lookup, and a [skip ci] in its
// message does not stop a retest someone asked for.
func TestRetestWithSHA(t *testing.T) {
	h, f := newMRHarness(t)
	f.head = scm.MergeRequestHead{} // a lookup would fail: no SHA
	ev := comment(event.Retest, 3, "maintainer", "d1")
	ev.Provider, ev.Repo, ev.ProjectID = event.GitLab, "group/web", 5
	ev.Ref, ev.SHA, ev.SourceBranch, ev.TargetBranch = "refs/merge-requests/3/head", shaB, "feature", "main"
	ev.CommitMessage = "wip [skip ci]"
	id := h.store.add(ev)
	h.step(t)
	if got := h.outcome(id); got.State != event.Dispatched {
		t.Fatalf("event %+v, want dispatched", got)
	}
	prs := h.runs(t)
	if len(prs) != 1 || prs[0].Labels[tekton.LabelSHA] != shaB || prs[0].Labels[tekton.LabelProvider] != "gitlab" {
		t.Fatalf("PipelineRuns %v, want one for %s on gitlab", prs, shaB)
	}
}

func TestRetestClosedMR(t *testing.T) {
	h, f := newMRHarness(t)
	f.head = scm.MergeRequestHead{SHA: shaA, Open: false}
	id := h.store.add(comment(event.Retest, 7, "maintainer", "d2"))
	h.step(t)
	want := outcome{State: event.Ignored, Reason: "merge request 7 is closed", Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	if n := len(h.runs(t)); n != 0 {
		t.Errorf("%d PipelineRuns, want 0", n)
	}
}

func TestCommandRefused(t *testing.T) {
	for _, action := range []event.Action{event.Retest, event.Cancel} {
		t.Run(string(action), func(t *testing.T) {
			h, f := newMRHarness(t)
			f.head = scm.MergeRequestHead{SHA: shaB, Open: true}
			running := h.store.add(mr(7, shaA, "d1"))
			id := h.store.add(comment(action, 7, "drive-by", "d2"))
			h.step(t)
			want := outcome{State: event.Ignored, Reason: string(action) + " by drive-by refused: no write access, not a trusted user or group member", Attempts: 1}
			if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
				t.Errorf("event (-want +got)\n%s", diff)
			}
			wantComments := []string{"Sorry @drive-by, only people with write access to this repository, or its trusted users and groups, can use `/" + string(action) + "`. Ask a maintainer to run it for you."}
			if diff := cmp.Diff(wantComments, f.comments); diff != "" {
				t.Errorf("comments (-want +got)\n%s", diff)
			}
			if n := len(h.runs(t)); n != 1 {
				t.Errorf("%d PipelineRuns, want only the first", n)
			}
			if isCancelled(t, h, h.runName(t, running)) {
				t.Error("a refused command cancelled the run")
			}
		})
	}
}

func TestCancelCommand(t *testing.T) {
	h, _ := newMRHarness(t)
	a := h.store.add(mr(7, shaA, "d1"))
	other := h.store.add(mr(8, shaA, "d2"))
	h.step(t)
	id := h.store.add(comment(event.Cancel, 7, "maintainer", "d3"))
	h.step(t)
	want := outcome{State: event.Dispatched, Reason: "cancelled 1 runs", Attempts: 1}
	if diff := cmp.Diff(want, h.outcome(id)); diff != "" {
		t.Errorf("event (-want +got)\n%s", diff)
	}
	got := map[string]bool{"7": isCancelled(t, h, h.runName(t, a)), "8": isCancelled(t, h, h.runName(t, other))}
	if diff := cmp.Diff(map[string]bool{"7": true, "8": false}, got); diff != "" {
		t.Errorf("cancelled (-want +got)\n%s", diff)
	}
}

// specStatus maps run name → spec.status for every PipelineRun.
func specStatus(t *testing.T, h *harness) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, pr := range h.runs(t) {
		out[pr.Name] = string(pr.Spec.Status)
	}
	return out
}

func finish(t *testing.T, h *harness, name string) {
	t.Helper()
	pr, err := h.cs.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse}}}
	if _, err := h.cs.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	h := newHarness(t, WithMaxRunningPerRepo(2))
	ctx := context.Background()
	a := h.store.add(push("a", shaA, "d1"))
	b := h.store.add(push("b", shaA, "d2"))
	c := h.store.add(push("c", shaA, "d3"))
	d := h.store.add(push("d", shaA, "d4"))
	otherRepo := push("a", shaA, "d5")
	otherRepo.Repo = "acme/api"
	o := h.store.add(otherRepo)
	// One at a time, as the queue would hand them out in order.
	for range 5 {
		evs, err := h.store.ClaimEvents(ctx, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		h.d.Handle(ctx, &evs[0])
	}
	name := func(id int64) string { return h.runName(t, id) }
	pending := pipelinev1.PipelineRunSpecStatusPending
	want := map[string]string{name(a): "", name(b): "", name(c): pending, name(d): pending, name(o): ""}
	if diff := cmp.Diff(want, specStatus(t, h)); diff != "" {
		t.Fatalf("after dispatch (-want +got)\n%s", diff)
	}
	if got := h.outcome(c).Reason; !strings.HasSuffix(got, ", queued behind 2 running") {
		t.Errorf("queued event reason %q", got)
	}

	// Nothing finished: admitting starts nothing.
	if n, err := h.d.Admit(ctx, event.GitHub, "acme/web"); err != nil || n != 0 {
		t.Fatalf("Admit = %d, %v; want 0, nil", n, err)
	}
	// b finishes: the oldest queued one (c) starts, d keeps waiting.
	finish(t, h, name(b))
	if n, err := h.d.Admit(ctx, event.GitHub, "acme/web"); err != nil || n != 1 {
		t.Fatalf("Admit = %d, %v; want 1, nil", n, err)
	}
	want[name(c)] = ""
	if diff := cmp.Diff(want, specStatus(t, h)); diff != "" {
		t.Fatalf("after b finished (-want +got)\n%s", diff)
	}
	// d is cancelled while queued; then a finishes: nothing left to start,
	// and d stays cancelled.
	if _, err := tekton.CancelRun(ctx, h.cs, mustGet(t, h, name(d))); err != nil {
		t.Fatal(err)
	}
	finish(t, h, name(a))
	if n, err := h.d.admitAll(ctx); err != nil || n != 0 {
		t.Fatalf("admitAll = %d, %v; want 0, nil", n, err)
	}
	want[name(d)] = pipelinev1.PipelineRunSpecStatusCancelled
	if diff := cmp.Diff(want, specStatus(t, h)); diff != "" {
		t.Fatalf("after d cancelled (-want +got)\n%s", diff)
	}
}

func mustGet(t *testing.T, h *harness, name string) *pipelinev1.PipelineRun {
	t.Helper()
	pr, err := h.cs.TektonV1().PipelineRuns(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestToStart(t *testing.T) {
	const (
		P = pipelinev1.PipelineRunSpecStatusPending
		C = pipelinev1.PipelineRunSpecStatusCancelled
	)
	run := func(name, repo string, event int, st string, done bool) pipelinev1.PipelineRun {
		pr := pipelinev1.PipelineRun{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				tekton.LabelRepoHash: repo, tekton.LabelEventID: strconv.Itoa(event),
			}},
			Spec: pipelinev1.PipelineRunSpec{Status: pipelinev1.PipelineRunSpecStatus(st)},
		}
		if st != P {
			pr.Status.StartTime = &metav1.Time{}
		}
		if done {
			pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue})
		}
		return pr
	}
	tests := []struct {
		name  string
		runs  []pipelinev1.PipelineRun
		limit int
		want  []string
	}{
		{"free slots, oldest first", []pipelinev1.PipelineRun{run("q3", "r", 3, P, false), run("q2", "r", 2, P, false), run("q4", "r", 4, P, false)}, 2, []string{"q2", "q3"}},
		{"full", []pipelinev1.PipelineRun{run("r1", "r", 1, "", false), run("q2", "r", 2, P, false)}, 1, nil},
		{"finished runs free slots", []pipelinev1.PipelineRun{run("r1", "r", 1, "", true), run("q2", "r", 2, P, false)}, 1, []string{"q2"}},
		{"cancelling run holds its slot", []pipelinev1.PipelineRun{run("r1", "r", 1, C, false), run("q2", "r", 2, P, false)}, 1, nil},
		{"cancelled while queued holds nothing", []pipelinev1.PipelineRun{func() pipelinev1.PipelineRun {
			pr := run("q1", "r", 1, C, false)
			pr.Status.StartTime = nil
			return pr
		}(), run("q2", "r", 2, P, false)}, 1, []string{"q2"}},
		{"per repo", []pipelinev1.PipelineRun{run("r1", "a", 1, "", false), run("q2", "a", 2, P, false), run("q3", "b", 3, P, false)}, 1, []string{"q3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, pr := range toStart(tc.runs, tc.limit) {
				got = append(got, pr.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("toStart (-want +got)\n%s", diff)
			}
		})
	}
}
