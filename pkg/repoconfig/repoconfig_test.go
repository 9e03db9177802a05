package repoconfig

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "mainline", false},
		{"release/*", "release/1.2", true},
		{"release/*", "release/1.2/hotfix", false},
		{"release/**", "release/1.2/hotfix", true},
		{"docs/**", "docs/a/b.md", true},
		{"docs/**", "src/docs/a.md", false},
		{"**/*.md", "README.md", true},
		{"**/*.md", "a/b/c.md", true},
		{"**/*.md", "a/b/c.go", false},
		{"src/**/test/*.go", "src/test/a.go", true},
		{"src/**/test/*.go", "src/x/y/test/a.go", true},
		{"v*", "v1.0.0", true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	no := false
	tests := []struct {
		name    string
		in      string
		want    *Config
		wantErr string
	}{
		{name: "empty is default", in: "", want: &Config{}},
		{
			name: "full",
			in: `app: web
branches: [main, "release/*"]
paths: ["src/**"]
cancelInProgress: {mergeRequests: false}
build: {language: go, version: "1.22", port: 8080, buildArgs: {A: b}}
`,
			want: &Config{
				App: "web", Branches: []string{"main", "release/*"}, Paths: []string{"src/**"},
				CancelInProgress: &CancelPolicy{MergeRequests: &no},
				Build:            Build{Language: "go", Version: "1.22", Port: 8080, BuildArgs: map[string]string{"A": "b"}},
			},
		},
		{name: "typo is an error", in: "brnches: [main]", wantErr: `unknown field "brnches"`},
		{name: "bad port", in: "build: {port: 70000}", wantErr: "out of range"},
		{name: "bad app", in: "app: My_App", wantErr: "lowercase"},
		{name: "dockerfile escapes", in: "build: {dockerfile: ../x}", wantErr: "inside the repository"},
		{name: "bad glob", in: "branches: ['[']", wantErr: "bad pattern"},
		{name: "manifests", in: "manifests: {path: deploy, image: 10.0.0.1:5000/apps/hello}", want: &Config{Manifests: &Manifests{Path: "deploy", Image: "10.0.0.1:5000/apps/hello"}}},
		{name: "manifests path escapes", in: "manifests: {path: deploy/../../etc}", wantErr: "inside the repository"},
		{name: "manifests path absolute", in: "manifests: {path: /deploy}", wantErr: "inside the repository"},
		{name: "manifests path missing", in: "manifests: {image: hello}", wantErr: "inside the repository"},
		{name: "manifests image with tag", in: "manifests: {path: deploy, image: hello:v1}", wantErr: "without tag or digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestCancelDefaults(t *testing.T) {
	c := &Config{}
	if c.CancelBranches() || !c.CancelMergeRequests() {
		t.Errorf("defaults: branches=%v mrs=%v, want false true", c.CancelBranches(), c.CancelMergeRequests())
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
