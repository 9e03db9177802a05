//go:build e2e

package framework

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tektoncd/pipeline/pkg/apis/pipeline"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// maxLogBytes bounds each container log in a dump; the end is what explains a failure.
const maxLogBytes = 16 << 10

// dumped remembers the PipelineRuns already dumped ("ns/name"), so that the
// namespace cleanup of a failed test does not print them a second time.
var dumped sync.Map

// DumpPipelineRun logs the PipelineRun, its TaskRuns and the logs of every
// container of their pods, for a failing test to show what happened.
func DumpPipelineRun(t *testing.T, ns, name string) {
	t.Helper()
	dumped.Store(ns+"/"+name, true)
	c := Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "===== PipelineRun %s/%s\n", ns, name)
	pr, err := c.Tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(&b, "reading it: %v\n", err)
		t.Log(b.String())
		return
	}
	writeYAML(&b, pr)
	trs, err := c.Tekton.TektonV1().TaskRuns(ns).List(ctx, metav1.ListOptions{
		LabelSelector: pipeline.PipelineRunLabelKey + "=" + name,
	})
	if err != nil {
		fmt.Fprintf(&b, "listing its TaskRuns: %v\n", err)
	}
	if trs != nil {
		for i := range trs.Items {
			tr := &trs.Items[i]
			fmt.Fprintf(&b, "----- TaskRun %s (pod %q)\n", tr.Name, tr.Status.PodName)
			writeYAML(&b, tr.Status)
			if tr.Status.PodName != "" {
				writePodLogs(ctx, &b, c, ns, tr.Status.PodName)
			}
		}
	}
	t.Log(b.String())
}

// DumpPod logs the pod's status and the logs of its containers.
func DumpPod(t *testing.T, ns, name string) {
	t.Helper()
	c := Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "===== Pod %s/%s\n", ns, name)
	writePodLogs(ctx, &b, c, ns, name)
	t.Log(b.String())
}

func writePodLogs(ctx context.Context, b *strings.Builder, c *Clients, ns, name string) {
	pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(b, "reading pod %s: %v\n", name, err)
		return
	}
	writeYAML(b, pod.Status)
	var names []string
	for _, ctr := range pod.Spec.InitContainers {
		names = append(names, ctr.Name)
	}
	for _, ctr := range pod.Spec.Containers {
		names = append(names, ctr.Name)
	}
	limit := int64(maxLogBytes)
	for _, n := range names {
		out, err := c.Kube.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: n, LimitBytes: &limit}).DoRaw(ctx)
		if err != nil {
			fmt.Fprintf(b, "--- logs of %s/%s: %v\n", name, n, err)
			continue
		}
		fmt.Fprintf(b, "--- logs of %s/%s:\n%s\n", name, n, out)
	}
}

func writeYAML(b *strings.Builder, v any) {
	out, err := yaml.Marshal(v)
	if err != nil {
		fmt.Fprintf(b, "(cannot render: %v)\n", err)
		return
	}
	b.Write(out)
}
