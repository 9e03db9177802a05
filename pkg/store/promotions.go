package store

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is returned when a compare-and-set update finds the record
// in a state other than the expected ones (someone else moved it first).
var ErrConflict = errors.New("conflict: the record changed meanwhile")

// ErrActive is returned when a promotion would become running or paused
// while another promotion of the same app into the same environment is:
// one rollout per app and environment at a time, arbitrated by the store
// so that it holds across replicas.
var ErrActive = errors.New("another promotion of the app into the environment is active")

// PromotionState is where a promotion stands.
type PromotionState string

const (
	// PromotionAwaitingApproval waits for a release manager.
	PromotionAwaitingApproval PromotionState = "awaiting-approval"
	// PromotionQueued waits for the active promotion of the same app into
	// the same environment to end; queued ones start in the order created.
	PromotionQueued PromotionState = "queued"
	// PromotionRunning is copying the image or rolling it out.
	PromotionRunning PromotionState = "running"
	// PromotionPaused is a canary step waiting for `slipway promote --continue`.
	PromotionPaused    PromotionState = "paused"
	PromotionSucceeded PromotionState = "succeeded"
	PromotionFailed    PromotionState = "failed"
	// PromotionRefused was stopped by the provenance gate or a policy.
	PromotionRefused PromotionState = "refused"
	PromotionAborted PromotionState = "aborted"
)

// Active reports whether the promotion holds its app's and environment's
// one rollout slot.
func (s PromotionState) Active() bool { return s == PromotionRunning || s == PromotionPaused }

// Terminal reports whether the promotion has finished.
func (s PromotionState) Terminal() bool {
	switch s {
	case PromotionSucceeded, PromotionFailed, PromotionRefused, PromotionAborted:
		return true
	}
	return false
}

// PromotionKind says what started a promotion.
type PromotionKind string

const (
	KindPromote    PromotionKind = "promote"
	KindRollback   PromotionKind = "rollback"
	KindAutoDeploy PromotionKind = "auto-deploy"
)

// Promotion is one move of one image digest into one environment.
type Promotion struct {
	ID   int64         `json:"id"`
	Kind PromotionKind `json:"kind"`
	App  string        `json:"app"`
	// From is the source environment; empty for an auto-deploy after CI.
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Digest is sha256:…, identical in both registries.
	Digest      string `json:"digest"`
	SourceImage string `json:"sourceImage,omitempty"`
	TargetImage string `json:"targetImage,omitempty"`
	Commit      string `json:"commit,omitempty"`
	// RunID is the CI run ("namespace/name") that built the digest, if known.
	RunID string         `json:"runId,omitempty"`
	State PromotionState `json:"state"`
	// Reason is why it was refused, failed or aborted.
	Reason string `json:"reason,omitempty"`
	// Progress is the latest human-readable step, e.g. "wave 1/2 dc-east: canary 50%".
	Progress    string `json:"progress,omitempty"`
	RequestedBy string `json:"requestedBy"`
	ApprovedBy  string `json:"approvedBy,omitempty"`
	// PipelineRuns are the deploy PipelineRuns ("namespace/name"), one per cluster.
	PipelineRuns []string  `json:"pipelineRuns,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
}

// PromotionFilter narrows ListPromotions. Zero fields match everything.
type PromotionFilter struct {
	Limit int
	App   string
	To    string
	State PromotionState
}

// Promotions records promotions. The SQL engines implement it next to
// Store; it is separate so Store's fakes need not.
type Promotions interface {
	// CreatePromotion records p and sets its ID and times.
	CreatePromotion(ctx context.Context, p *Promotion) error
	// UpdatePromotion stores every mutable field of p (state, reason,
	// progress, approver, images, commit and CI run (the gate may learn
	// them late), pipeline runs, finished time) and sets
	// UpdatedAt, only if the stored state is one of from (any when from is
	// empty); otherwise it returns ErrConflict and stores nothing. A
	// terminal state without a FinishedAt gets now. ErrNotFound when there
	// is no promotion p.ID. ErrActive (also from CreatePromotion) when p
	// would be running or paused beside another such promotion of its app
	// and environment.
	UpdatePromotion(ctx context.Context, p *Promotion, from ...PromotionState) error
	GetPromotion(ctx context.Context, id int64) (*Promotion, error)
	// ListPromotions returns the newest first.
	ListPromotions(ctx context.Context, f PromotionFilter) ([]Promotion, error)
}

// Deployment is one digest that became live for an app in an environment.
type Deployment struct {
	ID          int64     `json:"id"`
	App         string    `json:"app"`
	Env         string    `json:"env"`
	Digest      string    `json:"digest"`
	Image       string    `json:"image"`
	Commit      string    `json:"commit,omitempty"`
	PromotionID int64     `json:"promotionId"`
	DeployedAt  time.Time `json:"deployedAt"`
}

// Deployments is the history of what ran where, newest first, so "the
// digest running in qa" and "the previous digest in prod" are one query.
type Deployments interface {
	// RecordDeployment appends d and sets its ID and DeployedAt.
	RecordDeployment(ctx context.Context, d *Deployment) error
	// ListDeployments returns app's deployments to env, newest first (all
	// environments when env is empty); limit 0 means a default.
	ListDeployments(ctx context.Context, app, env string, limit int) ([]Deployment, error)
	// DeleteDeployments forgets app's history (slipway app delete).
	DeleteDeployments(ctx context.Context, app string) error
}

// AuditEntry is one action someone (or Slipway itself) took.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is the token's user name, or "slipway" for automatic actions.
	Actor string `json:"actor"`
	Role  string `json:"role,omitempty"`
	// Action is e.g. promote, approve, abort, continue, rollback,
	// auto-deploy, app-delete, rollout.
	Action      string `json:"action"`
	App         string `json:"app,omitempty"`
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	Digest      string `json:"digest,omitempty"`
	PromotionID int64  `json:"promotionId,omitempty"`
	// Result is "accepted", "succeeded", or "refused: …" / "failed: …"
	// / "forbidden: …" with the reason.
	Result string `json:"result"`
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
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
