//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
// again. (trusted.groups: TestTrustedTeamMemberPullRequest and
// TestTrustedGroupMemberMergeRequest.)
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

// trusted.groups on GitHub: the default branch trusts an organisation
// team. A PR by an outsider who is an active member of it builds at once,
// with no /ok-to-test and no waiting status; one by an outsider whose
// invitation to the team is still pending waits, and so does one by a
// stranger, each told the team may approve.
func TestTrustedTeamMemberPullRequest(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	app := "team-" + randomHex(t, 3)
	team := "e2e-org/reviewers-" + randomHex(t, 3) // fresh: the fakescm is shared by the suite
	repo, _ := newRepo(t, s, "gh-team", map[string]string{".slipway.yaml": "app: " + app + "\ntrusted:\n  groups: [" + team + "]\n"})
	s.fakePost(t, "/_fake/groups", fmt.Sprintf(`{"group": %q, "user": "teammate", "level": "member"}`, team))
	s.fakePost(t, "/_fake/groups", fmt.Sprintf(`{"group": %q, "user": "invitee", "level": "pending"}`, team))

	prs := map[string]struct {
		number int
		sha    string
	}{}
	for i, author := range []string{"teammate", "invitee", "stranger"} {
		number := 21 + i
		branch := "topic-" + author
		sha := repo.commit(t, branch, "Change by "+author, map[string]string{"CHANGES": author + "\n"})
		repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha)
		s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": %q, "target": "main", "title": "by %s"}`, repo.Name, number, sha, branch, author))
		mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPRBy(repo, number, "opened", branch, sha, author)))
		prs[author] = struct {
			number int
			sha    string
		}{number, sha}
	}

	member := prs["teammate"].sha
	run := waitForRunOf(ctx, t, member)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	if pr.Labels[tekton.LabelApp] != app || pr.Labels[tekton.LabelTrust] != tekton.TrustUntrusted || pr.Annotations[tekton.AnnotationApprovedBy] != "" {
		t.Errorf("run labels %v annotations %v: want app %s, untrusted (a PR is sandboxed whoever opened it), approved by nobody", pr.Labels, pr.Annotations, app)
	}
	sts, err := s.statuses(ctx, repo.Name, member)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(sts, func(st fakescm.Status) bool { return st.Description == dispatch.WaitingStatus }) {
		t.Errorf("the team member's PR got the waiting status: %+v", sts)
	}

	for _, who := range []string{"invitee", "stranger"} {
		sha := prs[who].sha
		evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return hasState(evs, sha, "waiting") })
		for _, ev := range evs {
			if ev.SHA == sha && (!strings.Contains(ev.Reason, who+" is not trusted") || !strings.Contains(ev.Reason, "members of "+team)) {
				t.Errorf("%s's waiting reason %q: want who is not trusted and that %s may approve", who, ev.Reason, team)
			}
		}
		if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 0 {
			t.Errorf("%s's PR: %d runs of %s (err %v), want none", who, len(runs), sha, err)
		}
	}
}

// trusted.groups on GitLab: the default branch trusts a subgroup; a
// member of its parent group (GitLab's inherited membership) opens an MR
// and it builds without /ok-to-test; a stranger's MR waits.
func TestTrustedGroupMemberMergeRequest(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	app := "group-" + randomHex(t, 3)
	parent := "e2e-group-" + randomHex(t, 3)
	group := parent + "/reviewers"
	repo, _ := newRepo(t, s, "gl-group", map[string]string{".slipway.yaml": "app: " + app + "\ntrusted:\n  groups: [" + group + "]\n"})
	pid := 1000 + rand.Int64N(1_000_000)
	s.fakePost(t, "/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, pid, repo.Name))
	s.fakePost(t, "/_fake/groups", fmt.Sprintf(`{"group": %q, "user": "gl-teammate", "level": "member"}`, parent))

	member := repo.commit(t, "topic-member", "Change by a group member", map[string]string{"CHANGES": "member\n"})
	repo.setRef(t, "refs/merge-requests/31/head", member)
	stranger := repo.commit(t, "topic-stranger", "Change by a stranger", map[string]string{"CHANGES": "stranger\n"})
	repo.setRef(t, "refs/merge-requests/32/head", stranger)
	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMRBy(repo, pid, 31, "topic-member", member, "gl-teammate")))
	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMRBy(repo, pid, 32, "topic-stranger", stranger, "gl-stranger")))

	run := waitForRunOf(ctx, t, member)
	pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
	if pr.Labels[tekton.LabelApp] != app || pr.Annotations[tekton.AnnotationApprovedBy] != "" {
		t.Errorf("run labels %v annotations %v: want app %s, approved by nobody", pr.Labels, pr.Annotations, app)
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return hasState(evs, stranger, "waiting") })
	for _, ev := range evs {
		if ev.SHA == stranger && !strings.Contains(ev.Reason, "members of "+group) {
			t.Errorf("waiting reason %q: want %s named among who may approve", ev.Reason, group)
		}
	}
	if runs, err := runsOf(ctx, t, stranger); err != nil || len(runs) != 0 {
		t.Errorf("the stranger's MR: %d runs of %s (err %v), want none", len(runs), stranger, err)
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

// gitlabMRBy is a merge request hook "open" of sha, sent as author.
func (s *slipwayStack) gitlabMRBy(r *gitRepo, projectID int64, iid int, source, sha, author string) []byte {
	var m map[string]any
	_ = json.Unmarshal(s.gitlabMR(r, projectID, iid, "open", source, sha, ""), &m)
	m["user"] = map[string]string{"username": author, "email": author + "@slipway.local"}
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
