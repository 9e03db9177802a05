// Package apitest runs the real /api/v1 handlers (pkg/api) in process,
// over a SQLite store, a fake Tekton clientset and an in-memory promotion
// service of the same shape as pkg/promotion's, for the tests of API
// clients (pkg/api/client, the CLI).
package apitest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	tektonfake "github.com/tektoncd/pipeline/pkg/client/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/slipway-ci/slipway/pkg/api"
	"github.com/slipway-ci/slipway/pkg/auth"
	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/promotion"
	"github.com/slipway-ci/slipway/pkg/release"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
	"github.com/slipway-ci/slipway/pkg/store/storetest"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// Tokens of the server: a developer, a release manager and an admin.
const (
	Developer      = "dev-token-0123456789"
	ReleaseManager = "rm-token-0123456789ab"
	Admin          = "admin-token-0123456789"
)

// Namespace is where the runs run; RunID is the one recorded run, running.
const (
	Namespace = "slipway-builds"
	RunID     = Namespace + "/web-1"
)

// T0 is when everything in the fixtures happened.
var T0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// Server is a running API.
type Server struct {
	*httptest.Server
	Store      *store.DB
	Tekton     *tektonfake.Clientset
	Promotions *Promotions
}

// New starts the API with one push event, its run (running) and its
// PipelineRun recorded, and registers its shutdown with t.Cleanup.
func New(t *testing.T) *Server {
	t.Helper()
	st := storetest.Open(t, "sqlite://"+filepath.Join(t.TempDir(), "slipway.db"), store.WithClock(clocktesting.NewFakePassiveClock(T0)))
	ctx := context.Background()
	ev := storetest.Event("d-1")
	ev.Repo, ev.Ref = "acme/web", "refs/heads/main"
	id, _, err := st.RecordEvent(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRun(ctx, &run.Run{ID: RunID, EventID: id, Provider: event.GitHub, Kind: event.Push, Repo: "acme/web",
		App: "web", Ref: "refs/heads/main", SHA: ev.SHA, State: run.Running, CreatedAt: T0}); err != nil {
		t.Fatal(err)
	}
	pr := &pipelinev1.PipelineRun{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: Namespace,
		Labels: map[string]string{tekton.LabelManaged: "true"}}}
	pr.Status.Status = duckv1.Status{Conditions: duckv1.Conditions{{Type: apis.ConditionSucceeded, Status: corev1.ConditionUnknown}}}
	tokens, err := auth.Parse([]byte(fmt.Sprintf(`[{name: dana, role: developer, token: %s}, {name: rita, role: release-manager, token: %s}, {name: adam, role: admin, token: %s}]`,
		Developer, ReleaseManager, Admin)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Tekton: tektonfake.NewSimpleClientset(pr), Promotions: &Promotions{}}
	e := echo.New()
	access := api.Access{Tokens: tokens}
	api.Register(e, st, access)
	api.RegisterNotifications(e, st, access)
	api.RegisterRunActions(e, api.NewRunActions(st, st, s.Tekton, Namespace, nil), access)
	api.RegisterPromotions(e, s.Promotions, s.Promotions, s.Promotions, access)
	s.Server = httptest.NewServer(e)
	t.Cleanup(s.Close)
	return s
}

// Promotions is an in-memory promotion service with the rules of
// pkg/promotion the API relies on: "prod" needs a release manager's
// approval, app "forged" is refused by the gate, approving needs a
// release manager, deleting an app an admin. Each Get of a running
// promotion moves it on, to succeeded at the second, so followers end.
type Promotions struct {
	mu    sync.Mutex
	ps    []*release.Promotion
	audit []release.AuditEntry
	gets  map[int64]int
}

var (
	_ api.PromotionActions = (*Promotions)(nil)
	_ api.PromotionReader  = (*Promotions)(nil)
	_ api.AppAdmin         = (*Promotions)(nil)
)

func (f *Promotions) add(p *release.Promotion, who promotion.Caller, action string) *release.Promotion {
	p.ID = int64(len(f.ps) + 1)
	p.CreatedAt, p.UpdatedAt = T0, T0
	f.ps = append(f.ps, p)
	f.record(who, action, p, "accepted")
	c := *p
	return &c
}

func (f *Promotions) record(who promotion.Caller, action string, p *release.Promotion, result string) {
	f.audit = append(f.audit, release.AuditEntry{ID: int64(len(f.audit) + 1), At: T0, Actor: who.Name, Role: who.Role,
		Action: action, App: p.App, From: p.From, To: p.To, Digest: p.Digest, PromotionID: p.ID, Result: result})
}

// Promote implements api.PromotionActions.
func (f *Promotions) Promote(_ context.Context, who promotion.Caller, req promotion.Request) (*release.Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := req.From
	if from == "" {
		from = "qa"
	}
	digest := req.Digest
	if digest == "" {
		digest = "sha256:0123456789abcdef0123456789abcdef"
	}
	if req.PolicyOverride != "" && !who.Admin {
		return nil, fmt.Errorf("%w: overriding the dependency policy needs the admin role; %s is a %s", promotion.ErrForbidden, who.Name, who.Role)
	}
	p := &release.Promotion{Kind: release.KindPromote, App: req.App, From: from, To: req.To, Digest: digest, State: release.PromotionRunning,
		RequestedBy: who.Name, Progress: "wave 1/1 east: rolling"}
	switch {
	// "vulnerable" breaks the dependency policy re-check, as the service
	// refuses it; an admin's override passes it, audited.
	case req.App == "vulnerable" && req.PolicyOverride != "":
		defer f.record(who, "policy-override", p, "overridden: "+req.PolicyOverride+" (refused for SLIPWAY-2026-0001)")
	case req.App == "vulnerable":
		p.State, p.Reason, p.Progress = release.PromotionRefused, "promotion refused: dependency policy at promotion time: 1 policy violation, first: example.com/slipway-vuln v1.0.0: SLIPWAY-2026-0001 (fixed in 1.2.0)", ""
	case req.App == "forged":
		p.State, p.Reason, p.Progress = release.PromotionRefused, "promotion refused: no readable SLSA provenance", ""
	case req.To == "prod" && !who.ReleaseManager:
		p.State, p.Progress = release.PromotionAwaitingApproval, ""
	}
	return f.add(p, who, "promote"), nil
}

// Rollback implements api.PromotionActions.
func (f *Promotions) Rollback(_ context.Context, who promotion.Caller, app, env string) (*release.Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.add(&release.Promotion{Kind: release.KindRollback, App: app, From: env, To: env, Digest: "sha256:aaaaaaaaaaaaaaaa",
		State: release.PromotionAwaitingApproval, RequestedBy: who.Name}, who, "rollback"), nil
}

func (f *Promotions) find(id int64) (*release.Promotion, error) {
	if id < 1 || id > int64(len(f.ps)) {
		return nil, fmt.Errorf("%w: no promotion %d", promotion.ErrNotFound, id)
	}
	return f.ps[id-1], nil
}

func (f *Promotions) change(who promotion.Caller, id int64, action string, from release.PromotionState, to release.PromotionState) (*release.Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(id)
	if err != nil {
		return nil, err
	}
	if from != "" && p.State != from {
		return nil, fmt.Errorf("%w: promotion %d is %s", promotion.ErrConflict, id, p.State)
	}
	p.State = to
	if action == "approve" {
		p.ApprovedBy = who.Name
	}
	f.record(who, action, p, "accepted")
	c := *p
	return &c, nil
}

// Approve implements api.PromotionActions.
func (f *Promotions) Approve(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	if !who.ReleaseManager {
		return nil, fmt.Errorf("%w: approving needs the release-manager role; %s is a %s", promotion.ErrForbidden, who.Name, who.Role)
	}
	return f.change(who, id, "approve", release.PromotionAwaitingApproval, release.PromotionRunning)
}

// Abort implements api.PromotionActions.
func (f *Promotions) Abort(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	return f.change(who, id, "abort", "", release.PromotionAborted)
}

// Continue implements api.PromotionActions.
func (f *Promotions) Continue(_ context.Context, who promotion.Caller, id int64) (*release.Promotion, error) {
	return f.change(who, id, "continue", release.PromotionPaused, release.PromotionRunning)
}

// Pause puts promotion id in the paused state, as a manual canary step does.
func (f *Promotions) Pause(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ps[id-1].State = release.PromotionPaused
}

// Get implements api.PromotionReader.
func (f *Promotions) Get(_ context.Context, id int64) (*release.Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(id)
	if err != nil {
		return nil, err
	}
	if p.State == release.PromotionRunning {
		if f.gets == nil {
			f.gets = map[int64]int{}
		}
		if f.gets[id]++; f.gets[id] >= 2 {
			p.State, p.Progress, p.FinishedAt = release.PromotionSucceeded, p.Digest+" runs in "+p.To, T0
		}
	}
	c := *p
	return &c, nil
}

// List implements api.PromotionReader.
func (f *Promotions) List(_ context.Context, pf store.PromotionFilter) ([]release.Promotion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []release.Promotion
	for i := len(f.ps) - 1; i >= 0 && (pf.Limit == 0 || len(out) < pf.Limit); i-- {
		p := f.ps[i]
		if (pf.App == "" || p.App == pf.App) && (pf.To == "" || p.To == pf.To) && (pf.State == "" || p.State == pf.State) {
			out = append(out, *p)
		}
	}
	return out, nil
}

// Audit implements api.PromotionReader.
func (f *Promotions) Audit(_ context.Context, af store.AuditFilter) ([]release.AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []release.AuditEntry
	for i := len(f.audit) - 1; i >= 0 && (af.Limit == 0 || len(out) < af.Limit); i-- {
		e := f.audit[i]
		if (af.App == "" || e.App == af.App) && (af.Actor == "" || e.Actor == af.Actor) && (af.PromotionID == 0 || e.PromotionID == af.PromotionID) {
			out = append(out, e)
		}
	}
	return out, nil
}

// RetireApp implements api.AppAdmin: admins only; it reaches no cluster,
// so every retirement lists nothing.
func (f *Promotions) RetireApp(_ context.Context, who promotion.Caller, app string, dryRun bool) (*release.Retirement, error) {
	if !who.Admin {
		return nil, fmt.Errorf("%w: deleting an app needs the admin role", promotion.ErrForbidden)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	action := "app-delete"
	if dryRun {
		action = "app-delete-dry-run"
	}
	f.record(who, action, &release.Promotion{App: app}, "succeeded")
	return &release.Retirement{App: app, DryRun: dryRun}, nil
}

// Orphans implements api.AppAdmin: release managers and admins; it
// reaches no cluster, so it finds nothing.
func (f *Promotions) Orphans(_ context.Context, who promotion.Caller) (*release.OrphanReport, error) {
	if !who.ReleaseManager {
		return nil, fmt.Errorf("%w: the orphan report needs the release-manager role", promotion.ErrForbidden)
	}
	return &release.OrphanReport{}, nil
}

// RemovedApps implements api.AppAdmin: the fake keeps no deployments.
func (f *Promotions) RemovedApps(context.Context) ([]release.RemovedApp, error) {
	return nil, nil
}
