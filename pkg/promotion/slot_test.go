package promotion

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pkg/release"
)

func TestSlotDecisions(t *testing.T) {
	prom := func(id int64, st release.PromotionState) release.Promotion {
		return release.Promotion{ID: id, Kind: release.KindPromote, App: "shop", To: "prod", Digest: "sha256:d", State: st}
	}
	rb := &release.Promotion{ID: 9, Kind: release.KindRollback, App: "shop", To: "prod", State: release.PromotionRunning}
	tests := []struct {
		name string
		v    slot
		// next is the ID advance starts (0: none); rollback the
		// conflict a rollback meets ("" none).
		next     int64
		rollback string
	}{
		{name: "empty", v: slot{}},
		{name: "oldest queued starts", v: slot{open: []release.Promotion{prom(5, release.PromotionQueued), prom(3, release.PromotionQueued)}}, next: 3},
		{name: "awaiting approval never starts here", v: slot{open: []release.Promotion{prom(4, release.PromotionAwaitingApproval)}}},
		{name: "running holds the slot", v: slot{open: []release.Promotion{prom(5, release.PromotionQueued), prom(4, release.PromotionRunning)}},
			rollback: "promotion 4 (promote of sha256:d) is running into prod"},
		{name: "paused holds the slot", v: slot{open: []release.Promotion{prom(4, release.PromotionPaused), prom(3, release.PromotionQueued)}},
			rollback: "promotion 4 (promote of sha256:d) is paused into prod"},
		{name: "an aborted rollout still rolling back", v: slot{open: []release.Promotion{prom(5, release.PromotionQueued)}, inFlight: "deploy-x"},
			rollback: "deploy PipelineRun deploy-x of shop in prod is still running"},
		{name: "the rollback itself is not in its way", v: slot{open: []release.Promotion{*rb}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			if n := tt.v.next(); n != nil {
				got = n.ID
			}
			if got != tt.next {
				t.Errorf("next = %d, want %d", got, tt.next)
			}
			err := tt.v.rollbackMayStart(rb)
			switch {
			case tt.rollback == "" && err != nil:
				t.Errorf("rollbackMayStart = %v, want nil", err)
			case tt.rollback != "" && (!errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tt.rollback)):
				t.Errorf("rollbackMayStart = %v, want a conflict containing %q", err, tt.rollback)
			}
		})
	}
}
