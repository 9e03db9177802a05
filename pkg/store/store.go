// Package store persists Slipway's domain types (pkg/event, pkg/run,
// pkg/release): the durable event queue, the pipeline runs, promotions,
// deployments and the audit log. Two engines behind one concrete type, DB:
// SQLite for a single replica and PostgreSQL for several.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/run"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("not found")

// Events is the durable event queue.
type Events interface {
	// RecordEvent writes a verified event in one transaction. An event whose
	// Action is Ignore is stored with state ignored and its Reason; any other
	// is stored queued. A second delivery with the same provider and
	// Delivery id records nothing and returns the first event's id with
	// duplicate=true.
	RecordEvent(ctx context.Context, ev *event.Event) (id int64, duplicate bool, err error)
	// ClaimEvents leases up to limit queued events that are due, for lease
	// long, incrementing their attempts. A claimed event is invisible to
	// other claimers until its lease runs out or it is finished. On
	// PostgreSQL replicas share work with FOR UPDATE SKIP LOCKED.
	ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]event.Event, error)
	// FinishEvent moves a claimed event to a final state (dispatched,
	// ignored or failed) with a reason, and releases its lease.
	FinishEvent(ctx context.Context, id int64, state event.State, reason string) error
	// RetryEvent keeps a claimed event queued, records the error and makes
	// it due again at notBefore.
	RetryEvent(ctx context.Context, id int64, cause error, notBefore time.Time) error
	// ListEvents returns the newest events first.
	ListEvents(ctx context.Context, f EventFilter) ([]event.Event, error)
}

// EventFilter narrows ListEvents. Zero fields match everything.
type EventFilter struct {
	Limit int
	Repo  string
	State event.State
}

// Runs records PipelineRuns and what was reported about them.
type Runs interface {
	// CreateRun records a new run; creating an existing ID is a no-op.
	CreateRun(ctx context.Context, r *run.Run) error
	// UpdateRun stores state, message, times, image and Reported of r if
	// the stored run's State and Reported are still prev's; else
	// ErrConflict (compare-and-set: a second replica cannot overwrite).
	UpdateRun(ctx context.Context, r *run.Run, prev run.Run) error
	GetRun(ctx context.Context, id string) (*run.Run, error)
	ListRuns(ctx context.Context, f RunFilter) ([]run.Run, error)
}

// RunFilter narrows ListRuns. Zero fields match everything.
type RunFilter struct {
	Limit    int
	Repo     string
	Ref      string
	SHA      string
	MRNumber int
	State    run.State
}
