//go:build e2e

package e2e

// Missed deliveries recovered (issue 16), in the HA phase (haStack: the
// HA Deployment on PostgreSQL, leader election on). Slipway's Deployment
// is scaled to zero, a push is made that Slipway cannot hear of, and once
// it is back the leader's recovery pass gets the push built:
//
//   - GitHub: the fakescm's organisation hook for e2e/* delivers the push
//     while no pod answers and records the failed delivery; Slipway finds
//     it through the hook deliveries API and asks for a redelivery, which
//     comes in signed with the original GUID.
//   - GitLab: a new branch of the reconciled project, no webhook at all;
//     Slipway finds the head no event names and enqueues it.
//
// e2e/stack/slipway.sh configures both (SLIPWAY_RECOVER_*, a pass every
// 5s). Each test's commit fails its unit test, so its run ends quickly
// with pending, running and failure statuses. The tests scale Slipway to
// zero, so they are not parallel: Go runs them before any parallel test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/recovery"
	"github.com/slipway-ci/slipway/pkg/scm/github"
)

// A GitHub push whose delivery failed while Slipway had no pod is
// redelivered once it is back, and builds.
func TestHARecoveryGitHubRedelivers(t *testing.T) {
	s := haStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	rc := stackRecovery(ctx, t)

	var (
		repo   *gitRepo
		sha    string
		missed fakescm.Attempt
	)
	scaledToZero(ctx, t, func() {
		repo, sha = newRepo(t, s, "ha-recover-gh", map[string]string{"main_test.go": haFailingTest})
		missed = s.fakeDeliver(t, rc.hook, repo.Name, "push", s.githubPush(repo, "main", zeroSHA, sha))
		if missed.StatusCode >= 200 && missed.StatusCode < 300 {
			t.Fatalf("the push was delivered while Slipway had no pod: %+v", missed.Delivery)
		}
		t.Logf("delivery %s failed as it should: %d %q", missed.GUID, missed.StatusCode, missed.Status)
	})

	// No webhook was sent: only the redelivery Slipway asks for builds it.
	waitForRunOf(ctx, t, sha)
	sts := s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	if diff := cmp.Diff([]string{"pending", "running", "failure"}, stateSequence(sts, "slipway/ci")); diff != "" {
		t.Errorf("commit statuses (-want +got)\n%s\nall: %+v", diff, sts)
	}
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
		t.Errorf("%d PipelineRuns for %s (err %v), want exactly 1", len(runs), sha[:8], err)
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(eventsOf(evs, sha)) > 0 })
	if got := eventsOf(evs, sha); len(got) != 1 || got[0].Delivery != missed.GUID {
		t.Errorf("events of %s: %+v, want one, delivery %s (the redelivery keeps the GUID)", sha[:8], got, missed.GUID)
	}

	// The fakescm's record, through the API Slipway reads: a redelivery of
	// that GUID, answered 2xx.
	ghc, err := github.NewClient("e2e", s.FakeSCM+"/github/api/v3/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, _, err := ghc.HookDeliveries(ctx, rc.hook, "")
	if err != nil {
		t.Fatalf("deliveries of %s: %v", rc.hook, err)
	}
	var attempts []github.Delivery
	redelivered := false
	for _, d := range ds {
		if d.GUID == missed.GUID {
			attempts = append(attempts, d)
			redelivered = redelivered || d.Redelivery && d.StatusCode >= 200 && d.StatusCode < 300
		}
	}
	if !redelivered {
		t.Errorf("no redelivery of %s answered 2xx; its attempts: %+v", missed.GUID, attempts)
	}
	if n := recoveredTotal(ctx, t, "github", recovery.HowRedelivered); n < 1 {
		t.Errorf("slipway_recovered_deliveries_total{provider=github,how=redelivered} = %v over Slipway's pods, want at least 1", n)
	}
}

