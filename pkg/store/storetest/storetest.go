// Package storetest is the conformance suite every store engine passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// Fresh returns the URL of a new, empty database for one test; the same
// URL opened twice reaches the same database.
type Fresh func(t *testing.T) string

// Run runs the whole suite, one fresh database per test.
func Run(t *testing.T, fresh Fresh) {
	tests := []struct {
		name string
		fn   func(t *testing.T, url string)
	}{
		{"RecordAndList", testRecordAndList},
		{"Dedupe", testDedupe},
		{"BadInput", testBadInput},
		{"ClaimLease", testClaimLease},
		{"FinishAndRetry", testFinishAndRetry},
		{"Runs", testRuns},
		{"RunsMissing", testRunsMissing},
		{"Reopen", testReopen},
		{"ConcurrentOpen", testConcurrentOpen},
		{"ConcurrentClaimers", testConcurrentClaimers},
		{"GroupCommit", testGroupCommit},
		{"Notifications", testNotifications},
		{"NotificationClaims", testNotificationClaims},
		{"Promotions", testPromotions},
		{"PromotionRace", testPromotionRace},
		{"OneActivePromotion", testOneActivePromotion},
		{"Deployments", testDeployments},
		{"DeploymentOncePerPromotion", testDeploymentOncePerPromotion},
		{"DeploymentsDefaultLimit", testDeploymentsDefaultLimit},
		{"Audit", testAudit},
		{"RunLogs", testRunLogs},
		{"PruneRunLogs", testPruneRunLogs},
		{"GetEvent", testGetEvent},
		{"Retention", testRetention},
		{"Sessions", testSessions},
		{"PolicyChecks", testPolicyChecks},
		{"TestReports", testTestReports},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, fresh(t)) })
	}
}

// Clock is a settable clock for leases and retry times; it is the store's
// clock (a k8s.io/utils/clock.PassiveClock) and the test's at once.
type Clock struct{ *clocktesting.FakeClock }

// NewClock starts a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.Step(d) }

// Open opens a store on url that is closed when the test ends.
func Open(t testing.TB, url string, opts ...store.Option) *store.DB {
	t.Helper()
	s, err := store.Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// Event returns a fully populated push event with the given delivery id.
func Event(delivery string) *event.Event {
	return &event.Event{
		Provider:      event.GitHub,
		Kind:          event.Push,
		Action:        event.Build,
		Delivery:      delivery,
		Repo:          "acme/shop",
		CloneURL:      "https://github.com/acme/shop.git",
		WebURL:        "https://github.com/acme/shop",
		DefaultBranch: "main",
		Ref:           "refs/heads/main",
		SHA:           "3f786850e387550fdab836ed7e6dc881de23001b",
		BeforeSHA:     "89e6c98d92887913cadf06b2adb97f26cde4849b",
		Author:        "Ada",
		AuthorEmail:   "ada@example.com",
		CommitMessage: "Fix the cart \"total\" ✓",
		CommitTime:    time.Date(2026, 2, 28, 9, 30, 0, 0, time.FixedZone("CET", 3600)),
		ChangedPaths:  []string{"cmd/shop/main.go", "go.mod"},
	}
}

// record records ev and fails the test on error.
func record(t *testing.T, s *store.DB, ev *event.Event) (int64, bool) {
	t.Helper()
	id, dup, err := s.RecordEvent(context.Background(), ev)
	if err != nil {
		t.Fatalf("RecordEvent(%s): %v", ev.Delivery, err)
	}
	return id, dup
}

// stored is what the store hands back for ev recorded as id at now.
func stored(ev *event.Event, id int64, state event.State, now time.Time) event.Event {
	e := *ev
	e.ID, e.State, e.ReceivedAt = id, state, now
	return e
}

func deliveries(evs []event.Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Delivery)
	}
	return out
}

