package fakescm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pkg/notify"
	"github.com/slipway-ci/slipway/pkg/run"
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

// Slipway's real clients check write access, look up PR/MR heads and keep
// one comment per MR against the fake, as against GitHub and GitLab.
func TestPermissionsPullsAndNotes(t *testing.T) {
	fake := New(t.TempDir())
	fake.AddGitLabProject(9, "acme/web")
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
	for user, level := range map[string]string{"alice": "write", "bob": "read", "carol": "admin"} {
		if err := fake.SetPermission("acme/web", user, level); err != nil {
			t.Fatal(err)
		}
	}
	if err := fake.SetPermission("acme/web", "mallory", "owner"); err == nil {
		t.Error("SetPermission(owner): no error")
	}
	clients := map[string]interface {
		scm.Permissions
		scm.MergeRequests
		scm.Commenter
	}{"github": ghc, "gitlab": glc}
	repos := map[string]scm.Repo{"github": {FullName: "acme/web"}, "gitlab": {FullName: "acme/web", ProjectID: 9}}
	for name, c := range clients {
		got := map[string]bool{}
		for _, u := range []string{"alice", "bob", "carol", "dave"} {
			ok, err := c.CanWrite(ctx, repos[name], u)
			if err != nil {
				t.Errorf("%s CanWrite(%s): %v", name, u, err)
			}
			got[u] = ok
		}
		if diff := cmp.Diff(map[string]bool{"alice": true, "bob": false, "carol": true, "dave": false}, got); diff != "" {
			t.Errorf("%s CanWrite (-want +got)\n%s", name, diff)
		}
	}

	fake.AddPullRequest(PullRequest{Repo: "acme/web", Number: 4, SHA: strings.Repeat("a", 40), Source: "feature", Target: "main", Title: "Feature"})
	fake.AddPullRequest(PullRequest{Repo: "acme/web", Number: 5, SHA: strings.Repeat("b", 40), Source: "old", Target: "main", Closed: true})
	for name, c := range clients {
		got4, err := c.MergeRequestHead(ctx, repos[name], 4)
		if err != nil {
			t.Fatalf("%s MergeRequestHead(4): %v", name, err)
		}
		want4 := scm.MergeRequestHead{SHA: strings.Repeat("a", 40), SourceBranch: "feature", TargetBranch: "main", Title: "Feature", Open: true}
		if diff := cmp.Diff(want4, got4); diff != "" {
			t.Errorf("%s MergeRequestHead(4) (-want +got)\n%s", name, diff)
		}
		if got5, err := c.MergeRequestHead(ctx, repos[name], 5); err != nil || got5.Open {
			t.Errorf("%s MergeRequestHead(closed 5) = %+v, %v; want not open", name, got5, err)
		}
		if _, err := c.MergeRequestHead(ctx, repos[name], 6); err == nil {
			t.Errorf("%s MergeRequestHead(unknown 6): no error", name)
		}

		// Two upserts and a plain comment leave two comments, the first edited.
		for _, body := range []string{"first result", "second result"} {
			if err := c.UpsertComment(ctx, repos[name], 4, scm.CommentMarker, body); err != nil {
				t.Fatalf("%s UpsertComment: %v", name, err)
			}
		}
		if err := c.CreateComment(ctx, repos[name], 4, "Sorry"); err != nil {
			t.Fatalf("%s CreateComment: %v", name, err)
		}
		var got []string
		for _, cm := range fake.Comments() {
			if cm.Provider == name && cm.Repo == "acme/web" && cm.Number == 4 {
				got = append(got, cm.Body)
			}
		}
		if diff := cmp.Diff([]string{scm.CommentMarker + "\nsecond result", "Sorry"}, got); diff != "" {
			t.Errorf("%s comments on #4 (-want +got)\n%s", name, diff)
		}
	}
}