// A GitLab push made while Slipway had no pod, of which no webhook ever
// tells, is found by reconciling the project's heads, and builds.
func TestHARecoveryGitLabReconciles(t *testing.T) {
	s := haStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	rc := stackRecovery(ctx, t)
	branch := "recover-" + randomHex(t, 4)
	repo := stackRepo(t, s, rc.project, branch)

	var sha string
	scaledToZero(ctx, t, func() {
		sha = repo.commit(t, branch, "Pushed while Slipway was down: "+branch, goSample(t, map[string]string{"main_test.go": haFailingTest}))
	})

	waitForRunOf(ctx, t, sha)
	sts := s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	if diff := cmp.Diff([]string{"pending", "running", "failure"}, stateSequence(sts, "slipway/ci")); diff != "" {
		t.Errorf("commit statuses (-want +got)\n%s\nall: %+v", diff, sts)
	}
	for _, st := range sts {
		if st.Context == "slipway/ci" && (st.Provider != "gitlab" || st.Ref != branch) {
			t.Errorf("status %+v, want a GitLab status on %s", st, branch)
		}
	}
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
		t.Errorf("%d PipelineRuns for %s (err %v), want exactly 1", len(runs), sha[:8], err)
	}
	// Enqueued with reason recovered under a delivery named after the head;
	// the reason is the queue's and dispatch replaces it with its own, the
	// delivery name stays.
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(eventsOf(evs, sha)) > 0 })
	if got := eventsOf(evs, sha); len(got) != 1 || !strings.HasPrefix(got[0].Delivery, "recovered-") {
		t.Errorf("events of %s: %+v, want one, delivery recovered-…", sha[:8], got)
	}
	if n := recoveredTotal(ctx, t, "gitlab", recovery.HowEnqueued); n < 1 {
		t.Errorf("slipway_recovered_deliveries_total{provider=gitlab,how=enqueued} = %v over Slipway's pods, want at least 1", n)
	}
}

// stackConfig is what the deployed Slipway recovers, from its ConfigMap.
type stackConfig struct {
	// hook receives the events of e2e/* repositories.
	hook github.Hook
	// project is a GitLab project path under e2e/.
	project string
}

func stackRecovery(ctx context.Context, t *testing.T) stackConfig {
	t.Helper()
	cm, err := framework.Get(t).Kube.CoreV1().ConfigMaps("slipway").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Slipway's ConfigMap: %v", err)
	}
	if d, err := time.ParseDuration(cm.Data["SLIPWAY_RECOVER_INTERVAL"]); err != nil || d <= 0 {
		t.Fatalf("SLIPWAY_RECOVER_INTERVAL is %q: recovery is off (e2e/stack/slipway.sh sets it)", cm.Data["SLIPWAY_RECOVER_INTERVAL"])
	}
	var c stackConfig
	hooks, err := github.ParseHooks(cm.Data["SLIPWAY_GITHUB_RECOVER_HOOKS"])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		if h.Kind == github.OrgHook && h.Owner == "e2e" {
			c.hook = h
		}
	}
	for _, p := range strings.Split(cm.Data["SLIPWAY_GITLAB_RECOVER_PROJECTS"], ",") {
		if p = strings.TrimSpace(p); strings.HasPrefix(p, "e2e/") {
			c.project = p
		}
	}
	if c.hook.ID == 0 || c.project == "" {
		t.Fatalf("Slipway recovers no org:e2e hook or no e2e/ GitLab project (%q, %q): e2e/stack/slipway.sh sets them",
			cm.Data["SLIPWAY_GITHUB_RECOVER_HOOKS"], cm.Data["SLIPWAY_GITLAB_RECOVER_PROJECTS"])
	}
	return c
}

// scaledToZero scales Slipway's Deployment to zero, waits until none of
// its pods is left (so nothing answers its Service), runs f, and scales
// it back to its replica count, waiting until every replica is
// available. The scale-up happens even when f fails the test, so the
// tests after it find Slipway as they expect.
func scaledToZero(ctx context.Context, t *testing.T, f func()) {
	t.Helper()
	deps := framework.Get(t).Kube.AppsV1().Deployments("slipway")
	dep, err := deps.Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Slipway's Deployment: %v", err)
	}
	replicas := int32(1)
	if dep.Spec.Replicas != nil {
		replicas = *dep.Spec.Replicas
	}
	if replicas == 0 {
		t.Fatal("Slipway's Deployment is already scaled to zero")
	}
	selector := metav1.FormatLabelSelector(dep.Spec.Selector)
	scale := func(ctx context.Context, n int32) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			sc, err := deps.GetScale(ctx, "slipway", metav1.GetOptions{})
			if err != nil {
				return err
			}
			sc.Spec.Replicas = n
			_, err = deps.UpdateScale(ctx, "slipway", sc, metav1.UpdateOptions{})
			return err
		})
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		// Not ctx: it may be what ran out.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := scale(rctx, replicas); err != nil {
			t.Fatalf("scaling Slipway back to %d: %v", replicas, err)
		}
		waitAvailable(rctx, t, "slipway", "slipway")
		t.Logf("Slipway back with %d replicas", replicas)
	}
	t.Cleanup(restore)

	if err := scale(ctx, 0); err != nil {
		t.Fatalf("scaling Slipway to zero: %v", err)
	}
	var left int
	if err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		pods, err := framework.Get(t).Kube.CoreV1().Pods("slipway").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		left = len(pods.Items)
		return left == 0, nil
	}); err != nil {
		t.Fatalf("Slipway scaled to zero still has %d pods: %v", left, err)
	}
	t.Logf("Slipway scaled to zero (was %d replicas)", replicas)
	f()
	restore()
}

