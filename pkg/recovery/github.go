package recovery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/logging"
	"github.com/slipway-ci/slipway/pkg/scm/github"
)

// HookDeliveries is what the GitHub loop needs from the host
// (*github.Client).
type HookDeliveries interface {
	HookDeliveries(ctx context.Context, hook github.Hook, cursor string) ([]github.Delivery, string, error)
	Redeliver(ctx context.Context, hook github.Hook, id int64) error
}

// DeliveryLedger is what the GitHub loop needs from the store
// (*store.DB): whether a delivery is recorded, and the keys that make
// each redelivery asked once.
type DeliveryLedger interface {
	HasDelivery(ctx context.Context, provider event.Provider, delivery string) (bool, error)
	Once(ctx context.Context, scope, key string) (bool, error)
	ForgetOnce(ctx context.Context, scope, key string) error
}

// askedScope is the once-key scope of asked redeliveries; the key is the
// hook and the attempt's id. A redelivery is a new attempt with a new id,
// so if it fails too the next pass may ask for it in turn.
const askedScope = "github-redeliver"

// GitHub redelivers the failed deliveries of the configured hooks that
// the store does not have.
type GitHub struct {
	host   HookDeliveries
	ledger DeliveryLedger
	hooks  []github.Hook
	o      Options
}

// NewGitHub returns the GitHub loop over hooks.
func NewGitHub(host HookDeliveries, ledger DeliveryLedger, hooks []github.Hook, o Options) (*GitHub, error) {
	if host == nil || ledger == nil {
		return nil, errors.New("github recovery: a host client and a store are required")
	}
	if len(hooks) == 0 {
		return nil, errors.New("github recovery: no hooks to watch")
	}
	if err := o.complete(); err != nil {
		return nil, err
	}
	return &GitHub{host: host, ledger: ledger, hooks: hooks, o: o}, nil
}

// Run passes at start and every interval until ctx is done.
func (g *GitHub) Run(ctx context.Context) error { return loop(ctx, g.o, string(event.GitHub), g.pass) }

// Pass looks once at every hook's deliveries within the window and
// returns how many it asked to redeliver. A rate limit ends the pass
// (the error says how long to wait); another hook's failure does not.
func (g *GitHub) Pass(ctx context.Context) (int, error) {
	asked := 0
	var errs []error
	for _, h := range g.hooks {
		n, err := g.hook(ctx, h, g.o.MaxPerPass-asked)
		asked += n
		var rl *errRateLimited
		if errors.As(err, &rl) || ctx.Err() != nil {
			return asked, err
		}
		if err != nil {
			errs = append(errs, err)
		}
		if asked >= g.o.MaxPerPass {
			break
		}
	}
	return asked, errors.Join(errs...)
}

// pass adapts Pass to loop.
func (g *GitHub) pass(ctx context.Context) error { _, err := g.Pass(ctx); return err }

// hook reads h's deliveries newest first, back to the window, and
// redelivers the newest attempt of each event that never got a 2xx, is
// not in the store, and failed in a way a second try can mend.
func (g *GitHub) hook(ctx context.Context, h github.Hook, budget int) (int, error) {
	since := g.o.Clock.Now().Add(-g.o.Window)
	// GUIDs decided already: the first attempt seen of each is its newest.
	decided := map[string]bool{}
	var candidates []github.Delivery
	cursor := ""
	for page := 0; page < g.o.MaxPages; page++ {
		ds, next, err := g.host.HookDeliveries(ctx, h, cursor)
		if err != nil {
			return 0, limited(err)
		}
		old := false
		for _, d := range ds {
			if d.DeliveredAt.Before(since) {
				old = true
				continue
			}
			if ok2xx(d.StatusCode) {
				decided[d.GUID] = true // delivered: older failures of it do not matter
				continue
			}
			if decided[d.GUID] {
				continue
			}
			decided[d.GUID] = true
			if mendable(d.StatusCode) {
				candidates = append(candidates, d)
			}
		}
		if old || next == "" {
			break
		}
		cursor = next
	}
	asked := 0
	for _, d := range candidates {
		if asked >= budget {
			break
		}
		n, err := g.redeliver(ctx, h, d)
		asked += n
		if err != nil {
			return asked, err
		}
	}
	return asked, nil
}

func (g *GitHub) redeliver(ctx context.Context, h github.Hook, d github.Delivery) (int, error) {
	have, err := g.ledger.HasDelivery(ctx, event.GitHub, d.GUID)
	if err != nil {
		return 0, fmt.Errorf("github recovery: %w", err)
	}
	if have {
		return 0, nil // recorded, its answer was lost: nothing to recover
	}
	key := h.String() + "/" + strconv.FormatInt(d.ID, 10)
	first, err := g.ledger.Once(ctx, askedScope, key)
	if err != nil {
		return 0, fmt.Errorf("github recovery: %w", err)
	}
	if !first {
		return 0, nil // asked by an earlier pass; its new attempt will show
	}
	if err := g.host.Redeliver(ctx, h, d.ID); err != nil {
		// Not asked after all: let a later pass try it again.
		if ferr := g.ledger.ForgetOnce(context.WithoutCancel(ctx), askedScope, key); ferr != nil {
			err = errors.Join(err, fmt.Errorf("github recovery: %w", ferr))
		}
		return 0, limited(err)
	}
	g.o.count(string(event.GitHub), HowRedelivered)
	logging.From(ctx).Info("missed delivery redelivered", "component", "recovery", "provider", event.GitHub,
		"hook", h.String(), "delivery", d.GUID, "attempt", d.ID, "event", d.Event,
		"deliveredAt", d.DeliveredAt, "statusCode", d.StatusCode)
	return 1, nil
}

func ok2xx(code int) bool { return code >= 200 && code < 300 }

// mendable: no answer (0), a timeout, a rate limit or a server error. Any
// other 4xx is Slipway's verdict on the delivery (bad signature, too
// large, malformed): a redelivery would get the same answer.
func mendable(code int) bool {
	switch {
	case code == 0, code >= 500, code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	}
	return false
}
