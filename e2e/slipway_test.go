//go:build e2e

package e2e

// Helpers of the tests that go through Slipway itself, deployed in the
// cluster by e2e/stack/slipway.sh: git repositories on the fakescm's git
// server, signed webhooks, the fakescm's recorded statuses, and finding the
// PipelineRun Slipway made for a commit.
//
// Slipway watches one builds namespace, so these tests do not get a
// namespace each: every test uses its own repositories (random names), and
// finds its runs by commit SHA. Tests that disturb Slipway or the cluster
// (a crash, an apiserver outage) are not parallel, so Go runs them before
// the parallel ones start.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// buildsNamespace is where Slipway creates CI PipelineRuns, deployNamespace
// its deploy PipelineRuns, beside the kubeconfig Secrets they mount
// (deploy/base/config.yaml).
const (
	buildsNamespace = "slipway-builds"
	deployNamespace = "slipway"
)

// pollInterval paces the waiters that poll HTTP endpoints (the fakescm, the
// registry); Kubernetes objects are watched instead.
const pollInterval = time.Second

// slipwayStack is Slipway as slipway.sh deployed it.
type slipwayStack struct {
	URL          string // Slipway's Service, reachable from the host
	FakeSCM      string // the fakescm, as pods and the host reach it
	ReposDir     string // bare repositories the fakescm serves
	GitHubSecret []byte
	GitLabToken  string
	// DeveloperToken reads the API and signs in to the UI: with the
	// stack's tokens file every read needs one (no public-read).
	DeveloperToken string
	// SigningKeyFile and SigningKeyPasswordFile are the server's image
	// signing key (the tests forge signatures with it).
	SigningKeyFile, SigningKeyPasswordFile string
	client                                 *http.Client
}

// authorize makes req read as the stack's developer.
func (s *slipwayStack) authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+s.DeveloperToken)
}

// session signs in to the UI with the developer token, as the sign-in
// form does, and returns the session cookie's value.
func (s *slipwayStack) session(t *testing.T) string {
	t.Helper()
	form := url.Values{"token": {s.DeveloperToken}, "next": {"/"}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL)
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("signing in: %v", err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "slipway_session" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("signing in: HTTP %d without a session cookie", resp.StatusCode)
	return ""
}

var (
	slipwayOnce sync.Once
	slipwayEnv  *slipwayStack
	slipwayErr  error
)

// slipway deploys Slipway (idempotent; seconds when nothing changed) once
// per test binary and returns how to reach it.
func slipway(t *testing.T) *slipwayStack {
	t.Helper()
	framework.Get(t) // the stack is up
	slipwayOnce.Do(func() { slipwayEnv, slipwayErr = deploySlipway() })
	if slipwayErr != nil {
		t.Fatalf("deploying Slipway: %v", slipwayErr)
	}
	return slipwayEnv
}

func deploySlipway() (*slipwayStack, error) {
	script := filepath.Join(framework.RepoRoot(), "e2e", "stack", "slipway.sh")
	cmd := exec.Command(script, "up")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s up: %w", script, err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok {
			env[k] = v
		}
	}
	s := &slipwayStack{URL: env["SLIPWAY_URL"], FakeSCM: env["SLIPWAY_FAKESCM_URL"], ReposDir: env["SLIPWAY_REPOS_DIR"],
		SigningKeyFile: env["SLIPWAY_SIGNING_KEY_FILE"], SigningKeyPasswordFile: env["SLIPWAY_SIGNING_KEY_PASSWORD_FILE"],
		client: &http.Client{Timeout: 30 * time.Second}}
	if s.URL == "" || s.FakeSCM == "" || s.ReposDir == "" {
		return nil, fmt.Errorf("%s up printed no SLIPWAY_URL, SLIPWAY_FAKESCM_URL or SLIPWAY_REPOS_DIR:\n%s", script, out.String())
	}
	for key, dst := range map[string]*string{"SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE": nil, "SLIPWAY_GITLAB_WEBHOOK_TOKEN_FILE": &s.GitLabToken,
		"SLIPWAY_DEVELOPER_TOKEN_FILE": &s.DeveloperToken} {
		b, err := os.ReadFile(env[key])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		v := strings.TrimSpace(string(b))
		if dst == nil {
			s.GitHubSecret = []byte(v)
		} else {
			*dst = v
		}
	}
	return s, nil
}

// --- git repositories on the fakescm ---------------------------------------

