package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Labels on the objects Slipway creates for an app beside the user's own,
// so DeleteApp can tell them apart.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "slipway"
	// LabelApp names the app an object was created for.
	LabelApp = "slipway.dev/app"
	// LabelCanaryOf is on the pods of a canary whose traffic is weighted:
	// they must not match the stable Service, so they carry this instead
	// of its selector labels.
	LabelCanaryOf = "slipway.dev/canary-of"
)

// ingress-nginx canary annotations.
const (
	nginxCanary       = "nginx.ingress.kubernetes.io/canary"
	nginxCanaryWeight = "nginx.ingress.kubernetes.io/canary-weight"
)

// HTTPRouteGVR is the Gateway API HTTPRoute resource.
var HTTPRouteGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// router sends a share of an app's traffic to its canary Service.
type router interface {
	// setWeight sends pct percent to the canary, the rest to stable.
	setWeight(ctx context.Context, pct int) error
	// remove sends everything to stable again and deletes what setWeight made.
	remove(ctx context.Context) error
}

// routers are several routers driven together.
type routers []router

func (rs routers) setWeight(ctx context.Context, pct int) error {
	for _, r := range rs {
		if err := r.setWeight(ctx, pct); err != nil {
			return err
		}
	}
	return nil
}

// remove undoes every router, even after one fails.
func (rs routers) remove(ctx context.Context) error {
	var errs []error
	for _, r := range rs {
		errs = append(errs, r.remove(ctx))
	}
	return errors.Join(errs...)
}

// httpRoute splits the backendRefs to Service stable of an HTTPRoute with
// Service canary.
type httpRoute struct {
	client         dynamic.Interface
	ns, name       string
	stable, canary string
	// orig holds the stable refs' weights before the first change (nil =
	// unset), per rule index, so remove puts back exactly what was there.
	orig map[int]*int64
}

var _ router = (*httpRoute)(nil)

func (h *httpRoute) setWeight(ctx context.Context, pct int) error {
	return h.edit(ctx, func(rule int, refs []any) ([]any, error) {
		var out []any
		for _, r := range refs {
			ref, _ := r.(map[string]any)
			if !isServiceRef(ref, h.canary) {
				out = append(out, r)
			}
		}
		for _, r := range out {
			ref, _ := r.(map[string]any)
			if !isServiceRef(ref, h.stable) {
				continue
			}
			if h.orig == nil {
				h.orig = map[int]*int64{}
			}
			if _, seen := h.orig[rule]; !seen {
				var w *int64
				if v, ok, _ := unstructured.NestedInt64(ref, "weight"); ok {
					w = &v
				}
				h.orig[rule] = w
			}
			ref["weight"] = int64(100 - pct)
			c := map[string]any{"name": h.canary, "weight": int64(pct)}
			for _, k := range []string{"port", "namespace"} {
				if v, ok := ref[k]; ok {
					c[k] = v
				}
			}
			return append(out, c), nil
		}
		return refs, nil
	}, true)
}

func (h *httpRoute) remove(ctx context.Context) error {
	return h.edit(ctx, func(rule int, refs []any) ([]any, error) {
		var out []any
		for _, r := range refs {
			ref, _ := r.(map[string]any)
			if isServiceRef(ref, h.canary) {
				continue
			}
			if isServiceRef(ref, h.stable) {
				if w, ok := h.orig[rule]; ok && w != nil {
					ref["weight"] = *w
				} else {
					delete(ref, "weight")
				}
			}
			out = append(out, r)
		}
		return out, nil
	}, false)
}

