package scm

import (
	"strings"
	"testing"
)

func TestParseGitHost(t *testing.T) {
	for _, tc := range []struct {
		base     string
		insecure bool
		wantErr  string
	}{
		{"https://github.com", false, ""},
		{"https://gitlab.example.com/gitlab/", false, ""},
		{"http://127.0.0.1:9000/git", true, ""},
		{"http://127.0.0.1:9000/git", false, "explicit insecure"},
		{"file:///srv/git", true, "scheme must be https"},
		{"ssh://git@github.com", false, "scheme must be https"},
		{"https://user:pw@github.com", false, "no credentials"},
		{"https://github.com?x=1", false, "no credentials"},
		{"https://", false, "want scheme://host"},
		{"", false, "scheme must be https"},
	} {
		_, err := ParseGitHost(tc.base, tc.insecure)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseGitHost(%q, %v): %v", tc.base, tc.insecure, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseGitHost(%q, %v) = %v, want an error with %q", tc.base, tc.insecure, err, tc.wantErr)
		}
	}
}

func TestCloneURL(t *testing.T) {
	gh, err := ParseGitHost("https://github.com", false)
	if err != nil {
		t.Fatal(err)
	}
	local, err := ParseGitHost("http://127.0.0.1:9000/git/", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		host          GitHost
		repo, payload string
		want, wantErr string
	}{
		{"github", gh, "o/r", "https://github.com/o/r.git", "https://github.com/o/r.git", ""},
		{"payload path ignored", gh, "o/r", "https://github.com/evil/other.git", "https://github.com/o/r.git", ""},
		{"no payload URL", gh, "o/r", "", "https://github.com/o/r.git", ""},
		{"host case", gh, "o/r", "https://GitHub.com/o/r.git", "https://github.com/o/r.git", ""},
		{"path prefix kept", local, "g/sub/r", "http://127.0.0.1:9000/git/g/sub/r.git", "http://127.0.0.1:9000/git/g/sub/r.git", ""},
		{"foreign host", gh, "o/r", "https://evil.example/o/r.git", "", "not the configured git host"},
		{"internal address", gh, "o/r", "https://169.254.169.254/o/r.git", "", "not the configured git host"},
		{"file URL", gh, "o/r", "file:///etc/passwd", "", "not the configured git host"},
		{"downgrade to http", gh, "o/r", "http://github.com/o/r.git", "", "not the configured git host"},
		{"ssh", gh, "o/r", "git@github.com:o/r.git", "", "clone URL"},
		{"port differs", local, "o/r", "http://127.0.0.1:9001/git/o/r.git", "", "not the configured git host"},
		{"dot-dot repo", gh, "../admin/r", "", "", "cannot form a clone URL"},
		{"query in repo", gh, "o/r?x", "", "", "cannot form a clone URL"},
		{"empty repo", gh, "", "", "", "cannot form a clone URL"},
		{"unconfigured", GitHost{}, "o/r", "", "", "no git host configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.host.CloneURL(tc.repo, tc.payload)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CloneURL = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CloneURL = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzPinCloneURL: whatever the payload says, an accepted clone URL is the
// configured host's, under its path, for that repository.
func FuzzPinCloneURL(f *testing.F) {
	for _, s := range [][2]string{{"o/r", "https://github.com/o/r.git"}, {"o/r", "file:///x"}, {"../x", ""}, {"a/b", "https://github.com@evil/x"}} {
		f.Add(s[0], s[1])
	}
	h, err := ParseGitHost("https://github.com", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, repo, payload string) {
		got, err := h.CloneURL(repo, payload)
		if err != nil {
			return
		}
		if got != "https://github.com/"+repo+".git" {
			t.Errorf("CloneURL(%q, %q) = %q", repo, payload, got)
		}
	})
}
