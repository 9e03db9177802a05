// Package steplog keeps and finds the logs of Slipway's pipeline steps: the
// Collector saves every terminated step's log in the store so it outlives
// its pod, and the helpers here are the one way the web UI, notifications
// and merge-request comments find a failed task, its failed step and that
// step's log (the stored copy, else the pod's).
package steplog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/store"
)

// DefaultLogCap is how much of each step's log is kept: the tail, where
// the error usually is.
const DefaultLogCap = 1 << 20

// ErrGone is returned by Lookup when the log was not saved and its pod is
// gone: nothing can be read any more.
var ErrGone = errors.New("the log was not saved and the pod is gone")

// Tail keeps the last Max bytes written to it and counts the rest.
type Tail struct {
	Max   int
	Buf   []byte
	Total int64
}

func (t *Tail) Write(p []byte) (int, error) {
	t.Total += int64(len(p))
	t.Buf = append(t.Buf, p...)
	if over := len(t.Buf) - t.Max; over > 0 {
		// Cut at a line start when one is near, so the kept tail does not
		// begin in the middle of a line (or of a UTF-8 sequence).
		cut := over
		if i := strings.IndexByte(string(t.Buf[over:min(len(t.Buf), over+4096)]), '\n'); i >= 0 {
			cut = over + i + 1
		}
		t.Buf = append(t.Buf[:0], t.Buf[cut:]...)
	}
	return len(p), nil
}

// Truncated reports whether more was written than kept.
func (t *Tail) Truncated() bool { return t.Total > int64(len(t.Buf)) }

// ReadPod reads the whole log of one container of a pod, keeping the last
// capBytes.
func ReadPod(ctx context.Context, kube kubernetes.Interface, ns, pod, container string, capBytes int) (*Tail, error) {
	rc, err := kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading log of %s/%s container %s: %w", ns, pod, container, err)
	}
	defer rc.Close()
	t := &Tail{Max: capBytes}
	if _, err := io.Copy(t, rc); err != nil {
		return nil, fmt.Errorf("reading log of %s/%s container %s: %w", ns, pod, container, err)
	}
	return t, nil
}

// Log is a step's log as far as it is known.
type Log struct {
	Text      string
	Truncated bool
}

// Lookup is a step's log: stored when the collector saved it, else read
// from the step's container in pod now (its last capBytes). A log neither
// saved nor readable from a live pod is ErrGone.
func Lookup(ctx context.Context, kube kubernetes.Interface, stored *store.StepLog, ns, pod, container string, capBytes int) (Log, error) {
	if stored != nil {
		return Log{Text: stored.Log, Truncated: stored.Truncated}, nil
	}
	if pod == "" {
		return Log{}, ErrGone
	}
	t, err := ReadPod(ctx, kube, ns, pod, container, capBytes)
	if apierrors.IsNotFound(err) {
		return Log{}, ErrGone
	}
	if err != nil {
		return Log{}, err
	}
	return Log{Text: string(t.Buf), Truncated: t.Truncated()}, nil
}

// Container is the pod container a step runs in.
func Container(s pipelinev1.StepState) string {
	if s.Container != "" {
		return s.Container
	}
	return "step-" + s.Name
}

// FailedTaskRun is the first child TaskRun of pr that failed, in pipeline
// order, with its reference; nil when none did. get reads a TaskRun of
// pr's namespace by name (a lister); one that cannot be read (pruned) is
// passed over.
func FailedTaskRun(pr *pipelinev1.PipelineRun, get func(name string) (*pipelinev1.TaskRun, error)) (*pipelinev1.ChildStatusReference, *pipelinev1.TaskRun) {
	for i, ref := range pr.Status.ChildReferences {
		if ref.Kind != "" && ref.Kind != "TaskRun" {
			continue
		}
		tr, err := get(ref.Name)
		if err != nil {
			continue
		}
		if c := tr.Status.GetCondition(apis.ConditionSucceeded); c != nil && c.IsFalse() {
			return &pr.Status.ChildReferences[i], tr
		}
	}
	return nil, nil
}

// FailedStep is the first step that exited non-zero.
func FailedStep(steps []pipelinev1.StepState) *pipelinev1.StepState {
	for i := range steps {
		if t := steps[i].Terminated; t != nil && t.ExitCode != 0 {
			return &steps[i]
		}
	}
	return nil
}

// LastLines keeps the last n lines of text, read from at most its last
// maxBytes (the first, cut line dropped).
func LastLines(text string, n, maxBytes int) ([]string, error) {
	if len(text) > maxBytes {
		text = text[len(text)-maxBytes:]
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), max(maxBytes, 64<<10))
	for sc.Scan() {
		out = append(out, sc.Text())
		if len(out) > n {
			out = out[1:]
		}
	}
	return out, sc.Err()
}
