//go:build integration

// Real builds of every language template: render the sample app, build it
// on the real buildkitd with provenance, push to the loopback registry,
// check what was pushed, and run the image with runc until it answers.
// `make integration-build` starts the stack and the base images.
package builds_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/slipway-ci/slipway/e2e/builds"
	"github.com/slipway-ci/slipway/pkg/build"
	"github.com/slipway-ci/slipway/pkg/dockerfile"
	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/sbom"
)

const (
	sourceURL = "http://git.slipway.local/team/samples.git"
	commit    = "9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"
)

var (
	appsDir   = filepath.Join("..", "..", "pkg", "dockerfile", "testdata", "apps")
	brokenDir = filepath.Join("..", "..", "pkg", "dockerfile", "testdata", "broken")
	created   = time.Date(2026, 11, 21, 18, 30, 0, 0, time.UTC)
)

func stack(t *testing.T) builds.Stack {
	t.Helper()
	st, err := builds.StackFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatalf("runc is needed to run the built images: %v", err)
	}
	return st
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func builder(t *testing.T, st builds.Stack, progress *bytes.Buffer) *build.Builder {
	t.Helper()
	b, closer, err := build.New(context.Background(), st.BuildkitHost, build.WithProgress(progress))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closer.Close() })
	return b
}

// buildRequest is the request the build-push task makes for a checkout.
func buildRequest(st builds.Stack, dir, image string) build.Request {
	return build.Request{
		ContextDir: dir, Dockerfile: filepath.Join(dir, filepath.FromSlash(dockerfile.OutputPath)),
		Image: image, Tag: commit[:7], SourceURL: sourceURL, Revision: commit, Created: created, Insecure: true,
	}
}

