package dispatch

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// The per-repo limit works with Tekton's own queue state: when a limit is
// set every CI run is created with spec.status PipelineRunPending (Tekton
// shows it as pending and starts nothing), then admit starts the oldest
// queued runs while fewer than the limit are running. admit runs after
// each dispatch, when a run finishes (the reporter calls Admit) and on a
// slow timer as a safety net. Cancel-in-progress composes with it: a
// superseded queued run is cancelled before it ever starts, and a
// superseded running one keeps its slot until Tekton has stopped it.

// startPatch clears spec.status only if it still says pending, so a run
// cancelled between the list and the patch stays cancelled.
var startPatch = []byte(`[{"op":"test","path":"/spec/status","value":"` +
	string(pipelinev1.PipelineRunSpecStatusPending) + `"},{"op":"remove","path":"/spec/status"}]`)

// WithMaxRunningPerRepo caps the CI PipelineRuns running at once for one
// repository; the others wait queued and start oldest first. Default 0:
// no limit, runs start at once.
func WithMaxRunningPerRepo(n int) Option { return func(d *Dispatcher) { d.maxRunning = n } }

// RunSlots counts the running slots of each repository in the store
// (*store.DB), so replicas admitting at once share one count.
type RunSlots interface {
	// AcquireRunSlot reports whether runID holds one of repo's limit
	// slots, taking a free one if needed; limit <= 0 takes it regardless.
	AcquireRunSlot(ctx context.Context, repo, runID string, limit int) (bool, error)
	ReleaseRunSlot(ctx context.Context, runID string) error
}

// WithRunSlots counts the per-repo limit in s. Default: none; each
// replica counts what it lists, and replicas admitting at the same
// instant may exceed the limit together.
func WithRunSlots(s RunSlots) Option { return func(d *Dispatcher) { d.runSlots = s } }

// Admit starts queued runs of provider's repo while its limit allows, and
// returns how many it started. The reporter calls it when a run finishes.
// Without a limit it does nothing.
func (d *Dispatcher) Admit(ctx context.Context, provider event.Provider, repo string) (int, error) {
	if d.maxRunning <= 0 {
		return 0, nil
	}
	return d.admit(ctx, labels.Set{tekton.LabelRepoHash: tekton.RepoHash(provider, repo)})
}

// admitAll admits queued runs of every repository.
func (d *Dispatcher) admitAll(ctx context.Context) (int, error) {
	if d.maxRunning <= 0 {
		return 0, nil
	}
	return d.admit(ctx, labels.Set{})
}

func (d *Dispatcher) admit(ctx context.Context, sel labels.Set) (int, error) {
	// One admission at a time in this replica, so two finishing runs do
	// not both start the same slot's worth of queued runs. Across replicas
	// the store's count (WithRunSlots) decides.
	d.admitMu.Lock()
	defer d.admitMu.Unlock()
	sel[tekton.LabelManaged] = "true"
	sel[tekton.LabelPipeline] = "ci"
	list, err := d.tekton.TektonV1().PipelineRuns(d.run.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, fmt.Errorf("listing PipelineRuns %s: %w", sel, err)
	}
	if d.runSlots != nil {
		return d.admitCounted(ctx, list.Items)
	}
	started := 0
	for _, pr := range toStart(list.Items, d.maxRunning) {
		_, err := d.tekton.TektonV1().PipelineRuns(pr.Namespace).Patch(ctx, pr.Name, types.JSONPatchType, startPatch, metav1.PatchOptions{})
		switch {
		case apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsConflict(err):
			// Deleted, or no longer pending (the test op failed): the next
			// admission looks again.
			continue
		case err != nil:
			return started, fmt.Errorf("starting PipelineRun %s/%s: %w", pr.Namespace, pr.Name, err)
		}
		started++
	}
	return started, nil
}

