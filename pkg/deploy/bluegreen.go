package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

const (
	blue  = "blue"
	green = "green"
)

// blueGreen deploys to the idle colour, checks it, moves the Service
// selector to it and keeps the old colour for ScaleDownDelay so a switch
// back is instant. Until the switch, traffic never sees the new image.
func (d *Deployer) blueGreen(ctx context.Context, s Spec) error {
	svcs := d.client.CoreV1().Services(s.Namespace)
	svc, err := svcs.Get(ctx, s.App, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading service %s/%s: %w", s.Namespace, s.App, err)
	}
	active := svc.Spec.Selector[LabelColor]
	if active != blue && active != green {
		return fmt.Errorf("service %s: selector must hold %s=blue or %s=green, has %q", s.App, LabelColor, LabelColor, active)
	}
	idle := blue
	if active == blue {
		idle = green
	}
	activeName, idleName := s.App+"-"+active, s.App+"-"+idle
	deps := d.client.AppsV1().Deployments(s.Namespace)
	activeDep, err := deps.Get(ctx, activeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading active deployment %s: %w", activeName, err)
	}
	if err := d.prepareIdle(ctx, s, activeDep, idleName, idle); err != nil {
		return err
	}
	// The preview Service reaches the new colour before any user traffic
	// does; the smoke test goes through it (SmokeURL's {preview}).
	preview, err := d.ensurePreview(ctx, svc, idle)
	if err != nil {
		return err
	}
	d.status(ctx, "bluegreen: %s is %s; deploying %s to %s (preview: service %s)", s.App, active, s.Image, idleName, PreviewService(s.App))

	// rollback before the switch: the Service never moved, just stop idle.
	undoIdle := func(reason string, cause error) error {
		d.status(ctx, "bluegreen: %s failed (%s); scaling %s down, traffic stays on %s", s.App, reason, idleName, active)
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		if err := d.scale(cctx, s.Namespace, idleName, 0); err != nil {
			return &RollbackError{Strategy: rollout.BlueGreen, Reason: reason, Err: err}
		}
		return &RollbackError{Strategy: rollout.BlueGreen, Reason: reason, Restored: true, Err: cause}
	}
	if err := d.waitReady(ctx, s.Namespace, idleName, s.ProgressDeadline, &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}); err != nil {
		return undoIdle(reasonOf(err), nil)
	}
	if s.SmokeURL != "" {
		url := SmokeURL(s.SmokeURL, preview)
		if err := d.smokeUntilReachable(ctx, url); err != nil {
			return undoIdle("smoke test failed", err)
		}
		d.status(ctx, "bluegreen: smoke test %s passed", url)
	}
	if err := d.selectColor(ctx, s.Namespace, s.App, idle); err != nil {
		return undoIdle("switching the service", err)
	}
	d.status(ctx, "bluegreen: service %s now selects %s", s.App, idle)
	// The old colour is the idle one now; a failure of this is no reason
	// to undo a switch that worked, only worth a line.
	if err := d.selectColor(ctx, s.Namespace, PreviewService(s.App), active); err != nil {
		d.status(ctx, "bluegreen: pointing %s at %s: %v", PreviewService(s.App), active, err)
	}

	if s.ScaleDownDelay > 0 {
		d.status(ctx, "bluegreen: keeping %s for %s", activeName, s.ScaleDownDelay)
		if why, err := d.watchHealthy(ctx, s.Namespace, idleName, s.ScaleDownDelay); err != nil || why != "" {
			if err != nil {
				why = err.Error()
			}
			d.status(ctx, "bluegreen: %s unhealthy after the switch (%s); switching back to %s", idleName, why, active)
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			if serr := d.selectColor(cctx, s.Namespace, s.App, active); serr != nil {
				return &RollbackError{Strategy: rollout.BlueGreen, Reason: why, Err: serr}
			}
			_ = d.selectColor(cctx, s.Namespace, PreviewService(s.App), idle)
			if serr := d.scale(cctx, s.Namespace, idleName, 0); serr != nil {
				return &RollbackError{Strategy: rollout.BlueGreen, Reason: why, Err: serr}
			}
			return &RollbackError{Strategy: rollout.BlueGreen, Reason: why, Restored: true}
		}
	}
	if err := d.scale(ctx, s.Namespace, activeName, 0); err != nil {
		return fmt.Errorf("rollout done, but scaling down %s: %w", activeName, err)
	}
	d.status(ctx, "bluegreen: %s scaled down; %s is live on %s", activeName, s.App, idle)
	return nil
}

