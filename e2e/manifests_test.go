//go:build e2e

package e2e

// Apps from Kustomize manifests and the exact canary share, on the real
// cluster through `slipway deploy` (what the deploy Task runs): no CI
// build is needed, the images are busybox web apps pushed by the test.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/cli"
	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/rollout"
)

// writeManifests writes a checkout whose .slipway.yaml names a Kustomize
// base with the app's Deployment, Service and, when config is set, a
// ConfigMap (image name "web", replaced by the digest).
func writeManifests(t *testing.T, dir string, config bool) {
	t.Helper()
	resources := "[deployment.yaml, service.yaml]"
	if config {
		resources = "[deployment.yaml, service.yaml, configmap.yaml]"
	}
	files := map[string]string{
		".slipway.yaml":                         "manifests: {path: deploy, image: web}\n",
		"deploy/base/kustomization.yaml":        "resources: " + resources + "\n",
		"deploy/overlays/qa/kustomization.yaml": "resources: [../../base]\n",
		"deploy/base/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: web
          image: web
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1, failureThreshold: 1}
`,
		"deploy/base/service.yaml":   "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n",
		"deploy/base/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {GREETING: hello}\n",
	}
	if err := os.RemoveAll(filepath.Join(dir, "deploy")); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// slipwayDeploy runs `slipway deploy` in-process against the stack.
func slipwayDeploy(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = framework.StackKubeconfig()
	}
	cmd := cli.NewDeployCmd()
	cmd.SilenceUsage = true
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--poll-interval", "1s", "--progress-deadline", "2m"}, args...))
	err := cmd.ExecuteContext(ctx)
	t.Logf("slipway deploy %s:\n%s", strings.Join(args, " "), out.String())
	return out.String(), err
}

// labelledObjects lists "kind/name" of the objects labelled for app in ns
// among the kinds manifests hold.
func labelledObjects(ctx context.Context, t *testing.T, ns, app string) []string {
	t.Helper()
	kube := framework.Get(t).Kube
	sel := metav1.ListOptions{LabelSelector: deploy.LabelApp + "=" + app}
	var out []string
	deps, err := kube.AppsV1().Deployments(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		out = append(out, "deployment/"+d.Name)
	}
	svcs, err := kube.CoreV1().Services(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		out = append(out, "service/"+s.Name)
	}
	cms, err := kube.CoreV1().ConfigMaps(ns).List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cms.Items {
		out = append(out, "configmap/"+c.Name)
	}
	slices.Sort(out)
	return out
}

// An app promoted for the first time is created from its Kustomize base;
// a ConfigMap removed from the base is pruned on the next rollout;
// retiring the app (delete-app, after a dry run that deletes nothing)
// leaves no labelled object.
func TestManifestsCreatePruneRetire(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	v1, v2 := pushWebApp(t, "manifests v1", true), pushWebApp(t, "manifests v2", true)
	src := t.TempDir()
	run := func(image string) {
		t.Helper()
		if _, err := slipwayDeploy(ctx, t, "--strategy", "rolling", "--image", image, "--namespace", ns, "--app", "web",
			"--source", src, "--environment", "qa"); err != nil {
			t.Fatalf("slipway deploy %s: %v", image, err)
		}
	}

	writeManifests(t, src, true)
	run(v1)
	if got := deploymentImage(ctx, t, ns, "web"); got != v1 {
		t.Errorf("created with %s, want %s", got, v1)
	}
	want := []string{"configmap/slipway-applyset-web", "configmap/web-config", "deployment/web", "service/web"}
	if got := labelledObjects(ctx, t, ns, "web"); !slices.Equal(got, want) {
		t.Errorf("after the first rollout: %v, want %v", got, want)
	}

	writeManifests(t, src, false)
	run(v2)
	if got := deploymentImage(ctx, t, ns, "web"); got != v2 {
		t.Errorf("rolled out %s, want %s", got, v2)
	}
	if _, err := framework.Get(t).Kube.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap web-config: %v, want it pruned", err)
	}
	waitAvailable(ctx, t, ns, "web")

	out, err := slipwayDeploy(ctx, t, "--delete-app", "--dry-run", "--namespace", ns, "--app", "web")
	if err != nil || !strings.Contains(out, "would delete from "+ns+": configmap/slipway-applyset-web, deployment/web, service/web") {
		t.Fatalf("dry run = %v, output %q", err, out)
	}
	if got := labelledObjects(ctx, t, ns, "web"); len(got) != 3 {
		t.Errorf("the dry run deleted something: left %v", got)
	}
	if _, err := slipwayDeploy(ctx, t, "--delete-app", "--namespace", ns, "--app", "web"); err != nil {
		t.Fatalf("delete-app: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return len(labelledObjects(ctx, t, ns, "web")) == 0, nil
	})
	if err != nil {
		t.Errorf("labelled objects left after retirement: %v", labelledObjects(ctx, t, ns, "web"))
	}
}

// A replica-ratio canary on 10 replicas runs 1 canary + 9 stable at 10 %;
// an abort gives stable its 10 back and replaces none of the stable pods
// that stayed.
func TestDeployCanaryExactShareAndAbortRestoresStable(t *testing.T) {
	ns := framework.NewNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	v1, v2 := pushWebApp(t, "exact v1", true), pushWebApp(t, "exact v2", true)
	labels := map[string]string{"app": "web"}
	deployFixture(ctx, t, ns, webService(ns, "web", labels), webDeployment(ns, "web", 10, labels, v1))
	stable := "app=web," + deploy.LabelTrack + "!=canary"
	kube := framework.Get(t).Kube

	type seen struct {
		canary, stable int32
		kept           []string
		err            error
	}
	done := make(chan seen, 1)
	go func() {
		var s seen
		// Paused at 10 %: the canary's pod is ready and stable shrank.
		s.err = wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err := deploy.Progress(ctx, kube, ns, "web")
			return err == nil && strings.HasPrefix(p, "paused at canary 10%"), nil
		})
		if s.err == nil {
			c, _ := kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{})
			st, _ := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if c != nil && st != nil {
				s.canary, s.stable = c.Status.ReadyReplicas, *st.Spec.Replicas
			}
			s.kept, _ = podsOf(ctx, t, ns, stable)
			s.err = deploy.Signal(ctx, kube, ns, "web", rollout.SignalAbort, "", "e2e abort at 10%")
		}
		done <- s
	}()
	err := deployer(t).Run(ctx, deploy.Spec{Strategy: rollout.Canary, Namespace: ns, App: "web", Image: v2,
		Steps: []int{10, 100}, ManualPause: true, ProgressDeadline: 2 * time.Minute})
	s := <-done
	if s.err != nil {
		t.Fatalf("waiting for the 10%% step: %v", s.err)
	}
	if s.canary != 1 || s.stable != 9 {
		t.Errorf("at 10%%: %d canary + %d stable replicas, want 1 + 9", s.canary, s.stable)
	}
	var rb *deploy.RollbackError
	if !errors.As(err, &rb) || !rb.Restored || !rb.Aborted {
		t.Fatalf("aborted canary = %v, want a restored rollback after the abort", err)
	}
	dep := waitAvailable(ctx, t, ns, "web")
	if *dep.Spec.Replicas != 10 || deploymentImage(ctx, t, ns, "web") != v1 {
		t.Errorf("stable = %d replicas of %s, want 10 of %s", *dep.Spec.Replicas, deploymentImage(ctx, t, ns, "web"), v1)
	}
	after, images := podsOf(ctx, t, ns, stable)
	for _, uid := range s.kept {
		if !slices.Contains(after, uid) {
			t.Errorf("stable pod %s was replaced", uid)
		}
	}
	if !slices.Equal(images, []string{v1}) {
		t.Errorf("stable pods run %v, want only %s", images, v1)
	}
	if _, err := kube.AppsV1().Deployments(ns).Get(ctx, "web-canary", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("web-canary: %v, want it gone", err)
	}
}
