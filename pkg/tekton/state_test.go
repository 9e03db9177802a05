package tekton

import (
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/run"
)

func TestRunState(t *testing.T) {
	cond := func(s corev1.ConditionStatus, reason, msg string) *apis.Condition {
		return &apis.Condition{Type: apis.ConditionSucceeded, Status: s, Reason: reason, Message: msg}
	}
	started := func(pr *pipelinev1.PipelineRun) *pipelinev1.PipelineRun {
		pr.Status.StartTime = &metav1.Time{}
		return pr
	}
	tests := []struct {
		name      string
		pr        *pipelinev1.PipelineRun
		wantState run.State
		wantMsg   string
	}{
		{name: "new", pr: prWith("a", "", nil), wantState: run.Pending, wantMsg: "waiting to start"},
		{name: "cancelled before start", pr: prWith("a", pipelinev1.PipelineRunSpecStatusCancelled, nil), wantState: run.Canceled, wantMsg: "cancelled before it started"},
		{name: "queued by the per-repo limit", pr: prWith("a", pipelinev1.PipelineRunSpecStatusPending, cond(corev1.ConditionUnknown, "PipelineRunPending", "PipelineRun is pending")), wantState: run.Pending, wantMsg: QueuedMessage},
		{name: "pending reason", pr: started(prWith("a", "", cond(corev1.ConditionUnknown, "PipelineRunPending", "queued"))), wantState: run.Pending, wantMsg: "queued"},
		{name: "unknown without start time", pr: prWith("a", "", cond(corev1.ConditionUnknown, "Started", "")), wantState: run.Pending},
		{name: "running", pr: started(prWith("a", "", cond(corev1.ConditionUnknown, "Running", "Tasks Completed: 0"))), wantState: run.Running, wantMsg: "Tasks Completed: 0"},
		{name: "succeeded", pr: prWith("a", "", cond(corev1.ConditionTrue, "Succeeded", "all done")), wantState: run.Succeeded, wantMsg: "all done"},
		{name: "failed", pr: prWith("a", "", cond(corev1.ConditionFalse, "Failed", "clone failed")), wantState: run.Failed, wantMsg: "clone failed"},
		{name: "timed out is a failure", pr: prWith("a", "", cond(corev1.ConditionFalse, "PipelineRunTimeout", "timed out")), wantState: run.Failed, wantMsg: "timed out"},
		{name: "cancelled", pr: prWith("a", "", cond(corev1.ConditionFalse, "Cancelled", "by slipway")), wantState: run.Canceled, wantMsg: "by slipway"},
		{name: "cancelled running finally", pr: prWith("a", "", cond(corev1.ConditionFalse, "CancelledRunningFinally", "")), wantState: run.Canceled},
		{name: "stopped running finally", pr: prWith("a", "", cond(corev1.ConditionFalse, "StoppedRunningFinally", "")), wantState: run.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, msg := RunState(tt.pr)
			if state != tt.wantState || msg != tt.wantMsg {
				t.Errorf("RunState = (%q, %q), want (%q, %q)", state, msg, tt.wantState, tt.wantMsg)
			}
		})
	}
}
