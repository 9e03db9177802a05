package dockerfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

func TestRenderResults(t *testing.T) {
	reg := Options{BaseRegistry: "127.0.0.1:5000/base", MavenOffline: true}
	tests := []struct {
		app  string
		want Result
	}{
		{"go", Result{Language: "go", Evidence: []string{"go.mod"}, Version: "1.26", Port: 8080, TestCommand: goTestCommand,
			BuildImage: "127.0.0.1:5000/base/golang:1.26", RuntimeImage: "scratch"}},
		{"java-maven", Result{Language: "java-maven", Evidence: []string{"pom.xml"}, Version: "21", Port: 8080,
			TestCommand: "mvn -B -o -Dmaven.repo.local=/usr/share/maven-repo test",
			BuildImage:  "127.0.0.1:5000/base/maven:3-jdk21", RuntimeImage: "127.0.0.1:5000/base/jre:21"}},
		{"java-gradle", Result{Language: "java-gradle", Evidence: []string{"build.gradle"}, Version: "17", Port: 8080,
			TestCommand: "gradle --no-daemon -Porg.gradle.java.installations.auto-download=false test",
			BuildImage:  "127.0.0.1:5000/base/gradle:jdk17", RuntimeImage: "127.0.0.1:5000/base/jre:17"}},
		{"node", Result{Language: "node", Evidence: []string{"package.json"}, Version: "24", Port: 3000, TestCommand: "npm ci && npm test",
			BuildImage: "127.0.0.1:5000/base/node:24", RuntimeImage: "127.0.0.1:5000/base/node:24"}},
		{"node-yarn", Result{Language: "node", Evidence: []string{"package.json"}, Version: "20", Port: 3000,
			TestCommand: "yarn install --frozen-lockfile && yarn test",
			BuildImage:  "127.0.0.1:5000/base/node:20", RuntimeImage: "127.0.0.1:5000/base/node:20"}},
		{"node-pnpm", Result{Language: "node", Evidence: []string{"package.json"}, Version: "22", Port: 3000,
			TestCommand: "pnpm install --frozen-lockfile && pnpm test",
			BuildImage:  "127.0.0.1:5000/base/node:22", RuntimeImage: "127.0.0.1:5000/base/node:22"}},
		{"python", Result{Language: "python", Evidence: []string{"requirements.txt"}, Version: "3.11", Port: 8000,
			TestCommand: "python3 -m unittest discover",
			BuildImage:  "127.0.0.1:5000/base/python:3.11", RuntimeImage: "127.0.0.1:5000/base/python:3.11"}},
		{"python-pyproject", Result{Language: "python", Evidence: []string{"pyproject.toml"}, Version: "3.13", Port: 8000,
			TestCommand: "python3 -m unittest discover",
			BuildImage:  "127.0.0.1:5000/base/python:3.13", RuntimeImage: "127.0.0.1:5000/base/python:3.13"}},
		{"static", Result{Language: "static", Evidence: []string{"index.html"}, Port: 8080, RuntimeImage: "127.0.0.1:5000/base/busybox:latest"}},
		{"static-build", Result{Language: "static", Evidence: []string{"package.json"}, Version: "22", Port: 8080,
			BuildImage: "127.0.0.1:5000/base/node:22", RuntimeImage: "127.0.0.1:5000/base/busybox:latest"}},
	}
	for _, tt := range tests {
		t.Run(tt.app, func(t *testing.T) {
			got, err := Render(filepath.Join("testdata", "apps", tt.app), nil, reg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(Result{}, "Dockerfile")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRenderOwnDockerfile(t *testing.T) {
	dir := filepath.Join("testdata", "apps", "own-dockerfile")
	rc := readRepoConfig(t, dir)
	got, err := Render(dir, rc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, got.Dockerfile) {
		t.Errorf("Dockerfile changed (-want +got)\n%s", cmp.Diff(string(want), string(got.Dockerfile)))
	}
	wantRes := Result{Own: true, DockerfilePath: "Dockerfile", Language: "go", Evidence: []string{"go.mod"}, Version: "1.26",
		Port: 8080, TestCommand: goTestCommand, BuildImage: "golang:1.26"}
	if diff := cmp.Diff(wantRes, *got, cmpopts.IgnoreFields(Result{}, "Dockerfile")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}

	if _, err := Render(dir, &repoconfig.Config{Build: repoconfig.Build{Dockerfile: "build/Dockerfile"}}, Options{}); err == nil ||
		!strings.Contains(err.Error(), "reading the repository's own Dockerfile") {
		t.Errorf("missing own Dockerfile: error = %v", err)
	}
}

func TestRenderConfig(t *testing.T) {
	goApp := filepath.Join("testdata", "apps", "go")
	tests := []struct {
		name  string
		dir   string
		files map[string]string // used instead of dir when set
		build repoconfig.Build
		app   string
		opts  Options
		// contains are substrings of the rendered Dockerfile; wantTest the test command.
		contains []string
		wantTest string
		wantErr  string
	}{
		{name: "language chosen in .slipway.yaml settles a conflict", dir: filepath.Join("testdata", "apps", "conflict"),
			build: repoconfig.Build{Language: "python"}, contains: []string{"FROM python:3.12 AS build", `CMD ["python3", "main.py"]`}},
		{name: "version override", dir: goApp, build: repoconfig.Build{Version: "1.25.1"}, contains: []string{"FROM golang:1.25 AS build"}},
		{name: "version not allowed", dir: goApp, build: repoconfig.Build{Version: "1.19"},
			wantErr: "go: the repository asks for Go 1.19 (.slipway.yaml build.version), which this platform does not offer; offered: 1.21, 1.22, 1.23, 1.24, 1.25, 1.26 (default 1.26)"},
		{name: "port, build args and test command", dir: goApp,
			build:    repoconfig.Build{Port: 9090, BuildArgs: map[string]string{"VERSION": "1.2.3", "APP_ENV": "prod"}, TestCommand: "make test"},
			contains: []string{"EXPOSE 9090", "ENV PORT=9090", "ARG APP_ENV=prod\nARG VERSION=1.2.3\n"}, wantTest: "make test"},
		{name: "bad build arg name", dir: goApp, build: repoconfig.Build{BuildArgs: map[string]string{"1X": "a"}}, wantErr: `"1X" is not a valid ARG name`},
		{name: "bad build arg value", dir: goApp, build: repoconfig.Build{BuildArgs: map[string]string{"X": "a b"}}, wantErr: "spaces, quotes"},
		{name: "unknown language", dir: goApp, build: repoconfig.Build{Language: "cobol"}, wantErr: `build.language "cobol" is not supported; use one of: go, java-maven, java-gradle, python, node, static`},
		{name: "forced language without its files", dir: goApp, build: repoconfig.Build{Language: "java-maven"}, wantErr: "java-maven: reading pom.xml"},
		{name: "registry with scheme", dir: goApp, opts: Options{BaseRegistry: "https://registry.corp"}, wantErr: "without a scheme"},
		{name: "context", dir: "testdata", build: repoconfig.Build{Context: "apps/go"}, contains: []string{"FROM golang:1.26 AS build"}},
		{name: "context escapes", dir: goApp, build: repoconfig.Build{Context: "../node"}, wantErr: "inside the repository"},
		{name: "JDK outside the allowed set", files: map[string]string{
			"pom.xml": pomWith(`<maven.compiler.release>22</maven.compiler.release>`, ""), "src/main/java/A.java": ""},
			wantErr: "java-maven: the repository asks for Java (JDK) 22 (pom.xml maven.compiler.release), which this platform does not offer; offered: 8, 11, 17, 21"},
		{name: "gradle sourceCompatibility is a minimum", files: map[string]string{"build.gradle": "sourceCompatibility = 1.8\n"}, contains: []string{"FROM gradle:jdk21 AS build", "FROM jre:21"}},
		{name: "gradle toolchain is exact", files: map[string]string{"build.gradle": "java { toolchain { languageVersion = JavaLanguageVersion.of(11) } }\n"}, contains: []string{"FROM gradle:jdk11 AS build", "FROM jre:11"}},
		{name: "version from the platform configuration", dir: filepath.Join("testdata", "apps", "python"),
			opts:     Options{Languages: Platform{"python": {Default: "3.11", Versions: []string{"3.11"}, BuildImage: "python:{{ .Version }}-slim"}}},
			contains: []string{"FROM python:3.11-slim AS build"}},
		{name: "a range the platform configuration does not offer", files: map[string]string{"package.json": `{"main":"a.js","engines":{"node":">=20"}}`, "a.js": ""},
			opts:    Options{Languages: Platform{"node": {Default: "18", Versions: []string{"18"}}}},
			wantErr: `node: the repository asks for Node.js >=20 (package.json engines.node), which this platform does not offer; offered: 18 (default 18). Pin an offered version: build.version in .slipway.yaml (e.g. version: "18"), or engines.node in package.json`},
		{name: "gradle kts with subproject", files: map[string]string{
			"settings.gradle.kts": `include("app")`, "build.gradle.kts": "", "app/build.gradle.kts": "kotlin { jvmToolchain(21) }\n"},
			contains: []string{"COPY build.gradle.kts settings.gradle.kts ./\nCOPY app/build.gradle.kts app/\n", "FROM gradle:jdk21 AS build"}},
		{name: "maven multi-module poms", files: map[string]string{"pom.xml": pomWith("", ""), "core/pom.xml": "<project/>", "web/pom.xml": "<project/>"},
			contains: []string{"COPY pom.xml ./\nCOPY core/pom.xml core/\nCOPY web/pom.xml web/\n"}},
		{name: "maven settings file", files: map[string]string{"pom.xml": pomWith("", ""), ".mvn/settings.xml": "<settings/>"},
			opts: Options{MavenSettings: ".mvn/settings.xml"}, contains: []string{"COPY .mvn/settings.xml /slipway/settings.xml"},
			wantTest: "mvn -B -s .mvn/settings.xml test"},
		{name: "maven settings file missing", files: map[string]string{"pom.xml": pomWith("", "")},
			opts: Options{MavenSettings: "settings.xml"}, wantErr: "maven settings settings.xml not found in the build context"},
		{name: "maven mirror", files: map[string]string{"pom.xml": pomWith("", "")},
			opts: Options{MavenSettings: "https://nexus.corp/maven/"}, contains: []string{`ARG MAVEN_MIRROR_URL="https://nexus.corp/maven/"`},
			wantTest: `mkdir -p /tmp/slipway && printf "%s" "<settings><mirrors><mirror><id>slipway-mirror</id><mirrorOf>*</mirrorOf><url>https://nexus.corp/maven/</url></mirror></mirrors></settings>" > /tmp/slipway/settings.xml && mvn -B -s /tmp/slipway/settings.xml test`},
		{name: "maven offline: the image build never runs go-offline", files: map[string]string{"pom.xml": pomWith("", "")},
			opts: Options{MavenOffline: true}, contains: []string{"ARG MAVEN_OFFLINE=true"},
			wantTest: "mvn -B -o -Dmaven.repo.local=/usr/share/maven-repo test"},
		{name: "go module with go.sum and vendor", files: map[string]string{"go.mod": "module m\ngo 1.23\n", "go.sum": "", "vendor/modules.txt": "", "main.go": "package main\n"},
			contains: []string{"COPY go.mod go.sum ./\n# vendor/ is committed", "-o /out/app .\n"}},
		{name: "go main under cmd", files: map[string]string{"go.mod": "module m\ngo 1.23\n", "cmd/server/main.go": "package main\n", "lib.go": "package m\n"},
			contains: []string{"-o /out/app ./cmd/server\n"}},
		{name: "go several mains", dir: filepath.Join("testdata", "apps", "multi-main"),
			wantErr: "several main packages under cmd/ (api, worker); set app in .slipway.yaml to the one to build"},
		{name: "go several mains, app chooses", dir: filepath.Join("testdata", "apps", "multi-main"), app: "worker", contains: []string{"./cmd/worker\n"}},
		{name: "go without main", files: map[string]string{"go.mod": "module m\ngo 1.23\n", "lib.go": "package m\n"}, wantErr: "no main package"},
		{name: "several lockfiles", files: map[string]string{"package.json": `{"main":"a.js"}`, "a.js": "", "package-lock.json": "{}", "yarn.lock": ""},
			wantErr: "several lockfiles (package-lock.json, yarn.lock): remove the stale ones or set packageManager in package.json"},
		{name: "packageManager settles the lockfiles", files: map[string]string{"package.json": `{"main":"a.js","packageManager":"yarn@1.22.19"}`, "a.js": "", "package-lock.json": "{}", "yarn.lock": ""},
			contains: []string{"COPY package.json yarn.lock ./"}},
		{name: "yarn berry", files: map[string]string{"package.json": `{"main":"a.js"}`, "a.js": "", "yarn.lock": "__metadata:\n  version: 8\n", ".yarnrc.yml": ""},
			contains: []string{"COPY package.json yarn.lock .yarnrc.yml ./", `RUN YARN_NPM_REGISTRY_SERVER="$NPM_CONFIG_REGISTRY" yarn install --immutable`}},
		{name: "npm without lockfile", files: map[string]string{"package.json": `{"scripts":{"start":"node a.js"}}`},
			contains: []string{"COPY package.json ./\n", "npm install --no-audit --no-fund"}},
		{name: "node engines too new", files: map[string]string{"package.json": `{"main":"a.js","engines":{"node":"19.x"}}`, "a.js": ""},
			wantErr: "node: the repository asks for Node.js 19.x (package.json engines.node), which this platform does not offer; offered: 18, 20, 22, 24"},
		{name: "python pyproject needs tomllib", files: map[string]string{"pyproject.toml": "[project]\nrequires-python = \"~=3.9.0\"\n", "main.py": ""},
			wantErr: "needs Python >= 3.11"},
		{name: "python with requirements", files: map[string]string{"requirements.txt": "flask==3.0\npytest\n", "app.py": ""},
			wantTest: `python3 -m pip install -r requirements.txt && python3 -m pytest --junitxml="${SLIPWAY_REPORTS:-.slipway/reports}/pytest.xml"`},
		{name: "python without entry point", files: map[string]string{"requirements.txt": "", "lib.py": ""},
			wantErr: "no entry point: looked for main.py, app.py, server.py, __main__.py and a package with __main__.py"},
		{name: "static in public", files: map[string]string{"public/index.html": ""}, contains: []string{"COPY public /www\n"}},
		{name: "base registry prefix", dir: goApp, opts: Options{BaseRegistry: "registry.corp/mirror/"},
			contains: []string{"FROM registry.corp/mirror/golang:1.26 AS build", "FROM scratch\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir
			if tt.files != nil {
				dir = writeTree(t, tt.files)
			}
			got, err := Render(dir, &repoconfig.Config{App: tt.app, Build: tt.build}, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v\nwant it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.contains {
				if !strings.Contains(string(got.Dockerfile), c) {
					t.Errorf("Dockerfile lacks %q:\n%s", c, got.Dockerfile)
				}
			}
			if tt.wantTest != "" && got.TestCommand != tt.wantTest {
				t.Errorf("TestCommand = %q, want %q", got.TestCommand, tt.wantTest)
			}
			if w, err := Lint(got.Dockerfile); err != nil || len(w) > 0 {
				t.Errorf("Lint = %v, %v; want no warnings", w, err)
			}
		})
	}
}

// goTestCommand converts go test -json to JUnit with the slipway binary the
// unit-test Task puts in $SLIPWAY_TOOLS (on PATH when run locally).
const goTestCommand = `go test -json ./... 2>&1 | "${SLIPWAY_TOOLS:+$SLIPWAY_TOOLS/}slipway" test-report go "${SLIPWAY_REPORTS:-.slipway/reports}/go-test.xml"`
