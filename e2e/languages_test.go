//go:build e2e

package e2e

// Every language template through the real pipeline, the way a new user
// meets it: sample apps with loose version ranges (or none), so the
// versions come from Slipway's languages configuration (e2e/stack/slipway.sh
// writes it from the base images the stack has), not from versions the
// test passes in.

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/e2e/fakescm"
	"github.com/slipway-ci/slipway/e2e/framework"
)

// languageSample is one template's sample and what makes its version
// request loose, or pins it to a version the stack does not offer.
type languageSample struct {
	name, app string
	// loose are files that ask for a range the stack satisfies (or nothing).
	loose map[string]string
	// pinned are files that ask for a version the stack does not have, and
	// pinnedAsk the request as the commit status quotes it; nil: the
	// template has no version to pin (a static site without a build).
	pinned    map[string]string
	pinnedAsk string
	// junit: the run's tests arrive as a parsed report (Go through slipway
	// test-report, Maven's Surefire, pytest's JUnit, the stack's Node 18's
	// TAP). A Python sample without pytest.ini tests with unittest, which
	// writes no report.
	junit bool
}

var languageSamples = []languageSample{
	{name: "go", app: "go", junit: true,
		loose:  map[string]string{"go.mod": "module example.com/hello\n\ngo 1.21\n"},
		pinned: map[string]string{"go.mod": "module example.com/hello\n\ngo 1.99\n"}, pinnedAsk: "Go 1.99 (go.mod go directive)"},
	{name: "maven", app: "java-maven", junit: true,
		// The sample's maven.compiler.release 17 is a minimum: any JDK >= 17.
		pinned: map[string]string{"pom.xml": "replace:<maven.compiler.release>17<|<maven.compiler.release>25<"}, pinnedAsk: "Java (JDK) 25 (pom.xml maven.compiler.release)"},
	{name: "node", app: "node", junit: true,
		loose:  map[string]string{"package.json": "replace:\">=20\"|\">=18\""},
		pinned: map[string]string{"package.json": "replace:\">=20\"|\"24.x\""}, pinnedAsk: "Node.js 24.x (package.json engines.node)"},
	// pytest.ini makes the template test with pytest (Debian's, in the
	// stack's python image) and its --junitxml report.
	{name: "python-requirements", app: "python", junit: true,
		loose:  map[string]string{"pytest.ini": "[pytest]\n"},
		pinned: map[string]string{".python-version": "3.13\n"}, pinnedAsk: "Python 3.13 (.python-version)"},
	{name: "python-pyproject", app: "python-pyproject",
		loose:  map[string]string{"pyproject.toml": "replace:\">=3.12\"|\"~=3.10\""},
		pinned: map[string]string{"pyproject.toml": "replace:\">=3.12\"|\">=3.13\""}, pinnedAsk: "Python >=3.13 (pyproject.toml requires-python)"},
	{name: "static", app: "static"},
	{name: "static-build", app: "static-build",
		loose:  map[string]string{"package.json": "replace:\"^22.1.0\"|\"*\""},
		pinned: map[string]string{"package.json": "replace:\"^22.1.0\"|\"22\""}, pinnedAsk: "Node.js 22 (package.json engines.node)"},
}

