package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Summarize describes a finished run; *Summarizer.Summarize is one.
type Summarize func(ctx context.Context, run store.Run) Summary

// Notifier sends the notifications of finished runs on its own goroutines.
// Create it with New, start Run, and hand Finished to the reporter
// (report.WithOnFinished).
type Notifier struct {
	records   store.Notifications
	summarize Summarize

	mailer      *Mailer
	emailTo     []string
	emailAuthor bool
	onSuccess   bool
	hooks       []*Webhook
	commenters  map[event.Provider]scm.Commenter

	attempts   int
	firstDelay time.Duration
	maxDelay   time.Duration
	parallel   int
	log        *slog.Logger
	sleep      func(ctx context.Context, d time.Duration) error

	queue   chan store.Run
	started atomic.Bool
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
// last run's result, through the commenter of the run's provider.
// Default: no comments.
func WithMRComments(c map[event.Provider]scm.Commenter) Option {
	return func(n *Notifier) error { n.commenters = c; return nil }
}

// WithRetry sets how many times a delivery is tried and the backoff
// between tries (doubling, jittered). Default 6 tries, 2 s up to 5 min.
func WithRetry(attempts int, first, maxDelay time.Duration) Option {
	return func(n *Notifier) error {
		if attempts < 1 || first <= 0 || maxDelay < first {
			return fmt.Errorf("retry: want attempts >= 1 and 0 < first <= max, got %d, %s, %s", attempts, first, maxDelay)
		}
		n.attempts, n.firstDelay, n.maxDelay = attempts, first, maxDelay
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
		n.queue = make(chan store.Run, size)
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
func New(records store.Notifications, summarize Summarize, opts ...Option) (*Notifier, error) {
	if records == nil || summarize == nil {
		return nil, errors.New("notify: a notification store and a summarizer are required")
	}
	n := &Notifier{
		records: records, summarize: summarize,
		attempts: 6, firstDelay: 2 * time.Second, maxDelay: 5 * time.Minute, parallel: 8,
		log:   slog.New(slog.DiscardHandler),
		sleep: sleepCtx,
	}
	for _, o := range opts {
		if err := o(n); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	if n.queue == nil {
		n.queue = make(chan store.Run, 1000)
	}
	return n, nil
}

// Finished queues the notifications of a run that reached a terminal
// state. It never blocks: with the queue full they are recorded as failed.
func (n *Notifier) Finished(ctx context.Context, run store.Run) {
	if !run.State.Terminal() {
		return
	}
	select {
	case n.queue <- run:
	default:
		n.log.ErrorContext(ctx, "notification queue full", "run", run.ID)
		rec := &store.Notification{RunID: run.ID, Repo: run.Repo, Channel: "all", Target: "-",
			State: store.NotificationFailed, LastError: "notification queue full"}
		if err := n.records.CreateNotification(context.WithoutCancel(ctx), rec); err != nil {
			n.log.ErrorContext(ctx, "recording a dropped notification", "run", run.ID, "err", err)
		}
	}
}

// Run delivers queued notifications until ctx is done, then waits for
// deliveries in flight (they stop retrying once ctx is done). It may be
// called once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("notifier already started")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, n.parallel)
	for {
		select {
		case <-ctx.Done():
			return nil
		case run := <-n.queue:
			for _, d := range n.deliveries(ctx, run) {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					n.abandon(ctx, d)
					continue
				}
				wg.Go(func() {
					defer func() { <-slots }()
					n.deliver(ctx, d)
				})
			}
		}
	}
}

// delivery is one message to one destination, with its record.
type delivery struct {
	rec  *store.Notification
	send func(ctx context.Context) error
}

// deliveries decides who hears about run, and records each as pending.
func (n *Notifier) deliveries(ctx context.Context, run store.Run) []delivery {
	wantMR := run.Kind == event.MergeRequest && run.MRNumber > 0 && n.commenters[run.Provider] != nil
	notify := run.State == store.RunFailed || run.State == store.RunSucceeded && n.onSuccess
	if !wantMR && !notify {
		return nil
	}
	s := n.summarize(ctx, run)
	subject := Subject(s)
	var out []delivery
	add := func(channel, target string, send func(context.Context) error) {
		rec := &store.Notification{RunID: run.ID, Repo: run.Repo, Channel: channel, Target: target, Subject: subject}
		if err := n.records.CreateNotification(ctx, rec); err != nil {
			// Still send: the outcome is logged, and the send matters more.
			n.log.ErrorContext(ctx, "recording a notification", "run", run.ID, "channel", channel, "err", err)
			rec.ID = 0
		}
		out = append(out, delivery{rec: rec, send: send})
	}
	if wantMR {
		c := n.commenters[run.Provider]
		repo := scm.Repo{FullName: run.Repo, ProjectID: run.ProjectID}
		add("mr-comment", fmt.Sprintf("%s#%d", run.Repo, run.MRNumber), func(ctx context.Context) error {
			return c.UpsertComment(ctx, repo, run.MRNumber, scm.CommentMarker, Comment(s))
		})
	}
	if !notify {
		return out
	}
	if n.mailer != nil {
		to := slices.Clone(n.emailTo)
		if n.emailAuthor && s.AuthorEmail != "" && !slices.Contains(to, s.AuthorEmail) {
			to = append(to, s.AuthorEmail)
		}
		if len(to) > 0 {
			body := Text(s)
			add("email", strings.Join(to, ", "), func(ctx context.Context) error {
				return n.mailer.Send(ctx, to, subject, body)
			})
		}
	}
	for _, h := range n.hooks {
		add(h.Channel(), h.Target(), func(ctx context.Context) error { return h.Post(ctx, s) })
	}
	return out
}

// deliver tries d until it succeeds, fails permanently, runs out of
// attempts or ctx ends, and records the outcome.
func (n *Notifier) deliver(ctx context.Context, d delivery) {
	var err error
	for attempt := 1; ; attempt++ {
		d.rec.Attempts = attempt
		err = d.send(ctx)
		if err == nil || IsPermanent(err) || attempt >= n.attempts || ctx.Err() != nil {
			break
		}
		n.log.WarnContext(ctx, "notification failed, will retry", "run", d.rec.RunID, "channel", d.rec.Channel, "attempt", attempt, "err", err)
		if n.sleep(ctx, backoff(attempt, n.firstDelay, n.maxDelay)) != nil {
			break
		}
	}
	d.rec.State = store.NotificationSent
	d.rec.LastError = ""
	if err != nil {
		d.rec.State = store.NotificationFailed
		d.rec.LastError = err.Error()
		n.log.ErrorContext(ctx, "notification failed", "run", d.rec.RunID, "channel", d.rec.Channel, "target", d.rec.Target, "attempts", d.rec.Attempts, "err", err)
	}
	n.record(ctx, d.rec)
}

// abandon records a delivery that shutdown kept from starting.
func (n *Notifier) abandon(ctx context.Context, d delivery) {
	d.rec.State, d.rec.LastError = store.NotificationFailed, "not sent: server shutting down"
	n.record(ctx, d.rec)
}

func (n *Notifier) record(ctx context.Context, rec *store.Notification) {
	if rec.ID == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := n.records.UpdateNotification(rctx, rec); err != nil {
		n.log.ErrorContext(ctx, "recording a notification's outcome", "run", rec.RunID, "channel", rec.Channel, "state", rec.State, "err", err)
	}
}

// backoff is first·2^(attempt-1), capped, with the upper half jittered.
func backoff(attempt int, first, maxDelay time.Duration) time.Duration {
	d := first
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
