package deploy

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestOrphans(t *testing.T) {
	om := func(ns, name string, lbl map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl}
	}
	app := func(a string) map[string]string { return map[string]string{LabelApp: a, LabelManagedBy: managedBy} }
	objs := []runtime.Object{
		&appsv1.Deployment{ObjectMeta: om("apps", "shop", app("shop"))},
		&appsv1.Deployment{ObjectMeta: om("apps", "old", app("old"))},
		&corev1.Service{ObjectMeta: om("apps", "old", app("old"))},
		&corev1.ConfigMap{ObjectMeta: om("apps", ApplySetName("old"), app("old"))},
		// Made by hand, no Slipway label: never reported.
		&appsv1.Deployment{ObjectMeta: om("apps", "handmade", map[string]string{"app": "handmade"})},
		// Another namespace.
		&appsv1.Deployment{ObjectMeta: om("other", "gone", app("gone"))},
	}
	tests := []struct {
		name    string
		ns      string
		claimed []string
		want    []string
		wantErr bool
	}{
		{name: "shop claimed", ns: "apps", claimed: []string{"shop"},
			want: []string{"configmap/slipway-applyset-old (app old)", "deployment/old (app old)", "service/old (app old)"}},
		{name: "both claimed", ns: "apps", claimed: []string{"shop", "old"}},
		{name: "nothing claimed", ns: "apps",
			want: []string{"configmap/slipway-applyset-old (app old)", "deployment/old (app old)", "deployment/shop (app shop)", "service/old (app old)"}},
		{name: "other namespace", ns: "other", claimed: []string{"shop"}, want: []string{"deployment/gone (app gone)"}},
		{name: "no namespace", wantErr: true},
		{name: "a claimed name no label may carry", ns: "apps", claimed: []string{"not a label!"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Orphans(context.Background(), fake.NewSimpleClientset(objs...), tt.ns, tt.claimed)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Orphans error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Orphans (-want +got):\n%s", diff)
			}
		})
	}
}
