// Package report watches Slipway's PipelineRuns and turns their state
// changes into commit statuses on the git host, keeping the stored Run in
// step with the PipelineRun.
package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/informers/externalversions"
	listers "github.com/tektoncd/pipeline/pkg/client/listers/pipeline/v1"
	k8serrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/failure"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// DefaultStatusContext is the commit status name unless WithStatusContext
// says otherwise.
const DefaultStatusContext = "slipway/ci"

// Reporter reconciles Slipway's PipelineRuns into the store and the git
// hosts' commit statuses. Create it with New and start it with Run.
type Reporter struct {
	factory   externalversions.SharedInformerFactory
	runs      store.Runs
	providers map[event.Provider]scm.Client

	namespace     string
	statusContext string
	baseURL       string
	workers       int
	baseDelay     time.Duration
	maxDelay      time.Duration
	resync        time.Duration
	onFinished    func(context.Context, run.Run)
	policyChecks  PolicyChecks
	logTail       failure.LogTail
	log           *slog.Logger
	metrics       *metrics
	// clock drives the queue's delays; tests hand in a fake one.
	clock clock.WithTicker

	started  atomic.Bool
	lister   listers.PipelineRunLister
	trLister listers.TaskRunLister
	// synced is set once the watch has synced (lister set before it).
	synced  atomic.Bool
	queue   workqueue.TypedRateLimitingInterface[string]
	limiter workqueue.TypedRateLimiter[string]

	// ledger, when set, keys each post by (run, state) in the store.
	ledger     PostLedger
	postLease  time.Duration
	duplicates prometheus.Counter

	// posted remembers the last state posted per run in this process, so a
	// failed store write after a successful post does not post it again.
	mu     sync.Mutex
	posted map[string]run.State
}

// WithLogTail lets failure explanations quote a failed step's last log
// lines (failure.PodLogs). Default: none, explanations go without them.
func WithLogTail(l failure.LogTail) Option {
	return func(r *Reporter) error {
		r.logTail = l
		return nil
	}
}

// Option configures a Reporter.
type Option func(*Reporter) error

// PostLedger keys commit status posts by (run, state) in the store
// (*store.DB), so neither a retry nor a second replica posts one twice: a
// post is claimed for a lease before it is sent, marked after, released
// when it fails.
type PostLedger interface {
	ClaimStatusPost(ctx context.Context, runID, state string, lease time.Duration) (store.PostClaim, error)
	MarkStatusPosted(ctx context.Context, runID, state string) error
	ReleaseStatusPost(ctx context.Context, runID, state string) error
}

// WithPostLedger keys every status post in l. lease bounds how long a
// sender that died mid-post keeps others from posting. duplicates, if not
// nil, counts the posts not sent because they already were. Default: no
// ledger; the in-process memo alone prevents reposts.
func WithPostLedger(l PostLedger, lease time.Duration, duplicates prometheus.Counter) Option {
	return func(r *Reporter) error {
		if l == nil || lease <= 0 {
			return fmt.Errorf("post ledger: want a ledger and a positive lease, got %v, %s", l, lease)
		}
		r.ledger, r.postLease = l, lease
		if duplicates != nil {
			r.duplicates = duplicates
		}
		return nil
	}
}

// WithNamespace is the one namespace the informer factory watches:
// CachedPipelineRun answers for it only. Default: all namespaces.
func WithNamespace(ns string) Option {
	return func(r *Reporter) error { r.namespace = ns; return nil }
}

// WithStatusContext sets the commit status name. Default: "slipway/ci".
func WithStatusContext(name string) Option {
	return func(r *Reporter) error {
		if strings.TrimSpace(name) == "" {
			return errors.New("status context must not be empty")
		}
		r.statusContext = name
		return nil
	}
}

// WithBaseURL sets Slipway's public URL; statuses link to
// <base>/runs/<namespace>/<name>. Default: none, statuses carry no link.
func WithBaseURL(base string) Option {
	return func(r *Reporter) error {
		u, err := url.Parse(base)
		if err != nil {
			return fmt.Errorf("parsing base URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("base URL %q: want an absolute http(s) URL", base)
		}
		r.baseURL = strings.TrimRight(base, "/")
		return nil
	}
}

// WithWorkers sets how many runs are reconciled at once. Default: 4.
func WithWorkers(n int) Option {
	return func(r *Reporter) error {
		if n < 1 {
			return fmt.Errorf("workers must be at least 1, got %d", n)
		}
		r.workers = n
		return nil
	}
}

// WithBackoff sets the per-run exponential retry delay after a transient
// error. Default: 1s doubling up to 5m. A host's Retry-After wins when longer.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(r *Reporter) error {
		if base <= 0 || maxDelay < base {
			return fmt.Errorf("backoff: want 0 < base <= max, got %s and %s", base, maxDelay)
		}
		r.baseDelay, r.maxDelay = base, maxDelay
		return nil
	}
}

// WithResync re-examines every watched run this often. Default: 0 (never;
// changes and retries drive the work).
func WithResync(d time.Duration) Option {
	return func(r *Reporter) error {
		if d < 0 {
			return fmt.Errorf("resync must not be negative, got %s", d)
		}
		r.resync = d
		return nil
	}
}

