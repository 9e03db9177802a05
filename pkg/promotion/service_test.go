package promotion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/environment"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/promote"
	"github.com/slipway-ci/slipway/pkg/provenance/provenancetest"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/webhooks"
)

const (
	builder  = "https://slipway.example/builder"
	cloneURL = "https://git.example/acme/shop.git"
	// ns is the deploy namespace the service runs deploy PipelineRuns in;
	// buildsNS the CI runs' (the server's other informer factory).
	ns       = "slipway"
	buildsNS = "slipway-builds"
	commitA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	commitC  = "cccccccccccccccccccccccccccccccccccccccc"
)

var (
	dev = Caller{Name: "dana", Role: "developer"}
	rm  = Caller{Name: "rita", Role: "release-manager", ReleaseManager: true}
	adm = Caller{Name: "ada", Role: "admin", ReleaseManager: true, Admin: true}
)

// runsFake answers the gate's run lookups from a fixed list.
type runsFake []run.Run

func (r runsFake) ListRuns(_ context.Context, f store.RunFilter) ([]run.Run, error) {
	var out []run.Run
	for _, run := range r {
		if run.Repo == f.Repo && (f.State == "" || run.State == f.State) {
			out = append(out, run)
		}
	}
	return out, nil
}

// testStore is both halves the service takes, in one engine.
type testStore interface {
	Promotions
	History
}

type env struct {
	t   *testing.T
	cfg *environment.Config
	st  testStore
	tc  *fake.Clientset
	// informers stands for the server's shared factory.
	informers externalversions.SharedInformerFactory
	svc       *Service
	ci, qa    string // registry hosts
	prod      string
	stop      context.CancelFunc
}

func newRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, &memStore{}) }

// stores are the engines the state-machine tests run on.
var stores = map[string]func(*testing.T) *env{"memory": newEnv, "sqlite": newSQLiteEnv}

// newSQLiteEnv keeps promotions in the real SQLite store.
func newSQLiteEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return newEnvWith(t, st)
}

func newEnvWith(t *testing.T, st testStore, react ...func(*fake.Clientset)) *env {
	t.Helper()
	tc := fake.NewSimpleClientset()
	// Reactors go in before the informers list through the fake: the fake
	// is not safe to change while it serves.
	for _, r := range react {
		r(tc)
	}
	e := &env{t: t, st: st, tc: tc, informers: informersOf(tc),
		ci: newRegistry(t), qa: newRegistry(t), prod: newRegistry(t)}
	// The server's components start the shared factory; here the test
	// does, so requests that follow deploy runs (DeleteApp) work without
	// the worker running.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); e.informers.Shutdown() })
	defer e.informers.Start(ctx.Done())
	cfg, err := environment.Parse(fmt.Appendf(nil, `
environments:
  - name: qa
    namespace: apps-qa
    registry: %s/qa
    clusters: [{name: local}]
  - name: prod
    namespace: apps-prod
    registry: %s/prod
    approval: true
    clusters: [{name: east, kubeconfigSecret: east-kubeconfig}, {name: west, kubeconfigSecret: west-kubeconfig}]
    rollout: {strategy: canary, steps: [50, 100], pause: manual}
apps:
  - name: shop
    repo: acme/shop
    cloneURL: %s
    environments:
      prod: {deployment: shop-web}
`, e.qa, e.prod, cloneURL))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	e.svc = e.newService()
	return e
}

