package repoconfig

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const monorepo = `apps:
  - name: api
    dir: services/api
    build: {language: go, testCommand: go test ./...}
  - name: web
    dir: services/web
    paths: ["services/web/**", "package-lock.json"]
    image: shop/web-frontend
    build: {dockerfile: Dockerfile.prod, port: 3000}
sharedPaths: ["libs/**"]
ignorePaths: ["**/*.md"]
branches: [main]
`

func TestParseApps(t *testing.T) {
	c, err := Parse([]byte(monorepo))
	if err != nil {
		t.Fatal(err)
	}
	want := []App{
		{Name: "api", Dir: "services/api", Image: "api", Triggers: []string{"services/api/**", "libs/**"},
			Build: Build{Language: "go", TestCommand: "go test ./..."}},
		{Name: "web", Dir: "services/web", Image: "shop/web-frontend", Triggers: []string{"services/web/**", "package-lock.json", "libs/**"},
			Build: Build{Dockerfile: "Dockerfile.prod", Port: 3000}},
	}
	if diff := cmp.Diff(want, c.AppList()); diff != "" {
		t.Errorf("AppList (-want +got):\n%s", diff)
	}
	if !c.Multi() {
		t.Error("Multi() = false for a file with apps")
	}
	root, err := Parse([]byte("apps: [{name: site, dir: .}]"))
	if err != nil {
		t.Fatal(err)
	}
	if got := root.AppList()[0].Triggers; !cmp.Equal(got, []string{"**"}) {
		t.Errorf("an app at the root triggers on %v, want [**]", got)
	}
	if (&Config{App: "web"}).AppList() != nil {
		t.Error("AppList of a single-app file is not nil")
	}
}

