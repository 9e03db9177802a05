package deploy

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// rolling sets the image on the Deployment and waits for the controller to
// roll it out; on failure it puts the previous pod template back.
func (d *Deployer) rolling(ctx context.Context, s Spec) error {
	deps := d.client.AppsV1().Deployments(s.Namespace)
	dep, err := deps.Get(ctx, s.App, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %s/%s: %w", s.Namespace, s.App, err)
	}
	prev := dep.Spec.Template.DeepCopy()
	c, err := container(&dep.Spec.Template, s.Container)
	if err != nil {
		return fmt.Errorf("deployment %s: %w", s.App, err)
	}
	d.logf("rolling: %s container %s: %s -> %s", s.App, c.Name, c.Image, s.Image)
	// Read-modify-write with retries: the controller's status writes and
	// our own progress annotation move the resourceVersion meanwhile.
	if err := d.update(ctx, s.Namespace, s.App, func(dep *appsv1.Deployment) {
		if c, err := container(&dep.Spec.Template, s.Container); err == nil {
			swapImage(c, s.Image)
		}
	}); err != nil {
		return err
	}
	d.status(ctx, "rolling: waiting for %d replicas of the new image", derefReplicas(dep))
	err = d.waitReady(ctx, s.Namespace, s.App, s.ProgressDeadline, &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts})
	if err == nil {
		d.status(ctx, "rolling: %s is rolled out", s.App)
		return nil
	}
	reason := reasonOf(err)
	d.status(ctx, "rolling: %s failed (%s); restoring the previous template", s.App, reason)
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if rerr := d.restoreTemplate(cctx, s.Namespace, s.App, prev); rerr != nil {
		return &RollbackError{Strategy: rollout.Rolling, Reason: reason, Err: rerr}
	}
	if werr := d.waitReady(cctx, s.Namespace, s.App, s.ProgressDeadline, nil); werr != nil {
		return &RollbackError{Strategy: rollout.Rolling, Reason: reason, Err: fmt.Errorf("previous template not ready again: %w", werr)}
	}
	d.status(ctx, "rolling: %s is back on the previous template", s.App)
	return &RollbackError{Strategy: rollout.Rolling, Reason: reason, Restored: true}
}

// restoreTemplate puts tmpl back on the Deployment, retrying on conflicts
// with the controller's own writes.
func (d *Deployer) restoreTemplate(ctx context.Context, ns, name string, tmpl *corev1.PodTemplateSpec) error {
	return d.update(ctx, ns, name, func(dep *appsv1.Deployment) { dep.Spec.Template = *tmpl.DeepCopy() })
}

// update reads, changes and writes a Deployment, again on a conflict.
func (d *Deployer) update(ctx context.Context, ns, name string, change func(*appsv1.Deployment)) error {
	deps := d.client.AppsV1().Deployments(ns)
	var err error
	for range 5 {
		var dep *appsv1.Deployment
		dep, err = deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading deployment %s: %w", name, err)
		}
		change(dep)
		if _, err = deps.Update(ctx, dep, metav1.UpdateOptions{}); err == nil {
			return nil
		}
		if !isConflict(err) {
			break
		}
	}
	return fmt.Errorf("updating deployment %s: %w", name, err)
}

// container finds the named container, or the first when name is "".
func container(t *corev1.PodTemplateSpec, name string) (*corev1.Container, error) {
	if len(t.Spec.Containers) == 0 {
		return nil, fmt.Errorf("pod template has no containers")
	}
	if name == "" {
		return &t.Spec.Containers[0], nil
	}
	for i := range t.Spec.Containers {
		if t.Spec.Containers[i].Name == name {
			return &t.Spec.Containers[i], nil
		}
	}
	return nil, fmt.Errorf("no container named %q", name)
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }
