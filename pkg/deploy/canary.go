package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

const trackCanary = "canary"

// AnnotationStableReplicas is on a stable Deployment a canary shrank: its
// full replica count, to restore on abort or by RemoveCanary.
const AnnotationStableReplicas = "slipway.dev/stable-replicas"

// canary runs App-canary beside the stable Deployment (same Service,
// traffic in proportion to pods), grows it step by step while analysing
// it and shrinks stable by as many pods, so each step's share of pods is
// the declared one; then it gives stable the new image at full size and
// removes the canary. On failure or abort stable gets its full size back
// (its remaining pods were never replaced) and the canary goes.
func (d *Deployer) canary(ctx context.Context, s Spec) error {
	deps := d.client.AppsV1().Deployments(s.Namespace)
	stable, err := deps.Get(ctx, s.App, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading stable deployment %s/%s: %w", s.Namespace, s.App, err)
	}
	canaryName := s.App + "-canary"
	weighted := s.HTTPRoute != "" || s.NginxIngress != ""
	var stableSvc *corev1.Service
	if weighted {
		if stableSvc, err = d.client.CoreV1().Services(s.Namespace).Get(ctx, s.App, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading service %s/%s: %w", s.Namespace, s.App, err)
		}
	}
	dep, err := canaryFrom(stable, canaryName, s, stableSvc)
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
	var route routers
	if weighted {
		if route, err = d.routing(ctx, s, stableSvc, canaryName, dep.Spec.Selector.MatchLabels); err != nil {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			return errors.Join(err, d.removeRouting(cctx, s, route, canaryName), d.deleteDeployment(cctx, s.Namespace, canaryName))
		}
	}
	total := stableReplicas(stable)
	// Record the full size before stable shrinks, so RemoveCanary (and a
	// rollout restarted after a kill) can give stable its pods back.
	if err := d.update(ctx, s.Namespace, s.App, func(dep *appsv1.Deployment) {
		if dep.Annotations == nil {
			dep.Annotations = map[string]string{}
		}
		dep.Annotations[AnnotationStableReplicas] = strconv.Itoa(int(total))
	}); err != nil {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		return errors.Join(err, d.removeRouting(cctx, s, route, canaryName), d.deleteDeployment(cctx, s.Namespace, canaryName))
	}
	abort := func(reason string, cause error) error {
		d.status(ctx, "canary: %s failed (%s); restoring %d stable replicas, removing %s", s.App, reason, total, canaryName)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		// Stable back to full size before the canary goes, so capacity
		// never drops; then traffic, so no request reaches a canary that
		// is going.
		err := d.restoreStable(cctx, s.Namespace, s.App, total, s.ProgressDeadline)
		if err = errors.Join(err, d.removeRouting(cctx, s, route, canaryName), d.deleteDeployment(cctx, s.Namespace, canaryName)); err != nil {
			return &RollbackError{Strategy: rollout.Canary, Reason: reason, Err: errors.Join(cause, err)}
		}
		return &RollbackError{Strategy: rollout.Canary, Reason: reason, Restored: true, Err: cause}
	}
	check := &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}
	for i, pct := range s.Steps {
		n, rest := canarySplit(total, pct)
		d.status(ctx, "canary %d%%: %d canary + %d stable replicas (step %d/%d)", pct, n, rest, i+1, len(s.Steps))
		if err := d.scale(ctx, s.Namespace, canaryName, n); err != nil {
			return abort("scaling the canary", err)
		}
		if err := d.waitReady(ctx, s.Namespace, canaryName, s.ProgressDeadline, check); err != nil {
			return abort(reasonOf(err), causeOf(err))
		}
		// With weighted routing the weight moves before stable shrinks: a
		// gateway drops terminating pods from its backends at once, so
		// stable scaled to 0 while the route still gave it a share would
		// answer that share with errors until the weight followed (Traefik
		// does: 503, no available server).
		if route != nil {
			if err := route.setWeight(ctx, pct); err != nil {
				return abort("setting the traffic weight", err)
			}
		}
		// Stable shrinks only once the canary's pods are ready, and only
		// by removing pods: the ones that stay are never replaced.
		if err := d.scale(ctx, s.Namespace, s.App, rest); err != nil {
			return abort("scaling stable down", err)
		}
		why, err := d.analyse(ctx, s, canaryName, check, pct)
		if err != nil {
			return abort("analysis", err)
		}
		if why != "" {
			return abort(why, nil)
		}
		d.logf("canary: step %d/%d healthy", i+1, len(s.Steps))
	}

	d.status(ctx, "canary: promoting %s to stable %s", s.Image, s.App)
	prev := stable.Spec.Template.DeepCopy()
	var cerr error
	if err := d.update(ctx, s.Namespace, s.App, func(dep *appsv1.Deployment) {
		c, err := container(&dep.Spec.Template, s.Container)
		if err != nil {
			cerr = err
			return
		}
		swapImage(c, s.Image)
		dep.Spec.Replicas = &total
		delete(dep.Annotations, AnnotationStableReplicas)
	}); err != nil || cerr != nil {
		return abort("updating stable", errors.Join(err, cerr))
	}
	if err := d.waitReady(ctx, s.Namespace, s.App, s.ProgressDeadline, &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}); err != nil {
		reason := "stable rollout: " + reasonOf(err)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		rerr := d.restoreTemplate(cctx, s.Namespace, s.App, prev)
		if rerr == nil {
			rerr = d.restoreStable(cctx, s.Namespace, s.App, total, s.ProgressDeadline)
		}
		derr := errors.Join(d.removeRouting(cctx, s, route, canaryName), d.deleteDeployment(cctx, s.Namespace, canaryName))
		if rerr != nil || derr != nil {
			return &RollbackError{Strategy: rollout.Canary, Reason: reason, Err: errors.Join(rerr, derr)}
		}
		return &RollbackError{Strategy: rollout.Canary, Reason: reason, Restored: true}
	}
	if err := d.removeRouting(ctx, s, route, canaryName); err != nil {
		return fmt.Errorf("rollout done, but restoring the traffic weights: %w", err)
	}
	if err := d.deleteDeployment(ctx, s.Namespace, canaryName); err != nil {
		return fmt.Errorf("rollout done, but removing the canary: %w", err)
	}
	d.status(ctx, "canary: %s is live on %s; canary removed", s.App, s.Image)
	return nil
}

