// Package scm holds the small interfaces Slipway needs from a git host. Each
// host lives in its own sub-package (github, gitlab) and calls its SDK
// through private interfaces so tests can hand in fakes.
package scm

import (
	"context"
	"errors"
	"time"

	"github.com/slipway-ci/slipway/pkg/retry"
)

// ErrNotFound is returned by ReadFile when the file does not exist at that SHA.
var ErrNotFound = errors.New("file not found")

// StatusState is a commit status as Slipway reports it.
type StatusState string

const (
	StatePending  StatusState = "pending"
	StateRunning  StatusState = "running"
	StateSuccess  StatusState = "success"
	StateFailure  StatusState = "failure"
	StateCanceled StatusState = "canceled"
)

// Repo identifies a repository on a host.
type Repo struct {
	// FullName is "owner/name" (GitHub) or the project path (GitLab).
	FullName string
	// ProjectID is GitLab's numeric id; 0 means use FullName.
	ProjectID int64
}

// Status is one commit status to post.
type Status struct {
	SHA   string
	State StatusState
	// Context is the status name, e.g. "slipway/ci".
	Context     string
	Description string
	TargetURL   string
	// Ref is the branch the status belongs to (GitLab shows MR pipelines by ref).
	Ref string
}

// Client is what the dispatcher and the reporter need from a host.
type Client interface {
	// ReadFile returns the file at path in the repo at sha, or ErrNotFound.
	ReadFile(ctx context.Context, repo Repo, sha, path string) ([]byte, error)
	// SetStatus posts a commit status.
	SetStatus(ctx context.Context, repo Repo, st Status) error
}

// TransientError marks an error worth retrying (host 5xx, 429, network).
// When the host said when to come back, RetryAfter is non-zero.
type TransientError = retry.TransientError

// IsTransient is retry.IsTransient, the one classification; the hosts'
// clients mark what they know with TransientError.
func IsTransient(err error) (bool, time.Duration) { return retry.IsTransient(err) }
