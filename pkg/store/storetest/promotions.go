package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/store"
)

// openPromo opens url with a clock that answers in a zone other than UTC,
// so the suite sees whether times come back in UTC.
func openPromo(t *testing.T, url string, clock *Clock) *store.DB {
	t.Helper()
	cet := time.FixedZone("CET", 3600)
	return Open(t, url, store.WithClock(zonedClock{clock, cet}))
}

// zonedClock answers in loc and off the microsecond grid.
type zonedClock struct {
	*Clock
	loc *time.Location
}

func (z zonedClock) Now() time.Time { return z.Clock.Now().In(z.loc).Add(123 * time.Nanosecond) }

func (z zonedClock) Since(t time.Time) time.Duration { return z.Now().Sub(t) }

func checkUTC(t *testing.T, what string, times ...time.Time) {
	t.Helper()
	for i, ts := range times {
		if !ts.IsZero() && ts.Location() != time.UTC {
			t.Errorf("%s: time %d is in %s, want UTC", what, i, ts.Location())
		}
	}
}

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func testPromotions(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := openPromo(t, url, clock)

	t0 := clock.Now()
	auto := &release.Promotion{Kind: release.KindAutoDeploy, App: "web", To: "qa", Digest: digestA,
		TargetImage: "registry.qa/web@" + digestA, Commit: "3f786850e387550fdab836ed7e6dc881de23001b", RunID: "ci/web-3f78-1",
		State: release.PromotionRunning, RequestedBy: "slipway", PipelineRuns: []string{"deploy/web-qa-1"}}
	if err := s.CreatePromotion(ctx, auto); err != nil {
		t.Fatalf("CreatePromotion: %v", err)
	}
	clock.Advance(time.Second)
	t1 := clock.Now()
	prod := &release.Promotion{Kind: release.KindPromote, App: "web", From: "qa", To: "prod", Digest: digestA,
		State: release.PromotionAwaitingApproval, RequestedBy: "dana"}
	if err := s.CreatePromotion(ctx, prod); err != nil {
		t.Fatalf("CreatePromotion: %v", err)
	}
	clock.Advance(time.Second)
	t2 := clock.Now()
	refused := &release.Promotion{Kind: release.KindPromote, App: "api", From: "qa", To: "prod", Digest: digestB,
		State: release.PromotionRefused, Reason: "provenance: builder is not this Slipway", RequestedBy: "rita"}
	if err := s.CreatePromotion(ctx, refused); err != nil {
		t.Fatalf("CreatePromotion: %v", err)
	}
	if auto.ID == 0 || prod.ID == 0 || refused.ID == 0 || auto.ID == prod.ID || prod.ID == refused.ID {
		t.Fatalf("ids %d, %d, %d: want distinct non-zero", auto.ID, prod.ID, refused.ID)
	}
	if !auto.CreatedAt.Equal(t0) || !auto.UpdatedAt.Equal(t0) || !refused.FinishedAt.Equal(t2) || !prod.FinishedAt.IsZero() {
		t.Errorf("times after create: auto %v/%v, refused finished %v, prod finished %v; want %v, %v, zero",
			auto.CreatedAt, auto.UpdatedAt, refused.FinishedAt, prod.FinishedAt, t0, t2)
	}

	// Approve, then progress through a rollout to success.
	clock.Advance(time.Second)
	t3 := clock.Now()
	prod.State, prod.ApprovedBy = release.PromotionRunning, "rita"
	if err := s.UpdatePromotion(ctx, prod, release.PromotionAwaitingApproval); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if !prod.UpdatedAt.Equal(t3) || !prod.FinishedAt.IsZero() {
		t.Errorf("after approval: updated %v, finished %v; want %v and zero", prod.UpdatedAt, prod.FinishedAt, t3)
	}
	clock.Advance(time.Second)
	t4 := clock.Now()
	prod.State, prod.Progress = release.PromotionSucceeded, "wave 2/2 dc-west: done"
	prod.SourceImage, prod.TargetImage = "registry.qa/web@"+digestA, "registry.prod/web@"+digestA
	prod.Commit, prod.RunID = "3f786850e387550fdab836ed7e6dc881de23001b", "ci/web-3f78-1"
	prod.PipelineRuns = []string{"deploy/web-prod-dc-east-1", "deploy/web-prod-dc-west-1"}
	if err := s.UpdatePromotion(ctx, prod, release.PromotionRunning, release.PromotionPaused); err != nil {
		t.Fatalf("succeed: %v", err)
	}
	if !prod.UpdatedAt.Equal(t4) || !prod.FinishedAt.Equal(t4) {
		t.Errorf("after success: updated %v, finished %v; want both %v", prod.UpdatedAt, prod.FinishedAt, t4)
	}

	wantAuto := release.Promotion{ID: auto.ID, Kind: release.KindAutoDeploy, App: "web", To: "qa", Digest: digestA,
		TargetImage: "registry.qa/web@" + digestA, Commit: "3f786850e387550fdab836ed7e6dc881de23001b", RunID: "ci/web-3f78-1",
		State: release.PromotionRunning, RequestedBy: "slipway", PipelineRuns: []string{"deploy/web-qa-1"}, CreatedAt: t0, UpdatedAt: t0}
	wantProd := release.Promotion{ID: prod.ID, Kind: release.KindPromote, App: "web", From: "qa", To: "prod", Digest: digestA,
		SourceImage: "registry.qa/web@" + digestA, TargetImage: "registry.prod/web@" + digestA,
		Commit: "3f786850e387550fdab836ed7e6dc881de23001b", RunID: "ci/web-3f78-1",
		State: release.PromotionSucceeded, Progress: "wave 2/2 dc-west: done", RequestedBy: "dana", ApprovedBy: "rita",
		PipelineRuns: []string{"deploy/web-prod-dc-east-1", "deploy/web-prod-dc-west-1"}, CreatedAt: t1, UpdatedAt: t4, FinishedAt: t4}
	wantRefused := release.Promotion{ID: refused.ID, Kind: release.KindPromote, App: "api", From: "qa", To: "prod", Digest: digestB,
		State: release.PromotionRefused, Reason: "provenance: builder is not this Slipway", RequestedBy: "rita",
		CreatedAt: t2, UpdatedAt: t2, FinishedAt: t2}

	got, err := s.GetPromotion(ctx, prod.ID)
	if err != nil {
		t.Fatalf("GetPromotion: %v", err)
	}
	if diff := cmp.Diff(wantProd, *got); diff != "" {
		t.Errorf("GetPromotion (-want +got):\n%s", diff)
	}
	checkUTC(t, "GetPromotion", got.CreatedAt, got.UpdatedAt, got.FinishedAt)
	if diff := cmp.Diff(wantProd, *prod); diff != "" {
		t.Errorf("promotion after UpdatePromotion (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		f    store.PromotionFilter
		want []release.Promotion
	}{
		{"all, newest first", store.PromotionFilter{}, []release.Promotion{wantRefused, wantProd, wantAuto}},
		{"limit", store.PromotionFilter{Limit: 2}, []release.Promotion{wantRefused, wantProd}},
		{"by app", store.PromotionFilter{App: "web"}, []release.Promotion{wantProd, wantAuto}},
		{"by target", store.PromotionFilter{To: "prod"}, []release.Promotion{wantRefused, wantProd}},
		{"by app and target", store.PromotionFilter{App: "web", To: "qa"}, []release.Promotion{wantAuto}},
		{"by state", store.PromotionFilter{State: release.PromotionRefused}, []release.Promotion{wantRefused}},
		{"by app, target and state", store.PromotionFilter{App: "web", To: "prod", State: release.PromotionSucceeded, Limit: 5},
			[]release.Promotion{wantProd}},
		{"no match", store.PromotionFilter{App: "nothing"}, nil},
	} {
		got, err := s.ListPromotions(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: ListPromotions: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ListPromotions (-want +got):\n%s", tc.name, diff)
		}
		for _, p := range got {
			checkUTC(t, tc.name, p.CreatedAt, p.UpdatedAt, p.FinishedAt)
		}
	}

	// Compare-and-set: a finished promotion cannot be approved or aborted,
	// and a refused update stores nothing.
	late := wantProd
	late.State, late.ApprovedBy, late.Reason = release.PromotionAborted, "mallory", "too late"
	err = s.UpdatePromotion(ctx, &late, release.PromotionAwaitingApproval, release.PromotionRunning, release.PromotionPaused)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("UpdatePromotion(succeeded → aborted) err = %v, want ErrConflict", err)
	}
	if got, err := s.GetPromotion(ctx, prod.ID); err != nil || !cmp.Equal(wantProd, *got) {
		t.Errorf("after a conflicting update: GetPromotion = %+v, %v; want it unchanged", got, err)
	}
	// No from: unconditional (the engine's own bookkeeping).
	clock.Advance(time.Second)
	t5 := clock.Now()
	auto.Progress, auto.PipelineRuns = "rolling: 2/3 updated", nil
	if err := s.UpdatePromotion(ctx, auto); err != nil {
		t.Fatalf("UpdatePromotion(no from): %v", err)
	}
	wantAuto.Progress, wantAuto.PipelineRuns, wantAuto.UpdatedAt = "rolling: 2/3 updated", nil, t5
	if got, err := s.GetPromotion(ctx, auto.ID); err != nil {
		t.Errorf("GetPromotion: %v", err)
	} else if diff := cmp.Diff(wantAuto, *got); diff != "" {
		t.Errorf("after an unconditional update (-want +got):\n%s", diff)
	}

	// Missing records and bad input.
	if _, err := s.GetPromotion(ctx, 999999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPromotion(missing) err = %v, want ErrNotFound", err)
	}
	missing := &release.Promotion{ID: 999999, State: release.PromotionRunning}
	if err := s.UpdatePromotion(ctx, missing, release.PromotionAwaitingApproval); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePromotion(missing, with from) err = %v, want ErrNotFound", err)
	}
	if err := s.UpdatePromotion(ctx, missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdatePromotion(missing) err = %v, want ErrNotFound", err)
	}
	for _, bad := range []*release.Promotion{
		{Kind: release.KindPromote, To: "prod", State: release.PromotionRunning, RequestedBy: "dana"},
		{Kind: release.KindPromote, App: "web", State: release.PromotionRunning, RequestedBy: "dana"},
		{Kind: release.KindPromote, App: "web", To: "prod", State: release.PromotionRunning},
		{Kind: "teleport", App: "web", To: "prod", State: release.PromotionRunning, RequestedBy: "dana"},
		{Kind: release.KindPromote, App: "web", To: "prod", RequestedBy: "dana"},
		{Kind: release.KindPromote, App: "web", To: "prod", State: "lost", RequestedBy: "dana"},
	} {
		if err := s.CreatePromotion(ctx, bad); err == nil {
			t.Errorf("CreatePromotion(%+v): want error", bad)
		}
	}
	if err := s.UpdatePromotion(ctx, &release.Promotion{ID: prod.ID, State: "lost"}); err == nil {
		t.Error("UpdatePromotion(unknown state): want error")
	}
	if err := s.UpdatePromotion(ctx, &release.Promotion{State: release.PromotionRunning}); err == nil {
		t.Error("UpdatePromotion(no id): want error")
	}
	if _, err := s.ListPromotions(ctx, store.PromotionFilter{Limit: -1}); err == nil {
		t.Error("ListPromotions(limit -1): want error")
	}
	if _, err := s.ListPromotions(ctx, store.PromotionFilter{State: "lost"}); err == nil {
		t.Error("ListPromotions(unknown state): want error")
	}
}