func (e *env) newService(mods ...func(*Options)) *Service {
	e.t.Helper()
	gate := &promote.Gate{BuilderID: builder, Runs: promote.StoreRuns{Runs: runsFake{
		{ID: "ci/a", Repo: "acme/shop", SHA: commitA, State: run.Succeeded},
		{ID: "ci/b", Repo: "acme/shop", SHA: commitB, State: run.Succeeded},
		{ID: "ci/c", Repo: "acme/shop", SHA: commitC, State: run.Succeeded},
	}}}
	o := Options{Namespace: ns, SlipwayImage: "reg/slipway@sha256:" + strings.Repeat("0", 64),
		Informers: e.informers, PollInterval: 5 * time.Millisecond}
	if once, ok := e.st.(OnceKeys); ok {
		o.Once = once
	}
	for _, m := range mods {
		m(&o)
	}
	svc, err := New(e.cfg, e.st, e.st, gate, e.tc, o)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// start runs the service's worker until the test ends (or stop).
func (e *env) start(svc *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(e.stop)
}

// push pushes a BuildKit-shaped index with provenance to host/repo.
func (e *env) push(repo, commit, builderID string) string {
	e.t.Helper()
	idx, err := provenancetest.Index(cloneURL, commit, builderID)
	if err != nil {
		e.t.Fatal(err)
	}
	d, _ := idx.Digest()
	ref, _ := name.NewDigest(repo + "@" + d.String())
	if err := remote.WriteIndex(ref, idx); err != nil {
		e.t.Fatal(err)
	}
	return d.String()
}

// runningInQA records digest as deployed to qa (pushed to qa's registry).
func (e *env) runningInQA(commit, builderID string) string {
	d := e.push(e.qa+"/qa/shop", commit, builderID)
	if err := e.st.RecordDeployment(context.Background(), &release.Deployment{App: "shop", Env: "qa", Digest: d}); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) waitFor(id int64, what string, ok func(*release.Promotion) bool) *release.Promotion {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := e.st.GetPromotion(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("promotion %d never %s: %+v", id, what, p)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) waitState(id int64, want release.PromotionState) *release.Promotion {
	e.t.Helper()
	return e.waitFor(id, string(want), func(p *release.Promotion) bool { return p.State == want })
}

// waitRun waits for the deploy PipelineRun of cluster to exist.
func (e *env) waitRun(env, cluster string, id int64) *pipelinev1.PipelineRun {
	e.t.Helper()
	prName := tekton.DeployRunName("shop", env, cluster, id)
	deadline := time.Now().Add(20 * time.Second)
	for {
		pr, err := e.tc.TektonV1().PipelineRuns(ns).Get(context.Background(), prName, metav1.GetOptions{})
		if err == nil {
			return pr
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			e.t.Fatalf("PipelineRun %s: %v", prName, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// markRunning reports a deploy PipelineRun started, as Tekton does.
func (e *env) markRunning(pr *pipelinev1.PipelineRun) {
	e.t.Helper()
	pr.Status.StartTime = &metav1.Time{Time: time.Now()}
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown, Reason: "Running", Message: "Tasks Completed: 0"})
	if _, err := e.tc.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// finish ends a deploy PipelineRun the way Tekton reports the deploy task.
func (e *env) finish(pr *pipelinev1.PipelineRun, outcome, reason string) {
	e.t.Helper()
	e.finishWith(pr, outcome, reason)
}

func (e *env) finishWith(pr *pipelinev1.PipelineRun, outcome, reason string) {
	status := corev1.ConditionTrue
	if outcome != outcomeSucceeded {
		status = corev1.ConditionFalse
	}
	pr.Status.StartTime = &metav1.Time{Time: time.Now()}
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: "Done", Message: "Tasks Completed: 1"})
	pr.Status.Results = []pipelinev1.PipelineRunResult{
		{Name: "outcome", Value: *pipelinev1.NewStructuredValues(outcome)},
		{Name: "reason", Value: *pipelinev1.NewStructuredValues(reason)},
	}
	if _, err := e.tc.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		e.t.Error(err)
	}
}

func (e *env) runNames() []string {
	e.t.Helper()
	l, err := e.tc.TektonV1().PipelineRuns(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, pr := range l.Items {
		out = append(out, pr.Name)
	}
	return out
}

func (e *env) results(id int64) []string {
	a, _ := e.st.ListAudit(context.Background(), store.AuditFilter{PromotionID: id})
	var out []string
	for i := len(a) - 1; i >= 0; i-- {
		out = append(out, a[i].Actor+" "+a[i].Action+" "+a[i].Result)
	}
	return out
}

// waitResults waits for n audit entries of promotion id: the worker
// writes the last one just after the final state.
func (e *env) waitResults(id int64, n int) []string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := e.results(id)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPromoteRefusedByGate(t *testing.T) {
	e := newEnv(t)
	d := e.runningInQA(commitA, "https://evil.example/builder")
	p, err := e.svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != release.PromotionRefused || p.From != "qa" || p.Digest != d ||
		!strings.Contains(p.Reason, "was not built by this Slipway from "+cloneURL) || !strings.Contains(p.Reason, `builder id: want "`+builder+`"`) {
		t.Errorf("promotion = %+v, want refused naming the builder", p)
	}
	if got := e.results(p.ID); len(got) != 1 || !strings.HasPrefix(got[0], "rita promote refused: promotion refused: ") {
		t.Errorf("audit = %q", got)
	}
	if _, err := remote.Head(mustRef(t, e.prod+"/prod/shop@"+d)); err == nil {
		t.Error("a refused image was copied to prod")
	}
}

func TestPromoteRequestErrors(t *testing.T) {
	e := newEnv(t)
	running := e.runningInQA(commitA, builder)
	// Built by Slipway and pushed to qa's registry, but never deployed there.
	notRun := e.push(e.qa+"/qa/shop", commitA, builder)
	if notRun == running {
		t.Fatal("the two pushes made the same digest")
	}
	tests := []struct {
		name string
		req  Request
		want error
		msg  string
	}{
		{"unknown app", Request{App: "nope", To: "prod"}, ErrNotFound, `unknown app "nope"`},
		{"unknown env", Request{App: "shop", To: "staging"}, ErrNotFound, `unknown environment "staging"`},
		{"into the first env", Request{App: "shop", To: "qa"}, ErrInvalid, "qa is the first environment"},
		{"backwards", Request{App: "shop", From: "prod", To: "prod"}, ErrInvalid, "prod does not come right after prod (order: qa → prod)"},
		{"digest that never ran in from", Request{App: "shop", To: "prod", Digest: notRun}, ErrInvalid, "never ran in qa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Promote(context.Background(), rm, tt.req)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Promote = %v, want %v with %q", err, tt.want, tt.msg)
			}
		})
	}
	// Failed requests are audited too.
	a, _ := e.st.ListAudit(context.Background(), store.AuditFilter{App: "nope"})
	if len(a) != 1 || !strings.HasPrefix(a[0].Result, "failed: not found: unknown app") {
		t.Errorf("audit = %+v", a)
	}
}

// A developer's promotion into prod waits; a developer cannot approve it;
// a release manager can, and it rolls out wave after wave.
func TestApprovalThenWaves(t *testing.T) {
	for name, newEnv := range stores {
		t.Run(name, func(t *testing.T) { testApprovalThenWaves(t, newEnv(t)) })
	}
}

func testApprovalThenWaves(t *testing.T, e *env) {
	e.start(e.svc)
	d := e.runningInQA(commitA, builder)
	ctx := context.Background()
	p, err := e.svc.Promote(ctx, dev, Request{App: "shop", From: "qa", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != release.PromotionAwaitingApproval || p.Commit != commitA {
		t.Fatalf("developer's promotion = %+v, want awaiting-approval", p)
	}
	_, err = e.svc.Approve(ctx, dev, p.ID)
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "approving needs the release-manager role; dana is a developer") {
		t.Fatalf("developer Approve = %v, want forbidden", err)
	}
	if _, err := e.svc.Approve(ctx, rm, p.ID); err != nil {
		t.Fatalf("release manager Approve: %v", err)
	}
	if _, err := e.svc.Approve(ctx, rm, p.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("second Approve = %v, want a conflict", err)
	}
	east := e.waitRun("prod", "east", p.ID)
	if diff := cmp.Diff([]string{east.Name}, e.runNames()); diff != "" {
		t.Errorf("runs while wave 1 runs (-want +got):\n%s", diff)
	}
	params := map[string]string{}
	for _, prm := range east.Spec.Params {
		params[prm.Name] = prm.Value.StringVal
	}
	wantImage := e.prod + "/prod/shop@" + d
	if params["image"] != wantImage || params["app"] != "shop-web" || params["namespace"] != "apps-prod" || params["strategy"] != "canary" || params["pause"] != "manual" ||
		east.Spec.Workspaces[0].Secret.SecretName != "east-kubeconfig" {
		t.Errorf("wave 1 run params %v workspaces %+v", params, east.Spec.Workspaces)
	}
	// The copy is there with the same digest before anything rolls out.
	if desc, err := remote.Head(mustRef(t, wantImage)); err != nil || desc.Digest.String() != d {
		t.Errorf("prod registry: %v, %v", desc, err)
	}
	e.finish(east, outcomeSucceeded, "")
	west := e.waitRun("prod", "west", p.ID)
	e.finish(west, outcomeSucceeded, "")
	got := e.waitState(p.ID, release.PromotionSucceeded)
	if got.ApprovedBy != "rita" || got.TargetImage != wantImage || len(got.PipelineRuns) != 2 {
		t.Errorf("succeeded promotion = %+v", got)
	}
	deps, _ := e.st.ListDeployments(ctx, "shop", "prod", 0)
	if len(deps) != 1 || deps[0].Digest != d || deps[0].PromotionID != p.ID {
		t.Errorf("prod deployments = %+v", deps)
	}
	want := []string{
		"dana promote accepted: awaiting approval",
		"dana approve forbidden: approving needs the release-manager role; dana is a developer",
		"rita approve succeeded",
		"rita approve failed: conflict: promotion " + fmt.Sprint(p.ID) + " is running, not awaiting approval",
		"slipway rollout succeeded",
	}
	if diff := cmp.Diff(want, e.waitResults(p.ID, len(want))); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	// Each entry says its outcome explicitly, a success as one.
	wantOutcomes := []release.Outcome{release.OutcomeAccepted, release.OutcomeForbidden, release.OutcomeSucceeded, release.OutcomeFailed, release.OutcomeSucceeded}
	if diff := cmp.Diff(wantOutcomes, e.outcomes(p.ID)); diff != "" {
		t.Errorf("audit outcomes (-want +got):\n%s", diff)
	}
}

func (e *env) outcomes(id int64) []release.Outcome {
	a, _ := e.st.ListAudit(context.Background(), store.AuditFilter{PromotionID: id})
	var out []release.Outcome
	for i := len(a) - 1; i >= 0; i-- {
		out = append(out, a[i].Outcome)
	}
	return out
}

func TestReleaseManagerStartsAtOnceAndWave1FailureStops(t *testing.T) {
	e := newEnv(t)
	e.start(e.svc)
	e.runningInQA(commitA, builder)
	p, err := e.svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod"})
	if err != nil || p.State != release.PromotionRunning {
		t.Fatalf("Promote = %+v, %v; want running", p, err)
	}
	e.finish(e.waitRun("prod", "east", p.ID), outcomeRolledBack, "canary 50%: pod shop-web-canary-x restarted 3 times")
	got := e.waitState(p.ID, release.PromotionFailed)
	if got.Reason != "wave 1/2 east: rolled back: canary 50%: pod shop-web-canary-x restarted 3 times" {
		t.Errorf("reason = %q", got.Reason)
	}
	if diff := cmp.Diff([]string{tekton.DeployRunName("shop", "prod", "east", p.ID)}, e.runNames()); diff != "" {
		t.Errorf("wave 2 started after wave 1 failed (-want +got):\n%s", diff)
	}
	if deps, _ := e.st.ListDeployments(context.Background(), "shop", "prod", 0); len(deps) != 0 {
		t.Errorf("a failed promotion recorded deployments %+v", deps)
	}
}

func TestAbortAndContinue(t *testing.T) {
	for name, newEnv := range stores {
		t.Run(name, func(t *testing.T) { testAbortAndContinue(t, newEnv(t)) })
	}
}

func testAbortAndContinue(t *testing.T, e *env) {
	e.start(e.svc)
	e.runningInQA(commitA, builder)
	ctx := context.Background()
	p, err := e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	east := e.waitRun("prod", "east", p.ID)
	// Before the deploy step runs, the app's annotation is the last
	// rollout's progress, not this one's.
	e.waitFor(p.ID, "waits for its PipelineRun", func(p *release.Promotion) bool {
		return p.Progress == "wave 1/2 east: waiting for the deploy PipelineRun to start"
	})
	e.markRunning(east)
	e.setProgress(east.Name, "canary 50%: paused until continued")
	paused := e.waitState(p.ID, release.PromotionPaused)
	if paused.Progress != "wave 1/2 east: canary 50%: paused until continued" {
		t.Errorf("progress = %q", paused.Progress)
	}
	if _, err := e.svc.Continue(ctx, dev, p.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("developer Continue into prod = %v, want forbidden", err)
	}
	if _, err := e.svc.Continue(ctx, rm, p.ID); err != nil {
		t.Fatalf("Continue: %v", err)
	}
	if _, err := e.svc.Abort(ctx, dev, p.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("developer Abort of rita's promotion = %v, want forbidden", err)
	}
	if _, err := e.svc.Abort(ctx, rm, p.ID); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	got := e.waitState(p.ID, release.PromotionAborted)
	if got.Reason != "aborted by rita" {
		t.Errorf("reason = %q", got.Reason)
	}
	// Both signals went to the wave's PipelineRun, nowhere else.
	want := map[string]string{
		rollout.AnnotationProgress: "canary 50%: paused until continued",
		rollout.AnnotationContinue: "1",
		rollout.AnnotationAbort:    "aborted by rita", rollout.AnnotationAbortRollout: east.Name,
	}
	if diff := cmp.Diff(want, e.annotations(east.Name)); diff != "" {
		t.Errorf("annotations of the wave's PipelineRun (-want +got):\n%s", diff)
	}
	if _, err := e.svc.Abort(ctx, rm, p.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("second Abort = %v, want a conflict", err)
	}
	// The worker does not bring it back when the aborted rollout ends.
	e.finish(e.waitRun("prod", "east", p.ID), outcomeAborted, "aborted by rita")
	e.stop()
	if p, _ := e.st.GetPromotion(ctx, p.ID); p.State != release.PromotionAborted {
		t.Errorf("state after the rollout ended = %s", p.State)
	}
}

// An abort that lands while the wave's deploy PipelineRun is being
// created finds no run to signal; the worker signals it on the run it
// just created, so the step stops at its start (deploy's
// TestRunChannelAbort); the record says aborted and no later wave starts.
func TestAbortBeforeTheDeployStepRuns(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	var p *release.Promotion
	aborted := make(chan error, 1)
	e := newEnvWith(t, st, func(tc *fake.Clientset) {
		tc.PrependReactor("create", "pipelineruns", func(k8stesting.Action) (bool, runtime.Object, error) {
			// What Abort records; its signal would find no run yet (the fake
			// clientset is locked inside a reactor, so Abort itself cannot run
			// here).
			cur, err := st.GetPromotion(ctx, p.ID)
			if err == nil {
				cur.State, cur.Reason, cur.FinishedAt = release.PromotionAborted, "aborted by rita", time.Now()
				err = st.UpdatePromotion(ctx, cur, release.PromotionRunning, release.PromotionPaused)
			}
			aborted <- err
			return false, nil, nil
		})
	})
	e.runningInQA(commitA, builder)
	if p, err = e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod"}); err != nil {
		t.Fatal(err)
	}
	e.start(e.svc)
	if err := <-aborted; err != nil {
		t.Fatalf("Abort: %v", err)
	}
	e.waitState(p.ID, release.PromotionAborted)
	east := e.waitRun("prod", "east", p.ID)
	// The abort found no run to signal; the worker signalled it once it
	// created the run.
	e.waitAnnotation(east.Name, rollout.AnnotationAbort, "aborted by rita")
	east = e.waitRun("prod", "east", p.ID)
	// The deploy step reports the abort it stopped at.
	e.markRunning(east)
	e.finish(east, outcomeAborted, "aborted: aborted by rita")
	e.stop()
	if p, _ := e.st.GetPromotion(ctx, p.ID); p.State != release.PromotionAborted || p.Reason != "aborted by rita" {
		t.Errorf("promotion after the step ended = %s %q, want aborted by rita", p.State, p.Reason)
	}
	if diff := cmp.Diff([]string{east.Name}, e.runNames()); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
	if deps, _ := e.st.ListDeployments(ctx, "shop", "prod", 0); len(deps) != 0 {
		t.Errorf("prod deployments = %+v, want none", deps)
	}
}

