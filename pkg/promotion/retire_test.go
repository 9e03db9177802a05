package promotion

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// playDeletes plays Tekton and the deploy pod for delete-app runs: each
// reports the Deployment and Service named by its app param (what a real
// pod lists for an image-swap app), marked "(dry)" on a dry run; the
// runs of the clusters in fail fail with that reason instead.
func (e *env) playDeletes(fail map[string]string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			l, err := e.tc.TektonV1().PipelineRuns(ns).List(ctx, metav1.ListOptions{LabelSelector: tekton.LabelMode + "=" + string(rollout.ModeDeleteApp)})
			if err == nil {
				for i := range l.Items {
					if pr := &l.Items[i]; len(pr.Status.Conditions) == 0 {
						e.endDelete(pr, fail[pr.Labels[tekton.LabelCluster]])
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
}

func (e *env) endDelete(pr *pipelinev1.PipelineRun, failure string) {
	var app, dry string
	for _, p := range pr.Spec.Params {
		switch p.Name {
		case "app":
			app = p.Value.StringVal
		case "dry-run":
			if p.Value.StringVal == "true" {
				dry = " (dry)"
			}
		}
	}
	status, outcome, objects := corev1.ConditionTrue, rollout.OutcomeSucceeded, "deployment/"+app+dry+"\nservice/"+app+dry+"\n"
	if failure != "" {
		status, outcome, objects = corev1.ConditionFalse, rollout.OutcomeFailed, ""
	}
	pr.Status.StartTime = &metav1.Time{Time: time.Now()}
	pr.Status.SetCondition(&apis.Condition{Type: apis.ConditionSucceeded, Status: status, Reason: "Done"})
	pr.Status.Results = []pipelinev1.PipelineRunResult{
		{Name: rollout.ResultOutcome, Value: *pipelinev1.NewStructuredValues(outcome)},
		{Name: rollout.ResultReason, Value: *pipelinev1.NewStructuredValues(failure)},
		{Name: rollout.ResultObjects, Value: *pipelinev1.NewStructuredValues(objects)},
	}
	if _, err := e.tc.TektonV1().PipelineRuns(ns).UpdateStatus(context.Background(), pr, metav1.UpdateOptions{}); err != nil {
		e.t.Error(err)
	}
}

// runNames are the delete-app runs' names in errors: they carry the time.
var (
	runNames   = regexp.MustCompile(`delete-app-[a-z0-9-]+`)
	orphanRuns = regexp.MustCompile(`orphans-[a-z0-9-]+`)
)

func TestRetireApp(t *testing.T) {
	shop := func(suffix string) *release.Retirement {
		return &release.Retirement{App: "shop", DryRun: suffix != "", Clusters: []release.RetiredCluster{
			{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"deployment/shop" + suffix, "service/shop" + suffix}},
			{Env: "prod", Cluster: "east", Namespace: "apps-prod", Objects: []string{"deployment/shop-web" + suffix, "service/shop-web" + suffix}},
			{Env: "prod", Cluster: "west", Namespace: "apps-prod", Objects: []string{"deployment/shop-web" + suffix, "service/shop-web" + suffix}},
		}}
	}
	westFailed := shop("")
	westFailed.Clusters[2].Objects, westFailed.Clusters[2].Error = nil, "delete-app PipelineRun: forbidden: cannot delete services"
	tests := []struct {
		name        string
		who         Caller
		app         string
		dryRun      bool
		fail        map[string]string
		want        *release.Retirement
		wantErr     error
		wantHistory bool // the app's deployments are still recorded
		wantAudit   string
	}{
		{name: "admin deletes", who: adm, app: "shop", want: shop(""), wantAudit: "app-delete succeeded"},
		{name: "admin dry run", who: adm, app: "shop", dryRun: true, want: shop(" (dry)"), wantHistory: true, wantAudit: "app-delete-dry-run succeeded"},
		{name: "one cluster fails: history kept", who: adm, app: "shop", fail: map[string]string{"west": "forbidden: cannot delete services"},
			want: westFailed, wantHistory: true, wantAudit: "app-delete failed"},
		{name: "release manager", who: rm, app: "shop", wantErr: ErrForbidden, wantHistory: true, wantAudit: "app-delete forbidden"},
		{name: "developer dry run", who: dev, app: "shop", dryRun: true, wantErr: ErrForbidden, wantHistory: true, wantAudit: "app-delete-dry-run forbidden"},
		{name: "no identity", who: Caller{}, app: "shop", wantErr: ErrForbidden, wantHistory: true, wantAudit: "app-delete forbidden"},
		{name: "unknown app", who: adm, app: "nope", wantErr: ErrNotFound, wantHistory: true, wantAudit: "app-delete failed"},
		{name: "bad name", who: adm, app: "Shop_1", wantErr: ErrInvalid, wantHistory: true, wantAudit: "app-delete failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.runningInQA(commitA, builder)
			e.playDeletes(tt.fail)
			got, err := e.svc.RetireApp(ctx, tt.who, tt.app, tt.dryRun)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RetireApp = %v, want %v", err, tt.wantErr)
			}
			if got != nil {
				for i := range got.Clusters {
					got.Clusters[i].Error = runNames.ReplaceAllString(got.Clusters[i].Error, "PipelineRun")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RetireApp (-want +got):\n%s", diff)
			}
			if tt.wantErr != nil && len(e.modeRuns(rollout.ModeDeleteApp)) != 0 {
				t.Errorf("a refused request started runs: %v", e.modeRuns(rollout.ModeDeleteApp))
			}
			deps, _ := e.st.ListDeployments(ctx, "shop", "", 0)
			if (len(deps) > 0) != tt.wantHistory {
				t.Errorf("shop's deployments after: %v, want kept = %v", deps, tt.wantHistory)
			}
			a, _ := e.st.ListAudit(ctx, store.AuditFilter{})
			if len(a) != 1 || a[0].Action+" "+string(a[0].Outcome) != tt.wantAudit {
				t.Errorf("audit = %+v, want one %q", a, tt.wantAudit)
			}
		})
	}
}

// An app the config no longer lists is still deleted by name, where its
// deployments were recorded.
func TestRetireAppRemovedFromConfig(t *testing.T) {
	for name, newEnv := range stores {
		t.Run(name, func(t *testing.T) { testRetireAppRemovedFromConfig(t, newEnv(t)) })
	}
}

func testRetireAppRemovedFromConfig(t *testing.T, e *env) {
	ctx := context.Background()
	for _, env := range []string{"qa", "gone"} {
		if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "old", Env: env, Digest: "sha256:" + strings.Repeat("a", 64)}); err != nil {
			t.Fatal(err)
		}
	}
	e.playDeletes(nil)
	got, err := e.svc.RetireApp(ctx, adm, "old", false)
	if err != nil {
		t.Fatal(err)
	}
	want := &release.Retirement{App: "old", Clusters: []release.RetiredCluster{
		{Env: "qa", Cluster: "local", Namespace: "apps-qa", Objects: []string{"deployment/old", "service/old"}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RetireApp (-want +got):\n%s", diff)
	}
	if apps, _ := e.svc.deployedApps(ctx); len(apps) != 0 {
		t.Errorf("deployed apps after = %v, want none", apps)
	}
}

func TestRetireRemoved(t *testing.T) {
	tests := []struct {
		name     string
		allow    bool
		fail     map[string]string
		wantRuns []modeRun
		want     []release.RemovedApp
	}{
		{name: "off: listed, not touched", want: []release.RemovedApp{{App: "old", Envs: []string{"prod", "qa"}, State: release.RemovedPending}}},
		{name: "on: retired", allow: true, wantRuns: []modeRun{
			{"delete-app", "prod", "east", "apps-prod", "old"},
			{"delete-app", "prod", "west", "apps-prod", "old"},
			{"delete-app", "qa", "local", "apps-qa", "old"},
		}, want: []release.RemovedApp{}},
		{name: "on, a cluster fails: listed as failed", allow: true, fail: map[string]string{"east": "cluster away"}, wantRuns: []modeRun{
			{"delete-app", "prod", "east", "apps-prod", "old"},
			{"delete-app", "prod", "west", "apps-prod", "old"},
			{"delete-app", "qa", "local", "apps-qa", "old"},
		}, want: []release.RemovedApp{{App: "old", Envs: []string{"prod", "qa"}, State: release.RemovedFailed,
			Error: "deleting old: prod/east: delete-app PipelineRun: cluster away"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.runningInQA(commitA, builder) // shop is in the config: never retired
			for _, env := range []string{"qa", "prod"} {
				if err := e.st.RecordDeployment(ctx, &release.Deployment{App: "old", Env: env, Digest: "sha256:" + strings.Repeat("a", 64)}); err != nil {
					t.Fatal(err)
				}
			}
			e.cfg.RetireRemovedApps = tt.allow
			e.playDeletes(tt.fail)
			e.svc.retireRemoved(ctx)
			if diff := cmp.Diff(tt.wantRuns, e.modeRuns(rollout.ModeDeleteApp)); diff != "" {
				t.Errorf("delete-app runs (-want +got):\n%s", diff)
			}
			got, err := e.svc.RemovedApps(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				got[i].Error = runNames.ReplaceAllString(got[i].Error, "PipelineRun")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RemovedApps (-want +got):\n%s", diff)
			}
			if deps, _ := e.st.ListDeployments(ctx, "shop", "", 0); len(deps) == 0 {
				t.Error("shop, still configured, lost its history")
			}
		})
	}
}
