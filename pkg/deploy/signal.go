package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// PipelineRuns is the resource of Tekton PipelineRuns, the deploy runs a
// rollout may be signalled through (Spec.RunNamespace).
var PipelineRuns = schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: "pipelineruns"}

// Signal sends s to the rollout of app in namespace through the app's
// object in the target cluster (what kubectl users do). rollout (abort
// only) is the Spec.RolloutID the abort is meant for, "" for whichever
// runs; reason is required for rollout.SignalAbort and ignored otherwise.
func Signal(ctx context.Context, kc kubernetes.Interface, namespace, app string, s rollout.Signal, rolloutID, reason string) error {
	t := target{client: kc, ns: namespace, app: app}
	// The continue count is read and written with its resourceVersion, so
	// two concurrent continues are two.
	for range 5 {
		ann, rv, err := t.annotations(ctx)
		if err != nil {
			return err
		}
		patch, err := rollout.SignalPatch(ann, s, rolloutID, reason)
		if err != nil {
			return err
		}
		if s != rollout.SignalContinue {
			rv = ""
		}
		err = t.patch(ctx, rv, patch)
		if !apierrors.IsConflict(err) {
			return err
		}
	}
	return fmt.Errorf("signalling %s to %s/%s: conflicting writes, try again", s, namespace, app)
}

// Progress reads the progress line of app's rollout ("" before the first).
func Progress(ctx context.Context, kc kubernetes.Interface, namespace, app string) (string, error) {
	ann, _, err := target{client: kc, ns: namespace, app: app}.annotations(ctx)
	if err != nil {
		return "", err
	}
	return rollout.Progress(ann), nil
}

// channel is an object whose annotations carry a rollout's signals and
// progress.
type channel interface {
	annotations(ctx context.Context) (map[string]string, string, error)
	patch(ctx context.Context, resourceVersion string, ann map[string]*string) error
}

// target is the object carrying an app's signal annotations in the target
// cluster: Deployment app, or, when there is none (blue-green), Service app.
type target struct {
	client  kubernetes.Interface
	ns, app string
}

func (t target) annotations(ctx context.Context) (map[string]string, string, error) {
	dep, err := t.client.AppsV1().Deployments(t.ns).Get(ctx, t.app, metav1.GetOptions{})
	if err == nil {
		return dep.Annotations, dep.ResourceVersion, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, "", fmt.Errorf("reading deployment %s/%s: %w", t.ns, t.app, err)
	}
	svc, err := t.client.CoreV1().Services(t.ns).Get(ctx, t.app, metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("app %s/%s has neither a deployment nor a service: %w", t.ns, t.app, err)
	}
	return svc.Annotations, svc.ResourceVersion, nil
}

// patch sets (nil: removes) annotations with a merge patch, conditional
// on resourceVersion when one is given.
func (t target) patch(ctx context.Context, resourceVersion string, ann map[string]*string) error {
	body, err := annotationPatch(resourceVersion, ann)
	if err != nil {
		return err
	}
	_, err = t.client.AppsV1().Deployments(t.ns).Patch(ctx, t.app, types.MergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		_, err = t.client.CoreV1().Services(t.ns).Patch(ctx, t.app, types.MergePatchType, body, metav1.PatchOptions{})
		if err != nil {
			return fmt.Errorf("annotating service %s/%s: %w", t.ns, t.app, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("annotating deployment %s/%s: %w", t.ns, t.app, err)
	}
	return nil
}

// run is the deploy PipelineRun of the rollout, in the cluster the deploy
// pod runs in: the server signals it there and reads its progress there.
type run struct {
	client   dynamic.Interface
	ns, name string
}

func (r run) annotations(ctx context.Context) (map[string]string, string, error) {
	u, err := r.client.Resource(PipelineRuns).Namespace(r.ns).Get(ctx, r.name, metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("reading PipelineRun %s/%s: %w", r.ns, r.name, err)
	}
	return u.GetAnnotations(), u.GetResourceVersion(), nil
}

func (r run) patch(ctx context.Context, resourceVersion string, ann map[string]*string) error {
	body, err := annotationPatch(resourceVersion, ann)
	if err != nil {
		return err
	}
	if _, err := r.client.Resource(PipelineRuns).Namespace(r.ns).Patch(ctx, r.name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotating PipelineRun %s/%s: %w", r.ns, r.name, err)
	}
	return nil
}

func annotationPatch(resourceVersion string, ann map[string]*string) ([]byte, error) {
	meta := map[string]any{"annotations": ann}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return nil, fmt.Errorf("encoding annotations: %w", err)
	}
	return body, nil
}

// source is one channel as a rollout sees it.
type source struct {
	ch channel
	// own: every abort on it is this rollout's (its PipelineRun); on the
	// target object an abort may be stale, from an earlier rollout.
	own bool
	// base is the continue count when the rollout started.
	base int
	// off: the channel has no object (the strategy itself reports a
	// missing app; a missing PipelineRun only loses its signals).
	off bool
}

// signals is one rollout's view of its annotations.
type signals struct {
	sources []*source
	// waited counts the manual pauses passed since the start.
	waited int
	// rollout is this rollout's Spec.RolloutID.
	rollout string
	// aborted is the abort reason once one was seen.
	aborted string
}

func newSignals(id string, chans ...channel) *signals {
	s := &signals{rollout: id}
	for i, ch := range chans {
		s.sources = append(s.sources, &source{ch: ch, own: i > 0})
	}
	return s
}

// start clears a stale abort and remembers the continue counts. An abort
// meant for this rollout arrived before it started: a *failure, and
// nothing may change.
func (s *signals) start(ctx context.Context) error {
	for _, src := range s.sources {
		ann, _, err := src.ch.annotations(ctx)
		if apierrors.IsNotFound(err) {
			src.off = true
			continue
		}
		if err != nil {
			return err
		}
		src.base = rollout.Continues(ann)
		reason, tag, ok := rollout.Abort(ann)
		switch {
		case !ok:
		case src.own || (s.rollout != "" && tag == s.rollout):
			s.aborted = reason
			return failed("aborted: %s", reason)
		default:
			if err := src.ch.patch(ctx, "", map[string]*string{rollout.AnnotationAbort: nil, rollout.AnnotationAbortRollout: nil}); err != nil {
				return err
			}
		}
	}
	return nil
}

// mine reports whether an abort tagged tag on src is meant for this
// rollout: an untagged one is for whichever runs; one tagged for another
// rollout arrived late for an earlier one.
func (s *signals) mine(src *source, tag string) bool {
	return src.own || tag == "" || s.rollout == "" || tag == s.rollout
}

// check returns a failure when an abort was signalled, and how many
// continues were given since the start, over every channel.
func (s *signals) check(ctx context.Context) (int, error) {
	if s == nil {
		return 0, nil
	}
	n := 0
	for _, src := range s.sources {
		if src.off {
			continue
		}
		ann, _, err := src.ch.annotations(ctx)
		if err != nil {
			return 0, err
		}
		if reason, tag, ok := rollout.Abort(ann); ok && s.mine(src, tag) {
			s.aborted = reason
			return 0, failed("aborted: %s", reason)
		}
		n += rollout.Continues(ann) - src.base
	}
	return n, nil
}

// record writes the progress line on every channel; best effort, the
// first error is returned after all were tried.
func (s *signals) record(ctx context.Context, line string) error {
	var first error
	for _, src := range s.sources {
		if src.off {
			continue
		}
		if err := src.ch.patch(ctx, "", map[string]*string{rollout.AnnotationProgress: &line}); err != nil && first == nil {
			first = err
		}
	}
	return first
}