// A restarted service resumes a running promotion without starting its
// PipelineRun twice; the promotion lives in the real SQLite store.
func TestRestartResumes(t *testing.T) {
	e := newSQLiteEnv(t)
	e.start(e.svc)
	e.runningInQA(commitA, builder)
	p, err := e.svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	east := e.waitRun("prod", "east", p.ID)
	e.waitFor(p.ID, "records wave 1", func(p *release.Promotion) bool { return len(p.PipelineRuns) == 1 })
	e.stop()
	if p, _ := e.st.GetPromotion(context.Background(), p.ID); p.State != release.PromotionRunning {
		t.Fatalf("after shutdown the promotion is %s, want running", p.State)
	}
	// Wave 1 finished while Slipway was down.
	e.finish(east, outcomeSucceeded, "")
	e.start(e.newService())
	e.finish(e.waitRun("prod", "west", p.ID), outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)
	want := []string{tekton.DeployRunName("shop", "prod", "east", p.ID), tekton.DeployRunName("shop", "prod", "west", p.ID)}
	if diff := cmp.Diff(want, e.runNames()); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

func TestRollbackPicksPreviousDistinctDigest(t *testing.T) {
	e := newEnv(t)
	e.start(e.svc)
	ctx := context.Background()
	if _, err := e.svc.Rollback(ctx, rm, "shop", "prod"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Rollback with no history = %v", err)
	}
	old := e.push(e.prod+"/prod/shop", commitA, builder)
	cur := e.push(e.prod+"/prod/shop", commitB, builder)
	for _, d := range []string{old, cur, cur} {
		if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "shop", Env: "prod", Digest: d}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.svc.Rollback(ctx, dev, "shop", "prod")
	if err != nil {
		t.Fatal(err)
	}
	img := e.prod + "/prod/shop@" + old
	if p.Kind != release.KindRollback || p.Digest != old || p.TargetImage != img || p.State != release.PromotionAwaitingApproval || p.Commit != commitA {
		t.Fatalf("developer's rollback = %+v", p)
	}
	if _, err := e.svc.Approve(ctx, adm, p.ID); err != nil {
		t.Fatal(err)
	}
	e.finish(e.waitRun("prod", "east", p.ID), outcomeSucceeded, "")
	e.finish(e.waitRun("prod", "west", p.ID), outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)
	deps, _ := e.st.ListDeployments(ctx, "shop", "prod", 0)
	if deps[0].Digest != old {
		t.Errorf("prod now runs %s, want %s", deps[0].Digest, old)
	}
}

func TestAutoDeployOnlyOnTheAppsBranch(t *testing.T) {
	e := newEnv(t)
	e.start(e.svc)
	ctx := context.Background()
	d := e.push(e.ci+"/ci/shop", commitA, builder)
	ciRun := run.Run{ID: "ci/a", Repo: "acme/shop", Ref: "refs/heads/main", SHA: commitA, State: run.Succeeded,
		ImageURL: e.ci + "/ci/shop:aaaaaaa", ImageDigest: d}
	tests := []struct {
		name  string
		ciRun func(run.Run) run.Run
	}{
		{"other branch", func(r run.Run) run.Run { r.Ref = "refs/heads/feature"; return r }},
		{"tag", func(r run.Run) run.Run { r.Ref = "refs/tags/v1"; return r }},
		{"failed run", func(r run.Run) run.Run { r.State = run.Failed; return r }},
		{"other repo", func(r run.Run) run.Run { r.Repo = "acme/other"; return r }},
		{"merge request", func(r run.Run) run.Run { r.Kind = event.MergeRequest; return r }},
	}
	for _, tt := range tests {
		if p, err := e.svc.AutoDeploy(ctx, tt.ciRun(ciRun), ""); p != nil || err != nil {
			t.Errorf("%s: AutoDeploy = %+v, %v; want nothing", tt.name, p, err)
		}
	}
	p, err := e.svc.AutoDeploy(ctx, ciRun, "")
	if err != nil || p == nil {
		t.Fatalf("AutoDeploy(main) = %+v, %v", p, err)
	}
	if p.Kind != release.KindAutoDeploy || p.To != "qa" || p.RequestedBy != "slipway" || p.State != release.PromotionRunning || p.RunID != "ci/a" {
		t.Errorf("auto-deploy = %+v", p)
	}
	if again, err := e.svc.AutoDeploy(ctx, ciRun, ""); again != nil || err != nil {
		t.Errorf("second AutoDeploy of the same run = %+v, %v", again, err)
	}
	e.finish(e.waitRun("qa", "local", p.ID), outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)
	deps, _ := e.st.ListDeployments(ctx, "shop", "qa", 0)
	if len(deps) != 1 || deps[0].Image != e.qa+"/qa/shop@"+d {
		t.Errorf("qa deployments = %+v", deps)
	}
	// And it can go on to prod from there.
	if p, err := e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod"}); err != nil || p.Digest != d {
		t.Errorf("Promote after auto-deploy = %+v, %v", p, err)
	}
}

func TestDeleteApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.runningInQA(commitA, builder)
	e.playModeRuns(outcomeSucceeded, "")
	if err := e.svc.DeleteApp(ctx, rm, "shop"); !errors.Is(err, ErrForbidden) {
		t.Errorf("release manager DeleteApp = %v, want forbidden", err)
	}
	if err := e.svc.DeleteApp(ctx, adm, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteApp(nope) = %v", err)
	}
	if err := e.svc.DeleteApp(ctx, adm, "shop"); err != nil {
		t.Fatal(err)
	}
	// One delete-app deploy run per cluster of each environment.
	want := []modeRun{
		{"delete-app", "prod", "east", "apps-prod", "shop-web"},
		{"delete-app", "prod", "west", "apps-prod", "shop-web"},
		{"delete-app", "qa", "local", "apps-qa", "shop"},
	}
	if diff := cmp.Diff(want, e.modeRuns(rollout.ModeDeleteApp)); diff != "" {
		t.Errorf("delete-app runs (-want +got):\n%s", diff)
	}
	if deps, _ := e.st.ListDeployments(ctx, "shop", "", 0); len(deps) != 0 {
		t.Errorf("history kept: %+v", deps)
	}
	a, _ := e.st.ListAudit(ctx, store.AuditFilter{App: "shop"})
	if len(a) != 2 || a[0].Result != "succeeded" || a[1].Result != "forbidden: deleting an app needs the admin role; rita is a release-manager" {
		t.Errorf("audit = %+v", a)
	}
	if len(a) == 2 && (a[0].Outcome != release.OutcomeSucceeded || a[1].Outcome != release.OutcomeForbidden) {
		t.Errorf("audit outcomes = %s, %s; want succeeded, forbidden", a[0].Outcome, a[1].Outcome)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestFinished(t *testing.T) {
	pr := func(status corev1.ConditionStatus, reason, msg string, results ...string) *pipelinev1.PipelineRun {
		p := &pipelinev1.PipelineRun{}
		p.Status.StartTime = &metav1.Time{Time: time.Now()}
		p.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: reason, Message: msg})
		for i := 0; i+1 < len(results); i += 2 {
			p.Status.Results = append(p.Status.Results, pipelinev1.PipelineRunResult{Name: results[i], Value: *pipelinev1.NewStructuredValues(results[i+1])})
		}
		return p
	}
	tests := []struct {
		name     string
		pr       *pipelinev1.PipelineRun
		wantDone bool
		wantErr  string
	}{
		{"running", pr(corev1.ConditionUnknown, "Running", "Tasks Completed: 0"), false, ""},
		{"succeeded", pr(corev1.ConditionTrue, "Succeeded", "", "outcome", "succeeded"), true, ""},
		{"rolled back", pr(corev1.ConditionFalse, "Failed", "task failed", "outcome", "rolled-back", "reason", "not ready in 3m"), true, "wave 1/1 local: rolled back: not ready in 3m"},
		{"aborted", pr(corev1.ConditionFalse, "Failed", "", "outcome", "aborted", "reason", "aborted by rita"), true, "wave 1/1 local: aborted: aborted by rita"},
		{"pod failed without results", pr(corev1.ConditionFalse, "Failed", `task deploy has failed: "step-deploy" exited with code 2`), true,
			`wave 1/1 local: task deploy has failed: "step-deploy" exited with code 2`},
		{"cancelled", pr(corev1.ConditionFalse, "Cancelled", "PipelineRun cancelled"), true, "wave 1/1 local: PipelineRun cancelled: PipelineRun cancelled"},
		{"timed out", pr(corev1.ConditionFalse, "PipelineRunTimeout", "PipelineRun timed out after 1h0m0s"), true, "wave 1/1 local: PipelineRun timed out after 1h0m0s"},
	}
	s := &Service{}
	for _, tt := range tests {
		done, err := s.finished("wave 1/1 local", tt.pr)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if done != tt.wantDone || got != tt.wantErr {
			t.Errorf("%s: finished = %v, %q; want %v, %q", tt.name, done, got, tt.wantDone, tt.wantErr)
		}
	}
}

// A promotion resumed after its deployment was recorded (a crash before
// the final state) does not record it twice.
func TestResumeAfterDeploymentRecorded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.push(e.prod+"/prod/shop", commitA, builder)
	p := &release.Promotion{Kind: release.KindPromote, App: "shop", From: "qa", To: "prod", Digest: d, State: release.PromotionRunning,
		SourceImage: e.qa + "/qa/shop@" + d, TargetImage: e.prod + "/prod/shop@" + d, RequestedBy: "rita"}
	if err := e.st.CreatePromotion(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "shop", Env: "prod", Digest: d, PromotionID: p.ID}); err != nil {
		t.Fatal(err)
	}
	e.start(e.svc)
	e.finish(e.waitRun("prod", "east", p.ID), outcomeSucceeded, "")
	e.finish(e.waitRun("prod", "west", p.ID), outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)
	if deps, _ := e.st.ListDeployments(ctx, "shop", "prod", 0); len(deps) != 1 {
		t.Errorf("deployments = %+v, want the one recorded before", deps)
	}
}

// An image pushed straight to qa's registry never ran there, but the
// refusal a release manager sees is the gate's: Slipway did not build it.
func TestPromoteHandPushedDigestRefusedByGate(t *testing.T) {
	e := newEnv(t)
	e.runningInQA(commitA, builder)
	d := e.push(e.qa+"/qa/shop", commitA, "https://someone-else.example/builder")
	p, err := e.svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod", Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	if p.State != release.PromotionRefused || p.ID == 0 || !strings.Contains(p.Reason, "was not built by this Slipway") {
		t.Errorf("promotion = %+v, want recorded as refused by the gate", p)
	}
	if _, err := remote.Head(mustRef(t, e.prod+"/prod/shop@"+d)); err == nil {
		t.Error("a refused image was copied to prod")
	}
}

