package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/failure"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/steplog"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Pipeline result names the build tasks declare for Tekton Chains.
const (
	resultImageURL    = "IMAGE_URL"
	resultImageDigest = "IMAGE_DIGEST"
)

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

// reconcile brings the stored run and the commit status in line with the
// PipelineRun named by key.
func (r *Reporter) reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return &badRunError{fmt.Errorf("bad key %q: %w", key, err)}
	}
	pr, err := r.lister.PipelineRuns(ns).Get(name)
	if k8serrors.IsNotFound(err) {
		return nil // deleted; what was stored stays
	}
	if err != nil {
		return fmt.Errorf("getting PipelineRun %s: %w", key, err)
	}
	if pr.Labels[tekton.LabelManaged] != "true" {
		return nil
	}

	ciRun, err := r.loadRun(ctx, key, pr)
	if err != nil {
		return err
	}
	before := *ciRun
	state, msg := tekton.RunState(pr)
	applyStatus(ciRun, pr, state, msg)
	if state.Terminal() && before.Reported == state {
		// Keep the final word: the failed task or why the post failed.
		ciRun.Message = before.Message
	}

	var postErr error
	if rank(state) > rank(ciRun.Reported) {
		if state == run.Failed && r.taskRunsBehind(pr) && r.limiter.NumRequeues(key) < maxCacheWaits {
			// The PipelineRun and TaskRun watches are separate streams: on a
			// busy apiserver the run's failure can arrive before its
			// TaskRun's, and the one status it gets would say only "Tasks
			// Completed: …". Wait a few backoff steps for the TaskRun.
			return fmt.Errorf("PipelineRun %s failed before its failed TaskRun reached the cache: %w", key, errTaskRunsBehind)
		}
		if state.Terminal() {
			// Before the post: a store error retries both.
			if err := r.savePolicy(ctx, ciRun, pr); err != nil {
				return err
			}
		}
		desc := r.describe(ctx, pr, state, msg)
		if state == run.Failed && desc.detail != "" {
			ciRun.Message = desc.detail
		}
		postErr = r.post(ctx, ciRun, pr, state, desc.text)
		if ok, _ := retry.IsTransient(postErr); ok || ctx.Err() != nil {
			// Keep what we learned, but not Reported: the post is retried.
			if err := r.update(ctx, &before, ciRun); err != nil {
				return errors.Join(postErr, err)
			}
			return postErr
		}
		if postErr != nil {
			ciRun.Message = fmt.Sprintf("%s (status not posted: %v)", ciRun.Message, postErr)
		}
		ciRun.Reported = state
	}
	if err := r.update(ctx, &before, ciRun); err != nil {
		return err
	}
	// The store holds Reported now; the in-process memo is no longer needed.
	r.mu.Lock()
	delete(r.posted, ciRun.ID)
	r.mu.Unlock()
	if state.Terminal() && !before.Reported.Terminal() && ciRun.Reported == state {
		r.metrics.finished(state)
		if r.onFinished != nil {
			r.onFinished(ctx, *ciRun)
		}
	}
	return nil
}

// loadRun returns the stored run, recording it first when the dispatcher
// did not (the run predates the record, or its replica crashed).
func (r *Reporter) loadRun(ctx context.Context, key string, pr *pipelinev1.PipelineRun) (*run.Run, error) {
	run, err := r.runs.GetRun(ctx, key)
	if err == nil {
		return run, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("getting run %s: %w", key, err)
	}
	fresh, err := runFromPipelineRun(pr)
	if err != nil {
		return nil, &badRunError{fmt.Errorf("run %s: %w", key, err)}
	}
	if err := r.runs.CreateRun(ctx, fresh); err != nil {
		return nil, fmt.Errorf("creating run %s: %w", key, err)
	}
	// Read back: a concurrent creator's record wins.
	run, err = r.runs.GetRun(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("getting run %s after creating it: %w", key, err)
	}
	return run, nil
}

func (r *Reporter) update(ctx context.Context, before, run *run.Run) error {
	if *before == *run {
		return nil
	}
	err := r.runs.UpdateRun(ctx, run, *before)
	if errors.Is(err, store.ErrConflict) {
		// Another replica recorded a change first: look again, from what
		// it stored. Only the writer that won goes on to notify.
		return retry.Transient(fmt.Errorf("updating run %s: %w", run.ID, err))
	}
	if err != nil {
		return fmt.Errorf("updating run %s: %w", run.ID, err)
	}
	return nil
}

