package tekton

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/policy"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const sha = "3f786850e387550fdab836ed7e6dc881de23001b"

var opts = RunOptions{
	Namespace:    "slipway-ci",
	ImagePrefix:  "registry.local:5000/team",
	SlipwayImage: "registry.local:5000/slipway/tools:v1",
}

func pushEvent() *event.Event {
	return &event.Event{
		ID: 42, Provider: event.GitHub, Kind: event.Push, Action: event.Build,
		Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		Repo:     "acme/Web_Site", CloneURL: "https://github.com/acme/Web_Site.git",
		Ref: "refs/heads/main", SHA: sha,
	}
}

func TestGoldenCIRun(t *testing.T) {
	tests := []struct {
		name string
		ev   func() *event.Event
		rc   *repoconfig.Config
		o    func(RunOptions) RunOptions
		// app, when set, makes it one app of a monorepo (NewAppRun).
		app *repoconfig.App
	}{
		{name: "push", ev: pushEvent},
		{
			name: "tag",
			ev: func() *event.Event {
				e := pushEvent()
				e.Kind, e.Ref = event.Tag, "refs/tags/v1.2.0"
				return e
			},
			rc: &repoconfig.Config{App: "web"},
			o: func(o RunOptions) RunOptions {
				o.ServiceAccount, o.GitCredentialsSecret = "slipway-builder", "git-creds"
				o.BuildkitTLSSecret = "buildkit-client-tls"
				o.TestCache = true
				o.StorageClass, o.Size, o.Timeout = "fast", "5Gi", 45*time.Minute
				o.BaseRegistry, o.BuildkitAddr, o.InsecureRegistry = "mirror.corp/base", "tcp://10.244.0.1:1234", true
				o.FSGroup, o.BuilderID = 65532, "https://ci.corp.example/builder"
				o.SBOMGeneratorImage = "registry.corp/slipway/sbom-generator:v1"
				o.Languages = `{"languages":{"node":{"default":"18","versions":["18"]}}}`
				o.GoProxy, o.NpmRegistry, o.PipIndexURL = "http://athens.corp", "https://npm.corp/", "https://devpi.corp/simple"
				o.MavenSettings, o.MavenOffline = "https://nexus.corp/maven/", true
				o.TestMemoryLimit = "1Gi"
				// The app web's rules are merged over the default.
				pf, err := policy.Parse([]byte("default: {maxSeverity: medium}\napps:\n  web: {denyLicenses: [AGPL-3.0-only]}\n  other: {maxSeverity: critical}\n"))
				if err != nil {
					panic(err)
				}
				o.Policy, o.AdvisoriesConfigMap = pf, "slipway-advisories"
				return o
			},
		},
		{
			name: "github-mr",
			ev: func() *event.Event {
				e := pushEvent()
				e.Kind, e.Ref, e.MRNumber = event.MergeRequest, "refs/heads/feature/x", 7
				e.SourceBranch, e.TargetBranch = "feature/x", "main"
				return e
			},
		},
		{
			name: "monorepo-app",
			ev:   pushEvent,
			app: &repoconfig.App{Name: "api", Dir: "services/api", Image: "shop/api", Triggers: []string{"services/api/**"},
				Build: repoconfig.Build{Language: "go", TestCommand: "go test ./...", BuildArgs: map[string]string{"A": "b"}}},
		},
		{
			name: "monorepo-app-mr",
			ev: func() *event.Event {
				e := pushEvent()
				e.Kind, e.Ref, e.MRNumber = event.MergeRequest, "refs/heads/feature/x", 7
				e.SourceBranch, e.TargetBranch = "feature/x", "main"
				return e
			},
			app: &repoconfig.App{Name: "web", Dir: ".", Image: "web"},
		},
		{
			name: "gitlab-mr",
			ev: func() *event.Event {
				return &event.Event{
					ID: 9, Provider: event.GitLab, Kind: event.MergeRequest, Action: event.Build,
					Delivery: "5f3c0b1e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
					Repo:     "group/sub/api", ProjectID: 1234, CloneURL: "https://gitlab.example.com/group/sub/api.git",
					Ref: "refs/heads/fix-login", SHA: sha, MRNumber: 12, SourceBranch: "fix-login", TargetBranch: "main",
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			if tt.o != nil {
				o = tt.o(o)
			}
			pr, err := NewCIRun(tt.ev(), tt.rc, o)
			if tt.app != nil {
				pr, err = NewAppRun(tt.ev(), nil, *tt.app, o)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(pr)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("PipelineRun (-want +got)\n%s", diff)
			}
		})
	}
}

func TestNewCIRunRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*event.Event, *repoconfig.Config, *RunOptions)
		wantErr string
	}{
		{name: "short sha", mutate: func(e *event.Event, _ *repoconfig.Config, _ *RunOptions) { e.SHA = "3f78685" }, wantErr: "not a full commit SHA"},
		{name: "deleted ref", mutate: func(e *event.Event, _ *repoconfig.Config, _ *RunOptions) { e.SHA = event.ZeroSHA }, wantErr: "not a full commit SHA"},
		{name: "no delivery", mutate: func(e *event.Event, _ *repoconfig.Config, _ *RunOptions) { e.Delivery = "" }, wantErr: "delivery are required"},
		{name: "unknown kind", mutate: func(e *event.Event, _ *repoconfig.Config, _ *RunOptions) { e.Kind = "release" }, wantErr: `kind "release"`},
		{name: "mr without number", mutate: func(e *event.Event, _ *repoconfig.Config, _ *RunOptions) { e.Kind = event.MergeRequest }, wantErr: "merge request number"},
		{name: "bad app", mutate: func(_ *event.Event, c *repoconfig.Config, _ *RunOptions) { c.App = "Web_App" }, wantErr: "lowercase"},
		{name: "no namespace", mutate: func(_ *event.Event, _ *repoconfig.Config, o *RunOptions) { o.Namespace = "" }, wantErr: "namespace is required"},
		{name: "no tools image", mutate: func(_ *event.Event, _ *repoconfig.Config, o *RunOptions) { o.SlipwayImage = "" }, wantErr: "slipway image is required"},
		{name: "bad size", mutate: func(_ *event.Event, _ *repoconfig.Config, o *RunOptions) { o.Size = "lots" }, wantErr: `size "lots"`},
		{name: "bad service account", mutate: func(_ *event.Event, _ *repoconfig.Config, o *RunOptions) { o.ServiceAccount = "Not Valid" }, wantErr: `service account "Not Valid"`},
		{name: "bad buildkit TLS secret", mutate: func(_ *event.Event, _ *repoconfig.Config, o *RunOptions) { o.BuildkitTLSSecret = "../tls" }, wantErr: `buildkit TLS secret "../tls"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, c, o := pushEvent(), &repoconfig.Config{}, opts
			tt.mutate(e, c, &o)
			_, err := NewCIRun(e, c, o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunNameIsStable(t *testing.T) {
	a, b := pushEvent(), pushEvent()
	b.ID = 43 // a redelivery recorded again still maps to the same run
	if RunName("web", a) != RunName("web", b) {
		t.Errorf("same delivery, different names: %s %s", RunName("web", a), RunName("web", b))
	}
	b.Delivery = "other"
	if RunName("web", a) == RunName("web", b) {
		t.Errorf("different deliveries share the name %s", RunName("web", a))
	}
	c := pushEvent()
	c.Provider = event.GitLab
	if RunName("web", a) == RunName("web", c) {
		t.Errorf("same delivery id on two hosts share the name %s", RunName("web", a))
	}
}

func TestAppName(t *testing.T) {
	tests := []struct{ repo, want string }{
		{"acme/web", "web"},
		{"group/sub/My_Service.v2", "my-service-v2"},
		{"acme/--x--", "x"},
		{"acme/___", "app"},
		{"acme/" + strings.Repeat("a", 50), strings.Repeat("a", 40)},
		{"acme/" + strings.Repeat("a", 39) + "_b", strings.Repeat("a", 39)},
	}
	for _, tt := range tests {
		if got := AppName(tt.repo); got != tt.want {
			t.Errorf("AppName(%q) = %q, want %q", tt.repo, got, tt.want)
		}
	}
}

// NewCIRun's last check is Tekton's own PipelineRun validation.
func TestValidatePipelineRun(t *testing.T) {
	pr, err := NewCIRun(pushEvent(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	pr.Spec.PipelineRef = nil
	err = ValidatePipelineRun(context.Background(), pr)
	if err == nil || !strings.Contains(err.Error(), "pipelineRef") {
		t.Fatalf("err = %v, want a missing pipelineRef error", err)
	}
}

// An empty policy file is no policy: the pipeline's "" default (the step
// records "no policy"); a non-empty one hands over the app's merged rules.
func TestCIRunPolicyParam(t *testing.T) {
	param := func(pf string) string {
		t.Helper()
		o := opts
		if pf != "-" {
			f, err := policy.Parse([]byte(pf))
			if err != nil {
				t.Fatal(err)
			}
			o.Policy = f
		}
		pr, err := NewCIRun(pushEvent(), &repoconfig.Config{App: "web"}, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pr.Spec.Params {
			if p.Name == "policy" {
				return p.Value.StringVal
			}
		}
		return ""
	}
	tests := []struct{ name, file, want string }{
		{"none", "-", ""},
		{"empty file", "# no rules yet\n", ""},
		{"default only", "default: {maxSeverity: high}\n", `{"default":{"maxSeverity":"high"}}`},
		{"the app's rules merged", "default: {maxSeverity: high}\napps: {web: {maxSeverity: low}, api: {maxSeverity: critical}}\n", `{"default":{"maxSeverity":"low"}}`},
	}
	for _, tc := range tests {
		if got := param(tc.file); got != tc.want {
			t.Errorf("%s: policy param %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNewAppRunRejects(t *testing.T) {
	good := repoconfig.App{Name: "api", Dir: "services/api", Image: "api"}
	for _, tc := range []struct {
		name    string
		mutate  func(*repoconfig.App)
		wantErr string
	}{
		{"bad name", func(a *repoconfig.App) { a.Name = "API" }, "lowercase"},
		{"dir escapes", func(a *repoconfig.App) { a.Dir = "../x" }, "inside the repository"},
		{"no dir", func(a *repoconfig.App) { a.Dir = "" }, "required"},
		{"image with host", func(a *repoconfig.App) { a.Image = "evil.example:5000/x" }, "without host"},
		{"context", func(a *repoconfig.App) { a.Build.Context = "x" }, "context is its dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.mutate(&a)
			if _, err := NewAppRun(pushEvent(), nil, a, opts); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// Each app of one delivery gets its own run name, and a redelivery the
// same names again.
func TestAppRunNames(t *testing.T) {
	ev := pushEvent()
	api, err := NewAppRun(ev, nil, repoconfig.App{Name: "api", Dir: "api", Image: "api"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	web, err := NewAppRun(ev, nil, repoconfig.App{Name: "web", Dir: "web", Image: "web"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewAppRun(pushEvent(), nil, repoconfig.App{Name: "api", Dir: "api", Image: "api"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if api.Name == web.Name || api.Name != again.Name || !strings.HasPrefix(api.Name, "api-") {
		t.Errorf("run names api %s, web %s, api again %s", api.Name, web.Name, again.Name)
	}
}

func TestStatusContext(t *testing.T) {
	single, err := NewCIRun(pushEvent(), &repoconfig.Config{App: "web"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewAppRun(pushEvent(), nil, repoconfig.App{Name: "api", Dir: "api", Image: "api"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"single app keeps the context", StatusContext("slipway/ci", single), "slipway/ci"},
		{"monorepo app", StatusContext("slipway/ci", app), "slipway/ci/api"},
		{"nil run", StatusContext("slipway/ci", nil), "slipway/ci"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