// One promotion per app and environment rolls out at a time: the next
// one queues (visible as queued) and starts when the active one ends, in
// order, also across a restart; a rollback meanwhile is refused naming
// the active promotion.
func TestOnePromotionPerAppAndEnvironment(t *testing.T) {
	e := newSQLiteEnv(t)
	e.start(e.svc)
	ctx := context.Background()
	dA := e.runningInQA(commitA, builder)
	dB := e.runningInQA(commitB, builder)
	// prod has a history a rollback could go back in.
	for _, d := range []string{e.push(e.prod+"/prod/shop", commitC, builder), dA} {
		if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "shop", Env: "prod", Digest: d}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod", Digest: dA})
	if err != nil || first.State != release.PromotionRunning {
		t.Fatalf("first Promote = %+v, %v", first, err)
	}
	east := e.waitRun("prod", "east", first.ID)
	second, err := e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod", Digest: dB})
	if err != nil {
		t.Fatal(err)
	}
	if second.State != release.PromotionQueued || second.Progress != queuedProgress {
		t.Errorf("second promotion = %s %q, want queued", second.State, second.Progress)
	}
	if _, err := e.svc.Rollback(ctx, rm, "shop", "prod"); err == nil {
		t.Error("Rollback during a rollout succeeded")
	} else if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), fmt.Sprintf("promotion %d (promote of %s) is running into prod", first.ID, dA)) {
		t.Errorf("Rollback during a rollout = %v, want a conflict naming promotion %d", err, first.ID)
	}
	queued, _ := e.svc.List(ctx, store.PromotionFilter{State: release.PromotionQueued})
	if len(queued) != 1 || queued[0].ID != second.ID {
		t.Errorf("queued = %+v, want promotion %d", queued, second.ID)
	}

	// Slipway restarts while the first rolls out; the queue is in the store.
	e.stop()
	e.finish(east, outcomeSucceeded, "")
	e.start(e.newService())
	if got, _ := e.st.GetPromotion(ctx, second.ID); got.State != release.PromotionQueued {
		t.Errorf("second while the first still rolls out = %s, want queued", got.State)
	}
	if diff := cmp.Diff([]string{east.Name}, e.runNames()); diff != "" {
		t.Errorf("runs before the first ended (-want +got):\n%s", diff)
	}
	e.finish(e.waitRun("prod", "west", first.ID), outcomeSucceeded, "")
	e.waitState(first.ID, release.PromotionSucceeded)
	e.waitState(second.ID, release.PromotionRunning)
	e.finish(e.waitRun("prod", "east", second.ID), outcomeSucceeded, "")
	e.finish(e.waitRun("prod", "west", second.ID), outcomeSucceeded, "")
	e.waitState(second.ID, release.PromotionSucceeded)
	deps, _ := e.st.ListDeployments(ctx, "shop", "prod", 0)
	var got []string
	for _, d := range deps {
		got = append(got, d.Digest)
	}
	if diff := cmp.Diff([]string{dB, dA}, got[:2]); diff != "" {
		t.Errorf("prod history (-want +got):\n%s", diff)
	}
}

// Auto-deploys after CI queue behind the active one; the newest queued one
// supersedes the older queued ones. An aborted rollout keeps the slot until
// its PipelineRun (rolling back) has ended.
func TestAutoDeploysQueueAndTheNewestSupersedes(t *testing.T) {
	for name, newEnv := range stores {
		t.Run(name, func(t *testing.T) { testAutoDeploysQueue(t, newEnv(t)) })
	}
}

func testAutoDeploysQueue(t *testing.T, e *env) {
	e.start(e.svc)
	ctx := context.Background()
	deploy := func(id, commit string) *release.Promotion {
		t.Helper()
		d := e.push(e.ci+"/ci/shop", commit, builder)
		p, err := e.svc.AutoDeploy(ctx, run.Run{ID: id, Repo: "acme/shop", Ref: "refs/heads/main", SHA: commit,
			State: run.Succeeded, ImageURL: e.ci + "/ci/shop:" + commit[:7], ImageDigest: d}, "")
		if err != nil || p == nil {
			t.Fatalf("AutoDeploy(%s) = %+v, %v", id, p, err)
		}
		return p
	}
	a := deploy("ci/a", commitA)
	prA := e.waitRun("qa", "local", a.ID)
	e.markRunning(prA)
	b := deploy("ci/b", commitB)
	c := deploy("ci/c", commitC)
	for _, p := range []*release.Promotion{b, c} {
		if p.State != release.PromotionQueued {
			t.Errorf("auto-deploy %s = %s, want queued", p.RunID, p.State)
		}
	}
	gotB, _ := e.st.GetPromotion(ctx, b.ID)
	if want := fmt.Sprintf("superseded by auto-deploy %d of %s", c.ID, c.Digest); gotB.State != release.PromotionAborted || gotB.Reason != want {
		t.Errorf("older queued auto-deploy = %s %q, want aborted %q", gotB.State, gotB.Reason, want)
	}
	if _, err := e.svc.Abort(ctx, adm, a.ID); err != nil {
		t.Fatal(err)
	}
	e.waitState(a.ID, release.PromotionAborted)
	// a's rollout is still rolling back: c waits for its PipelineRun.
	time.Sleep(50 * time.Millisecond)
	if got, _ := e.st.GetPromotion(ctx, c.ID); got.State != release.PromotionQueued {
		t.Errorf("newest auto-deploy while the aborted rollout still runs = %s, want queued", got.State)
	}
	e.finish(prA, outcomeAborted, "aborted by ada")
	e.finish(e.waitRun("qa", "local", c.ID), outcomeSucceeded, "")
	e.waitState(c.ID, release.PromotionSucceeded)
	want := []string{prA.Name, tekton.DeployRunName("shop", "qa", "local", c.ID)}
	if diff := cmp.Diff(want, e.runNames()); diff != "" {
		t.Errorf("runs (-want +got):\n%s", diff)
	}
}

