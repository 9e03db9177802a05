package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/pkg/scm/github"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// BuildsNamespace is where Slipway creates CI PipelineRuns on the stack.
const BuildsNamespace = "slipway-builds"

const zeroSHA = "0000000000000000000000000000000000000000"

// Stack is the running local stack as `e2e/stack/slipway.sh env` and
// e2e/stack/env.sh describe it.
type Stack struct {
	URL          string // Slipway, reachable from the host
	FakeSCM      string // the fake git host
	ReposDir     string // bare repositories the fakescm serves
	Registry     string // host:port of the stack's registry
	GitHubSecret []byte
	Kube         kubernetes.Interface
	Tekton       versioned.Interface
	HTTP         *http.Client
}

// StackEnv reads the stack's addresses from the environment (the
// variables slipway.sh env and env.sh export); clients are the caller's.
func StackEnv(getenv func(string) string) (Stack, error) {
	s := Stack{URL: getenv("SLIPWAY_URL"), FakeSCM: getenv("SLIPWAY_FAKESCM_URL"), ReposDir: getenv("SLIPWAY_REPOS_DIR"),
		Registry: getenv("REGISTRY"), HTTP: &http.Client{Timeout: 30 * time.Second}}
	var missing []string
	for name, v := range map[string]string{"SLIPWAY_URL": s.URL, "SLIPWAY_FAKESCM_URL": s.FakeSCM,
		"SLIPWAY_REPOS_DIR": s.ReposDir, "REGISTRY": s.Registry, "SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE": getenv("SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE")} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("the stack's environment lacks %s: run `. e2e/stack/env.sh && eval \"$(e2e/stack/slipway.sh env)\"` (the stack must be up)", strings.Join(missing, ", "))
	}
	b, err := os.ReadFile(getenv("SLIPWAY_GITHUB_WEBHOOK_SECRET_FILE"))
	if err != nil {
		return s, fmt.Errorf("the GitHub webhook secret: %w", err)
	}
	s.GitHubSecret = bytes.TrimSpace(b)
	return s, nil
}

// Config is one sample's run.
type Config struct {
	Sample  string // directory under pkg/dockerfile/testdata/apps
	Root    string // the repository's root
	Pushes  int    // the first is cold
	Timeout time.Duration
	Logf    func(format string, args ...any)
}

// sampleEdits are the per-sample changes e2e makes so the sample tests on
// what the stack offers (e2e/languages_test.go's loose versions), and the
// source file each push appends a comment to.
var sampleEdits = map[string]struct {
	replace       map[string][2]string
	add           map[string]string
	touch, prefix string
}{
	"go":     {touch: "main.go", prefix: "//"},
	"node":   {replace: map[string][2]string{"package.json": {`">=20"`, `">=18"`}}, touch: "greet.js", prefix: "//"},
	"python": {add: map[string]string{"pytest.ini": "[pytest]\n"}, touch: "app.py", prefix: "#"},
}

// Samples lists the samples the bench knows how to push.
func Samples() []string { return []string{"go", "node", "python"} }

