//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/framework"
)

// slowTest keeps the unit-test task busy until the run is cancelled.
const slowTest = `package main

import (
	"testing"
	"time"
)

func TestSlow(t *testing.T) { time.Sleep(20 * time.Minute) }
`

// A new push to a merge request cancels its running build: the first run
// ends Cancelled with a canceled status, the second succeeds.
func TestNewMergeRequestPushCancelsRunningBuild(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "gl-cancel", nil)
	const iid = 5
	headRef := fmt.Sprintf("refs/merge-requests/%d/head", iid)
	pid := 1000 + rand.Int64N(1_000_000)
	s.fakePost(t, "/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, pid, repo.Name))

	first := repo.commit(t, "feature", "A slow test", map[string]string{"slow_test.go": slowTest})
	repo.setRef(t, headRef, first)
	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMR(repo, pid, iid, "open", "feature", first, "")))
	run1 := waitForRunOf(ctx, t, first)
	// The first run is busy in its unit tests when the second push comes.
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run1, func(pr *pipelinev1.PipelineRun) (bool, error) {
		if done, _ := framework.PipelineRunDone(pr); done {
			return false, fmt.Errorf("%w: %s finished before the second push", framework.ErrTerminal, pr.Name)
		}
		return contains(pipelineTasks(pr), "unit-test"), nil
	})

	repo.git(t, repo.work, "rm", "-q", "slow_test.go")
	second := repo.commit(t, "feature", "Drop the slow test", nil)
	repo.setRef(t, headRef, second)
	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMR(repo, pid, iid, "update", "feature", second, first)))

	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run1, framework.PipelineRunReason(pipelinev1.PipelineRunReasonCancelled.String()))
	sts := s.waitForStatus(ctx, t, repo.Name, first, "canceled")
	if got := stateSequence(sts, "slipway/ci"); got[len(got)-1] != "canceled" {
		t.Errorf("statuses of the first commit end with %v, want canceled last", got)
	}
	run2 := waitForRunOf(ctx, t, second)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run2, framework.PipelineRunSucceeded)
	s.waitForStatus(ctx, t, repo.Name, second, "success")
}

// A redelivered webhook (same delivery id), before or after its run, is
// answered as a duplicate and makes no second PipelineRun.
func TestRedeliveryMakesNoSecondRun(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "gh-redeliver", nil)
	delivery := "e2e-" + randomHex(t, 8)
	body := s.githubPush(repo, "main", zeroSHA, sha)

	mustAccept(t, s.sendGitHub(t, "push", delivery, body))
	if code := s.sendGitHub(t, "push", delivery, body); code != http.StatusOK {
		t.Errorf("immediate redelivery answered %d, want 200 (duplicate)", code)
	}
	run := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	if code := s.sendGitHub(t, "push", delivery, body); code != http.StatusOK {
		t.Errorf("redelivery after the run answered %d, want 200 (duplicate)", code)
	}

	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) > 0 && evs[0].State == "dispatched" })
	if len(evs) != 1 {
		t.Errorf("Slipway recorded %d events for %s, want 1: %+v", len(evs), repo.Name, evs)
	}
	runs, err := runsOf(ctx, t, sha)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Errorf("%d PipelineRuns for %s, want 1", len(runs), sha)
	}
}

// Slipway killed after accepting an event and before dispatching it runs
// the event exactly once after its restart. The event is held back by
// making the repository's .slipway.yaml unreadable (a 503 from the host)
// until Slipway's process is gone.
func TestCrashBeforeDispatchRunsOnce(t *testing.T) {
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "gh-crash", nil)
	s.fakePost(t, "/_fake/reads?down=true", "")
	t.Cleanup(func() { s.fakePost(t, "/_fake/reads?down=false", "") })

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool {
		return len(evs) == 1 && evs[0].State == "queued" && evs[0].Attempts > 0
	})

	pod, restarts := slipwayPod(ctx, t)
	killContainer(t, pod)
	s.fakePost(t, "/_fake/reads?down=false", "")
	framework.WaitForPod(ctx, t, "slipway", pod.Name, func(p *corev1.Pod) (bool, error) {
		ready, _ := framework.PodReady(p)
		return ready && restartCount(p) > restarts, nil
	})

	run := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	s.waitForStatus(ctx, t, repo.Name, sha, "success")
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) == 1 && evs[0].State == "dispatched" })
	t.Logf("event after the crash: %+v", evs[0])
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
		t.Errorf("PipelineRuns for %s: %d (err %v), want exactly 1", sha, len(runs), err)
	}
}

