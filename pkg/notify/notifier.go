package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Summarize describes a finished run; *Summarizer.Summarize is one.
type Summarize func(ctx context.Context, run run.Run) Summary

// Records is what the notifier keeps in the store: the notifications,
// and the runs they are about (to resume them after a restart).
type Records interface {
	CreateNotification(ctx context.Context, n *store.Notification) error
	UpdateNotification(ctx context.Context, n *store.Notification) error
	ClaimNotifications(ctx context.Context, limit int, lease time.Duration) ([]store.Notification, error)
	GetRun(ctx context.Context, id string) (*run.Run, error)
	// ListRuns finds the other apps' runs of a merge request head, for
	// a monorepo's MR comment.
	ListRuns(ctx context.Context, f store.RunFilter) ([]run.Run, error)
}

// Notifier sends the notifications of finished runs on its own goroutines.
// Create it with New, start Run, and hand Finished to the reporter
// (report.WithOnFinished).
//
// Every notification is recorded as pending, leased to this notifier,
// before it is queued. Run resumes pending ones whose lease ran out or was
// released (at shutdown), so a restart or another replica sends what a
// stopped one had not; the store's claim keeps it to one sender.
type Notifier struct {
	records   Records
	summarize Summarize

	mailer      *Mailer
	emailTo     []string
	emailAuthor bool
	onSuccess   bool
	hooks       []*Webhook
	commenters  map[event.Provider]scm.Commenter

	attempts    int
	backoff     wait.Backoff
	parallel    int
	lease       time.Duration
	resumeEvery time.Duration
	log         *slog.Logger
	sleep       func(ctx context.Context, d time.Duration) error
	clock       clock.Clock

	// onDuplicate, if set, counts notifications not sent because their
	// key was already recorded.
	onDuplicate func()

	queue   chan job
	mrLocks mrLocks
	started atomic.Bool
	// stopped is set once Run returned: what finishes later is left
	// pending without a lease, for the next notifier to send at once.
	stopped atomic.Bool
}

// job is a run's pending notifications, claimed by this notifier.
type job struct {
	run  run.Run
	recs []*store.Notification
}

// Option configures a Notifier.
type Option func(*Notifier) error

// WithEmail mails through m to the addresses in to and, when author is
// true, to the commit author. Default: no email.
func WithEmail(m *Mailer, to []string, author bool) Option {
	return func(n *Notifier) error {
		if m == nil {
			return errors.New("email: nil mailer")
		}
		n.mailer, n.emailTo, n.emailAuthor = m, to, author
		return nil
	}
}

// WithOnDuplicate calls fn for each notification not sent because the
// store already had it (a second replica, a repeated hook). Default: none.
func WithOnDuplicate(fn func()) Option {
	return func(n *Notifier) error { n.onDuplicate = fn; return nil }
}

// WithOnSuccess sends email and chat for succeeded runs too. Default: only
// failed runs are mailed and posted (cancelled ones never are).
func WithOnSuccess(on bool) Option { return func(n *Notifier) error { n.onSuccess = on; return nil } }

// WithWebhooks posts to every hook. Default: none.
func WithWebhooks(hooks ...*Webhook) Option {
	return func(n *Notifier) error {
		if slices.Contains(hooks, nil) {
			return errors.New("webhooks: nil hook")
		}
		n.hooks = append(n.hooks, hooks...)
		return nil
	}
}

// WithMRComments keeps one comment per merge request up to date with the
// last run's result (a monorepo's: each app's last run on the head),
// through the commenter of the run's provider.
// Default: no comments.
func WithMRComments(c map[event.Provider]scm.Commenter) Option {
	return func(n *Notifier) error { n.commenters = c; return nil }
}

// WithRetry sets how many times a delivery is tried and the backoff
// between tries (doubling, jittered up to half again). Default 6 tries, 2 s up to 5 min.
func WithRetry(attempts int, first, maxDelay time.Duration) Option {
	return func(n *Notifier) error {
		if attempts < 1 || first <= 0 || maxDelay < first {
			return fmt.Errorf("retry: want attempts >= 1 and 0 < first <= max, got %d, %s, %s", attempts, first, maxDelay)
		}
		n.attempts, n.backoff = attempts, retry.Exponential(first, maxDelay)
		return nil
	}
}