// testPromotionRace approves each promotion from several goroutines at
// once, as two release managers clicking together would: exactly one
// approval wins, the others get ErrConflict, and the stored approver is the
// winner.
func testPromotionRace(t *testing.T, url string) {
	ctx := context.Background()
	s := openPromo(t, url, NewClock())
	const (
		rounds    = 10
		approvers = 6
	)
	for round := range rounds {
		p := &release.Promotion{Kind: release.KindPromote, App: "web", From: "qa", To: "prod", Digest: digestA,
			State: release.PromotionAwaitingApproval, RequestedBy: "dana"}
		if err := s.CreatePromotion(ctx, p); err != nil {
			t.Fatalf("CreatePromotion: %v", err)
		}
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			errs    = make([]error, approvers)
			winners []string
		)
		for i := range approvers {
			wg.Go(func() {
				mine := *p
				mine.State, mine.ApprovedBy = release.PromotionRunning, fmt.Sprintf("rm-%d", i)
				<-start
				errs[i] = s.UpdatePromotion(ctx, &mine, release.PromotionAwaitingApproval)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			switch {
			case err == nil:
				winners = append(winners, fmt.Sprintf("rm-%d", i))
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d: approver %d: %v, want nil or ErrConflict", round, i, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d approvals won (%v), want exactly 1", round, len(winners), winners)
		}
		got, err := s.GetPromotion(ctx, p.ID)
		if err != nil {
			t.Fatalf("GetPromotion: %v", err)
		}
		if got.State != release.PromotionRunning || got.ApprovedBy != winners[0] {
			t.Errorf("round %d: stored %s approved by %q, want running approved by %q", round, got.State, got.ApprovedBy, winners[0])
		}
		// Frees web's one slot in prod for the next round.
		got.State = release.PromotionSucceeded
		if err := s.UpdatePromotion(ctx, got); err != nil {
			t.Fatalf("round %d: finishing: %v", round, err)
		}
	}
}

// testOneActivePromotion: at most one promotion per app and environment
// is running or paused, however it gets there (created so, or moved so),
// and when several replicas start queued ones at once exactly one wins.
func testOneActivePromotion(t *testing.T, url string) {
	ctx := context.Background()
	s := openPromo(t, url, NewClock())
	create := func(app, to string, state release.PromotionState) (*release.Promotion, error) {
		p := &release.Promotion{Kind: release.KindAutoDeploy, App: app, To: to, Digest: digestA, State: state, RequestedBy: "slipway"}
		return p, s.CreatePromotion(ctx, p)
	}
	active, err := create("web", "prod", release.PromotionRunning)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := create("web", "prod", release.PromotionRunning); !errors.Is(err, store.ErrActive) {
		t.Errorf("a second running promotion of web into prod: %v, want ErrActive", err)
	}
	if _, err := create("web", "prod", release.PromotionPaused); !errors.Is(err, store.ErrActive) {
		t.Errorf("a paused promotion of web into prod beside a running one: %v, want ErrActive", err)
	}
	for _, other := range [][2]string{{"web", "qa"}, {"api", "prod"}} {
		if _, err := create(other[0], other[1], release.PromotionRunning); err != nil {
			t.Errorf("running %s into %s beside web into prod: %v", other[0], other[1], err)
		}
	}
	queued, err := create("web", "prod", release.PromotionQueued)
	if err != nil {
		t.Fatalf("queueing beside the active one: %v", err)
	}
	queued.State = release.PromotionRunning
	if err := s.UpdatePromotion(ctx, queued, release.PromotionQueued); !errors.Is(err, store.ErrActive) {
		t.Errorf("starting the queued one while another runs: %v, want ErrActive", err)
	}
	if got, _ := s.GetPromotion(ctx, queued.ID); got.State != release.PromotionQueued {
		t.Errorf("after the refused start it is %s, want queued", got.State)
	}
	// The active one may move between running and paused: it is one row.
	active.State = release.PromotionPaused
	if err := s.UpdatePromotion(ctx, active, release.PromotionRunning); err != nil {
		t.Errorf("pausing the active one: %v", err)
	}
	active.State = release.PromotionSucceeded
	if err := s.UpdatePromotion(ctx, active, release.PromotionPaused); err != nil {
		t.Fatal(err)
	}
	queued.State = release.PromotionRunning
	if err := s.UpdatePromotion(ctx, queued, release.PromotionQueued); err != nil {
		t.Errorf("starting the queued one once the slot is free: %v", err)
	}

	// Replicas starting different queued promotions of one app at once.
	const replicas = 6
	for round := range 5 {
		app := fmt.Sprintf("race-%d", round)
		ps := make([]*release.Promotion, replicas)
		for i := range ps {
			if ps[i], err = create(app, "prod", release.PromotionQueued); err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, replicas)
		)
		for i, p := range ps {
			wg.Go(func() {
				p.State = release.PromotionRunning
				<-start
				errs[i] = s.UpdatePromotion(ctx, p, release.PromotionQueued)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrActive):
				t.Errorf("round %d: replica %d: %v, want nil or ErrActive", round, i, err)
			}
		}
		running, err := s.ListPromotions(ctx, store.PromotionFilter{App: app, State: release.PromotionRunning})
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || len(running) != 1 {
			t.Errorf("round %d: %d starts won, %d running, want 1 and 1", round, won, len(running))
		}
	}
}

