package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// ApplySet labels and annotations (the kubectl ApplySet convention), so
// kubectl and other tools recognise what Slipway applied for an app.
const (
	applySetIDLabel     = "applyset.kubernetes.io/id"
	applySetPartOfLabel = "applyset.kubernetes.io/part-of"
	applySetGKsAnno     = "applyset.kubernetes.io/contains-group-kinds"
	applySetToolingAnno = "applyset.kubernetes.io/tooling"
	// appliedKey is the parent ConfigMap's list of the applied objects,
	// exact (kind and name), so pruning and retirement need no discovery.
	appliedKey = "objects"
	// FieldManager owns the fields Slipway applies.
	FieldManager = "slipway"
	// LabelEnv is the environment an applied object belongs to.
	LabelEnv = "slipway.dev/env"
)

// ApplySetName is the ConfigMap in an app's namespace that records what
// was applied for it (the ApplySet parent).
func ApplySetName(app string) string { return "slipway-applyset-" + app }

// applySetID is the ApplySet id of the parent: base64url(sha256 of
// name.namespace.kind.group), as the convention defines it.
func applySetID(app, ns string) string {
	sum := sha256.Sum256([]byte(ApplySetName(app) + "." + ns + ".ConfigMap."))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// AppliedObject is one object of an applied set.
type AppliedObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

func (o AppliedObject) String() string { return strings.ToLower(o.Kind) + "/" + o.Name }

func (o AppliedObject) gvk() schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
}

func objectsOf(objs []*unstructured.Unstructured) []AppliedObject {
	out := make([]AppliedObject, 0, len(objs))
	for _, u := range objs {
		out = append(out, AppliedObject{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Name: u.GetName()})
	}
	return sortObjects(out)
}

func sortObjects(objs []AppliedObject) []AppliedObject {
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.APIVersion < b.APIVersion
	})
	return slices.CompactFunc(objs, func(a, b AppliedObject) bool { return a.gvk().GroupKind() == b.gvk().GroupKind() && a.Name == b.Name })
}

// manifestRun is the state of one rollout from manifests.
type manifestRun struct {
	id      string
	current []AppliedObject
	// created: the app's Deployment did not exist before this apply (its
	// first promotion), so there is no previous version to roll from.
	created bool
}

// applyManifests applies s.Manifests with server-side apply. The app's
// Deployment (s.App) keeps the image it runs, so the strategy rolls the
// new one out with its checks and rollback; when it does not exist yet it
// is created with the new image. The parent records the union of what was
// and what is applied before anything changes, so a crash in between
// leaves nothing untracked.
func (d *Deployer) applyManifests(ctx context.Context, s Spec) (*manifestRun, error) {
	if d.dynamic == nil || d.mapper == nil {
		return nil, errors.New("manifests need a dynamic client and a REST mapper")
	}
	if s.Strategy == rollout.BlueGreen {
		return nil, errors.New("manifests: the bluegreen strategy runs its own App-blue/App-green copies; use rolling or canary with manifests")
	}
	var dep *unstructured.Unstructured
	for _, u := range s.Manifests {
		if u.GetKind() == "Deployment" && u.GroupVersionKind().Group == "apps" && u.GetName() == s.App {
			dep = u
		}
	}
	if dep == nil {
		return nil, fmt.Errorf("manifests of %s define no Deployment %s, the one the %s strategy rolls out", s.App, s.App, s.Strategy)
	}
	mr := &manifestRun{id: applySetID(s.App, s.Namespace), current: objectsOf(s.Manifests)}
	live, err := d.client.AppsV1().Deployments(s.Namespace).Get(ctx, s.App, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Created now: it must run the promoted digest, which the image
		// transformer set only where the manifests name the app's image.
		mr.created = true
		name := s.Container
		if name == "" {
			cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
			if len(cs) > 0 {
				name, _ = cs[0].(map[string]any)["name"].(string)
			}
		}
		if img := containerImage(dep, name); img != s.Image {
			return nil, fmt.Errorf("manifests of %s: container %q of deployment %s has image %q, not the promoted %s: write the app's image by its name alone (`image: %s`, or the name in manifests.image) so the digest can be set", s.App, name, s.App, img, s.Image, s.App)
		}
	case err != nil:
		return nil, fmt.Errorf("reading deployment %s/%s: %w", s.Namespace, s.App, err)
	default:
		c, err := container(&live.Spec.Template, s.Container)
		if err != nil {
			return nil, fmt.Errorf("deployment %s: %w", s.App, err)
		}
		if err := setContainerImage(dep, c.Name, c.Image); err != nil {
			return nil, fmt.Errorf("manifests of %s: %w", s.App, err)
		}
	}
	prev, err := d.readApplied(ctx, s.Namespace, s.App)
	if err != nil {
		return nil, err
	}
	if err := d.writeApplied(ctx, s, mr.id, sortObjects(append(slices.Clone(prev), mr.current...))); err != nil {
		return nil, err
	}
	for _, u := range s.Manifests {
		u = u.DeepCopy()
		labels := u.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[applySetPartOfLabel] = mr.id
		u.SetLabels(labels)
		u.SetNamespace(s.Namespace)
		ri, err := d.resource(u.GroupVersionKind(), s.Namespace)
		if err != nil {
			return nil, err
		}
		if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return nil, fmt.Errorf("applying %s/%s: %w", strings.ToLower(u.GetKind()), u.GetName(), err)
		}
	}
	d.status(ctx, "manifests: applied %d objects for %s", len(s.Manifests), s.App)
	return mr, nil
}

