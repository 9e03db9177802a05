package gitlab

import (
	"context"
	"fmt"
	"time"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/event"
)

// GitLab has no API to list or redeliver a hook's failed deliveries, so
// recovery reads what the webhooks would have said from the project
// itself: the heads of its recently pushed branches and of its open merge
// requests, as the events a push and an MR update would have given.

type projectsService interface {
	GetProject(pid interface{}, opt *gl.GetProjectOptions, options ...gl.RequestOptionFunc) (*gl.Project, *gl.Response, error)
}

type branchesService interface {
	ListBranches(pid interface{}, opts *gl.ListBranchesOptions, options ...gl.RequestOptionFunc) ([]*gl.Branch, *gl.Response, error)
}

type mergeRequestListService interface {
	ListProjectMergeRequests(pid interface{}, opt *gl.ListProjectMergeRequestsOptions, options ...gl.RequestOptionFunc) ([]*gl.MergeRequest, *gl.Response, error)
}

type commitGetter interface {
	GetCommit(pid interface{}, sha string, opt *gl.GetCommitOptions, options ...gl.RequestOptionFunc) (*gl.Commit, *gl.Response, error)
}

// Heads caps: what one project may cost a pass. Branches come sorted by
// name, not by date, so all pages up to the cap are read; merge requests
// come newest first, so one page holds the recent ones.
const (
	headsPerPage       = 100
	maxBranchPages     = 5
	maxMergeRequests   = 100
	maxHeadsPerProject = 50
)

// RecentHeads returns, as the events its webhooks would have given, the
// heads of project's branches whose head commit is newer than since and
// the heads of its open merge requests updated since then: at most
// maxHeadsPerProject of them. Each event's Delivery is empty: the caller
// names it.
func (c *Client) RecentHeads(ctx context.Context, project string, since time.Time) ([]event.Event, error) {
	p, resp, err := c.projects.GetProject(project, nil, gl.WithContext(ctx))
	if err != nil {
		return nil, classify("gitlab project "+project, resp, err)
	}
	base := event.Event{
		Provider: event.GitLab, Action: event.Build,
		Repo: p.PathWithNamespace, ProjectID: int64(p.ID), CloneURL: p.HTTPURLToRepo,
		WebURL: p.WebURL, DefaultBranch: p.DefaultBranch,
	}
	if base.Repo == "" || base.CloneURL == "" {
		return nil, fmt.Errorf("gitlab project %s: the API gave no path or clone URL", project)
	}
	var out []event.Event
	for page := 1; page <= maxBranchPages && len(out) < maxHeadsPerProject; page++ {
		bs, resp, err := c.branches.ListBranches(p.ID, &gl.ListBranchesOptions{ListOptions: gl.ListOptions{PerPage: headsPerPage, Page: page}}, gl.WithContext(ctx))
		if err != nil {
			return nil, classify("gitlab branches of "+project, resp, err)
		}
		for _, b := range bs {
			cm := b.Commit
			if cm == nil || cm.ID == "" || cm.CommittedDate == nil || cm.CommittedDate.Before(since) {
				continue
			}
			ev := base
			ev.Kind = event.Push
			ev.Ref = "refs/heads/" + b.Name
			ev.SHA = cm.ID
			// The pusher is not known; the head commit's author is the
			// nearest the API gives.
			ev.Author, ev.AuthorEmail = cm.AuthorName, cm.AuthorEmail
			ev.CommitMessage, ev.CommitTime = cm.Message, *cm.CommittedDate
			out = append(out, ev)
			if len(out) == maxHeadsPerProject {
				break
			}
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
	}
	if len(out) >= maxHeadsPerProject {
		return out, nil
	}
	mrs, resp, err := c.mrList.ListProjectMergeRequests(p.ID, &gl.ListProjectMergeRequestsOptions{
		ListOptions:  gl.ListOptions{PerPage: maxMergeRequests},
		State:        gl.Ptr("opened"),
		OrderBy:      gl.Ptr("updated_at"),
		Sort:         gl.Ptr("desc"),
		UpdatedAfter: gl.Ptr(since),
	}, gl.WithContext(ctx))
	if err != nil {
		return nil, classify("gitlab merge requests of "+project, resp, err)
	}
	for _, mr := range mrs {
		if mr == nil || mr.SHA == "" || mr.IID <= 0 {
			continue
		}
		ev := base
		ev.Kind = event.MergeRequest
		// As the MR webhook says: GitLab keeps every MR head, forks
		// included, in the target project.
		ev.Ref = fmt.Sprintf("refs/merge-requests/%d/head", mr.IID)
		ev.SHA = mr.SHA
		ev.MRNumber, ev.SourceBranch, ev.TargetBranch, ev.MRTitle = mr.IID, mr.SourceBranch, mr.TargetBranch, mr.Title
		if mr.Author != nil {
			ev.Author = mr.Author.Username
		}
		out = append(out, ev)
		if len(out) == maxHeadsPerProject {
			break
		}
	}
	return out, nil
}

// CompleteCommit fills ev's head commit fields (message, time, author
// e-mail) that a merge request listing does not carry, as the MR webhook
// does. Called only for the heads that are missing.
func (c *Client) CompleteCommit(ctx context.Context, ev *event.Event) error {
	if ev.Kind != event.MergeRequest || !ev.CommitTime.IsZero() {
		return nil
	}
	pid := any(ev.Repo)
	if ev.ProjectID > 0 {
		pid = int(ev.ProjectID)
	}
	cm, resp, err := c.commitGet.GetCommit(pid, ev.SHA, nil, gl.WithContext(ctx))
	if err != nil {
		return classify(fmt.Sprintf("gitlab commit %s of %s", ev.SHA, ev.Repo), resp, err)
	}
	ev.CommitMessage, ev.AuthorEmail = cm.Message, cm.AuthorEmail
	if cm.CommittedDate != nil {
		ev.CommitTime = *cm.CommittedDate
	}
	return nil
}
