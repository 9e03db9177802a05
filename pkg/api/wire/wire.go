// Package wire holds the JSON shapes of Slipway's /api/v1: what the server
// answers and what clients decode. They are the API's own types, not the
// store's rows, so the database can change without breaking clients; the
// field names are the documented contract (README, e2e). It imports nothing
// of Slipway, so a client links no server code.
package wire

import "time"

// List is every list answer: {"items": [...]}, never null.
type List[T any] struct {
	Items []T `json:"items"`
}

// Event is a recorded webhook event (GET /api/v1/events).
type Event struct {
	ID         int64     `json:"id"`
	Provider   string    `json:"provider"`
	Kind       string    `json:"kind"`
	Repo       string    `json:"repo"`
	Ref        string    `json:"ref"`
	SHA        string    `json:"sha"`
	Delivery   string    `json:"delivery"`
	State      string    `json:"state"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"lastError,omitempty"`
	MRNumber   int       `json:"mrNumber,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// Run is a PipelineRun Slipway started (GET /api/v1/runs).
type Run struct {
	// ID is "namespace/name" of the PipelineRun.
	ID          string    `json:"id"`
	EventID     int64     `json:"eventId"`
	Provider    string    `json:"provider"`
	Kind        string    `json:"kind"`
	Repo        string    `json:"repo"`
	ProjectID   int64     `json:"projectId,omitempty"`
	App         string    `json:"app"`
	Ref         string    `json:"ref"`
	SHA         string    `json:"sha"`
	MRNumber    int       `json:"mrNumber,omitempty"`
	State       string    `json:"state"`
	Message     string    `json:"message,omitempty"`
	ImageURL    string    `json:"imageUrl,omitempty"`
	ImageDigest string    `json:"imageDigest,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
}

// Run states as the API names them.
const (
	RunPending   = "pending"
	RunRunning   = "running"
	RunSucceeded = "success"
	RunFailed    = "failure"
	RunCanceled  = "canceled"
)

// RerunResult answers POST /api/v1/runs/{ns}/{name}/rerun.
type RerunResult struct {
	EventID int64 `json:"eventId"`
	// Duplicate is true when this request (same Idempotency-Key) was
	// already recorded: nothing new was queued.
	Duplicate bool `json:"duplicate"`
}

// CancelResult answers POST /api/v1/runs/{ns}/{name}/cancel.
type CancelResult struct {
	// Cancelled is false when the run had already finished.
	Cancelled bool `json:"cancelled"`
}