// pruneManifests deletes what an earlier apply made and the manifests no
// longer hold, then records the current set alone.
func (d *Deployer) pruneManifests(ctx context.Context, s Spec, mr *manifestRun) ([]string, error) {
	prev, err := d.readApplied(ctx, s.Namespace, s.App)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, o := range mr.current {
		keep[o.gvk().GroupKind().String()+"/"+o.Name] = true
	}
	var gone []AppliedObject
	for _, o := range prev {
		if !keep[o.gvk().GroupKind().String()+"/"+o.Name] {
			gone = append(gone, o)
		}
	}
	pruned, err := d.deleteApplied(ctx, s.Namespace, mr.id, gone)
	if err != nil {
		return pruned, err
	}
	if err := d.writeApplied(ctx, s, mr.id, mr.current); err != nil {
		return pruned, err
	}
	if len(pruned) > 0 {
		d.status(ctx, "manifests: pruned %s", strings.Join(pruned, ", "))
	}
	return pruned, nil
}

// deleteApplied deletes objs, each only while it is still part of the
// set id (an object someone took over is left alone); gone ones are fine.
func (d *Deployer) deleteApplied(ctx context.Context, ns, id string, objs []AppliedObject) ([]string, error) {
	var deleted []string
	bg := metav1.DeletePropagationBackground
	for _, o := range objs {
		ri, err := d.resource(o.gvk(), ns)
		if err != nil {
			return deleted, err
		}
		cur, err := ri.Get(ctx, o.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("reading %s: %w", o, err)
		}
		if cur.GetLabels()[applySetPartOfLabel] != id {
			continue
		}
		if err := ri.Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("deleting %s: %w", o, err)
		}
		deleted = append(deleted, o.String())
	}
	return deleted, nil
}

// resource is the dynamic client of gvk's resource, namespaced. A
// cluster-scoped kind is refused: an app lives in its namespace.
func (d *Deployer) resource(gvk schema.GroupVersionKind, ns string) (dynamic.ResourceInterface, error) {
	m, err := d.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("kind %s: %w", gvk, err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return nil, fmt.Errorf("kind %s is cluster-scoped; an app's manifests may hold only namespaced objects", gvk.Kind)
	}
	return d.dynamic.Resource(m.Resource).Namespace(ns), nil
}

// readApplied is the set recorded for app in ns; none yet is empty.
func (d *Deployer) readApplied(ctx context.Context, ns, app string) ([]AppliedObject, error) {
	cm, err := d.client.CoreV1().ConfigMaps(ns).Get(ctx, ApplySetName(app), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the applied set of %s: %w", app, err)
	}
	var objs []AppliedObject
	if err := json.Unmarshal([]byte(cm.Data[appliedKey]), &objs); err != nil {
		return nil, fmt.Errorf("the applied set of %s (configmap %s, key %s): %w", app, cm.Name, appliedKey, err)
	}
	return objs, nil
}

