//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/scm"
)

// failingTest makes the unit-test task fail quickly with a known line.
const failingTest = `package main

import "testing"

func TestBroken(t *testing.T) { t.Fatal("this test fails on purpose") }
`

// A failed GitLab MR run, as a developer sees it without kubectl: one
// Slipway note on the MR (result, failed task, log tail, link); an email
// through a real SMTP server to the team and the author, and the JSON
// chat webhook, both recorded as sent. "/retest" from a Reporter is
// refused with a reply and starts nothing; from a Developer it runs the
// pipeline again, and the same note is edited to name the new run.
func TestMergeRequestCommentRetestAndNotifications(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "gl-notify", nil)
	sha := repo.commit(t, "feature", "Break a test", map[string]string{"main_test.go": failingTest})
	const iid = 5
	pid := 1000 + rand.Int64N(1_000_000)
	repo.setRef(t, fmt.Sprintf("refs/merge-requests/%d/head", iid), sha)
	s.fakePost(t, "/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, pid, repo.Name))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "dev", "level": "write"}`, repo.Name))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "visitor", "level": "read"}`, repo.Name))

	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMR(repo, pid, iid, "open", "feature", sha, "")))
	run1 := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run1, framework.PipelineRunFailed)
	link1 := s.URL + "/runs/" + buildsNamespace + "/" + run1

	note := s.waitForComment(ctx, t, "gitlab", repo.Name, iid, func(c fakescm.Comment) bool { return strings.Contains(c.Body, run1) })
	// The failing test by name, from the JUnit report Slipway made of go test -json.
	for _, want := range []string{scm.CommentMarker, "failed", "`unit-test`", "this test fails on purpose", "(" + link1 + ")", "/retest",
		"| Tests | 1 failed, 0 passed, 0 skipped |", "TestBroken`"} {
		if !strings.Contains(note.Body, want) {
			t.Errorf("MR note lacks %q:\n%s", want, note.Body)
		}
	}
	s.waitForFailedTest(ctx, t, run1, "TestBroken", "this test fails on purpose")

	mail := s.waitForMail(ctx, t, func(m fakescm.Mail) bool { return strings.Contains(m.Body, run1) })
	if want := fmt.Sprintf("[slipway] %s !%d failed (%s)", repo.Name, iid, sha[:8]); mail.Subject != want {
		t.Errorf("mail subject %q, want %q", mail.Subject, want)
	}
	for _, to := range []string{"team@slipway.local", "e2e@slipway.local"} {
		if !slices.Contains(mail.To, to) {
			t.Errorf("mail went to %v, want %s among them", mail.To, to)
		}
	}
	for _, want := range []string{"unit-test", "this test fails on purpose", "Details and full logs: " + link1} {
		if !strings.Contains(mail.Body, want) {
			t.Errorf("mail body lacks %q:\n%s", want, mail.Body)
		}
	}
	if mail.From != "slipway@slipway.local" {
		t.Errorf("mail from %q, want slipway@slipway.local", mail.From)
	}

	chat := s.waitForChat(ctx, t, func(doc map[string]any) bool { return strings.HasSuffix(fmt.Sprint(doc["run"]), run1) })
	want := map[string]any{"event": "run.finished", "repo": repo.Name, "provider": "gitlab", "sha": sha,
		"mrNumber": float64(iid), "state": "failure", "failedTask": "unit-test", "url": link1}
	for k, v := range want {
		if chat[k] != v {
			t.Errorf("chat document %s = %v, want %v (document %v)", k, chat[k], v, chat)
		}
	}
	s.waitForNotificationsSent(ctx, t, buildsNamespace+"/"+run1, "email", "webhook")

	// A Reporter may not retest: a polite reply, no run.
	mustAccept(t, s.sendGitLab(t, "Note Hook", "e2e-"+randomHex(t, 8), s.gitlabNote(repo, pid, iid, sha, "visitor", "/retest")))
	s.waitForComment(ctx, t, "gitlab", repo.Name, iid, func(c fakescm.Comment) bool {
		return strings.HasPrefix(c.Body, "Sorry @visitor") && strings.Contains(c.Body, "`/retest`")
	})
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) > 0 && evs[0].State == "ignored" })
	if want := "retest by visitor refused: no write access, not a trusted user or group member"; evs[0].Reason != want {
		t.Errorf("refused retest recorded with reason %q, want %q", evs[0].Reason, want)
	}
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
		t.Errorf("after a refused /retest: %d runs of %s (err %v), want 1", len(runs), sha, err)
	}

	// A Developer may: a second run of the same head, the note edited.
	mustAccept(t, s.sendGitLab(t, "Note Hook", "e2e-"+randomHex(t, 8), s.gitlabNote(repo, pid, iid, sha, "dev", "Flaky?\n/retest")))
	run2 := waitForSecondRun(ctx, t, sha, run1)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run2, framework.PipelineRunFailed)
	s.waitForComment(ctx, t, "gitlab", repo.Name, iid, func(c fakescm.Comment) bool { return strings.Contains(c.Body, run2) })
	var marked []fakescm.Comment
	for _, c := range s.comments(ctx, t) {
		if c.Provider == "gitlab" && c.Repo == repo.Name && c.Number == iid && strings.Contains(c.Body, scm.CommentMarker) {
			marked = append(marked, c)
		}
	}
	if len(marked) != 1 || marked[0].ID != note.ID || strings.Contains(marked[0].Body, run1) {
		t.Errorf("Slipway notes on !%d: %+v; want the one note %d, edited to name %s only", iid, marked, note.ID, run2)
	}
}

