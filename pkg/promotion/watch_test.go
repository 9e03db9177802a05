package promotion

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// eventsOnly makes the service re-read nothing on its own within a test:
// only the shared informer's events can move a rollout on.
func eventsOnly(e *env) { e.svc.o.PollInterval = time.Hour }

// autoDeploy starts an auto-deploy of commitA to qa and returns it with
// its deploy PipelineRun.
func autoDeploy(t *testing.T, e *env) (*release.Promotion, *pipelinev1.PipelineRun) {
	t.Helper()
	d := e.push(e.ci+"/ci/shop", commitA, builder)
	p, err := e.svc.AutoDeploy(context.Background(), run.Run{ID: "ci/a", Repo: "acme/shop", Ref: "refs/heads/main", SHA: commitA,
		State: run.Succeeded, ImageURL: e.ci + "/ci/shop:aaaaaaa", ImageDigest: d}, "")
	if err != nil || p == nil {
		t.Fatalf("AutoDeploy = %+v, %v", p, err)
	}
	return p, e.waitRun("qa", "local", p.ID)
}

func TestRolloutFollowsTheSharedInformer(t *testing.T) {
	e := newEnv(t)
	eventsOnly(e)
	e.start(e.svc)
	p, pr := autoDeploy(t, e)

	e.markRunning(pr)
	e.setProgress(pr.Name, "canary 50%")
	e.waitFor(p.ID, "reporting the deploy pod's progress", func(p *release.Promotion) bool {
		return p.Progress == "wave 1/1 local: canary 50%"
	})
	pr, err := e.tc.TektonV1().PipelineRuns(ns).Get(context.Background(), pr.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.finish(pr, outcomeSucceeded, "")
	e.waitState(p.ID, release.PromotionSucceeded)
}

func TestDeletedDeployRunFailsThePromotion(t *testing.T) {
	e := newEnv(t)
	eventsOnly(e)
	e.start(e.svc)
	p, pr := autoDeploy(t, e)
	if err := e.tc.TektonV1().PipelineRuns(ns).Delete(context.Background(), pr.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := e.waitState(p.ID, release.PromotionFailed)
	if want := "wave 1/1 local: PipelineRun " + ns + "/" + pr.Name + " was deleted"; got.Reason != want {
		t.Errorf("reason = %q, want %q", got.Reason, want)
	}
}

func TestDeleteAppFollowsTheSharedInformer(t *testing.T) {
	e := newEnv(t)
	eventsOnly(e)
	e.runningInQA(commitA, builder)
	e.playModeRuns(outcomeSucceeded, "")
	if err := e.svc.DeleteApp(context.Background(), adm, "shop"); err != nil {
		t.Fatal(err)
	}
}

func TestRunChangesWakesOnlyFollowersOfThatDeployRun(t *testing.T) {
	run := func(name, pipeline string) *pipelinev1.PipelineRun {
		return &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{tekton.LabelPipeline: pipeline}}}
	}
	tests := []struct {
		name string
		obj  any
		want map[string]bool // woken, per followed run
	}{
		{"its deploy run", run("a", tekton.KindDeploy), map[string]bool{"a": true, "b": false}},
		{"another deploy run", run("b", tekton.KindDeploy), map[string]bool{"a": false, "b": true}},
		{"a CI run of the same name", run("a", "ci"), map[string]bool{"a": false, "b": false}},
		{"a deletion seen late", cache.DeletedFinalStateUnknown{Key: ns + "/a", Obj: run("a", tekton.KindDeploy)},
			map[string]bool{"a": true, "b": false}},
		{"not an object", "a", map[string]bool{"a": false, "b": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := runChanges{ch: map[string]chan struct{}{}}
			waits := map[string]<-chan struct{}{"a": c.next("a"), "b": c.next("b")}
			c.notify(tt.obj)
			got := map[string]bool{}
			for name, ch := range waits {
				select {
				case <-ch:
					got[name] = true
				default:
					got[name] = false
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("woken (-want +got):\n%s", diff)
			}
		})
	}
}

// Deploy runs are created in, and followed from, the deploy namespace
// only: none appears in the builds namespace, and a run of the same name
// there, finished succeeded (say, left from an older install or made by
// anyone who may create runs there), does not decide the promotion.
func TestDeployRunsLiveInTheDeployNamespace(t *testing.T) {
	e := newEnv(t)
	eventsOnly(e)
	e.start(e.svc)
	p, pr := autoDeploy(t, e)
	e.markRunning(pr)
	e.setProgress(pr.Name, "rolling 1/2")
	e.waitFor(p.ID, "reporting the deploy pod's progress", func(p *release.Promotion) bool {
		return p.Progress == "wave 1/1 local: rolling 1/2"
	})
	if pr.Namespace != ns {
		t.Errorf("deploy run in namespace %q, want the deploy namespace %q", pr.Namespace, ns)
	}
	ctx := context.Background()
	decoy := pr.DeepCopy()
	decoy.Namespace, decoy.ResourceVersion, decoy.UID = buildsNS, "", ""
	decoy, err := e.tc.TektonV1().PipelineRuns(buildsNS).Create(ctx, decoy, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	decoy.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: corev1.ConditionTrue, Reason: "Done"})
	decoy.Status.Results = []pipelinev1.PipelineRunResult{{Name: "outcome", Value: *pipelinev1.NewStructuredValues(outcomeSucceeded)}}
	if _, err := e.tc.TektonV1().PipelineRuns(buildsNS).UpdateStatus(ctx, decoy, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if pr, err = e.tc.TektonV1().PipelineRuns(ns).Get(ctx, pr.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	e.finish(pr, outcomeRolledBack, "pods crash-looped")
	if got := e.waitFor(p.ID, "ended", func(p *release.Promotion) bool { return p.State.Terminal() }); got.State != release.PromotionFailed ||
		!strings.Contains(got.Reason, "rolled back") || !strings.Contains(got.Reason, "pods crash-looped") {
		t.Errorf("promotion %s (%s), want failed by its own run's roll back in %s, not decided by the builds namespace's", got.State, got.Reason, ns)
	}
	if got := e.svc.o.Namespace + "/" + pr.Name; !slices.Contains(e.waitFor(p.ID, "recorded its run", func(*release.Promotion) bool { return true }).PipelineRuns, got) {
		t.Errorf("promotion's runs do not name %s", got)
	}
}
