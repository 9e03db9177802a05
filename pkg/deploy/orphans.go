package deploy

import (
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
)

// Orphans lists the objects in namespace labelled with LabelApp whose app
// is not in claimed, as sorted "kind/name (app APP)" entries; it changes
// nothing. It reads the kinds the deployer's Role may read (Deployments,
// Services, Ingresses, ConfigMaps, ServiceAccounts, HPAs, PDBs).
func Orphans(ctx context.Context, kc kubernetes.Interface, namespace string, claimed []string) ([]string, error) {
	if namespace == "" {
		return nil, fmt.Errorf("orphans: a namespace is required")
	}
	sel := labels.NewSelector()
	has, err := labels.NewRequirement(LabelApp, selection.Exists, nil)
	if err != nil {
		return nil, fmt.Errorf("orphans: %w", err)
	}
	sel = sel.Add(*has)
	if len(claimed) > 0 {
		not, err := labels.NewRequirement(LabelApp, selection.NotIn, claimed)
		if err != nil {
			return nil, fmt.Errorf("orphans: claimed apps: %w", err)
		}
		sel = sel.Add(*not)
	}
	lo := metav1.ListOptions{LabelSelector: sel.String()}
	var out []string
	lists := []struct {
		kind string
		list func() (runtime.Object, error)
	}{
		{"deployment", func() (runtime.Object, error) { return kc.AppsV1().Deployments(namespace).List(ctx, lo) }},
		{"service", func() (runtime.Object, error) { return kc.CoreV1().Services(namespace).List(ctx, lo) }},
		{"ingress", func() (runtime.Object, error) { return kc.NetworkingV1().Ingresses(namespace).List(ctx, lo) }},
		{"configmap", func() (runtime.Object, error) { return kc.CoreV1().ConfigMaps(namespace).List(ctx, lo) }},
		{"serviceaccount", func() (runtime.Object, error) { return kc.CoreV1().ServiceAccounts(namespace).List(ctx, lo) }},
		{"horizontalpodautoscaler", func() (runtime.Object, error) {
			return kc.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, lo)
		}},
		{"poddisruptionbudget", func() (runtime.Object, error) { return kc.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, lo) }},
	}
	for _, k := range lists {
		l, err := k.list()
		if err == nil {
			err = meta.EachListItem(l, func(o runtime.Object) error {
				m, err := meta.Accessor(o)
				if err == nil {
					out = append(out, fmt.Sprintf("%s/%s (app %s)", k.kind, m.GetName(), m.GetLabels()[LabelApp]))
				}
				return err
			})
		}
		if err != nil {
			return nil, fmt.Errorf("orphans: listing %ss in %s: %w", k.kind, namespace, err)
		}
	}
	slices.Sort(out)
	return out, nil
}
