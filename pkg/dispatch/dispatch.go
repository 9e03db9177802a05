// Package dispatch turns queued events into PipelineRuns: it claims events
// from the store, reads each repository's .slipway.yaml, applies its
// filters, creates the PipelineRun (idempotently, named after the
// delivery), records the run and cancels the runs it supersedes.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/tektoncd/pipeline/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/lru"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Store is what the dispatcher needs from pkg/store; *store.DB has it.
type Store interface {
	ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]event.Event, error)
	FinishEvent(ctx context.Context, id int64, state event.State, reason string) error
	RetryEvent(ctx context.Context, id int64, cause error, notBefore time.Time) error
	CreateRun(ctx context.Context, r *run.Run) error
	// FinishDispatched records a run and finishes its event as dispatched
	// in one transaction shared with concurrent callers (finish.go).
	FinishDispatched(ctx context.Context, id int64, r *run.Run, reason string) error
}

var _ Store = (*store.DB)(nil)

// Dispatcher owns the dispatch loop. Create it with New and start Run.
type Dispatcher struct {
	store  Store
	tekton versioned.Interface
	// rest posts PipelineRuns (createRun).
	rest rest.Interface
	scms map[event.Provider]scm.Client
	run  tekton.RunOptions

	workers     int
	poll        time.Duration
	lease       time.Duration
	maxAttempts int
	backoff     wait.Backoff
	log         *slog.Logger
	metrics     *metrics
	configs     *configCache
	cacheSize   int
	// changedFiles reads merge requests' changed files (apps.go).
	changedFiles map[event.Provider]ChangedFiles
	maxMRFiles   int
	// The trust gate (trust.go); off while approvals is nil.
	approvals     Approvals
	statusContext string
	trustTTL      time.Duration
	trustCache    *lru.Cache
	registerer    prometheus.Registerer
	maxRunning    int
	runSlots      RunSlots
	admitMu       sync.Mutex
	// admitEvery is how often Run admits queued runs of every repo, a
	// safety net for a finish the reporter missed (e.g. during a restart).
	admitEvery time.Duration

	clock clock.WithTicker
	wake  chan struct{}

	// slots holds one token per busy worker, claimed or handed over.
	slots chan struct{}
	// prefetching bounds the .slipway.yaml reads prefetch has in flight.
	prefetching chan struct{}
	// freed wakes Run when a worker frees up; one pending signal is enough.
	freed chan struct{}
	// wg counts the events in hand, so Run returns after the last.
	wg sync.WaitGroup
	// hmu orders reserve against Run's start and end: no worker is
	// reserved once Run has begun waiting for the last ones.
	hmu       sync.Mutex
	accepting bool
	runCtx    context.Context
	// drained says the last claim found the queue empty of due events.
	// reserve hands over only then, so a new event never overtakes older
	// queued ones (which would, e.g., keep an older push's run from being
	// cancelled by the newer one's).
	drained bool
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithWorkers sets how many events are handled at once. Default 8.
func WithWorkers(n int) Option { return func(d *Dispatcher) { d.workers = n } }

// WithPollInterval sets how often the queue is polled when nobody calls
// Wake. Default 1 s.
func WithPollInterval(p time.Duration) Option { return func(d *Dispatcher) { d.poll = p } }

// WithLease sets how long a claimed event is reserved for this replica.
// Handling one event is cut off at half the lease, so its outcome is
// recorded before another replica may claim it. Default 2 min.
func WithLease(l time.Duration) Option { return func(d *Dispatcher) { d.lease = l } }

// WithMaxAttempts caps the attempts at an event with transient errors
// before it is failed. Default 50.
func WithMaxAttempts(n int) Option { return func(d *Dispatcher) { d.maxAttempts = n } }

// WithBackoff sets the first and the largest wait between attempts, each
// jittered up to half again. Default 1 s doubling to 2 min.
func WithBackoff(first, max time.Duration) Option {
	return func(d *Dispatcher) { d.backoff = retry.Exponential(first, max) }
}

// WithClock sets the clock for receive times, retry times and Run's
// tickers. Default: the real clock.
func WithClock(c clock.WithTicker) Option { return func(d *Dispatcher) { d.clock = c } }

// WithConfigCacheSize sets how many parsed .slipway.yaml (by repo and SHA)
// are kept. Default 256.
func WithConfigCacheSize(n int) Option { return func(d *Dispatcher) { d.cacheSize = n } }

// WithLogger sets the logger. Default: log nothing.
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithMetrics registers slipway_dispatch_latency_seconds and
// slipway_dispatch_events_total with r. Default: no metrics.
func WithMetrics(r prometheus.Registerer) Option { return func(d *Dispatcher) { d.registerer = r } }

// New returns a Dispatcher that claims events from st, reads repository
// configuration through the scms client of each event's provider and
// creates PipelineRuns with client, built with run.
func New(st Store, client versioned.Interface, scms map[event.Provider]scm.Client, run tekton.RunOptions, opts ...Option) (*Dispatcher, error) {
	d := &Dispatcher{
		store: st, tekton: client, scms: scms, run: run,
		workers: 8, poll: time.Second, lease: 2 * time.Minute, maxAttempts: 50,
		backoff: retry.Exponential(time.Second, 2*time.Minute), cacheSize: 256,
		admitEvery: 30 * time.Second,
		trustTTL:   30 * time.Second, statusContext: "slipway/ci",
		log:   slog.New(slog.DiscardHandler),
		clock: clock.RealClock{},
		wake:  make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(d)
	}
	switch {
	case st == nil || client == nil:
		return nil, errors.New("dispatch: store and Tekton client are required")
	case d.workers < 1:
		return nil, fmt.Errorf("dispatch: workers must be at least 1, got %d", d.workers)
	case d.poll <= 0 || d.lease <= 0:
		return nil, fmt.Errorf("dispatch: poll interval and lease must be positive")
	case d.maxAttempts < 1:
		return nil, fmt.Errorf("dispatch: max attempts must be at least 1, got %d", d.maxAttempts)
	case d.backoff.Duration <= 0 || d.backoff.Cap < d.backoff.Duration:
		return nil, fmt.Errorf("dispatch: backoff %s..%s is not a valid range", d.backoff.Duration, d.backoff.Cap)
	case d.clock == nil:
		return nil, errors.New("dispatch: nil clock")
	case d.maxRunning < 0:
		return nil, fmt.Errorf("dispatch: max running per repo must not be negative, got %d", d.maxRunning)
	case d.trustTTL < 0:
		return nil, fmt.Errorf("dispatch: negative trust cache TTL %s", d.trustTTL)
	case d.cacheSize < 1:
		return nil, fmt.Errorf("dispatch: config cache size must be at least 1, got %d", d.cacheSize)
	}
	// Probe the run options once now: a misconfigured server should fail at
	// start, not fail every event.
	if err := checkRunOptions(run); err != nil {
		return nil, err
	}
	rc, err := restClient(client)
	if err != nil {
		return nil, err
	}
	d.rest = rc
	d.store = pairRuns(d.store)
	d.slots = make(chan struct{}, d.workers)
	d.prefetching = make(chan struct{}, 2*d.workers)
	d.freed = make(chan struct{}, 1)
	d.configs = newConfigCache(d.cacheSize)
	d.trustCache = newTrustCache()
	m, err := newMetrics(d.registerer)
	if err != nil {
		return nil, err
	}
	d.metrics = m
	return d, nil
}

// Wake makes Run look at the queue now instead of at the next poll. It
// never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// reserve takes a free worker for an event the intake is about to record
// already claimed, with the lease returned, and then hand over with
// dispatchReserved (or give back with free). It never blocks: false when
// every worker is busy or Run is not running.
func (d *Dispatcher) reserve() (lease time.Duration, ok bool) {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	if !d.accepting || !d.drained {
		return 0, false
	}
	select {
	case d.slots <- struct{}{}:
	default:
		// The caller queues its event: until a claim takes it, newer
		// ones queue behind it.
		d.drained = false
		return 0, false
	}
	d.wg.Add(1)
	return d.lease, true
}

// prefetch starts reading the .slipway.yaml ev will need into the config
// cache while the intake is still recording ev, so the worker that
// dispatches it finds it there or joins the read in flight: the read
// overlaps the commit instead of following it. It never blocks; with too
// many reads in flight it does nothing and the worker reads as usual.
func (d *Dispatcher) prefetch(ev *event.Event) {
	if ev.Action != event.Build || event.IsDeletion(ev.SHA) || d.scms[ev.Provider] == nil {
		return
	}
	select {
	case d.prefetching <- struct{}{}:
	default:
		return
	}
	e := *ev // the caller goes on using ev
	go func() {
		defer func() { <-d.prefetching }()
		ctx, cancel := context.WithTimeout(context.Background(), d.lease/2)
		defer cancel()
		// A failed read is not cached; the worker reads again and reports it.
		_, _ = d.config(ctx, &e)
	}()
}

// dispatchReserved hands ev, claimed with the lease reserve gave (its ID
// and Attempts set), to the worker reserve took, while ev's record may
// still be committing: the worker creates the PipelineRun meanwhile and
// waits for recorded before anything else (see overlap.go). It never
// blocks. The channel gets the outcome once the PipelineRun is created
// (or the event filtered, failed or set to retry), before the outcome is
// written to the store, so the webhook can answer with it without waiting
// for that commit.
func (d *Dispatcher) dispatchReserved(ev *event.Event, recorded recordedFunc) <-chan event.Outcome {
	done := make(chan event.Outcome, 1)
	go func() {
		d.handle(d.runCtx, ev, done, d.releaseSlot, recorded)
		d.wg.Done()
	}()
	return done
}

// free ends one worker's event: its slot is free and Run hears of it.
func (d *Dispatcher) free() {
	d.releaseSlot()
	d.wg.Done()
}

// releaseSlot frees a worker's slot for the next event, which may come
// while the worker still records the last one's outcome: that write is
// bookkeeping (batched with others), not dispatch capacity. Run's wait
// group still counts the worker until it is done.
func (d *Dispatcher) releaseSlot() {
	<-d.slots
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// Run claims and handles events until ctx is cancelled. It then waits for
// the events in hand; an event whose outcome could not be recorded keeps
// its lease and is claimed again when the lease runs out, so none is lost.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.hmu.Lock()
	d.runCtx, d.accepting = ctx, true
	d.hmu.Unlock()
	defer func() {
		d.hmu.Lock()
		d.accepting = false
		d.hmu.Unlock()
		d.wg.Wait()
	}()
	ticker := d.clock.NewTicker(d.poll)
	defer ticker.Stop()
	admitTicker := d.clock.NewTicker(d.admitEvery)
	defer admitTicker.Stop()
	// owed says the queue may hold events this replica has not claimed: at
	// start, after a poll tick or a Wake (each queued event comes with one),
	// and while the last claim did not find it drained. A wake-up that
	// finds no worker free keeps it owed until one frees up.
	owed := true
	for {
		free := d.workers - len(d.slots)
		claimed := 0
		if ctx.Err() != nil {
			return nil
		}
		if free > 0 && owed {
			// A claim is not cut short by shutdown: cancelled while its
			// commit lands, its events would stay leased to nobody until
			// the lease runs out (bench/RESULTS.md, SIGTERM burst). What
			// it returns is handled before Run returns.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.lease/2)
			evs, err := d.store.ClaimEvents(cctx, free, d.lease)
			cancel()
			if err != nil && ctx.Err() == nil {
				d.log.ErrorContext(ctx, "claiming events", "err", err)
			}
			d.hmu.Lock()
			d.drained = err == nil && len(evs) < free
			owed = !d.drained
			d.hmu.Unlock()
			for i := range evs {
				// A handed-over event may have taken the slot meanwhile;
				// this waits for the next free one.
				d.slots <- struct{}{}
				d.wg.Add(1)
				go func(ev event.Event) {
					d.handle(ctx, &ev, nil, d.releaseSlot, committed(&ev))
					d.wg.Done()
				}(evs[i])
			}
			claimed = len(evs)
		}
		if ctx.Err() != nil {
			return nil
		}
		if claimed > 0 && claimed == free {
			continue // the queue may hold more
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			owed = true
		case <-admitTicker.C():
			if _, err := d.admitAll(ctx); err != nil && ctx.Err() == nil {
				d.log.ErrorContext(ctx, "admitting queued runs", "err", err)
			}
		case <-d.wake:
			owed = true
		case <-d.freed:
			// A worker that frees up claims only if events queued since
			// the last claim (reserve refused one). Claiming after every
			// handed-over event cost a write transaction per event for
			// nothing (bench/RESULTS.md, "Dispatch at concurrency 1").
			d.hmu.Lock()
			owed = owed || !d.drained
			d.hmu.Unlock()
		}
	}
}

// Handle dispatches one claimed event and records the outcome in the
// store: finished (dispatched, ignored, failed) or retried later. It is
// what Run calls for each claimed event.
func (d *Dispatcher) Handle(ctx context.Context, ev *event.Event) {
	d.handle(ctx, ev, nil, nil, committed(ev))
}

// handle is Handle; once the outcome is known, before it is recorded,
// release (when not nil) is called and then done (when not nil) gets it.
// recorded says whether ev's record committed: at once for a claimed
// event, once its commit lands for one the intake handed over.
func (d *Dispatcher) handle(ctx context.Context, ev *event.Event, done chan<- event.Outcome, release func(), recorded recordedFunc) {
	log := d.log.With("event", ev.ID, "provider", ev.Provider, "repo", ev.Repo, "sha", ev.SHA, "delivery", ev.Delivery)
	// Work on an event is not cut short by shutdown: it ends within half
	// the lease, and its outcome is written before the lease runs out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.lease/2)
	state, reason, err := d.dispatch(wctx, ev, recorded)
	cancel()
	if release != nil {
		release()
	}
	// Nothing is written about an event before its record is there.
	if ok := d.settle(ctx, ev, recorded); !ok {
		return
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.lease/2)
	defer cancel()
	result := string(state)
	if err != nil {
		again, after := retry.IsTransient(err)
		switch {
		case !again:
			state, reason, result = event.Failed, err.Error(), string(event.Failed)
		case ev.Attempts >= d.maxAttempts:
			state, reason, result = event.Failed, fmt.Sprintf("gave up after %d attempts: %v", ev.Attempts, err), string(event.Failed)
		default:
			wait := max(retry.Delay(d.backoff, ev.Attempts), after)
			if done != nil {
				done <- event.Outcome{State: event.Queued, Reason: fmt.Sprintf("will retry in %s: %v", wait.Round(time.Millisecond), err)}
			}
			log.WarnContext(ctx, "dispatch failed, will retry", "err", err, "attempt", ev.Attempts, "wait", wait)
			if rerr := d.store.RetryEvent(rctx, ev.ID, err, d.clock.Now().Add(wait)); rerr != nil {
				log.ErrorContext(ctx, "recording retry; the lease will expire", "err", rerr)
			}
			d.metrics.event("retried")
			return
		}
	}
	if done != nil {
		done <- event.Outcome{State: state, Reason: reason}
	}
	log.InfoContext(ctx, "event handled", "state", state, "reason", reason)
	if ferr := d.store.FinishEvent(rctx, ev.ID, state, reason); ferr != nil {
		log.ErrorContext(ctx, "finishing event; the lease will expire", "err", ferr)
	}
	d.metrics.event(result)
}

// dispatch decides and does what ev asks. A returned error is classified
// by the caller; otherwise state and reason finish the event.
func (d *Dispatcher) dispatch(ctx context.Context, ev *event.Event, recorded recordedFunc) (event.State, string, error) {
	if ev.Action != event.Build {
		// Only a build's create is worth overlapping with the commit; a
		// comment command or a cancel acts on a recorded event.
		id, dup, err := recorded()
		if err != nil || dup {
			return "", "", errNotRecorded
		}
		ev.ID = id
	}
	if ev.Commented && (ev.Action == event.Retest || ev.Action == event.Cancel || ev.Action == event.OkToTest) {
		ok, reason, err := d.checkCommenter(ctx, ev)
		if err != nil {
			return "", "", err
		}
		if !ok {
			return event.Ignored, reason, nil
		}
	}
	switch ev.Action {
	case event.Retest, event.OkToTest:
		return d.retest(ctx, ev)
	case event.Cancel:
		if ev.Kind != event.MergeRequest || ev.MRNumber <= 0 {
			return "", "", fmt.Errorf("cancel event %d names no merge request", ev.ID)
		}
		n, err := d.cancel(ctx, labels.Set{
			tekton.LabelRepoHash: tekton.RepoHash(ev.Provider, ev.Repo),
			tekton.LabelMR:       strconv.Itoa(ev.MRNumber),
		}, func(*pipelinev1.PipelineRun) bool { return true })
		if err != nil {
			return "", "", err
		}
		return event.Dispatched, fmt.Sprintf("cancelled %d runs", n), nil
	case event.Ignore:
		return event.Ignored, ev.Reason, nil
	case event.Build:
		return d.build(ctx, ev, recorded, "")
	default:
		return "", "", fmt.Errorf("event %d: unknown action %q", ev.ID, ev.Action)
	}
}

// build starts ev's pipeline: one PipelineRun, or one per app of a
// monorepo that the change concerns. approvedBy is the trusted user who
// asked for it by comment, if any: the trust gate lets it through.
func (d *Dispatcher) build(ctx context.Context, ev *event.Event, recorded recordedFunc, approvedBy string) (event.State, string, error) {
	if event.IsDeletion(ev.SHA) {
		return event.Ignored, "the ref was deleted", nil
	}
	rc, err := d.config(ctx, ev)
	if err != nil {
		return d.failConfig(ctx, ev, err)
	}
	var base *repoconfig.Config
	if ev.Kind == event.MergeRequest {
		// Where the image goes, who is trusted, which branches build and
		// which apps there are are the default branch's to say, not the
		// merge request's.
		if base, err = d.defaultBranchConfig(ctx, ev); err != nil {
			return d.failConfig(ctx, ev, err)
		}
		if rc, err = repoconfig.ForMergeRequest(base, rc); err != nil {
			return d.failConfig(ctx, ev, invalidConfig(fmt.Errorf("%s: %w", repoconfig.FileName, err)))
		}
	}
	changed, notes, err := d.changedPaths(ctx, ev, rc)
	if err != nil {
		return "", "", err
	}
	why, err := filter(ctx, ev, rc, changed)
	if err != nil {
		return "", "", err
	}
	if why != "" {
		return event.Ignored, why, nil
	}
	var apps []repoconfig.App
	if rc.Multi() {
		var note string
		apps, why, note, err = selectApps(ctx, ev, rc, changed)
		if err != nil {
			return "", "", err
		}
		if why != "" {
			return event.Ignored, why, nil
		}
		notes = joinNotes(notes, note)
	}
	// Before the trust gate: an MR that could never build says so now
	// rather than after a maintainer's /ok-to-test.
	if err := rc.CheckAllowed(ev.Repo, d.run.Steps); err != nil {
		return d.failConfig(ctx, ev, invalidConfig(fmt.Errorf("%s: %w", repoconfig.FileName, err)))
	}
	if base != nil {
		waiting, err := d.gate(ctx, ev, base, approvedBy, d.statusContexts(apps))
		if err != nil {
			return "", "", err
		}
		if waiting != "" {
			return event.Waiting, waiting, nil
		}
	}
	var prs []*pipelinev1.PipelineRun
	if len(apps) == 0 {
		pr, err := tekton.NewCIRun(ev, rc, d.run)
		if err != nil {
			return "", "", fmt.Errorf("building PipelineRun: %w", err)
		}
		prs = append(prs, pr)
	}
	for _, a := range apps {
		pr, err := tekton.NewAppRun(ev, rc, a, d.run)
		if err != nil {
			return "", "", fmt.Errorf("building the PipelineRun of app %s: %w", a.Name, err)
		}
		prs = append(prs, pr)
	}
	note, err := d.startRuns(ctx, ev, recorded, prs, approvedBy)
	if err != nil {
		return "", "", err
	}
	if len(apps) > 0 {
		note = fmt.Sprintf("apps %s: %s", appNames(apps), note)
	}
	note = joinNotes(note, notes)
	var cancelled int
	for _, app := range supersedeScopes(ev, apps) {
		n, err := d.supersede(ctx, ev, rc, app)
		if err != nil {
			if ok, _ := retry.IsTransient(err); ok {
				return "", "", err // the retry finds the runs created and recorded
			}
			// The runs exist; failing the event would misreport them.
			return event.Dispatched, note + "; cancelling older runs failed: " + err.Error(), nil
		}
		cancelled += n
	}
	if cancelled > 0 {
		note += fmt.Sprintf(", cancelled %d older runs", cancelled)
	}
	if d.maxRunning > 0 {
		started, err := d.Admit(ctx, ev.Provider, ev.Repo)
		switch {
		case err != nil:
			// The run is queued; the next admission starts it.
			note += "; starting queued runs failed: " + err.Error()
		case started == 0:
			note += fmt.Sprintf(", queued behind %d running", d.maxRunning)
		}
	}
	return event.Dispatched, note, nil
}

// startRuns creates prs, all of one event, and records them as runs; the
// note says what it did. A PipelineRun that exists already was created by
// an earlier attempt at this event (same names): it is recorded as is.
func (d *Dispatcher) startRuns(ctx context.Context, ev *event.Event, recorded recordedFunc, prs []*pipelinev1.PipelineRun, approvedBy string) (string, error) {
	created := make([]bool, len(prs))
	var notes []string
	for i, pr := range prs {
		if ev.AuthorEmail != "" {
			pr.Annotations[tekton.AnnotationAuthorEmail] = ev.AuthorEmail
		}
		if approvedBy != "" {
			pr.Annotations[tekton.AnnotationApprovedBy] = approvedBy
		}
		if d.maxRunning > 0 {
			pr.Spec.Status = pipelinev1.PipelineRunSpecStatusPending
		}
		id := pr.Namespace + "/" + pr.Name
		err := createRun(ctx, d.rest, pr)
		switch {
		case apierrors.IsAlreadyExists(err):
			// An earlier attempt created it and then failed to record it.
			notes = append(notes, "PipelineRun "+id+" already existed")
		case err != nil:
			// The ones created so far stay: the retry finds them.
			if aerr := d.afterCommitAll(ctx, ev, recorded, prs[:i], created); aerr != nil {
				return "", aerr
			}
			return "", fmt.Errorf("creating PipelineRun %s: %w", id, err)
		default:
			created[i] = true
			notes = append(notes, "created PipelineRun "+id)
			d.metrics.latency(d.clock.Since(ev.ReceivedAt))
		}
	}
	// The creates may have overlapped the event's commit; what follows needs it.
	if err := d.afterCommitAll(ctx, ev, recorded, prs, created); err != nil {
		return "", err
	}
	for _, pr := range prs {
		id := pr.Namespace + "/" + pr.Name
		r := &run.Run{
			ID: id, EventID: ev.ID, Provider: ev.Provider, Kind: ev.Kind, Repo: ev.Repo, ProjectID: ev.ProjectID,
			App: pr.Labels[tekton.LabelApp], Ref: ev.Ref, SHA: ev.SHA, MRNumber: ev.MRNumber,
			State: run.Pending, CreatedAt: d.clock.Now(),
		}
		if err := d.store.CreateRun(ctx, r); err != nil {
			return "", retry.Transient(fmt.Errorf("recording run %s: %w", id, err))
		}
	}
	return strings.Join(notes, ", "), nil
}

// afterCommitAll is afterCommit for each of prs, so that when the event's
// record failed every PipelineRun created for it is deleted.
func (d *Dispatcher) afterCommitAll(ctx context.Context, ev *event.Event, recorded recordedFunc, prs []*pipelinev1.PipelineRun, created []bool) error {
	var first error
	for i, pr := range prs {
		if err := d.afterCommit(ctx, ev, recorded, pr, created[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// supersedeScopes are the apps whose older runs ev may cancel, one
// supersede each: "" (every app) for a repository's single app and for a
// merge request, whose newer head replaces all of its runs; each app
// built for a monorepo's push, whose other apps' runs are not replaced.
func supersedeScopes(ev *event.Event, apps []repoconfig.App) []string {
	if len(apps) == 0 || ev.Kind == event.MergeRequest {
		return []string{""}
	}
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.Name
	}
	return out
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// supersede cancels the unfinished runs that an MR push or (when enabled)
// a branch push makes obsolete: same repo and MR/branch (and app, when
// set), other SHA, from an older event. Comparing event ids, not creation times, keeps a retried
// old event from cancelling the newer run.
func (d *Dispatcher) supersede(ctx context.Context, ev *event.Event, rc *repoconfig.Config, app string) (int, error) {
	sel := labels.Set{tekton.LabelRepoHash: tekton.RepoHash(ev.Provider, ev.Repo), tekton.LabelPipeline: "ci"}
	if app != "" {
		sel[tekton.LabelApp] = app
	}
	switch {
	case ev.Kind == event.MergeRequest && rc.CancelMergeRequests():
		sel[tekton.LabelMR] = strconv.Itoa(ev.MRNumber)
	case ev.Kind == event.Push && rc.CancelBranches():
		sel[tekton.LabelKind] = string(event.Push)
		sel[tekton.LabelBranchHash] = tekton.BranchHash(ev.Branch())
	default:
		return 0, nil
	}
	return d.cancel(ctx, sel, func(pr *pipelinev1.PipelineRun) bool {
		if pr.Labels[tekton.LabelSHA] == ev.SHA || len(ev.SHA) > 63 && pr.Labels[tekton.LabelSHA] == ev.SHA[:63] {
			return false
		}
		id, err := strconv.ParseInt(pr.Labels[tekton.LabelEventID], 10, 64)
		return err == nil && id < ev.ID
	})
}

// cancel cancels the unfinished Slipway runs matching sel and keep.
func (d *Dispatcher) cancel(ctx context.Context, sel labels.Set, keep func(*pipelinev1.PipelineRun) bool) (int, error) {
	sel[tekton.LabelManaged] = "true"
	list, err := d.tekton.TektonV1().PipelineRuns(d.run.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, fmt.Errorf("listing PipelineRuns %s: %w", sel, err)
	}
	n := 0
	for i := range list.Items {
		pr := &list.Items[i]
		if !keep(pr) {
			continue
		}
		sent, err := tekton.CancelRun(ctx, d.tekton, pr)
		if apierrors.IsNotFound(err) {
			continue // deleted meanwhile: nothing left to stop
		}
		if err != nil {
			return n, err
		}
		if sent {
			n++
		}
	}
	return n, nil
}

// config returns the .slipway.yaml of ev's commit: defaults when there is
// none, an error naming the problem when it does not parse.
func (d *Dispatcher) config(ctx context.Context, ev *event.Event) (*repoconfig.Config, error) {
	client := d.scms[ev.Provider]
	if client == nil {
		return nil, fmt.Errorf("no SCM client configured for provider %q", ev.Provider)
	}
	key := configKey{provider: string(ev.Provider), repo: ev.Repo, sha: ev.SHA}
	res := d.configs.get(ctx, key, func() (configResult, bool) {
		data, err := client.ReadFile(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, ev.SHA, repoconfig.FileName)
		if errors.Is(err, scm.ErrNotFound) {
			return configResult{cfg: &repoconfig.Config{}}, true
		}
		if err != nil {
			// Not cached: the next attempt reads again.
			return configResult{err: fmt.Errorf("reading %s at %s: %w", repoconfig.FileName, ev.ShortSHA(), err)}, false
		}
		cfg, err := repoconfig.Parse(data)
		return configResult{cfg: cfg, err: invalidConfig(err)}, true
	})
	return res.cfg, res.err
}

func checkRunOptions(o tekton.RunOptions) error {
	probe := &event.Event{
		ID: 1, Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: "probe",
		Repo: "probe/probe", CloneURL: "https://example.invalid/probe.git", Ref: "refs/heads/main",
		SHA: "0123456789abcdef0123456789abcdef01234567",
	}
	if _, err := tekton.NewCIRun(probe, nil, o); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return nil
}
