package dispatch

import (
	"context"
	"fmt"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/retry"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/store"
)

// refusal is the reply to a command from someone without write access.
const refusal = "Sorry @%s, only people with write access to this repository, or its trusted users and groups, can use `%s`. " +
	"Ask a maintainer to run it for you."

// checkCommenter reports whether the writer of a "/retest" or "/cancel"
// comment may push to the repository. When not, it posts a polite refusal
// on the MR and returns the reason to finish the event with.
func (d *Dispatcher) checkCommenter(ctx context.Context, ev *event.Event) (bool, string, error) {
	client := d.scms[ev.Provider]
	if _, ok := client.(scm.Permissions); !ok {
		return false, "", fmt.Errorf("the %s client cannot check permissions", ev.Provider)
	}
	if ev.Author == "" || ev.MRNumber <= 0 {
		return false, "", fmt.Errorf("%s comment event %d names no commenter or merge request", ev.Action, ev.ID)
	}
	repo := scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}
	base := &repoconfig.Config{}
	if d.approvals != nil {
		// With the trust gate, the default branch's trusted users may
		// drive CI by comment too.
		var err error
		if base, err = d.defaultBranchConfig(ctx, ev); err != nil {
			return false, "", err
		}
	}
	allowed, err := d.trusted(ctx, ev, base, ev.Author, false)
	if err != nil {
		return false, "", err
	}
	if allowed {
		return true, "", nil
	}
	reason := fmt.Sprintf("%s by %s refused: no write access, not a trusted user or group member", ev.Action, ev.Author)
	if c, ok := client.(scm.Commenter); ok {
		if err := c.CreateComment(ctx, repo, ev.MRNumber, fmt.Sprintf(refusal, ev.Author, commandName(ev.Action))); err != nil {
			return false, "", fmt.Errorf("posting refusal on %s#%d: %w", ev.Repo, ev.MRNumber, err)
		}
	}
	return false, reason, nil
}

// retest builds the MR's current head again ("/retest"), or for the first
// time ("/ok-to-test", which approves that head SHA only). The comment's
// delivery id names the new PipelineRun, so it never collides with the
// earlier one. The commenter was checked to be trusted (checkCommenter).
func (d *Dispatcher) retest(ctx context.Context, ev *event.Event) (event.State, string, error) {
	if ev.Kind != event.MergeRequest || ev.MRNumber <= 0 {
		return "", "", fmt.Errorf("%s event %d names no merge request", ev.Action, ev.ID)
	}
	b := *ev
	if b.SHA == "" {
		mrs, ok := d.scms[ev.Provider].(scm.MergeRequests)
		if !ok {
			return "", "", fmt.Errorf("the %s client cannot look up merge requests", ev.Provider)
		}
		head, err := mrs.MergeRequestHead(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, ev.MRNumber)
		if err != nil {
			return "", "", fmt.Errorf("looking up %s#%d: %w", ev.Repo, ev.MRNumber, err)
		}
		if !head.Open {
			return event.Ignored, fmt.Sprintf("merge request %d is closed", ev.MRNumber), nil
		}
		b.SHA, b.SourceBranch, b.TargetBranch = head.SHA, head.SourceBranch, head.TargetBranch
		if head.Title != "" {
			b.MRTitle = head.Title
		}
	}
	if ev.Action == event.OkToTest && d.approvals != nil {
		a := store.Approval{Provider: ev.Provider, Repo: ev.Repo, MRNumber: ev.MRNumber, SHA: b.SHA, Approver: ev.Author, EventID: ev.ID}
		if err := d.approvals.RecordApproval(ctx, a); err != nil {
			return "", "", retry.Transient(err)
		}
	}
	// A retest is asked for by a person: a [skip ci] in the head commit's
	// message must not stop it. The commenter, not the MR's author, is
	// who the gate asks about.
	b.CommitMessage = ""
	b.Action = event.Build
	return d.build(ctx, &b, committed(&b), ev.Author) // dispatch waited for the record
}

// commandName is the comment that asked for action.
func commandName(action event.Action) string {
	if action == event.OkToTest {
		return "/ok-to-test"
	}
	return "/" + string(action)
}