// "/cancel" on a GitLab MR: refused from a Reporter (the run goes on), from
// a Developer it cancels the running pipeline, and the MR note says so.
func TestMergeRequestCancelComment(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "gl-cancel", nil)
	// Long enough to be cancelled while it runs, whatever the load.
	sha := repo.commit(t, "feature", "A slow test", map[string]string{".slipway.yaml": "build:\n  testCommand: sleep 1200\n"})
	const iid = 6
	pid := 1000 + rand.Int64N(1_000_000)
	repo.setRef(t, fmt.Sprintf("refs/merge-requests/%d/head", iid), sha)
	s.fakePost(t, "/_fake/gitlab/projects", fmt.Sprintf(`{"id": %d, "path": %q}`, pid, repo.Name))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "dev", "level": "write"}`, repo.Name))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "visitor", "level": "read"}`, repo.Name))

	mustAccept(t, s.sendGitLab(t, "Merge Request Hook", "e2e-"+randomHex(t, 8), s.gitlabMR(repo, pid, iid, "open", "feature", sha, "")))
	run := waitForRunOf(ctx, t, sha)
	s.waitForStatus(ctx, t, repo.Name, sha, "running")

	mustAccept(t, s.sendGitLab(t, "Note Hook", "e2e-"+randomHex(t, 8), s.gitlabNote(repo, pid, iid, sha, "visitor", "/cancel")))
	s.waitForComment(ctx, t, "gitlab", repo.Name, iid, func(c fakescm.Comment) bool {
		return strings.HasPrefix(c.Body, "Sorry @visitor") && strings.Contains(c.Body, "`/cancel`")
	})
	pr, err := framework.Get(t).Tekton.TektonV1().PipelineRuns(buildsNamespace).Get(ctx, run, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if done, _ := framework.PipelineRunDone(pr); done || pr.Spec.Status != "" {
		t.Errorf("after a refused /cancel, PipelineRun %s has spec.status %q, done %v; want it running", run, pr.Spec.Status, done)
	}

	mustAccept(t, s.sendGitLab(t, "Note Hook", "e2e-"+randomHex(t, 8), s.gitlabNote(repo, pid, iid, sha, "dev", "/cancel")))
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunReason(pipelinev1.PipelineRunReasonCancelled.String()))
	note := s.waitForComment(ctx, t, "gitlab", repo.Name, iid, func(c fakescm.Comment) bool {
		return strings.Contains(c.Body, scm.CommentMarker) && strings.Contains(c.Body, run)
	})
	if !strings.Contains(note.Body, "was cancelled") {
		t.Errorf("MR note after /cancel does not say it was cancelled:\n%s", note.Body)
	}
	s.waitForStatus(ctx, t, repo.Name, sha, "canceled")
}

