package tekton

import (
	"context"
	"fmt"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var cancelPatch = []byte(`{"spec":{"status":"` + string(pipelinev1.PipelineRunSpecStatusCancelled) + `"}}`)

// Cancel asks Tekton to stop the PipelineRun namespace/name. A run that has
// already finished or been cancelled is left alone.
func Cancel(ctx context.Context, client versioned.Interface, namespace, name string) error {
	pr, err := client.TektonV1().PipelineRuns(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("getting PipelineRun %s/%s: %w", namespace, name, err)
	}
	_, err = CancelRun(ctx, client, pr)
	return err
}

// CancelRun cancels pr unless it has finished or is already cancelled, and
// reports whether it sent the cancellation. It saves a Get when the caller
// has just listed the runs.
func CancelRun(ctx context.Context, client versioned.Interface, pr *pipelinev1.PipelineRun) (bool, error) {
	if pr.IsDone() || pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled {
		return false, nil
	}
	_, err := client.TektonV1().PipelineRuns(pr.Namespace).Patch(ctx, pr.Name, types.MergePatchType, cancelPatch, metav1.PatchOptions{})
	if err != nil {
		return false, fmt.Errorf("cancelling PipelineRun %s/%s: %w", pr.Namespace, pr.Name, err)
	}
	return true, nil
}
