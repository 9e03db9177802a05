package fakescm

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/scm/gitlab"
)

// makeRepo creates <root>/<repo>.git with one commit holding files, and
// returns the commit SHA.
func makeRepo(t *testing.T, root, repo string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(work, "init", "-q", "-b", "main")
	for name, content := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(work, "add", "-A")
	run(work, "commit", "-q", "-m", "init")
	bare := filepath.Join(root, repo+".git")
	run(work, "clone", "-q", "--bare", work, bare)
	return run(work, "rev-parse", "HEAD")
}

func TestRealClientsAgainstFake(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	sha := makeRepo(t, root, "acme/web", map[string]string{".slipway.yaml": "app: web\n", "main.go": "package main\n"})
	fake := New(root)
	fake.AddGitLabProject(42, "acme/web")
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	ctx := context.Background()

	ghc, err := github.NewClient("token", srv.URL+"/github/api/v3/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	glc, err := gitlab.NewClient("token", srv.URL+"/gitlab/api/v4", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]scm.Client{"github": ghc, "gitlab": glc} {
		repo := scm.Repo{FullName: "acme/web"}
		if name == "gitlab" {
			repo.ProjectID = 42
		}
		got, err := c.ReadFile(ctx, repo, sha, ".slipway.yaml")
		if err != nil || string(got) != "app: web\n" {
			t.Errorf("%s ReadFile = %q, %v", name, got, err)
		}
		if _, err := c.ReadFile(ctx, repo, sha, "missing.yaml"); !errors.Is(err, scm.ErrNotFound) {
			t.Errorf("%s ReadFile(missing) = %v, want ErrNotFound", name, err)
		}
		if err := c.SetStatus(ctx, repo, scm.Status{SHA: sha, State: scm.StateRunning, Context: "slipway/ci",
			Description: "Build running", TargetURL: "http://slipway/runs/x", Ref: "main"}); err != nil {
			t.Errorf("%s SetStatus: %v", name, err)
		}
	}
	fake.FailNextStatuses(1)
	err = ghc.SetStatus(ctx, scm.Repo{FullName: "acme/web"}, scm.Status{SHA: sha, State: scm.StateSuccess, Context: "slipway/ci"})
	if ok, _ := scm.IsTransient(err); !ok {
		t.Errorf("injected 502: err = %v, want transient", err)
	}
	want := []Status{
		{Provider: "github", Repo: "acme/web", SHA: sha, State: "pending", Context: "slipway/ci", TargetURL: "http://slipway/runs/x"},
		{Provider: "gitlab", Repo: "acme/web", SHA: sha, State: "running", Context: "slipway/ci", TargetURL: "http://slipway/runs/x", Ref: "main"},
	}
	got := fake.Statuses("acme/web", sha)
	opts := cmp.Options{cmpopts.IgnoreFields(Status{}, "At", "Description"), cmpopts.SortSlices(func(a, b Status) bool { return a.Provider < b.Provider })}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("statuses (-want +got)\n%s", diff)
	}

	// The repository clones over HTTP.
	out, err := exec.Command("git", "ls-remote", srv.URL+"/git/acme/web.git").CombinedOutput()
	if err != nil || !strings.Contains(string(out), sha) {
		t.Errorf("git ls-remote = %s, %v", out, err)
	}
}

// The /_fake/ controls drive a fakescm running as its own process.
func TestControls(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	sha := makeRepo(t, root, "acme/api", map[string]string{".slipway.yaml": "app: api\n"})
	srv := httptest.NewServer(New(root).Handler())
	defer srv.Close()
	ctx := context.Background()
	post := func(path, body string) int {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	glc, err := gitlab.NewClient("token", srv.URL+"/gitlab/api/v4", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ghc, err := github.NewClient("token", srv.URL+"/github/api/v3/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	byID := scm.Repo{ProjectID: 7}
	if _, err := glc.ReadFile(ctx, byID, sha, ".slipway.yaml"); !errors.Is(err, scm.ErrNotFound) {
		t.Errorf("ReadFile(unregistered project) = %v, want ErrNotFound", err)
	}

	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{"/_fake/gitlab/projects", `{"id": 7, "path": "acme/api"}`, 204},
		{"/_fake/gitlab/projects", `{"id": 0, "path": "acme/api"}`, 400},
		{"/_fake/gitlab/projects", `not json`, 400},
		{"/_fake/reads?down=maybe", ``, 400},
		{"/_fake/reads?down=true", ``, 204},
	} {
		if got := post(tc.path, tc.body); got != tc.want {
			t.Errorf("POST %s %s = %d, want %d", tc.path, tc.body, got, tc.want)
		}
	}
	for name, read := range map[string]func() ([]byte, error){
		"github": func() ([]byte, error) { return ghc.ReadFile(ctx, scm.Repo{FullName: "acme/api"}, sha, ".slipway.yaml") },
		"gitlab": func() ([]byte, error) { return glc.ReadFile(ctx, byID, sha, ".slipway.yaml") },
	} {
		if _, err := read(); err == nil {
			t.Errorf("%s ReadFile while reads are down: no error", name)
		} else if ok, _ := scm.IsTransient(err); !ok {
			t.Errorf("%s ReadFile while reads are down = %v, want a transient error", name, err)
		}
	}
	if got := post("/_fake/reads?down=false", ""); got != 204 {
		t.Fatalf("POST /_fake/reads?down=false = %d", got)
	}
	for name, read := range map[string]func() ([]byte, error){
		"github": func() ([]byte, error) { return ghc.ReadFile(ctx, scm.Repo{FullName: "acme/api"}, sha, ".slipway.yaml") },
		"gitlab": func() ([]byte, error) { return glc.ReadFile(ctx, byID, sha, ".slipway.yaml") },
	} {
		if got, err := read(); err != nil || string(got) != "app: api\n" {
			t.Errorf("%s ReadFile after reads are back = %q, %v", name, got, err)
		}
	}
}
