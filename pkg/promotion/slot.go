package promotion

import (
	"context"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

// slot is one read of an app's and environment's one rollout slot: its
// open promotions and the deploy PipelineRun of them still running. The
// decisions below are pure; the writes after them are compare-and-set,
// so a decision made on a stale read loses its write, never corrupts.
type slot struct {
	// open are the promotions that have not ended, newest first.
	open []release.Promotion
	// inFlight names a deploy PipelineRun that has not ended ("" none).
	inFlight string
}

// readSlot reads app's and env's slot once; runs: also look for a deploy
// PipelineRun still running (an aborted promotion's rollout rolls back
// after the promotion ended).
func (s *Service) readSlot(ctx context.Context, app, env string, runs bool) (slot, error) {
	open, err := s.st.ListPromotions(ctx, store.PromotionFilter{App: app, To: env, Open: true})
	if err != nil {
		return slot{}, fmt.Errorf("reading the promotions of %s into %s: %w", app, env, err)
	}
	v := slot{open: open}
	if runs {
		if v.inFlight, err = s.rolloutInFlight(ctx, app, env); err != nil {
			return slot{}, err
		}
	}
	return v, nil
}

// active is the running or paused promotion holding the slot, nil if none.
func (v slot) active() *release.Promotion {
	for i := range v.open {
		if v.open[i].State.Active() {
			return &v.open[i]
		}
	}
	return nil
}

// next is the queued promotion to start: the oldest, when no promotion
// holds the slot and no deploy PipelineRun still runs; nil otherwise.
func (v slot) next() *release.Promotion {
	if v.active() != nil || v.inFlight != "" {
		return nil
	}
	for i := len(v.open) - 1; i >= 0; i-- {
		if v.open[i].State == release.PromotionQueued {
			return &v.open[i]
		}
	}
	return nil
}

// busy is the conflict of p with the promotion holding the slot.
func (v slot) busy(p *release.Promotion) error {
	if a := v.active(); a != nil && a.ID != p.ID {
		return fmt.Errorf("%w: promotion %d (%s of %s) is %s into %s; abort it (its rollout rolls back by itself) or try again when it ends",
			ErrConflict, a.ID, a.Kind, a.Digest, a.State, p.To)
	}
	return fmt.Errorf("%w: another promotion of %s into %s is active; try again when it ends", ErrConflict, p.App, p.To)
}

// rollbackMayStart is the 409 of a rollback p while another promotion
// holds the slot or a deploy PipelineRun still runs (see runnable); nil
// when neither. The store's ErrActive stays the arbiter of a race with a
// promotion starting meanwhile.
func (v slot) rollbackMayStart(p *release.Promotion) error {
	if a := v.active(); a != nil && a.ID != p.ID {
		return v.busy(p)
	}
	if v.inFlight != "" {
		return fmt.Errorf("%w: deploy PipelineRun %s of %s in %s is still running (an aborted rollout rolling back?); try again when it ends",
			ErrConflict, v.inFlight, p.App, p.To)
	}
	return nil
}