// The same on a GitHub pull request: one comment, edited in place by a
// "/retest" from an admin, whose head Slipway looks up through the API
// (issue_comment payloads do not name it); a non-collaborator is refused.
func TestPullRequestCommentAndRetest(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, _ := newRepo(t, s, "gh-pr", nil)
	sha := repo.commit(t, "topic", "Break a test", map[string]string{"main_test.go": failingTest})
	const number = 8
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "topic", "target": "main", "title": "e2e change"}`, repo.Name, number, sha))
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "owner", "level": "admin"}`, repo.Name))

	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPR(repo, number, "topic", sha)))
	run1 := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run1, framework.PipelineRunFailed)
	comment := s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool { return strings.Contains(c.Body, run1) })
	for _, want := range []string{scm.CommentMarker, "failed", "`unit-test`", "this test fails on purpose", s.URL + "/runs/" + buildsNamespace + "/" + run1} {
		if !strings.Contains(comment.Body, want) {
			t.Errorf("PR comment lacks %q:\n%s", want, comment.Body)
		}
	}

	mustAccept(t, s.sendGitHub(t, "issue_comment", "e2e-"+randomHex(t, 8), s.githubComment(repo, number, "stranger", "/retest")))
	s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool { return strings.HasPrefix(c.Body, "Sorry @stranger") })
	if runs, err := runsOf(ctx, t, sha); err != nil || len(runs) != 1 {
		t.Errorf("after a refused /retest: %d runs of %s (err %v), want 1", len(runs), sha, err)
	}

	mustAccept(t, s.sendGitHub(t, "issue_comment", "e2e-"+randomHex(t, 8), s.githubComment(repo, number, "owner", "/retest")))
	run2 := waitForSecondRun(ctx, t, sha, run1)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run2, framework.PipelineRunFailed)
	s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool { return strings.Contains(c.Body, run2) })
	var marked []fakescm.Comment
	for _, c := range s.comments(ctx, t) {
		if c.Provider == "github" && c.Repo == repo.Name && c.Number == number && strings.Contains(c.Body, scm.CommentMarker) {
			marked = append(marked, c)
		}
	}
	if len(marked) != 1 || marked[0].ID != comment.ID || strings.Contains(marked[0].Body, run1) {
		t.Errorf("Slipway comments on #%d: %+v; want the one comment %d, edited to name %s only", number, marked, comment.ID, run2)
	}
}

// githubPR is the body of a GitHub pull_request "opened" of head sha.
func (s *slipwayStack) githubPR(r *gitRepo, number int, head, sha string) []byte {
	owner, name, _ := strings.Cut(r.Name, "/")
	repo := map[string]any{"name": name, "full_name": r.Name, "owner": map[string]string{"login": owner},
		"html_url": s.FakeSCM + "/" + r.Name, "clone_url": s.cloneURL(r), "default_branch": "main"}
	out, _ := json.Marshal(map[string]any{
		"action": "opened", "number": number, "repository": repo, "sender": map[string]string{"login": "e2e"},
		"pull_request": map[string]any{"number": number, "state": "open", "title": "e2e change", "user": map[string]string{"login": "e2e"},
			"head": map[string]any{"ref": head, "sha": sha, "repo": repo}, "base": map[string]any{"ref": "main", "sha": sha, "repo": repo}},
	})
	return out
}

// githubComment is the body of a GitHub issue_comment "created" on PR number.
func (s *slipwayStack) githubComment(r *gitRepo, number int, user, body string) []byte {
	owner, name, _ := strings.Cut(r.Name, "/")
	out, _ := json.Marshal(map[string]any{
		"action": "created",
		"issue": map[string]any{"number": number, "title": "e2e change", "state": "open",
			"pull_request": map[string]string{"url": s.FakeSCM + "/github/api/v3/repos/" + r.Name + "/pulls/" + fmt.Sprint(number)}},
		"comment": map[string]any{"id": rand.IntN(1_000_000), "body": body, "user": map[string]string{"login": user, "type": "User"}},
		"repository": map[string]any{"name": name, "full_name": r.Name, "owner": map[string]string{"login": owner},
			"html_url": s.FakeSCM + "/" + r.Name, "clone_url": s.cloneURL(r), "default_branch": "main"},
		"sender": map[string]string{"login": user},
	})
	return out
}

// waitForSecondRun waits for a PipelineRun of sha other than first.
func waitForSecondRun(ctx context.Context, t *testing.T, sha, first string) string {
	t.Helper()
	var found string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		runs, err := runsOf(ctx, t, sha)
		if err != nil {
			t.Logf("listing PipelineRuns (retrying): %v", err)
			return false, nil
		}
		for _, r := range runs {
			if r.Name != first {
				found = r.Name
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no second PipelineRun for %s: %v", sha, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPipelineRun(t, buildsNamespace, found)
		}
	})
	return found
}