// WithQueueSize sets how many finished runs may wait for their
// notifications; beyond it a run's notifications are recorded as failed
// at once. Default 1000.
func WithQueueSize(size int) Option {
	return func(n *Notifier) error {
		if size < 1 {
			return fmt.Errorf("queue size must be at least 1, got %d", size)
		}
		n.queue = make(chan job, size)
		return nil
	}
}

// WithLease sets how long a pending notification stays with the notifier
// that queued or claimed it; each attempt renews it. Once it runs out
// (the notifier crashed) Run of another notifier on the same store resumes
// the notification, checking for such every lease/10. Default 10 min.
func WithLease(lease time.Duration) Option {
	return func(n *Notifier) error {
		if lease <= 0 {
			return fmt.Errorf("lease must be positive, got %s", lease)
		}
		n.lease, n.resumeEvery = lease, max(lease/10, time.Second)
		return nil
	}
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(n *Notifier) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		n.log = l
		return nil
	}
}

// New returns a Notifier recording deliveries in records and describing
// runs with summarize.
func New(records Records, summarize Summarize, opts ...Option) (*Notifier, error) {
	if records == nil || summarize == nil {
		return nil, errors.New("notify: a notification store and a summarizer are required")
	}
	n := &Notifier{
		records: records, summarize: summarize,
		attempts: 6, backoff: retry.Exponential(2*time.Second, 5*time.Minute), parallel: 8,
		lease: 10 * time.Minute, resumeEvery: time.Minute,
		log:   slog.New(slog.DiscardHandler),
		clock: clock.RealClock{},
	}
	for _, o := range opts {
		if err := o(n); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	n.sleep = func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, n.clock, d) }
	if n.queue == nil {
		n.queue = make(chan job, 1000)
	}
	return n, nil
}

// Finished records the notifications of a run that reached a terminal
// state as pending and queues them. It never waits for a delivery: with
// the queue full they are recorded as failed at once.
func (n *Notifier) Finished(ctx context.Context, run run.Run) {
	if !run.State.Terminal() {
		return
	}
	dests := n.dests(run)
	if len(dests) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	subject := Subject(Summary{Run: run})
	stopped := n.stopped.Load()
	until := n.clock.Now().Add(n.lease)
	if stopped {
		until = time.Time{}
	}
	j := job{run: run}
	for _, d := range dests {
		rec := &store.Notification{RunID: run.ID, Repo: run.Repo, Channel: d.channel, Target: d.target, Subject: subject,
			ClaimedUntil: until}
		err := n.records.CreateNotification(wctx, rec)
		if errors.Is(err, store.ErrDuplicate) {
			// Keyed (run, channel, recipient): a retry or another replica
			// recorded it first and sends it.
			n.log.InfoContext(ctx, "notification already recorded; not sending again", "run", run.ID, "channel", d.channel)
			if n.onDuplicate != nil {
				n.onDuplicate()
			}
			continue
		}
		if err != nil {
			// Still send: the send matters more than its record.
			n.log.ErrorContext(ctx, "recording a notification", "run", run.ID, "channel", d.channel, "err", err)
			rec.ID = 0
		}
		j.recs = append(j.recs, rec)
	}
	if len(j.recs) == 0 {
		return
	}
	if stopped {
		n.log.WarnContext(ctx, "notifier stopped; notifications left pending for the next start", "run", run.ID)
		return
	}
	select {
	case n.queue <- j:
	default:
		n.log.ErrorContext(ctx, "notification queue full", "run", run.ID)
		for _, rec := range j.recs {
			rec.State, rec.LastError, rec.ClaimedUntil = store.NotificationFailed, "not sent: notification queue full", time.Time{}
			n.record(ctx, rec)
		}
	}
}

// Run delivers queued notifications, and resumes pending ones no live
// notifier holds, until ctx is done. Then it waits for deliveries in
// flight (they stop retrying once ctx is done) and releases what it did
// not send, for the next notifier to resume. It may be called once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("notifier already started")
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		n.stopped.Store(true)
		n.releaseQueued(ctx)
	}()
	slots := make(chan struct{}, n.parallel)
	start := func(j job) {
		for _, d := range n.deliveries(ctx, j) {
			if ctx.Err() != nil {
				n.release(ctx, d.rec)
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				n.release(ctx, d.rec)
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				n.deliver(ctx, d)
			})
		}
	}
	tick := time.NewTicker(n.resumeEvery)
	defer tick.Stop()
	resume := true
	for {
		if resume {
			for _, j := range n.claim(ctx) {
				start(j)
			}
			resume = false
		}
		select {
		case <-ctx.Done():
			return nil
		case j := <-n.queue:
			start(j)
		case <-tick.C:
			resume = true
		}
	}
}