// fakeDeliver has the fakescm deliver a GitHub event of repo to its hooks,
// as GitHub does on a push, and returns the attempt made to hook.
func (s *slipwayStack) fakeDeliver(t *testing.T, hook github.Hook, repo, eventType string, payload []byte) fakescm.Attempt {
	t.Helper()
	body, err := json.Marshal(map[string]any{"repo": repo, "event": eventType, "payload": json.RawMessage(payload)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Post(s.FakeSCM+"/_fake/github/deliver", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("fakescm POST /_fake/github/deliver: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("fakescm POST /_fake/github/deliver = %d: %s", resp.StatusCode, msg)
	}
	var attempts []fakescm.Attempt
	if err := json.NewDecoder(resp.Body).Decode(&attempts); err != nil {
		t.Fatalf("decoding the deliveries: %v", err)
	}
	for _, a := range attempts {
		if a.HookID == hook.ID {
			return a
		}
	}
	t.Fatalf("the fakescm delivered %s to hooks %+v, not to %s (e2e/stack/slipway.sh registers it)", repo, attempts, hook)
	return fakescm.Attempt{}
}

// stackRepo is the served repository path that the stack made (it
// outlives the tests: Slipway's settings name it), with an empty work
// tree whose first commit starts branch on its own. The branch is deleted
// when the test passes, and kept for inspection otherwise.
func stackRepo(t *testing.T, s *slipwayStack, path, branch string) *gitRepo {
	t.Helper()
	r := &gitRepo{Name: path, bare: filepath.Join(s.ReposDir, path+".git"), work: t.TempDir()}
	if _, err := os.Stat(r.bare); err != nil {
		t.Fatalf("%s: %v (e2e/stack/slipway.sh up makes it)", r.bare, err)
	}
	r.git(t, r.work, "init", "-q", "-b", branch)
	r.git(t, r.work, "remote", "add", "origin", r.bare)
	t.Cleanup(func() {
		if !t.Failed() {
			r.git(t, "", "--git-dir", r.bare, "update-ref", "-d", "refs/heads/"+branch)
		}
	})
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "e2e", "level": "write"}`, r.Name))
	return r
}

func eventsOf(evs []apiEvent, sha string) []apiEvent {
	var out []apiEvent
	for _, e := range evs {
		if e.SHA == sha {
			out = append(out, e)
		}
	}
	return out
}

// recoveredTotal sums slipway_recovered_deliveries_total{provider, how}
// over Slipway's running pods' /metrics (the leader counts; which pod
// leads is not known), read through the API server's pod proxy.
func recoveredTotal(ctx context.Context, t *testing.T, provider, how string) float64 {
	t.Helper()
	kube := framework.Get(t).Kube
	dep, err := kube.AppsV1().Deployments("slipway").Get(ctx, "slipway", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Slipway's Deployment: %v", err)
	}
	pods, err := kube.CoreV1().Pods("slipway").List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(dep.Spec.Selector)})
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		raw, err := kube.CoreV1().Pods("slipway").ProxyGet("http", p.Name, httpPort(&p), "/metrics", nil).DoRaw(ctx)
		if err != nil {
			t.Errorf("GET /metrics of %s: %v", p.Name, err)
			continue
		}
		n, err := counterValue(raw, "slipway_recovered_deliveries_total", map[string]string{"provider": provider, "how": how})
		if err != nil {
			t.Errorf("/metrics of %s: %v", p.Name, err)
		}
		total += n
	}
	return total
}

// httpPort is the number of the pod's container port named http.
func httpPort(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == "http" {
				return strconv.Itoa(int(port.ContainerPort))
			}
		}
	}
	return "8080"
}

// counterValue is the value of counter name with exactly labels in a
// Prometheus text exposition; 0 when there is none (a counter vector not
// yet incremented shows no sample).
func counterValue(text []byte, name string, labels map[string]string) (float64, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return 0, fmt.Errorf("parsing metrics: %w", err)
	}
	for _, m := range families[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if cmp.Equal(labels, got) {
			return m.GetCounter().GetValue(), nil
		}
	}
	return 0, nil
}
