// Package event defines the one normalized form of a webhook delivery from any
// git host. Everything after the webhook handler works on Event only.
package event

import (
	"strings"
	"time"
)

// Provider is the git host that sent the event.
type Provider string

const (
	GitHub Provider = "github"
	GitLab Provider = "gitlab"
)

// Kind is what happened in the repository.
type Kind string

const (
	Push         Kind = "push"
	Tag          Kind = "tag"
	MergeRequest Kind = "merge_request"
)

// Action is what Slipway should do about the event.
type Action string

const (
	// Build starts a pipeline for the event's SHA.
	Build Action = "build"
	// Cancel stops the running pipelines of the event's merge request.
	Cancel Action = "cancel"
	// Retest re-runs the pipeline for the merge request's current head. It
	// comes from a "/retest" comment whose writer is in Author; the
	// dispatcher checks that writer's access before acting, and resolves the
	// head through the host when SHA is empty (GitHub comments carry none).
	Retest Action = "retest"
	// Ignore records the event without starting anything; Reason says why.
	Ignore Action = "ignore"
	// OkToTest approves an untrusted merge request's current head SHA for
	// one build. It comes from an "/ok-to-test" comment whose writer is in
	// Author; the dispatcher builds only when that writer is trusted.
	OkToTest Action = "ok_to_test"
)

// State is where an event is in the durable queue.
type State string

const (
	Queued     State = "queued"
	Dispatched State = "dispatched"
	Ignored    State = "ignored"
	Failed     State = "failed"
	// Waiting: an untrusted merge request's head waits for a trusted
	// user's /ok-to-test; Reason says who may give it. Final: the approval
	// comes as a new event.
	Waiting State = "waiting"
)

// States lists every state, in the order pages offer them.
var States = []State{Queued, Dispatched, Waiting, Ignored, Failed}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Event is a verified webhook delivery, normalized.
type Event struct {
	// ID is assigned by the store; zero until recorded.
	ID       int64    `json:"id"`
	Provider Provider `json:"provider"`
	Kind     Kind     `json:"kind"`
	Action   Action   `json:"action"`
	// Delivery is the host's unique delivery id (X-GitHub-Delivery,
	// X-Gitlab-Event-UUID); a redelivery carries the same one.
	Delivery string `json:"delivery"`

	// Repo is the full path: "owner/name" on GitHub, "group/sub/name" on GitLab.
	Repo string `json:"repo"`
	// ProjectID is GitLab's numeric project id (0 on GitHub).
	ProjectID int64  `json:"projectId,omitempty"`
	CloneURL  string `json:"cloneUrl"`
	WebURL    string `json:"webUrl,omitempty"`
	// DefaultBranch of the repository, when the payload says.
	DefaultBranch string `json:"defaultBranch,omitempty"`

	// Ref is the full git ref: refs/heads/main, refs/tags/v1.2.0, or for a
	// merge request the source branch ref.
	Ref       string `json:"ref"`
	SHA       string `json:"sha"`
	BeforeSHA string `json:"beforeSha,omitempty"`

	// Merge request fields; zero unless Kind is MergeRequest.
	MRNumber     int    `json:"mrNumber,omitempty"`
	SourceBranch string `json:"sourceBranch,omitempty"`
	TargetBranch string `json:"targetBranch,omitempty"`
	MRTitle      string `json:"mrTitle,omitempty"`

	// Author is the pusher or MR author; on a "/retest" or "/cancel"
	// comment it is the commenter, and Commented is true.
	Author    string `json:"author,omitempty"`
	Commented bool   `json:"commented,omitempty"`
	// AuthorBot is true when the host marks Author as a bot account: bots
	// are not trusted unless a repository's trusted list names them.
	AuthorBot     bool   `json:"authorBot,omitempty"`
	AuthorEmail   string `json:"authorEmail,omitempty"`
	CommitMessage string `json:"commitMessage,omitempty"`
	// CommitTime is the head commit's timestamp (used for reproducible image dates).
	CommitTime time.Time `json:"commitTime,omitzero"`
	// ChangedPaths are the files added, modified or removed by the pushed
	// commits, when the payload lists them. Nil means unknown.
	ChangedPaths []string `json:"changedPaths,omitempty"`

	// Queue bookkeeping, owned by the store.
	State      State     `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"lastError,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// ZeroSHA is what both hosts send as the new SHA of a deleted ref.
// Outcome is what dispatching an event did, as its webhook answer tells
// the sender: the state it ended in (Queued when it will be retried) and
// why, e.g. the PipelineRun created or the filter that skipped it.
type Outcome struct {
	State  State
	Reason string
}

const ZeroSHA = "0000000000000000000000000000000000000000"

// IsDeletion reports whether sha names no commit (a deleted branch or tag).
func IsDeletion(sha string) bool {
	return sha == "" || strings.Trim(sha, "0") == ""
}

// Branch returns the branch name of a branch ref, or the MR's source branch.
func (e *Event) Branch() string {
	if e.Kind == MergeRequest {
		return e.SourceBranch
	}
	return strings.TrimPrefix(e.Ref, "refs/heads/")
}

// TagName returns the tag of a tag event, or "".
func (e *Event) TagName() string {
	if e.Kind != Tag {
		return ""
	}
	return strings.TrimPrefix(e.Ref, "refs/tags/")
}

// ShortSHA is the first 8 characters of SHA.
func (e *Event) ShortSHA() string { return ShortSHA(e.SHA) }

// ShortSHA is the first 8 characters of sha, as Slipway shows commits
// (image tags, statuses, notifications, pages).
func ShortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// Ignored marks the event as one that starts nothing, with the reason.
func (e *Event) Ignored(reason string) *Event {
	e.Action = Ignore
	e.Reason = reason
	return e
}