// WithOnFinished calls fn once per run, after the final status was posted
// (or given up), when the run first reaches a terminal state. fn runs on a
// worker and should not block for long. Default: none.
func WithOnFinished(fn func(context.Context, run.Run)) Option {
	return func(r *Reporter) error { r.onFinished = fn; return nil }
}

// WithRegisterer registers slipway_runs_total and slipway_status_posts_total
// with reg. Default: no metrics.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(r *Reporter) error {
		m, err := newMetrics(reg)
		if err != nil {
			return err
		}
		r.metrics = m
		return nil
	}
}

// WithLogger sets the logger for operational lines. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(r *Reporter) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		r.log = l
		return nil
	}
}

// New returns a Reporter over the PipelineRuns and TaskRuns of f (the
// server's one informer factory, shared with the log collector and
// notifications), the run store and one SCM client per provider. A run
// whose provider has no client is recorded but not posted.
func New(f externalversions.SharedInformerFactory, runs store.Runs, providers map[event.Provider]scm.Client, opts ...Option) (*Reporter, error) {
	if f == nil {
		return nil, errors.New("informer factory must not be nil")
	}
	if runs == nil {
		return nil, errors.New("run store must not be nil")
	}
	r := &Reporter{
		factory:       f,
		runs:          runs,
		providers:     providers,
		statusContext: DefaultStatusContext,
		workers:       4,
		baseDelay:     time.Second,
		maxDelay:      5 * time.Minute,
		log:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		clock:         clock.RealClock{},
		posted:        map[string]run.State{},
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "unregistered"}),
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, fmt.Errorf("reporter option: %w", err)
		}
	}
	// Asked for now, so both informers exist before anyone starts f.
	r.lister = f.Tekton().V1().PipelineRuns().Lister()
	r.trLister = f.Tekton().V1().TaskRuns().Lister()
	return r, nil
}

// Run watches PipelineRuns until ctx is done, then shuts the queue down and
// waits for the workers. It may be called once.
func (r *Reporter) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("reporter already started")
	}
	prs := r.factory.Tekton().V1().PipelineRuns()
	trs := r.factory.Tekton().V1().TaskRuns().Informer()
	r.limiter = workqueue.NewTypedItemExponentialFailureRateLimiter[string](r.baseDelay, r.maxDelay)
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(r.limiter,
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "slipway-report", Clock: r.clock})

	reg, err := prs.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    r.enqueue,
		UpdateFunc: func(_, obj any) { r.enqueue(obj) },
	}, r.resync)
	if err != nil {
		r.queue.ShutDown()
		return fmt.Errorf("adding PipelineRun handler: %w", err)
	}
	// Starting is idempotent: this starts the informers not started yet;
	// whoever built the factory shuts it down.
	r.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced, trs.HasSynced) {
		r.queue.ShutDown()
		return fmt.Errorf("waiting for the PipelineRun and TaskRun caches: %w", ctx.Err())
	}
	r.synced.Store(true)
	defer r.synced.Store(false)
	r.log.Info("reporter started", "namespace", r.namespace, "workers", r.workers)

	var wg sync.WaitGroup
	for range r.workers {
		wg.Go(func() {
			for r.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	r.queue.ShutDown()
	wg.Wait()
	return nil
}

func (r *Reporter) enqueue(obj any) {
	m, ok := obj.(metav1.Object)
	if !ok || m.GetLabels()[tekton.LabelManaged] != "true" {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	r.queue.Add(key)
}

// processNext handles one key; false once the queue is shut down.
func (r *Reporter) processNext(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)

	err := r.reconcile(ctx, key)
	if err == nil {
		r.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true // shutting down; the next start picks it up again
	}
	var bad *badRunError
	if errors.As(err, &bad) {
		r.log.Error("ignoring run", "run", key, "err", err)
		r.queue.Forget(key)
		return true
	}
	_, retryAfter := retry.IsTransient(err)
	d := retryDelay(r.limiter.When(key), retryAfter)
	r.log.Warn("run will be retried", "run", key, "in", d, "err", err)
	r.queue.AddAfter(key, d)
	return true
}

// retryDelay is the backoff delay, or the host's Retry-After when longer.
func retryDelay(backoff, retryAfter time.Duration) time.Duration {
	return max(backoff, retryAfter)
}

// badRunError marks a PipelineRun whose labels cannot make a Run; retrying
// would not help.
type badRunError struct{ err error }

func (e *badRunError) Error() string { return e.err.Error() }
func (e *badRunError) Unwrap() error { return e.err }

// CachedPipelineRun returns a copy of Slipway's PipelineRun ns/name from
// the reporter's watch (nil when there is none), so the run pages need no
// API read of their own. ok is false when the watch cannot answer — not
// synced yet, or a namespace it does not watch — and the caller should
// ask the API.
func (r *Reporter) CachedPipelineRun(ns, name string) (pr *pipelinev1.PipelineRun, ok bool) {
	if (r.namespace != "" && ns != r.namespace) || !r.synced.Load() {
		return nil, false
	}
	pr, err := r.lister.PipelineRuns(ns).Get(name)
	if err != nil {
		return nil, k8serrors.IsNotFound(err)
	}
	return pr.DeepCopy(), true
}
