package store

import (
	"context"
	"errors"

	"github.com/slipway-ci/slipway/pkg/release"
)

// ErrConflict is returned when a compare-and-set update finds the record
// in a state other than the expected ones (someone else moved it first).
var ErrConflict = errors.New("conflict: the record changed meanwhile")

// ErrActive is returned when a promotion would become running or paused
// while another promotion of the same app into the same environment is:
// one rollout per app and environment at a time, arbitrated by the store
// so that it holds across replicas.
var ErrActive = errors.New("another promotion of the app into the environment is active")

// PromotionFilter narrows ListPromotions. Zero fields match everything.
type PromotionFilter struct {
	Limit int
	App   string
	To    string
	State release.PromotionState
	// Open keeps only the promotions that have not ended (awaiting
	// approval, queued, running, paused): an app's and environment's
	// rollout slot in one read.
	Open bool
}

// Promotions records promotions. The SQL engines implement it next to
// Store; it is separate so Store's fakes need not.
type Promotions interface {
	// CreatePromotion records p and sets its ID and times.
	CreatePromotion(ctx context.Context, p *release.Promotion) error
	// UpdatePromotion stores every mutable field of p (state, reason,
	// progress, approver, images, commit and CI run (the gate may learn
	// them late), pipeline runs, finished time) and sets
	// UpdatedAt, only if the stored state is one of from (any when from is
	// empty); otherwise it returns ErrConflict and stores nothing. A
	// terminal state without a FinishedAt gets now. ErrNotFound when there
	// is no promotion p.ID. ErrActive (also from CreatePromotion) when p
	// would be running or paused beside another such promotion of its app
	// and environment.
	UpdatePromotion(ctx context.Context, p *release.Promotion, from ...release.PromotionState) error
	GetPromotion(ctx context.Context, id int64) (*release.Promotion, error)
	// ListPromotions returns the newest first.
	ListPromotions(ctx context.Context, f PromotionFilter) ([]release.Promotion, error)
}

// Deployments is the history of what ran where, newest first, so "the
// digest running in qa" and "the previous digest in prod" are one query.
type Deployments interface {
	// RecordDeployment appends d and sets its ID and DeployedAt.
	RecordDeployment(ctx context.Context, d *release.Deployment) error
	// ListDeployments returns app's deployments to env, newest first (all
	// environments when env is empty); limit 0 means a default.
	ListDeployments(ctx context.Context, app, env string, limit int) ([]release.Deployment, error)
	// DeleteDeployments forgets app's history (slipway app delete).
	DeleteDeployments(ctx context.Context, app string) error
}

// DeployedApps lists what deployments are recorded for.
type DeployedApps interface {
	// DeployedApps returns every app with deployments recorded, each with
	// the environments it was deployed to, both sorted (the retirement of
	// apps removed from the release config).
	DeployedApps(ctx context.Context) (map[string][]string, error)
}

// AuditFilter narrows ListAudit. Zero fields match everything.
type AuditFilter struct {
	Limit       int
	App         string
	Actor       string
	PromotionID int64
}

// Audit is the append-only log of actions.
type Audit interface {
	// AppendAudit records e and sets its ID and At (unless set).
	AppendAudit(ctx context.Context, e *release.AuditEntry) error
	// ListAudit returns the newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]release.AuditEntry, error)
}
