package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

type promotionStore interface {
	store.Promotions
	store.Audit
}

func openPromotions(t *testing.T) promotionStore {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite://"+t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Open reads an app's and environment's rollout slot in one query: the
// promotions that have not ended, newest first.
func TestListOpenPromotions(t *testing.T) {
	ctx := context.Background()
	ps := openPromotions(t)
	for _, st := range []release.PromotionState{release.PromotionSucceeded, release.PromotionQueued, release.PromotionAwaitingApproval,
		release.PromotionAborted, release.PromotionRunning, release.PromotionFailed, release.PromotionRefused} {
		p := &release.Promotion{Kind: release.KindPromote, App: "shop", To: "prod", Digest: "sha256:d", RequestedBy: "rita", State: st}
		if err := ps.CreatePromotion(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	other := &release.Promotion{Kind: release.KindPromote, App: "shop", To: "qa", Digest: "sha256:d", RequestedBy: "rita", State: release.PromotionQueued}
	if err := ps.CreatePromotion(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := ps.ListPromotions(ctx, store.PromotionFilter{App: "shop", To: "prod", Open: true})
	if err != nil {
		t.Fatal(err)
	}
	var states []release.PromotionState
	for _, p := range got {
		states = append(states, p.State)
	}
	want := []release.PromotionState{release.PromotionRunning, release.PromotionAwaitingApproval, release.PromotionQueued}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("open promotions (-want +got):\n%s", diff)
	}
}

// The outcome of an audit entry is stored and read back as it was said.
func TestAuditOutcome(t *testing.T) {
	ctx := context.Background()
	ps := openPromotions(t)
	for _, o := range []release.Outcome{release.OutcomeAccepted, release.OutcomeSucceeded} {
		if err := ps.AppendAudit(ctx, &release.AuditEntry{Actor: "rita", Action: "promote", App: "shop", Outcome: o, Result: string(o)}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := ps.ListAudit(ctx, store.AuditFilter{App: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var got []release.Outcome
	for _, e := range es {
		got = append(got, e.Outcome)
	}
	if diff := cmp.Diff([]release.Outcome{release.OutcomeSucceeded, release.OutcomeAccepted}, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}