// claim takes over the pending notifications no live notifier holds and
// groups them by run.
func (n *Notifier) claim(ctx context.Context) []job {
	recs, err := n.records.ClaimNotifications(ctx, 100, n.lease)
	if err != nil {
		if ctx.Err() == nil {
			n.log.ErrorContext(ctx, "claiming pending notifications", "err", err)
		}
		return nil
	}
	var jobs []job
	byRun := map[string]int{}
	for i := range recs {
		rec := &recs[i]
		k, ok := byRun[rec.RunID]
		if !ok {
			run, err := n.records.GetRun(ctx, rec.RunID)
			if err != nil {
				n.log.ErrorContext(ctx, "reading the run of a pending notification", "run", rec.RunID, "err", err)
				if errors.Is(err, store.ErrNotFound) {
					rec.State, rec.LastError, rec.ClaimedUntil = store.NotificationFailed, "not sent: the run is no longer recorded", time.Time{}
					n.record(ctx, rec)
				}
				continue // else its lease runs out and it is tried again
			}
			k = len(jobs)
			byRun[rec.RunID] = k
			jobs = append(jobs, job{run: *run})
		}
		jobs[k].recs = append(jobs[k].recs, rec)
	}
	return jobs
}

// releaseQueued releases the notifications still queued at shutdown.
func (n *Notifier) releaseQueued(ctx context.Context) {
	for {
		select {
		case j := <-n.queue:
			for _, rec := range j.recs {
				n.release(ctx, rec)
			}
		default:
			return
		}
	}
}

// dest is one destination of a run's notifications. It depends on the run
// and the configuration only, so a notifier resuming the run after a
// restart finds the same ones.
type dest struct {
	channel, target string
	// bind makes the send for summary s; it may set rec.Target to the
	// actual recipients.
	bind func(s Summary, rec *store.Notification) func(ctx context.Context) error
}

// key matches a recorded notification to its destination: there is one
// email and one MR comment per run, and the hooks are told apart by target.
func (d dest) key() string { return key(d.channel, d.target) }

func key(channel, target string) string {
	if channel == "email" || channel == "mr-comment" {
		return channel
	}
	return channel + "\x00" + target
}

// dests decides who hears about run.
func (n *Notifier) dests(ciRun run.Run) []dest {
	wantMR := ciRun.Kind == event.MergeRequest && ciRun.MRNumber > 0 && n.commenters[ciRun.Provider] != nil
	notify := ciRun.State == run.Failed || ciRun.State == run.Succeeded && n.onSuccess
	var out []dest
	if wantMR {
		c := n.commenters[ciRun.Provider]
		repo := scm.Repo{FullName: ciRun.Repo, ProjectID: ciRun.ProjectID}
		out = append(out, dest{channel: "mr-comment", target: fmt.Sprintf("%s#%d", ciRun.Repo, ciRun.MRNumber),
			bind: func(s Summary, _ *store.Notification) func(context.Context) error {
				return func(ctx context.Context) error {
					unlock := n.mrLocks.lock(ciRun.Repo, ciRun.MRNumber)
					defer unlock()
					return c.UpsertComment(ctx, repo, ciRun.MRNumber, scm.CommentMarker, n.mrComment(ctx, s))
				}
			}})
	}
	if !notify {
		return out
	}
	if n.mailer != nil && (len(n.emailTo) > 0 || n.emailAuthor) {
		target := slices.Clone(n.emailTo)
		if n.emailAuthor {
			target = append(target, "(commit author)")
		}
		out = append(out, dest{channel: "email", target: strings.Join(target, ", "),
			bind: func(s Summary, rec *store.Notification) func(context.Context) error {
				to := slices.Clone(n.emailTo)
				if n.emailAuthor && s.AuthorEmail != "" && !slices.Contains(to, s.AuthorEmail) {
					to = append(to, s.AuthorEmail)
				}
				if len(to) == 0 {
					return func(context.Context) error {
						return retry.Terminal(errors.New("no recipients: the commit author's address is unknown"))
					}
				}
				rec.Target = strings.Join(to, ", ")
				subject, body := Subject(s), Text(s)
				return func(ctx context.Context) error { return n.mailer.Send(ctx, to, subject, body) }
			}})
	}
	for _, h := range n.hooks {
		out = append(out, dest{channel: h.Channel(), target: h.Target(),
			bind: func(s Summary, _ *store.Notification) func(context.Context) error {
				return func(ctx context.Context) error { return h.Post(ctx, s) }
			}})
	}
	return out
}