// The configured scale-down delay reaches the deploy PipelineRun as it is,
// an explicit 0s included; unset keeps the Pipeline's default.
func TestDeployRunScaleDownDelay(t *testing.T) {
	tests := []struct {
		name, delay string
		want        []string // the scale-down-delay params passed
	}{
		{"unset", "", nil},
		{"explicit zero", "0s", []string{"0s"}},
		{"a minute", "1m", []string{"1m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rollout := "{strategy: bluegreen}"
			if tt.delay != "" {
				rollout = "{strategy: bluegreen, scaleDownDelay: " + tt.delay + "}"
			}
			cfg, err := environment.Parse([]byte(`
environments:
  - name: qa
    namespace: apps-qa
    registry: reg.example/qa
    clusters: [{name: local}]
    rollout: ` + rollout + `
apps:
  - name: shop
    repo: acme/shop
    cloneURL: ` + cloneURL + `
`))
			if err != nil {
				t.Fatal(err)
			}
			tc := fake.NewSimpleClientset()
			svc, err := New(cfg, &memStore{}, &memStore{}, &promote.Gate{}, tc,
				Options{Namespace: ns, SlipwayImage: "reg/slipway@sha256:" + strings.Repeat("0", 64), Informers: informersOf(tc)})
			if err != nil {
				t.Fatal(err)
			}
			tg, err := cfg.Target("shop", "qa")
			if err != nil {
				t.Fatal(err)
			}
			p := &release.Promotion{ID: 3, App: "shop", To: "qa", TargetImage: "reg.example/qa/shop@sha256:" + strings.Repeat("1", 64)}
			pr, err := svc.deployRun(p, tg, tg.Clusters[0], "deploy-shop-qa-3")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, prm := range pr.Spec.Params {
				if prm.Name == "scale-down-delay" {
					got = append(got, prm.Value.StringVal)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scale-down-delay params (-want +got):\n%s", diff)
			}
		})
	}
}

// A canary wave whose deploy PipelineRun Tekton stopped (timed out, e.g. a
// manual pause outlasting the deploy timeout, or cancelled) never ran its
// own rollback: the worker removes the canary it left. A run whose step
// reported its outcome cleaned up itself.
func TestKilledCanaryRolloutIsCleanedUp(t *testing.T) {
	tests := []struct {
		name        string
		end         func(e *env, pr *pipelinev1.PipelineRun)
		wantReason  string
		wantRemoved []modeRun
	}{
		{
			name: "timed out",
			end: func(e *env, pr *pipelinev1.PipelineRun) {
				pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionFalse,
					Reason: "PipelineRunTimeout", Message: "PipelineRun deploy-x failed to finish within 24h0m0s"})
				if _, err := e.tc.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
					e.t.Fatal(err)
				}
			},
			wantReason:  "wave 1/2 east: PipelineRun deploy-x failed to finish within 24h0m0s; the canary it left was removed, stable untouched",
			wantRemoved: []modeRun{{"remove-canary", "prod", "east", "apps-prod", "shop-web"}},
		},
		{
			name:       "rolled back by itself",
			end:        func(e *env, pr *pipelinev1.PipelineRun) { e.finish(pr, outcomeRolledBack, "canary 50%: crash loop") },
			wantReason: "wave 1/2 east: rolled back: canary 50%: crash loop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.playModeRuns(outcomeSucceeded, "")
			e.start(e.svc)
			e.runningInQA(commitA, builder)
			p, err := e.svc.Promote(context.Background(), rm, Request{App: "shop", To: "prod"})
			if err != nil {
				t.Fatal(err)
			}
			east := e.waitRun("prod", "east", p.ID)
			e.markRunning(east)
			tt.end(e, east)
			got := e.waitState(p.ID, release.PromotionFailed)
			if got.Reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", got.Reason, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantRemoved, e.modeRuns(rollout.ModeRemoveCanary)); diff != "" {
				t.Errorf("remove-canary runs (-want +got):\n%s", diff)
			}
		})
	}
}

// An app without a branch setting auto-deploys from the repository's
// default branch as the run's webhook payload names it (both hosts'
// real push payloads say master); an explicit branch still wins.
func TestAutoDeployOnTheRepositorysDefaultBranch(t *testing.T) {
	payloads := []struct {
		provider, file, eventType string
		parse                     func(eventType, delivery string, body []byte) (*event.Event, error)
	}{
		{"github", "push.json", "push", github.ParseWebhook},
		{"gitlab", "push.json", "Push Hook", gitlab.ParseWebhook},
	}
	for _, pl := range payloads {
		body, err := fs.ReadFile(webhooks.FS, pl.provider+"/"+pl.file)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := pl.parse(pl.eventType, "d-1", body)
		if err != nil {
			t.Fatal(err)
		}
		if ev.DefaultBranch != "master" || ev.Ref != "refs/heads/master" {
			t.Fatalf("%s payload: default branch %q, ref %q; the test wants master", pl.provider, ev.DefaultBranch, ev.Ref)
		}
		tests := []struct {
			name, branch, defaultBranch, ref string
			deploys                          bool
		}{
			{"payload's default branch", "", ev.DefaultBranch, ev.Ref, true},
			{"another branch than the default", "", ev.DefaultBranch, "refs/heads/main", false},
			{"explicit branch wins", "main", ev.DefaultBranch, ev.Ref, false},
			{"explicit branch deploys", "master", "", ev.Ref, true},
			{"default unknown: main", "", "", "refs/heads/main", true},
			{"default unknown: not master", "", "", ev.Ref, false},
		}
		for _, tt := range tests {
			t.Run(pl.provider+"/"+tt.name, func(t *testing.T) {
				e := newEnv(t)
				e.cfg.Apps[0].Branch = tt.branch
				d := e.push(e.ci+"/ci/shop", commitA, builder)
				run := run.Run{ID: "ci/a", EventID: 1, Repo: "acme/shop", Ref: tt.ref, SHA: commitA, State: run.Succeeded,
					ImageURL: e.ci + "/ci/shop:aaaaaaa", ImageDigest: d}
				p, err := e.svc.AutoDeploy(context.Background(), run, tt.defaultBranch)
				if err != nil {
					t.Fatal(err)
				}
				if got := p != nil; got != tt.deploys {
					t.Errorf("deployed = %v, want %v (promotion %+v)", got, tt.deploys, p)
				}
			})
		}
	}
}

