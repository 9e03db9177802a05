package tekton

import (
	"context"
	"fmt"
	"slices"
	"sync"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/slipway-ci/slipway/pkg/repoconfig"
)

// UnitTestTask is the Task of the CI pipeline's unit-test task, and
// UnitTestPipelineTask its name in the pipeline.
const (
	UnitTestTask         = "slipway-unit-test"
	UnitTestPipelineTask = "unit-test"
	// testStep is the unit-test Task's step that runs the tests: a
	// repository's before-tests steps go in front of it, its after-tests
	// steps after the last step (report, which fails when the tests did).
	testStep = "test"
)

// readinessPeriod is how often a service's readiness is checked, in seconds.
const readinessPeriod = 2

// embedded is the Tasks and Pipelines built into the binary, parsed once:
// a run with steps or services embeds its own copy of the CI pipeline.
var embedded = sync.OnceValues(func() (*Bundle, error) { return Load(context.Background()) })

// withStepsAndServices makes pr carry the CI pipeline itself (pipelineSpec,
// not pipelineRef) with the unit-test task embedded and extended by rc's
// steps and services. Runs without either keep referencing the installed
// Pipeline. The other tasks still reference their installed Tasks.
func withStepsAndServices(pr *pipelinev1.PipelineRun, rc *repoconfig.Config, o RunOptions) error {
	if len(rc.Steps) == 0 && len(rc.Services) == 0 {
		return nil
	}
	b, err := embedded()
	if err != nil {
		return fmt.Errorf("embedded pipeline: %w", err)
	}
	p, t := b.Pipeline(CIPipeline), b.Task(UnitTestTask)
	if p == nil || t == nil {
		return fmt.Errorf("embedded pipeline: no Pipeline %s or Task %s", CIPipeline, UnitTestTask)
	}
	spec := p.Spec.DeepCopy()
	i := slices.IndexFunc(spec.Tasks, func(pt pipelinev1.PipelineTask) bool { return pt.Name == UnitTestPipelineTask })
	if i < 0 {
		return fmt.Errorf("embedded pipeline: Pipeline %s has no task %s", CIPipeline, UnitTestPipelineTask)
	}
	ts := t.Spec.DeepCopy()
	at := slices.IndexFunc(ts.Steps, func(s pipelinev1.Step) bool { return s.Name == testStep })
	if at < 0 {
		return fmt.Errorf("embedded pipeline: Task %s has no step %s", UnitTestTask, testStep)
	}
	var before, after []pipelinev1.Step
	for _, s := range rc.Steps {
		step := userStep(s, o)
		if s.When == repoconfig.AfterTests {
			after = append(after, step)
		} else {
			before = append(before, step)
		}
	}
	ts.Steps = slices.Concat(ts.Steps[:at], before, ts.Steps[at:], after)
	for _, s := range rc.Services {
		ts.Sidecars = append(ts.Sidecars, sidecar(s))
	}
	spec.Tasks[i].TaskRef = nil
	spec.Tasks[i].TaskSpec = &pipelinev1.EmbeddedTask{TaskSpec: *ts}
	pr.Spec.PipelineRef = nil
	pr.Spec.PipelineSpec = spec
	return nil
}

// userStep is a repository's step: in the checkout, with the package
// mirrors the tests get, then its own environment.
func userStep(s repoconfig.Step, o RunOptions) pipelinev1.Step {
	image := s.Image
	if image == "" || image == repoconfig.BuildImage {
		image = "$(params.build-image)"
	}
	step := pipelinev1.Step{
		Name:       s.Name,
		Image:      image,
		WorkingDir: "$(workspaces.source.path)/$(params.app-dir)",
		Command:    s.Command,
		Script:     s.Script,
	}
	own := map[string]bool{}
	for _, e := range s.Env {
		own[e.Name] = true
	}
	for _, m := range []struct{ name, v string }{
		{"GOPROXY", o.GoProxy}, {"NPM_CONFIG_REGISTRY", o.NpmRegistry}, {"PIP_INDEX_URL", o.PipIndexURL},
	} {
		if m.v != "" && !own[m.name] {
			step.Env = append(step.Env, corev1.EnvVar{Name: m.name, Value: m.v})
		}
	}
	step.Env = append(step.Env, envVars(s.Env)...)
	return step
}

func envVars(env []repoconfig.EnvVar) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range env {
		v := corev1.EnvVar{Name: e.Name, Value: e.Value}
		if e.SecretRef != nil {
			// The value stays in the Secret: the kubelet reads it into the
			// container; neither the PipelineRun nor a log carries it.
			v.ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: e.SecretRef.Name},
				Key:                  e.SecretRef.Key,
			}}
		}
		out = append(out, v)
	}
	return out
}

// sidecar is a repository's service. Tekton starts the steps once every
// sidecar is Ready (await-sidecar-readiness, on by default); the startup
// probe bounds that wait: a service not ready within its timeout is
// killed (the pod never restarts a container), Tekton counts a stopped
// sidecar as done, and the tests run and fail on their own. The same
// probe as a startup probe also holds the steps back under Kubernetes
// native sidecars (enable-kubernetes-sidecar), whose readiness Tekton
// does not wait for.
func sidecar(s repoconfig.Service) pipelinev1.Sidecar {
	var handler corev1.ProbeHandler
	if port := s.ReadinessTCPPort(); port != 0 {
		handler.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))} //nolint:gosec // validated to 1..65535
	} else {
		handler.Exec = &corev1.ExecAction{Command: s.Readiness.Command}
	}
	c := pipelinev1.Sidecar{
		Name:    s.Name,
		Image:   s.Image,
		Command: s.Command,
		Env:     envVars(s.Env),
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: handler, PeriodSeconds: readinessPeriod, TimeoutSeconds: readinessPeriod, FailureThreshold: 1,
		},
		StartupProbe: &corev1.Probe{
			ProbeHandler: handler, PeriodSeconds: readinessPeriod, TimeoutSeconds: readinessPeriod,
			FailureThreshold: int32((s.ReadinessSeconds() + readinessPeriod - 1) / readinessPeriod), //nolint:gosec // at most 300
		},
	}
	for _, p := range s.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(p), Protocol: corev1.ProtocolTCP}) //nolint:gosec // validated to 1..65535
	}
	return c
}