// delivery is one message to one destination, with its record.
type delivery struct {
	rec  *store.Notification
	send func(ctx context.Context) error
}

// deliveries summarizes j's run once and pairs each recorded notification
// with its destination. A record whose destination is no longer
// configured is recorded as failed.
func (n *Notifier) deliveries(ctx context.Context, j job) []delivery {
	if len(j.recs) == 0 {
		return nil
	}
	free := map[string][]dest{}
	for _, d := range n.dests(j.run) {
		free[d.key()] = append(free[d.key()], d)
	}
	s := n.summarize(ctx, j.run)
	var out []delivery
	for _, rec := range j.recs {
		k := key(rec.Channel, rec.Target)
		ds := free[k]
		if len(ds) == 0 {
			rec.State, rec.LastError, rec.ClaimedUntil = store.NotificationFailed, "not sent: the destination is no longer configured", time.Time{}
			n.record(ctx, rec)
			continue
		}
		free[k] = ds[1:]
		out = append(out, delivery{rec: rec, send: ds[0].bind(s, rec)})
	}
	return out
}

// deliver tries d until it succeeds, fails permanently, runs out of
// attempts or ctx ends, and records the outcome. Interrupted by ctx, it
// releases d for the next notifier instead.
func (n *Notifier) deliver(ctx context.Context, d delivery) {
	err := errors.New(cmp.Or(d.rec.LastError, "interrupted"))
	first := d.rec.Attempts + 1 // more than 1 when resuming
	for attempt := first; attempt <= n.attempts; attempt++ {
		if attempt > first {
			n.log.WarnContext(ctx, "notification failed, will retry", "run", d.rec.RunID, "channel", d.rec.Channel, "attempt", attempt-1, "err", err)
			if n.sleep(ctx, retry.Delay(n.backoff, attempt-1)) != nil {
				n.release(ctx, d.rec)
				return
			}
		}
		// Renew the lease with the attempt: a notifier that lost its claim
		// (it stalled past the lease) must leave the send to the new owner.
		d.rec.Attempts, d.rec.ClaimedUntil = attempt, n.clock.Now().Add(n.lease)
		if !n.record(ctx, d.rec) {
			return
		}
		if err = d.send(ctx); err == nil || retry.IsTerminal(err) {
			break
		}
		if ctx.Err() != nil {
			d.rec.LastError = err.Error()
			n.release(ctx, d.rec)
			return
		}
		d.rec.LastError = err.Error()
	}
	d.rec.State, d.rec.LastError, d.rec.ClaimedUntil = store.NotificationSent, "", time.Time{}
	if err != nil {
		d.rec.State, d.rec.LastError = store.NotificationFailed, err.Error()
		n.log.ErrorContext(ctx, "notification failed", "run", d.rec.RunID, "channel", d.rec.Channel, "target", d.rec.Target, "attempts", d.rec.Attempts, "err", err)
	}
	n.record(ctx, d.rec)
}

// release leaves rec pending without a lease, for the next notifier.
func (n *Notifier) release(ctx context.Context, rec *store.Notification) {
	rec.State, rec.ClaimedUntil = store.NotificationPending, time.Time{}
	n.record(ctx, rec)
}

// record stores rec. It reports false when another notifier claimed rec
// since (its lease ran out): the new owner sends it.
func (n *Notifier) record(ctx context.Context, rec *store.Notification) bool {
	if rec.ID == 0 {
		return true
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := n.records.UpdateNotification(rctx, rec)
	if errors.Is(err, store.ErrNotFound) {
		n.log.WarnContext(ctx, "notification taken over by another notifier", "run", rec.RunID, "channel", rec.Channel, "id", rec.ID)
		return false
	}
	if err != nil {
		n.log.ErrorContext(ctx, "recording a notification", "run", rec.RunID, "channel", rec.Channel, "state", rec.State, "err", err)
	}
	return true
}

func sleepCtx(ctx context.Context, c clock.Clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}
