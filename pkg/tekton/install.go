package tekton

import (
	"context"
	"encoding/json"
	"fmt"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// FieldManager is the server-side apply field manager of Slipway's objects.
const FieldManager = "slipway"

// Install applies every embedded Task and Pipeline to namespace with
// server-side apply (forced, field manager "slipway"), so an upgraded binary
// updates what an older one installed. Tasks go first: Pipelines refer to them.
func Install(ctx context.Context, client versioned.Interface, namespace string) error {
	b, err := Load(ctx)
	if err != nil {
		return err
	}
	return b.Install(ctx, client, namespace)
}

// Install applies the bundle's objects to namespace; see Install.
func (b *Bundle) Install(ctx context.Context, client versioned.Interface, namespace string) error {
	if namespace == "" {
		return fmt.Errorf("install: namespace is required")
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	for _, t := range b.Tasks {
		data, err := applyBody(t.Name, "Task", t)
		if err != nil {
			return err
		}
		if _, err := client.TektonV1().Tasks(namespace).Patch(ctx, t.Name, types.ApplyPatchType, data, opts); err != nil {
			return fmt.Errorf("applying Task %s/%s: %w", namespace, t.Name, err)
		}
	}
	for _, p := range b.Pipelines {
		data, err := applyBody(p.Name, "Pipeline", p)
		if err != nil {
			return err
		}
		if _, err := client.TektonV1().Pipelines(namespace).Patch(ctx, p.Name, types.ApplyPatchType, data, opts); err != nil {
			return fmt.Errorf("applying Pipeline %s/%s: %w", namespace, p.Name, err)
		}
	}
	return nil
}

// applyBody is the object as an apply configuration: type meta set, and no
// namespace (the request names it).
func applyBody(name, kind string, obj any) ([]byte, error) {
	var m map[string]any
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", kind, name, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", kind, name, err)
	}
	m["apiVersion"] = pipelinev1.SchemeGroupVersion.String()
	m["kind"] = kind
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "namespace")
		delete(md, "creationTimestamp")
	}
	data, err = json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", kind, name, err)
	}
	return data, nil
}