// PreviewService names the Service of app that selects the idle colour.
func PreviewService(app string) string { return app + "-preview" }

// PreviewPlaceholder in a smoke URL stands for the preview Service's
// address inside the cluster.
const PreviewPlaceholder = "{preview}"

// SmokeURL resolves a blue-green smoke URL against the preview Service:
// PreviewPlaceholder becomes its cluster IP, and a bare path ("/healthz")
// means http://IP:PORT/healthz on its first port, so the check reaches
// the new colour and never the live one. The IP, not the
// APP-preview.NAMESPACE.svc name, so the deploy pod needs no cluster DNS
// (and no DNS cache can send it to an old address); a headless preview
// falls back to the name.
func SmokeURL(raw string, preview *corev1.Service) string {
	host := preview.Name + "." + preview.Namespace + ".svc"
	if ip := preview.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		host = ip
		if strings.Contains(ip, ":") {
			host = "[" + ip + "]"
		}
	}
	if strings.HasPrefix(raw, "/") {
		if ps := preview.Spec.Ports; len(ps) > 0 && ps[0].Port != 80 {
			return "http://" + host + ":" + strconv.Itoa(int(ps[0].Port)) + raw
		}
		return "http://" + host + raw
	}
	return strings.ReplaceAll(raw, PreviewPlaceholder, host)
}

// ensurePreview creates or updates the preview Service: the app
// Service's selector and ports, on the idle colour.
func (d *Deployer) ensurePreview(ctx context.Context, svc *corev1.Service, idle string) (*corev1.Service, error) {
	name := PreviewService(svc.Name)
	svcs := d.client.CoreV1().Services(svc.Namespace)
	want := canaryService(svc, name, svc.Name, svc.Spec.Selector)
	want.Spec.Selector[LabelColor] = idle
	for range 5 {
		cur, err := svcs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			created, err := svcs.Create(ctx, want, metav1.CreateOptions{})
			if err == nil {
				return created, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("creating service %s: %w", name, err)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading service %s: %w", name, err)
		}
		if cur.Labels[LabelApp] != svc.Name {
			return nil, fmt.Errorf("service %s exists and is not %s's preview (label %s=%s missing)", name, svc.Name, LabelApp, svc.Name)
		}
		cur.Spec.Selector, cur.Spec.Ports = want.Spec.Selector, want.Spec.Ports
		updated, err := svcs.Update(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if !isConflict(err) {
			return nil, fmt.Errorf("updating service %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("updating service %s: conflicting writes", name)
}

// prepareIdle gives the idle colour the new image and the active replica
// count, creating it from the active Deployment the first time.
func (d *Deployer) prepareIdle(ctx context.Context, s Spec, activeDep *appsv1.Deployment, idleName, idle string) error {
	deps := d.client.AppsV1().Deployments(s.Namespace)
	replicas := derefReplicas(activeDep)
	_, err := deps.Get(ctx, idleName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		dep := colored(activeDep, idleName, idle)
		dep.Spec.Replicas = &replicas
		c, err := container(&dep.Spec.Template, s.Container)
		if err != nil {
			return fmt.Errorf("deployment %s: %w", activeDep.Name, err)
		}
		swapImage(c, s.Image)
		if _, err := deps.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating deployment %s: %w", idleName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading idle deployment %s: %w", idleName, err)
	}
	var cerr error
	err = d.update(ctx, s.Namespace, idleName, func(dep *appsv1.Deployment) {
		dep.Spec.Replicas = &replicas
		c, err := container(&dep.Spec.Template, s.Container)
		if err != nil {
			cerr = err
			return
		}
		swapImage(c, s.Image)
	})
	if cerr != nil {
		return fmt.Errorf("deployment %s: %w", idleName, cerr)
	}
	return err
}

// colored copies src under a new name with the colour label replaced in
// its selector and pod template.
func colored(src *appsv1.Deployment, name, color string) *appsv1.Deployment {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   src.Namespace,
			Labels:      maps.Clone(src.Labels),
			Annotations: maps.Clone(src.Annotations),
		},
		Spec: *src.Spec.DeepCopy(),
	}
	delete(dep.Annotations, "deployment.kubernetes.io/revision")
	if dep.Labels == nil {
		dep.Labels = map[string]string{}
	}
	dep.Labels[LabelColor] = color
	if dep.Spec.Selector == nil {
		dep.Spec.Selector = &metav1.LabelSelector{}
	}
	if dep.Spec.Selector.MatchLabels == nil {
		dep.Spec.Selector.MatchLabels = map[string]string{}
	}
	dep.Spec.Selector.MatchLabels[LabelColor] = color
	if dep.Spec.Template.Labels == nil {
		dep.Spec.Template.Labels = map[string]string{}
	}
	dep.Spec.Template.Labels[LabelColor] = color
	return dep
}

// selectColor points the Service at one colour.
func (d *Deployer) selectColor(ctx context.Context, ns, name, color string) error {
	svcs := d.client.CoreV1().Services(ns)
	var err error
	for range 5 {
		svc, gerr := svcs.Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("reading service %s: %w", name, gerr)
		}
		svc.Spec.Selector = maps.Clone(svc.Spec.Selector)
		svc.Spec.Selector[LabelColor] = color
		if _, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err == nil || !isConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("updating service %s selector: %w", name, err)
	}
	return nil
}

