package deploy

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

// manifestDeployer is c's Deployer with a dynamic client on the same
// objects (the typed fake's tracker) and a mapper of the kinds used here.
func (c *cluster) manifestDeployer() *Deployer {
	dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme)
	react := k8stesting.ObjectReaction(c.client.Tracker())
	dyn.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := react(a)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		// The typed tracker answers typed objects; a dynamic client wants
		// unstructured ones.
		m, cerr := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if cerr != nil {
			return true, nil, cerr
		}
		u := &unstructured.Unstructured{Object: m}
		if gvks, _, err := scheme.Scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
			u.SetGroupVersionKind(gvks[0])
		}
		return handled, u, nil
	})
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	return c.deployer(WithDynamic(dyn), WithMapper(m))
}

// objs parses YAML documents as pkg/manifest would hand them over.
func objs(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		js, err := yaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatal(err)
		}
		u.SetNamespace(testNS)
		// As pkg/manifest labels them.
		u.SetLabels(map[string]string{LabelApp: "shop", LabelEnv: "qa", LabelManagedBy: managedBy})
		out = append(out, u)
	}
	return out
}

func shopDeployment(img string) string {
	return `
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: app, image: ` + img + `}]
`
}

const (
	shopService   = "apiVersion: v1\nkind: Service\nmetadata: {name: shop}\nspec: {selector: {app: shop}, ports: [{port: 80}]}\n"
	shopConfig    = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop-config}\ndata: {GREETING: hello}\n"
	shopNamespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop-extra}\n"
)

// appliedSet is the recorded set of shop, as "kind/name".
func (c *cluster) appliedSet() []string {
	c.t.Helper()
	cm, err := c.client.CoreV1().ConfigMaps(testNS).Get(context.Background(), ApplySetName("shop"), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	var objs []AppliedObject
	if err := json.Unmarshal([]byte(cm.Data[appliedKey]), &objs); err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.String())
	}
	return out
}

// labelled lists the objects of kinds Slipway applies that carry app=shop.
func (c *cluster) labelled() []string {
	c.t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: LabelApp + "=shop"}
	var out []string
	deps, err := c.client.AppsV1().Deployments(testNS).List(ctx, sel)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range deps.Items {
		out = append(out, "deployment/"+d.Name)
	}
	svcs, err := c.client.CoreV1().Services(testNS).List(ctx, sel)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, s := range svcs.Items {
		out = append(out, "service/"+s.Name)
	}
	cms, err := c.client.CoreV1().ConfigMaps(testNS).List(ctx, sel)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, m := range cms.Items {
		out = append(out, "configmap/"+m.Name)
	}
	slices.Sort(out)
	return out
}

func TestManifestsCreateApplyPrune(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	d := c.manifestDeployer()
	spec := func(img string, docs ...string) Spec {
		return Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Env: "qa", Image: img, Manifests: objs(t, docs...)}
	}

	// The first promotion creates the app from its manifests.
	if err := d.Run(ctx, spec(oldImage, shopDeployment(oldImage), shopService, shopConfig)); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	if got := image(c.deployment("shop")); got != oldImage {
		t.Errorf("created with image %s, want %s", got, oldImage)
	}
	want := []string{"configmap/shop-config", "deployment/shop", "service/shop"}
	if diff := cmp.Diff(want, c.appliedSet()); diff != "" {
		t.Errorf("applied set (-want +got):\n%s", diff)
	}
	cm, err := c.client.CoreV1().ConfigMaps(testNS).Get(ctx, "shop-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[applySetPartOfLabel] != applySetID("shop", testNS) {
		t.Errorf("configmap labels %v, want part of the applied set", cm.Labels)
	}

	// The next one rolls the new image out on the manifests' Deployment
	// and prunes the ConfigMap the manifests dropped.
	before := c.podUIDs("shop")
	if err := d.Run(ctx, spec(newImage, shopDeployment(newImage), shopService)); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if got := image(c.deployment("shop")); got != newImage {
		t.Errorf("image = %s, want %s", got, newImage)
	}
	if slices.Equal(before, c.podUIDs("shop")) {
		t.Errorf("pods were not replaced by the rollout")
	}
	want = []string{"deployment/shop", "service/shop"}
	if diff := cmp.Diff(want, c.appliedSet()); diff != "" {
		t.Errorf("applied set after the prune (-want +got):\n%s", diff)
	}
	if _, err := c.client.CoreV1().ConfigMaps(testNS).Get(ctx, "shop-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap shop-config: err = %v, want it pruned", err)
	}
}

