package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const trackCanary = "canary"

// canary runs App-canary beside the stable Deployment (same Service,
// traffic in proportion to pods), grows it step by step while analysing
// it, then gives stable the new image and removes the canary. On failure
// or abort only the canary goes; stable is not touched.
func (d *Deployer) canary(ctx context.Context, s Spec) error {
	deps := d.client.AppsV1().Deployments(s.Namespace)
	stable, err := deps.Get(ctx, s.App, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading stable deployment %s/%s: %w", s.Namespace, s.App, err)
	}
	canaryName := s.App + "-canary"
	dep, err := canaryFrom(stable, canaryName, s)
	if err != nil {
		return err
	}
	// A canary left by an interrupted rollout is replaced, not reused.
	if err := d.deleteDeployment(ctx, s.Namespace, canaryName); err != nil {
		return err
	}
	if _, err := deps.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating deployment %s: %w", canaryName, err)
	}
	abort := func(reason string, cause error) error {
		d.logf("canary: %s failed (%s); removing %s, stable untouched", s.App, reason, canaryName)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := d.deleteDeployment(cctx, s.Namespace, canaryName); err != nil {
			return &RollbackError{Strategy: Canary, Reason: reason, Err: errors.Join(cause, err)}
		}
		return &RollbackError{Strategy: Canary, Reason: reason, Restored: true, Err: cause}
	}
	total := derefReplicas(stable)
	check := &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}
	for i, pct := range s.Steps {
		n := stepReplicas(total, pct)
		d.logf("canary: step %d/%d: %d%% = %d of %d replicas", i+1, len(s.Steps), pct, n, total)
		if err := d.scale(ctx, s.Namespace, canaryName, n); err != nil {
			return abort("scaling the canary", err)
		}
		if err := d.waitReady(ctx, s.Namespace, canaryName, s.ProgressDeadline, check); err != nil {
			return abort(reasonOf(err), causeOf(err))
		}
		why, err := d.analyse(ctx, s, canaryName, check)
		if err != nil {
			return abort("analysis", err)
		}
		if why != "" {
			return abort(why, nil)
		}
		d.logf("canary: step %d/%d healthy", i+1, len(s.Steps))
	}

	d.logf("canary: promoting %s to stable %s", s.Image, s.App)
	prev := stable.Spec.Template.DeepCopy()
	var cerr error
	if err := d.update(ctx, s.Namespace, s.App, func(dep *appsv1.Deployment) {
		c, err := container(&dep.Spec.Template, s.Container)
		if err != nil {
			cerr = err
			return
		}
		c.Image = s.Image
	}); err != nil || cerr != nil {
		return abort("updating stable", errors.Join(err, cerr))
	}
	if err := d.waitReady(ctx, s.Namespace, s.App, s.ProgressDeadline, &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}); err != nil {
		reason := "stable rollout: " + reasonOf(err)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		rerr := d.restoreTemplate(cctx, s.Namespace, s.App, prev)
		if rerr == nil {
			rerr = d.waitReady(cctx, s.Namespace, s.App, s.ProgressDeadline, nil)
		}
		derr := d.deleteDeployment(cctx, s.Namespace, canaryName)
		if rerr != nil || derr != nil {
			return &RollbackError{Strategy: Canary, Reason: reason, Err: errors.Join(rerr, derr)}
		}
		return &RollbackError{Strategy: Canary, Reason: reason, Restored: true}
	}
	if err := d.deleteDeployment(ctx, s.Namespace, canaryName); err != nil {
		return fmt.Errorf("rollout done, but removing the canary: %w", err)
	}
	d.logf("canary: %s is live on %s; canary removed", s.App, s.Image)
	return nil
}

// causeOf keeps err as the cause unless it is a plain failure reason.
func causeOf(err error) error {
	var f *failure
	if errors.As(err, &f) {
		return nil
	}
	return err
}

// stepReplicas is pct of total, rounded up, at least one.
func stepReplicas(total int32, pct int) int32 {
	n := (int64(total)*int64(pct) + 99) / 100
	return int32(max(n, 1))
}

