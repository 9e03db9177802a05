package insights

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
)

// ts reads "2006-01-02 15:04" in UTC.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// script records a history in a real store, each record at the instant
// the script sets on the store's clock.
type script struct {
	t   *testing.T
	ctx context.Context
	st  *store.DB
	clk *clocktesting.FakeClock
	n   int
}

func newScript(t *testing.T) *script {
	clk := clocktesting.NewFakeClock(ts(t, "2026-02-01 00:00"))
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clk))
	return &script{t: t, ctx: context.Background(), st: st, clk: clk}
}

func (s *script) at(when string) *script { s.clk.SetTime(ts(s.t, when)); return s }

// push records a webhook delivery of sha committed at committed (in CET,
// as a host may send it) and the CI run it started.
func (s *script) push(sha, committed string) {
	s.t.Helper()
	s.n++
	cet := time.FixedZone("CET", 3600)
	ev := &event.Event{Provider: event.GitHub, Kind: event.Push, Action: event.Build, Delivery: "d-" + sha,
		Repo: "acme/hello", Ref: "refs/heads/main", SHA: sha, CommitTime: ts(s.t, committed).In(cet)}
	id, _, err := s.st.RecordEvent(s.ctx, ev)
	if err != nil {
		s.t.Fatal(err)
	}
	r := &run.Run{ID: "ci/hello-" + sha, EventID: id, Provider: event.GitHub, Kind: event.Push, Repo: "acme/hello",
		App: "hello", Ref: ev.Ref, SHA: sha, State: run.Succeeded}
	if err := s.st.CreateRun(s.ctx, r); err != nil {
		s.t.Fatal(err)
	}
}

