package failure

import (
	"bufio"
	"context"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// PodLogs reads the last lines of a step's container log from the
// TaskRun's pod; nil when the pod is gone or the log unreadable (the
// explanation then goes without log lines).
func PodLogs(kc kubernetes.Interface, lines int64) LogTail {
	return func(ctx context.Context, tr *pipelinev1.TaskRun, step string) []string {
		if tr == nil || tr.Status.PodName == "" || step == "" {
			return nil
		}
		req := kc.CoreV1().Pods(tr.Namespace).GetLogs(tr.Status.PodName, &corev1.PodLogOptions{Container: "step-" + step, TailLines: &lines})
		b, err := req.DoRaw(ctx)
		if err != nil {
			return nil
		}
		var out []string
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		return out
	}
}