// post sends the commit status for state, unless this process already did.
func (r *Reporter) post(ctx context.Context, run *run.Run, pr *pipelinev1.PipelineRun, state run.State, desc string) error {
	r.mu.Lock()
	done := r.posted[run.ID] == state
	r.mu.Unlock()
	if done {
		return nil
	}
	log := r.log.With("run", run.ID, "repo", run.Repo, "sha", run.SHA, "state", state)
	client := r.providers[run.Provider]
	if client == nil {
		r.metrics.posted(run.Provider, "no_client")
		log.Warn("no SCM client for provider", "provider", run.Provider)
		return fmt.Errorf("no SCM client for provider %q", run.Provider)
	}
	if r.ledger != nil {
		switch c, err := r.ledger.ClaimStatusPost(ctx, run.ID, string(state), r.postLease); {
		case err != nil:
			return retry.Transient(fmt.Errorf("claiming the %s status post: %w", state, err))
		case c == store.PostSent:
			// A retry after a lost store write, or another replica: the
			// host already has this status.
			r.duplicates.Inc()
			r.mu.Lock()
			r.posted[run.ID] = state
			r.mu.Unlock()
			log.Info("status already posted; not posting again")
			return nil
		case c == store.PostHeld:
			return retry.Transient(fmt.Errorf("the %s status is being posted by another replica", state))
		}
	}
	st := scm.Status{
		SHA:         run.SHA,
		State:       scm.StatusState(state),
		Context:     tekton.StatusContext(r.statusContext, pr),
		Description: desc,
		TargetURL:   r.targetURL(pr),
		Ref:         statusRef(pr),
	}
	err := client.SetStatus(ctx, scm.Repo{FullName: run.Repo, ProjectID: run.ProjectID}, st)
	switch transient, _ := retry.IsTransient(err); {
	case err == nil:
		r.metrics.posted(run.Provider, "ok")
		log.Info("status posted")
		r.mu.Lock()
		r.posted[run.ID] = state
		r.mu.Unlock()
		if r.ledger != nil {
			if err := r.ledger.MarkStatusPosted(context.WithoutCancel(ctx), run.ID, string(state)); err != nil {
				// The memo covers this process; another replica would post
				// again only after the claim's lease.
				log.Warn("recording the posted status", "err", err)
			}
		}
		return nil
	case transient:
		r.metrics.posted(run.Provider, "retry")
	default:
		r.metrics.posted(run.Provider, "error")
		log.Error("status not posted", "err", err)
	}
	if r.ledger != nil {
		// Not posted: the next attempt, here or elsewhere, may claim it now.
		if rerr := r.ledger.ReleaseStatusPost(context.WithoutCancel(ctx), run.ID, string(state)); rerr != nil {
			log.Warn("releasing the status post claim", "err", rerr)
		}
	}
	return fmt.Errorf("posting %s status: %w", state, err)
}

func (r *Reporter) targetURL(pr *pipelinev1.PipelineRun) string {
	if r.baseURL == "" {
		return ""
	}
	return r.baseURL + "/runs/" + pr.Namespace + "/" + pr.Name
}

// rank orders states so a stale view never posts a state older than the
// one reported; all terminal states are final.
func rank(s run.State) int {
	switch {
	case s == run.Pending:
		return 1
	case s == run.Running:
		return 2
	case s.Terminal():
		return 3
	}
	return 0
}

// applyStatus copies what the PipelineRun says into run.
func applyStatus(run *run.Run, pr *pipelinev1.PipelineRun, state run.State, msg string) {
	run.State = state
	run.Message = msg
	if t := pr.Status.StartTime; t != nil {
		run.StartedAt = t.Time
	}
	if t := pr.Status.CompletionTime; t != nil {
		run.FinishedAt = t.Time
	}
	for _, res := range pr.Status.Results {
		switch res.Name {
		case resultImageURL:
			run.ImageURL = strings.TrimSpace(res.Value.StringVal)
		case resultImageDigest:
			run.ImageDigest = strings.TrimSpace(res.Value.StringVal)
		}
	}
}

type description struct {
	text string
	// detail names the failed task and why, when known.
	detail string
}