// canaryFrom copies stable's spec under name with the new image, zero
// replicas and the canary track label in selector and pod labels, so the
// Service (selecting the shared labels) sends it traffic while the stable
// Deployment's own pods stay apart.
func canaryFrom(stable *appsv1.Deployment, name string, s Spec) (*appsv1.Deployment, error) {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: stable.Namespace,
			Labels:    maps.Clone(stable.Labels),
		},
		Spec: *stable.Spec.DeepCopy(),
	}
	if dep.Labels == nil {
		dep.Labels = map[string]string{}
	}
	dep.Labels[LabelTrack] = trackCanary
	zero := int32(0)
	dep.Spec.Replicas = &zero
	sel := dep.Spec.Selector.DeepCopy()
	if sel == nil {
		sel = &metav1.LabelSelector{}
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[LabelTrack] = trackCanary
	dep.Spec.Selector = sel
	if dep.Spec.Template.Labels == nil {
		dep.Spec.Template.Labels = map[string]string{}
	}
	dep.Spec.Template.Labels[LabelTrack] = trackCanary
	c, err := container(&dep.Spec.Template, s.Container)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", stable.Name, err)
	}
	c.Image = s.Image
	return dep, nil
}

// analyse watches the canary for the step's pause (at least one look) and
// returns why it is unhealthy, or "".
func (d *Deployer) analyse(ctx context.Context, s Spec, name string, check *podCheck) (string, error) {
	end := d.clock.Now().Add(s.Pause)
	for {
		dep, err := d.client.AppsV1().Deployments(s.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("reading deployment %s: %w", name, err)
		}
		if want := derefReplicas(dep); dep.Status.ReadyReplicas < want || dep.Status.AvailableReplicas < want {
			return fmt.Sprintf("canary %s has %d of %d replicas ready", name, dep.Status.ReadyReplicas, want), nil
		}
		pods, err := d.podsOf(ctx, dep, check.image)
		if err != nil {
			return "", err
		}
		if why := podTrouble(pods, check.maxRestarts); why != "" {
			return fmt.Sprintf("canary %s: %s", name, why), nil
		}
		for _, q := range s.Analysis.Queries {
			v, err := d.metrics.Query(ctx, q.Query)
			if err != nil {
				return "", fmt.Errorf("analysis query %s: %w", q.Name, err)
			}
			if q.Min != nil && v < *q.Min {
				return fmt.Sprintf("analysis %s = %g, below the minimum %g", q.Name, v, *q.Min), nil
			}
			if q.Max != nil && v > *q.Max {
				return fmt.Sprintf("analysis %s = %g, above the maximum %g", q.Name, v, *q.Max), nil
			}
		}
		if !d.clock.Now().Before(end) {
			return "", nil
		}
		if err := d.clock.Sleep(ctx, min(d.poll, end.Sub(d.clock.Now()))); err != nil {
			return "", fmt.Errorf("pausing: %w", err)
		}
	}
}

// deleteDeployment removes a Deployment and waits until it and its pods
// are gone (foreground deletion keeps it until then); a missing one is fine.
func (d *Deployer) deleteDeployment(ctx context.Context, ns, name string) error {
	deps := d.client.AppsV1().Deployments(ns)
	fg := metav1.DeletePropagationForeground
	err := deps.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting deployment %s: %w", name, err)
	}
	end := d.clock.Now().Add(deleteTimeout)
	for {
		_, err := deps.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for deployment %s to go: %w", name, err)
		}
		if !d.clock.Now().Before(end) {
			return fmt.Errorf("deployment %s still there %s after its deletion", name, deleteTimeout)
		}
		if err := d.clock.Sleep(ctx, d.poll); err != nil {
			return fmt.Errorf("waiting for deployment %s to go: %w", name, err)
		}
	}
}

// deleteTimeout bounds the wait for a deleted canary's pods to terminate.
const deleteTimeout = 2 * time.Minute
