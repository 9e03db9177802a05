package ui

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

func TestTaskStates(t *testing.T) {
	waiting := pipelinev1.StepState{Name: "b", ContainerState: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	tests := []struct {
		name  string
		steps []pipelinev1.StepState
		cond  duckv1.Status
		want  []State // task, then its steps
	}{
		{"pod scheduling", []pipelinev1.StepState{{Name: "a"}, waiting}, cond(corev1.ConditionUnknown, "Started", ""), []State{Queued, Queued, Queued}},
		{"first step running", []pipelinev1.StepState{running("a", t0), waiting}, cond(corev1.ConditionUnknown, "Running", ""), []State{Running, Running, Queued}},
		{"failed, later step never ran", []pipelinev1.StepState{terminated("a", 1, t0, t0.Add(time.Second)), waiting},
			cond(corev1.ConditionFalse, "Failed", "boom"), []State{Failed, Failed, Skipped}},
		{"cancelled", []pipelinev1.StepState{terminated("a", 137, t0, t0.Add(time.Second)), waiting},
			cond(corev1.ConditionFalse, pipelinev1.TaskRunReasonCancelled.String(), ""), []State{Cancelled, Cancelled, Cancelled}},
		{"succeeded", []pipelinev1.StepState{terminated("a", 0, t0, t0.Add(time.Second)), terminated("b", 0, t0, t0.Add(time.Second))},
			cond(corev1.ConditionTrue, "Succeeded", ""), []State{Succeeded, Succeeded, Succeeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := taskOf("t", taskRun("t", tt.steps, tt.cond, t0, time.Time{}))
			got := []State{task.State}
			for _, s := range task.Steps {
				got = append(got, s.State)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPendingRunHasNoTasks(t *testing.T) {
	pr := pipelineRun(false)
	pr.Status = pipelinev1.PipelineRunStatus{}
	pr.Spec.Status = pipelinev1.PipelineRunSpecStatusPending
	tl := buildTimeline(pr, nil)
	if tl.State != Queued || len(tl.Tasks) != 0 || tl.Message == "" {
		t.Errorf("timeline of a queued run: %+v", tl)
	}
}
