package cli

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
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

func TestRenderCheck(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	base := strings.TrimPrefix(srv.URL, "http://") + "/base"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(base+"/python:3.11", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	stack := `languages: {python: {default: "3.11", versions: ["3.11", "3.12"]}}`

	// The default 3.11 exists: the check passes and the test image is reported.
	out, err := runRender(t, "--check", "--insecure-registry", "--json", "--languages", stack, "--base-registry", base, apps+"/python")
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ BuildImage string }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.BuildImage != base+"/python:3.11" {
		t.Errorf("build image %q, want %s/python:3.11", res.BuildImage, base)
	}

	// 3.12 is offered but its image is missing: the error names it and what exists.
	dir := t.TempDir()
	for f, c := range map[string]string{"requirements.txt": "", "main.py": "", ".python-version": "3.12\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = runRender(t, "--check", "--insecure-registry", "--languages", stack, "--base-registry", base, dir)
	if err == nil || !strings.Contains(err.Error(), "image "+base+"/python:3.12 does not exist; the repository has: 3.11") {
		t.Fatalf("error = %v, want it to name the missing image and the tags that exist", err)
	}

	// Not offered at all: fails before any registry is asked.
	_, err = runRender(t, "--languages", `languages: {python: {versions: ["3.11"]}}`, dir)
	if err == nil || !strings.Contains(err.Error(), "asks for Python 3.12 (.python-version)") {
		t.Fatalf("error = %v, want the version error", err)
	}
	_, err = runRender(t, "--languages", `languages: {python: {versions: ["x"]}}`, dir)
	if err == nil || !strings.Contains(err.Error(), "want a release line") {
		t.Fatalf("error = %v, want the configuration error", err)
	}
}

func TestRenderCheckUnreachableWarns(t *testing.T) {
	// Nothing listens there: the check cannot tell, so it warns and renders.
	cmd := NewRenderCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--check", "--insecure-registry", "--base-registry", "127.0.0.1:1/base", apps + "/go"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("render --check with an unreachable registry: %v, want a warning only", err)
	}
	if !strings.Contains(errOut.String(), "warning: cannot check image 127.0.0.1:1/base/golang:") {
		t.Errorf("stderr %q lacks the warning", errOut.String())
	}
}

// A monorepo's app is rendered with the build settings the pipeline hands
// over, not with a .slipway.yaml in its directory (which may not be the
// app's, or may be broken).
func TestRenderCmdBuildConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".slipway.yaml"), []byte("build: {langauge: go}\n"), 0o644); err != nil { //nolint:misspell // the typo is the test
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>hi</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := runRender(t, "--print-test-command", "--build-config", `{"language":"static","testCommand":"echo app tests"}`, dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != "echo app tests" {
		t.Errorf("test command %q, want the one of --build-config", got)
	}
	for _, tc := range []struct{ cfg, wantErr string }{
		{`{"langauge":"go"}`, `unknown field "langauge"`}, //nolint:misspell // the typo is the test
		{`{"context":"other"}`, "context is not allowed"},
		{`{"dockerfile":"../Dockerfile"}`, "inside the repository"},
		{`{"port":-1}`, "out of range"},
	} {
		if _, err := runRender(t, "--build-config", tc.cfg, dir); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("--build-config %s: error %v, want one with %q", tc.cfg, err, tc.wantErr)
		}
	}
}
