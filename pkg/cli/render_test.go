package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const apps = "../dockerfile/testdata/apps"

func runRender(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRenderCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestRenderCmd(t *testing.T) {
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../dockerfile/testdata/golden", name+".Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "stdout", args: []string{apps + "/go"}, want: golden("go")},
		{name: "offline maven with a registry", args: []string{"--maven-offline", "--base-registry", "127.0.0.1:5000/base", apps + "/java-maven"}, want: golden("java-maven-offline")},
		{name: "mirrors", args: []string{"--goproxy", "http://athens.corp:3000", "--base-registry", "127.0.0.1:5000/base/", apps + "/go"}, want: golden("go-mirror")},
		{name: "npm registry", args: []string{"--npm-registry", "https://npm.corp/", apps + "/node-pnpm"}, want: golden("node-pnpm")},
		{name: "pip index", args: []string{"--pip-index-url", "https://devpi.corp/root/pypi/+simple/", apps + "/python-pyproject"}, want: golden("python-pyproject")},
		{name: "test command", args: []string{"--print-test-command", apps + "/node"}, want: "npm ci && npm test\n"},
		{name: "own Dockerfile from .slipway.yaml", args: []string{apps + "/own-dockerfile"}, want: readFile(t, apps+"/own-dockerfile/Dockerfile")},
		{name: "nothing to build", args: []string{apps + "/nothing"}, wantErr: "no supported project found"},
		{name: "conflict", args: []string{apps + "/conflict"}, wantErr: "several languages found"},
		{name: "two dirs", args: []string{apps + "/go", apps + "/node"}, wantErr: "accepts at most 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runRender(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
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

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderCmdOutputAndJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), ".slipway", "Dockerfile")
	got, err := runRender(t, "-o", out, "--json", apps+"/python")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(got), &meta); err != nil {
		t.Fatalf("--json output %q: %v", got, err)
	}
	want := map[string]any{
		"own": false, "language": "python", "evidence": []any{"requirements.txt"}, "version": "3.11", "port": float64(8000),
		"testCommand": "python3 -m unittest discover", "buildImage": "python:3.11", "runtimeImage": "python:3.11",
	}
	if diff := cmp.Diff(want, meta); diff != "" {
		t.Errorf("--json (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(readFile(t, "../dockerfile/testdata/golden/python.Dockerfile"), readFile(t, out)); diff != "" {
		t.Errorf("-o file (-want +got)\n%s", diff)
	}
}

func TestRenderCmdBadRepoConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".slipway.yaml"), []byte("build: {langauge: go}\n"), 0o644); err != nil { //nolint:misspell // the typo is the test
		t.Fatal(err)
	}
	if _, err := runRender(t, dir); err == nil || !strings.Contains(err.Error(), `unknown field "langauge"`) { //nolint:misspell // the typo is the test
		t.Errorf("error = %v, want the typo reported", err)
	}
}
