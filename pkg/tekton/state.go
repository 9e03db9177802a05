package tekton

import (
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/run"
)

// QueuedMessage describes a run waiting for a free slot under the per-repo
// limit of running PipelineRuns.
const QueuedMessage = "queued: waiting for a running build of this repository to finish"

// RunState maps a PipelineRun's Succeeded condition to the state Slipway
// reports, with the condition's message.
func RunState(pr *pipelinev1.PipelineRun) (run.State, string) {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	// Held by Slipway's per-repo concurrency limit (see pkg/dispatch).
	if pr.Spec.Status == pipelinev1.PipelineRunSpecStatusPending && (c == nil || c.Status == corev1.ConditionUnknown) {
		return run.Pending, QueuedMessage
	}
	if c == nil {
		if pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled {
			return run.Canceled, "cancelled before it started"
		}
		return run.Pending, "waiting to start"
	}
	switch c.Status {
	case corev1.ConditionTrue:
		return run.Succeeded, c.Message
	case corev1.ConditionFalse:
		switch c.Reason {
		case pipelinev1.PipelineRunReasonCancelled.String(),
			pipelinev1.PipelineRunReasonCancelledRunningFinally.String(),
			pipelinev1.PipelineRunReasonStoppedRunningFinally.String():
			return run.Canceled, c.Message
		}
		return run.Failed, c.Message
	default:
		if c.Reason == pipelinev1.PipelineRunReasonPending.String() || pr.Status.StartTime == nil {
			return run.Pending, c.Message
		}
		return run.Running, c.Message
	}
}
