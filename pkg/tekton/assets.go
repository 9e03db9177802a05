// Package tekton builds Slipway's PipelineRuns (CI and deploy) from the
// Tasks and Pipelines embedded in pipelines/ and tasks/, installs those,
// prunes and cancels runs, and maps PipelineRun conditions to run states.
package tekton

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pipelines"
	"github.com/slipway-ci/slipway/tasks"
)

// CIPipeline is the name of the Pipeline every CI PipelineRun references.
const CIPipeline = "slipway-ci"

// Bundle is the set of Tekton objects Slipway installs.
type Bundle struct {
	Tasks     []*pipelinev1.Task
	Pipelines []*pipelinev1.Pipeline
}

// Load parses and validates the Tasks and Pipelines embedded in the binary.
func Load(ctx context.Context) (*Bundle, error) {
	return LoadFS(ctx, tasks.FS, pipelines.FS)
}

// LoadFS parses every *.yaml at the root of each fsys (one Task or Pipeline
// per file, sorted by file name) and validates it the way Tekton's admission
// webhook would, so a broken manifest fails here and not on a cluster.
func LoadFS(ctx context.Context, fsyss ...fs.FS) (*Bundle, error) {
	ctx = ValidationContext(ctx)
	b := &Bundle{}
	for _, fsys := range fsyss {
		names, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			return nil, fmt.Errorf("listing manifests: %w", err)
		}
		sort.Strings(names)
		for _, name := range names {
			data, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			if err := b.add(ctx, data); err != nil {
				return nil, fmt.Errorf("%s: %w", path.Base(name), err)
			}
		}
	}
	return b, nil
}

// Task returns the bundle's Task called name, or nil.
func (b *Bundle) Task(name string) *pipelinev1.Task {
	for _, t := range b.Tasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Pipeline returns the bundle's Pipeline called name, or nil.
func (b *Bundle) Pipeline(name string) *pipelinev1.Pipeline {
	for _, p := range b.Pipelines {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Only is the part of b one namespace needs to run pipelines: those
// Pipelines and the Tasks they refer to, in b's order. The CI and the
// deploy pipeline are installed apart (the builds and the deploy
// namespace), so neither namespace holds the other's Tasks.
func (b *Bundle) Only(pipelines ...string) (*Bundle, error) {
	out := &Bundle{}
	tasks := map[string]bool{}
	for _, name := range pipelines {
		p := b.Pipeline(name)
		if p == nil {
			return nil, fmt.Errorf("no Pipeline %q in the bundle", name)
		}
		out.Pipelines = append(out.Pipelines, p)
		for _, pt := range append(append([]pipelinev1.PipelineTask(nil), p.Spec.Tasks...), p.Spec.Finally...) {
			if pt.TaskRef == nil {
				continue
			}
			if b.Task(pt.TaskRef.Name) == nil {
				return nil, fmt.Errorf("Pipeline %s refers to Task %q, which is not in the bundle", name, pt.TaskRef.Name)
			}
			tasks[pt.TaskRef.Name] = true
		}
	}
	for _, t := range b.Tasks {
		if tasks[t.Name] {
			out.Tasks = append(out.Tasks, t)
		}
	}
	return out, nil
}

func (b *Bundle) add(ctx context.Context, data []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return fmt.Errorf("parsing: %w", err)
	}
	if tm.APIVersion != pipelinev1.SchemeGroupVersion.String() {
		return fmt.Errorf("apiVersion %q, want %q", tm.APIVersion, pipelinev1.SchemeGroupVersion.String())
	}
	switch tm.Kind {
	case "Task":
		var t pipelinev1.Task
		if err := yaml.UnmarshalStrict(data, &t); err != nil {
			return fmt.Errorf("parsing Task: %w", err)
		}
		if err := ValidateTask(ctx, &t); err != nil {
			return err
		}
		b.Tasks = append(b.Tasks, &t)
	case "Pipeline":
		var p pipelinev1.Pipeline
		if err := yaml.UnmarshalStrict(data, &p); err != nil {
			return fmt.Errorf("parsing Pipeline: %w", err)
		}
		if err := ValidatePipeline(ctx, &p); err != nil {
			return err
		}
		b.Pipelines = append(b.Pipelines, &p)
	default:
		return fmt.Errorf("kind %q: only Task and Pipeline are supported", tm.Kind)
	}
	return nil
}

// ValidationContext attaches Tekton's default configuration (defaults and
// feature flags) to ctx unless one is attached already: Tekton's validation
// reads it from the context, as its webhook does.
func ValidationContext(ctx context.Context) context.Context {
	if config.FromContext(ctx) != nil {
		return ctx
	}
	return config.ToContext(ctx, config.FromContextOrDefaults(ctx))
}

// ValidateTask defaults a copy of t and validates it with Tekton's own rules.
func ValidateTask(ctx context.Context, t *pipelinev1.Task) error {
	ctx = ValidationContext(ctx)
	c := t.DeepCopy()
	c.SetDefaults(ctx)
	if err := c.Validate(ctx); err != nil {
		return fmt.Errorf("invalid Task %q: %w", t.Name, err)
	}
	return nil
}

// ValidatePipeline defaults a copy of p and validates it with Tekton's own rules.
func ValidatePipeline(ctx context.Context, p *pipelinev1.Pipeline) error {
	ctx = ValidationContext(ctx)
	c := p.DeepCopy()
	c.SetDefaults(ctx)
	if err := c.Validate(ctx); err != nil {
		return fmt.Errorf("invalid Pipeline %q: %w", p.Name, err)
	}
	return nil
}

// ValidatePipelineRun defaults a copy of pr and validates it with Tekton's own rules.
func ValidatePipelineRun(ctx context.Context, pr *pipelinev1.PipelineRun) error {
	ctx = ValidationContext(ctx)
	c := pr.DeepCopy()
	c.SetDefaults(ctx)
	if err := c.Validate(ctx); err != nil {
		return fmt.Errorf("invalid PipelineRun %q: %w", pr.Name, err)
	}
	return nil
}
