// Package release is the domain of moving images between environments:
// promotions, their states and the one table of transitions between them,
// deployments and the audit log. pkg/store persists these types; the
// promotion service decides with them.
package release

import "time"

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
	// Outcome is how the action ended, said explicitly.
	Outcome Outcome `json:"outcome"`
	// Result is the outcome in words: "succeeded", "accepted: queued",
	// or "refused: …" / "failed: …" / "forbidden: …" with the reason.
	Result string `json:"result"`
}

// Outcome is how an audited action ended.
type Outcome string

const (
	// OutcomeSucceeded: the action was carried out.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeAccepted: a promotion was recorded (queued, awaiting
	// approval or running).
	OutcomeAccepted Outcome = "accepted"
	// OutcomeRefused: the provenance gate or a policy stopped it.
	OutcomeRefused Outcome = "refused"
	// OutcomeForbidden: the caller's role may not do it.
	OutcomeForbidden Outcome = "forbidden"
	// OutcomeUnauthenticated: no valid token.
	OutcomeUnauthenticated Outcome = "unauthenticated"
	// OutcomeFailed: it was tried and did not work.
	OutcomeFailed Outcome = "failed"
)
