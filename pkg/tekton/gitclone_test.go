package tekton

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// gitIn runs git in dir with extra environment and returns its trimmed output.
func gitIn(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestGitCloneScript runs the clone task's script with the local git
// against a repository on disk, the way its step would.
func TestGitCloneScript(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	b, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	task := b.Task("slipway-git-clone")
	if task == nil {
		t.Fatal("no task slipway-git-clone")
	}
	script := task.Spec.Steps[0].Script

	repo := t.TempDir()
	gitIn(t, repo, nil, "init", "-q", "-b", "main")
	commit := func(file, date string) string {
		if err := os.WriteFile(filepath.Join(repo, file), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		gitIn(t, repo, nil, "add", file)
		gitIn(t, repo, []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, "commit", "-q", "-m", file)
		return gitIn(t, repo, nil, "rev-parse", "HEAD")
	}
	old := commit("a.txt", "@1700000000 +0000")
	tip := commit("b.txt", "@1700000100 +0000")

	tests := []struct {
		name     string
		revision string
		ref      string
		// v0 makes the server refuse unadvertised SHAs, forcing the ref fallback.
		v0      bool
		wantErr string
	}{
		{name: "by sha", revision: tip, ref: "refs/heads/main"},
		{name: "by ref", revision: tip, ref: "refs/heads/main", v0: true},
		{name: "ref moved on", revision: old, ref: "refs/heads/main", v0: true},
		{name: "unknown sha", revision: strings.Repeat("e", 40), ref: "refs/heads/main", v0: true, wantErr: "not found"},
		{name: "short sha", revision: tip[:8], wantErr: "full commit SHA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "src")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			// Leftovers of an earlier checkout must go.
			if err := os.WriteFile(filepath.Join(out, ".stale"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			res := func(n string) string { return filepath.Join(dir, n) }
			cmd := exec.Command("sh", "-c", script)
			cmd.Env = append(os.Environ(),
				"PARAM_URL=file://"+repo, "PARAM_REVISION="+tt.revision, "PARAM_REF="+tt.ref,
				"OUTPUT_PATH="+out, "AUTH_BOUND=false", "AUTH_PATH=",
				"RESULT_COMMIT="+res("commit"), "RESULT_URL="+res("url"), "RESULT_COMMITTER_DATE="+res("date"))
			if tt.v0 {
				cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=protocol.version", "GIT_CONFIG_VALUE_0=0")
			}
			output, err := cmd.CombinedOutput()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(string(output), tt.wantErr) {
					t.Fatalf("err = %v, output:\n%s\nwant a failure mentioning %q", err, output, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, output)
			}
			read := func(p string) string {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			wantDate := "1700000100"
			if tt.revision == old {
				wantDate = "1700000000"
			}
			got := map[string]string{"commit": read(res("commit")), "url": read(res("url")), "date": read(res("date")),
				"head": gitIn(t, out, nil, "rev-parse", "HEAD")}
			want := map[string]string{"commit": tt.revision, "url": "file://" + repo, "date": wantDate, "head": tt.revision}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got)\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(out, ".stale")); !os.IsNotExist(err) {
				t.Errorf("stale file survived: %v", err)
			}
		})
	}
}