// A rollback does not start beside an aborted promotion's rollout that is
// still rolling back; it may once that PipelineRun ended.
func TestRollbackWaitsForAnAbortedRolloutToEnd(t *testing.T) {
	e := newEnv(t)
	e.start(e.svc)
	ctx := context.Background()
	dA, dB := e.runningInQA(commitA, builder), e.runningInQA(commitB, builder)
	for _, d := range []string{e.push(e.prod+"/prod/shop", commitC, builder), dA} {
		if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "shop", Env: "prod", Digest: d}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.svc.Promote(ctx, rm, Request{App: "shop", To: "prod", Digest: dB})
	if err != nil {
		t.Fatal(err)
	}
	east := e.waitRun("prod", "east", p.ID)
	e.markRunning(east)
	if _, err := e.svc.Abort(ctx, rm, p.ID); err != nil {
		t.Fatal(err)
	}
	e.waitState(p.ID, release.PromotionAborted)
	_, err = e.svc.Rollback(ctx, rm, "shop", "prod")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "deploy PipelineRun "+east.Name+" of shop in prod is still running") {
		t.Fatalf("Rollback while the aborted rollout rolls back = %v, want a conflict naming %s", err, east.Name)
	}
	e.finish(east, outcomeAborted, "aborted by rita")
	rb, err := e.svc.Rollback(ctx, rm, "shop", "prod")
	if err != nil {
		t.Fatalf("Rollback once the aborted rollout ended: %v", err)
	}
	if rb.State != release.PromotionRunning {
		t.Errorf("rollback = %s, want running", rb.State)
	}
}

// Two replicas told at once that the same run finished deploy it once:
// the store's key, not the list of earlier promotions, decides.
func TestAutoDeployOnceAcrossReplicas(t *testing.T) {
	e := newSQLiteEnv(t)
	ctx := context.Background()
	d := e.push(e.ci+"/ci/shop", commitA, builder)
	ciRun := run.Run{ID: "ci/a", Repo: "acme/shop", Ref: "refs/heads/main", SHA: commitA, State: run.Succeeded,
		ImageURL: e.ci + "/ci/shop:aaaaaaa", ImageDigest: d}
	replicas := []*Service{e.svc, e.newService()}
	got := make([]*release.Promotion, len(replicas))
	var wg sync.WaitGroup
	for i, svc := range replicas {
		wg.Go(func() {
			p, err := svc.AutoDeploy(ctx, ciRun, "")
			if err != nil {
				t.Errorf("AutoDeploy: %v", err)
			}
			got[i] = p
		})
	}
	wg.Wait()
	started := 0
	for _, p := range got {
		if p != nil {
			started++
		}
	}
	all, err := e.st.ListPromotions(ctx, store.PromotionFilter{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if started != 1 || len(all) != 1 {
		t.Errorf("auto-deploys: %d started, %d recorded; want 1 and 1", started, len(all))
	}
}

// An app whose manifests come from its repository is deployed from its
// clone URL at the promoted commit; one without keeps the image swap; a
// promotion that does not know its commit cannot read the manifests.
func TestDeployRunManifestsSource(t *testing.T) {
	sha := strings.Repeat("c", 40)
	tests := []struct {
		name      string
		manifests string
		commit    string
		want      map[string]string // source params passed
		wantErr   string
	}{
		{"manifests", "true", sha, map[string]string{"source-url": cloneURL, "source-revision": sha}, ""},
		{"image swap", "false", sha, map[string]string{}, ""},
		{"manifests without a commit", "true", "", nil, "full commit SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := environment.Parse([]byte(`
environments:
  - name: qa
    namespace: apps-qa
    registry: reg.example/qa
    clusters: [{name: local}]
apps:
  - name: shop
    repo: acme/shop
    cloneURL: ` + cloneURL + `
    manifests: ` + tt.manifests + `
`))
			if err != nil {
				t.Fatal(err)
			}
			tc := fake.NewSimpleClientset()
			svc, err := New(cfg, &memStore{}, &memStore{}, &promote.Gate{}, tc,
				Options{Namespace: ns, SlipwayImage: "reg/slipway@sha256:" + strings.Repeat("0", 64), Informers: informersOf(tc)})
			if err != nil {
				t.Fatal(err)
			}
			tg, err := cfg.Target("shop", "qa")
			if err != nil {
				t.Fatal(err)
			}
			p := &release.Promotion{ID: 3, App: "shop", To: "qa", Commit: tt.commit, TargetImage: "reg.example/qa/shop@sha256:" + strings.Repeat("1", 64)}
			pr, err := svc.deployRun(p, tg, tg.Clusters[0], "deploy-shop-qa-3")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("deployRun = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, prm := range pr.Spec.Params {
				if strings.HasPrefix(prm.Name, "source-") {
					got[prm.Name] = prm.Value.StringVal
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("source params (-want +got):\n%s", diff)
			}
		})
	}
}

// notes records the promotion events the service announces.
type notes struct {
	mu  sync.Mutex
	got []string
}

func (n *notes) NotifyPromotion(_ context.Context, ev release.PromotionEvent, p release.Promotion) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, fmt.Sprintf("%s %d %s", ev, p.ID, p.State))
}

func (n *notes) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// The team hears when a promotion waits for approval, when it was rolled
// back and when it finished.
func TestPromotionNotifications(t *testing.T) {
	e := newEnv(t)
	n := &notes{}
	svc, err := New(e.cfg, e.st, e.st, &promote.Gate{BuilderID: builder, Runs: promote.StoreRuns{Runs: runsFake{
		{ID: "ci/a", Repo: "acme/shop", SHA: commitA, State: run.Succeeded},
	}}}, e.tc, Options{Namespace: ns, SlipwayImage: "reg/slipway@sha256:" + strings.Repeat("0", 64),
		Informers: e.informers, PollInterval: 5 * time.Millisecond, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.start(svc)
	e.runningInQA(commitA, builder)
	ctx := context.Background()

	// Waits for approval, then finishes.
	p, err := svc.Promote(ctx, dev, Request{App: "shop", From: "qa", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, rm, p.ID); err != nil {
		t.Fatal(err)
	}
	e.finish(e.waitRun("prod", "east", p.ID), outcomeSucceeded, "")
	e.finish(e.waitRun("prod", "west", p.ID), outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)

	// Starts at once and is rolled back.
	q, err := svc.Promote(ctx, rm, Request{App: "shop", To: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	e.finish(e.waitRun("prod", "east", q.ID), outcomeRolledBack, "canary 50%: crash loop")
	e.waitState(q.ID, release.PromotionFailed)

	want := []string{
		fmt.Sprintf("promotion.approval-pending %d awaiting-approval", p.ID),
		fmt.Sprintf("promotion.finished %d succeeded", p.ID),
		fmt.Sprintf("promotion.rolled-back %d failed", q.ID),
	}
	// The worker announces after recording the end; wait for the last one.
	for range 200 {
		if len(n.list()) >= len(want) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff(want, n.list()); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
}
