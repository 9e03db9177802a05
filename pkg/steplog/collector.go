package steplog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
	"github.com/slipway-ci/slipway/pkg/testreport"
)

// Saver is where the Collector keeps logs (*store.DB).
type Saver interface {
	SaveStepLog(ctx context.Context, l *store.StepLog) error
}

// ReportSaver is where the Collector keeps parsed test reports (*store.DB).
type ReportSaver interface {
	SaveTestReport(ctx context.Context, runID string, r *testreport.Report) error
}

// The unit-test Task's step whose log ends in the test report summary
// (`slipway test-report collect`).
const (
	ReportTask = "unit-test"
	ReportStep = "report"
)

// Option configures a Collector.
type Option func(*Collector)

// WithTestReports parses the test report summary from the unit-test
// Task's report step and saves it in r. Default: reports are not parsed.
func WithTestReports(r ReportSaver) Option {
	return func(c *Collector) { c.reports = r }
}

// Collector saves the log of every terminated step of Slipway's TaskRuns
// in the store, whether or not anyone watches the run page, so the logs
// outlive the pods. It is a server.Component.
type Collector struct {
	factory   externalversions.SharedInformerFactory
	kube      kubernetes.Interface
	logs      Saver
	reports   ReportSaver
	namespace string
	cap       int
	resync    time.Duration

	lister listers.TaskRunLister
	// synced is set once the watch has synced; the lister is set before
	// it, so a reader that sees it true may use it.
	synced atomic.Bool
	queue  workqueue.TypedRateLimitingInterface[string]
	// saved remembers the steps this process saved, by TaskRun UID, so an
	// informer update does not read a log twice; a deleted TaskRun is
	// forgotten. After a restart the saves repeat, which the store's
	// upsert absorbs.
	mu    sync.Mutex
	saved map[types.UID]map[string]bool
}

// NewCollector watches the TaskRuns of the shared factory, which watches
// namespace (the server's one factory: its TaskRun cache also serves the
// run pages and notifications). capBytes bounds each saved log (its tail
// is kept); zero means DefaultLogCap.
func NewCollector(f externalversions.SharedInformerFactory, kc kubernetes.Interface, logs Saver, namespace string, capBytes int, opts ...Option) *Collector {
	if capBytes <= 0 {
		capBytes = DefaultLogCap
	}
	c := &Collector{factory: f, kube: kc, logs: logs, namespace: namespace, cap: capBytes, resync: 10 * time.Minute, saved: map[types.UID]map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	// Asked for now, so the TaskRun informer is there before anyone starts
	// the factory.
	c.lister = f.Tekton().V1().TaskRuns().Lister()
	return c
}

// Run watches until ctx is done.
func (c *Collector) Run(ctx context.Context) error {
	log := logging.From(ctx).With("component", "log-collector")
	trs := c.factory.Tekton().V1().TaskRuns()
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 5*time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "slipway-logs"})
	enqueue := func(obj any) {
		// CI runs' TaskRuns only: a deploy run's (in a factory that
		// watches them) logs the deploy pod, not a CI step.
		if m, ok := obj.(metav1.Object); !ok || m.GetLabels()[tekton.LabelManaged] != "true" {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	// The resync re-reads logs whose save failed past the queue's retries.
	reg, err := trs.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, ok := obj.(metav1.Object); ok {
				c.mu.Lock()
				delete(c.saved, m.GetUID())
				c.mu.Unlock()
			}
		},
	}, c.resync)
	if err != nil {
		c.queue.ShutDown()
		return fmt.Errorf("adding TaskRun handler: %w", err)
	}
	// Starting is idempotent: this starts the informers not started yet;
	// whoever built the factory shuts it down.
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		c.queue.ShutDown()
		return fmt.Errorf("waiting for TaskRun cache: %w", ctx.Err())
	}
	c.synced.Store(true)
	defer c.synced.Store(false)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for c.next(ctx, log) {
			}
		})
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Collector) next(ctx context.Context, log *slog.Logger) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.queue.Forget(key)
		return true
	}
	tr, err := c.lister.TaskRuns(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.queue.Forget(key)
		return true
	}
	if err == nil {
		err = c.Collect(ctx, tr)
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("saving step logs failed; will retry", "taskrun", key, "err", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// Collect saves the logs of tr's terminated steps not saved yet.
func (c *Collector) Collect(ctx context.Context, tr *pipelinev1.TaskRun) error {
	runName := tr.Labels["tekton.dev/pipelineRun"]
	task := tr.Labels["tekton.dev/pipelineTask"]
	if runName == "" || task == "" || tr.Status.PodName == "" {
		return nil
	}
	var errs []error
	for _, s := range tr.Status.Steps {
		if s.Terminated == nil {
			continue
		}
		c.mu.Lock()
		done := c.saved[tr.UID][s.Name]
		c.mu.Unlock()
		if done {
			continue
		}
		t, err := ReadPod(ctx, c.kube, tr.Namespace, tr.Status.PodName, Container(s), c.cap)
		if apierrors.IsNotFound(err) {
			// The pod is gone: the log is lost, retrying cannot help.
			c.markSaved(tr.UID, s.Name)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := &store.StepLog{
			RunID: tr.Namespace + "/" + runName, Task: task, Step: s.Name, TaskRun: tr.Name,
			ExitCode: int(s.Terminated.ExitCode), Log: string(t.Buf), Truncated: t.Truncated(), Size: t.Total,
			StartedAt: s.Terminated.StartedAt.Time, FinishedAt: s.Terminated.FinishedAt.Time,
		}
		if err := c.logs.SaveStepLog(ctx, l); err != nil {
			errs = append(errs, err)
			continue
		}
		if task == ReportTask && s.Name == ReportStep {
			if err := c.saveReport(ctx, l); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		c.markSaved(tr.UID, s.Name)
	}
	return errors.Join(errs...)
}

// saveReport parses the summary line of the report step's log. A log
// without one (a pipeline from before reports) or with a damaged one is
// not retried: reading it again gives the same.
func (c *Collector) saveReport(ctx context.Context, l *store.StepLog) error {
	if c.reports == nil {
		return nil
	}
	rep, err := testreport.ReadSummary(l.Log)
	if errors.Is(err, testreport.ErrNoReport) {
		return nil
	}
	if err != nil {
		logging.From(ctx).Warn("test report not saved", "run", l.RunID, "err", err)
		return nil
	}
	if err := c.reports.SaveTestReport(ctx, l.RunID, rep); err != nil {
		return fmt.Errorf("saving the test report of %s: %w", l.RunID, err)
	}
	return nil
}

func (c *Collector) markSaved(uid types.UID, step string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saved[uid] == nil {
		c.saved[uid] = map[string]bool{}
	}
	c.saved[uid][step] = true
}

// CachedTaskRuns returns the TaskRuns of PipelineRun ns/pipelineRun from
// the collector's watch. ok is false when the watch cannot answer — not
// synced yet, or another namespace — and the caller should ask the API.
// The objects are copies the caller may keep.
func (c *Collector) CachedTaskRuns(ns, pipelineRun string) (trs []pipelinev1.TaskRun, ok bool) {
	if ns != c.namespace || !c.synced.Load() {
		return nil, false
	}
	list, err := c.lister.TaskRuns(ns).List(labels.SelectorFromSet(labels.Set{"tekton.dev/pipelineRun": pipelineRun}))
	if err != nil {
		return nil, false
	}
	trs = make([]pipelinev1.TaskRun, 0, len(list))
	for _, tr := range list {
		trs = append(trs, *tr.DeepCopy())
	}
	return trs, true
}