func testDeployments(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := openPromo(t, url, clock)

	var all []release.Deployment // newest first
	for _, d := range []release.Deployment{
		{App: "web", Env: "qa", Digest: digestA, Image: "registry.qa/web@" + digestA, Commit: "3f78", PromotionID: 1},
		{App: "web", Env: "prod", Digest: digestA, Image: "registry.prod/web@" + digestA, Commit: "3f78", PromotionID: 2},
		{App: "api", Env: "qa", Digest: digestB, Image: "registry.qa/api@" + digestB},
		{App: "web", Env: "qa", Digest: digestB, Image: "registry.qa/web@" + digestB, PromotionID: 3},
	} {
		clock.Advance(time.Second)
		d.ID, d.DeployedAt = 42, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // both overwritten
		if err := s.RecordDeployment(ctx, &d); err != nil {
			t.Fatalf("RecordDeployment: %v", err)
		}
		if d.ID == 42 || !d.DeployedAt.Equal(clock.Now()) {
			t.Fatalf("RecordDeployment set id %d, time %v; want a new id and %v", d.ID, d.DeployedAt, clock.Now())
		}
		all = append([]release.Deployment{d}, all...)
	}
	webQA2, apiQA, webProd, webQA1 := all[0], all[1], all[2], all[3]

	for _, tc := range []struct {
		name     string
		app, env string
		limit    int
		want     []release.Deployment
	}{
		{"app in env, newest first", "web", "qa", 0, []release.Deployment{webQA2, webQA1}},
		{"what runs now", "web", "qa", 1, []release.Deployment{webQA2}},
		{"every env", "web", "", 0, []release.Deployment{webQA2, webProd, webQA1}},
		{"other app", "api", "", 0, []release.Deployment{apiQA}},
		{"nothing there", "web", "staging", 0, nil},
	} {
		got, err := s.ListDeployments(ctx, tc.app, tc.env, tc.limit)
		if err != nil {
			t.Fatalf("%s: ListDeployments: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ListDeployments (-want +got):\n%s", tc.name, diff)
		}
		for _, d := range got {
			checkUTC(t, tc.name, d.DeployedAt)
		}
	}

	apps, err := s.DeployedApps(ctx)
	if err != nil {
		t.Fatalf("DeployedApps: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{"api": {"qa"}, "web": {"prod", "qa"}}, apps); diff != "" {
		t.Errorf("DeployedApps (-want +got):\n%s", diff)
	}
	if err := s.DeleteDeployments(ctx, "web"); err != nil {
		t.Fatalf("DeleteDeployments: %v", err)
	}
	if err := s.DeleteDeployments(ctx, "web"); err != nil {
		t.Errorf("DeleteDeployments again: %v, want nil", err)
	}
	if got, err := s.ListDeployments(ctx, "web", "", 0); err != nil || len(got) != 0 {
		t.Errorf("after delete: web has %v, %v; want none", got, err)
	}
	if got, err := s.ListDeployments(ctx, "api", "", 0); err != nil || !cmp.Equal([]release.Deployment{apiQA}, got) {
		t.Errorf("after deleting web: api has %v, %v; want it untouched", got, err)
	}
	if apps, err := s.DeployedApps(ctx); err != nil || !cmp.Equal(map[string][]string{"api": {"qa"}}, apps) {
		t.Errorf("DeployedApps after deleting web = %v, %v; want api in qa only", apps, err)
	}

	for _, bad := range []*release.Deployment{
		{Env: "qa", Digest: digestA},
		{App: "web", Digest: digestA},
		{App: "web", Env: "qa"},
	} {
		if err := s.RecordDeployment(ctx, bad); err == nil {
			t.Errorf("RecordDeployment(%+v): want error", bad)
		}
	}
	if _, err := s.ListDeployments(ctx, "web", "qa", -1); err == nil {
		t.Error("ListDeployments(limit -1): want error")
	}
	if _, err := s.ListDeployments(ctx, "", "qa", 0); err == nil {
		t.Error("ListDeployments(no app): want error")
	}
	if err := s.DeleteDeployments(ctx, ""); err == nil {
		t.Error("DeleteDeployments(no app): want error")
	}
}

// testDeploymentOncePerPromotion: replicas that finish the same promotion
// at the same moment record one deployment; each gets that record back.
func testDeploymentOncePerPromotion(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := openPromo(t, url, clock)
	const replicas = 6
	got := make([]release.Deployment, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			got[i] = release.Deployment{App: "web", Env: "prod", Digest: digestA, Image: "registry.prod/web@" + digestA, PromotionID: 7}
			errs[i] = s.RecordDeployment(ctx, &got[i])
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: RecordDeployment: %v", i, err)
		}
	}
	list, err := s.ListDeployments(ctx, "web", "prod", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("%d deployments recorded for one promotion, want 1: %+v", len(list), list)
	}
	for i := range got {
		if diff := cmp.Diff(list[0], got[i]); diff != "" {
			t.Errorf("replica %d got back (-stored +got):\n%s", i, diff)
		}
	}
	// Deployments without a promotion (recorded by hand) are not merged.
	for range 2 {
		clock.Advance(time.Second)
		if err := s.RecordDeployment(ctx, &release.Deployment{App: "api", Env: "qa", Digest: digestB}); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := s.ListDeployments(ctx, "api", "qa", 0); err != nil || len(list) != 2 {
		t.Errorf("deployments without a promotion: %d, %v; want 2", len(list), err)
	}
}

// testDeploymentsDefaultLimit checks that limit 0 is bounded.
func testDeploymentsDefaultLimit(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := openPromo(t, url, clock)
	for range store.DefaultDeploymentsLimit + 5 {
		clock.Advance(time.Millisecond)
		if err := s.RecordDeployment(ctx, &release.Deployment{App: "web", Env: "qa", Digest: digestA}); err != nil {
			t.Fatalf("RecordDeployment: %v", err)
		}
	}
	got, err := s.ListDeployments(ctx, "web", "qa", 0)
	if err != nil {
		t.Fatalf("ListDeployments: %v", err)
	}
	if len(got) != store.DefaultDeploymentsLimit {
		t.Errorf("ListDeployments(limit 0) = %d deployments, want %d", len(got), store.DefaultDeploymentsLimit)
	}
}

func testAudit(t *testing.T, url string) {
	ctx := context.Background()
	clock := NewClock()
	s := openPromo(t, url, clock)

	var all []release.AuditEntry // newest first
	for _, e := range []release.AuditEntry{
		{Actor: "dana", Role: "developer", Action: "promote", App: "web", From: "qa", To: "prod", Digest: digestA, PromotionID: 7, Result: "accepted"},
		{Actor: "dana", Role: "developer", Action: "approve", App: "web", PromotionID: 7,
			Result: "forbidden: dana is a developer; this needs release-manager"},
		{Actor: "rita", Role: "release-manager", Action: "approve", App: "web", PromotionID: 7, Result: "accepted"},
		{Actor: "slipway", Action: "auto-deploy", App: "api", To: "qa", Digest: digestB, PromotionID: 8, Result: "succeeded"},
	} {
		clock.Advance(time.Second)
		if err := s.AppendAudit(ctx, &e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if e.ID == 0 || !e.At.Equal(clock.Now()) || e.At.Location() != time.UTC {
			t.Fatalf("AppendAudit set id %d, at %v; want an id and %v in UTC", e.ID, e.At, clock.Now())
		}
		all = append([]release.AuditEntry{e}, all...)
	}
	// A caller that knows when it happened keeps its time, in UTC at the
	// store's precision; it sorts by that time, not by insertion.
	early := release.AuditEntry{Actor: "ada", Role: "admin", Action: "app-delete", App: "old", Result: "succeeded",
		At: time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))}
	if err := s.AppendAudit(ctx, &early); err != nil {
		t.Fatalf("AppendAudit(with time): %v", err)
	}
	wantAt := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	if !early.At.Equal(wantAt) || early.At.Location() != time.UTC {
		t.Errorf("AppendAudit(with time) at = %v, want %v", early.At, wantAt)
	}
	all = append(all, early)
	slipwayAuto, rmApprove, devApprove, devPromote := all[0], all[1], all[2], all[3]

	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []release.AuditEntry
	}{
		{"all, newest first", store.AuditFilter{}, all},
		{"limit", store.AuditFilter{Limit: 2}, all[:2]},
		{"by app", store.AuditFilter{App: "web"}, []release.AuditEntry{rmApprove, devApprove, devPromote}},
		{"by actor", store.AuditFilter{Actor: "dana"}, []release.AuditEntry{devApprove, devPromote}},
		{"by promotion", store.AuditFilter{PromotionID: 8}, []release.AuditEntry{slipwayAuto}},
		{"by actor and promotion", store.AuditFilter{Actor: "rita", PromotionID: 7, Limit: 10}, []release.AuditEntry{rmApprove}},
		{"no match", store.AuditFilter{Actor: "mallory"}, nil},
	} {
		got, err := s.ListAudit(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: ListAudit: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ListAudit (-want +got):\n%s", tc.name, diff)
		}
		for _, e := range got {
			checkUTC(t, tc.name, e.At)
		}
	}

	for _, bad := range []*release.AuditEntry{
		{Action: "promote", Result: "accepted"},
		{Actor: "dana", Result: "accepted"},
	} {
		if err := s.AppendAudit(ctx, bad); err == nil {
			t.Errorf("AppendAudit(%+v): want error", bad)
		}
	}
	if _, err := s.ListAudit(ctx, store.AuditFilter{Limit: -1}); err == nil {
		t.Error("ListAudit(limit -1): want error")
	}

	// Append-only below the Go interface too.
	db := rawDB(t, url)
	for _, q := range []string{
		"UPDATE audit SET result = 'succeeded' WHERE actor = 'dana'",
		"DELETE FROM audit WHERE actor = 'dana'",
	} {
		_, err := db.ExecContext(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", q, err)
		}
	}
	if got, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || !cmp.Equal(all, got) {
		t.Errorf("after the refused changes: ListAudit = %v, %v; want it unchanged", got, err)
	}
}

// rawDB opens the database behind url directly, beside the store.
func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	var (
		db  *sql.DB
		err error
	)
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		db, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", url)
	}
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