// gitRepo is a repository the fakescm serves, with a work tree to commit in.
type gitRepo struct {
	Name string // owner/name
	bare string
	work string
}

// initRepo makes the bare repository e2e/<prefix>-<random> on the git
// server and an empty clone of it to commit in; the bare one is removed
// when the test passes and kept for inspection otherwise.
func initRepo(t *testing.T, s *slipwayStack, prefix string) *gitRepo {
	t.Helper()
	r := &gitRepo{Name: "e2e/" + prefix + "-" + randomHex(t, 3), work: t.TempDir()}
	r.bare = filepath.Join(s.ReposDir, r.Name+".git")
	if err := os.MkdirAll(filepath.Dir(r.bare), 0o755); err != nil {
		t.Fatal(err)
	}
	r.git(t, "", "init", "-q", "--bare", "-b", "main", r.bare)
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(r.bare)
		}
	})
	r.git(t, r.work, "init", "-q", "-b", "main")
	r.git(t, r.work, "remote", "add", "origin", r.bare)
	// The suite's merge requests are opened by "e2e": a maintainer, so the
	// trust gate lets them build (trust_test.go opens one as an outsider).
	s.fakePost(t, "/_fake/permissions", fmt.Sprintf(`{"repo": %q, "user": "e2e", "level": "write"}`, r.Name))
	return r
}

// newRepo creates e2e/<prefix>-<random> from the Go sample app plus files
// (which may override the sample's), commits it on main and pushes it.
// It is removed when the test passes and kept for inspection otherwise.
func newRepo(t *testing.T, s *slipwayStack, prefix string, files map[string]string) (*gitRepo, string) {
	t.Helper()
	r := initRepo(t, s, prefix)
	// Tests commit the same files within the same second; the repo's name in
	// the message keeps their SHAs (and so runsOf) apart.
	return r, r.commit(t, "main", "Initial import of "+r.Name, goSample(t, files))
}

// goSample is the Go sample app's files plus files (which may override
// the sample's).
func goSample(t *testing.T, files map[string]string) map[string]string {
	t.Helper()
	sample := filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", "go")
	entries, err := os.ReadDir(sample)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(sample, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all[e.Name()] = string(b)
	}
	// The unit tests run in base/golang:<go.mod's version>, and the stack
	// builds that image for one Go version only.
	all["go.mod"] = "module example.com/hello\n\ngo " + baseGoVersion(t) + "\n"
	for k, v := range files {
		all[k] = v
	}
	return all
}

