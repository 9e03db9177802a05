//go:build e2e

package e2e

// The README's own path (issue 19), as a newcomer walks it on the stack
// `make dev` brought up: `make demo-push` goes green, the auto-deploy
// creates hello in qa from the manifests in its repository, and the CLI's
// `slipway promote hello --to prod` (a developer's, so it waits) and
// `slipway approve ID --wait` (the release manager's) bring the same digest
// to prod. The commands are the ones `make dev` prints (slipway.sh next):
// the test reads them there first, so the printed path cannot drift from
// the tested one.

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/cli"
)

func TestReadmePathDemoPushQAThenCLIPromoteToProd(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	a := newPromoAPI(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout+2*promotionTimeout)
	defer cancel()
	kube := framework.Get(t).Kube

	next := runStackScript(t, "slipway.sh", "next")
	for _, want := range []string{
		"make demo-push",
		"kubectl -n qa get deploy,svc,cm -l slipway.dev/app=hello",
		"slipway promote hello --to prod",
		"slipway approve ID --wait",
	} {
		if !strings.Contains(next, want) {
			t.Errorf("make dev's path (slipway.sh next) does not say %q:\n%s", want, next)
		}
	}

	// make demo-push is demo.sh: a new commit on demo/hello and its push.
	t.Log(runStackScript(t, "demo.sh"))
	sha := strings.TrimSpace(gitOut(t, "--git-dir", filepath.Join(s.ReposDir, "demo/hello.git"), "rev-parse", "refs/heads/main"))
	s.waitForStatus(ctx, t, "demo/hello", sha, "success")
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	digest := result(pr, "IMAGE_DIGEST")
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("CI run %s reported IMAGE_DIGEST %q", run, digest)
	}

	// qa: the auto-deploy created hello from its Kustomize base.
	a.waitDeployed(ctx, t, "hello", "qa", digest)
	checkHelloFromManifests(ctx, t, "qa", digest, 1)
	for _, o := range []struct {
		kind string
		get  func() (metav1.Object, error)
	}{
		{"Service hello", func() (metav1.Object, error) {
			return kube.CoreV1().Services("qa").Get(ctx, "hello", metav1.GetOptions{})
		}},
		{"ConfigMap hello-config", func() (metav1.Object, error) {
			return kube.CoreV1().ConfigMaps("qa").Get(ctx, "hello-config", metav1.GetOptions{})
		}},
	} {
		obj, err := o.get()
		if err != nil {
			t.Fatalf("qa: %s from hello's manifests: %v", o.kind, err)
		}
		if got := obj.GetLabels()["slipway.dev/app"]; got != "hello" {
			t.Errorf("qa: %s labelled slipway.dev/app=%q, want hello", o.kind, got)
		}
	}

	// prod: the developer's promotion waits for the release manager.
	out := slipwayCLI(ctx, t, "promote", "hello", "--to", "prod", "--server", s.URL, "--token", a.developer)
	id := promotionID(t, out)
	if !strings.Contains(out, "awaiting-approval") {
		t.Fatalf("slipway promote by a developer into prod:\n%s\nwant awaiting-approval", out)
	}
	out = slipwayCLI(ctx, t, "approve", strconv.FormatInt(id, 10), "--wait", "--poll-interval", "1s", "--server", s.URL, "--token", a.release)
	if !strings.Contains(out, "succeeded") {
		t.Fatalf("slipway approve %d --wait:\n%s\nwant succeeded", id, out)
	}
	if p := a.get(t, id); p.Digest != digest || p.ApprovedBy == "" {
		t.Errorf("promotion %d = %+v, want digest %s approved", id, p, digest)
	}
	a.waitDeployed(ctx, t, "hello", "prod", digest)
	// The prod overlay's two replicas, of the same digest copied into the
	// prod registry.
	checkHelloFromManifests(ctx, t, "prod", digest, 2)
}

// checkHelloFromManifests checks Deployment env/hello: applied from the
// manifests (labelled with the app and environment), running digest on
// replicas available pods.
func checkHelloFromManifests(ctx context.Context, t *testing.T, env, digest string, replicas int32) {
	t.Helper()
	dep := waitAvailable(ctx, t, env, "hello")
	if got := dep.Labels["slipway.dev/app"]; got != "hello" {
		t.Errorf("%s: Deployment hello labelled slipway.dev/app=%q, want hello (applied from its manifests)", env, got)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "@"+digest) {
		t.Errorf("%s: hello runs %s, want digest %s", env, img, digest)
	}
	if *dep.Spec.Replicas != replicas {
		t.Errorf("%s: hello has %d replicas, want %d (its overlay)", env, *dep.Spec.Replicas, replicas)
	}
	pods, err := framework.Get(t).Kube.CoreV1().Pods(env).List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
	if err != nil {
		t.Fatal(err)
	}
	ready := int32(0)
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && strings.HasSuffix(p.Spec.Containers[0].Image, "@"+digest) {
			ready++
		}
	}
	if ready < replicas {
		t.Errorf("%s: %d running hello pods of %s, want %d", env, ready, digest, replicas)
	}
}

// slipwayCLI runs the slipway command line in process, as a user would
// run the binary, and returns what it printed.
func slipwayCLI(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	cmd := cli.NewRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	t.Logf("slipway %s:\n%s", strings.Join(redactToken(args), " "), out.String())
	if err != nil {
		t.Fatalf("slipway %s: %v", args[0], err)
	}
	return out.String()
}

func redactToken(args []string) []string {
	r := append([]string(nil), args...)
	for i := range r {
		if i > 0 && r[i-1] == "--token" {
			r[i] = "…"
		}
	}
	return r
}

// promotionID reads the ID column of the one row of a promotion table.
func promotionID(t *testing.T, table string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] != "ID" {
			if id, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return id
			}
		}
	}
	t.Fatalf("no promotion ID in:\n%s", table)
	return 0
}

// runStackScript runs e2e/stack/<name> args and returns its standard output.
func runStackScript(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(framework.RepoRoot(), "e2e", "stack", name), args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("e2e/stack/%s %v: %v\n%s%s", name, args, err, out.String(), stderr.String())
	}
	return out.String()
}

func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}