// With the apiserver stopped for 30 s, Slipway (in the cluster, reached
// through kube-proxy's rules) keeps accepting a burst of webhooks; once the
// apiserver is back every event runs, once.
func TestAPIServerOutageLosesNoEvent(t *testing.T) {
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout)
	defer cancel()
	repo, base := newRepo(t, s, "gh-outage", nil)
	var shas []string
	for i := range 3 {
		shas = append(shas, repo.commit(t, fmt.Sprintf("burst-%d", i), "Burst commit", map[string]string{"BURST": fmt.Sprint(i)}))
		repo.git(t, repo.work, "checkout", "-q", "main")
	}

	stackScript(t, "apiserver-stop")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			stackScript(t, "apiserver-start")
		}
	})
	down := time.Now()
	for i, sha := range shas {
		mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, fmt.Sprintf("burst-%d", i), base, sha)))
	}
	// The dispatcher has tried (and failed) every one before the apiserver returns.
	s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool {
		n := 0
		for _, e := range evs {
			if e.State == "queued" && e.Attempts > 0 {
				n++
			}
		}
		return n == len(shas)
	})
	// The outage lasts 30 s, whatever the burst took.
	if rest := 30*time.Second - time.Since(down); rest > 0 {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(rest):
		}
	}
	stackScript(t, "apiserver-start")
	restarted = true

	for _, sha := range shas {
		run := waitForRunOf(ctx, t, sha)
		framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
		s.waitForStatus(ctx, t, repo.Name, sha, "success")
	}
	for _, sha := range shas {
		if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
			t.Errorf("PipelineRuns for %s: %d (err %v), want exactly 1", sha, len(runs), err)
		}
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func([]apiEvent) bool { return true })
	var states []string
	for _, e := range evs {
		states = append(states, e.State)
	}
	if diff := cmp.Diff([]string{"dispatched", "dispatched", "dispatched"}, states); diff != "" {
		t.Errorf("event states (-want +got)\n%s", diff)
	}
}

// apiEvent is an event as GET /api/v1/events shows it.
type apiEvent struct {
	ID        int64  `json:"id"`
	SHA       string `json:"sha"`
	Delivery  string `json:"delivery"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError"`
}

// waitForEvents polls Slipway's API until the events of repo satisfy cond.
func (s *slipwayStack) waitForEvents(ctx context.Context, t *testing.T, repo string, cond func([]apiEvent) bool) []apiEvent {
	t.Helper()
	var last []apiEvent
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/events?repo="+repo, nil)
		if err != nil {
			return false, err
		}
		s.authorize(req)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Logf("GET /api/v1/events (retrying): %v", err)
			return false, nil
		}
		defer resp.Body.Close()
		var out struct {
			Items []apiEvent `json:"items"`
		}
		if resp.StatusCode != http.StatusOK {
			return false, nil
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return false, fmt.Errorf("decoding events: %w", err)
		}
		last = out.Items
		return cond(last), nil
	})
	if err != nil {
		t.Fatalf("events of %s: %v; last seen: %+v", repo, err, last)
	}
	return last
}

// slipwayPod is Slipway's running pod and its containers' restart count.
func slipwayPod(ctx context.Context, t *testing.T) (*corev1.Pod, int32) {
	t.Helper()
	pods, err := framework.Get(t).Kube.CoreV1().Pods("slipway").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=slipway"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if ready, _ := framework.PodReady(p); ready && p.DeletionTimestamp == nil {
			return p, restartCount(p)
		}
	}
	t.Fatalf("no ready Slipway pod among %d", len(pods.Items))
	return nil, 0
}

func restartCount(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

// killContainer SIGKILLs the pod's slipway container through containerd,
// as a crash or the OOM killer would: no graceful shutdown.
func killContainer(t *testing.T, p *corev1.Pod) {
	t.Helper()
	var id string
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == "slipway" {
			id = strings.TrimPrefix(c.ContainerID, "containerd://")
		}
	}
	if id == "" {
		t.Fatalf("pod %s has no slipway container id", p.Name)
	}
	sock := filepath.Join(framework.RepoRoot(), ".cache", "stack", "run", "containerd", "containerd.sock")
	out, err := exec.Command("ctr", "--address", sock, "-n", "k8s.io", "task", "kill", "-s", "SIGKILL", id).CombinedOutput()
	if err != nil {
		t.Fatalf("killing container %s: %v\n%s", id, err, out)
	}
	t.Logf("SIGKILLed Slipway's container %s in pod %s", id[:12], p.Name)
}

// stackScript runs e2e/stack/slipway.sh with one command.
func stackScript(t *testing.T, command string) {
	t.Helper()
	script := filepath.Join(framework.RepoRoot(), "e2e", "stack", "slipway.sh")
	cmd := exec.Command(script, command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, command, err, out.String())
	}
	fmt.Fprint(os.Stderr, out.String())
}
