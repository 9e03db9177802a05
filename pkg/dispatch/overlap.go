package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// A handed-over event's PipelineRun is created while the event's record
// commits (Intake.Accept). These are the worker's steps once that commit
// is known; for a claimed event they are no-ops.

// recordedFunc reports the commit of an event's record: its id, whether
// it was a redelivery (nothing written), or the error that kept it from
// being written. It may be called any number of times.
type recordedFunc func() (id int64, duplicate bool, err error)

// committed is the recordedFunc of an event claimed from the queue: its
// record is there.
func committed(ev *event.Event) recordedFunc {
	id := ev.ID
	return func() (int64, bool, error) { return id, false, nil }
}

// errNotRecorded ends the work on an event whose record did not commit.
var errNotRecorded = errors.New("event not recorded")

// settle waits for ev's record; false when it is not there, and nothing
// may be written about ev. An id other than the one ev was handed with
// (the store wrote it again after a failed batch) replaces ev's.
func (d *Dispatcher) settle(ctx context.Context, ev *event.Event, recorded recordedFunc) bool {
	id, dup, err := recorded()
	switch {
	case err != nil:
		d.log.WarnContext(ctx, "event not recorded; the sender was refused and redelivers", "delivery", ev.Delivery, "err", err)
		return false
	case dup:
		d.log.InfoContext(ctx, "event was a redelivery; the first delivery's event goes on", "delivery", ev.Delivery, "event", id)
		return false
	}
	ev.ID = id
	return true
}

// afterCommit waits for ev's record after pr's create. When the record
// failed, the PipelineRun this worker created is deleted: the sender was
// answered with an error and redelivers, and the redelivery creates it
// again. A redelivery's run is the first delivery's (same name) and stays.
// When the commit gave ev another id, pr's label is corrected.
func (d *Dispatcher) afterCommit(ctx context.Context, ev *event.Event, recorded recordedFunc, pr *pipelinev1.PipelineRun, created bool) error {
	id, dup, err := recorded()
	switch {
	case err != nil:
		if created {
			del := d.tekton.TektonV1().PipelineRuns(pr.Namespace).Delete(ctx, pr.Name, metav1.DeleteOptions{})
			if del != nil && !apierrors.IsNotFound(del) {
				return fmt.Errorf("%w (%w), and deleting its PipelineRun %s/%s failed: %w", errNotRecorded, err, pr.Namespace, pr.Name, del)
			}
		}
		return fmt.Errorf("%w: %w", errNotRecorded, err)
	case dup:
		return errNotRecorded
	case id != ev.ID && created:
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, tekton.LabelEventID, strconv.FormatInt(id, 10))
		if _, err := d.tekton.TektonV1().PipelineRuns(pr.Namespace).Patch(ctx, pr.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("relabelling PipelineRun %s/%s with event %d: %w", pr.Namespace, pr.Name, id, err)
		}
	}
	ev.ID = id
	return nil
}