// start records a promotion of sha into env in state.
func (s *script) start(kind release.PromotionKind, env, sha string, state release.PromotionState) *release.Promotion {
	s.t.Helper()
	p := &release.Promotion{Kind: kind, App: "hello", To: env, Digest: "sha256:" + sha, Commit: sha,
		State: state, RequestedBy: "ada"}
	if err := s.st.CreatePromotion(s.ctx, p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// deploy: the promotion started its deploy PipelineRun.
func (s *script) deploy(p *release.Promotion) {
	s.t.Helper()
	p.State, p.PipelineRuns = release.PromotionRunning, []string{"ci/deploy-" + p.Commit}
	if err := s.st.UpdatePromotion(s.ctx, p); err != nil {
		s.t.Fatal(err)
	}
}

// end finishes p in state now.
func (s *script) end(p *release.Promotion, state release.PromotionState) {
	s.t.Helper()
	p.State = state
	if err := s.st.UpdatePromotion(s.ctx, p); err != nil {
		s.t.Fatal(err)
	}
}

func (s *script) approve(p *release.Promotion) {
	s.t.Helper()
	e := &release.AuditEntry{Actor: "rm", Action: "approve", App: p.App, To: p.To, PromotionID: p.ID,
		Outcome: release.OutcomeSucceeded, Result: "succeeded"}
	if err := s.st.AppendAudit(s.ctx, e); err != nil {
		s.t.Fatal(err)
	}
}

// TestScriptedHistory records pushes, CI runs, promotions with an
// approval, a rollout rolled back by its deploy pod, a rollback by hand
// and the restores, then checks the four keys against figures computed by
// hand in the comments.
func TestScriptedHistory(t *testing.T) {
	s := newScript(t)
	const (
		qa   = "qa"
		prod = "prod"
	)
	// Before the window [03-01 00:00, 03-08 00:00): ignored.
	s.push("c0", "2026-02-27 08:00")
	s.at("2026-02-28 22:00")
	p0 := s.start(release.KindPromote, prod, "c0", release.PromotionRunning)
	s.deploy(p0)
	s.at("2026-02-28 23:59").end(p0, release.PromotionSucceeded)

	// c1: committed 08:00, auto-deployed to qa 08:10–08:30 (lead 30m),
	// promoted to prod 09:00–10:00 (lead 2h).
	s.push("c1", "2026-03-01 08:00")
	s.at("2026-03-01 08:10")
	a1 := s.start(release.KindAutoDeploy, qa, "c1", release.PromotionRunning)
	s.deploy(a1)
	s.at("2026-03-01 08:30").end(a1, release.PromotionSucceeded)
	s.at("2026-03-01 09:00")
	p1 := s.start(release.KindPromote, prod, "c1", release.PromotionRunning)
	s.deploy(p1)
	s.at("2026-03-01 10:00").end(p1, release.PromotionSucceeded)

	// c2: asked for 12:00, approved 14:00, rolled back by its own rollout
	// at 14:30: a failure, down from the approval (14:00) to 14:30 = 30m.
	s.push("c2", "2026-03-02 10:00")
	s.at("2026-03-02 12:00")
	p2 := s.start(release.KindPromote, prod, "c2", release.PromotionAwaitingApproval)
	s.at("2026-03-02 14:00").approve(p2)
	s.deploy(p2)
	s.at("2026-03-02 14:30")
	p2.Reason = "wave 1/1 in-cluster: rolled back: 1 container restarts (at most 0 allowed)"
	s.end(p2, release.PromotionFailed)

	// c3: deployed 10:00–11:00 (lead 2h), rolled back by hand at 13:00
	// (2h later, within the 24h failure window), the rollback done 13:20:
	// a failure, down 11:00–13:20 = 2h20m.
	s.push("c3", "2026-03-03 09:00")
	s.at("2026-03-03 10:00")
	p3 := s.start(release.KindPromote, prod, "c3", release.PromotionRunning)
	s.deploy(p3)
	s.at("2026-03-03 11:00").end(p3, release.PromotionSucceeded)
	s.at("2026-03-03 13:00")
	r1 := s.start(release.KindRollback, prod, "c1", release.PromotionRunning)
	s.deploy(r1)
	s.at("2026-03-03 13:20").end(r1, release.PromotionSucceeded)

	// c4: deployed 07:00–09:00 (lead 3h); a rollback 25h after it ended is
	// outside the failure window: no failure.
	s.push("c4", "2026-03-05 06:00")
	s.at("2026-03-05 07:00")
	p4 := s.start(release.KindPromote, prod, "c4", release.PromotionRunning)
	s.deploy(p4)
	s.at("2026-03-05 09:00").end(p4, release.PromotionSucceeded)
	s.at("2026-03-06 10:00")
	r2 := s.start(release.KindRollback, prod, "c3", release.PromotionRunning)
	s.deploy(r2)
	s.at("2026-03-06 10:05").end(r2, release.PromotionSucceeded)

	// Neither reached a cluster: a refused promotion and a failed copy.
	s.at("2026-03-07 09:00")
	s.start(release.KindPromote, prod, "c5", release.PromotionRefused)
	p6 := s.start(release.KindPromote, prod, "c6", release.PromotionRunning)
	s.at("2026-03-07 09:01").end(p6, release.PromotionFailed)

	now := ts(t, "2026-03-08 00:00")
	svc := New(s.st, []string{"hello"}, []string{qa, prod}, WithClock(clocktesting.NewFakePassiveClock(now)))
	got, err := svc.Compute(context.Background(), Query{Window: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	from := ts(t, "2026-03-01 00:00")
	want := []Keys{{
		App: "hello", Env: qa, From: from, To: now,
		// qa: one deployment in 7 days.
		Deployments: 1, PerDay: 1.0 / 7, Daily: []int{1, 0, 0, 0, 0, 0, 0},
		LeadTime:  30 * time.Minute,
		LeadTimes: []Sample{{PromotionID: a1.ID, Commit: "c1", At: ts(t, "2026-03-01 08:30"), Duration: 30 * time.Minute}},
		Changes:   1,
	}, {
		App: "hello", Env: prod, From: from, To: now,
		// prod: p1, p3, p4 succeeded: 3 deployments in 7 days = 0.4286/day,
		// on days 0, 2 and 4.
		Deployments: 3, PerDay: 3.0 / 7, Daily: []int{1, 0, 1, 0, 1, 0, 0},
		// Lead times 2h, 2h, 3h: median 2h.
		LeadTime: 2 * time.Hour,
		LeadTimes: []Sample{
			{PromotionID: p1.ID, Commit: "c1", At: ts(t, "2026-03-01 10:00"), Duration: 2 * time.Hour},
			{PromotionID: p3.ID, Commit: "c3", At: ts(t, "2026-03-03 11:00"), Duration: 2 * time.Hour},
			{PromotionID: p4.ID, Commit: "c4", At: ts(t, "2026-03-05 09:00"), Duration: 3 * time.Hour},
		},
		// Changes p1, p2, p3, p4 (rollbacks, the refused one and the
		// failed copy are not); failures p2 and p3: 2/4 = 0.5.
		Changes: 4, Failures: 2, ChangeFailureRate: 0.5,
		// Restores 30m and 2h20m: median (30m+140m)/2 = 85m.
		TimeToRestore: 85 * time.Minute,
		Restores: []Sample{
			{PromotionID: p2.ID, Commit: "c2", At: ts(t, "2026-03-02 14:30"), Duration: 30 * time.Minute},
			{PromotionID: p3.ID, Commit: "c3", At: ts(t, "2026-03-03 13:20"), Duration: 140 * time.Minute},
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compute (-want +got):\n%s", diff)
	}

	// One app and environment only.
	got, err = svc.Compute(context.Background(), Query{App: "hello", Env: qa, Window: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[:1], got); diff != "" {
		t.Errorf("Compute qa (-want +got):\n%s", diff)
	}
}

// p is a promotion ended at end, created an hour before.
func p(id int64, kind release.PromotionKind, state release.PromotionState, end time.Time, commit string) release.Promotion {
	return release.Promotion{ID: id, Kind: kind, App: "hello", To: "prod", State: state, Commit: commit,
		PipelineRuns: []string{"ci/deploy"}, CreatedAt: end.Add(-time.Hour), FinishedAt: end}
}

func TestComputeEdges(t *testing.T) {
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(48 * time.Hour)
	committed := map[string]time.Time{"c1": from.Add(-time.Hour), "c2": from.Add(2 * time.Hour), "future": from.Add(30 * time.Hour)}
	commitTime := func(_ context.Context, sha string) (time.Time, error) { return committed[sha], nil }
	h := func(ps ...release.Promotion) history {
		return history{app: "hello", env: "prod", promotions: ps, commitTime: commitTime, failureWindow: 24 * time.Hour}
	}
	tests := []struct {
		name string
		h    history
		want Keys
	}{{
		name: "no deployments",
		h:    h(),
		want: Keys{Daily: []int{0, 0}},
	}, {
		name: "only failures, the last one not restored",
		h: h(p(1, release.KindPromote, release.PromotionFailed, from.Add(3*time.Hour), "c1"),
			p(2, release.KindPromote, release.PromotionAborted, from.Add(5*time.Hour), "c2")),
		// Both rolled back by their rollouts, each down while it ran: the
		// first 2h→3h, the second from its creation (4h, after the first
		// ended at 3h) to 5h. Median 1h; CFR 2/2.
		want: Keys{Daily: []int{0, 0}, Changes: 2, Failures: 2, ChangeFailureRate: 1, TimeToRestore: time.Hour,
			Restores: []Sample{
				{PromotionID: 1, Commit: "c1", At: from.Add(3 * time.Hour), Duration: time.Hour},
				{PromotionID: 2, Commit: "c2", At: from.Add(5 * time.Hour), Duration: time.Hour},
			}},
	}, {
		name: "window boundaries: from is in, to is out",
		h: h(p(1, release.KindPromote, release.PromotionSucceeded, from, "c1"),
			p(2, release.KindPromote, release.PromotionSucceeded, to, "c2"),
			p(3, release.KindPromote, release.PromotionSucceeded, from.Add(-time.Nanosecond), "c2")),
		// Only 1: lead time from − (from−1h) = 1h; one deployment in 2 days.
		want: Keys{Deployments: 1, PerDay: 0.5, Daily: []int{1, 0}, Changes: 1, LeadTime: time.Hour,
			LeadTimes: []Sample{{PromotionID: 1, Commit: "c1", At: from, Duration: time.Hour}}},
	}, {
		name: "a rollback with nothing successful since leaves the failure unrestored",
		h: h(p(1, release.KindPromote, release.PromotionSucceeded, from.Add(time.Hour), ""),
			p(2, release.KindRollback, release.PromotionFailed, from.Add(3*time.Hour), "")),
		// The change counts, without a lead time (commit unknown); the
		// failed rollback is no change of its own.
		want: Keys{Deployments: 1, PerDay: 0.5, Daily: []int{1, 0}, Changes: 1, Failures: 1, ChangeFailureRate: 1, Unrestored: 1},
	}, {
		name: "a rollback after a later change undoes that one, not the first",
		h: h(p(1, release.KindPromote, release.PromotionSucceeded, from.Add(time.Hour), "c1"),
			p(2, release.KindPromote, release.PromotionSucceeded, from.Add(3*time.Hour), "c2"),
			p(3, release.KindRollback, release.PromotionSucceeded, from.Add(5*time.Hour), "c1")),
		// Rollback created at 4h: after change 2 (ended 3h). Change 2 down
		// 3h→5h = 2h. Lead times 2h (c1) and 1h (c2): median 1h30m.
		want: Keys{Deployments: 2, PerDay: 1, Daily: []int{2, 0}, Changes: 2, Failures: 1, ChangeFailureRate: 0.5,
			LeadTime: 90 * time.Minute,
			LeadTimes: []Sample{
				{PromotionID: 1, Commit: "c1", At: from.Add(time.Hour), Duration: 2 * time.Hour},
				{PromotionID: 2, Commit: "c2", At: from.Add(3 * time.Hour), Duration: time.Hour},
			},
			TimeToRestore: 2 * time.Hour,
			Restores:      []Sample{{PromotionID: 2, Commit: "c2", At: from.Add(5 * time.Hour), Duration: 2 * time.Hour}}},
	}, {
		name: "a commit timestamped after its rollout is a lead time of 0",
		h:    h(p(1, release.KindPromote, release.PromotionSucceeded, from.Add(26*time.Hour), "future")),
		want: Keys{Deployments: 1, PerDay: 0.5, Daily: []int{0, 1}, Changes: 1,
			LeadTimes: []Sample{{PromotionID: 1, Commit: "future", At: from.Add(26 * time.Hour)}}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := compute(context.Background(), tt.h, from, to)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.App, tt.want.Env, tt.want.From, tt.want.To = "hello", "prod", from, to
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("compute (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputeRefusesUnknownNames(t *testing.T) {
	svc := New(nil, []string{"hello"}, []string{"qa"})
	for _, q := range []Query{{App: "nope"}, {Env: "staging"}, {Window: time.Minute}, {Window: 91 * 24 * time.Hour}} {
		if _, err := svc.Compute(context.Background(), q); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compute(%+v) = %v, want ErrInvalid", q, err)
		}
	}
}

func TestParseWindow(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "", want: DefaultWindow},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "90d", want: MaxWindow},
		{in: "72h", want: 72 * time.Hour},
		{in: "1h", want: time.Hour},
		{in: "0d", wantErr: true},
		{in: "91d", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "59m", wantErr: true},
		{in: "2161h", wantErr: true},
		{in: "week", wantErr: true},
		{in: "1.5d", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseWindow(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseWindow(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"", "7d", "72h", "90d", "1h30m", "-5d", "9999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseWindow(s)
		if err != nil {
			return
		}
		if d < MinWindow || d > MaxWindow {
			t.Fatalf("ParseWindow(%q) = %v, outside the bounds", s, d)
		}
		if back, err := ParseWindow(FormatWindow(d)); err != nil || back != d {
			t.Fatalf("FormatWindow(%v) = %q reads back as %v, %v", d, FormatWindow(d), back, err)
		}
	})
}