// Promotion is one promotion, rollback or auto-deploy.
type Promotion struct {
	ID           int64     `json:"id"`
	Kind         string    `json:"kind"`
	App          string    `json:"app"`
	From         string    `json:"from,omitempty"`
	To           string    `json:"to"`
	Digest       string    `json:"digest"`
	SourceImage  string    `json:"sourceImage,omitempty"`
	TargetImage  string    `json:"targetImage,omitempty"`
	Commit       string    `json:"commit,omitempty"`
	RunID        string    `json:"runId,omitempty"`
	State        string    `json:"state"`
	Reason       string    `json:"reason,omitempty"`
	Progress     string    `json:"progress,omitempty"`
	RequestedBy  string    `json:"requestedBy"`
	ApprovedBy   string    `json:"approvedBy,omitempty"`
	PipelineRuns []string  `json:"pipelineRuns,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	FinishedAt   time.Time `json:"finishedAt,omitzero"`
}

// Promotion states as the API names them.
const (
	PromotionAwaitingApproval = "awaiting-approval"
	PromotionQueued           = "queued"
	PromotionRunning          = "running"
	PromotionPaused           = "paused"
	PromotionSucceeded        = "succeeded"
	PromotionFailed           = "failed"
	PromotionRefused          = "refused"
	PromotionAborted          = "aborted"
)

// Terminal reports whether a promotion in state s is over.
func (p *Promotion) Terminal() bool {
	switch p.State {
	case PromotionSucceeded, PromotionFailed, PromotionRefused, PromotionAborted:
		return true
	}
	return false
}

// PromoteRequest is the body of POST /api/v1/promotions.
type PromoteRequest struct {
	App  string `json:"app"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Digest defaults to the one running in From.
	Digest string `json:"digest,omitempty"`
	// PolicyOverride is an admin's reason to promote although the
	// environment's dependency policy re-check refuses; audited.
	PolicyOverride string `json:"policyOverride,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/apps/{app}/rollback.
type RollbackRequest struct {
	Env string `json:"env"`
}

// AuditEntry is one line of the audit log (GET /api/v1/audit).
type AuditEntry struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Actor       string    `json:"actor"`
	Role        string    `json:"role,omitempty"`
	Action      string    `json:"action"`
	App         string    `json:"app,omitempty"`
	From        string    `json:"from,omitempty"`
	To          string    `json:"to,omitempty"`
	Digest      string    `json:"digest,omitempty"`
	PromotionID int64     `json:"promotionId,omitempty"`
	Result      string    `json:"result"`
}

// Notification is one email, chat or MR comment delivery
// (GET /api/v1/notifications).
type Notification struct {
	ID        int64     `json:"id"`
	RunID     string    `json:"runId"`
	Repo      string    `json:"repo,omitempty"`
	Channel   string    `json:"channel"`
	Target    string    `json:"target"`
	Subject   string    `json:"subject,omitempty"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Error is the body of every answer other than 2xx (and 422, which
// carries a refused promotion).
type Error struct {
	Message string `json:"message"`
}

// Insights are the DORA keys of each app and environment over one window
// (GET /api/v1/insights?window=30d&app=…&env=…).
type Insights struct {
	// Window is as asked ("30d", "72h"); From and To bound it, [From, To).
	Window string         `json:"window"`
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Items  []InsightsKeys `json:"items"`
}

// InsightsKeys are one app's four keys in one environment. Durations are
// seconds; a median without samples is absent (null), not 0.
type InsightsKeys struct {
	App string `json:"app"`
	Env string `json:"env"`
	// Deployments are changes rolled out successfully (rollbacks are not
	// changes); DeploymentsPerDay is the frequency; Daily counts each
	// 24 hours from From.
	Deployments       int     `json:"deployments"`
	DeploymentsPerDay float64 `json:"deploymentsPerDay"`
	Daily             []int   `json:"daily"`
	// LeadTimeSeconds is the median of commit → rollout finished over
	// LeadTimeSamples deployments whose commit time is known.
	LeadTimeSeconds *float64 `json:"leadTimeSeconds"`
	LeadTimeSamples int      `json:"leadTimeSamples"`
	// Changes reached the clusters; Failures of them were rolled back,
	// aborted, or followed by a rollback within the failure window.
	Changes           int     `json:"changes"`
	Failures          int     `json:"failures"`
	ChangeFailureRate float64 `json:"changeFailureRate"`
	// TimeToRestoreSeconds is the median over Restores restored failures;
	// Unrestored failures have had no successful rollout since.
	TimeToRestoreSeconds *float64 `json:"timeToRestoreSeconds"`
	Restores             int      `json:"restores"`
	Unrestored           int      `json:"unrestored"`
}

// PolicyCheck is the dependency policy's outcome for one image digest
// (GET /api/v1/images/{digest}/policy), as the CI run's policy step found it.
type PolicyCheck struct {
	Digest string `json:"digest"`
	RunID  string `json:"runId"`
	// Outcome is passed, failed or none (no policy configured).
	Outcome  string `json:"outcome"`
	Packages int    `json:"packages"`
	// Violations lists the first ones; More counts the rest.
	Violations []PolicyViolation `json:"violations"`
	More       int               `json:"more,omitempty"`
	CheckedAt  time.Time         `json:"checkedAt"`
}

// PolicyViolation is one package that breaks the policy.
type PolicyViolation struct {
	Package string `json:"package"`
	Version string `json:"version,omitempty"`
	// Rule is advisory, denied-package or denied-license; ID is the
	// advisory id, purl pattern or license.
	Rule     string `json:"rule"`
	ID       string `json:"id"`
	Severity string `json:"severity,omitempty"`
	Fixed    string `json:"fixed,omitempty"`
}

// TestReport is a run's parsed unit-test results
// (GET /api/v1/runs/{namespace}/{name}/tests): failed tests first.
type TestReport struct {
	Run     string `json:"run"`
	Total   int    `json:"total"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	// Truncated says the report held more tests than Slipway keeps.
	Truncated bool       `json:"truncated,omitempty"`
	Cases     []TestCase `json:"cases"`
}

// TestCase is one test of a run.
type TestCase struct {
	Suite string `json:"suite"`
	Name  string `json:"name"`
	// Status is passed, failed or skipped.
	Status     string `json:"status"`
	DurationMs int64  `json:"durationMs"`
	// Output is a failure's message and output (its tail).
	Output string `json:"output,omitempty"`
}

// TestHistory is one test's results in the runs of a repository's app,
// newest first (GET /api/v1/runs/{namespace}/{name}/tests/history).
type TestHistory struct {
	Repo  string `json:"repo"`
	App   string `json:"app"`
	Suite string `json:"suite"`
	Name  string `json:"name"`
	// Flaky: the test passed and failed on the same commit; FlakySHAs
	// are those commits.
	Flaky     bool          `json:"flaky"`
	FlakySHAs []string      `json:"flakyShas"`
	Results   []TestOutcome `json:"results"`
}

// TestOutcome is the test's result in one run.
type TestOutcome struct {
	Run    string    `json:"run"`
	SHA    string    `json:"sha"`
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// Retirement answers DELETE /api/v1/apps/{app}: per cluster, what was
// deleted, or with dryRun what would be. 200 when every cluster's deploy
// run succeeded, 502 (same body) when one failed.
type Retirement struct {
	App      string           `json:"app"`
	DryRun   bool             `json:"dryRun"`
	Clusters []RetiredCluster `json:"clusters"`
}

// RetiredCluster is one cluster's part of a Retirement.
type RetiredCluster struct {
	Env       string   `json:"env"`
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Objects   []string `json:"objects"`
	Error     string   `json:"error,omitempty"`
}

// RemovedApp is an app with deployments recorded but no longer in the
// release config (GET /api/v1/apps/retired): pending when
// retire-removed-apps is off, else being or already retired.
type RemovedApp struct {
	App          string   `json:"app"`
	Environments []string `json:"environments"`
	State        string   `json:"state"`
	Error        string   `json:"error,omitempty"`
}

// OrphanReport answers GET /api/v1/orphans: per cluster and namespace,
// the objects labelled slipway.dev/app that no configured app claims, as
// "kind/name (app APP)". 200 when every listing run succeeded, 502 (same
// body) when one failed.
type OrphanReport struct {
	Clusters []RetiredCluster `json:"clusters"`
}