// describe is the short status text for state.
func (r *Reporter) describe(ctx context.Context, pr *pipelinev1.PipelineRun, state run.State, msg string) description {
	switch state {
	case run.Pending:
		return description{text: "Build queued"}
	case run.Running:
		return description{text: "Build running"}
	case run.Succeeded:
		return description{text: "Build succeeded"}
	case run.Canceled:
		return description{text: "Build canceled"}
	}
	// One explanation for the status (short), the run page, notifications
	// and the MR comment (full, with the fix): see pkg/failure.
	task, tr := r.failedTask(pr)
	if task == policyTask {
		// The violations themselves, not the step's exit code.
		if c, ok, _ := r.policyCheck(pr); ok && c.Outcome == run.PolicyFailed {
			return description{text: truncate(c.Summary(), maxDescription), detail: "Dependency policy failed: " + c.Summary() + "\n\n" + c.Table()}
		}
	}
	e := failure.Explain(ctx, failure.Input{PipelineRun: pr, TaskRun: tr, Task: task, Logs: r.logTail})
	if task == "" && e.Cause == failure.CauseUnknown {
		return description{text: truncate("Build failed: "+msg, maxDescription)}
	}
	return description{text: truncate(e.Short, maxDescription), detail: e.Full()}
}

// maxCacheWaits bounds how often a failed run waits for its TaskRuns to
// reach the cache (backoff 1 s, 2 s, 4 s, 8 s by default) before its
// status falls back to the PipelineRun's own message.
const maxCacheWaits = 4

var errTaskRunsBehind = errors.New("TaskRun cache behind")

// taskRunsBehind says the PipelineRun has TaskRuns but none of them is
// failed in the cache yet (one pruned or never seen also counts: the wait
// is bounded).
func (r *Reporter) taskRunsBehind(pr *pipelinev1.PipelineRun) bool {
	hasTaskRuns := false
	for _, ref := range pr.Status.ChildReferences {
		if ref.Kind == "" || ref.Kind == "TaskRun" {
			hasTaskRuns = true
			break
		}
	}
	if !hasTaskRuns {
		return false
	}
	task, _ := r.failedTask(pr)
	return task == ""
}

// failedTask finds the first child TaskRun that failed, in pipeline order,
// in the shared TaskRun cache. Tekton marks the TaskRun failed before the
// PipelineRun it fails; one not in the cache (pruned) falls back to the
// PipelineRun's message.
func (r *Reporter) failedTask(pr *pipelinev1.PipelineRun) (string, *pipelinev1.TaskRun) {
	ref, tr := steplog.FailedTaskRun(pr, r.trLister.TaskRuns(pr.Namespace).Get)
	if ref == nil {
		return "", nil
	}
	name := ref.PipelineTaskName
	if name == "" {
		name = ref.Name
	}
	return name, tr
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// statusRef is the branch a status belongs to: the MR's source branch for
// merge requests (GitLab shows MR pipelines by it), else the pushed branch
// or tag.
func statusRef(pr *pipelinev1.PipelineRun) string {
	ref := pr.Annotations[tekton.AnnotationRef]
	if b := pr.Annotations[tekton.AnnotationSourceBranch]; b != "" {
		return b
	}
	switch {
	case strings.HasPrefix(ref, "refs/heads/"):
		return strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/tags/"):
		return strings.TrimPrefix(ref, "refs/tags/")
	case strings.HasPrefix(ref, "refs/merge-requests/"), strings.HasPrefix(ref, "refs/pull/"):
		return "" // no branch known; the host attaches the status by SHA alone
	}
	return ref
}

// runFromPipelineRun rebuilds a Run from the labels and annotations the
// dispatcher put on the PipelineRun.
func runFromPipelineRun(pr *pipelinev1.PipelineRun) (*run.Run, error) {
	l, a := pr.Labels, pr.Annotations
	run := &run.Run{
		ID:        pr.Namespace + "/" + pr.Name,
		Provider:  event.Provider(l[tekton.LabelProvider]),
		Kind:      event.Kind(l[tekton.LabelKind]),
		Repo:      a[tekton.AnnotationRepo],
		App:       l[tekton.LabelApp],
		Ref:       a[tekton.AnnotationRef],
		SHA:       l[tekton.LabelSHA],
		CreatedAt: pr.CreationTimestamp.Time,
	}
	var missing []string
	for _, f := range []struct{ name, val string }{
		{tekton.LabelProvider, string(run.Provider)},
		{tekton.AnnotationRepo, run.Repo},
		{tekton.LabelSHA, run.SHA},
	} {
		if f.val == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	var err error
	if run.EventID, err = parseInt(l, tekton.LabelEventID); err != nil {
		return nil, err
	}
	if run.ProjectID, err = parseInt(a, tekton.AnnotationProjectID); err != nil {
		return nil, err
	}
	mr, err := parseInt(l, tekton.LabelMR)
	if err != nil {
		return nil, err
	}
	run.MRNumber = int(mr)
	return run, nil
}

func parseInt(m map[string]string, key string) (int64, error) {
	v, ok := m[key]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	return n, nil
}
