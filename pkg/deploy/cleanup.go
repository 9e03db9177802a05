package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DeleteApp removes what Slipway created for app in namespace; see
// DeleteAppObjects.
func DeleteApp(ctx context.Context, kc kubernetes.Interface, namespace, app string) error {
	_, err := DeleteAppObjects(ctx, kc, namespace, app)
	return err
}

// DeleteAppObjects deletes, in namespace, the Deployments app, app-blue,
// app-green and app-canary, the Services app, app-canary and app-preview, and the
// Ingresses labelled for app — each only when it carries
// app.kubernetes.io/managed-by=slipway or a slipway.dev/ label, so an
// object a user made by hand is never touched. It returns what it deleted
// ("deployment/web-canary"), sorted; objects already gone are skipped.
func DeleteAppObjects(ctx context.Context, kc kubernetes.Interface, namespace, app string) ([]string, error) {
	return appObjects(ctx, kc, namespace, app, false)
}

// AppObjects lists what DeleteAppObjects would delete, deleting nothing.
func AppObjects(ctx context.Context, kc kubernetes.Interface, namespace, app string) ([]string, error) {
	return appObjects(ctx, kc, namespace, app, true)
}

func appObjects(ctx context.Context, kc kubernetes.Interface, namespace, app string, dryRun bool) ([]string, error) {
	var deleted []string
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}

	for _, name := range []string{app, app + "-" + blue, app + "-" + green, app + "-canary"} {
		dep, err := kc.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("reading deployment %s/%s: %w", namespace, name, err)
		}
		if !slipwayLabelled(dep.Labels) || !ownedBy(dep.Labels, name, app) {
			continue
		}
		if !dryRun {
			if err := kc.AppsV1().Deployments(namespace).Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
				return deleted, fmt.Errorf("deleting deployment %s/%s: %w", namespace, name, err)
			}
		}
		deleted = append(deleted, "deployment/"+name)
	}
	for _, name := range []string{app, app + "-canary", PreviewService(app)} {
		svc, err := kc.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("reading service %s/%s: %w", namespace, name, err)
		}
		if !slipwayLabelled(svc.Labels) || !ownedBy(svc.Labels, name, app) {
			continue
		}
		if !dryRun {
			if err := kc.CoreV1().Services(namespace).Delete(ctx, name, del); err != nil && !apierrors.IsNotFound(err) {
				return deleted, fmt.Errorf("deleting service %s/%s: %w", namespace, name, err)
			}
		}
		deleted = append(deleted, "service/"+name)
	}
	ings, err := kc.NetworkingV1().Ingresses(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp + "=" + app})
	if err != nil {
		return deleted, fmt.Errorf("listing ingresses of %s in %s: %w", app, namespace, err)
	}
	for _, ing := range ings.Items {
		if !dryRun {
			if err := kc.NetworkingV1().Ingresses(namespace).Delete(ctx, ing.Name, del); err != nil && !apierrors.IsNotFound(err) {
				return deleted, fmt.Errorf("deleting ingress %s/%s: %w", namespace, ing.Name, err)
			}
		}
		deleted = append(deleted, "ingress/"+ing.Name)
	}
	sort.Strings(deleted)
	return deleted, nil
}

// ownedBy tells whether an object named after app (app-canary,
// app-preview) is app's and not another app that happens to carry that
// name: Slipway's canary and preview objects name their app in LabelApp.
func ownedBy(labels map[string]string, name, app string) bool {
	if name != app+"-canary" && name != PreviewService(app) {
		return true
	}
	return labels[LabelApp] == app
}

func slipwayLabelled(labels map[string]string) bool {
	if labels[LabelManagedBy] == managedBy {
		return true
	}
	for k := range labels {
		if strings.HasPrefix(k, "slipway.dev/") {
			return true
		}
	}
	return false
}
