package store

import (
	"context"
	"time"
)

// StepLog is the log of one terminated step of one TaskRun, kept so the
// run page can show it after the pods are gone.
type StepLog struct {
	// RunID is "namespace/name" of the PipelineRun.
	RunID string `json:"runId"`
	// Task is the pipeline task's name ("clone", "build-push").
	Task string `json:"task"`
	// Step is the step's name within the task.
	Step string `json:"step"`
	// TaskRun is the TaskRun's name.
	TaskRun string `json:"taskRun"`
	// ExitCode of the step's container.
	ExitCode int `json:"exitCode"`
	// Log is the tail of the log when Truncated is set.
	Log       string `json:"log"`
	Truncated bool   `json:"truncated,omitempty"`
	// Size is the full log's size in bytes, before truncation.
	Size      int64     `json:"size"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	// FinishedAt is when the step's container terminated.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// SavedAt is when the log was last written.
	SavedAt time.Time `json:"savedAt"`
}

// RunLogs keeps step logs. Saving is an idempotent upsert keyed by run,
// task and step, so several replicas may save the same step.
type RunLogs interface {
	SaveStepLog(ctx context.Context, l *StepLog) error
	// ListStepLogs returns a run's step logs in the order they finished.
	ListStepLogs(ctx context.Context, runID string) ([]StepLog, error)
	GetStepLog(ctx context.Context, runID, task, step string) (*StepLog, error)
	// PruneStepLogs deletes the logs of every run whose last step log was
	// saved more than olderThan ago, all of a run's at once, and returns
	// how many step logs it deleted.
	PruneStepLogs(ctx context.Context, olderThan time.Duration) (int64, error)
}
