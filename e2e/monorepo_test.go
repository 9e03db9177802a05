//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// monorepoConfig lists the two apps of the monorepo samples: the Go API
// and the Node web app, each in its own directory, and a shared library.
const monorepoConfig = `apps:
  - name: api
    dir: services/api
  - name: web
    dir: services/web
sharedPaths: ["libs/**"]
`

// newMonorepo pushes a repository holding the Go sample under
// services/api and the Node sample under services/web (both from
// pkg/dockerfile/testdata/apps, with the versions the stack offers) and
// the apps: .slipway.yaml on main. No webhook is sent for it.
func newMonorepo(t *testing.T, s *slipwayStack, prefix string) (*gitRepo, string) {
	t.Helper()
	r := initRepo(t, s, prefix)
	all := map[string]string{".slipway.yaml": monorepoConfig, "libs/README": "shared code\n"}
	for app, dir := range map[string]string{"go": "services/api", "node": "services/web"} {
		sample := filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", app)
		err := filepath.WalkDir(sample, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(sample, p)
			all[dir+"/"+filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The stack's base images: Go as images.sh builds it, Debian's Node 18.
	all["services/api/go.mod"] = "module example.com/hello\n\ngo " + baseGoVersion(t) + "\n"
	pkg := all["services/web/package.json"]
	if !strings.Contains(pkg, `">=20"`) {
		t.Fatalf("the Node sample's package.json no longer asks for >=20:\n%s", pkg)
	}
	all["services/web/package.json"] = strings.Replace(pkg, `">=20"`, `">=18"`, 1)
	return r, r.commit(t, "main", "Initial import of "+r.Name, all)
}

// githubPushChanging is the body of a GitHub push of sha onto branch whose one
// commit modified files (what Slipway's path filters read).
func (s *slipwayStack) githubPushChanging(r *gitRepo, branch, before, sha string, files []string) []byte {
	var doc map[string]any
	if err := json.Unmarshal(s.githubPush(r, branch, before, sha), &doc); err != nil {
		panic(err)
	}
	commit := doc["head_commit"].(map[string]any)
	commit["modified"] = files
	doc["commits"] = []any{commit}
	out, _ := json.Marshal(doc)
	return out
}

// waitForAppRuns waits until the PipelineRuns of sha are those of apps
// (by their slipway.dev/app label), waits a little longer for any other
// to show up, and returns their names by app.
func waitForAppRuns(ctx context.Context, t *testing.T, sha string, apps ...string) map[string]string {
	t.Helper()
	sort.Strings(apps)
	got := map[string]string{}
	names := func() []string {
		var out []string
		for app := range got {
			out = append(out, app)
		}
		sort.Strings(out)
		return out
	}
	poll := func(ctx context.Context) (bool, error) {
		runs, err := runsOf(ctx, t, sha)
		if err != nil {
			t.Logf("listing PipelineRuns (retrying): %v", err)
			return false, nil
		}
		for _, pr := range runs {
			got[pr.Labels[tekton.LabelApp]] = pr.Name
		}
		return len(got) >= len(apps), nil
	}
	if err := wait.PollUntilContextCancel(ctx, pollInterval, true, poll); err != nil {
		t.Fatalf("PipelineRuns of %s: apps %v, want %v: %v", sha, names(), apps, err)
	}
	// The dispatcher creates every run of an event at once; a stray one
	// would be there by now.
	time.Sleep(5 * time.Second)
	_, _ = poll(ctx)
	if diff := cmp.Diff(apps, names()); diff != "" {
		t.Fatalf("apps built for %s (-want +got)\n%s", sha, diff)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range got {
				framework.DumpPipelineRun(t, buildsNamespace, name)
			}
		}
	})
	return got
}

// waitForContext waits for a status of repo@sha with context ctxName in
// state, and returns every status of the commit.
func (s *slipwayStack) waitForContext(ctx context.Context, t *testing.T, repo, sha, ctxName, state string) []fakescm.Status {
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
			if st.Context == ctxName && slipwayState(st) == state {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s status %s for %s@%s: %v; statuses seen: %+v", state, ctxName, repo, sha, err, last)
	}
	return last
}

// contexts are the distinct status contexts among sts.
func contexts(sts []fakescm.Status) []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range sts {
		if !seen[st.Context] {
			seen[st.Context] = true
			out = append(out, st.Context)
		}
	}
	sort.Strings(out)
	return out
}

