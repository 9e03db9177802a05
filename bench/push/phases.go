// Package push measures what a developer waits for after a push on the
// local stack: from the signed webhook to the first step, the pushed image
// and the green commit status, phase by phase, from Tekton's own timestamps
// and the fake git host's status log. See bench/README.md.
package push

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/e2e/fakescm"
)

// Phase is one moment of a push's life, measured from the push sent.
type Phase int

// The phases, in the order a developer sees them.
const (
	Pending Phase = iota
	Created
	Scheduled
	CloneRunning
	TestRunning
	ImagePushed
	Success
	numPhases
)

// Names of the phases as the table shows them.
var phaseNames = [numPhases]string{
	Pending:      "`pending` status",
	Created:      "PipelineRun created",
	Scheduled:    "first pod scheduled",
	CloneRunning: "clone step running",
	TestRunning:  "unit-test step (`test`) running",
	ImagePushed:  "image pushed (build-push finished)",
	Success:      "`success` status",
}

func (p Phase) String() string { return phaseNames[p] }

// Where the pipeline keeps the steps measured (pipelines/ci.yaml,
// tasks/*.yaml) and the context Slipway posts its statuses under.
const (
	cloneTask     = "clone"
	cloneStep     = "clone"
	testTask      = "unit-test"
	testStep      = "test"
	buildTask     = "build-push"
	statusContext = "slipway/ci"
	// Labels Tekton puts on the TaskRuns and pods of a PipelineRun.
	labelPipelineRun   = pipeline.PipelineRunLabelKey
	labelPipelineTask  = pipeline.PipelineTaskLabelKey
	runningDescription = "Running" // GitHub has no running state: Slipway says pending "Running…"
)

// Observed is everything recorded about one push once it went green.
type Observed struct {
	Sent        time.Time // just before the webhook was written
	PipelineRun pipelinev1.PipelineRun
	TaskRuns    []pipelinev1.TaskRun
	Pods        []corev1.Pod
	Statuses    []fakescm.Status // the commit's, oldest first
}

// Timeline is when each phase was reached, as an offset from the push
// sent; a phase not found is absent from At.
type Timeline struct {
	At map[Phase]time.Duration
}

// Missing names the phases the timeline lacks.
func (t Timeline) Missing() []Phase {
	var out []Phase
	for p := range numPhases {
		if _, ok := t.At[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// Extract reads the timeline of one push from what was observed.
func Extract(o Observed) Timeline {
	t := Timeline{At: map[Phase]time.Duration{}}
	set := func(p Phase, at time.Time) {
		if !at.IsZero() {
			t.At[p] = at.Sub(o.Sent)
		}
	}
	set(Pending, firstStatus(o.Statuses, func(st fakescm.Status) bool {
		return st.State == "pending" && !strings.HasPrefix(st.Description, runningDescription)
	}))
	set(Success, firstStatus(o.Statuses, func(st fakescm.Status) bool { return st.State == "success" }))
	set(Created, o.PipelineRun.CreationTimestamp.Time)
	var scheduled time.Time
	for _, pod := range o.Pods {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue &&
				(scheduled.IsZero() || c.LastTransitionTime.Time.Before(scheduled)) {
				scheduled = c.LastTransitionTime.Time
			}
		}
	}
	set(Scheduled, scheduled)
	if tr := taskRun(o.TaskRuns, cloneTask); tr != nil {
		set(CloneRunning, stepStarted(tr, cloneStep))
	}
	if tr := taskRun(o.TaskRuns, testTask); tr != nil {
		set(TestRunning, stepStarted(tr, testStep))
	}
	if tr := taskRun(o.TaskRuns, buildTask); tr != nil && tr.Status.CompletionTime != nil &&
		tr.Status.GetCondition(apis.ConditionSucceeded).IsTrue() {
		set(ImagePushed, tr.Status.CompletionTime.Time)
	}
	return t
}

func firstStatus(sts []fakescm.Status, match func(fakescm.Status) bool) time.Time {
	for _, st := range sts {
		if st.Context == statusContext && match(st) {
			return st.At
		}
	}
	return time.Time{}
}

func taskRun(trs []pipelinev1.TaskRun, pipelineTask string) *pipelinev1.TaskRun {
	for i := range trs {
		if trs[i].Labels[labelPipelineTask] == pipelineTask {
			return &trs[i]
		}
	}
	return nil
}

// stepStarted is when the step's own command started. Tekton starts every
// step container with the pod and holds it in its entrypoint until the
// previous step ends; a terminated step's StartedAt is rewritten from the
// entrypoint's record to when the step really began, while a running
// container's StartedAt is only the pod's start. The bench reads finished
// runs, so the terminated time is the one that counts.
func stepStarted(tr *pipelinev1.TaskRun, step string) time.Time {
	for _, s := range tr.Status.Steps {
		if s.Name != step {
			continue
		}
		switch {
		case s.Terminated != nil:
			return s.Terminated.StartedAt.Time
		case s.Running != nil:
			return s.Running.StartedAt.Time
		}
	}
	return time.Time{}
}

// Stat is one phase over a set of pushes.
type Stat struct {
	N             int
	P50, P90, Max time.Duration
	// StepP50 is the median time from the previous phase to this one
	// (over the pushes that reached both): where the seconds go.
	StepP50 time.Duration
}

// Summarize computes each phase's percentiles over the timelines.
func Summarize(ts []Timeline) map[Phase]Stat {
	out := map[Phase]Stat{}
	for p := range numPhases {
		var at, step []time.Duration
		for _, t := range ts {
			d, ok := t.At[p]
			if !ok {
				continue
			}
			at = append(at, d)
			if p == 0 {
				step = append(step, d)
			} else if prev, ok := t.At[p-1]; ok {
				step = append(step, d-prev)
			}
		}
		if len(at) == 0 {
			continue
		}
		slices.Sort(at)
		slices.Sort(step)
		out[p] = Stat{N: len(at), P50: Percentile(at, 0.5), P90: Percentile(at, 0.9), Max: at[len(at)-1], StepP50: Percentile(step, 0.5)}
	}
	return out
}

// Percentile is the nearest-rank percentile of sorted durations; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
