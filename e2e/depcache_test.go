//go:build e2e

package e2e

// The unit-test step's dependency cache (pkg/depcache, tasks/unit-test.yaml):
// a trusted push of the Go sample misses and saves Go's caches as
// <registry>/apps/<app>/depcache:deps-HASH; the next push with the same
// go.mod restores them and saves nothing; a pull request changing go.mod
// misses and writes no cache.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

func TestUnitTestDependencyCache(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*buildTimeout)
	defer cancel()
	repo, sha1 := newRepo(t, s, "depcache", nil)
	cacheRepo, err := name.NewRepository(framework.Registry+"/apps/"+tekton.AppName(repo.Name)+"/depcache", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha1)))
	pr1 := framework.WaitForPipelineRun(ctx, t, buildsNamespace, waitForRunOf(ctx, t, sha1), framework.PipelineRunSucceeded)
	first := unitTestSteps(ctx, t, pr1)
	expectLog(t, "first push, cache-restore", first["cache-restore"].log, "slipway cache: miss")
	expectLog(t, "first push, cache-save", first["cache-save"].log, "slipway cache: saved "+cacheRepo.String()+":deps-")
	tags := cacheTags(ctx, t, cacheRepo)
	if len(tags) != 1 {
		t.Fatalf("after the first push: cache tags %v, want one", tags)
	}

	sha2 := repo.commit(t, "main", "Change the source, not the dependencies", map[string]string{"extra.go": "package main\n\n// extra changes the source only.\nvar extra = 2\n"})
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", sha1, sha2)))
	pr2 := framework.WaitForPipelineRun(ctx, t, buildsNamespace, waitForRunOf(ctx, t, sha2), framework.PipelineRunSucceeded)
	second := unitTestSteps(ctx, t, pr2)
	expectLog(t, "second push, cache-restore", second["cache-restore"].log, "slipway cache: restored "+cacheRepo.String()+":"+tags[0])
	expectLog(t, "second push, cache-save", second["cache-save"].log, "was restored, nothing to save")
	// Measured, not asserted (bench/RESULTS.md has the numbers).
	t.Logf("unit-test step: %s cold, %s with the cache restored (restore %s, the first save %s); PipelineRun created → done: %s, then %s",
		first["test"].took, second["test"].took, second["cache-restore"].took, first["cache-save"].took, runTook(pr1), runTook(pr2))

	// A pull request (trusted author, still sandboxed) with another go.mod:
	// a new key, a miss, and nothing written.
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "e2e", "level": "write"}`, repo.Name))
	const number = 31
	goMod := "module example.com/hello\n\ngo " + baseGoVersion(t) + "\n\n// a change of the dependency manifest\n"
	sha3 := repo.commit(t, "deps", "Touch go.mod", map[string]string{"go.mod": goMod})
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha3)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "deps", "target": "main", "title": "deps"}`, repo.Name, number, sha3))
	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPR(repo, number, "deps", sha3)))
	pr3 := framework.WaitForPipelineRun(ctx, t, buildsNamespace, waitForRunOf(ctx, t, sha3), framework.PipelineRunSucceeded)
	third := unitTestSteps(ctx, t, pr3)
	expectLog(t, "pull request, cache-restore", third["cache-restore"].log, "slipway cache: miss")
	if strings.Contains(third["cache-save"].log, "saved") {
		t.Errorf("the pull request's run saved a cache:\n%s", third["cache-save"].log)
	}
	if got := cacheTags(ctx, t, cacheRepo); len(got) != 1 || got[0] != tags[0] {
		t.Errorf("after the pull request: cache tags %v, want only main's %v", got, tags)
	}
}

type stepRun struct {
	log  string
	took time.Duration
}

// unitTestSteps are the logs and durations of the unit-test TaskRun's steps.
func unitTestSteps(ctx context.Context, t *testing.T, pr *pipelinev1.PipelineRun) map[string]stepRun {
	t.Helper()
	c := framework.Get(t)
	for _, ch := range pr.Status.ChildReferences {
		if ch.PipelineTaskName != "unit-test" {
			continue
		}
		tr, err := c.Tekton.TektonV1().TaskRuns(pr.Namespace).Get(ctx, ch.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("TaskRun %s: %v", ch.Name, err)
		}
		out := map[string]stepRun{}
		for _, st := range tr.Status.Steps {
			var sr stepRun
			if term := st.Terminated; term != nil {
				sr.took = term.FinishedAt.Sub(term.StartedAt.Time)
			}
			b, err := c.Kube.CoreV1().Pods(pr.Namespace).GetLogs(tr.Status.PodName, &corev1.PodLogOptions{Container: st.Container}).DoRaw(ctx)
			if err != nil {
				t.Fatalf("logs of %s/%s: %v", tr.Status.PodName, st.Container, err)
			}
			sr.log = string(b)
			out[st.Name] = sr
		}
		return out
	}
	t.Fatalf("%s has no unit-test TaskRun", pr.Name)
	return nil
}

func expectLog(t *testing.T, what, log, want string) {
	t.Helper()
	if !strings.Contains(log, want) {
		t.Errorf("%s: log lacks %q:\n%s", what, want, log)
	}
}

func cacheTags(ctx context.Context, t *testing.T, repo name.Repository) []string {
	t.Helper()
	tags, err := remote.List(repo, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("listing %s: %v", repo, err)
	}
	return tags
}

// runTook is a finished PipelineRun's time from creation to completion.
func runTook(pr *pipelinev1.PipelineRun) time.Duration {
	if pr.Status.CompletionTime == nil {
		return 0
	}
	return pr.Status.CompletionTime.Sub(pr.CreationTimestamp.Time)
}
