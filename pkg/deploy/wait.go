package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errFailed marks a rollout that will not become ready; its message is the
// reason shown to the user.
type failure struct{ reason string }

func (f *failure) Error() string { return f.reason }

func failed(format string, args ...any) error { return &failure{reason: fmt.Sprintf(format, args...)} }

// reasonOf returns the user-facing reason of a failed wait.
func reasonOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return err.Error()
}

// rolledOut reports whether dep's controller has finished rolling out the
// current generation: every replica updated and available, none left over.
func rolledOut(dep *appsv1.Deployment) (bool, error) {
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return false, failed("deployment %s exceeded its progress deadline: %s", dep.Name, c.Message)
		}
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	s := dep.Status
	return s.ObservedGeneration >= dep.Generation &&
		s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want, nil
}

// podTrouble returns why the pods are known to be failing for good (a
// crash loop, too many restarts), or "" when they may still come up.
func podTrouble(pods []corev1.Pod, maxRestarts int32) string {
	var restarts int32
	for _, p := range pods {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				return fmt.Sprintf("pod %s container %s is in a crash loop", p.Name, cs.Name)
			}
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff" || w.Reason == "InvalidImageName") {
				return fmt.Sprintf("pod %s container %s cannot pull its image: %s", p.Name, cs.Name, w.Reason)
			}
			restarts += cs.RestartCount
		}
	}
	if restarts > maxRestarts {
		return fmt.Sprintf("%d container restarts (at most %d allowed)", restarts, maxRestarts)
	}
	return ""
}

// podsOf lists dep's pods that run image (all of them when image is "").
func (d *Deployer) podsOf(ctx context.Context, dep *appsv1.Deployment, image string) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s selector: %w", dep.Name, err)
	}
	pods, err := d.client.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", dep.Name, err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		// Pods of another Deployment with overlapping labels (the canary
		// beside the stable one) are not this one's.
		if sameTrack(dep, &p) && (image == "" || runs(&p, image)) {
			out = append(out, p)
		}
	}
	return out, nil
}

func runs(p *corev1.Pod, image string) bool {
	for _, c := range p.Spec.Containers {
		if c.Image == image {
			return true
		}
	}
	return false
}

func sameTrack(dep *appsv1.Deployment, p *corev1.Pod) bool {
	return dep.Spec.Template.Labels[LabelTrack] == p.Labels[LabelTrack]
}

// podCheck selects the pods (by image) whose failure ends a wait early.
type podCheck struct {
	image       string
	maxRestarts int32
}

// waitReady polls the Deployment until rolledOut, a known pod failure,
// or the progress deadline. A returned *failure is a reason to roll back.
// When check is set, its pods failing for good end the wait early.
func (d *Deployer) waitReady(ctx context.Context, ns, name string, deadline time.Duration, check *podCheck) error {
	end := d.clock.Now().Add(deadline)
	for {
		dep, err := d.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading deployment %s: %w", name, err)
		}
		done, err := rolledOut(dep)
		if err != nil || done {
			return err
		}
		if check != nil {
			// Only forward waits heed an abort: rollback waits pass no check.
			if _, err := d.signalled(ctx); err != nil {
				return err
			}
			pods, err := d.podsOf(ctx, dep, check.image)
			if err != nil {
				return err
			}
			if why := podTrouble(pods, check.maxRestarts); why != "" {
				return failed("deployment %s: %s", name, why)
			}
		}
		if !d.clock.Now().Before(end) {
			s := dep.Status
			return failed("deployment %s not ready after %s (%d updated, %d available of %d)",
				name, deadline, s.UpdatedReplicas, s.AvailableReplicas, derefReplicas(dep))
		}
		if err := d.sleep(ctx, d.poll); err != nil {
			return fmt.Errorf("waiting for deployment %s: %w", name, err)
		}
	}
}

func derefReplicas(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1
	}
	return *dep.Spec.Replicas
}

// cleanupContext outlives a cancelled rollout so the undo still happens.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}
