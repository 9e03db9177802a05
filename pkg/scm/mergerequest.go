package scm

import "context"

// CommentMarker is the hidden HTML comment that tags Slipway's own MR
// comment, so a re-run edits it in place instead of adding another.
const CommentMarker = "<!-- slipway:ci -->"

// Commenter writes comments on merge requests (GitHub pull requests).
type Commenter interface {
	// UpsertComment makes body (prefixed with marker) the text of the
	// comment on MR mr that carries marker: edited when it exists, created
	// otherwise.
	UpsertComment(ctx context.Context, repo Repo, mr int, marker, body string) error
	// CreateComment adds a new comment to MR mr.
	CreateComment(ctx context.Context, repo Repo, mr int, body string) error
}

// Permissions answers who may drive CI from MR comments and whose merge
// requests build without a maintainer's /ok-to-test.
type Permissions interface {
	// CanWrite reports whether user (a login / username) may push to repo:
	// GitHub write, maintain or admin; GitLab Developer (30) or above.
	CanWrite(ctx context.Context, repo Repo, user string) (bool, error)
	// MemberOf reports whether user belongs to group: on GitHub an
	// organisation team "org/team-slug" (active membership; a pending
	// invitation is not), on GitLab a group's full path (membership
	// inherited from parent groups counts, at Developer (30) or above,
	// the level CanWrite asks of a project member). A user or group the
	// host does not know is not a member, with no error.
	MemberOf(ctx context.Context, group, user string) (bool, error)
}

// MergeRequestHead is the current state of a merge request's source.
type MergeRequestHead struct {
	SHA          string
	SourceBranch string
	TargetBranch string
	Title        string
	// Open is false for a closed or merged MR.
	Open bool
}

// MergeRequests looks up a merge request, for "/retest" comments whose
// payload does not say which commit is the head.
type MergeRequests interface {
	MergeRequestHead(ctx context.Context, repo Repo, mr int) (MergeRequestHead, error)
}
