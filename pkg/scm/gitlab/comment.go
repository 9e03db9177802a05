package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// notePages caps how many pages of notes are scanned for the marker.
const notePages = 10

// UpsertComment edits the MR note carrying marker, or creates it.
func (c *Client) UpsertComment(ctx context.Context, repo scm.Repo, mr int, marker, body string) error {
	pid, err := projectID(repo)
	if err != nil {
		return err
	}
	if marker == "" {
		return errors.New("gitlab note: empty marker")
	}
	text := marker + "\n" + body
	id, err := c.findNote(ctx, pid, repo, mr, marker)
	if err != nil {
		return err
	}
	if id != 0 {
		_, resp, err := c.notes.UpdateMergeRequestNote(pid, mr, id, &gl.UpdateMergeRequestNoteOptions{Body: gl.Ptr(text)}, gl.WithContext(ctx))
		if err != nil {
			return classify(fmt.Sprintf("gitlab edit note %d on %s!%d", id, name(repo), mr), resp, err)
		}
		return nil
	}
	return c.CreateComment(ctx, repo, mr, text)
}

func (c *Client) findNote(ctx context.Context, pid any, repo scm.Repo, mr int, marker string) (int, error) {
	opts := &gl.ListMergeRequestNotesOptions{ListOptions: gl.ListOptions{PerPage: 100}}
	for range notePages {
		list, resp, err := c.notes.ListMergeRequestNotes(pid, mr, opts, gl.WithContext(ctx))
		if err != nil {
			return 0, classify(fmt.Sprintf("gitlab list notes on %s!%d", name(repo), mr), resp, err)
		}
		for _, n := range list {
			if n != nil && !n.System && strings.Contains(n.Body, marker) {
				return n.ID, nil
			}
		}
		if resp == nil || resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
	return 0, nil
}

// CreateComment adds a note to the MR.
func (c *Client) CreateComment(ctx context.Context, repo scm.Repo, mr int, body string) error {
	pid, err := projectID(repo)
	if err != nil {
		return err
	}
	if mr <= 0 {
		return fmt.Errorf("gitlab note on %s: invalid merge request iid %d", name(repo), mr)
	}
	_, resp, err := c.notes.CreateMergeRequestNote(pid, mr, &gl.CreateMergeRequestNoteOptions{Body: gl.Ptr(body)}, gl.WithContext(ctx))
	if err != nil {
		return classify(fmt.Sprintf("gitlab create note on %s!%d", name(repo), mr), resp, err)
	}
	return nil
}

// CanWrite reports whether user is a member of the project (directly or
// through its groups) with Developer access or more: the level that may
// push to unprotected branches.
func (c *Client) CanWrite(ctx context.Context, repo scm.Repo, user string) (bool, error) {
	pid, err := projectID(repo)
	if err != nil {
		return false, err
	}
	if user == "" {
		return false, errors.New("gitlab permission: empty user")
	}
	id, err := c.userID(ctx, user)
	if err != nil || id == 0 {
		return false, err
	}
	m, resp, err := c.members.GetInheritedProjectMember(pid, id, gl.WithContext(ctx))
	if err != nil {
		if errors.Is(err, gl.ErrNotFound) || resp != nil && resp.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, classify(fmt.Sprintf("gitlab membership of %s in %s", user, name(repo)), resp, err)
	}
	return m.State != "blocked" && m.AccessLevel >= gl.DeveloperPermissions, nil
}

// userID is the numeric id of the account named user, 0 when there is none:
// the members APIs take ids, the webhooks name usernames.
func (c *Client) userID(ctx context.Context, user string) (int, error) {
	users, resp, err := c.users.ListUsers(&gl.ListUsersOptions{Username: gl.Ptr(user)}, gl.WithContext(ctx))
	if err != nil {
		return 0, classify(fmt.Sprintf("gitlab look up user %s", user), resp, err)
	}
	for _, u := range users {
		if u != nil && strings.EqualFold(u.Username, user) {
			return u.ID, nil
		}
	}
	return 0, nil
}

// MergeRequestHead returns the MR's head commit and branches.
func (c *Client) MergeRequestHead(ctx context.Context, repo scm.Repo, mr int) (scm.MergeRequestHead, error) {
	pid, err := projectID(repo)
	if err != nil {
		return scm.MergeRequestHead{}, err
	}
	m, resp, err := c.mrs.GetMergeRequest(pid, mr, nil, gl.WithContext(ctx))
	if err != nil {
		return scm.MergeRequestHead{}, classify(fmt.Sprintf("gitlab get merge request %s!%d", name(repo), mr), resp, err)
	}
	if m.SHA == "" {
		return scm.MergeRequestHead{}, fmt.Errorf("gitlab merge request %s!%d: no head SHA", name(repo), mr)
	}
	return scm.MergeRequestHead{
		SHA: m.SHA, SourceBranch: m.SourceBranch, TargetBranch: m.TargetBranch,
		Title: m.Title, Open: m.State == "opened",
	}, nil
}
