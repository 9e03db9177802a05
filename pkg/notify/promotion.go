package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/retry"
)

// PromotionPayload is the JSON webhook document of a promotion event.
type PromotionPayload struct {
	Event     string `json:"event"` // a release.PromotionEvent
	Promotion int64  `json:"promotion"`
	App       string `json:"app"`
	From      string `json:"from,omitempty"`
	To        string `json:"to"`
	Digest    string `json:"digest"`
	Commit    string `json:"commit,omitempty"`
	State     string `json:"state"`
	Summary   string `json:"summary"`
	Reason    string `json:"reason,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Promotions tells the team's routes (chat webhooks, email) when a
// promotion waits for approval, was rolled back, or finished. Each event
// is sent on its own goroutine, retried with backoff, and never blocks
// the promotion.
type Promotions struct {
	hooks     []*Webhook
	mailer    *Mailer
	to        []string
	publicURL string
	attempts  int
	backoff   wait.Backoff
	clock     clock.Clock
	log       *slog.Logger
	wg        sync.WaitGroup
}

// PromotionOption configures Promotions.
type PromotionOption func(*Promotions) error

// WithPromotionWebhooks posts every event to each hook. Default: none.
func WithPromotionWebhooks(hooks ...*Webhook) PromotionOption {
	return func(n *Promotions) error {
		if slices.Contains(hooks, nil) {
			return errors.New("webhooks: nil hook")
		}
		n.hooks = append(n.hooks, hooks...)
		return nil
	}
}

// WithPromotionEmail mails every event to the addresses in to. Default: no email.
func WithPromotionEmail(m *Mailer, to []string) PromotionOption {
	return func(n *Promotions) error {
		if m == nil || len(to) == 0 {
			return errors.New("email: a mailer and at least one address are required")
		}
		n.mailer, n.to = m, to
		return nil
	}
}

// WithPromotionRetry sets the tries per route and the backoff between
// them. Default 6 tries, 2 s doubling up to 5 min.
func WithPromotionRetry(attempts int, first, maxDelay time.Duration) PromotionOption {
	return func(n *Promotions) error {
		if attempts < 1 || first <= 0 || maxDelay < first {
			return fmt.Errorf("retry: want attempts >= 1 and 0 < first <= max, got %d, %s, %s", attempts, first, maxDelay)
		}
		n.attempts, n.backoff = attempts, retry.Exponential(first, maxDelay)
		return nil
	}
}

// WithPromotionClock sets the clock the backoff waits on. Default: the wall clock.
func WithPromotionClock(c clock.Clock) PromotionOption {
	return func(n *Promotions) error { n.clock = c; return nil }
}

// WithPromotionLogger logs deliveries that failed for good. Default: discard.
func WithPromotionLogger(l *slog.Logger) PromotionOption {
	return func(n *Promotions) error {
		if l == nil {
			return errors.New("logger must not be nil")
		}
		n.log = l
		return nil
	}
}

// NewPromotions returns a sender whose links point into publicURL's UI
// ("" for none).
func NewPromotions(publicURL string, opts ...PromotionOption) (*Promotions, error) {
	n := &Promotions{
		publicURL: strings.TrimSuffix(publicURL, "/"),
		attempts:  6, backoff: retry.Exponential(2*time.Second, 5*time.Minute),
		clock: clock.RealClock{}, log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(n); err != nil {
			return nil, fmt.Errorf("promotion notifications: %w", err)
		}
	}
	return n, nil
}

// NotifyPromotion sends ev about p to every route, in the background.
func (n *Promotions) NotifyPromotion(ctx context.Context, ev release.PromotionEvent, p release.Promotion) {
	// Sending outlives the request or worker that saw the event.
	ctx = context.WithoutCancel(ctx)
	for _, h := range n.hooks {
		n.send(ctx, h.Target(), func(ctx context.Context) error { return h.postPromotion(ctx, n.payload(ev, p)) })
	}
	if n.mailer != nil {
		subject, body := n.mail(ev, p)
		n.send(ctx, "email", func(ctx context.Context) error { return n.mailer.Send(ctx, n.to, subject, body) })
	}
}

// Wait returns once every send started so far has ended.
func (n *Promotions) Wait() { n.wg.Wait() }

func (n *Promotions) send(ctx context.Context, target string, try func(context.Context) error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var err error
		for attempt := range n.attempts {
			if attempt > 0 {
				if serr := sleepCtx(ctx, n.clock, retry.Delay(n.backoff, attempt)); serr != nil {
					return
				}
			}
			if err = try(ctx); err == nil || retry.IsTerminal(err) {
				break
			}
		}
		if err != nil {
			n.log.WarnContext(ctx, "promotion notification not sent", "target", target, "err", err)
		}
	}()
}

func (n *Promotions) link(p release.Promotion) string {
	if n.publicURL == "" {
		return ""
	}
	return n.publicURL + "/promotions/" + strconv.FormatInt(p.ID, 10)
}

// PromotionSubject is the one-line summary of ev about p.
func PromotionSubject(ev release.PromotionEvent, p release.Promotion) string {
	what := fmt.Sprintf("%s %s to %s", p.App, shortDigest(p.Digest), p.To)
	switch ev {
	case release.EventApprovalPending:
		return fmt.Sprintf("Approval needed: promotion %d of %s", p.ID, what)
	case release.EventRolledBack:
		return fmt.Sprintf("Rolled back: promotion %d of %s", p.ID, what)
	}
	if p.State == release.PromotionSucceeded {
		return fmt.Sprintf("Promoted: %s (promotion %d)", what, p.ID)
	}
	return fmt.Sprintf("Promotion %d of %s %s", p.ID, what, p.State)
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}

func (n *Promotions) payload(ev release.PromotionEvent, p release.Promotion) PromotionPayload {
	return PromotionPayload{
		Event: string(ev), Promotion: p.ID, App: p.App, From: p.From, To: p.To, Digest: p.Digest,
		Commit: p.Commit, State: string(p.State), Summary: PromotionSubject(ev, p), Reason: p.Reason, URL: n.link(p),
	}
}

func (n *Promotions) mail(ev release.PromotionEvent, p release.Promotion) (subject, body string) {
	subject = PromotionSubject(ev, p)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\napp:     %s\nto:      %s\n", subject, p.App, p.To)
	if p.From != "" {
		fmt.Fprintf(&b, "from:    %s\n", p.From)
	}
	fmt.Fprintf(&b, "digest:  %s\nstate:   %s\n", p.Digest, p.State)
	if p.Reason != "" {
		fmt.Fprintf(&b, "reason:  %s\n", p.Reason)
	}
	if l := n.link(p); l != "" {
		fmt.Fprintf(&b, "\n%s\n", l)
	}
	return subject, b.String()
}

// postPromotion posts a promotion event: PromotionPayload, or a Slack
// message for a Slack hook.
func (w *Webhook) postPromotion(ctx context.Context, p PromotionPayload) error {
	var doc any = p
	if w.format == SlackFormat {
		text := p.Summary
		if p.URL != "" {
			text += " <" + p.URL + "|details>"
		}
		if p.Reason != "" {
			text += "\n" + p.Reason
		}
		doc = map[string]string{"text": text}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return retry.Terminal(err)
	}
	return w.send(ctx, body)
}
