// Package notify tells people how a run ended: one comment on the merge
// request (edited in place on re-runs), email through an SMTP server, and
// posts to chat webhooks (generic JSON or Slack-compatible). Deliveries run
// on the Notifier's own goroutines with retries and are recorded in the
// store, so neither the dispatcher nor the reporter ever waits on them and
// a failure is visible rather than lost.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

// DefaultLogLines is how many lines of the failed step's log a summary
// keeps.
const DefaultLogLines = 20

// maxLogBytes caps what is read of a step's log tail, whatever its lines.
const maxLogBytes = 64 << 10

// Summary is what every notification says about a finished run.
type Summary struct {
	Run run.Run
	// Link is the run's page, <base>/runs/<namespace>/<name>; "" without a
	// public URL.
	Link string
	// AuthorEmail is the commit author's address, when known.
	AuthorEmail string
	// FailedTask and FailedStep name the first failed task and step.
	FailedTask, FailedStep string
	// LogTail is the last lines of the failed step's log.
	LogTail []string
	// Tests is the run's unit-test report, nil when it has none.
	Tests *testreport.Report
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

// StepLogs reads a saved step log (*store.DB).
type StepLogs interface {
	GetStepLog(ctx context.Context, runID, task, step string) (*store.StepLog, error)
}

// TestReports reads a run's parsed test report (*store.DB).
type TestReports interface {
	GetTestReport(ctx context.Context, runID string) (*testreport.Report, error)
}

// Summarizer collects a Summary from the cluster.
type Summarizer struct {
	prs     listers.PipelineRunLister
	trs     listers.TaskRunLister
	kube    kubernetes.Interface
	logs    StepLogs
	reports TestReports
	baseURL string
	lines   int64
}

// SummarizerOption configures a Summarizer.
type SummarizerOption func(*Summarizer)

// WithStepLogs reads the failed step's log from the stored step logs
// first, and from its pod only when the store has none (yet): the pod may
// be gone by the time the run is summarized. Default: the pod only.
func WithStepLogs(logs StepLogs) SummarizerOption {
	return func(s *Summarizer) { s.logs = logs }
}

// WithTestReports adds the run's test report to the summary: the stored
// one, else the summary line of the unit-test report step's log (the
// collector may not have saved it yet when the run ends). Default: none.
func WithTestReports(r TestReports) SummarizerOption {
	return func(s *Summarizer) { s.reports = r }
}

// NewSummarizer reads PipelineRuns and TaskRuns from the server's watches
// (listers of its shared informer factory) and step logs through kc;
// baseURL is Slipway's public URL ("" for no link); lines is how many log
// lines to keep (0 means DefaultLogLines).
func NewSummarizer(prs listers.PipelineRunLister, trs listers.TaskRunLister, kc kubernetes.Interface, baseURL string, lines int, opts ...SummarizerOption) (*Summarizer, error) {
	if prs == nil || trs == nil || kc == nil {
		return nil, errors.New("summarizer: PipelineRun and TaskRun listers and a kubernetes client are required")
	}
	if lines < 0 {
		return nil, fmt.Errorf("summarizer: log lines must not be negative, got %d", lines)
	}
	if lines == 0 {
		lines = DefaultLogLines
	}
	s := &Summarizer{prs: prs, trs: trs, kube: kc, baseURL: strings.TrimRight(baseURL, "/"), lines: int64(lines)}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Summarize describes run. Missing details (a deleted PipelineRun, pods
// already garbage-collected) are noted in Problem, not returned as errors:
// the notification goes out with what is known.
func (s *Summarizer) Summarize(ctx context.Context, ciRun run.Run) Summary {
	sum := Summary{Run: ciRun}
	ns, name, ok := strings.Cut(ciRun.ID, "/")
	if !ok {
		sum.Problem = fmt.Sprintf("run id %q is not namespace/name", ciRun.ID)
		return sum
	}
	if s.baseURL != "" {
		sum.Link = s.baseURL + "/runs/" + ns + "/" + name
	}
	pr, err := s.prs.PipelineRuns(ns).Get(name)
	if err != nil {
		sum.Problem = fmt.Sprintf("reading PipelineRun: %v", err)
		return sum
	}
	sum.AuthorEmail = pr.Annotations[tekton.AnnotationAuthorEmail]
	sum.Tests = s.tests(ctx, pr)
	if ciRun.State != run.Failed {
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
	ref, tr := steplog.FailedTaskRun(pr, s.trs.TaskRuns(pr.Namespace).Get)
	if ref == nil {
		return nil
	}
	sum.FailedTask = ref.PipelineTaskName
	step := steplog.FailedStep(tr.Status.Steps)
	if step == nil {
		return nil
	}
	sum.FailedStep = step.Name
	var stored *store.StepLog
	if s.logs != nil {
		// None yet is normal: the collector saves the log as the step
		// ends, which may be after the run was reported finished.
		stored, _ = s.logs.GetStepLog(ctx, pr.Namespace+"/"+pr.Name, ref.PipelineTaskName, step.Name)
	}
	if stored == nil && tr.Status.PodName == "" {
		return nil
	}
	l, err := steplog.Lookup(ctx, s.kube, stored, pr.Namespace, tr.Status.PodName, steplog.Container(*step), maxLogBytes)
	if err == nil {
		var lines []string
		if lines, err = steplog.LastLines(l.Text, int(s.lines), maxLogBytes); err == nil {
			sum.LogTail = lines
			return nil
		}
	}
	return fmt.Errorf("reading the log of %s/%s: %w", tr.Status.PodName, steplog.Container(*step), err)
}

// tests finds pr's test report; none is normal (no tests, an older
// pipeline), so nothing here is a Problem.
func (s *Summarizer) tests(ctx context.Context, pr *pipelinev1.PipelineRun) *testreport.Report {
	if s.reports == nil {
		return nil
	}
	id := pr.Namespace + "/" + pr.Name
	if rep, err := s.reports.GetTestReport(ctx, id); err == nil {
		return rep
	}
	for _, ref := range pr.Status.ChildReferences {
		if ref.PipelineTaskName != steplog.ReportTask {
			continue
		}
		tr, err := s.trs.TaskRuns(pr.Namespace).Get(ref.Name)
		if err != nil {
			return nil
		}
		for _, st := range tr.Status.Steps {
			if st.Name != steplog.ReportStep || st.Terminated == nil {
				continue
			}
			var stored *store.StepLog
			if s.logs != nil {
				stored, _ = s.logs.GetStepLog(ctx, id, steplog.ReportTask, steplog.ReportStep)
			}
			if stored == nil && tr.Status.PodName == "" {
				return nil
			}
			l, err := steplog.Lookup(ctx, s.kube, stored, pr.Namespace, tr.Status.PodName, steplog.Container(st), steplog.DefaultLogCap)
			if err != nil {
				return nil
			}
			rep, err := testreport.ReadSummary(l.Text)
			if err != nil {
				return nil
			}
			return rep
		}
	}
	return nil
}
