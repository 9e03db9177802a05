package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func pod(ns, name, ip string, containers ...corev1.Container) *corev1.Pod {
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			Labels:          map[string]string{"app": "web", "slipway.dev/track": "canary"},
			Annotations:     map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-canary-5d8f", Controller: &yes}},
		},
		Spec: corev1.PodSpec{NodeName: "slipway-node", Containers: containers},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, HostIP: "10.244.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// podMeta is what every target of pod("qa", "web-1", "10.244.0.7") carries.
func podMeta() map[string]string {
	return map[string]string{
		"__meta_kubernetes_namespace":                                  "qa",
		"__meta_kubernetes_pod_name":                                   "web-1",
		"__meta_kubernetes_pod_ip":                                     "10.244.0.7",
		"__meta_kubernetes_pod_ready":                                  "True",
		"__meta_kubernetes_pod_phase":                                  "Running",
		"__meta_kubernetes_pod_node_name":                              "slipway-node",
		"__meta_kubernetes_pod_host_ip":                                "10.244.0.1",
		"__meta_kubernetes_pod_uid":                                    "uid-qa-web-1",
		"__meta_kubernetes_pod_label_app":                              "web",
		"__meta_kubernetes_pod_labelpresent_app":                       "true",
		"__meta_kubernetes_pod_label_slipway_dev_track":                "canary",
		"__meta_kubernetes_pod_labelpresent_slipway_dev_track":         "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape":        "true",
		"__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape": "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":          "8080",
		"__meta_kubernetes_pod_annotationpresent_prometheus_io_port":   "true",
		"__meta_kubernetes_pod_controller_kind":                        "ReplicaSet",
		"__meta_kubernetes_pod_controller_name":                        "web-canary-5d8f",
	}
}

func with(m map[string]string, kv ...string) map[string]string {
	out := merge(m)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestTargets(t *testing.T) {
	web := corev1.Container{Name: "web", Image: "reg/web@sha256:1", Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		{Name: "admin", ContainerPort: 9000, Protocol: corev1.ProtocolTCP},
	}}
	sidecar := corev1.Container{Name: "log", Image: "reg/log@sha256:2"}
	webMeta := with(podMeta(), "__meta_kubernetes_pod_container_name", "web",
		"__meta_kubernetes_pod_container_image", "reg/web@sha256:1", "__meta_kubernetes_pod_container_init", "false",
		"__meta_kubernetes_pod_container_port_protocol", "TCP")
	tests := []struct {
		name string
		pods []*corev1.Pod
		want []group
	}{
		{name: "no pods", want: []group{}},
		{name: "one target per declared port, and per container without ports",
			pods: []*corev1.Pod{pod("qa", "web-1", "10.244.0.7", web, sidecar)},
			want: []group{
				{Targets: []string{"10.244.0.7:8080"}, Labels: with(webMeta,
					"__meta_kubernetes_pod_container_port_name", "http", "__meta_kubernetes_pod_container_port_number", "8080")},
				{Targets: []string{"10.244.0.7:9000"}, Labels: with(webMeta,
					"__meta_kubernetes_pod_container_port_name", "admin", "__meta_kubernetes_pod_container_port_number", "9000")},
				{Targets: []string{"10.244.0.7"}, Labels: with(podMeta(), "__meta_kubernetes_pod_container_name", "log",
					"__meta_kubernetes_pod_container_image", "reg/log@sha256:2", "__meta_kubernetes_pod_container_init", "false")},
			}},
		{name: "a pod without an IP has no target",
			pods: []*corev1.Pod{pod("qa", "pending", "", web)}, want: []group{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := targets(tt.pods)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

// The file's order does not depend on the informer's: a rewrite happens
// only when the pods changed.
func TestTargetsSorted(t *testing.T) {
	c := corev1.Container{Name: "web"}
	got := targets([]*corev1.Pod{pod("qa", "b", "10.244.0.9", c), pod("prod", "z", "10.244.0.8", c), pod("qa", "a", "10.244.0.10", c)})
	var order []string
	for _, g := range got {
		order = append(order, g.Labels["__meta_kubernetes_namespace"]+"/"+g.Labels["__meta_kubernetes_pod_name"])
	}
	if diff := cmp.Diff([]string{"prod/z", "qa/a", "qa/b"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestWriteOnlyOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pods.json")
	gs := targets([]*corev1.Pod{pod("qa", "web-1", "10.244.0.7", corev1.Container{Name: "web"})})
	for i, want := range []bool{true, false} {
		wrote, err := write(path, gs)
		if err != nil || wrote != want {
			t.Fatalf("write #%d = %v, %v; want %v", i+1, wrote, err, want)
		}
	}
	var back []group
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("the file is not file_sd JSON: %v\n%s", err, data)
	}
	if diff := cmp.Diff(gs, back); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only pods.json (no temporary file left)", len(entries))
	}
}

// run follows the informer: a pod created after the start shows up in the file.
func TestRunFollowsPods(t *testing.T) {
	kc := fake.NewClientset()
	f := informers.NewSharedInformerFactory(kc, 0)
	inf := f.Core().V1().Pods()
	changed := make(chan struct{}, 1)
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced)
	out := filepath.Join(t.TempDir(), "pods.json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, inf.Lister(), changed, out, time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	if _, err := kc.CoreV1().Pods("qa").Create(ctx, pod("qa", "web-1", "10.244.0.7", corev1.Container{Name: "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got []group
	for got == nil {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
		if data, err := os.ReadFile(out); err == nil {
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("reading %s: %v", out, err)
			}
		}
	}
	cancel()
	<-done
	if len(got) != 1 || got[0].Targets[0] != "10.244.0.7" {
		t.Errorf("targets = %+v, want the new pod's", got)
	}
}
