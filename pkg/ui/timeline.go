package ui

import (
	"cmp"
	"slices"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// State is the state of a run, a task or a step as the pages show it. The
// values are the data-state attributes of the timeline.
type State string

const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
	Skipped   State = "skipped"
)

// Done reports whether nothing more will happen.
func (s State) Done() bool { return s != Queued && s != Running }

// runState turns the store's run state into the page's.
func runState(s run.State) State {
	switch s {
	case run.Running:
		return Running
	case run.Succeeded:
		return Succeeded
	case run.Failed:
		return Failed
	case run.Canceled:
		return Cancelled
	}
	return Queued
}

// Timeline is what the run page shows of a PipelineRun and its TaskRuns.
type Timeline struct {
	State   State     `json:"state"`
	Message string    `json:"message,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Tasks   []Task    `json:"tasks"`
}

// Task is one pipeline task.
type Task struct {
	Name    string    `json:"name"`
	TaskRun string    `json:"taskRun,omitempty"`
	Pod     string    `json:"-"`
	State   State     `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Steps   []Step    `json:"steps"`
}

// Step is one step of a task.
type Step struct {
	Name      string    `json:"name"`
	Container string    `json:"-"`
	State     State     `json:"state"`
	ExitCode  int       `json:"exitCode"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end,omitzero"`
}

// buildTimeline reads the PipelineRun and its TaskRuns. Tasks the pipeline
// declares but has not started yet are queued.
func buildTimeline(pr *pipelinev1.PipelineRun, trs []pipelinev1.TaskRun) Timeline {
	st, msg := tekton.RunState(pr)
	tl := Timeline{State: runState(st), Message: msg}
	if pr.Status.StartTime != nil {
		tl.Start = pr.Status.StartTime.Time
	}
	if pr.Status.CompletionTime != nil {
		tl.End = pr.Status.CompletionTime.Time
	}
	byTask := map[string]*pipelinev1.TaskRun{}
	for i := range trs {
		if n := trs[i].Labels["tekton.dev/pipelineTask"]; n != "" {
			byTask[n] = &trs[i]
		}
	}
	var names []string
	if spec := pr.Status.PipelineSpec; spec != nil {
		for _, t := range append(slices.Clone(spec.Tasks), spec.Finally...) {
			names = append(names, t.Name)
		}
	}
	for _, c := range pr.Status.ChildReferences {
		if !slices.Contains(names, c.PipelineTaskName) {
			names = append(names, c.PipelineTaskName)
		}
	}
	skipped := map[string]string{}
	for _, s := range pr.Status.SkippedTasks {
		skipped[s.Name] = string(s.Reason)
	}
	for _, n := range names {
		tr := byTask[n]
		if tr == nil {
			t := Task{Name: n, State: Queued}
			if why, ok := skipped[n]; ok {
				t.State, t.Reason = Skipped, why
			} else if tl.State.Done() {
				// The run ended before this task started.
				t.State = Cancelled
				if tl.State == Failed {
					t.State = Skipped
				}
			}
			tl.Tasks = append(tl.Tasks, t)
			continue
		}
		tl.Tasks = append(tl.Tasks, taskOf(n, tr))
	}
	return tl
}

func taskOf(name string, tr *pipelinev1.TaskRun) Task {
	t := Task{Name: name, TaskRun: tr.Name, Pod: tr.Status.PodName, State: Running}
	if tr.Status.StartTime != nil {
		t.Start = tr.Status.StartTime.Time
	}
	if tr.Status.CompletionTime != nil {
		t.End = tr.Status.CompletionTime.Time
	}
	c := tr.Status.GetCondition(apis.ConditionSucceeded)
	switch {
	case c == nil:
		t.State = Queued
	case c.Status == corev1.ConditionTrue:
		t.State = Succeeded
	case c.Status == corev1.ConditionFalse:
		t.State, t.Reason = Failed, c.Message
		if c.Reason == pipelinev1.TaskRunReasonCancelled.String() {
			t.State = Cancelled
		}
	default:
		// Running once a step runs; before that the pod is being scheduled.
		t.State = Queued
	}
	states := map[string]pipelinev1.StepState{}
	for _, s := range tr.Status.Steps {
		states[s.Name] = s
	}
	var names []string
	if tr.Status.TaskSpec != nil {
		for _, s := range tr.Status.TaskSpec.Steps {
			names = append(names, s.Name)
		}
	}
	for _, s := range tr.Status.Steps {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	for _, n := range names {
		s, ok := states[n]
		step := Step{Name: n, Container: steplog.Container(pipelinev1.StepState{Name: n, Container: s.Container}), State: Queued}
		switch {
		case !ok:
		case s.Terminated != nil:
			step.Start, step.End, step.ExitCode = s.Terminated.StartedAt.Time, s.Terminated.FinishedAt.Time, int(s.Terminated.ExitCode)
			step.State = Succeeded
			switch {
			case s.TerminationReason == "Skipped" || s.Terminated.Reason == "Skipped":
				step.State = Skipped
			case s.Terminated.ExitCode != 0 && t.State == Cancelled:
				step.State = Cancelled
			case s.Terminated.ExitCode != 0:
				step.State = Failed
			}
		case s.Running != nil:
			step.Start, step.State = s.Running.StartedAt.Time, Running
		}
		// A step that never ran in a finished task will not run any more.
		if step.State == Queued && t.State.Done() {
			step.State = Skipped
			if t.State == Cancelled {
				step.State = Cancelled
			}
		}
		t.Steps = append(t.Steps, step)
		if t.State == Queued && step.State != Queued {
			t.State = Running
		}
	}
	return t
}

// storedTimeline rebuilds a finished run's timeline from its saved step
// logs, once the PipelineRun itself is gone.
func storedTimeline(r *run.Run, logs []store.StepLog) Timeline {
	tl := Timeline{State: runState(r.State), Message: r.Message, Start: r.StartedAt, End: r.FinishedAt}
	idx := map[string]int{}
	for _, l := range logs {
		i, ok := idx[l.Task]
		if !ok {
			i = len(tl.Tasks)
			idx[l.Task] = i
			tl.Tasks = append(tl.Tasks, Task{Name: l.Task, TaskRun: l.TaskRun, State: Succeeded, Start: l.StartedAt})
		}
		t := &tl.Tasks[i]
		s := Step{Name: l.Step, State: Succeeded, ExitCode: l.ExitCode, Start: l.StartedAt, End: l.FinishedAt}
		if l.ExitCode != 0 {
			s.State, t.State = Failed, Failed
		}
		if t.Start.IsZero() || (!l.StartedAt.IsZero() && l.StartedAt.Before(t.Start)) {
			t.Start = l.StartedAt
		}
		if l.FinishedAt.After(t.End) {
			t.End = l.FinishedAt
		}
		t.Steps = append(t.Steps, s)
	}
	slices.SortStableFunc(tl.Tasks, func(a, b Task) int { return cmp.Compare(a.Start.UnixNano(), b.Start.UnixNano()) })
	return tl
}
