//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/rollout"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// deployerAccount runs deploy PipelineRuns in deployNamespace
// (deploy/base/deployer-rbac.yaml).
const deployerAccount = "slipway-deployer"

// bindDeployer lets the deploy runs change ns, as an operator would with
// the RoleBinding deploy/base/deployer-rbac.yaml describes.
func bindDeployer(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	_, err := framework.Get(t).Kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: deployerAccount},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: deployerAccount},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: deployerAccount, Namespace: deployNamespace}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("binding the deployer in %s: %v", ns, err)
	}
}

// slipwayToolsImage is the Slipway image the deployed Slipway gives its
// pipelines (its ConfigMap).
func slipwayToolsImage(ctx context.Context, t *testing.T) string {
	t.Helper()
	cm, err := framework.Get(t).Kube.CoreV1().ConfigMaps("slipway").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	img := cm.Data["SLIPWAY_SLIPWAY_IMAGE"]
	if img == "" {
		t.Fatal("the slipway ConfigMap has no SLIPWAY_SLIPWAY_IMAGE")
	}
	return img
}

// waitProgress polls the rollout's progress annotation until it contains want.
func waitProgress(ctx context.Context, t *testing.T, ns, app, want string) {
	t.Helper()
	var got string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		got, err = deploy.Progress(ctx, framework.Get(t).Kube, ns, app)
		return err == nil && strings.Contains(got, want), nil
	})
	if err != nil {
		t.Fatalf("rollout progress never said %q (last %q): %v", want, got, err)
	}
}

// The deploy Pipeline as a promotion runs it: a canary that waits for
// continue signals at each step, then an abort signal. The canary takes its
// exact share (1 of 2 pods at 25 % and 50 %: stable shrinks to 1), the stable
// pod kept through the canary is never replaced, stable is restored to 2 on
// abort, the canary goes, and the PipelineRun's results say aborted and why.
func TestDeployPipelineRunCanaryManualPauseAbortedBySignal(t *testing.T) {
	t.Parallel()
	slipway(t) // installs the Pipeline and the deployer account
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bindDeployer(ctx, t, ns)
	v1 := pushWebApp(t, "run v1", true)
	v2 := pushWebApp(t, "run v2", true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webDeployment(ns, "web", 2, labels, v1), webService(ns, "web", labels))
	pr, err := tekton.NewDeployRun(tekton.DeployRunOptions{
		Namespace: deployNamespace, Name: tekton.DeployRunName("web", ns, "local", time.Now().UnixNano()%1_000_000),
		SlipwayImage: slipwayToolsImage(ctx, t), ServiceAccount: deployerAccount,
		App: "web", Env: "e2e", Cluster: "local", Image: v2, TargetNamespace: ns, Deployment: "web",
		Strategy: "canary", Steps: []int{25, 50, 100}, Pause: tekton.PauseManual, ProgressDeadline: 2 * time.Minute, Timeout: 8 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := framework.Get(t).Tekton.TektonV1().PipelineRuns(deployNamespace)
	if _, err := runs.Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPipelineRun(t, deployNamespace, pr.Name)
		}
		_ = runs.Delete(context.Background(), pr.Name, metav1.DeleteOptions{})
	})

	kube := framework.Get(t).Kube
	waitProgress(ctx, t, ns, "web", "paused at canary 25%: waiting for continue")
	stableKept, _ := podsOf(ctx, t, ns, "app=web,!"+deploy.LabelTrack)
	if len(stableKept) != 1 {
		t.Errorf("stable pods at 25%% of 2 = %v, want 1 (the canary's exact share is 1 pod)", stableKept)
	}
	if err := deploy.Signal(ctx, kube, ns, "web", rollout.SignalContinue, "", ""); err != nil {
		t.Fatal(err)
	}
	waitProgress(ctx, t, ns, "web", "paused at canary 50%: waiting for continue")
	if err := deploy.Signal(ctx, kube, ns, "web", rollout.SignalAbort, "", "e2e says no"); err != nil {
		t.Fatal(err)
	}
	done := framework.WaitForPipelineRun(ctx, t, deployNamespace, pr.Name, framework.PipelineRunFailed)

	if got := result(done, "outcome"); got != "aborted" {
		t.Errorf("result outcome = %q, want aborted", got)
	}
	if got := result(done, "reason"); !strings.Contains(got, "aborted: e2e says no") {
		t.Errorf("result reason = %q, want the abort's reason", got)
	}
	if got := deploymentImage(ctx, t, ns, "web"); got != v1 {
		t.Errorf("stable image = %s, want untouched %s", got, v1)
	}
	var after []string
	_ = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		after, _ = podsOf(ctx, t, ns, "app=web,!"+deploy.LabelTrack)
		return len(after) == 2, nil
	})
	if len(after) != 2 {
		t.Errorf("stable pods after the abort = %v, want 2 (restored)", after)
	}
	for _, uid := range stableKept {
		if !slices.Contains(after, uid) {
			t.Errorf("stable pod %s kept through the canary was replaced: %v → %v", uid, stableKept, after)
		}
	}
	if _, err := kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("web-canary is still there (err %v)", err)
	}
	if got, _ := deploy.Progress(ctx, kube, ns, "web"); got != "rolled back: aborted: e2e says no" {
		t.Errorf("progress = %q", got)
	}
}

// A rolling deploy PipelineRun that succeeds reports outcome succeeded.
func TestDeployPipelineRunRollingSucceededOutcome(t *testing.T) {
	t.Parallel()
	slipway(t)
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bindDeployer(ctx, t, ns)
	v1 := pushWebApp(t, "rolling run v1", true)
	v2 := pushWebApp(t, "rolling run v2", true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webDeployment(ns, "web", 1, labels, v1))

	pr, err := tekton.NewDeployRun(tekton.DeployRunOptions{
		Namespace: deployNamespace, Name: tekton.DeployRunName("web", ns, "", time.Now().UnixNano()%1_000_000),
		SlipwayImage: slipwayToolsImage(ctx, t), ServiceAccount: deployerAccount,
		App: "web", Env: "e2e", Image: v2, TargetNamespace: ns, Deployment: "web", ProgressDeadline: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	runs := framework.Get(t).Tekton.TektonV1().PipelineRuns(deployNamespace)
	if _, err := runs.Create(ctx, pr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPipelineRun(t, deployNamespace, pr.Name)
		}
		_ = runs.Delete(context.Background(), pr.Name, metav1.DeleteOptions{})
	})
	done := framework.WaitForPipelineRun(ctx, t, deployNamespace, pr.Name, framework.PipelineRunSucceeded)
	if got := result(done, "outcome"); got != "succeeded" {
		t.Errorf("result outcome = %q, want succeeded", got)
	}
	if got := deploymentImage(ctx, t, ns, "web"); got != v2 {
		t.Errorf("image = %s, want %s", got, v2)
	}
}
