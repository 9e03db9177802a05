package tekton

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/slipway-ci/slipway/pipelines"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/tasks"
)

func TestLoadEmbedded(t *testing.T) {
	b, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every embedded file is loaded, none skipped.
	taskFiles, _ := fs.Glob(tasks.FS, "*.yaml")
	pipelineFiles, _ := fs.Glob(pipelines.FS, "*.yaml")
	if len(b.Tasks) != len(taskFiles) || len(b.Pipelines) != len(pipelineFiles) {
		t.Errorf("loaded %d tasks and %d pipelines from %d and %d files", len(b.Tasks), len(b.Pipelines), len(taskFiles), len(pipelineFiles))
	}
	if b.Task("slipway-git-clone") == nil || b.Pipeline(CIPipeline) == nil {
		t.Errorf("slipway-git-clone or %s missing", CIPipeline)
	}
}

// NewCIRun and the CI pipeline agree: every param it sets is declared, and
// every declared param without a default is set.
func TestCIPipelineParams(t *testing.T) {
	b, err := Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := b.Pipeline(CIPipeline)
	if p == nil {
		t.Fatalf("no pipeline %s", CIPipeline)
	}
	pr, err := NewCIRun(pushEvent(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	app, err := NewAppRun(pushEvent(), nil, repoconfig.App{Name: "api", Dir: "api", Image: "api"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, x := range append(pr.Spec.Params, app.Spec.Params...) {
		set[x.Name] = true
	}
	var problems []string
	for _, x := range p.Spec.Params {
		if x.Default == nil && !set[x.Name] {
			problems = append(problems, "required param not set: "+x.Name)
		}
		delete(set, x.Name)
	}
	for name := range set {
		problems = append(problems, "param not declared: "+name)
	}
	if len(problems) > 0 {
		t.Errorf("PipelineRun vs Pipeline %s:\n%s", CIPipeline, strings.Join(problems, "\n"))
	}
}

func readEmbedded(t *testing.T) (task, pipeline string) {
	t.Helper()
	tb, err := tasks.FS.ReadFile("git-clone.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pipelines.FS.ReadFile("ci.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(tb), string(pb)
}

// Broken copies of the embedded files must fail: this proves validation runs.
func TestLoadRejectsBroken(t *testing.T) {
	task, pipeline := readEmbedded(t)
	tests := []struct {
		name    string
		file    string
		old     string
		new     string
		wantErr string
	}{
		{
			name: "task uses an undeclared param", file: task,
			old: "value: $(params.ref)", new: "value: $(params.nope)",
			wantErr: "params.nope",
		},
		{
			name: "pipeline task uses an undeclared param", file: pipeline,
			old: "value: $(params.repo-url)", new: "value: $(params.repo)",
			wantErr: "params.repo",
		},
		{
			name: "pipeline binds an undeclared workspace", file: pipeline,
			old: "workspace: source", new: "workspace: src",
			wantErr: "src",
		},
		{
			name: "unknown field", file: task,
			old: "  description: Shallow", new: "  descripton: Shallow", //nolint:misspell // the typo is the test
			wantErr: `unknown field "descripton"`, //nolint:misspell // the typo is the test
		},
		{
			name: "wrong kind", file: task,
			old: "kind: Task", new: "kind: TaskRun",
			wantErr: `kind "TaskRun"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.file, tt.old) {
				t.Fatalf("fixture lost %q", tt.old)
			}
			fsys := fstest.MapFS{"x.yaml": {Data: []byte(strings.Replace(tt.file, tt.old, tt.new, 1))}}
			_, err := LoadFS(context.Background(), fsys)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