// commit writes files on branch (created from the current HEAD when new),
// commits, pushes the branch and returns the new SHA.
func (r *gitRepo) commit(t *testing.T, branch, msg string, files map[string]string) string {
	t.Helper()
	if out := r.git(t, r.work, "branch", "--list", branch); out == "" && r.git(t, r.work, "rev-parse", "-q", "--verify", "HEAD^{commit}") != "" {
		r.git(t, r.work, "checkout", "-q", "-b", branch)
	} else if out != "" {
		r.git(t, r.work, "checkout", "-q", branch)
	}
	for p, content := range files {
		full := filepath.Join(r.work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.git(t, r.work, "add", "-A")
	r.git(t, r.work, "commit", "-q", "--allow-empty", "-m", msg)
	r.git(t, r.work, "push", "-q", "origin", "HEAD:refs/heads/"+branch)
	return r.git(t, r.work, "rev-parse", "HEAD")
}

// setRef points ref of the served repository at sha, as a host does for
// refs/merge-requests/N/head.
func (r *gitRepo) setRef(t *testing.T, ref, sha string) {
	t.Helper()
	r.git(t, "", "--git-dir", r.bare, "update-ref", ref, sha)
}

func (r *gitRepo) git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@slipway.local",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@slipway.local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		// rev-parse -q --verify answers "no such object" with exit 1 and no output.
		if errors.As(err, &ee) && len(out) == 0 && len(args) > 0 && args[0] == "rev-parse" {
			return ""
		}
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

var (
	goVersionOnce sync.Once
	goVersion     string
	goVersionErr  error
)

// baseGoVersion is the newest tag of the stack's base/golang image.
func baseGoVersion(t *testing.T) string {
	t.Helper()
	goVersionOnce.Do(func() {
		resp, err := http.Get("http://" + framework.Registry + "/v2/base/golang/tags/list")
		if err != nil {
			goVersionErr = err
			return
		}
		defer resp.Body.Close()
		var tags struct {
			Tags []string `json:"tags"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
			goVersionErr = fmt.Errorf("decoding the tags of base/golang: %w", err)
			return
		}
		for _, tag := range tags.Tags {
			if goVersion == "" || newerVersion(tag, goVersion) {
				goVersion = tag
			}
		}
		if goVersion == "" {
			goVersionErr = fmt.Errorf("the registry has no base/golang image (run e2e/stack/images.sh)")
		}
	})
	if goVersionErr != nil {
		t.Fatalf("base Go version: %v", goVersionErr)
	}
	return goVersion
}

// newerVersion compares dotted numbers: 1.26 is newer than 1.9.
func newerVersion(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x > y
		}
	}
	return len(as) > len(bs)
}

func (s *slipwayStack) cloneURL(r *gitRepo) string { return s.FakeSCM + "/git/" + r.Name + ".git" }

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// --- webhooks --------------------------------------------------------------

// githubPush is the body of a GitHub push of sha onto branch.
func (s *slipwayStack) githubPush(r *gitRepo, branch, before, sha string) []byte {
	return s.githubPushMessage(r, branch, before, sha, "e2e commit")
}

// githubPushMessage is githubPush with msg as the head commit's message.
func (s *slipwayStack) githubPushMessage(r *gitRepo, branch, before, sha, msg string) []byte {
	owner, repoName, _ := strings.Cut(r.Name, "/")
	commit := map[string]any{"id": sha, "message": msg, "timestamp": time.Now().UTC().Format(time.RFC3339),
		"author": map[string]string{"name": "e2e", "email": "e2e@slipway.local"}, "added": []string{}, "removed": []string{}, "modified": []string{"main.go"}}
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "before": before, "after": sha, "created": false, "deleted": false,
		"repository": map[string]any{"name": repoName, "full_name": r.Name, "owner": map[string]string{"login": owner, "name": owner},
			"html_url": s.FakeSCM + "/" + r.Name, "clone_url": s.cloneURL(r), "default_branch": "main"},
		"pusher":      map[string]string{"name": "e2e", "email": "e2e@slipway.local"},
		"sender":      map[string]string{"login": "e2e"},
		"head_commit": commit,
		"commits":     []any{commit},
	})
	return body
}

// gitlabMR is the body of a GitLab merge request hook.
func (s *slipwayStack) gitlabMR(r *gitRepo, projectID int64, iid int, action, source, sha, oldrev string) []byte {
	attrs := map[string]any{"iid": iid, "action": action, "state": "opened", "title": "e2e change",
		"source_branch": source, "target_branch": "main",
		"last_commit": map[string]any{"id": sha, "message": "e2e commit", "timestamp": time.Now().UTC().Format(time.RFC3339)}}
	if oldrev != "" {
		attrs["oldrev"] = oldrev
	}
	body, _ := json.Marshal(map[string]any{
		"object_kind": "merge_request", "event_type": "merge_request",
		"user": map[string]string{"username": "e2e", "email": "e2e@slipway.local"},
		"project": map[string]any{"id": projectID, "path_with_namespace": r.Name, "git_http_url": s.cloneURL(r),
			"web_url": s.FakeSCM + "/" + r.Name, "default_branch": "main"},
		"object_attributes": attrs,
	})
	return body
}

// sendGitHub posts a signed GitHub webhook and returns the HTTP status.
func (s *slipwayStack) sendGitHub(t *testing.T, eventType, delivery string, body []byte) int {
	t.Helper()
	return s.post(t, "/hooks/github", body, map[string]string{
		github.EventHeader: eventType, github.DeliveryHeader: delivery,
		github.SignatureHeader: github.Sign(s.GitHubSecret, body),
	})
}

// sendGitLab posts a GitLab webhook with the secret token.
func (s *slipwayStack) sendGitLab(t *testing.T, eventType, delivery string, body []byte) int {
	t.Helper()
	return s.post(t, "/hooks/gitlab", body, map[string]string{
		gitlab.EventHeader: eventType, gitlab.DeliveryHeader: delivery, "X-Gitlab-Token": s.GitLabToken,
	})
}

func (s *slipwayStack) post(t *testing.T, path string, body []byte, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Logf("POST %s answered %d: %s", path, resp.StatusCode, msg)
	}
	return resp.StatusCode
}

// mustAccept fails the test unless Slipway answered 202.
func mustAccept(t *testing.T, code int) {
	t.Helper()
	if code != http.StatusAccepted {
		t.Fatalf("webhook answered %d, want 202", code)
	}
}

// --- the fakescm -----------------------------------------------------------

func (s *slipwayStack) fakePost(t *testing.T, path, body string) {
	t.Helper()
	resp, err := s.client.Post(s.FakeSCM+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("fakescm POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("fakescm POST %s = %d: %s", path, resp.StatusCode, msg)
	}
}

func (s *slipwayStack) statuses(ctx context.Context, repo, sha string) ([]fakescm.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.FakeSCM+"/_fake/statuses?repo="+repo+"&sha="+sha, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []fakescm.Status
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding statuses: %w", err)
	}
	return out, nil
}

// slipwayState reads a recorded status back as Slipway's state: GitHub has
// no running or canceled, so Slipway says them as pending "Running…" and
// error "Canceled…".
func slipwayState(st fakescm.Status) string {
	switch {
	case st.Provider == "github" && st.State == "pending" && strings.HasPrefix(st.Description, "Running"):
		return "running"
	case st.Provider == "github" && st.State == "error" && strings.HasPrefix(st.Description, "Canceled"):
		return "canceled"
	}
	return st.State
}

// stateSequence is the states of the statuses with context ctxName, in
// order, with repeats (retried posts) folded.
func stateSequence(sts []fakescm.Status, ctxName string) []string {
	var out []string
	for _, st := range sts {
		if st.Context != ctxName {
			continue
		}
		s := slipwayState(st)
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// waitForStatus polls the fakescm until a status of repo@sha with context
// slipway/ci is in state (as slipwayState reads it), and returns them all.
func (s *slipwayStack) waitForStatus(ctx context.Context, t *testing.T, repo, sha, state string) []fakescm.Status {
	t.Helper()
	var last []fakescm.Status
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		sts, err := s.statuses(ctx, repo, sha)
		if err != nil {
			t.Logf("reading fakescm statuses (retrying): %v", err)
			return false, nil
		}
		last = sts
		for _, st := range sts {
			if st.Context == "slipway/ci" && slipwayState(st) == state {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s status for %s@%s: %v; statuses seen: %+v", state, repo, sha, err, last)
	}
	return last
}

// --- PipelineRuns ----------------------------------------------------------

// runsOf lists the PipelineRuns Slipway made for a commit.
func runsOf(ctx context.Context, t *testing.T, sha string) ([]pipelinev1.PipelineRun, error) {
	t.Helper()
	l, err := framework.Get(t).Tekton.TektonV1().PipelineRuns(buildsNamespace).List(ctx,
		metav1.ListOptions{LabelSelector: tekton.LabelSHA + "=" + sha})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// waitForRunOf waits until Slipway created a PipelineRun for sha and
// returns its name. Every run found is dumped if the test fails.
func waitForRunOf(ctx context.Context, t *testing.T, sha string) string {
	t.Helper()
	var found string
	err := wait.PollUntilContextCancel(ctx, pollInterval, true, func(ctx context.Context) (bool, error) {
		runs, err := runsOf(ctx, t, sha)
		if err != nil {
			t.Logf("listing PipelineRuns (retrying): %v", err)
			return false, nil
		}
		if len(runs) > 0 {
			found = runs[0].Name
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no PipelineRun for commit %s: %v", sha, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			framework.DumpPipelineRun(t, buildsNamespace, found)
		}
	})
	return found
}

// result is the named result of a finished PipelineRun.
func result(pr *pipelinev1.PipelineRun, name string) string {
	for _, r := range pr.Status.Results {
		if r.Name == name {
			return r.Value.StringVal
		}
	}
	return ""
}

// registryDigest is the digest the registry serves for ref ("" when the
// registry does not have it).
func registryDigest(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(r, remote.WithContext(ctx))
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", nil
		}
		return "", err
	}
	return desc.Digest.String(), nil
}

// imageRef is where Slipway pushes the image of repo at sha.
func imageRef(repo, sha string) string {
	return framework.Registry + "/apps/" + tekton.AppName(repo) + ":" + sha[:8]
}

// prImageRef is where a merge request's build of repo's app pushes: the
// PR namespace, never the app's own repository.
func prImageRef(app, sha string) string {
	return framework.Registry + "/apps/" + app + "/pr:" + sha[:8]
}