// Run pushes one sample cfg.Pushes times as consecutive commits to a new
// repository and returns each push's timeline, first (cold) first.
func Run(ctx context.Context, s Stack, cfg Config) (SampleResult, error) {
	edits, ok := sampleEdits[cfg.Sample]
	if !ok {
		return SampleResult{}, fmt.Errorf("unknown sample %q: want one of %v", cfg.Sample, Samples())
	}
	files, err := sampleFiles(filepath.Join(cfg.Root, "pkg", "dockerfile", "testdata", "apps", cfg.Sample))
	if err != nil {
		return SampleResult{}, err
	}
	for f, r := range edits.replace {
		if !strings.Contains(files[f], r[0]) {
			return SampleResult{}, fmt.Errorf("sample %s: %s has no %q to replace", cfg.Sample, f, r[0])
		}
		files[f] = strings.Replace(files[f], r[0], r[1], 1)
	}
	for f, c := range edits.add {
		files[f] = c
	}
	if cfg.Sample == "go" {
		// The unit tests run in base/golang:<go.mod's version>, and the
		// stack builds that image for one Go version only (as e2e's newRepo).
		v, err := s.baseGoVersion(ctx)
		if err != nil {
			return SampleResult{}, err
		}
		files["go.mod"] = "module example.com/hello\n\ngo " + v + "\n"
	}
	repo, err := s.newRepo(ctx, "pushbench-"+cfg.Sample)
	if err != nil {
		return SampleResult{}, err
	}
	defer os.RemoveAll(repo.work)
	res := SampleResult{Sample: cfg.Sample, Repo: repo.name}
	before := zeroSHA
	for i := range cfg.Pushes {
		if i > 0 {
			files = map[string]string{edits.touch: files[edits.touch] + fmt.Sprintf("%s pushbench %d\n", edits.prefix, i)}
		}
		sha, err := repo.commit(ctx, fmt.Sprintf("pushbench %s push %d", repo.name, i), files)
		if err != nil {
			return res, err
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		o, err := s.pushAndWait(pctx, repo, before, sha)
		cancel()
		if err != nil {
			return res, fmt.Errorf("%s push %d (%s): %w", repo.name, i, sha, err)
		}
		t := Extract(o)
		if m := t.Missing(); len(m) > 0 {
			cfg.Logf("pushbench: %s push %d: not found: %v", repo.name, i, m)
		}
		cfg.Logf("pushbench: %s push %d: %s", repo.name, i, t)
		if i == 0 {
			res.Cold = t
		} else {
			res.Warm = append(res.Warm, t)
		}
		before = sha
	}
	// Kept for inspection when something failed above; removed when done.
	if err := os.RemoveAll(repo.bare); err != nil {
		return res, fmt.Errorf("removing %s: %w", repo.bare, err)
	}
	return res, nil
}

func (t Timeline) String() string {
	var b strings.Builder
	for p := range numPhases {
		if d, ok := t.At[p]; ok {
			fmt.Fprintf(&b, " %s +%s;", p, secs(d))
		}
	}
	return strings.TrimSuffix(strings.TrimSpace(b.String()), ";")
}

func sampleFiles(dir string) (map[string]string, error) {
	all := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		all[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the sample: %w", err)
	}
	return all, nil
}

// pushAndWait sends the webhook of sha, waits for its green status and
// reads back everything Tekton recorded about its run.
func (s Stack) pushAndWait(ctx context.Context, r *gitRepo, before, sha string) (Observed, error) {
	body := s.githubPush(r, before, sha)
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return Observed{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/hooks/github", bytes.NewReader(body))
	if err != nil {
		return Observed{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(github.EventHeader, "push")
	req.Header.Set(github.DeliveryHeader, "pushbench-"+hex.EncodeToString(id))
	req.Header.Set(github.SignatureHeader, github.Sign(s.GitHubSecret, body))
	o := Observed{Sent: time.Now()}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return o, fmt.Errorf("sending the webhook: %w", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return o, fmt.Errorf("webhook answered %d: %s", resp.StatusCode, msg)
	}
	// Statuses carry the fakescm's own time of posting, so polling only
	// needs to notice the end, not time it.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		sts, err := s.statuses(ctx, r.name, sha)
		if err != nil {
			return o, err
		}
		if st, done := final(sts); done {
			if st.State != "success" {
				return o, fmt.Errorf("the run ended %s: %s (%s)", st.State, st.Description, st.TargetURL)
			}
			o.Statuses = sts
			break
		}
		select {
		case <-ctx.Done():
			return o, fmt.Errorf("waiting for a success status: %w; statuses so far: %+v", ctx.Err(), sts)
		case <-tick.C:
		}
	}
	prs, err := s.Tekton.TektonV1().PipelineRuns(BuildsNamespace).List(ctx, metav1.ListOptions{LabelSelector: tekton.LabelSHA + "=" + sha})
	if err != nil {
		return o, fmt.Errorf("listing PipelineRuns: %w", err)
	}
	if len(prs.Items) != 1 {
		return o, fmt.Errorf("%d PipelineRuns for %s, want 1", len(prs.Items), sha)
	}
	o.PipelineRun = prs.Items[0]
	sel := metav1.ListOptions{LabelSelector: labelPipelineRun + "=" + o.PipelineRun.Name}
	trs, err := s.Tekton.TektonV1().TaskRuns(BuildsNamespace).List(ctx, sel)
	if err != nil {
		return o, fmt.Errorf("listing TaskRuns: %w", err)
	}
	o.TaskRuns = trs.Items
	pods, err := s.Kube.CoreV1().Pods(BuildsNamespace).List(ctx, sel)
	if err != nil {
		return o, fmt.Errorf("listing pods: %w", err)
	}
	o.Pods = pods.Items
	return o, nil
}

// final is the first status of Slipway's context that ends the run.
func final(sts []fakescm.Status) (fakescm.Status, bool) {
	for _, st := range sts {
		if st.Context != statusContext {
			continue
		}
		switch st.State {
		case "success", "failure", "error", "failed", "canceled":
			return st, true
		}
	}
	return fakescm.Status{}, false
}

func (s Stack) statuses(ctx context.Context, repo, sha string) ([]fakescm.Status, error) {
	u := s.FakeSCM + "/_fake/statuses?" + url.Values{"repo": {repo}, "sha": {sha}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the fakescm's statuses: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fakescm statuses: HTTP %d", resp.StatusCode)
	}
	var out []fakescm.Status
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding the fakescm's statuses: %w", err)
	}
	return out, nil
}

// githubPush is the body of a GitHub push of sha onto main (as e2e sends).
func (s Stack) githubPush(r *gitRepo, before, sha string) []byte {
	owner, name, _ := strings.Cut(r.name, "/")
	commit := map[string]any{"id": sha, "message": "pushbench commit", "timestamp": time.Now().UTC().Format(time.RFC3339),
		"author": map[string]string{"name": "e2e", "email": "e2e@slipway.local"}, "added": []string{}, "removed": []string{}, "modified": []string{}}
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": before, "after": sha, "created": before == zeroSHA, "deleted": false,
		"repository": map[string]any{"name": name, "full_name": r.name, "owner": map[string]string{"login": owner, "name": owner},
			"html_url": s.FakeSCM + "/" + r.name, "clone_url": s.FakeSCM + "/git/" + r.name + ".git", "default_branch": "main"},
		"pusher":      map[string]string{"name": "e2e", "email": "e2e@slipway.local"},
		"sender":      map[string]string{"login": "e2e"},
		"head_commit": commit,
		"commits":     []any{commit},
	})
	return body
}

