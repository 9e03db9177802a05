package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/store"
)

func TestApprovalsSQLite(t *testing.T)   { testApprovals(t, sqliteURL(t)) }
func TestApprovalsPostgres(t *testing.T) { testApprovals(t, postgresURL(t)) }

// testApprovals: an approval binds one SHA; "any SHA" finds the first
// approver; bad input is refused; an event can finish waiting and be
// listed by that state.
func testApprovals(t *testing.T, url string) {
	ctx := context.Background()
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	a := store.Approval{Provider: event.GitHub, Repo: "o/r", MRNumber: 7, SHA: "aaaa", Approver: "maint", EventID: 3}
	if err := db.RecordApproval(ctx, a); err != nil {
		t.Fatal(err)
	}
	later := a
	later.Approver = "other"
	if err := db.RecordApproval(ctx, later); err != nil {
		t.Fatalf("second approval of the same SHA: %v", err)
	}
	if err := db.RecordApproval(ctx, store.Approval{Provider: event.GitHub, Repo: "o/r", MRNumber: 7, SHA: "bbbb"}); err == nil {
		t.Error("approval without an approver was recorded")
	}
	for _, tc := range []struct {
		name, repo, sha string
		mr              int
		want            string
	}{
		{"that SHA", "o/r", "aaaa", 7, "maint"},
		{"another SHA", "o/r", "bbbb", 7, ""},
		{"any SHA", "o/r", "", 7, "maint"},
		{"another MR", "o/r", "aaaa", 8, ""},
		{"another repo", "o/x", "aaaa", 7, ""},
	} {
		got, err := db.Approver(ctx, event.GitHub, tc.repo, tc.mr, tc.sha)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: approver %q, want %q", tc.name, got, tc.want)
		}
	}

	ev := &event.Event{Provider: event.GitHub, Kind: event.MergeRequest, Action: event.Build, Delivery: "d-wait",
		Repo: "o/r", CloneURL: "https://h/o/r.git", Ref: "refs/pull/7/head", SHA: "aaaa", MRNumber: 7, ReceivedAt: time.Now()}
	id, _, err := db.RecordEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	const why = "waiting for /ok-to-test by a maintainer"
	if err := db.FinishEvent(ctx, id, event.Waiting, why); err != nil {
		t.Fatal(err)
	}
	evs, err := db.ListEvents(ctx, store.EventFilter{State: event.Waiting})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Delivery+": "+e.Reason)
	}
	if diff := cmp.Diff([]string{"d-wait: " + why}, got); diff != "" {
		t.Errorf("waiting events (-want +got):\n%s", diff)
	}
}