func testRecordAndList(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))

	push := Event("d-push")
	mr := Event("d-mr")
	mr.Provider, mr.Kind, mr.Repo, mr.ProjectID = event.GitLab, event.MergeRequest, "group/sub/api", 42
	mr.Ref, mr.MRNumber, mr.SourceBranch, mr.TargetBranch, mr.MRTitle = "refs/heads/feature", 7, "feature", "main", "Add API"
	mr.ChangedPaths = nil
	skipped := Event("d-skip").Ignored("commit message says [skip ci]")
	tag := Event("d-tag")
	tag.Kind, tag.Ref = event.Tag, "refs/tags/v1.2.0"

	var all []event.Event // newest first
	for _, ev := range []*event.Event{push, mr, skipped, tag} {
		clock.Advance(time.Second)
		id, dup := record(t, s, ev)
		if dup {
			t.Fatalf("RecordEvent(%s): duplicate on first delivery", ev.Delivery)
		}
		state := event.Queued
		if ev.Action == event.Ignore {
			state = event.Ignored
		}
		all = append([]event.Event{stored(ev, id, state, clock.Now())}, all...)
	}

	tests := []struct {
		name   string
		filter store.EventFilter
		want   []event.Event
	}{
		{"all newest first", store.EventFilter{}, all},
		{"limit", store.EventFilter{Limit: 2}, all[:2]},
		{"repo", store.EventFilter{Repo: "group/sub/api"}, all[2:3]},
		{"ignored", store.EventFilter{State: event.Ignored}, all[1:2]},
		{"queued in repo", store.EventFilter{Repo: "acme/shop", State: event.Queued}, []event.Event{all[0], all[3]}},
		{"no match", store.EventFilter{Repo: "nobody/nothing"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListEvents(%+v) (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testDedupe(t *testing.T, url string) {
	ctx := context.Background()
	s := Open(t, url)

	first := Event("d-1")
	firstID, _ := record(t, s, first)

	redelivery := Event("d-1")
	redelivery.SHA = "ffffffffffffffffffffffffffffffffffffffff"
	otherHost := Event("d-1")
	otherHost.Provider = event.GitLab

	tests := []struct {
		name    string
		ev      *event.Event
		wantDup bool
		sameID  bool
	}{
		{"redelivery returns the first id", redelivery, true, true},
		{"ignored redelivery too", Event("d-1").Ignored("late"), true, true},
		{"same delivery id from another host is new", otherHost, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, dup := record(t, s, tt.ev)
			if dup != tt.wantDup || (id == firstID) != tt.sameID {
				t.Errorf("RecordEvent = (%d, %v), want duplicate=%v and same id as %d = %v", id, dup, tt.wantDup, firstID, tt.sameID)
			}
		})
	}
	got, err := s.ListEvents(ctx, store.EventFilter{Repo: first.Repo})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	wantSHAs := map[event.Provider]string{event.GitHub: first.SHA, event.GitLab: otherHost.SHA}
	gotSHAs := map[event.Provider]string{}
	for _, e := range got {
		gotSHAs[e.Provider] = e.SHA
		if e.State != event.Queued {
			t.Errorf("event %d state = %q, want queued: a redelivery must not change it", e.ID, e.State)
		}
	}
	if diff := cmp.Diff(wantSHAs, gotSHAs); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

func testBadInput(t *testing.T, url string) {
	ctx := context.Background()
	s := Open(t, url)
	id, _ := record(t, s, Event("d-1"))
	noDelivery := Event("")
	noProvider := Event("d-2")
	noProvider.Provider = ""

	tests := []struct {
		name string
		call func() error
	}{
		{"nil event", func() error { _, _, err := s.RecordEvent(ctx, nil); return err }},
		{"no delivery id", func() error { _, _, err := s.RecordEvent(ctx, noDelivery); return err }},
		{"no provider", func() error { _, _, err := s.RecordEvent(ctx, noProvider); return err }},
		{"claim limit 0", func() error { _, err := s.ClaimEvents(ctx, 0, time.Minute); return err }},
		{"claim lease 0", func() error { _, err := s.ClaimEvents(ctx, 1, 0); return err }},
		{"finish as queued", func() error { return s.FinishEvent(ctx, id, event.Queued, "") }},
		{"finish unknown state", func() error { return s.FinishEvent(ctx, id, "done", "") }},
		{"list negative limit", func() error { _, err := s.ListEvents(ctx, store.EventFilter{Limit: -1}); return err }},
		{"list unknown state", func() error { _, err := s.ListEvents(ctx, store.EventFilter{State: "lost"}); return err }},
		{"runs negative limit", func() error { _, err := s.ListRuns(ctx, store.RunFilter{Limit: -1}); return err }},
		{"run without id", func() error { return s.CreateRun(ctx, &run.Run{}) }},
		{"update run without id", func() error { return s.UpdateRun(ctx, &run.Run{}, run.Run{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil {
				t.Error("got nil error, want one")
			}
		})
	}
	if got, err := s.ListEvents(ctx, store.EventFilter{}); err != nil || len(got) != 1 || got[0].State != event.Queued {
		t.Errorf("after bad input: ListEvents = %v, %v; want the one queued event untouched", deliveries(got), err)
	}
}

func testClaimLease(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	for _, d := range []string{"a", "b", "c"} {
		record(t, s, Event(d))
		clock.Advance(time.Millisecond)
	}
	record(t, s, Event("ignored").Ignored("no pipeline for this branch"))

	const lease = time.Minute
	steps := []struct {
		name         string
		advance      time.Duration
		limit        int
		want         []string
		wantAttempts []int
	}{
		{"oldest first up to limit", 0, 2, []string{"a", "b"}, []int{1, 1}},
		{"claimed ones are leased", 0, 5, []string{"c"}, []int{1}},
		{"nothing left", lease - time.Second, 5, []string{}, []int{}},
		{"expired leases come back, attempts counted", time.Second, 5, []string{"a", "b", "c"}, []int{2, 2, 2}},
		{"leased again", 0, 5, []string{}, []int{}},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		got, err := s.ClaimEvents(ctx, st.limit, lease)
		if err != nil {
			t.Fatalf("%s: ClaimEvents: %v", st.name, err)
		}
		attempts := []int{}
		for _, e := range got {
			attempts = append(attempts, e.Attempts)
			if e.State != event.Queued {
				t.Errorf("%s: claimed %s in state %q, want queued", st.name, e.Delivery, e.State)
			}
		}
		if diff := cmp.Diff(st.want, deliveries(got)); diff != "" {
			t.Errorf("%s: claimed (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(st.wantAttempts, attempts); diff != "" {
			t.Errorf("%s: attempts (-want +got):\n%s", st.name, diff)
		}
	}

	// A claim hands back the whole event, as recorded.
	clock.Advance(lease)
	got, err := s.ClaimEvents(ctx, 1, lease)
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimEvents = %v, %v; want one event", deliveries(got), err)
	}
	want := stored(Event("a"), got[0].ID, event.Queued, NewClock().Now())
	want.Attempts = 3
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("claimed event (-want +got):\n%s", diff)
	}
}

func testFinishAndRetry(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	ids := map[string]int64{}
	for _, d := range []string{"done", "retry", "fail"} {
		ids[d], _ = record(t, s, Event(d))
	}
	const lease = time.Minute
	if got, err := s.ClaimEvents(ctx, 10, lease); err != nil || len(got) != 3 {
		t.Fatalf("ClaimEvents = %v, %v; want all three", deliveries(got), err)
	}
	if err := s.FinishEvent(ctx, ids["done"], event.Dispatched, "created ci/shop-3f786850-1a2b"); err != nil {
		t.Fatalf("FinishEvent: %v", err)
	}
	if err := s.FinishEvent(ctx, ids["fail"], event.Failed, "no .slipway.yaml"); err != nil {
		t.Fatalf("FinishEvent: %v", err)
	}
	if err := s.RetryEvent(ctx, ids["retry"], errors.New("github: 502 bad gateway"), clock.Now().Add(5*time.Minute)); err != nil {
		t.Fatalf("RetryEvent: %v", err)
	}

	// Retry releases the lease but the event is not due before notBefore;
	// finished events never come back.
	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{0, []string{}},
		{lease, []string{}},
		{4*time.Minute - time.Second, []string{}},
		{time.Second, []string{"retry"}},
		{time.Hour, []string{"retry"}},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		got, err := s.ClaimEvents(ctx, 10, lease)
		if err != nil {
			t.Fatalf("step %d: ClaimEvents: %v", i, err)
		}
		if diff := cmp.Diff(st.want, deliveries(got)); diff != "" {
			t.Errorf("step %d (+%s): claimed (-want +got):\n%s", i, st.advance, diff)
		}
	}

	got, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	type summary struct {
		State     event.State
		Reason    string
		Attempts  int
		LastError string
	}
	gotSum := map[string]summary{}
	for _, e := range got {
		gotSum[e.Delivery] = summary{e.State, e.Reason, e.Attempts, e.LastError}
	}
	wantSum := map[string]summary{
		"done":  {event.Dispatched, "created ci/shop-3f786850-1a2b", 1, ""},
		"fail":  {event.Failed, "no .slipway.yaml", 1, ""},
		"retry": {event.Queued, "", 3, "github: 502 bad gateway"},
	}
	if diff := cmp.Diff(wantSum, gotSum); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		err  error
	}{
		{"finish unknown id", s.FinishEvent(ctx, 999999, event.Dispatched, "")},
		{"retry unknown id", s.RetryEvent(ctx, 999999, errors.New("x"), clock.Now())},
		{"retry finished event", s.RetryEvent(ctx, ids["done"], errors.New("x"), clock.Now())},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", tt.name, tt.err)
		}
	}
}

func testRuns(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	t0 := clock.Now()
	runs := []run.Run{
		{ID: "ci/shop-3f786850-aa", EventID: 1, Provider: event.GitHub, Kind: event.Push, Repo: "acme/shop", App: "shop",
			Ref: "refs/heads/main", SHA: "3f786850e387550fdab836ed7e6dc881de23001b", State: run.Pending, CreatedAt: t0},
		{ID: "ci/api-89e6c98d-bb", EventID: 2, Provider: event.GitLab, Kind: event.MergeRequest, Repo: "group/sub/api", ProjectID: 42, App: "api",
			Ref: "refs/heads/feature", SHA: "89e6c98d92887913cadf06b2adb97f26cde4849b", MRNumber: 7, State: run.Pending, CreatedAt: t0.Add(time.Second)},
		{ID: "ci/shop-0a1b2c3d-cc", EventID: 3, Provider: event.GitHub, Kind: event.Tag, Repo: "acme/shop", App: "shop",
			Ref: "refs/tags/v1.2.0", SHA: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", State: run.Running, Reported: run.Pending,
			CreatedAt: t0.Add(2 * time.Second), StartedAt: t0.Add(3 * time.Second)},
	}
	for i := range runs {
		if err := s.CreateRun(ctx, &runs[i]); err != nil {
			t.Fatalf("CreateRun(%s): %v", runs[i].ID, err)
		}
	}
	// Creating an existing run changes nothing.
	again := runs[0]
	again.State, again.Message = run.Failed, "should not be stored"
	if err := s.CreateRun(ctx, &again); err != nil {
		t.Fatalf("CreateRun again: %v", err)
	}

	// Finish the MR run: every updatable field changes.
	prev1 := runs[1]
	runs[1].State, runs[1].Reported, runs[1].Message = run.Succeeded, run.Succeeded, "Tasks Completed: 4"
	runs[1].ImageURL, runs[1].ImageDigest = "registry.local/api:89e6c98d", "sha256:"+fmt.Sprintf("%064d", 1)
	runs[1].StartedAt, runs[1].FinishedAt = t0.Add(2*time.Second), t0.Add(90*time.Second+123456*time.Microsecond)
	if err := s.UpdateRun(ctx, &runs[1], prev1); err != nil {
		t.Fatalf("UpdateRun: %v", err)
	}
	// Compare-and-set: a writer that read the run before that update
	// changes nothing.
	stale := prev1
	stale.State, stale.Reported, stale.Message = run.Failed, run.Failed, "second replica"
	if err := s.UpdateRun(ctx, &stale, prev1); !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdateRun(stale) err = %v, want ErrConflict", err)
	}
	// UpdateRun stores state and results only, never identity.
	changedIdentity := runs[2]
	changedIdentity.Repo, changedIdentity.SHA, changedIdentity.Message = "evil/repo", "ffff", "picked up"
	if err := s.UpdateRun(ctx, &changedIdentity, runs[2]); err != nil {
		t.Fatalf("UpdateRun: %v", err)
	}
	runs[2].Message = "picked up"

	for _, want := range runs {
		got, err := s.GetRun(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetRun(%s): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("GetRun(%s) (-want +got):\n%s", want.ID, diff)
		}
	}

	tests := []struct {
		name   string
		filter store.RunFilter
		want   []run.Run
	}{
		{"all newest first", store.RunFilter{}, []run.Run{runs[2], runs[1], runs[0]}},
		{"limit", store.RunFilter{Limit: 1}, []run.Run{runs[2]}},
		{"repo", store.RunFilter{Repo: "acme/shop"}, []run.Run{runs[2], runs[0]}},
		{"ref", store.RunFilter{Ref: "refs/heads/main"}, []run.Run{runs[0]}},
		{"merge request", store.RunFilter{MRNumber: 7}, []run.Run{runs[1]}},
		{"sha", store.RunFilter{SHA: "89e6c98d92887913cadf06b2adb97f26cde4849b"}, []run.Run{runs[1]}},
		{"state", store.RunFilter{State: run.Succeeded}, []run.Run{runs[1]}},
		{"repo and state", store.RunFilter{Repo: "acme/shop", State: run.Running}, []run.Run{runs[2]}},
		{"no match", store.RunFilter{Repo: "acme/shop", MRNumber: 7}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListRuns(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListRuns: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListRuns(%+v) (-want +got):\n%s", tt.filter, diff)
			}
		})
	}
}