// routing creates the canary Service and the routers the Spec names; on
// an error it returns what it made so far, for removal.
func (d *Deployer) routing(ctx context.Context, s Spec, stableSvc *corev1.Service, canaryName string, selector map[string]string) (routers, error) {
	svcs := d.client.CoreV1().Services(s.Namespace)
	if err := svcs.Delete(ctx, canaryName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("deleting a leftover service %s: %w", canaryName, err)
	}
	if _, err := svcs.Create(ctx, canaryService(stableSvc, canaryName, s.App, selector), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating service %s: %w", canaryName, err)
	}
	rs := d.routersFor(s, canaryName)
	// Weight 0 first: it checks the route/ingress reference the stable
	// Service before any canary pod can get traffic.
	if err := rs.setWeight(ctx, 0); err != nil {
		return rs, err
	}
	return rs, nil
}

// routersFor are the routers s names for the canary Service canaryName.
func (d *Deployer) routersFor(s Spec, canaryName string) routers {
	var rs routers
	if s.HTTPRoute != "" {
		// "NAMESPACE/NAME": a route beside the Gateway may point across
		// namespaces (with a ReferenceGrant); default the app's namespace.
		ns, name, ok := strings.Cut(s.HTTPRoute, "/")
		if !ok {
			ns, name = s.Namespace, s.HTTPRoute
		}
		rs = append(rs, &httpRoute{client: d.dynamic, ns: ns, name: name, stable: s.App, canary: canaryName})
	}
	if s.NginxIngress != "" {
		rs = append(rs, &nginxIngress{client: d.client, ns: s.Namespace, name: s.NginxIngress, app: s.App, stable: s.App, canary: canaryName})
	}
	return rs
}

// RemoveCanary removes what a canary rollout of s.App left behind when it
// was killed before its own cleanup could run (its deploy PipelineRun
// timed out or was cancelled): stable gets its full size back, traffic
// goes back to stable, then the
// canary Service, the ingress-nginx canary copy and the canary Deployment
// go. Stable keeps its pods and template; nothing left is no error.
func (d *Deployer) RemoveCanary(ctx context.Context, s Spec) error {
	if s.Namespace == "" || s.App == "" {
		return errors.New("namespace and app are required")
	}
	if s.HTTPRoute != "" && d.dynamic == nil {
		return errors.New("an HTTPRoute needs a dynamic client")
	}
	canaryName := s.App + "-canary"
	// Stable first gets back the pods the canary took, so capacity never
	// drops; then traffic, so no request reaches a canary that is going.
	stable, err := d.client.AppsV1().Deployments(s.Namespace).Get(ctx, s.App, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading stable deployment %s/%s: %w", s.Namespace, s.App, err)
	case stable.Annotations[AnnotationStableReplicas] != "":
		s.defaults()
		if err := d.restoreStable(ctx, s.Namespace, s.App, stableReplicas(stable), s.ProgressDeadline); err != nil {
			return err
		}
	}
	return errors.Join(d.removeRouting(ctx, s, d.routersFor(s, canaryName), canaryName), d.deleteDeployment(ctx, s.Namespace, canaryName))
}

