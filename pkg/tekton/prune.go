package tekton

import (
	"context"
	"errors"
	"fmt"
	"sort"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
)

// Prune deletes, in namespace, all but the newest keep finished
// PipelineRuns of each app (LabelApp), counting CI and deploy runs apart
// (LabelPipeline). Running and pending runs are never deleted, nor runs
// without an app label (not Slipway's). keep < 1 deletes nothing.
func Prune(ctx context.Context, tc versioned.Interface, namespace string, keep int) (int, error) {
	if keep < 1 {
		return 0, nil
	}
	list, err := tc.TektonV1().PipelineRuns(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp})
	if err != nil {
		return 0, fmt.Errorf("listing PipelineRuns in %s: %w", namespace, err)
	}
	type group struct{ app, pipeline string }
	finished := map[group][]*pipelinev1.PipelineRun{}
	for i := range list.Items {
		pr := &list.Items[i]
		if !isFinished(pr) {
			continue
		}
		g := group{pr.Labels[LabelApp], pr.Labels[LabelPipeline]}
		finished[g] = append(finished[g], pr)
	}
	deleted := 0
	var errs []error
	for _, runs := range finished {
		if len(runs) <= keep {
			continue
		}
		// Newest first by creation; the name breaks ties so the choice is stable.
		sort.Slice(runs, func(i, j int) bool {
			a, b := runs[i].CreationTimestamp.Time, runs[j].CreationTimestamp.Time
			if !a.Equal(b) {
				return a.After(b)
			}
			return runs[i].Name > runs[j].Name
		})
		for _, pr := range runs[keep:] {
			// The UID precondition: a run recreated under the same name
			// meanwhile is not the one that was judged old.
			uid := pr.UID
			err := tc.TektonV1().PipelineRuns(namespace).Delete(ctx, pr.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			switch {
			case err == nil:
				deleted++
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			default:
				errs = append(errs, fmt.Errorf("deleting PipelineRun %s/%s: %w", namespace, pr.Name, err))
			}
		}
	}
	return deleted, errors.Join(errs...)
}

// isFinished: the Succeeded condition is True or False (not Unknown, not absent).
func isFinished(pr *pipelinev1.PipelineRun) bool {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	return c != nil && c.Status != corev1.ConditionUnknown
}
