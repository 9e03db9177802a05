package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fieldManager owns what the bench applies.
const fieldManager = "dispatchbench"

var (
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	ciGVR  = schema.GroupVersionResource{Group: "triggers.tekton.dev", Version: "v1alpha1", Resource: "clusterinterceptors"}
)

// resources maps each kind the bench applies to its resource. A static
// table rather than discovery: the bench applies these kinds only, and the
// Triggers kinds must be known before their CRDs are.
var resources = map[schema.GroupVersionKind]schema.GroupVersionResource{
	{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}: crdGVR,
	{Version: "v1", Kind: "ConfigMap"}:                                               {Version: "v1", Resource: "configmaps"},
	{Version: "v1", Kind: "Secret"}:                                                  {Version: "v1", Resource: "secrets"},
	{Group: "triggers.tekton.dev", Version: "v1alpha1", Kind: "ClusterInterceptor"}:  ciGVR,
	{Group: "triggers.tekton.dev", Version: "v1beta1", Kind: "TriggerBinding"}:       {Group: "triggers.tekton.dev", Version: "v1beta1", Resource: "triggerbindings"},
	{Group: "triggers.tekton.dev", Version: "v1beta1", Kind: "TriggerTemplate"}:      {Group: "triggers.tekton.dev", Version: "v1beta1", Resource: "triggertemplates"},
	{Group: "triggers.tekton.dev", Version: "v1beta1", Kind: "Trigger"}:              {Group: "triggers.tekton.dev", Version: "v1beta1", Resource: "triggers"},
	{Group: "triggers.tekton.dev", Version: "v1beta1", Kind: "EventListener"}:        {Group: "triggers.tekton.dev", Version: "v1beta1", Resource: "eventlisteners"},
}

// readManifests decodes every object of the YAML files under dir.
func readManifests(dir string, names ...string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, name := range names {
		path := filepath.Join(dir, name)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("decoding %s: %w", path, err)
			}
			if len(m) == 0 { // an empty document between separators
				continue
			}
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
	return out, nil
}

// apply server-side applies objs in order.
func apply(ctx context.Context, dyn dynamic.Interface, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		gvr, ok := resources[o.GroupVersionKind()]
		if !ok {
			return fmt.Errorf("applying %s %s: kind not known to the bench", o.GroupVersionKind(), o.GetName())
		}
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns := o.GetNamespace(); ns != "" {
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// waitEstablished waits until every CRD in crds serves its kind.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured) error {
	for _, crd := range crds {
		err := poll(ctx, time.Minute, func() (bool, error) {
			got, err := dyn.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.GetName(), err)
		}
	}
	return nil
}

// poll calls cond every 100 ms until it is true, it fails, or timeout.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