func (d *Deployer) scale(ctx context.Context, ns, name string, replicas int32) error {
	return d.update(ctx, ns, name, func(dep *appsv1.Deployment) { dep.Spec.Replicas = &replicas })
}

// watchHealthy polls the Deployment for dur and returns why it stopped
// being fully available, or "" when it stayed healthy.
func (d *Deployer) watchHealthy(ctx context.Context, ns, name string, dur time.Duration) (string, error) {
	end := d.clock.Now().Add(dur)
	for {
		dep, err := d.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("reading deployment %s: %w", name, err)
		}
		if want := derefReplicas(dep); dep.Status.AvailableReplicas < want {
			return fmt.Sprintf("deployment %s has %d of %d replicas available", name, dep.Status.AvailableReplicas, want), nil
		}
		pods, err := d.podsOf(ctx, dep, "")
		if err != nil {
			return "", err
		}
		if why := podTrouble(pods, 0); why != "" {
			return fmt.Sprintf("deployment %s: %s", name, why), nil
		}
		if _, err := d.signalled(ctx); err != nil {
			return reasonOf(err), nil
		}
		if !d.clock.Now().Before(end) {
			return "", nil
		}
		if err := d.sleep(ctx, min(d.poll, end.Sub(d.clock.Now()))); err != nil {
			return "", fmt.Errorf("watching deployment %s: %w", name, err)
		}
	}
}

// smokeReach bounds how long a smoke URL that does not answer at all is
// tried again: the preview Service's endpoints (and kube-proxy's rules for
// them) follow the new pods' readiness by a moment.
const smokeReach = 30 * time.Second

// smokeUntilReachable is smoke, tried again while url gives no answer at
// all, for up to smokeReach; an answer other than 2xx fails at once.
func (d *Deployer) smokeUntilReachable(ctx context.Context, url string) error {
	end := d.clock.Now().Add(smokeReach)
	for {
		err := d.smoke(ctx, url)
		var status *smokeStatusError
		if err == nil || errors.As(err, &status) || !d.clock.Now().Before(end) || ctx.Err() != nil {
			return err
		}
		if serr := d.sleep(ctx, d.poll); serr != nil {
			return err
		}
	}
}

// smokeStatusError is a smoke URL's answer other than 2xx.
type smokeStatusError struct{ url, status string }

func (e *smokeStatusError) Error() string {
	return fmt.Sprintf("smoke GET %s: status %s", e.url, e.status)
}

// smoke GETs url and wants a 2xx answer.
func (d *Deployer) smoke(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("smoke url %q: %w", url, err)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("smoke GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &smokeStatusError{url: url, status: resp.Status}
	}
	return nil
}