// Slipway's real clients ask the fake about team and group membership as
// they ask GitHub and GitLab: active members only, a pending invitation is
// not one; on GitLab a parent group's member belongs to its subgroups.
// The control endpoint sets membership and refuses bad input.
func TestGroupMembership(t *testing.T) {
	fake := New(t.TempDir())
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
	for _, m := range []struct{ group, user, level string }{
		{"acme/core", "alice", "member"}, {"acme/core", "carol", "maintainer"}, {"acme/core", "pat", "pending"},
		{"acme/core", "gone", "member"}, {"acme/core", "gone", ""}, {"acme/release", "rita", "member"},
	} {
		body := fmt.Sprintf(`{"group": %q, "user": %q, "level": %q}`, m.group, m.user, m.level)
		if code := post(t, srv.URL+"/_fake/groups", body); code != http.StatusNoContent {
			t.Fatalf("POST /_fake/groups %s: %d", body, code)
		}
	}
	if err := fake.SetGroupMember("acme", "olga", "member"); err != nil { // a GitLab parent group
		t.Fatal(err)
	}
	users := []string{"alice", "carol", "pat", "gone", "rita", "olga", "nobody"}
	for name, tc := range map[string]struct {
		c     scm.Permissions
		group string
		want  map[string]bool
	}{
		"github": {ghc, "acme/core", map[string]bool{"alice": true, "carol": true}},
		"gitlab": {glc, "acme/core", map[string]bool{"alice": true, "carol": true, "olga": true}},
	} {
		got := map[string]bool{}
		for _, u := range users {
			ok, err := tc.c.MemberOf(ctx, tc.group, u)
			if err != nil {
				t.Errorf("%s MemberOf(%s, %s): %v", name, tc.group, u, err)
			}
			if ok {
				got[u] = true
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s members of %s (-want +got)\n%s", name, tc.group, diff)
		}
	}
	if ok, err := ghc.MemberOf(ctx, "acme/nonexistent", "alice"); ok || err != nil {
		t.Errorf("github MemberOf(unknown team) = %v, %v; want false, nil", ok, err)
	}

	for _, body := range []string{
		`{"user": "alice", "level": "member"}`,
		`{"group": "acme/core", "level": "member"}`,
		`{"group": "acme/core", "user": "alice", "level": "owner"}`,
		`not json`,
	} {
		if code := post(t, srv.URL+"/_fake/groups", body); code != http.StatusBadRequest {
			t.Errorf("POST /_fake/groups %s: %d, want 400", body, code)
		}
	}
}

func post(t *testing.T, u, body string) int {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Slipway's mailer and chat webhook deliver to the fake's SMTP sink and
// /_fake/chat, which list what arrived.
func TestMailAndChatSinks(t *testing.T) {
	fake := New(t.TempDir())
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpSrv := fake.SMTPServer()
	go func() { _ = smtpSrv.Serve(l) }()
	defer smtpSrv.Close()
	ctx := context.Background()

	m, err := notify.NewMailer(notify.SMTPConfig{Addr: l.Addr().String(), From: "Slipway <ci@slipway.local>", TLS: notify.NoTLS})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, []string{"dev@example.com", "Team <team@example.com>"}, "✗ acme/web failed", "unit-test failed\nhttp://slipway/runs/x\n"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	wh, err := notify.NewWebhook(srv.URL+"/_fake/chat/team", notify.JSONFormat, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Post(ctx, notify.Summary{Run: run.Run{Repo: "acme/web", State: run.Failed}}); err != nil {
		t.Fatalf("Post: %v", err)
	}

	var mails []Mail
	getJSON(t, srv.URL+"/_fake/mail", &mails)
	wantMail := []Mail{{From: "ci@slipway.local", To: []string{"dev@example.com", "team@example.com"}, Subject: "✗ acme/web failed",
		Header: `"Slipway" <ci@slipway.local>`, Body: "unit-test failed\nhttp://slipway/runs/x\n"}}
	if diff := cmp.Diff(wantMail, mails, cmpopts.IgnoreFields(Mail{}, "At")); diff != "" {
		t.Errorf("/_fake/mail (-want +got)\n%s", diff)
	}
	var chats []ChatMessage
	getJSON(t, srv.URL+"/_fake/chat", &chats)
	if len(chats) != 1 || chats[0].Channel != "team" || chats[0].ContentType != "application/json" {
		t.Fatalf("/_fake/chat = %+v, want one JSON message on channel team", chats)
	}
	var doc map[string]any
	if err := json.Unmarshal(chats[0].Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["event"] != "run.finished" || doc["repo"] != "acme/web" || doc["state"] != "failure" {
		t.Errorf("chat document = %v", doc)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// A pull request's changed files, through the real clients: what its head
// changes since it left the target branch (a rename under both names),
// paginated as the hosts do.
func TestMergeRequestFiles(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	files := map[string]string{"services/web/old.js": "x\n", "services/api/main.go": "package main\n", "README.md": "hi\n"}
	makeRepo(t, root, "acme/shop", files)
	bare := filepath.Join(root, "acme/shop.git")
	work := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("clone", "-q", bare, ".")
	git("checkout", "-q", "-b", "feature")
	git("mv", "services/web/old.js", "services/web/new.js")
	git("rm", "-q", "README.md")
	want := []string{"services/web/new.js", "services/web/old.js", "README.md"}
	for i := range 120 {
		p := filepath.Join(work, "libs", strings.Repeat("x", i%3+1), "f"+strings.Repeat("0", 3-len(itoa(i)))+itoa(i)+".go")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("package libs\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(work, p)
		want = append(want, filepath.ToSlash(rel))
	}
	git("add", "-A")
	git("commit", "-q", "-m", "feature")
	git("push", "-q", "origin", "feature")
	head := git("rev-parse", "HEAD")
	// main moves on meanwhile: what it changes is not the pull request's.
	git("checkout", "-q", "main")
	if err := os.WriteFile(filepath.Join(work, "services/api/main.go"), []byte("package main // changed on main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-q", "-am", "main moves")
	git("push", "-q", "origin", "main")

	fake := New(root)
	fake.AddGitLabProject(43, "acme/shop")
	fake.AddPullRequest(PullRequest{Repo: "acme/shop", Number: 3, SHA: head, Source: "feature", Target: "main"})
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	ghc, err := github.NewClient("token", srv.URL+"/github/api/v3/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	glc, err := gitlab.NewClient("token", srv.URL+"/gitlab/api/v4", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	type lister interface {
		MergeRequestFiles(ctx context.Context, repo scm.Repo, mr, limit int) ([]string, bool, error)
	}
	sorted := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	for name, c := range map[string]lister{"github": ghc, "gitlab": glc} {
		repo := scm.Repo{FullName: "acme/shop", ProjectID: 43}
		got, complete, err := c.MergeRequestFiles(context.Background(), repo, 3, 1000)
		if err != nil || !complete {
			t.Fatalf("%s: complete %v, err %v", name, complete, err)
		}
		if diff := cmp.Diff(want, got, sorted); diff != "" {
			t.Errorf("%s files (-want +got)\n%s", name, diff)
		}
		if _, complete, err := c.MergeRequestFiles(context.Background(), repo, 3, 50); err != nil || complete {
			t.Errorf("%s with a limit of 50: complete %v, err %v; want incomplete", name, complete, err)
		}
		if _, _, err := c.MergeRequestFiles(context.Background(), repo, 4, 50); err == nil {
			t.Errorf("%s: an unknown pull request listed files", name)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
