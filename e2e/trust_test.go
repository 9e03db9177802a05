//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/dispatch"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// A fork PR by an outsider, end to end, with one real build: it waits
// (pending status with the reason, no PipelineRun); the outsider's own
// /ok-to-test is refused; a maintainer's starts a run for that head SHA
// only, built as the default branch's app (the PR renames it) into the PR
// namespace, with its own cache and main's untouched; a new push waits
// again.
func TestForkPullRequestGate(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	app := "trusted-" + randomHex(t, 3)
	repo, _ := newRepo(t, s, "gh-fork", map[string]string{".slipway.yaml": "app: " + app + "\n"})
	const number = 11
	// The PR tries to choose its own app (and so image repository).
	sha := repo.commit(t, "fork-topic", "Outside change", map[string]string{".slipway.yaml": "app: hijack\n", "CHANGES": "one\n"})
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "fork-topic", "target": "main", "title": "outside"}`, repo.Name, number, sha))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "maint", "level": "admin"}`, repo.Name))
	mainCache := framework.Registry + "/apps/" + app + ":buildcache"
	before, err := registryDigest(ctx, mainCache)
	if err != nil {
		t.Fatalf("main's cache ref before: %v", err)
	}

	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPRBy(repo, number, "opened", "fork-topic", sha, "outsider")))
	waiting := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return hasState(evs, sha, "waiting") })
	for _, ev := range waiting {
		if ev.SHA == sha && (!strings.Contains(ev.Reason, "outsider is not trusted") || !strings.Contains(ev.Reason, "write access to "+repo.Name)) {
			t.Errorf("waiting reason %q: want who is not trusted and who may approve", ev.Reason)
		}
	}
	sts := s.waitForStatus(ctx, t, repo.Name, sha, "pending")
	if !slices.ContainsFunc(sts, func(st fakescm.Status) bool { return st.Description == dispatch.WaitingStatus }) {
		t.Errorf("statuses %+v: want pending %q", sts, dispatch.WaitingStatus)
	}

	mustAccept(t, s.sendGitHub(t, "issue_comment", "e2e-"+randomHex(t, 8), s.githubComment(repo, number, "outsider", "/ok-to-test")))
	s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool {
		return strings.HasPrefix(c.Body, "Sorry @outsider") && strings.Contains(c.Body, "/ok-to-test")
	})
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 0 {
		t.Fatalf("after the outsider's /ok-to-test: %d runs of %s (err %v), want none", len(runs), sha, err)
	}

	mustAccept(t, s.sendGitHub(t, "issue_comment", "e2e-"+randomHex(t, 8), s.githubComment(repo, number, "maint", "/ok-to-test")))
	run := waitForRunOf(ctx, t, sha)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	if pr.Labels[tekton.LabelApp] != app || pr.Labels[tekton.LabelTrust] != tekton.TrustUntrusted || pr.Annotations[tekton.AnnotationApprovedBy] != "maint" {
		t.Errorf("run labels %v annotations %v: want app %s, untrusted, approved by maint", pr.Labels, pr.Annotations, app)
	}
	for _, w := range pr.Spec.Workspaces {
		if w.Name == "git-credentials" {
			t.Error("a merge request's run got the git credentials workspace")
		}
	}
	checkImageAt(ctx, t, pr, s.cloneURL(repo), prImageRef(app, sha), sha)
	if d, err := registryDigest(ctx, framework.Registry+"/apps/"+app+"/pr:buildcache"); err != nil || d == "" {
		t.Errorf("the PR's own cache ref: digest %q, %v; want it written", d, err)
	}
	if after, err := registryDigest(ctx, mainCache); err != nil || after != before {
		t.Errorf("main's cache ref %s: digest %q before, %q after (err %v); the PR build must not write it", mainCache, before, after, err)
	}
	if d, err := registryDigest(ctx, framework.Registry+"/apps/hijack/pr:"+sha[:8]); err != nil || d != "" {
		t.Errorf("the PR's own app: digest %q (err %v), want nothing pushed", d, err)
	}

	// A new push is not approved: it waits again, builds nothing.
	sha2 := repo.commit(t, "fork-topic", "Another outside change", map[string]string{"CHANGES": "two\n"})
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha2)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "fork-topic", "target": "main", "title": "outside"}`, repo.Name, number, sha2))
	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPRBy(repo, number, "synchronize", "fork-topic", sha2, "outsider")))
	s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return hasState(evs, sha2, "waiting") })
	if runs, err := runsOf(ctx, t, sha2); err != nil || len(runs) != 0 {
		t.Errorf("new push: %d runs of %s (err %v), want none", len(runs), sha2, err)
	}
}

// Forged and foreign events, no build: a clone URL on another host or
// scheme is refused, a repository outside the stack's allowlist (e2e/*,
// demo/*) is ignored with the reason; both are recorded, neither runs.
func TestForgedAndForeignEvents(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newRepo(t, s, "gh-forged", nil)
	for _, tc := range []struct {
		name, repo, cloneURL, want string
	}{
		{"metadata address", repo.Name, "http://169.254.169.254/latest.git", "clone URL refused"},
		{"file URL", repo.Name, "file:///var/run/secrets", "clone URL refused"},
		{"outside the allowlist", "outsider/tool", s.FakeSCM + "/git/outsider/tool.git", "repository outsider/tool is not in the allowed repositories"},
	} {
		body := s.githubPushOf(tc.repo, tc.cloneURL, sha)
		code, resp := s.postGitHub(t, "push", "e2e-"+randomHex(t, 8), body)
		if code != http.StatusAccepted || !strings.Contains(resp.Ignored, tc.want) {
			t.Errorf("%s: %d %+v, want 202 ignored with %q", tc.name, code, resp, tc.want)
		}
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) >= 2 })
	for _, ev := range evs {
		if ev.State != "ignored" || !strings.Contains(ev.Reason, "clone URL refused") {
			t.Errorf("forged event %+v, want ignored: clone URL refused", ev)
		}
	}
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 0 {
		t.Errorf("%d runs of %s (err %v), want none", len(runs), sha, err)
	}
}

func hasState(evs []apiEvent, sha, state string) bool {
	return slices.ContainsFunc(evs, func(ev apiEvent) bool { return ev.SHA == sha && ev.State == state })
}

// githubPRBy is a pull_request event of action by author.
func (s *slipwayStack) githubPRBy(r *gitRepo, number int, action, head, sha, author string) []byte {
	var m map[string]any
	_ = json.Unmarshal(s.githubPR(r, number, head, sha), &m)
	m["action"] = action
	m["sender"] = map[string]string{"login": author}
	m["pull_request"].(map[string]any)["user"] = map[string]string{"login": author, "type": "User"}
	out, _ := json.Marshal(m)
	return out
}

// githubPushOf is a push of sha to main of repo with the given clone URL.
func (s *slipwayStack) githubPushOf(repo, cloneURL, sha string) []byte {
	owner, name, _ := strings.Cut(repo, "/")
	out, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": zeroSHA, "after": sha,
		"repository": map[string]any{"name": name, "full_name": repo, "owner": map[string]string{"login": owner},
			"html_url": s.FakeSCM + "/" + repo, "clone_url": cloneURL, "default_branch": "main"},
		"pusher": map[string]string{"name": "e2e", "email": "e2e@slipway.local"}, "sender": map[string]string{"login": "e2e"},
		"head_commit": map[string]any{"id": sha, "message": "forged"},
	})
	return out
}

// hookAnswer is the webhook's JSON answer.
type hookAnswer struct {
	ID      int64  `json:"id"`
	Ignored string `json:"ignored"`
	Error   string `json:"error"`
}

// postGitHub sends a signed GitHub delivery and decodes the answer.
func (s *slipwayStack) postGitHub(t *testing.T, eventType, delivery string, body []byte) (int, hookAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/hooks/github", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", eventType)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", github.Sign(s.GitHubSecret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST /hooks/github: %v", err)
	}
	defer resp.Body.Close()
	var a hookAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}