func TestLanguagesBuildAndRun(t *testing.T) {
	st := stack(t)
	for _, s := range builds.Samples {
		t.Run(s.Name, func(t *testing.T) {
			if s.Skip != "" {
				t.Skip(s.Skip)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			port, err := builds.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			// The port goes through .slipway.yaml build.port, so it is the
			// port the image itself declares and listens on (ENV PORT, and
			// httpd -p for static sites).
			rc, err := s.RepoConfig(appsDir, port)
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			dir := filepath.Join(tmp, "src")
			res, err := builds.Prepare(filepath.Join(appsDir, s.App), dir, rc, s.Options(st))
			if err != nil {
				t.Fatal(err)
			}

			var progress bytes.Buffer
			image := st.Registry + "/it/" + s.Name + "-" + randomName(t)
			out, err := builder(t, st, &progress).Build(ctx, buildRequest(st, dir, image))
			if err != nil {
				t.Fatalf("Build: %v\n%s\nDockerfile:\n%s", err, progress.String(), res.Dockerfile)
			}

			ref, err := name.NewDigest(image+"@"+out.Digest, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			stmt, err := provenance.Fetch(ctx, ref)
			if err != nil {
				t.Fatalf("provenance.Fetch: %v", err)
			}
			if err := provenance.Verify(stmt, provenance.Expectations{Repo: sourceURL, Commit: commit, BuilderID: build.DefaultBuilderID}); err != nil {
				t.Errorf("provenance.Verify: %v", err)
			}

			img, err := builds.PlatformImage(ref.String(), true)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			wantLabels := map[string]string{
				"org.opencontainers.image.source":   sourceURL,
				"org.opencontainers.image.revision": commit,
				"org.opencontainers.image.created":  created.Format(time.RFC3339),
			}
			gotLabels := map[string]string{}
			for k := range wantLabels {
				gotLabels[k] = cf.Config.Labels[k]
			}
			if diff := cmp.Diff(wantLabels, gotLabels); diff != "" {
				t.Errorf("OCI labels (-want +got):\n%s", diff)
			}

			embedded, err := builds.ReadFile(img, "/.slipway/Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(res.Dockerfile), string(embedded)); diff != "" {
				t.Errorf("/.slipway/Dockerfile in the image differs from the rendered one (-want +got):\n%s", diff)
			}

			rootfs := filepath.Join(tmp, "bundle", "rootfs")
			if err := builds.Unpack(img, rootfs); err != nil {
				t.Fatal(err)
			}
			uid, gid, err := builds.ResolveUser(rootfs, cf.Config.User)
			if err != nil {
				t.Fatal(err)
			}
			if uid == 0 || gid == 0 {
				t.Errorf("image runs as %q (uid %d, gid %d), want a non-root user and group", cf.Config.User, uid, gid)
			}

			proc, err := builds.ProcessFromImage(cf)
			if err != nil {
				t.Fatal(err)
			}
			c, err := builds.Start(ctx, filepath.Join(tmp, "bundle"), rootfs, "slipway-it-"+s.Name+"-"+randomName(t), proc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := c.Stop(); err != nil {
					t.Error(err)
				}
			})
			// Bounded: a JVM on this shared machine can take tens of seconds.
			body, err := builds.WaitHTTP(ctx, c, fmt.Sprintf("http://127.0.0.1:%d/", port), 240, 500*time.Millisecond)
			if err != nil {
				t.Fatalf("the image does not answer: %v", err)
			}
			if !strings.Contains(body, "hello") {
				t.Errorf("GET / = %q, want a greeting containing %q", body, "hello")
			}
		})
	}
}

// A compile error fails the image build with the compiler's own message
// in the build log the pipeline shows.
func TestBrokenGoCompileErrorFailsTheBuild(t *testing.T) {
	st := stack(t)
	dir := filepath.Join(t.TempDir(), "src")
	if _, err := builds.Prepare(filepath.Join(brokenDir, "go-compile-error"), dir,
		&repoconfig.Config{Build: repoconfig.Build{Version: builds.GoVersion}},
		dockerfile.Options{BaseRegistry: st.BaseRegistry()}); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	req := buildRequest(st, dir, st.Registry+"/it/broken-"+randomName(t))
	_, err := builder(t, st, &progress).Build(context.Background(), req)
	if err == nil {
		t.Fatalf("the build of an app that does not compile succeeded\n%s", progress.String())
	}
	if want := "undefined: greting"; !strings.Contains(progress.String(), want) {
		t.Errorf("build log does not show the compiler's %q:\n%s", want, progress.String())
	}
}

// The unit tests run as the unit-test task runs them: Result.TestCommand
// through `sh -c` in the language's build image, in the checkout. A
// failing test fails with go test's own message; the good app passes.
func TestGoUnitTestStep(t *testing.T) {
	st := stack(t)
	tmp := t.TempDir()
	rc := &repoconfig.Config{Build: repoconfig.Build{Version: builds.GoVersion}}
	opts := dockerfile.Options{BaseRegistry: st.BaseRegistry()}

	good, err := builds.Prepare(filepath.Join(appsDir, "go"), filepath.Join(tmp, "good"), rc, opts)
	if err != nil {
		t.Fatal(err)
	}
	img, err := builds.PlatformImage(good.BuildImage, true)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(tmp, "build-image")
	if err := builds.Unpack(img, rootfs); err != nil {
		t.Fatal(err)
	}
	// The task's tools step copies the slipway binary to /slipway/bin; the
	// template's test command pipes go test -json through its test-report.
	toolsDir := filepath.Join(tmp, "tools")
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(toolsDir, "slipway"), "./cmd/slipway")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the slipway tools binary: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		name, src string
		wantFail  bool
		wantOut   []string
	}{
		{name: "passing", src: filepath.Join(appsDir, "go"), wantOut: []string{"ok"}},
		{name: "failing", src: filepath.Join(brokenDir, "go-failing-test"), wantFail: true,
			wantOut: []string{`GET / = "hello, world\n", want "hello, slipway\n"`, "--- FAIL: TestGreet", "FAIL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkout := filepath.Join(tmp, tc.name)
			res, err := builds.Prepare(tc.src, filepath.Join(checkout+"-src"), rc, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.TestCommand == "" {
				t.Fatal("the Go template has no test command")
			}
			// The task's script: `exec sh -c "$TEST_COMMAND"` in the workspace.
			reports := filepath.Join(tmp, tc.name+"-reports")
			if err := os.MkdirAll(reports, 0o755); err != nil {
				t.Fatal(err)
			}
			// Writable by the build image's user, as the task's chmod 1777.
			if err := os.Chmod(reports, 0o1777); err != nil {
				t.Fatal(err)
			}
			proc := builds.Process{
				Args: []string{"sh", "-c", `exec sh -c "$TEST_COMMAND"`},
				Env: append(append([]string{}, cf.Config.Env...), "TEST_COMMAND="+res.TestCommand,
					"SLIPWAY_TOOLS=/slipway/bin", "SLIPWAY_REPORTS=/slipway/reports"),
				User: cf.Config.User, Cwd: "/workspace/source",
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			out, err := builds.Run(ctx, filepath.Join(tmp, tc.name+"-bundle"), rootfs, "slipway-it-test-"+tc.name+"-"+randomName(t),
				proc, builds.Mount{Source: checkout + "-src", Destination: "/workspace/source"},
				builds.Mount{Source: toolsDir, Destination: "/slipway/bin"},
				builds.Mount{Source: reports, Destination: "/slipway/reports"})
			var exit *exec.ExitError
			switch {
			case tc.wantFail && !errors.As(err, &exit):
				t.Fatalf("%q on a failing test = %v, want a non-zero exit\n%s", res.TestCommand, err, out)
			case !tc.wantFail && err != nil:
				t.Fatalf("%q on the sample app: %v\n%s", res.TestCommand, err, out)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("output of %q lacks %q:\n%s", res.TestCommand, want, out)
				}
			}
			// The JUnit report the run page and MR comment are made from.
			xml, err := os.ReadFile(filepath.Join(reports, "go-test.xml"))
			if err != nil {
				t.Fatalf("the test command wrote no JUnit report: %v\n%s", err, out)
			}
			if wantFailure := tc.wantFail; strings.Contains(string(xml), "<failure") != wantFailure {
				t.Errorf("JUnit report has a failure = %v, want %v:\n%s", !wantFailure, wantFailure, xml)
			}
		})
	}
}

