package promotion

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/slipway-ci/slipway/pkg/deploy"
	"github.com/slipway-ci/slipway/pkg/environment"
)

func TestKubeClusters(t *testing.T) {
	ctx := context.Background()
	kc := k8sfake.NewSimpleClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps",
			Annotations: map[string]string{deploy.AnnotationProgress: "paused at canary 10%: waiting for continue"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "no-key", Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "garbage", Namespace: ns}, Data: map[string][]byte{"kubeconfig": []byte("{{{")}},
	)
	k := &KubeClusters{Local: kc, Namespace: ns}
	local := environment.Cluster{Name: "local"}
	if got, err := k.Progress(ctx, local, "apps", "web"); err != nil || got != "paused at canary 10%: waiting for continue" {
		t.Errorf("Progress = %q, %v", got, err)
	}
	if err := k.Signal(ctx, local, "apps", "web", SignalAbort, "deploy-web-prod-local-7-abc", "aborted by rita"); err != nil {
		t.Fatal(err)
	}
	dep, _ := kc.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{})
	if dep.Annotations[deploy.AnnotationAbort] != "aborted by rita" || dep.Annotations[deploy.AnnotationAbortRollout] != "deploy-web-prod-local-7-abc" {
		t.Errorf("annotations after abort = %v", dep.Annotations)
	}
	// A killed canary rollout's canary goes; the stable Deployment stays.
	if _, err := kc.AppsV1().Deployments("apps").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: "apps"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.RemoveCanary(ctx, local, environment.Target{Namespace: "apps", Deployment: "web"}); err != nil {
		t.Fatalf("RemoveCanary: %v", err)
	}
	if _, err := kc.AppsV1().Deployments("apps").Get(ctx, "web-canary", metav1.GetOptions{}); err == nil {
		t.Error("the canary is still there")
	}
	if _, err := kc.AppsV1().Deployments("apps").Get(ctx, "web", metav1.GetOptions{}); err != nil {
		t.Errorf("the stable deployment: %v", err)
	}
	tests := []struct{ secret, want string }{
		{"missing", `cluster east: reading Secret slipway-builds/missing`},
		{"no-key", `cluster east: Secret slipway-builds/no-key has no key "kubeconfig"`},
		{"garbage", `cluster east: kubeconfig in Secret garbage`},
	}
	for _, tt := range tests {
		_, err := k.Progress(ctx, environment.Cluster{Name: "east", KubeconfigSecret: tt.secret}, "apps", "web")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("remote cluster with Secret %s: %v, want %q", tt.secret, err, tt.want)
		}
	}
}
