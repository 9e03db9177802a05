package dockerfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// writeTree creates files (path -> content) under a temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDetectSampleApps(t *testing.T) {
	tests := []struct {
		app     string
		want    Match
		wantErr string
		is      error
	}{
		{app: "go", want: Match{Language: "go", Evidence: []string{"go.mod"}}},
		{app: "go-with-frontend", want: Match{Language: "go", Evidence: []string{"go.mod"}}},
		{app: "java-maven", want: Match{Language: "java-maven", Evidence: []string{"pom.xml"}}},
		{app: "java-gradle", want: Match{Language: "java-gradle", Evidence: []string{"build.gradle"}}},
		{app: "node", want: Match{Language: "node", Evidence: []string{"package.json"}}},
		{app: "node-yarn", want: Match{Language: "node", Evidence: []string{"package.json"}}},
		{app: "node-pnpm", want: Match{Language: "node", Evidence: []string{"package.json"}}},
		{app: "python", want: Match{Language: "python", Evidence: []string{"requirements.txt"}}},
		{app: "python-pyproject", want: Match{Language: "python", Evidence: []string{"pyproject.toml"}}},
		{app: "static", want: Match{Language: "static", Evidence: []string{"index.html"}}},
		{app: "static-build", want: Match{Language: "static", Evidence: []string{"package.json"}}},
		{
			app:     "conflict",
			is:      ErrAmbiguous,
			wantErr: "several languages found in testdata/apps/conflict: go (go.mod), python (requirements.txt); choose one in .slipway.yaml, e.g. `build: {language: go}`",
		},
		{
			app: "nothing",
			is:  ErrNoMatch,
			wantErr: "no supported project found in testdata/apps/nothing: looked for go.mod (go), pom.xml (java-maven), " +
				"build.gradle or build.gradle.kts (java-gradle), requirements.txt or pyproject.toml (python), " +
				"package.json (node, or static when it only has a build script), index.html, public/index.html or dist/index.html (static)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			got, err := Detect(filepath.Join("testdata", "apps", tt.app))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v\nwant %s", err, tt.wantErr)
				}
				if !errors.Is(err, tt.is) {
					t.Errorf("error does not wrap %v", tt.is)
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

func TestDetectRules(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    string
		wantErr string
	}{
		{name: "gradle kts", files: map[string]string{"build.gradle.kts": ""}, want: "java-gradle"},
		{name: "maven and gradle", files: map[string]string{"pom.xml": "", "build.gradle": ""}, wantErr: "java-maven (pom.xml), java-gradle (build.gradle)"},
		{name: "python with front-end tooling", files: map[string]string{"pyproject.toml": "", "package.json": `{"scripts":{"build":"vite build"}}`}, want: "python"},
		{name: "node by main", files: map[string]string{"package.json": `{"main":"lib/srv.js"}`, "lib/srv.js": ""}, want: "node"},
		{name: "node by server.js", files: map[string]string{"package.json": `{}`, "server.js": ""}, want: "node"},
		{name: "react dev server is static", files: map[string]string{"package.json": `{"scripts":{"start":"react-scripts start","build":"react-scripts build"}}`}, want: "static"},
		{name: "package.json for an index.html", files: map[string]string{"package.json": `{"devDependencies":{"prettier":"3"}}`, "public/index.html": ""}, want: "static"},
		{name: "package.json with nothing to run", files: map[string]string{"package.json": `{"scripts":{"test":"jest"}}`}, wantErr: "package.json has no start script, main, server.js/index.js/app.js or build script"},
		{name: "bad package.json", files: map[string]string{"package.json": `{`}, wantErr: "parsing package.json"},
		{name: "site in dist", files: map[string]string{"dist/index.html": ""}, want: "static"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(writeTree(t, tt.files))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Language != tt.want {
				t.Errorf("language = %q, want %q", got.Language, tt.want)
			}
		})
	}
}

func TestDetectNotADirectory(t *testing.T) {
	if _, err := Detect(filepath.Join("testdata", "apps", "go", "go.mod")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("error = %v, want 'not a directory'", err)
	}
}