// edit applies change to the backendRefs of every rule and writes the
// route back, retrying on conflicts. With mustMatch, a route without a
// backendRef to the stable Service is an error (nothing would be split).
func (h *httpRoute) edit(ctx context.Context, change func(rule int, refs []any) ([]any, error), mustMatch bool) error {
	res := h.client.Resource(HTTPRouteGVR).Namespace(h.ns)
	var err error
	for range 5 {
		var u *unstructured.Unstructured
		u, err = res.Get(ctx, h.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading httproute %s/%s: %w", h.ns, h.name, err)
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		matched := false
		for i, r := range rules {
			rule, ok := r.(map[string]any)
			if !ok {
				continue
			}
			refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
			for _, ref := range refs {
				if m, _ := ref.(map[string]any); isServiceRef(m, h.stable) {
					matched = true
				}
			}
			out, cerr := change(i, refs)
			if cerr != nil {
				return cerr
			}
			rule["backendRefs"] = out
		}
		if mustMatch && !matched {
			return fmt.Errorf("httproute %s/%s has no backendRef to service %s", h.ns, h.name, h.stable)
		}
		if err = unstructured.SetNestedSlice(u.Object, rules, "spec", "rules"); err != nil {
			return fmt.Errorf("httproute %s/%s: %w", h.ns, h.name, err)
		}
		if _, err = res.Update(ctx, u, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("updating httproute %s/%s: %w", h.ns, h.name, err)
	}
	return nil
}

// isServiceRef: a backendRef to the core Service name (group and kind
// default to it).
func isServiceRef(ref map[string]any, name string) bool {
	if ref == nil || ref["name"] != name {
		return false
	}
	g, _ := ref["group"].(string)
	k, _ := ref["kind"].(string)
	return g == "" && (k == "" || k == "Service")
}

// nginxIngress keeps a canary copy of an Ingress whose backends to the
// stable Service point at the canary one; ingress-nginx sends it
// canary-weight percent of the matching requests.
type nginxIngress struct {
	client         kubernetes.Interface
	ns, name, app  string
	stable, canary string
}

var _ router = (*nginxIngress)(nil)

func (n *nginxIngress) copyName() string { return n.name + "-canary" }

func (n *nginxIngress) setWeight(ctx context.Context, pct int) error {
	ings := n.client.NetworkingV1().Ingresses(n.ns)
	existing, err := ings.Get(ctx, n.copyName(), metav1.GetOptions{})
	if err == nil {
		existing.Annotations = maps.Clone(existing.Annotations)
		if existing.Annotations == nil {
			existing.Annotations = map[string]string{}
		}
		existing.Annotations[nginxCanaryWeight] = strconv.Itoa(pct)
		if _, err := ings.Update(ctx, existing, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating ingress %s: %w", n.copyName(), err)
		}
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading ingress %s: %w", n.copyName(), err)
	}
	orig, err := ings.Get(ctx, n.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading ingress %s/%s: %w", n.ns, n.name, err)
	}
	c := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{
			Name:      n.copyName(),
			Namespace: n.ns,
			Labels:    map[string]string{LabelManagedBy: managedBy, LabelApp: n.app},
			Annotations: map[string]string{
				nginxCanary:       "true",
				nginxCanaryWeight: strconv.Itoa(pct),
			},
		},
		Spec: *orig.Spec.DeepCopy(),
	}
	// Only the rules: ingress-nginx takes TLS and the default backend
	// from the main Ingress.
	c.Spec.TLS, c.Spec.DefaultBackend = nil, nil
	found := false
	for i := range c.Spec.Rules {
		if c.Spec.Rules[i].HTTP == nil {
			continue
		}
		for j := range c.Spec.Rules[i].HTTP.Paths {
			if svc := c.Spec.Rules[i].HTTP.Paths[j].Backend.Service; svc != nil && svc.Name == n.stable {
				svc.Name = n.canary
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("ingress %s/%s has no path to service %s", n.ns, n.name, n.stable)
	}
	if _, err := ings.Create(ctx, c, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating ingress %s: %w", c.Name, err)
	}
	return nil
}

func (n *nginxIngress) remove(ctx context.Context) error {
	err := n.client.NetworkingV1().Ingresses(n.ns).Delete(ctx, n.copyName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ingress %s: %w", n.copyName(), err)
	}
	return nil
}

// canaryService is the Service the routers send the canary's share to:
// stable's ports, selecting only the canary's pods.
func canaryService(stable *corev1.Service, name, app string, selector map[string]string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: stable.Namespace,
			Labels:    map[string]string{LabelManagedBy: managedBy, LabelApp: app},
		},
		Spec: corev1.ServiceSpec{
			Selector: maps.Clone(selector),
			Type:     corev1.ServiceTypeClusterIP,
		},
	}
	for _, p := range stable.Spec.Ports {
		p.NodePort = 0
		svc.Spec.Ports = append(svc.Spec.Ports, p)
	}
	return svc
}