// A Go app built on a Debian runtime carries an SPDX SBOM made by the
// stack's generator (images/sbom-generator): it lists the module compiled
// into the binary (from its buildinfo) and the Debian packages of the
// runtime (from the dpkg database), read back the way the policy step
// reads it. The dependency is vendored, so the build needs no network.
func TestGoBuildCarriesSBOM(t *testing.T) {
	st := stack(t)
	dir := t.TempDir()
	for p, data := range map[string]string{
		"go.mod":                        "module example.com/sbomapp\n\ngo 1.22\n\nrequire example.org/greet v1.2.3\n",
		"main.go":                       "package main\n\nimport \"example.org/greet\"\n\nfunc main() { println(greet.Hello()) }\n",
		"vendor/modules.txt":            "# example.org/greet v1.2.3\n## explicit\nexample.org/greet\n",
		"vendor/example.org/greet/g.go": "package greet\n\nfunc Hello() string { return \"hello\" }\n",
		"Dockerfile": "FROM " + st.BaseRegistry() + "/golang:" + builds.GoVersion + " AS build\n" +
			"WORKDIR /src\nCOPY . .\nRUN go build -mod=vendor -o /out/app .\n" +
			"FROM " + st.BaseRegistry() + "/python:3.11\n" +
			"COPY --from=build /out/app /usr/local/bin/app\nENTRYPOINT [\"/usr/local/bin/app\"]\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	image := st.Registry + "/it/sbom-" + randomName(t)
	req := build.Request{
		ContextDir: dir, Image: image, Tag: commit[:7], SourceURL: sourceURL, Revision: commit, Created: created,
		Insecure: true, NoCache: true, SBOMGenerator: st.SBOMGenerator,
	}
	var progress bytes.Buffer
	out, err := builder(t, st, &progress).Build(ctx, req)
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, progress.String())
	}
	ref, err := name.NewDigest(image+"@"+out.Digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	// The provenance is still there beside the SBOM.
	if _, err := provenance.Fetch(ctx, ref); err != nil {
		t.Errorf("provenance.Fetch: %v", err)
	}
	pkgs, err := sbom.Fetch(ctx, ref)
	if err != nil {
		t.Fatalf("sbom.Fetch: %v\n%s", err, progress.String())
	}
	var goMod, debian []sbom.Package
	for _, p := range pkgs {
		switch {
		case p.Ecosystem == "Go" && p.Name == "example.org/greet":
			goMod = append(goMod, sbom.Package{Ecosystem: p.Ecosystem, Name: p.Name, Version: p.Version})
		// syft takes the point release from /etc/debian_version
		// (distro=debian-12.15), so the ecosystem reads "Debian:12.15".
		case strings.HasPrefix(p.Ecosystem, "Debian:12") && (p.Name == "libc6" || p.Name == "python3"):
			debian = append(debian, sbom.Package{Ecosystem: "Debian:12", Name: p.Name})
		}
	}
	if diff := cmp.Diff([]sbom.Package{{Ecosystem: "Go", Name: "example.org/greet", Version: "v1.2.3"}}, goMod); diff != "" {
		t.Errorf("the vendored Go module in the SBOM (-want +got):\n%s\nall %d packages: %v", diff, len(pkgs), pkgs)
	}
	if diff := cmp.Diff([]sbom.Package{{Ecosystem: "Debian:12", Name: "libc6"}, {Ecosystem: "Debian:12", Name: "python3"}}, debian); diff != "" {
		t.Errorf("the runtime's Debian packages in the SBOM (-want +got):\n%s\nall %d packages: %v", diff, len(pkgs), pkgs)
	}
}
