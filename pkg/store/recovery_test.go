package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

func TestRecoveryLookupsSQLite(t *testing.T)   { testRecoveryLookups(t, sqliteURL) }
func TestRecoveryLookupsPostgres(t *testing.T) { testRecoveryLookups(t, postgresURL) }

func testRecoveryLookups(t *testing.T, fresh func(testing.TB) string) {
	ctx := context.Background()
	s := storetest.Open(t, fresh(t))
	const sha = "3f786850e387550fdab836ed7e6dc881de23001b"
	ev := &event.Event{Provider: event.GitLab, Kind: event.Push, Action: event.Build, Delivery: "d-1",
		Repo: "acme/shop", Ref: "refs/heads/main", SHA: sha}
	if _, _, err := s.RecordEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	type probe struct {
		provider       event.Provider
		delivery       string
		repo, ref, sha string
	}
	tests := []struct {
		name         string
		p            probe
		wantDelivery bool
		wantEvent    bool
	}{
		{"recorded", probe{event.GitLab, "d-1", "acme/shop", "refs/heads/main", sha}, true, true},
		{"other provider", probe{event.GitHub, "d-1", "acme/shop", "refs/heads/main", sha}, false, false},
		{"other delivery, other ref", probe{event.GitLab, "d-2", "acme/shop", "refs/heads/dev", sha}, false, false},
		{"other sha", probe{event.GitLab, "d-2", "acme/shop", "refs/heads/main", "0" + sha[1:]}, false, false},
		{"other repo", probe{event.GitLab, "d-2", "acme/web", "refs/heads/main", sha}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotD, err := s.HasDelivery(ctx, tt.p.provider, tt.p.delivery)
			if err != nil {
				t.Fatal(err)
			}
			gotE, err := s.HasEvent(ctx, tt.p.provider, tt.p.repo, tt.p.ref, tt.p.sha)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([2]bool{tt.wantDelivery, tt.wantEvent}, [2]bool{gotD, gotE}); diff != "" {
				t.Errorf("HasDelivery, HasEvent (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.HasDelivery(ctx, "", "x"); err == nil {
		t.Error("HasDelivery without a provider: want an error")
	}
	if _, err := s.HasEvent(ctx, event.GitLab, "acme/shop", "", sha); err == nil {
		t.Error("HasEvent without a ref: want an error")
	}
}
