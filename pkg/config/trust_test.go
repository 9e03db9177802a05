package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
)

func TestTrustSettings(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "repo-secrets.yaml")
	if err := os.WriteFile(secrets, []byte("github:\n  acme/web: s3cret\ngitlab:\n  g/sub/api: t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("github: [leaked-secret]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"SLIPWAY_GITLAB_WEBHOOK_TOKEN": "x", "SLIPWAY_GITLAB_TOKEN": "y", "SLIPWAY_IMAGE_REGISTRY": "r"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"local http host, allowed", map[string]string{"SLIPWAY_GITHUB_URL": "http://127.0.0.1:9000/git", "SLIPWAY_INSECURE_GIT_HOSTS": "127.0.0.1:9000"}, ""},
		{"http without the insecure setting", map[string]string{"SLIPWAY_GITHUB_URL": "http://127.0.0.1:9000/git"}, "github-url: git host"},
		{"insecure set for another host", map[string]string{"SLIPWAY_GITLAB_URL": "http://git.local", "SLIPWAY_INSECURE_GIT_HOSTS": "127.0.0.1:9000"}, "gitlab-url: git host"},
		{"file scheme", map[string]string{"SLIPWAY_GITHUB_URL": "file:///srv"}, "scheme must be https"},
		{"allowlist", map[string]string{"SLIPWAY_ALLOWED_REPOS": "acme/*,group/**"}, ""},
		{"bad allowlist pattern", map[string]string{"SLIPWAY_ALLOWED_REPOS": "acme/["}, "allowed-repos"},
		{"repo secrets", map[string]string{"SLIPWAY_REPO_WEBHOOK_SECRETS_FILE": secrets}, ""},
		{"repo secrets unreadable", map[string]string{"SLIPWAY_REPO_WEBHOOK_SECRETS_FILE": filepath.Join(dir, "nope")}, "repo-webhook-secrets-file"},
		{"repo secrets malformed", map[string]string{"SLIPWAY_REPO_WEBHOOK_SECRETS_FILE": bad}, "not a YAML map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, nil, env, "")
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "leaked-secret") {
				t.Errorf("the error leaks the secrets file: %v", err)
			}
		})
	}

	c, err := load(t, nil, map[string]string{"SLIPWAY_REPO_WEBHOOK_SECRETS_FILE": secrets, "SLIPWAY_GITHUB_URL": "http://127.0.0.1:9000/git",
		"SLIPWAY_INSECURE_GIT_HOSTS": "127.0.0.1:9000"}, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.RepoSecrets()
	if err != nil {
		t.Fatal(err)
	}
	want := map[event.Provider]map[string]string{event.GitHub: {"acme/web": "s3cret"}, event.GitLab: {"g/sub/api": "t0ken"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RepoSecrets (-want +got)\n%s", diff)
	}
	hosts, err := c.GitHosts()
	if err != nil {
		t.Fatal(err)
	}
	if u, err := hosts[event.GitHub].CloneURL("o/r", ""); err != nil || u != "http://127.0.0.1:9000/git/o/r.git" {
		t.Errorf("pinned GitHub clone URL %q, %v", u, err)
	}
	if u, err := hosts[event.GitLab].CloneURL("g/r", ""); err != nil || u != "https://gitlab.com/g/r.git" {
		t.Errorf("pinned GitLab clone URL %q, %v", u, err)
	}
}