func testRunsMissing(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := Open(t, url, store.WithClock(clock))
	if _, err := s.GetRun(ctx, "ci/nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun(missing) err = %v, want ErrNotFound", err)
	}
	if err := s.UpdateRun(ctx, &run.Run{ID: "ci/nope", State: run.Failed}, run.Run{State: run.Pending}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRun(missing) err = %v, want ErrNotFound", err)
	}
	// A run created without a time gets the store's clock.
	if err := s.CreateRun(ctx, &run.Run{ID: "ci/untimed", State: run.Pending}); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	got, err := s.GetRun(ctx, "ci/untimed")
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if !got.CreatedAt.Equal(clock.Now()) {
		t.Errorf("CreatedAt = %v, want the store clock %v", got.CreatedAt, clock.Now())
	}
}

func testReopen(t *testing.T, url string) {
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	id, _ := record(t, s, Event("before-close"))
	if err := s.CreateRun(ctx, &run.Run{ID: "ci/r", EventID: id, State: run.Pending}); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, _, err := s.RecordEvent(ctx, Event("after-close")); err == nil {
		t.Error("RecordEvent after Close: got nil error")
	}

	s = Open(t, url)
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	got, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if diff := cmp.Diff([]string{"before-close"}, deliveries(got)); diff != "" {
		t.Errorf("events after reopen (-want +got):\n%s", diff)
	}
	if _, err := s.GetRun(ctx, "ci/r"); err != nil {
		t.Errorf("GetRun after reopen: %v", err)
	}
}