// toStart picks, per repository, the oldest queued runs that fit under
// limit next to the ones already running. A run being cancelled still
// holds its slot until Tekton reports it done.
func toStart(prs []pipelinev1.PipelineRun, limit int) []*pipelinev1.PipelineRun {
	running := map[string]int{}
	queued := map[string][]*pipelinev1.PipelineRun{}
	for i := range prs {
		pr := &prs[i]
		if pr.IsDone() {
			continue
		}
		repo := pr.Labels[tekton.LabelRepoHash]
		if pr.Spec.Status == pipelinev1.PipelineRunSpecStatusPending {
			queued[repo] = append(queued[repo], pr)
			continue
		}
		if pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled && pr.Status.StartTime == nil {
			continue // cancelled while queued: Tekton never starts it
		}
		running[repo]++
	}
	var out []*pipelinev1.PipelineRun
	for _, repo := range slices.Sorted(maps.Keys(queued)) {
		q := queued[repo]
		slices.SortFunc(q, olderFirst)
		free := min(max(limit-running[repo], 0), len(q))
		out = append(out, q[:free]...)
	}
	return out
}

// olderFirst orders by creation time, then event id (the queue's order),
// then name.
func olderFirst(a, b *pipelinev1.PipelineRun) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	ea, _ := strconv.ParseInt(a.Labels[tekton.LabelEventID], 10, 64)
	eb, _ := strconv.ParseInt(b.Labels[tekton.LabelEventID], 10, 64)
	return cmp.Or(cmp.Compare(ea, eb), cmp.Compare(a.Name, b.Name))
}

// admitCounted is admit with the slots counted in the store: finished runs
// give theirs back, running ones hold theirs, and a queued run starts only
// once the store gave it one, so two replicas never start more than the
// limit between them.
func (d *Dispatcher) admitCounted(ctx context.Context, prs []pipelinev1.PipelineRun) (int, error) {
	for i := range prs {
		pr := &prs[i]
		id := pr.Namespace + "/" + pr.Name
		var err error
		switch {
		case pr.IsDone():
			err = d.runSlots.ReleaseRunSlot(ctx, id)
		case pr.Spec.Status == pipelinev1.PipelineRunSpecStatusPending:
		case pr.Spec.Status == pipelinev1.PipelineRunSpecStatusCancelled && pr.Status.StartTime == nil:
			err = d.runSlots.ReleaseRunSlot(ctx, id) // never starts
		default:
			_, err = d.runSlots.AcquireRunSlot(ctx, pr.Labels[tekton.LabelRepoHash], id, 0)
		}
		if err != nil {
			return 0, fmt.Errorf("counting run slots: %w", err)
		}
	}
	started := 0
	full := map[string]bool{}
	for _, pr := range toStart(prs, d.maxRunning) {
		repo, id := pr.Labels[tekton.LabelRepoHash], pr.Namespace+"/"+pr.Name
		if full[repo] {
			continue
		}
		ok, err := d.runSlots.AcquireRunSlot(ctx, repo, id, d.maxRunning)
		if err != nil {
			return started, fmt.Errorf("taking a run slot for %s: %w", id, err)
		}
		if !ok {
			full[repo] = true // another replica filled it; older runs go first
			continue
		}
		_, err = d.tekton.TektonV1().PipelineRuns(pr.Namespace).Patch(ctx, pr.Name, types.JSONPatchType, startPatch, metav1.PatchOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if rerr := d.runSlots.ReleaseRunSlot(ctx, id); rerr != nil {
				return started, fmt.Errorf("releasing the slot of deleted %s: %w", id, rerr)
			}
			continue
		case err != nil && !d.stillPending(ctx, pr):
			// The test op failed: started by another replica holding this
			// same slot, or cancelled (released once Tekton says done).
			continue
		case err != nil:
			return started, fmt.Errorf("starting PipelineRun %s: %w", id, err)
		}
		started++
	}
	return started, nil
}

// stillPending re-reads pr after a failed start: false when it is no
// longer waiting (the API's answer to a failed test op varies).
func (d *Dispatcher) stillPending(ctx context.Context, pr *pipelinev1.PipelineRun) bool {
	cur, err := d.tekton.TektonV1().PipelineRuns(pr.Namespace).Get(ctx, pr.Name, metav1.GetOptions{})
	return err != nil || cur.Spec.Status == pipelinev1.PipelineRunSpecStatusPending
}
