// Package notify tells people how a run ended: one comment on the merge
// request (edited in place on re-runs), email through an SMTP server, and
// posts to chat webhooks (generic JSON or Slack-compatible). Deliveries run
// on the Notifier's own goroutines with retries and are recorded in the
// store, so neither the dispatcher nor the reporter ever waits on them and
// a failure is visible rather than lost.
package notify

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"knative.dev/pkg/apis"

	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// DefaultLogLines is how many lines of the failed step's log a summary
// keeps.
const DefaultLogLines = 20

// maxLogBytes caps what is read of a step's log tail, whatever its lines.
const maxLogBytes = 64 << 10

// Summary is what every notification says about a finished run.
type Summary struct {
	Run store.Run
	// Link is the run's page, <base>/runs/<namespace>/<name>; "" without a
	// public URL.
	Link string
	// AuthorEmail is the commit author's address, when known.
	AuthorEmail string
	// FailedTask and FailedStep name the first failed task and step.
	FailedTask, FailedStep string
	// LogTail is the last lines of the failed step's log.
	LogTail []string
	// Problem says why details are missing (the run or its pods are
	// gone); the summary is still sent.
	Problem string
}

// Duration is how long the run took, or 0 when its times are unknown.
func (s Summary) Duration() time.Duration {
	if s.Run.StartedAt.IsZero() || s.Run.FinishedAt.IsZero() {
		return 0
	}
	return s.Run.FinishedAt.Sub(s.Run.StartedAt).Round(time.Second)
}

// Summarizer collects a Summary from the cluster.
type Summarizer struct {
	tekton  versioned.Interface
	kube    kubernetes.Interface
	logs    store.RunLogs
	baseURL string
	lines   int64
}

// SummarizerOption configures a Summarizer.
type SummarizerOption func(*Summarizer)

// WithStepLogs reads the failed step's log from the stored step logs
// first, and from its pod only when the store has none (yet): the pod may
// be gone by the time the run is summarized. Default: the pod only.
func WithStepLogs(logs store.RunLogs) SummarizerOption {
	return func(s *Summarizer) { s.logs = logs }
}

// NewSummarizer reads PipelineRuns and TaskRuns through tc and step logs
// through kc; baseURL is Slipway's public URL ("" for no link); lines is
// how many log lines to keep (0 means DefaultLogLines).
func NewSummarizer(tc versioned.Interface, kc kubernetes.Interface, baseURL string, lines int, opts ...SummarizerOption) (*Summarizer, error) {
	if tc == nil || kc == nil {
		return nil, errors.New("summarizer: tekton and kubernetes clients are required")
	}
	if lines < 0 {
		return nil, fmt.Errorf("summarizer: log lines must not be negative, got %d", lines)
	}
	if lines == 0 {
		lines = DefaultLogLines
	}
	s := &Summarizer{tekton: tc, kube: kc, baseURL: strings.TrimRight(baseURL, "/"), lines: int64(lines)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Summarize describes run. Missing details (a deleted PipelineRun, pods
// already garbage-collected) are noted in Problem, not returned as errors:
// the notification goes out with what is known.
func (s *Summarizer) Summarize(ctx context.Context, run store.Run) Summary {
	sum := Summary{Run: run}
	ns, name, ok := strings.Cut(run.ID, "/")
	if !ok {
		sum.Problem = fmt.Sprintf("run id %q is not namespace/name", run.ID)
		return sum
	}
	if s.baseURL != "" {
		sum.Link = s.baseURL + "/runs/" + ns + "/" + name
	}
	pr, err := s.tekton.TektonV1().PipelineRuns(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		sum.Problem = fmt.Sprintf("reading PipelineRun: %v", err)
		return sum
	}
	sum.AuthorEmail = pr.Annotations[tekton.AnnotationAuthorEmail]
	if run.State != store.RunFailed {
		return sum
	}
	if err := s.failure(ctx, pr, &sum); err != nil {
		sum.Problem = err.Error()
	}
	return sum
}

// failure finds the first failed TaskRun of pr, its failed step and the
// tail of that step's log.
func (s *Summarizer) failure(ctx context.Context, pr *pipelinev1.PipelineRun, sum *Summary) error {
	for _, ref := range pr.Status.ChildReferences {
		if ref.Kind != "" && ref.Kind != "TaskRun" {
			continue
		}
		tr, err := s.tekton.TektonV1().TaskRuns(pr.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading TaskRun %s: %w", ref.Name, err)
		}
		c := tr.Status.GetCondition(apis.ConditionSucceeded)
		if c == nil || c.Status != corev1.ConditionFalse {
			continue
		}
		sum.FailedTask = ref.PipelineTaskName
		step := failedStep(tr.Status.Steps)
		if step == nil {
			return nil
		}
		sum.FailedStep = step.Name
		if lines, ok := s.storedTail(ctx, pr.Namespace+"/"+pr.Name, ref.PipelineTaskName, step.Name); ok {
			sum.LogTail = lines
			return nil
		}
		if tr.Status.PodName == "" {
			return nil
		}
		container := step.Container
		if container == "" {
			container = "step-" + step.Name
		}
		lines, err := s.tail(ctx, pr.Namespace, tr.Status.PodName, container)
		if err != nil {
			return fmt.Errorf("reading the log of %s/%s: %w", tr.Status.PodName, container, err)
		}
		sum.LogTail = lines
		return nil
	}
	return nil
}

// failedStep is the first step that exited non-zero.
func failedStep(steps []pipelinev1.StepState) *pipelinev1.StepState {
	for i := range steps {
		if t := steps[i].Terminated; t != nil && t.ExitCode != 0 {
			return &steps[i]
		}
	}
	return nil
}

// storedTail is the tail of a step's stored log; ok is false when the
// store has none (the collector saves it as the step ends, which may be
// after the run was reported finished).
func (s *Summarizer) storedTail(ctx context.Context, runID, task, step string) ([]string, bool) {
	if s.logs == nil {
		return nil, false
	}
	l, err := s.logs.GetStepLog(ctx, runID, task, step)
	if err != nil {
		return nil, false
	}
	text := l.Log
	if len(text) > maxLogBytes {
		// The same bound as the pod read; drop the cut first line.
		text = text[len(text)-maxLogBytes:]
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	lines, err := lastLines(strings.NewReader(text), int(s.lines))
	if err != nil {
		return nil, false
	}
	return lines, true
}

func (s *Summarizer) tail(ctx context.Context, ns, pod, container string) ([]string, error) {
	limit := int64(maxLogBytes)
	rc, err := s.kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, TailLines: &s.lines, LimitBytes: &limit,
	}).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return lastLines(rc, int(s.lines))
}

// lastLines keeps the last n lines of r.
func lastLines(r io.Reader, n int) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLogBytes)
	for sc.Scan() {
		out = append(out, sc.Text())
		if len(out) > n {
			out = out[1:]
		}
	}
	return out, sc.Err()
}
