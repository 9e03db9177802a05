//go:build e2e

package framework

import (
	"context"
	"errors"
	"fmt"
	"testing"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"knative.dev/pkg/apis"
)

// ErrTerminal is wrapped by a condition that can no longer become true, for
// example "succeeded" on a run that failed; the waiter stops at once.
var ErrTerminal = errors.New("condition can no longer be met")

// PipelineRunCondition reports whether a PipelineRun is where the test wants
// it. An error wrapping ErrTerminal ends the wait.
type PipelineRunCondition func(*pipelinev1.PipelineRun) (bool, error)

// PodCondition is the same for a Pod.
type PodCondition func(*corev1.Pod) (bool, error)

// PipelineRunSucceeded is met when the run succeeded and fails the wait when it failed.
func PipelineRunSucceeded(pr *pipelinev1.PipelineRun) (bool, error) {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	switch {
	case c == nil || c.IsUnknown():
		return false, nil
	case c.IsTrue():
		return true, nil
	default:
		return false, fmt.Errorf("%w: PipelineRun %s failed: %s: %s", ErrTerminal, pr.Name, c.Reason, c.Message)
	}
}

// PipelineRunFailed is met when the run failed and fails the wait when it succeeded.
func PipelineRunFailed(pr *pipelinev1.PipelineRun) (bool, error) {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	switch {
	case c == nil || c.IsUnknown():
		return false, nil
	case c.IsFalse():
		return true, nil
	default:
		return false, fmt.Errorf("%w: PipelineRun %s succeeded", ErrTerminal, pr.Name)
	}
}

// PipelineRunDone is met when the run finished either way.
func PipelineRunDone(pr *pipelinev1.PipelineRun) (bool, error) {
	c := pr.Status.GetCondition(apis.ConditionSucceeded)
	return c != nil && !c.IsUnknown(), nil
}

// PipelineRunReason is met when the Succeeded condition carries reason.
func PipelineRunReason(reason string) PipelineRunCondition {
	return func(pr *pipelinev1.PipelineRun) (bool, error) {
		c := pr.Status.GetCondition(apis.ConditionSucceeded)
		return c != nil && c.Reason == reason, nil
	}
}

// PodSucceeded is met when every container exited 0; a failed pod ends the wait.
func PodSucceeded(p *corev1.Pod) (bool, error) {
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return true, nil
	case corev1.PodFailed:
		return false, fmt.Errorf("%w: pod %s failed: %s", ErrTerminal, p.Name, podFailure(p))
	}
	return false, nil
}

// PodReady is met when the pod's Ready condition is true.
func PodReady(p *corev1.Pod) (bool, error) {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("%w: pod %s ended (%s) before it was ready", ErrTerminal, p.Name, p.Status.Phase)
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

func podFailure(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s exited %d (%s)", s.Name, t.ExitCode, t.Reason)
		}
	}
	return p.Status.Reason + " " + p.Status.Message
}

// WaitForPipelineRun watches the PipelineRun until cond is met, ctx ends or
// cond reports a terminal error, and returns the last version seen. It fails
// the test (after dumping the run) if the condition was not met.
func WaitForPipelineRun(ctx context.Context, t *testing.T, ns, name string, cond PipelineRunCondition) *pipelinev1.PipelineRun {
	t.Helper()
	runs := Get(t).Tekton.TektonV1().PipelineRuns(ns)
	pr, err := waitFor(ctx, objRef(ns, "PipelineRun", name),
		func(ctx context.Context) (*pipelinev1.PipelineRun, error) {
			return runs.Get(ctx, name, metav1.GetOptions{})
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return runs.Watch(ctx, o) },
		name, cond)
	if err != nil {
		DumpPipelineRun(t, ns, name)
		t.Fatalf("waiting for PipelineRun %s/%s: %v", ns, name, err)
	}
	return pr
}

// WaitForPod watches the pod until cond is met; see WaitForPipelineRun.
func WaitForPod(ctx context.Context, t *testing.T, ns, name string, cond PodCondition) *corev1.Pod {
	t.Helper()
	pods := Get(t).Kube.CoreV1().Pods(ns)
	p, err := waitFor(ctx, objRef(ns, "Pod", name),
		func(ctx context.Context) (*corev1.Pod, error) { return pods.Get(ctx, name, metav1.GetOptions{}) },
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return pods.Watch(ctx, o) },
		name, cond)
	if err != nil {
		DumpPod(t, ns, name)
		t.Fatalf("waiting for pod %s/%s: %v", ns, name, err)
	}
	return p
}

// waitFor reads the object, then watches it from that version, checking cond
// on every change; a closed watch (apiserver timeout) starts over with a read.
// A missing object is waited for, since tests often wait right after creating.
func waitFor[T runtime.Object](ctx context.Context, what string,
	get func(context.Context) (T, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	name string, cond func(T) (bool, error),
) (T, error) {
	var last T
	for {
		obj, err := get(ctx)
		resourceVersion := ""
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			if ctx.Err() != nil {
				return last, fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
			}
			return last, fmt.Errorf("reading %s: %w", what, err)
		default:
			last = obj
			if ok, err := cond(obj); ok || err != nil {
				return obj, err
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				return last, fmt.Errorf("%s: %w", what, err)
			}
			resourceVersion = m.GetResourceVersion()
		}
		w, err := watchFn(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", name).String(),
			ResourceVersion: resourceVersion,
		})
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("%s: %w", what, ctx.Err())
			}
			return last, fmt.Errorf("watching %s: %w", what, err)
		}
		done, got, err := drain(ctx, w, cond)
		w.Stop()
		if got != nil {
			last = *got
		}
		if done || err != nil {
			return last, wrapWhat(what, err)
		}
	}
}

// drain reads events until cond is met or fails (done), ctx ends (error) or
// the watch closes (not done, no error: the caller reads again).
func drain[T runtime.Object](ctx context.Context, w watch.Interface, cond func(T) (bool, error)) (bool, *T, error) {
	var last *T
	for {
		select {
		case <-ctx.Done():
			return true, last, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, last, nil
			}
			switch ev.Type {
			case watch.Error:
				// Usually "resource version too old": start over from a fresh read.
				return false, last, nil
			case watch.Deleted:
				return true, last, fmt.Errorf("%w: deleted while waiting", ErrTerminal)
			}
			obj, ok := ev.Object.(T)
			if !ok {
				return true, last, fmt.Errorf("unexpected %T in watch", ev.Object)
			}
			last = &obj
			if ok, err := cond(obj); ok || err != nil {
				return true, last, err
			}
		}
	}
}

func wrapWhat(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