// A monorepo with a Go API and a Node web app: a push touching only the
// Node app builds only it, on its own status context; a push touching
// both builds each as its own PipelineRun, with two status contexts.
func TestMonorepoPushBuildsChangedApps(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout)
	defer cancel()
	repo, base := newMonorepo(t, s, "mono-push")

	// Only the web app changes.
	webOnly := repo.commit(t, "main", "Greet differently "+repo.Name, map[string]string{
		"services/web/greet.js": readSample(t, "node", "greet.js") + "// a web-only change\n"})
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPushChanging(repo, "main", base, webOnly, []string{"services/web/greet.js"})))
	runs := waitForAppRuns(ctx, t, webOnly, "web")
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, runs["web"], framework.PipelineRunSucceeded)
	sts := s.waitForContext(ctx, t, repo.Name, webOnly, "slipway/ci/web", "success")
	if diff := cmp.Diff([]string{"slipway/ci/web"}, contexts(sts)); diff != "" {
		t.Errorf("status contexts of the web-only push (-want +got)\n%s\nall: %+v", diff, sts)
	}
	if diff := cmp.Diff([]string{"pending", "running", "success"}, stateSequence(sts, "slipway/ci/web")); diff != "" {
		t.Errorf("web statuses (-want +got)\n%s", diff)
	}
	evs := s.waitForEvents(ctx, t, repo.Name, func(evs []apiEvent) bool { return len(evs) > 0 && evs[0].State == "dispatched" })
	if !strings.HasPrefix(evs[0].Reason, "apps web: created PipelineRun ") {
		t.Errorf("the web-only push's event reason %q does not name the web app alone", evs[0].Reason)
	}

	// Both apps change: two runs, two contexts.
	both := repo.commit(t, "main", "Touch both apps "+repo.Name, map[string]string{
		"services/web/greet.js": readSample(t, "node", "greet.js") + "// both, web\n",
		"services/api/main.go":  readSample(t, "go", "main.go") + "// both, api\n"})
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8),
		s.githubPushChanging(repo, "main", webOnly, both, []string{"services/web/greet.js", "services/api/main.go"})))
	runs = waitForAppRuns(ctx, t, both, "api", "web")
	for _, app := range []string{"api", "web"} {
		framework.WaitForPipelineRun(ctx, t, buildsNamespace, runs[app], framework.PipelineRunSucceeded)
		sts = s.waitForContext(ctx, t, repo.Name, both, "slipway/ci/"+app, "success")
	}
	if diff := cmp.Diff([]string{"slipway/ci/api", "slipway/ci/web"}, contexts(sts)); diff != "" {
		t.Errorf("status contexts of the push touching both (-want +got)\n%s\nall: %+v", diff, sts)
	}
}

// A monorepo's pull request: its changed files come from the git host's
// API (the fakescm's "list pull request files"); touching both apps builds
// both, each on its own context, and the one Slipway comment lists both.
func TestMonorepoPullRequestCommentListsApps(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*buildTimeout)
	defer cancel()
	repo, _ := newMonorepo(t, s, "mono-pr")
	sha := repo.commit(t, "topic", "Change both apps "+repo.Name, map[string]string{
		"services/web/greet.js": readSample(t, "node", "greet.js") + "// pr, web\n",
		"services/api/main.go":  readSample(t, "go", "main.go") + "// pr, api\n"})
	const number = 11
	repo.setRef(t, fmt.Sprintf("refs/pull/%d/head", number), sha)
	s.fakePost(t, "/_fake/pulls", fmt.Sprintf(`{"repo": %q, "number": %d, "sha": %q, "source": "topic", "target": "main", "title": "two apps"}`, repo.Name, number, sha))

	mustAccept(t, s.sendGitHub(t, "pull_request", "e2e-"+randomHex(t, 8), s.githubPR(repo, number, "topic", sha)))
	runs := waitForAppRuns(ctx, t, sha, "api", "web")
	for _, app := range []string{"api", "web"} {
		framework.WaitForPipelineRun(ctx, t, buildsNamespace, runs[app], framework.PipelineRunSucceeded)
		s.waitForContext(ctx, t, repo.Name, sha, "slipway/ci/"+app, "success")
	}
	link := func(app string) string { return s.URL + "/runs/" + buildsNamespace + "/" + runs[app] }
	comment := s.waitForComment(ctx, t, "github", repo.Name, number, func(c fakescm.Comment) bool {
		return strings.Contains(c.Body, "| api | ✅ succeeded | ["+buildsNamespace+"/"+runs["api"]+"]("+link("api")+") |") &&
			strings.Contains(c.Body, "| web | ✅ succeeded | ["+buildsNamespace+"/"+runs["web"]+"]("+link("web")+") |")
	})
	for _, want := range []string{scm.CommentMarker, "### ✅ Slipway CI: 2 apps succeeded", "#### ✅ api succeeded", "#### ✅ web succeeded"} {
		if !strings.Contains(comment.Body, want) {
			t.Errorf("PR comment lacks %q:\n%s", want, comment.Body)
		}
	}
	var marked int
	for _, c := range s.comments(ctx, t) {
		if c.Provider == "github" && c.Repo == repo.Name && c.Number == number && strings.Contains(c.Body, scm.CommentMarker) {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("%d Slipway comments on #%d, want the one listing both apps", marked, number)
	}
}

// readSample is a file of the sample app under pkg/dockerfile/testdata/apps.
func readSample(t *testing.T, app, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", app, file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