// removeRouting sends all traffic to stable again and deletes the canary
// Service; without weighted routing it does nothing.
func (d *Deployer) removeRouting(ctx context.Context, s Spec, rs routers, canaryName string) error {
	if s.HTTPRoute == "" && s.NginxIngress == "" {
		return nil
	}
	err := rs.remove(ctx)
	if derr := d.client.CoreV1().Services(s.Namespace).Delete(ctx, canaryName, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
		err = errors.Join(err, fmt.Errorf("deleting service %s: %w", canaryName, derr))
	}
	return err
}

// causeOf keeps err as the cause unless it is a plain failure reason.
func causeOf(err error) error {
	var f *failure
	if errors.As(err, &f) {
		return nil
	}
	return err
}

// canarySplit sizes a step so the canary's share of pods is pct: the
// canary gets pct of total rounded to the nearest pod (halves up), at
// least one, and stable the rest. Below 100 % stable keeps at least one
// pod, so with very few replicas a step's share is the nearest possible
// (10 % of 1 is 1 canary + 1 stable).
func canarySplit(total int32, pct int) (canary, stable int32) {
	canary = int32(max((int64(total)*int64(pct)+50)/100, 1))
	switch {
	case pct >= 100 || total == 0:
		return canary, 0
	case total == 1:
		return 1, 1
	}
	canary = min(canary, total-1)
	return canary, total - canary
}

// stableReplicas is stable's full size: the one recorded before an
// interrupted canary shrank it, else its spec.
func stableReplicas(dep *appsv1.Deployment) int32 {
	if v, err := strconv.ParseInt(dep.Annotations[AnnotationStableReplicas], 10, 32); err == nil && v >= 0 {
		return int32(v)
	}
	return derefReplicas(dep)
}

// restoreStable gives stable its full size back, drops the recorded size
// and waits until its pods are ready.
func (d *Deployer) restoreStable(ctx context.Context, ns, name string, total int32, deadline time.Duration) error {
	if err := d.update(ctx, ns, name, func(dep *appsv1.Deployment) {
		dep.Spec.Replicas = &total
		delete(dep.Annotations, AnnotationStableReplicas)
	}); err != nil {
		return fmt.Errorf("restoring %d stable replicas: %w", total, err)
	}
	if err := d.waitReady(ctx, ns, name, deadline, nil); err != nil {
		return fmt.Errorf("stable not ready again: %w", err)
	}
	return nil
}

// canaryFrom copies stable's spec under name with the new image, zero
// replicas and the canary track label in selector and pod labels, so the
// Service (selecting the shared labels) sends it traffic while the stable
// Deployment's own pods stay apart. With weighted routing (svc set) the
// canary's pods must not match the stable Service: they lose its selector
// labels and are selected by track and LabelCanaryOf instead.
func canaryFrom(stable *appsv1.Deployment, name string, s Spec, svc *corev1.Service) (*appsv1.Deployment, error) {
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
	dep.Labels[LabelManagedBy] = managedBy
	dep.Labels[LabelApp] = s.App
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
	if dep.Spec.Template.Labels == nil {
		dep.Spec.Template.Labels = map[string]string{}
	}
	dep.Spec.Template.Labels[LabelTrack] = trackCanary
	if svc != nil {
		if len(svc.Spec.Selector) == 0 {
			return nil, fmt.Errorf("service %s has no selector to keep the canary out of", svc.Name)
		}
		sel = &metav1.LabelSelector{MatchLabels: map[string]string{LabelTrack: trackCanary, LabelCanaryOf: s.App}}
		for k := range svc.Spec.Selector {
			delete(dep.Spec.Template.Labels, k)
		}
		dep.Spec.Template.Labels[LabelCanaryOf] = s.App
	}
	dep.Spec.Selector = sel
	c, err := container(&dep.Spec.Template, s.Container)
	if err != nil {
		return nil, fmt.Errorf("deployment %s: %w", stable.Name, err)
	}
	swapImage(c, s.Image)
	return dep, nil
}