// A rollout that rolls back prunes nothing: the old version may need
// what it used, and the set keeps every object so a later run prunes it.
func TestManifestsRollbackPrunesNothing(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	d := c.manifestDeployer()
	first := Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: oldImage, Manifests: objs(t, shopDeployment(oldImage), shopService, shopConfig)}
	if err := d.Run(ctx, first); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	c.bad[newImage] = "CrashLoopBackOff"
	next := Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage, Manifests: objs(t, shopDeployment(newImage), shopService)}
	if rb := rollback(t, d.Run(ctx, next)); !rb.Restored {
		t.Fatalf("rollback not restored: %v", rb)
	}
	if got := image(c.deployment("shop")); got != oldImage {
		t.Errorf("image = %s, want the previous %s", got, oldImage)
	}
	want := []string{"configmap/shop-config", "deployment/shop", "service/shop"}
	if diff := cmp.Diff(want, c.appliedSet()); diff != "" {
		t.Errorf("applied set (-want +got):\n%s", diff)
	}
}

func TestManifestsRefused(t *testing.T) {
	tests := []struct {
		name     string
		strategy rollout.Strategy
		docs     []string
		wantErr  string
	}{
		{"no deployment of the app", rollout.Rolling, []string{shopService}, "define no Deployment shop"},
		{"cluster-scoped object", rollout.Rolling, []string{shopDeployment(newImage), shopNamespace}, "cluster-scoped"},
		{"bluegreen", rollout.BlueGreen, []string{shopDeployment(newImage)}, "use rolling or canary"},
		{"image not the promoted one", rollout.Rolling, []string{shopDeployment("ghcr.io/acme/shop:latest")}, "not the promoted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t)
			err := c.manifestDeployer().Run(context.Background(), Spec{Strategy: tt.strategy, Namespace: testNS, App: "shop", Image: newImage, Manifests: objs(t, tt.docs...)})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	c := newCluster(t)
	err := c.deployer().Run(context.Background(), Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage, Manifests: objs(t, shopDeployment("shop"))})
	if err == nil || !strings.Contains(err.Error(), "dynamic client and a REST mapper") {
		t.Fatalf("Run without a dynamic client = %v, want it refused", err)
	}
}

// Retiring an app deletes everything applied for it and the copies the
// strategies made; --dry-run lists the same and deletes nothing.
func TestDeleteAppAppliedSet(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	d := c.manifestDeployer()
	if err := d.Run(ctx, Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: oldImage, Manifests: objs(t, shopDeployment(oldImage), shopService, shopConfig)}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A canary killed mid-rollout left its copy.
	canary := deployment("shop-canary", 1, map[string]string{"app": "shop", LabelTrack: trackCanary}, newImage)
	canary.Labels = map[string]string{LabelApp: "shop", LabelManagedBy: managedBy}
	if _, err := c.client.AppsV1().Deployments(testNS).Create(ctx, canary, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A ConfigMap of the user's own, not applied by Slipway.
	own := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand", Namespace: testNS}}
	if _, err := c.client.CoreV1().ConfigMaps(testNS).Create(ctx, own, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "configmap/shop-config, configmap/slipway-applyset-shop, deployment/shop, deployment/shop-canary, service/shop"

	got, err := d.Do(ctx, rollout.ModeDeleteApp, Spec{Namespace: testNS, App: "shop", DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got != "would delete from shop: "+want {
		t.Errorf("dry run = %q, want it to list %s", got, want)
	}
	if diff := cmp.Diff([]string{"configmap/shop-config", "configmap/slipway-applyset-shop", "deployment/shop", "deployment/shop-canary", "service/shop"}, c.labelled()); diff != "" {
		t.Errorf("after the dry run, labelled objects (-want +got):\n%s", diff)
	}

	got, err = d.Do(ctx, rollout.ModeDeleteApp, Spec{Namespace: testNS, App: "shop"})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got != "deleted from shop: "+want {
		t.Errorf("delete = %q, want it to list %s", got, want)
	}
	if left := c.labelled(); len(left) > 0 {
		t.Errorf("labelled objects left: %v", left)
	}
	if _, err := c.client.CoreV1().ConfigMaps(testNS).Get(ctx, "by-hand", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's own configmap: %v, want it untouched", err)
	}
}

// An object taken out of the set (its part-of label changed by hand) is
// not pruned.
func TestPruneSkipsObjectsTakenOver(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	d := c.manifestDeployer()
	if err := d.Run(ctx, Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: oldImage, Manifests: objs(t, shopDeployment(oldImage), shopConfig)}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	cm, err := c.client.CoreV1().ConfigMaps(testNS).Get(ctx, "shop-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Labels[applySetPartOfLabel] = "someone-else"
	if _, err := c.client.CoreV1().ConfigMaps(testNS).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx, Spec{Strategy: rollout.Rolling, Namespace: testNS, App: "shop", Image: newImage, Manifests: objs(t, shopDeployment(newImage))}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := c.client.CoreV1().ConfigMaps(testNS).Get(ctx, "shop-config", metav1.GetOptions{}); err != nil {
		t.Errorf("configmap taken over: %v, want it kept", err)
	}
}

var _ = appsv1.SchemeGroupVersion
