package tekton

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

func stepsConfig() *repoconfig.Config {
	return &repoconfig.Config{
		Steps: []repoconfig.Step{
			{Name: "lint", Command: []string{"go", "vet", "./..."}},
			{Name: "smoke", When: repoconfig.AfterTests, Image: "registry.corp/ci/tools:1", Script: "./smoke.sh\n",
				Env: []repoconfig.EnvVar{{Name: "GOPROXY", Value: "off"}, {Name: "TOKEN", SecretRef: &repoconfig.SecretRef{Name: "smoke-token", Key: "token"}}}},
			{Name: "gen", When: repoconfig.BeforeTests, Image: repoconfig.BuildImage, Script: "go generate ./...\ngit diff --exit-code\n"},
		},
		Services: []repoconfig.Service{
			{Name: "db", Image: "registry.corp/base/postgres:15", Env: []repoconfig.EnvVar{{Name: "POSTGRES_PASSWORD", Value: "test"}},
				Ports: []int{5432}, Readiness: &repoconfig.Readiness{Command: []string{"pg_isready", "-h", "127.0.0.1"}, TimeoutSeconds: 60}},
			{Name: "cache", Image: "registry.corp/base/redis:7", Command: []string{"redis-server", "--port", "6380"}, Ports: []int{6380}},
		},
	}
}

func stepsOptions() RunOptions {
	o := opts
	o.GoProxy, o.NpmRegistry = "http://athens.corp", "https://npm.corp/"
	o.Steps = repoconfig.StepPolicy{
		Images:  []string{"registry.corp/ci/*", "registry.corp/base/*"},
		Secrets: []repoconfig.SecretGrant{{Name: "smoke-token", Repos: []string{"acme/*"}}},
	}
	return o
}

// A run with steps and services carries the CI pipeline itself, with the
// unit-test Task embedded and extended; every other task is the installed
// Pipeline's, unchanged.
func TestCIRunStepsAndServices(t *testing.T) {
	pr, err := NewCIRun(pushEvent(), stepsConfig(), stepsOptions())
	if err != nil {
		t.Fatal(err)
	}
	if pr.Spec.PipelineRef != nil || pr.Spec.PipelineSpec == nil {
		t.Fatalf("pipelineRef %v, pipelineSpec set %v: want the spec embedded", pr.Spec.PipelineRef, pr.Spec.PipelineSpec != nil)
	}
	b, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	installed := b.Pipeline(CIPipeline).Spec
	got := pr.Spec.PipelineSpec
	var unit *pipelinev1.PipelineTask
	for i := range got.Tasks {
		if got.Tasks[i].Name == UnitTestPipelineTask {
			unit = &got.Tasks[i]
			continue
		}
		if diff := cmp.Diff(installed.Tasks[i], got.Tasks[i]); diff != "" {
			t.Errorf("task %s differs from the installed Pipeline's (-want +got)\n%s", got.Tasks[i].Name, diff)
		}
	}
	if diff := cmp.Diff(installed.Params, got.Params); diff != "" {
		t.Errorf("pipeline params (-want +got)\n%s", diff)
	}
	if unit == nil || unit.TaskRef != nil || unit.TaskSpec == nil {
		t.Fatalf("unit-test task %+v: want an embedded taskSpec", unit)
	}
	var names []string
	for _, s := range unit.TaskSpec.Steps {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"tools", "cache-restore", "lint", "gen", "test", "cache-save", "report", "smoke"}, names); diff != "" {
		t.Errorf("step order (-want +got)\n%s", diff)
	}

	out, err := yaml.Marshal(unit.TaskSpec)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "steps-unit-test.golden")
	if *update {
		if err := os.WriteFile(file, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("unit-test task (-want +got)\n%s", diff)
	}
	// The Secret's value is the kubelet's to read, never in the run.
	if all, _ := yaml.Marshal(pr); !strings.Contains(string(all), "secretKeyRef") {
		t.Error("the smoke step's TOKEN is not a secretKeyRef")
	}
}

// Without steps or services a run references the installed Pipeline.
func TestCIRunWithoutStepsReferencesPipeline(t *testing.T) {
	pr, err := NewCIRun(pushEvent(), &repoconfig.Config{}, stepsOptions())
	if err != nil {
		t.Fatal(err)
	}
	if pr.Spec.PipelineRef == nil || pr.Spec.PipelineRef.Name != CIPipeline || pr.Spec.PipelineSpec != nil {
		t.Errorf("pipelineRef %v, spec %v: want a reference to %s", pr.Spec.PipelineRef, pr.Spec.PipelineSpec, CIPipeline)
	}
}

// What the platform does not allow never becomes a PipelineRun, whoever
// calls NewCIRun.
func TestCIRunStepsNotAllowed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*repoconfig.Config, *RunOptions)
		wantErr string
	}{
		{name: "no allowlist", mutate: func(_ *repoconfig.Config, o *RunOptions) { o.Steps = repoconfig.StepPolicy{} }, wantErr: "is not one the platform allows"},
		{name: "image not listed", mutate: func(c *repoconfig.Config, _ *RunOptions) { c.Services[0].Image = "docker.io/library/postgres:15" },
			wantErr: `services[0] (db): image "docker.io/library/postgres:15" is not one the platform allows`},
		{name: "secret of other repositories", mutate: func(_ *repoconfig.Config, o *RunOptions) { o.Steps.Secrets[0].Repos = []string{"other/*"} },
			wantErr: `Secret "smoke-token" is not one acme/Web_Site may read`},
		{name: "invalid config", mutate: func(c *repoconfig.Config, _ *RunOptions) { c.Steps[0].Name = "test" }, wantErr: "one of Slipway's own steps"},
		{name: "bad allowlist", mutate: func(_ *repoconfig.Config, o *RunOptions) { o.Steps.Images = []string{"["} }, wantErr: "run options: step-images[0]: bad pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, o := stepsConfig(), stepsOptions()
			tc.mutate(c, &o)
			_, err := NewCIRun(pushEvent(), c, o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// The names .slipway.yaml may not give its steps are exactly the
// unit-test Task's own.
func TestReservedStepNames(t *testing.T) {
	b, err := embedded()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range b.Task(UnitTestTask).Spec.Steps {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	reserved := slices.Sorted(slices.Values(repoconfig.ReservedStepNames))
	if diff := cmp.Diff(names, reserved); diff != "" {
		t.Errorf("repoconfig.ReservedStepNames vs the Task's steps (-task +reserved)\n%s", diff)
	}
}
