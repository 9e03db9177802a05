// Package run holds the domain type of a CI run: one PipelineRun Slipway
// created for an event, and the states it goes through. pkg/store
// persists runs; pkg/tekton maps PipelineRun conditions to their states.
package run

import (
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
)

// State is the lifecycle of a run as Slipway reports it. The values are
// also the commit status states sent to the git hosts and stored.
type State string

const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "success"
	Failed    State = "failure"
	Canceled  State = "canceled"
)

// Terminal reports whether the run has finished.
func (s State) Terminal() bool {
	return s == Succeeded || s == Failed || s == Canceled
}

// Word is how the state reads after a run's name in a sentence:
// "succeeded", "failed", "was cancelled", "is running", "is pending".
func (s State) Word() string {
	switch s {
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case Canceled:
		return "was cancelled"
	case Running, Pending:
		return "is " + string(s)
	default:
		return string(s)
	}
}

// Run is one PipelineRun Slipway created.
type Run struct {
	// ID is "namespace/name" of the PipelineRun.
	ID        string         `json:"id"`
	EventID   int64          `json:"eventId"`
	Provider  event.Provider `json:"provider"`
	Kind      event.Kind     `json:"kind"`
	Repo      string         `json:"repo"`
	ProjectID int64          `json:"projectId,omitempty"`
	App       string         `json:"app"`
	Ref       string         `json:"ref"`
	SHA       string         `json:"sha"`
	MRNumber  int            `json:"mrNumber,omitempty"`
	State     State          `json:"state"`
	// Reported is the last state posted to the git host, so a state is
	// never posted twice.
	Reported    State     `json:"reported,omitempty"`
	Message     string    `json:"message,omitempty"`
	ImageURL    string    `json:"imageUrl,omitempty"`
	ImageDigest string    `json:"imageDigest,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	StartedAt   time.Time `json:"startedAt,omitzero"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
}

// ShortSHA is the first 8 characters of the run's commit.
func (r *Run) ShortSHA() string { return event.ShortSHA(r.SHA) }