// baseGoVersion is the newest tag of the stack's base/golang image.
func (s Stack) baseGoVersion(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Registry+"/v2/base/golang/tags/list", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("base/golang tags: %w", err)
	}
	defer resp.Body.Close()
	var tags struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
		return "", fmt.Errorf("decoding the tags of base/golang: %w", err)
	}
	v := ""
	for _, tag := range tags.Tags {
		if v == "" || newerVersion(tag, v) {
			v = tag
		}
	}
	if v == "" {
		return "", errors.New("the registry has no base/golang image (run e2e/stack/images.sh)")
	}
	return v, nil
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

// gitRepo is a repository the fakescm serves, with a work tree to commit in.
type gitRepo struct {
	name, bare, work string
}

// newRepo makes the bare repository e2e/<prefix>-<random> (Slipway on the
// stack allows e2e/*) and a clone to commit in, and lets "e2e", the
// pushes' sender, write to it as the e2e suite does.
func (s Stack) newRepo(ctx context.Context, prefix string) (*gitRepo, error) {
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "pushbench-")
	if err != nil {
		return nil, err
	}
	r := &gitRepo{name: "e2e/" + prefix + "-" + hex.EncodeToString(id), work: work}
	r.bare = filepath.Join(s.ReposDir, r.name+".git")
	if err := os.MkdirAll(filepath.Dir(r.bare), 0o755); err != nil {
		return nil, err
	}
	for _, step := range [][]string{
		{"", "init", "-q", "--bare", "-b", "main", r.bare},
		{work, "init", "-q", "-b", "main"},
		{work, "remote", "add", "origin", r.bare},
	} {
		if err := git(ctx, step[0], step[1:]...); err != nil {
			return nil, err
		}
	}
	perm := fmt.Sprintf(`{"repo": %q, "user": "e2e", "level": "write"}`, r.name)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.FakeSCM+"/_fake/permissions", strings.NewReader(perm))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fakescm permissions: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return nil, fmt.Errorf("fakescm permissions: HTTP %d", resp.StatusCode)
	}
	return r, nil
}

// commit writes files, commits on main, pushes and returns the new SHA.
func (r *gitRepo) commit(ctx context.Context, msg string, files map[string]string) (string, error) {
	for p, content := range files {
		full := filepath.Join(r.work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", msg}, {"push", "-q", "origin", "HEAD:refs/heads/main"}} {
		if err := git(ctx, r.work, args...); err != nil {
			return "", err
		}
	}
	out, err := gitOutput(ctx, r.work, "rev-parse", "HEAD")
	return strings.TrimSpace(out), err
}

func git(ctx context.Context, dir string, args ...string) error {
	_, err := gitOutput(ctx, dir, args...)
	return err
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@slipway.local",
		"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@slipway.local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
