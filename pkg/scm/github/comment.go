package github

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// commentPages caps how many pages of comments are scanned for the marker;
// a PR with more than 1000 comments gets a new Slipway comment instead.
const commentPages = 10

// UpsertComment edits the PR comment carrying marker, or creates it.
func (c *Client) UpsertComment(ctx context.Context, repo scm.Repo, mr int, marker, body string) error {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return err
	}
	if marker == "" {
		return errors.New("github comment: empty marker")
	}
	text := marker + "\n" + body
	id, err := c.findComment(ctx, owner, name, mr, marker)
	if err != nil {
		return err
	}
	if id != 0 {
		_, resp, err := c.issues.EditComment(ctx, owner, name, id, &gh.IssueComment{Body: gh.String(text)})
		if err != nil {
			return classify(fmt.Sprintf("github edit comment %d on %s#%d", id, repo.FullName, mr), resp, err)
		}
		return nil
	}
	return c.CreateComment(ctx, repo, mr, text)
}

// findComment returns the id of the first comment on the PR containing
// marker, or 0.
func (c *Client) findComment(ctx context.Context, owner, name string, mr int, marker string) (int64, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: 100}}
	for range commentPages {
		list, resp, err := c.issues.ListComments(ctx, owner, name, mr, opts)
		if err != nil {
			return 0, classify(fmt.Sprintf("github list comments on %s/%s#%d", owner, name, mr), resp, err)
		}
		for _, cm := range list {
			if strings.Contains(cm.GetBody(), marker) {
				return cm.GetID(), nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
	return 0, nil
}

// CreateComment adds a comment to the PR.
func (c *Client) CreateComment(ctx context.Context, repo scm.Repo, mr int, body string) error {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return err
	}
	if mr <= 0 {
		return fmt.Errorf("github comment on %s: invalid pull request number %d", repo.FullName, mr)
	}
	_, resp, err := c.issues.CreateComment(ctx, owner, name, mr, &gh.IssueComment{Body: gh.String(body)})
	if err != nil {
		return classify(fmt.Sprintf("github create comment on %s#%d", repo.FullName, mr), resp, err)
	}
	return nil
}

// CanWrite reports whether user has write, maintain or admin permission.
// GitHub's permission endpoint folds maintain into write and triage into
// read, so "admin" and "write" are the answers that allow.
func (c *Client) CanWrite(ctx context.Context, repo scm.Repo, user string) (bool, error) {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return false, err
	}
	if user == "" {
		return false, errors.New("github permission: empty user")
	}
	lvl, resp, err := c.repos.GetPermissionLevel(ctx, owner, name, user)
	if err != nil {
		// GitHub answers 404 for a user who is not a collaborator at all.
		if resp != nil && resp.StatusCode == 404 {
			return false, nil
		}
		return false, classify(fmt.Sprintf("github permission of %s on %s", user, repo.FullName), resp, err)
	}
	switch lvl.GetPermission() {
	case "admin", "write", "maintain":
		return true, nil
	}
	return false, nil
}

// MergeRequestHead returns the PR's head commit and branches.
func (c *Client) MergeRequestHead(ctx context.Context, repo scm.Repo, mr int) (scm.MergeRequestHead, error) {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return scm.MergeRequestHead{}, err
	}
	pr, resp, err := c.pulls.Get(ctx, owner, name, mr)
	if err != nil {
		return scm.MergeRequestHead{}, classify(fmt.Sprintf("github get pull request %s#%d", repo.FullName, mr), resp, err)
	}
	h := scm.MergeRequestHead{
		SHA:          pr.GetHead().GetSHA(),
		SourceBranch: pr.GetHead().GetRef(),
		TargetBranch: pr.GetBase().GetRef(),
		Title:        pr.GetTitle(),
		Open:         pr.GetState() == "open",
	}
	if h.SHA == "" {
		return scm.MergeRequestHead{}, fmt.Errorf("github pull request %s#%d: no head SHA", repo.FullName, mr)
	}
	return h, nil
}
