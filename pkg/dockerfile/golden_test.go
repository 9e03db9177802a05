package dockerfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current templates")

// goldenCases render every template: each sample app with default options,
// plus variants for the mirror and offline settings.
var goldenCases = []struct {
	name, app string
	opts      Options
}{
	{name: "go", app: "go"},
	{name: "go-with-frontend", app: "go-with-frontend"},
	{name: "go-mirror", app: "go", opts: Options{BaseRegistry: "127.0.0.1:5000/base/", GoProxy: "http://athens.corp:3000"}},
	{name: "java-maven", app: "java-maven"},
	{name: "java-maven-offline", app: "java-maven", opts: Options{BaseRegistry: "127.0.0.1:5000/base", MavenOffline: true}},
	{name: "java-maven-mirror", app: "java-maven", opts: Options{BaseRegistry: "registry.corp/mirror", MavenSettings: "https://nexus.corp/repository/maven-public/"}},
	{name: "java-gradle", app: "java-gradle"},
	{name: "node", app: "node"},
	{name: "node-yarn", app: "node-yarn"},
	{name: "node-pnpm", app: "node-pnpm", opts: Options{NpmRegistry: "https://npm.corp/"}},
	{name: "python", app: "python"},
	{name: "python-pyproject", app: "python-pyproject", opts: Options{PipIndexURL: "https://devpi.corp/root/pypi/+simple/"}},
	{name: "static", app: "static"},
	{name: "static-build", app: "static-build"},
	{name: "own-dockerfile", app: "own-dockerfile"},
}

func readRepoConfig(t *testing.T, dir string) *repoconfig.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, repoconfig.FileName))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	rc, err := repoconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestGoldenDockerfiles(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "apps", tc.app)
			res, err := Render(dir, readRepoConfig(t, dir), tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden := filepath.Join("testdata", "golden", tc.name+".Dockerfile")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, res.Dockerfile, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(want, res.Dockerfile) {
				t.Errorf("%s differs (-want +got):\n%s", golden, cmp.Diff(string(want), string(res.Dockerfile)))
			}
		})
	}
}

// TestRenderedDockerfilesLintClean holds every rendered Dockerfile to
// BuildKit's parser and linter, and to the house rules the linter does not
// know: no syntax directive, a non-root numeric user, the OCI labels and the
// copy of the Dockerfile itself.
func TestRenderedDockerfilesLintClean(t *testing.T) {
	for _, tc := range goldenCases {
		if tc.app == "own-dockerfile" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "apps", tc.app)
			res, err := Render(dir, readRepoConfig(t, dir), tc.opts)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			warnings, err := Lint(res.Dockerfile)
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			if diff := cmp.Diff([]string(nil), warnings); diff != "" {
				t.Errorf("lint warnings (-want +got):\n%s", diff)
			}
			for _, must := range []string{
				"USER 65532:65532",
				"COPY .slipway/Dockerfile /.slipway/Dockerfile",
				`org.opencontainers.image.source="${SLIPWAY_SOURCE}"`,
				`org.opencontainers.image.revision="${SLIPWAY_REVISION}"`,
				`org.opencontainers.image.created="${SLIPWAY_CREATED}"`,
				"EXPOSE ",
			} {
				if !bytes.Contains(res.Dockerfile, []byte(must)) {
					t.Errorf("rendered Dockerfile lacks %q", must)
				}
			}
			if bytes.Contains(res.Dockerfile, []byte("# syntax")) {
				t.Error("rendered Dockerfile has a syntax directive")
			}
			checkDependencyLayer(t, res.Dockerfile)
		})
	}
}

// checkDependencyLayer checks the layer order that makes a source-only
// change reuse the dependency layer: in the build stage, manifests are
// copied and a RUN fetches dependencies before the whole source is copied.
func checkDependencyLayer(t *testing.T, dockerfile []byte) {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		return // nothing is built: a static site copied as is
	}
	var sawManifests, sawRun bool
	for _, c := range stages[0].Commands {
		switch c := c.(type) {
		case *instructions.CopyCommand:
			if strings.Join(c.SourcePaths, " ") == "." {
				if !sawManifests || !sawRun {
					t.Errorf("build stage copies the source (line %d) before copying manifests and fetching dependencies", c.Location()[0].Start.Line)
				}
				return
			}
			sawManifests = true
		case *instructions.RunCommand:
			if sawManifests {
				sawRun = true
			}
		}
	}
	if !sawManifests || !sawRun {
		t.Error("build stage fetches no dependencies from copied manifests")
	}
}
