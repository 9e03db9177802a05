package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/pkg/rollout"
)

const routeYAML = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: shop}
spec:
  parentRefs: [{name: gw}]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: shop, port: 80}]
    - matches: [{path: {type: PathPrefix, value: /static}}]
      backendRefs: [{name: cdn, port: 80, weight: 3}]
`

func newRoute(t *testing.T) (*dynamicfake.FakeDynamicClient, *unstructured.Unstructured) {
	t.Helper()
	// Through JSON, as the API machinery decodes it: numbers are int64.
	j, err := yaml.YAMLToJSON([]byte(routeYAML))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	dc := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{HTTPRouteGVR: "HTTPRouteList"}, u.DeepCopy())
	return dc, u
}

// backends returns "name:weight" per rule ("-" for no weight).
func backends(t *testing.T, dc *dynamicfake.FakeDynamicClient) [][]string {
	t.Helper()
	u, err := dc.Resource(HTTPRouteGVR).Namespace(testNS).Get(context.Background(), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	var out [][]string
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		var got []string
		for _, ref := range refs {
			m := ref.(map[string]any)
			w := "-"
			if v, ok, _ := unstructured.NestedInt64(m, "weight"); ok {
				w = strconv.FormatInt(v, 10)
			}
			got = append(got, m["name"].(string)+":"+w)
		}
		out = append(out, got)
	}
	return out
}

func ingress(name, svc string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"shop.example"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{
				Host: "shop.example",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}},
		},
	}
}

func TestCanaryTrafficWeights(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
	svc, _ := c.client.CoreV1().Services(testNS).Get(ctx, "shop", metav1.GetOptions{})
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
	if _, err := c.client.CoreV1().Services(testNS).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Create(ctx, ingress("shop", "shop"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dc, _ := newRoute(t)
	stableBefore := c.podUIDs("shop")

	type seen struct {
		Route        [][]string
		NginxWeight  string
		CanarySvcSel map[string]string
	}
	var log []seen
	c.onSleep = func(c *cluster) {
		s := seen{Route: backends(t, dc)}
		if ing, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
			s.NginxWeight = ing.Annotations[nginxCanaryWeight]
			if b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name; b != "shop-canary" {
				t.Errorf("canary ingress backend = %s, want shop-canary", b)
			}
			if ing.Annotations[nginxCanary] != "true" || len(ing.Spec.TLS) != 0 {
				t.Errorf("canary ingress = %+v, want the canary annotation and no TLS", ing)
			}
		}
		if cs, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
			s.CanarySvcSel = cs.Spec.Selector
		}
		if len(log) == 0 || !cmp.Equal(log[len(log)-1], s) {
			log = append(log, s)
		}
		// The stable Service must never select canary pods.
		pods, _ := c.client.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{LabelSelector: "app=shop," + LabelTrack + "=canary"})
		if len(pods.Items) > 0 {
			t.Errorf("canary pod %s matches the stable service selector", pods.Items[0].Name)
		}
	}
	spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100}, Pause: 10 * time.Second,
		HTTPRoute: "shop", NginxIngress: "shop"}
	if err := c.deployer(WithDynamic(dc)).Run(ctx, spec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	canarySel := map[string]string{LabelTrack: "canary", LabelCanaryOf: "shop"}
	var weights []string
	for _, s := range log {
		if len(s.Route[0]) == 2 {
			weights = append(weights, strings.Join(s.Route[0], ",")+" nginx="+s.NginxWeight)
			if diff := cmp.Diff(canarySel, s.CanarySvcSel); diff != "" {
				t.Errorf("canary service selector (-want +got):\n%s", diff)
			}
		}
		if diff := cmp.Diff([]string{"cdn:3"}, s.Route[1]); diff != "" {
			t.Errorf("an unrelated rule changed (-want +got):\n%s", diff)
		}
	}
	want := []string{
		"shop:100,shop-canary:0 nginx=0",
		"shop:90,shop-canary:10 nginx=10",
		"shop:50,shop-canary:50 nginx=50",
		"shop:0,shop-canary:100 nginx=100",
	}
	if diff := cmp.Diff(want, dedupe(weights)); diff != "" {
		t.Errorf("weights over the rollout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"shop:-"}, {"cdn:3"}}, backends(t, dc)); diff != "" {
		t.Errorf("route after the rollout (-want +got):\n%s", diff)
	}
	for _, gone := range []func() error{
		func() error {
			_, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop-canary", metav1.GetOptions{})
			return err
		},
		func() error {
			_, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop-canary", metav1.GetOptions{})
			return err
		},
	} {
		if gone() == nil {
			t.Errorf("a canary routing object is still there")
		}
	}
	if got := image(c.deployment("shop")); got != newImage {
		t.Errorf("stable image = %s, want %s", got, newImage)
	}
	if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff == "" {
		t.Errorf("stable pods were not replaced by the promoted image")
	}
}

// A gateway drops a shrinking Deployment's terminating pods from its
// backends at once: the weight must leave stable before its pods do, or
// stable's share has no backend (at 100 % stable goes to 0 replicas).
func TestCanaryTrafficMovesBeforeStableShrinks(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, service("shop", appLabels), deployment("shop", 10, appLabels, oldImage))
	dc, _ := newRoute(t)
	var seen []string
	dc.PrependReactor("update", "httproutes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		u := a.(k8stesting.UpdateAction).GetObject().(*unstructured.Unstructured)
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
		w := "-"
		if v, ok, _ := unstructured.NestedInt64(refs[0].(map[string]any), "weight"); ok {
			w = strconv.FormatInt(v, 10)
		}
		seen = append(seen, fmt.Sprintf("stable weight %s, stable replicas %d", w, derefReplicas(c.deployment("shop"))))
		return false, nil, nil
	})
	spec := Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage, Steps: []int{10, 50, 100}, Pause: 10 * time.Second,
		HTTPRoute: "shop"}
	if err := c.deployer(WithDynamic(dc)).Run(ctx, spec); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"stable weight 100, stable replicas 10", // the canary Service joins at 0
		"stable weight 90, stable replicas 10",  // 10 %: then 1 canary + 9 stable
		"stable weight 50, stable replicas 9",   // 50 %: then 5 + 5
		"stable weight 0, stable replicas 5",    // 100 %: then 10 + 0
		"stable weight -, stable replicas 10",   // promoted: stable alone again
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("route updates (-want +got):\n%s", diff)
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

func TestCanaryTrafficRollback(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, service("shop", appLabels), deployment("shop", 4, appLabels, oldImage))
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Create(ctx, ingress("shop", "shop"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dc, _ := newRoute(t)
	stableBefore := c.podUIDs("shop")
	c.restarts[newImage] = 3
	err := c.deployer(WithDynamic(dc)).Run(ctx, Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage,
		Steps: []int{50, 100}, Pause: time.Minute, HTTPRoute: "shop", NginxIngress: "shop"})
	if rb := rollback(t, err); !rb.Restored || !strings.Contains(rb.Reason, "restarts") {
		t.Fatalf("rollback = %v, want restored after restarts", err)
	}
	if diff := cmp.Diff([][]string{{"shop:-"}, {"cdn:3"}}, backends(t, dc)); diff != "" {
		t.Errorf("route after the rollback (-want +got):\n%s", diff)
	}
	if _, err := c.client.NetworkingV1().Ingresses(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
		t.Errorf("the canary ingress is still there")
	}
	if _, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
		t.Errorf("the canary service is still there")
	}
	if diff := cmp.Diff(stableBefore, c.podUIDs("shop")); diff != "" {
		t.Errorf("stable pods replaced (-want +got):\n%s", diff)
	}
}

func TestCanaryTrafficRefusesUnrelatedRoute(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, service("other", appLabels), service("shop", appLabels), deployment("shop", 2, appLabels, oldImage))
	dc, _ := newRoute(t)
	err := c.deployer(WithDynamic(dc)).Run(ctx, Spec{Strategy: rollout.Canary, Namespace: testNS, App: "shop", Image: newImage,
		Steps: []int{100}, Pause: time.Second, NginxIngress: "missing"})
	if err == nil || !strings.Contains(err.Error(), `reading ingress shop/missing`) {
		t.Fatalf("Run = %v, want a missing ingress error", err)
	}
	if c.exists("shop-canary") {
		t.Errorf("the canary deployment is still there")
	}
	if _, err := c.client.CoreV1().Services(testNS).Get(ctx, "shop-canary", metav1.GetOptions{}); err == nil {
		t.Errorf("the canary service is still there")
	}
}
