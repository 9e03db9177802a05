package deploy

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDeleteAppOnlyTouchesSlipwaysObjects(t *testing.T) {
	ctx := context.Background()
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{"app": "shop"}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	stable := deployment("shop", 1, appLabels, oldImage)
	stable.Labels = with(map[string]string{LabelManagedBy: managedBy})
	blueDep := deployment("shop-blue", 1, with(map[string]string{LabelColor: blue}), oldImage)
	blueDep.Labels = with(map[string]string{LabelColor: blue})
	greenByHand := deployment("shop-green", 1, appLabels, oldImage) // no Slipway label: the user's
	otherApp := deployment("web-canary", 1, with(map[string]string{LabelTrack: "canary"}), oldImage)
	otherApp.Labels = with(map[string]string{LabelTrack: "canary"})
	svc := service("shop", appLabels) // the user's Service
	canarySvc := canaryService(svc, "shop-canary", "shop", map[string]string{LabelTrack: "canary"})
	preview := canaryService(svc, "shop-preview", "shop", map[string]string{LabelColor: green})
	c := newCluster(t, stable, blueDep, greenByHand, otherApp, svc, canarySvc, preview)
	mine := ingress("shop-canary", "shop-canary")
	mine.Labels = map[string]string{LabelManagedBy: managedBy, LabelApp: "shop"}
	for _, ing := range []*networkingv1.Ingress{mine, ingress("shop", "shop")} {
		if _, err := c.client.NetworkingV1().Ingresses(testNS).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := DeleteAppObjects(ctx, c.client, testNS, "shop")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"deployment/shop", "deployment/shop-blue", "ingress/shop-canary", "service/shop-canary", "service/shop-preview"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	for _, name := range []string{"shop-green", "web-canary"} {
		if !c.exists(name) {
			t.Errorf("deployment %s was deleted; it is not Slipway's (or not this app's)", name)
		}
	}
	if _, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's service shop: %v", err)
	}
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's ingress shop: %v", err)
	}
	// Nothing left: a second call deletes nothing and is not an error.
	if got, err := DeleteAppObjects(ctx, c.client, testNS, "shop"); err != nil || len(got) != 0 {
		t.Errorf("second DeleteAppObjects = %v, %v; want nothing", got, err)
	}
}

// The canary Slipway creates is labelled, so DeleteApp finds one left by a
// killed rollout.
func TestCanaryObjectsAreLabelled(t *testing.T) {
	dep, err := canaryFrom(deployment("shop", 2, appLabels, oldImage), "shop-canary", Spec{App: "shop", Image: newImage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slipwayLabelled(dep.Labels) || dep.Labels[LabelApp] != "shop" {
		t.Errorf("canary labels %v, want Slipway's", dep.Labels)
	}
}

// An app may be called shop-canary: deleting shop leaves it alone even
// though its name is the one shop's canary would have.
func TestDeleteAppLeavesAnAppNamedLikeItsCanary(t *testing.T) {
	other := deployment("shop-canary", 1, appLabels, oldImage)
	other.Labels = map[string]string{LabelManagedBy: managedBy, LabelApp: "shop-canary"}
	c := newCluster(t, other)
	got, err := DeleteAppObjects(context.Background(), c.client, testNS, "shop")
	if err != nil || len(got) != 0 {
		t.Errorf("DeleteAppObjects(shop) = %v, %v; want nothing deleted", got, err)
	}
	if !c.exists("shop-canary") {
		t.Error("the app shop-canary was deleted with shop")
	}
}

// A canary rollout killed mid-way (its PipelineRun timed out) leaves its
// canary Deployment, Service and ingress copy; RemoveCanary takes them
// away and leaves stable and the user's Ingress alone.
func TestRemoveCanaryAfterAKilledRollout(t *testing.T) {
	ctx := context.Background()
	svc := service("shop", appLabels)
	stable := deployment("shop", 4, appLabels, oldImage)
	left := deployment("shop-canary", 2, map[string]string{"app": "shop", LabelTrack: trackCanary}, newImage)
	left.Labels = map[string]string{LabelManagedBy: managedBy, LabelApp: "shop"}
	c := newCluster(t, svc, stable, left, canaryService(svc, "shop-canary", "shop", map[string]string{LabelTrack: trackCanary}))
	copyIng := ingress("shop-canary", "shop-canary")
	copyIng.Labels = map[string]string{LabelManagedBy: managedBy, LabelApp: "shop"}
	copyIng.Annotations = map[string]string{nginxCanary: "true", nginxCanaryWeight: "50"}
	for _, ing := range []*networkingv1.Ingress{ingress("shop", "shop"), copyIng} {
		if _, err := c.client.NetworkingV1().Ingresses(testNS).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stableBefore := c.podUIDs("shop")
	s := Spec{Namespace: testNS, App: "shop", NginxIngress: "shop"}
	for range 2 { // the second finds nothing left and is no error
		if err := c.deployer().RemoveCanary(ctx, s); err != nil {
			t.Fatalf("RemoveCanary: %v", err)
		}
	}
	if c.exists("shop-canary") {
		t.Error("the canary deployment is still there")
	}
	if _, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
		t.Error("the canary service is still there")
	}
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
		t.Error("the canary ingress copy is still there")
	}
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop", metav1.GetOptions{}); err != nil {
		t.Errorf("the user's ingress: %v", err)
	}
	if got := image(c.deployment("shop")); got != oldImage {
		t.Errorf("stable image = %s, want untouched %s", got, oldImage)
	}
	if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff != "" {
		t.Errorf("stable pods replaced (-want +got):\n%s", diff)
	}
}