// writeApplied records objs as the set of s.App in its namespace.
func (d *Deployer) writeApplied(ctx context.Context, s Spec, id string, objs []AppliedObject) error {
	body, err := json.Marshal(objs)
	if err != nil {
		return fmt.Errorf("encoding the applied set: %w", err)
	}
	var gks []string
	for _, o := range objs {
		gks = append(gks, o.gvk().GroupKind().String())
	}
	slices.Sort(gks)
	want := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ApplySetName(s.App),
			Namespace: s.Namespace,
			Labels:    map[string]string{applySetIDLabel: id, LabelApp: s.App, LabelManagedBy: managedBy},
			Annotations: map[string]string{
				applySetToolingAnno: "slipway/v1",
				applySetGKsAnno:     strings.Join(slices.Compact(gks), ","),
			},
		},
		Data: map[string]string{appliedKey: string(body)},
	}
	if s.Env != "" {
		want.Labels[LabelEnv] = s.Env
	}
	cms := d.client.CoreV1().ConfigMaps(s.Namespace)
	cur, err := cms.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := cms.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("recording the applied set of %s: %w", s.App, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the applied set of %s: %w", s.App, err)
	}
	cur.Labels, cur.Annotations, cur.Data = want.Labels, want.Annotations, want.Data
	if _, err := cms.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("recording the applied set of %s: %w", s.App, err)
	}
	return nil
}

// deleteAppliedSet deletes every object recorded for app in ns, then the
// record; dryRun only lists them.
func (d *Deployer) deleteAppliedSet(ctx context.Context, ns, app string, dryRun bool) ([]string, error) {
	objs, err := d.readApplied(ctx, ns, app)
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	id := applySetID(app, ns)
	if dryRun {
		var out []string
		for _, o := range objs {
			out = append(out, o.String())
		}
		return append(out, "configmap/"+ApplySetName(app)), nil
	}
	if d.dynamic == nil || d.mapper == nil {
		return nil, errors.New("deleting an applied set needs a dynamic client and a REST mapper")
	}
	deleted, err := d.deleteApplied(ctx, ns, id, objs)
	if err != nil {
		return deleted, err
	}
	if err := d.client.CoreV1().ConfigMaps(ns).Delete(ctx, ApplySetName(app), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return deleted, fmt.Errorf("deleting the applied set of %s: %w", app, err)
	}
	return append(deleted, "configmap/"+ApplySetName(app)), nil
}

// setContainerImage sets the image of the named container of a rendered
// Deployment.
func setContainerImage(dep *unstructured.Unstructured, name, image string) error {
	cs, _, err := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if err != nil {
		return fmt.Errorf("deployment %s: %w", dep.GetName(), err)
	}
	for i, c := range cs {
		m, ok := c.(map[string]any)
		if ok && m["name"] == name {
			m["image"] = image
			cs[i] = m
			return unstructured.SetNestedSlice(dep.Object, cs, "spec", "template", "spec", "containers")
		}
	}
	return fmt.Errorf("deployment %s has no container %s (the one running now)", dep.GetName(), name)
}

// create waits for the Deployment the first apply of an app's manifests
// made. There is no earlier version to go back to: a failure leaves it
// for a look and says so.
func (d *Deployer) create(ctx context.Context, s Spec) error {
	d.status(ctx, "%s: created %s from its manifests; waiting for its replicas", s.Strategy, s.App)
	if err := d.waitReady(ctx, s.Namespace, s.App, s.ProgressDeadline, &podCheck{image: s.Image, maxRestarts: s.Analysis.MaxRestarts}); err != nil {
		return fmt.Errorf("first rollout of %s (created from its manifests, no earlier version to restore): %w", s.App, err)
	}
	d.status(ctx, "%s: %s is created and ready", s.Strategy, s.App)
	return nil
}

// containerImage is the image of the named container of a rendered
// Deployment, or "".
func containerImage(dep *unstructured.Unstructured, name string) string {
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["name"] == name {
			img, _ := m["image"].(string)
			return img
		}
	}
	return ""
}