// gitlabNote is the body of a GitLab Note Hook: user commented body on MR
// iid, whose head is sha.
func (s *slipwayStack) gitlabNote(r *gitRepo, projectID int64, iid int, sha, user, body string) []byte {
	out, _ := json.Marshal(map[string]any{
		"object_kind": "note", "event_type": "note", "project_id": projectID,
		"user": map[string]string{"username": user, "name": user},
		"project": map[string]any{"id": projectID, "path_with_namespace": r.Name, "git_http_url": s.cloneURL(r),
			"web_url": s.FakeSCM + "/" + r.Name, "default_branch": "main"},
		// go-gitlab picks the note event type by this attribute.
		"object_attributes": map[string]any{"id": rand.IntN(1_000_000), "note": body, "noteable_type": "MergeRequest", //nolint:misspell // GitLab's name
			"system": false, "action": "create"},
		"merge_request": map[string]any{"iid": iid, "state": "opened", "title": "e2e change", "source_branch": "feature",
			"target_branch": "main", "last_commit": map[string]any{"id": sha, "message": "e2e commit",
				"timestamp": time.Now().UTC().Format(time.RFC3339)}},
	})
	return out
}

// --- what the fakescm received ----------------------------------------------

func (s *slipwayStack) fakeGet(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.FakeSCM+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fakescm GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *slipwayStack) comments(ctx context.Context, t *testing.T) []fakescm.Comment {
	t.Helper()
	var out []fakescm.Comment
	if err := s.fakeGet(ctx, "/_fake/comments", &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitFake polls a /_fake/ list until one item matches.
func waitFake[T any](ctx context.Context, t *testing.T, s *slipwayStack, what, path string, match func(T) bool) T {
	t.Helper()
	var (
		found T
		last  []T
	)
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		var items []T
		if err := s.fakeGet(ctx, path, &items); err != nil {
			t.Logf("reading %s (retrying): %v", path, err)
			return false, nil
		}
		last = items
		for _, it := range items {
			if match(it) {
				found = it
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s: %v; the fakescm has %d: %+v", what, err, len(last), last)
	}
	return found
}

func (s *slipwayStack) waitForComment(ctx context.Context, t *testing.T, provider, repo string, mr int, match func(fakescm.Comment) bool) fakescm.Comment {
	t.Helper()
	return waitFake(ctx, t, s, fmt.Sprintf("matching comment on %s %s#%d", provider, repo, mr), "/_fake/comments", func(c fakescm.Comment) bool {
		return c.Provider == provider && c.Repo == repo && c.Number == mr && match(c)
	})
}

func (s *slipwayStack) waitForMail(ctx context.Context, t *testing.T, match func(fakescm.Mail) bool) fakescm.Mail {
	t.Helper()
	return waitFake(ctx, t, s, "matching mail", "/_fake/mail", match)
}

// waitForChat returns the body of the first matching chat message.
func (s *slipwayStack) waitForChat(ctx context.Context, t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var doc map[string]any
	waitFake(ctx, t, s, "matching chat message", "/_fake/chat", func(m fakescm.ChatMessage) bool {
		var d map[string]any
		if m.Channel != "team" || m.ContentType != "application/json" || json.Unmarshal(m.Body, &d) != nil || !match(d) {
			return false
		}
		doc = d
		return true
	})
	return doc
}

// waitForNotificationsSent polls GET /api/v1/notifications until the run
// has a sent notification on each channel.
func (s *slipwayStack) waitForNotificationsSent(ctx context.Context, t *testing.T, runID string, channels ...string) {
	t.Helper()
	type notification struct {
		Channel   string `json:"channel"`
		State     string `json:"state"`
		LastError string `json:"lastError"`
	}
	var last []notification
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/notifications?run="+url.QueryEscape(runID), nil)
		if err != nil {
			return false, err
		}
		s.authorize(req)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Logf("GET /api/v1/notifications (retrying): %v", err)
			return false, nil
		}
		defer resp.Body.Close()
		var out struct {
			Items []notification `json:"items"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
			return false, nil
		}
		last = out.Items
		for _, ch := range channels {
			if !slices.ContainsFunc(last, func(n notification) bool { return n.Channel == ch && n.State == "sent" }) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("notifications of %s: want %v sent: %v; recorded: %+v", runID, channels, err, last)
	}
}
