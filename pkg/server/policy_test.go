package server

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigMapFeed(t *testing.T) {
	rec, err := os.ReadFile("../advisory/testdata/feed/SLIPWAY-2026-0001.json")
	if err != nil {
		t.Fatal(err)
	}
	kc := fake.NewSimpleClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "builds", Name: "advisories"},
		Data:       map[string]string{"SLIPWAY-2026-0001.json": string(rec)},
	}, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "builds", Name: "broken"},
		Data:       map[string]string{"x.json": "{"},
	})
	feed, err := configMapFeed{kc, "builds", "advisories"}.LoadFeed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(feed.Match("Go", "example.com/slipway-vuln", "v1.0.0")); n != 1 {
		t.Errorf("%d matches, want 1", n)
	}
	for name, want := range map[string]string{"missing": "reading the advisory feed ConfigMap builds/missing", "broken": "x.json"} {
		if _, err := (configMapFeed{kc, "builds", name}).LoadFeed(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", name, err, want)
		}
	}
}