// testConcurrentOpen starts several replicas at once on an empty database:
// the migrations must run once and every replica must come up.
func testConcurrentOpen(t *testing.T, url string) {
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	stores := make([]*store.DB, replicas)
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), url) })
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("replica %d: Open: %v", i, errs[i])
			continue
		}
		record(t, s, Event(fmt.Sprintf("replica-%d", i)))
		if err := s.Close(); err != nil {
			t.Errorf("replica %d: Close: %v", i, err)
		}
	}
}

// testConcurrentClaimers has goroutines on two store instances claim the
// same queue: no event is handed out twice and together they get all.
func testConcurrentClaimers(t *testing.T, url string) {
	ctx := context.Background()
	a := Open(t, url)
	b := Open(t, url)
	const n = 300
	want := make([]int64, 0, n)
	for i := range n {
		id, _ := record(t, a, Event(fmt.Sprintf("d-%03d", i)))
		want = append(want, id)
	}

	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for {
				evs, err := s.ClaimEvents(ctx, 7, time.Hour)
				if err != nil {
					t.Errorf("claimer %d: ClaimEvents: %v", w, err)
					return
				}
				if len(evs) == 0 {
					return
				}
				mu.Lock()
				for _, e := range evs {
					got = append(got, e.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claimed ids, each once (-want +got):\n%s", diff)
	}
}

// testGroupCommit records many events at once, with some redeliveries among
// them: every caller gets its own id, redeliveries the first one's, and
// every event is stored as sent.
func testGroupCommit(t *testing.T, url string) {
	ctx := context.Background()
	s := Open(t, url)
	const n, redelivered = 1000, 100
	type result struct {
		id  int64
		dup bool
	}
	results := make([]result, n+redelivered)
	var wg sync.WaitGroup
	for i := range n + redelivered {
		wg.Go(func() {
			ev := Event(fmt.Sprintf("d-%04d", i%n))
			ev.SHA = fmt.Sprintf("%040d", i%n)
			id, dup, err := s.RecordEvent(ctx, ev)
			if err != nil {
				t.Errorf("RecordEvent(%s): %v", ev.Delivery, err)
			}
			results[i] = result{id, dup}
		})
	}
	wg.Wait()

	ids := map[int64]int{}
	for i := range n {
		a, b := results[i], result{}
		if i < redelivered {
			b = results[n+i]
			if a.id != b.id || a.dup == b.dup {
				t.Errorf("delivery %d sent twice: got %+v and %+v, want one id, one duplicate", i, a, b)
			}
		}
		if a.id == 0 {
			t.Errorf("delivery %d: id 0", i)
		}
		if j, ok := ids[a.id]; ok {
			t.Errorf("deliveries %d and %d share id %d", j, i, a.id)
		}
		ids[a.id] = i
	}

	got, err := s.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if len(got) != n {
		t.Errorf("ListEvents: %d events, want %d", len(got), n)
	}
	for _, e := range got {
		i, ok := ids[e.ID]
		if !ok {
			t.Errorf("stored event %d (%s) was not returned to any caller", e.ID, e.Delivery)
			continue
		}
		if want := fmt.Sprintf("d-%04d", i); e.Delivery != want || e.SHA != fmt.Sprintf("%040d", i) {
			t.Errorf("event %d = %s@%s, want %s@%040d", e.ID, e.Delivery, e.SHA, want, i)
		}
	}
}
