package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Annotations on the app's stable Deployment (blue-green: its Service,
// as there is no stable Deployment) through which a running rollout is
// steered and reports where it is. They live in the target cluster, so
// whoever can reach it (Slipway, kubectl) can read and signal a rollout
// without a connection to the deploy pod.
const (
	// AnnotationContinue counts the continue signals given ("3"). A
	// rollout remembers the count it started with and each manual pause
	// waits for one more.
	AnnotationContinue = "slipway.dev/continue"
	// AnnotationAbort holds the reason of an abort; a running rollout rolls
	// back as on a failure. A rollout that starts clears it, unless
	// AnnotationAbortRollout names that very rollout.
	AnnotationAbort = "slipway.dev/abort"
	// AnnotationAbortRollout names the rollout (Spec.RolloutID) an abort is
	// meant for. An abort can land before its rollout's pod starts; the tag
	// tells it from a stale one, so it stops the rollout instead of being
	// cleared. Empty: whichever rollout is running.
	AnnotationAbortRollout = "slipway.dev/abort-rollout"
	// AnnotationProgress is one line saying where the rollout is.
	AnnotationProgress = "slipway.dev/rollout-progress"
)

// SignalKind is what Signal tells a running rollout.
type SignalKind string

const (
	// SignalContinue ends the current manual pause of a canary.
	SignalContinue SignalKind = "continue"
	// SignalAbort rolls the rollout back, whichever strategy and step.
	SignalAbort SignalKind = "abort"
)

// Signal sends s to the rollout of app in namespace. rollout (SignalAbort
// only) is the Spec.RolloutID the abort is meant for, "" for whichever
// runs; reason is required for SignalAbort and ignored otherwise.
func Signal(ctx context.Context, kc kubernetes.Interface, namespace, app string, s SignalKind, rollout, reason string) error {
	t := target{client: kc, ns: namespace, app: app}
	switch s {
	case SignalContinue:
		// The count is read and written with its resourceVersion, so two
		// concurrent continues are two.
		for range 5 {
			ann, rv, err := t.annotations(ctx)
			if err != nil {
				return err
			}
			n, _ := strconv.Atoi(ann[AnnotationContinue])
			err = t.patch(ctx, rv, map[string]*string{AnnotationContinue: ptr(strconv.Itoa(n + 1))})
			if !apierrors.IsConflict(err) {
				return err
			}
		}
		return fmt.Errorf("signalling continue to %s/%s: conflicting writes, try again", namespace, app)
	case SignalAbort:
		if reason == "" {
			return errors.New("an abort needs a reason")
		}
		var tag *string
		if rollout != "" {
			tag = &rollout
		}
		return t.patch(ctx, "", map[string]*string{AnnotationAbort: &reason, AnnotationAbortRollout: tag})
	default:
		return fmt.Errorf("unknown signal %q (want continue or abort)", s)
	}
}

// Progress reads the progress line of app's rollout ("" before the first).
func Progress(ctx context.Context, kc kubernetes.Interface, namespace, app string) (string, error) {
	ann, _, err := target{client: kc, ns: namespace, app: app}.annotations(ctx)
	if err != nil {
		return "", err
	}
	return ann[AnnotationProgress], nil
}

// target is the object carrying an app's signal annotations: Deployment
// app, or, when there is none (blue-green), Service app.
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
	meta := map[string]any{"annotations": ann}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	body, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return fmt.Errorf("encoding annotations: %w", err)
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

func ptr[T any](v T) *T { return &v }

// signals is one rollout's view of its annotations.
type signals struct {
	t target
	// base is the continue count when the rollout started; waited counts
	// the manual pauses passed since.
	base, waited int
	// rollout is this rollout's Spec.RolloutID.
	rollout string
	// aborted is the abort reason once one was seen.
	aborted string
	// off: the app has no object to carry them (the strategy itself will
	// report what is missing).
	off bool
}

// start clears a stale abort and remembers the continue count. An abort
// tagged with this rollout arrived before it started: a *failure, and
// nothing may change.
func (s *signals) start(ctx context.Context) error {
	ann, _, err := s.t.annotations(ctx)
	if apierrors.IsNotFound(err) {
		s.off = true
		return nil
	}
	if err != nil {
		return err
	}
	s.base, _ = strconv.Atoi(ann[AnnotationContinue])
	if r, ok := ann[AnnotationAbort]; ok {
		if s.rollout != "" && ann[AnnotationAbortRollout] == s.rollout {
			s.aborted = r
			return failed("aborted: %s", r)
		}
		return s.t.patch(ctx, "", map[string]*string{AnnotationAbort: nil, AnnotationAbortRollout: nil})
	}
	return nil
}

// mine reports whether an abort tagged tag is meant for this rollout: an
// untagged one is for whichever runs; one tagged for another rollout
// arrived late for an earlier one.
func (s *signals) mine(tag string) bool {
	return tag == "" || s.rollout == "" || tag == s.rollout
}

// check returns a failure when an abort was signalled, and how many
// continues were given since the start.
func (s *signals) check(ctx context.Context) (int, error) {
	if s == nil || s.off {
		return 0, nil
	}
	ann, _, err := s.t.annotations(ctx)
	if err != nil {
		return 0, err
	}
	if r, ok := ann[AnnotationAbort]; ok && s.mine(ann[AnnotationAbortRollout]) {
		s.aborted = r
		return 0, failed("aborted: %s", r)
	}
	n, _ := strconv.Atoi(ann[AnnotationContinue])
	return n - s.base, nil
}
