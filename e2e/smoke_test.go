//go:build e2e

// Package e2e holds Slipway's end-to-end tests; they run on the local stack
// (make dev-up, or started on demand by the framework): make e2e.
package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/e2e/framework"
)

func TestMain(m *testing.M) { framework.Setup(m) }

// mustParse decodes an inline YAML fixture into a real API type.
func mustParse[T any](t *testing.T, doc string) *T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict([]byte(doc), &v); err != nil {
		t.Fatalf("parsing fixture: %v\n%s", err, doc)
	}
	return &v
}

// Two tasks of one pipeline share a workspace backed by a PVC from a
// volumeClaimTemplate: what the first writes, the second reads and returns
// as a result.
func TestPipelineSharesPVCWorkspace(t *testing.T) {
	ns := framework.NewNamespace(t)
	c := framework.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	task := mustParse[pipelinev1.Task](t, fmt.Sprintf(`
metadata: {name: file}
spec:
  params: [{name: mode, type: string}]
  workspaces: [{name: data}]
  results: [{name: content}]
  steps:
  - name: run
    image: %s
    script: |
      #!/bin/sh
      set -e
      if [ "$(params.mode)" = write ]; then
        echo -n "written by $(context.taskRun.name)" > $(workspaces.data.path)/file
        printf skipped > $(results.content.path)
      else
        cat $(workspaces.data.path)/file > $(results.content.path)
      fi
`, framework.BusyboxImage))
	pipeline := mustParse[pipelinev1.Pipeline](t, `
metadata: {name: share}
spec:
  workspaces: [{name: shared}]
  results: [{name: read, value: $(tasks.reader.results.content)}]
  tasks:
  - name: writer
    taskRef: {name: file}
    params: [{name: mode, value: write}]
    workspaces: [{name: data, workspace: shared}]
  - name: reader
    runAfter: [writer]
    taskRef: {name: file}
    params: [{name: mode, value: read}]
    workspaces: [{name: data, workspace: shared}]
`)
	run := mustParse[pipelinev1.PipelineRun](t, `
metadata: {name: share-run}
spec:
  pipelineRef: {name: share}
  workspaces:
  - name: shared
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 16Mi}}
`)
	tekton := c.Tekton.TektonV1()
	if _, err := tekton.Tasks(ns).Create(ctx, task, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Task: %v", err)
	}
	if _, err := tekton.Pipelines(ns).Create(ctx, pipeline, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Pipeline: %v", err)
	}
	if _, err := tekton.PipelineRuns(ns).Create(ctx, run, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating PipelineRun: %v", err)
	}

	pr := framework.WaitForPipelineRun(ctx, t, ns, run.Name, framework.PipelineRunSucceeded)

	var got string
	for _, r := range pr.Status.Results {
		if r.Name == "read" {
			got = r.Value.StringVal
		}
	}
	want := "written by " + run.Name + "-writer"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result of the reader task (-want +got):\n%s", diff)
	}
	pvcs, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing PVCs: %v", err)
	}
	if len(pvcs.Items) != 1 || pvcs.Items[0].Status.Phase != corev1.ClaimBound {
		t.Errorf("want one bound PVC from the volumeClaimTemplate, got %d: %+v", len(pvcs.Items), pvcs.Items)
	}
}

// A pod reaches another pod through a ClusterIP Service (kube-proxy), and
// the apiserver through the `kubernetes` Service.
func TestPodReachesClusterIPService(t *testing.T) {
	ns := framework.NewNamespace(t)
	c := framework.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pods := c.Kube.CoreV1().Pods(ns)

	web := mustParse[corev1.Pod](t, fmt.Sprintf(`
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1 # httpd as PID 1 ignores SIGTERM; keeps namespace deletion quick
  containers:
  - name: httpd
    image: %s
    command: [sh, -c, 'echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 8080 -h /www']
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`, framework.BusyboxImage))
	if _, err := pods.Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	svc := mustParse[corev1.Service](t, `
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)
	svc, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	framework.WaitForPod(ctx, t, ns, "web", framework.PodReady)

	client := mustParse[corev1.Pod](t, fmt.Sprintf(`
metadata: {name: client}
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: %s
    command:
    - sh
    - -ec
    - |
      timeout 10 wget -q -O- http://%s/
      timeout 10 wget -q --no-check-certificate -O- https://10.96.0.1/livez
`, framework.BusyboxImage, svc.Spec.ClusterIP))
	if _, err := pods.Create(ctx, client, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating client pod: %v", err)
	}
	framework.WaitForPod(ctx, t, ns, "client", framework.PodSucceeded)

	out, err := pods.GetLogs("client", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading client logs: %v", err)
	}
	got := strings.Fields(string(out))
	want := []string{"hello", "from", "web", "ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("client output (-want +got):\n%s", diff)
	}
}
