//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

const zeroSHA = "0000000000000000000000000000000000000000"

// buildTimeout bounds one pipeline on the 2-core local stack, cold caches included.
const buildTimeout = 20 * time.Minute

// A GitHub push runs the whole pipeline: clone from the git server, unit
// tests, Dockerfile, BuildKit build and push with provenance; GitHub saw
// pending → running → success; the registry serves the run's digest; the
// provenance names the repository and the commit.
func TestGitHubPushBuildsAndPushes(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "gh-push", nil)

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)

	sts := s.waitForStatus(ctx, t, repo.Name, sha, "success")
	if diff := cmp.Diff([]string{"pending", "running", "success"}, stateSequence(sts, "slipway/ci")); diff != "" {
		t.Errorf("commit statuses (-want +got)\n%s\nall: %+v", diff, sts)
	}
	checkTargetURLs(t, s, sts, run)
	checkImage(ctx, t, pr, s.cloneURL(repo), repo.Name, sha)
	checkSecretWorkspaces(ctx, t, pr)
}

// A GitLab merge request runs the same pipeline from the MR's head ref, and
// its commit statuses carry the MR's source branch.
func TestGitLabMergeRequestBuildsAndPushes(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "gl-mr", nil)
	sha := repo.commit(t, "feature", "Change the feature", map[string]string{"CHANGES": "one\n"})
	const iid = 3
	pid := 1000 + rand.Int64N(1_000_000)
	repo.setRef(t, fmt.Sprintf("refs/merge-requests/%d/head", iid), sha)
	s.fakePost(t, "/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, pid, repo.Name))

	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMR(repo, pid, iid, "open", "feature", sha, "")))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)

	sts := s.waitForStatus(ctx, t, repo.Name, sha, "success")
	if diff := cmp.Diff([]string{"pending", "running", "success"}, stateSequence(sts, "slipway/ci")); diff != "" {
		t.Errorf("commit statuses (-want +got)\n%s\nall: %+v", diff, sts)
	}
	checkTargetURLs(t, s, sts, run)
	for _, st := range sts {
		if st.Provider != "gitlab" || st.Ref != "feature" {
			t.Errorf("status %s: provider %q ref %q, want gitlab on the source branch feature", st.State, st.Provider, st.Ref)
		}
	}
	// A merge request's image goes to the PR namespace (trust_test.go).
	checkImageAt(ctx, t, pr, s.cloneURL(repo), prImageRef(tekton.AppName(repo.Name), sha), sha)
}

// A failing unit test fails the run before anything is built: failure
// status, no image in the registry.
func TestFailingUnitTestPushesNothing(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "gh-fail", map[string]string{"main_test.go": `package main

import "testing"

func TestBroken(t *testing.T) { t.Fatal("this test fails on purpose") }
`})

	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunFailed)

	sts := s.waitForStatus(ctx, t, repo.Name, sha, "failure")
	if diff := cmp.Diff([]string{"pending", "running", "failure"}, stateSequence(sts, "slipway/ci")); diff != "" {
		t.Errorf("commit statuses (-want +got)\n%s\nall: %+v", diff, sts)
	}
	if ran := pipelineTasks(pr); contains(ran, "build-push") || !contains(ran, "unit-test") {
		t.Errorf("tasks that ran: %v; want unit-test and no build-push", ran)
	}
	if got, err := registryDigest(ctx, imageRef(repo.Name, sha)); err != nil || got != "" {
		t.Errorf("registry has %s = %q (err %v), want nothing pushed", imageRef(repo.Name, sha), got, err)
	}
}

// checkTargetURLs: every slipway/ci status links the run's page (the
// stack's public URL is the Service URL the tests use), and the page
// answers.
func checkTargetURLs(t *testing.T, s *slipwayStack, sts []fakescm.Status, run string) {
	t.Helper()
	want := strings.TrimRight(s.URL, "/") + "/runs/" + buildsNamespace + "/" + run
	for _, st := range sts {
		if st.Context == "slipway/ci" && st.TargetURL != want {
			t.Errorf("status %s links %q, want the run page %q", st.State, st.TargetURL, want)
		}
	}
	// The page needs a token or a session (the stack has no public-read).
	req, err := http.NewRequest(http.MethodGet, want, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.authorize(req)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", want, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s, want 200", want, resp.Status)
	}
}

// checkImage: every task ran (the policy step included), the registry serves the digest the run
// reported under the expected name, and the image's provenance names the
// repository and the commit.
func checkImage(ctx context.Context, t *testing.T, pr *pipelinev1.PipelineRun, cloneURL, repo, sha string) {
	t.Helper()
	checkImageAt(ctx, t, pr, cloneURL, imageRef(repo, sha), sha)
}

// checkImageAt is checkImage for an image expected at want (repo:tag).
func checkImageAt(ctx context.Context, t *testing.T, pr *pipelinev1.PipelineRun, cloneURL, want, sha string) {
	t.Helper()
	if diff := cmp.Diff([]string{"build-push", "clone", "generate-dockerfile", "policy", "unit-test"}, pipelineTasks(pr)); diff != "" {
		t.Errorf("tasks of the run (-want +got)\n%s", diff)
	}
	url, digest := result(pr, "IMAGE_URL"), result(pr, "IMAGE_DIGEST")
	if url != want {
		t.Errorf("IMAGE_URL = %q, want %q", url, want)
	}
	got, err := registryDigest(ctx, url)
	if err != nil {
		t.Fatalf("reading %s from the registry: %v", url, err)
	}
	if got == "" || got != digest {
		t.Errorf("registry serves %s at %q, the run's IMAGE_DIGEST is %q", url, got, digest)
	}
	repoPart, _, _ := strings.Cut(url, ":"+sha[:8])
	ref, err := name.NewDigest(repoPart+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatalf("image reference: %v", err)
	}
	st, err := provenance.Fetch(ctx, ref)
	if err != nil {
		t.Fatalf("fetching the provenance of %s: %v", ref, err)
	}
	if err := provenance.Verify(st, provenance.Expectations{Repo: cloneURL, Commit: sha}); err != nil {
		t.Errorf("provenance of %s: %v", ref, err)
	}
}

// pipelineTasks names the pipeline tasks that got a TaskRun, sorted.
func pipelineTasks(pr *pipelinev1.PipelineRun) []string {
	var out []string
	for _, c := range pr.Status.ChildReferences {
		out = append(out, c.PipelineTaskName)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