// newSampleRepo pushes pkg/dockerfile/testdata/apps/<app> as a new
// repository, with files changed: a value "replace:OLD|NEW" edits the
// sample's file, anything else replaces it.
func newSampleRepo(t *testing.T, s *slipwayStack, prefix, app string, files map[string]string) (*gitRepo, string) {
	t.Helper()
	r := initRepo(t, s, prefix)
	sample := filepath.Join(framework.RepoRoot(), "pkg", "dockerfile", "testdata", "apps", app)
	all := map[string]string{}
	err := filepath.WalkDir(sample, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sample, p)
		all[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range files {
		if edit, ok := strings.CutPrefix(v, "replace:"); ok {
			old, repl, _ := strings.Cut(edit, "|")
			if !strings.Contains(all[k], old) {
				t.Fatalf("sample %s: %s has no %q to replace", app, k, old)
			}
			v = strings.Replace(all[k], old, repl, 1)
		}
		all[k] = v
	}
	return r, r.commit(t, "main", "Initial import of "+r.Name, all)
}

// Each template's sample, with a loose version request, goes green: the
// version resolves to what the stack offers, the unit tests and the image
// build use the same mirrors, and the image is pushed with provenance.
func TestLanguagesGoGreen(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	for _, ls := range languageSamples {
		t.Run(ls.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
			defer cancel()
			repo, sha := newSampleRepo(t, s, "lang-"+ls.name, ls.app, ls.loose)
			mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
			run := waitForRunOf(ctx, t, sha)
			pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunSucceeded)
			s.waitForStatus(ctx, t, repo.Name, sha, "success")
			checkImage(ctx, t, pr, s.cloneURL(repo), repo.Name, sha)
			if ls.junit {
				s.waitForPassedTests(ctx, t, run)
			}
		})
	}
}

// The same samples pinned to a version the stack does not offer fail in
// the Dockerfile step, before any test pod, and the commit status names
// what was asked and what is offered.
func TestLanguagesUnofferedVersionFailsEarly(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	for _, ls := range languageSamples {
		if ls.pinned == nil {
			continue
		}
		t.Run(ls.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
			defer cancel()
			repo, sha := newSampleRepo(t, s, "pin-"+ls.name, ls.app, ls.pinned)
			mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
			run := waitForRunOf(ctx, t, sha)
			pr := framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunFailed)
			if ran := pipelineTasks(pr); contains(ran, "unit-test") || contains(ran, "build-push") {
				t.Errorf("tasks that ran: %v; want the run stopped in generate-dockerfile", ran)
			}
			st := failureStatus(ctx, t, s, repo.Name, sha)
			for _, want := range []string{"generate-dockerfile", ls.pinnedAsk, "not offered; offered: "} {
				if !strings.Contains(st.Description, want) {
					t.Errorf("commit status %q does not say %q", st.Description, want)
				}
			}
		})
	}
}

// A unit test that allocates past the unit-test step's memory limit
// (test-memory-limit, 1Gi on the stack): the status says out of memory in
// the unit-test step.
func TestUnitTestOutOfMemory(t *testing.T) {
	t.Parallel()
	s := slipway(t)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	repo, sha := newSampleRepo(t, s, "oom", "python", map[string]string{"test_oom.py": `import unittest


class TestGreedy(unittest.TestCase):
    def test_allocates_3gib(self):
        # bytes * n writes every byte, so the pages are really used.
        blob = b"x" * (3 << 30)
        self.assertEqual(len(blob), 3 << 30)
`})
	mustAccept(t, s.sendGitHub(t, "push", "e2e-"+randomHex(t, 8), s.githubPush(repo, "main", zeroSHA, sha)))
	run := waitForRunOf(ctx, t, sha)
	framework.WaitForPipelineRun(ctx, t, buildsNamespace, run, framework.PipelineRunFailed)
	st := failureStatus(ctx, t, s, repo.Name, sha)
	if want := "unit-test (step test): out of memory"; !strings.HasPrefix(st.Description, want) {
		t.Errorf("commit status %q, want it to start with %q", st.Description, want)
	}
}

// failureStatus waits for the failure status of repo@sha and returns it.
func failureStatus(ctx context.Context, t *testing.T, s *slipwayStack, repo, sha string) fakescm.Status {
	t.Helper()
	sts := s.waitForStatus(ctx, t, repo, sha, "failure")
	for _, st := range sts {
		if st.Context == "slipway/ci" && slipwayState(st) == "failure" {
			return st
		}
	}
	t.Fatalf("no failure status among %+v", sts)
	return fakescm.Status{}
}