func TestParseAppsInvalid(t *testing.T) {
	many := "apps:\n"
	for i := range MaxApps + 1 {
		many += fmt.Sprintf("  - {name: a%d, dir: a%d}\n", i, i)
	}
	for _, tc := range []struct{ name, in, wantErr string }{
		{"app and apps", "app: web\napps: [{name: api, dir: api}]", "app: and apps: are exclusive"},
		{"too many", many, fmt.Sprintf("%d apps, more than the %d allowed", MaxApps+1, MaxApps)},
		{"duplicate name", "apps: [{name: api, dir: a}, {name: api, dir: b}]", `apps[1].name "api": apps[0] has the same name`},
		{"name not DNS-1123", "apps: [{name: My_API, dir: api}]", `apps[0].name "My_API": use lowercase`},
		{"name with a dot", "apps: [{name: api.v2, dir: api}]", "use lowercase"},
		{"name too long", "apps: [{name: " + strings.Repeat("a", 41) + ", dir: api}]", "max 40"},
		{"empty name", "apps: [{dir: api}]", `apps[0].name ""`},
		{"no dir", "apps: [{name: api}]", `apps[0].dir: required`},
		{"dir escapes", "apps: [{name: api, dir: ../other}]", "inside the repository"},
		{"dir is parent", "apps: [{name: api, dir: ..}]", "inside the repository"},
		{"dir absolute", "apps: [{name: api, dir: /srv/api}]", "inside the repository"},
		{"dir not clean", "apps: [{name: api, dir: a/../b}]", "clean relative directory"},
		{"dir with dot slash", "apps: [{name: api, dir: ./api}]", "clean relative directory"},
		{"dir with trailing slash", "apps: [{name: api, dir: api/}]", "clean relative directory"},
		{"dir with control character", "apps: [{name: api, dir: \"a\\nb\"}]", "control characters"},
		{"bad app paths", "apps: [{name: api, dir: api, paths: ['[']}]", "apps[0].paths[0]: bad pattern"},
		{"bad shared paths", "apps: [{name: api, dir: api}]\nsharedPaths: ['[']", "sharedPaths[0]: bad pattern"},
		{"shared paths alone", "sharedPaths: [libs/**]", "sharedPaths: allowed only with apps"},
		{"image with tag", "apps: [{name: api, dir: api, image: api:v1}]", "without host, tag or digest"},
		{"image with host", "apps: [{name: api, dir: api, image: \"registry:5000/api\"}]", "without host, tag or digest"},
		{"image with digest", "apps: [{name: api, dir: api, image: \"api@sha256:00\"}]", "without host, tag or digest"},
		{"image upper case", "apps: [{name: api, dir: api, image: Shop/API}]", "lowercase repository name"},
		{"image empty component", "apps: [{name: api, dir: api, image: shop//api}]", "lowercase repository name"},
		{"image traversal", "apps: [{name: api, dir: api, image: ../api}]", "lowercase repository name"},
		{"same image", "apps: [{name: api, dir: a, image: shop}, {name: shop, dir: b}]", `apps[1].image "shop": apps[0] pushes to the same image`},
		{"build context", "apps: [{name: api, dir: api, build: {context: other}}]", "apps[0].build.context: an app's context is its dir"},
		{"build port", "apps: [{name: api, dir: api, build: {port: 70000}}]", "apps[0].build.port 70000 out of range"},
		{"build dockerfile escapes", "apps: [{name: api, dir: api, build: {dockerfile: ../Dockerfile}}]", "apps[0].build.dockerfile"},
		{"unknown app field", "apps: [{name: api, dir: api, langauge: go}]", "unknown field"}, //nolint:misspell // the typo is the test
		{"top-level build with apps", "build: {language: go}\napps: [{name: api, dir: api}]", "build: with apps:, give each app its own build section"},
		{"top-level paths with apps", "paths: [src/**]\napps: [{name: api, dir: api}]", "paths: with apps:"},
		{"manifests with apps", "manifests: {path: deploy}\napps: [{name: api, dir: api}]", "manifests: is for a single app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Parse error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
}

// A merge request takes the list of apps, their names and images from the
// default branch: it can neither add an app nor point one's image
// elsewhere; each app's dir, paths and build come from the head.
func TestForMergeRequestApps(t *testing.T) {
	base := &Config{
		Apps: []AppConfig{
			{Name: "api", Dir: "services/api", Build: Build{TestCommand: "make test"}},
			{Name: "web", Dir: "services/web", Image: "shop/web"},
		},
		SharedPaths: []string{"libs/**"}, Branches: []string{"main"},
	}
	head := &Config{
		Apps: []AppConfig{
			{Name: "api", Dir: "api", Paths: []string{"api/**"}, Image: "evil/elsewhere", Build: Build{TestCommand: "go test ./..."}},
			{Name: "miner", Dir: "miner"},
		},
		SharedPaths: []string{"common/**"}, IgnorePaths: []string{"docs/**"}, Branches: []string{"*"},
	}
	got, err := ForMergeRequest(base, head)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Apps: []AppConfig{
			{Name: "api", Dir: "api", Paths: []string{"api/**"}, Build: Build{TestCommand: "go test ./..."}},
			{Name: "web", Dir: "services/web", Image: "shop/web"},
		},
		SharedPaths: []string{"common/**"}, IgnorePaths: []string{"docs/**"}, Branches: []string{"main"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ForMergeRequest (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the merge request's configuration does not validate: %v", err)
	}
	if base.Apps[0].Dir != "services/api" {
		t.Error("ForMergeRequest changed its base")
	}

	// The default branch has one app; a head listing apps adds none.
	single, err := ForMergeRequest(&Config{App: "web"}, head)
	if err != nil {
		t.Fatal(err)
	}
	if single.Multi() || single.App != "web" {
		t.Errorf("a head with apps on a single-app default branch: apps %v, app %q; want no apps, app web", single.Apps, single.App)
	}
	// A head still in the single-app layout builds the default branch's apps.
	old, err := ForMergeRequest(base, &Config{Build: Build{TestCommand: "true"}, Paths: []string{"x/**"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(base.Apps, old.Apps); diff != "" || !old.Build.empty() || old.Paths != nil || !cmp.Equal(old.SharedPaths, base.SharedPaths) {
		t.Errorf("an old-layout head: apps (-want +got)\n%s build %+v paths %v shared paths %v", diff, old.Build, old.Paths, old.SharedPaths)
	}
	if err := old.Validate(); err != nil {
		t.Errorf("the merge request's configuration does not validate: %v", err)
	}
}

// FuzzParseBuild: what `slipway render --build-config` accepts validates as
// an app's build (no context), and the dispatcher's own encoding of a
// valid build parses back to the same build.
func FuzzParseBuild(f *testing.F) {
	f.Add([]byte(`{"language":"go","version":"1.22","buildArgs":{"A":"b"},"testCommand":"go test ./..."}`))
	f.Add([]byte(`{"dockerfile":"Dockerfile.prod","port":3000}`))
	f.Add([]byte(`{"context":"x"}`))
	f.Add([]byte("language: node\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBuild(data)
		if err != nil {
			return
		}
		if b.Context != "" || b.validate("build") != nil {
			t.Fatalf("accepted %+v", b)
		}
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseBuild(enc)
		if err != nil {
			t.Fatalf("its own encoding %s does not parse: %v", enc, err)
		}
		if diff := cmp.Diff(b, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +again)\n%s", diff)
		}
	})
}
