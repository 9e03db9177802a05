package promotion

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

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