// analyse watches the canary for the step's pause (at least one look),
// or with a manual pause until one more continue was signalled, and
// returns why it is unhealthy or aborted, or "".
//
// Each look runs the analysis queries. A value out of bounds is a
// failure, and failures beyond a query's FailureLimit abort the step. No
// data, NaN or an unanswered query is inconclusive: beyond the query's
// InconclusiveLimit the step holds, paused for a human, until a continue
// (which clears the counts and resumes the step's remaining time) or an
// abort; the pods are still watched while it holds.
func (d *Deployer) analyse(ctx context.Context, s Spec, name string, check *podCheck, pct int) (string, error) {
	end := d.clock.Now().Add(s.Pause)
	if s.ManualPause {
		d.status(ctx, "paused at canary %d%%: waiting for continue", pct)
	} else {
		d.status(ctx, "canary %d%%: analysing %s", pct, s.Pause)
	}
	failures := make([]int, len(s.Analysis.Queries))
	inconclusive := make([]int, len(s.Analysis.Queries))
	held, left := false, time.Duration(0)
	for {
		continues, err := d.signalled(ctx)
		if err != nil {
			return reasonOf(err), causeOf(err)
		}
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
		if held && continues > d.sig.waited {
			d.sig.waited++
			held, end = false, d.clock.Now().Add(left)
			clear(failures)
			clear(inconclusive)
			d.status(ctx, "canary %d%%: analysing again after a continue, %s left", pct, left.Round(time.Second))
			continue
		}
		if !held {
			why, hold, err := d.look(ctx, s.Analysis.Queries, pct, failures, inconclusive)
			if err != nil || why != "" {
				return why, err
			}
			if hold != "" {
				held, left = true, max(end.Sub(d.clock.Now()), 0)
				d.status(ctx, "%s", hold)
			}
		}
		wait := d.poll
		switch {
		case held:
		case s.ManualPause:
			if continues > d.sig.waited {
				d.sig.waited++
				return "", nil
			}
		default:
			if !d.clock.Now().Before(end) {
				return "", nil
			}
			wait = min(wait, end.Sub(d.clock.Now()))
		}
		if err := d.sleep(ctx, wait); err != nil {
			return "", fmt.Errorf("pausing: %w", err)
		}
	}
}

// look runs each query once, counting into failures and inconclusive (one
// slot per query). It returns why the step fails (a query's failures
// beyond its limit), or the progress line of a hold (its inconclusive
// looks beyond their limit), or neither.
func (d *Deployer) look(ctx context.Context, qs []Query, pct int, failures, inconclusive []int) (why, hold string, err error) {
	for i, q := range qs {
		v, err := d.metrics.Query(ctx, q.Query)
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("analysis query %s: %w", q.Name, ctx.Err())
		}
		if err != nil {
			if inconclusive[i]++; inconclusive[i] > q.InconclusiveLimit {
				return "", fmt.Sprintf("paused at canary %d%%: analysis %s inconclusive %d times (%v); continue to go on, abort to roll back", pct, q.Name, inconclusive[i], err), nil
			}
			d.logf("canary %d%%: analysis %s inconclusive (%d of %d allowed): %v", pct, q.Name, inconclusive[i], q.InconclusiveLimit, err)
			continue
		}
		why := breach(q, v)
		if why == "" {
			continue
		}
		if failures[i]++; failures[i] > q.FailureLimit {
			if q.FailureLimit > 0 {
				why += fmt.Sprintf(" (%d failures, %d allowed)", failures[i], q.FailureLimit)
			}
			return why, "", nil
		}
		d.logf("canary %d%%: %s (%d of %d failures allowed)", pct, why, failures[i], q.FailureLimit)
	}
	return "", "", nil
}

// breach says how v breaks q's bounds, or "".
func breach(q Query, v float64) string {
	if q.Min != nil && v < *q.Min {
		return fmt.Sprintf("analysis %s = %g, below the minimum %g", q.Name, v, *q.Min)
	}
	if q.Max != nil && v > *q.Max {
		return fmt.Sprintf("analysis %s = %g, above the maximum %g", q.Name, v, *q.Max)
	}
	return ""
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
		if err := d.sleep(ctx, d.poll); err != nil {
			return fmt.Errorf("waiting for deployment %s to go: %w", name, err)
		}
	}
}

// deleteTimeout bounds the wait for a deleted canary's pods to terminate.
const deleteTimeout = 2 * time.Minute
