package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// teamsService is the part of go-github's TeamsService Slipway calls
// (trusted.groups); the signature is copied from the SDK.
type teamsService interface {
	GetTeamMembershipBySlug(ctx context.Context, org, slug, user string) (*gh.Membership, *gh.Response, error)
}

// MemberOf reports whether user is an active member of the organisation
// team group, "org/team-slug". A pending invitation is not membership:
// the invitee has not accepted it. GitHub answers 404 both for a user
// outside the team and for a team the token cannot see, so the token
// needs to read the organisation's teams (read:org, or an App's
// organisation Members read permission) or nobody is a member.
func (c *Client) MemberOf(ctx context.Context, group, user string) (bool, error) {
	org, slug, err := splitTeam(group)
	if err != nil {
		return false, err
	}
	if user == "" {
		return false, errors.New("github team membership: empty user")
	}
	// go-github puts its arguments into the path as they are.
	m, resp, err := c.teams.GetTeamMembershipBySlug(ctx, url.PathEscape(org), url.PathEscape(slug), url.PathEscape(user))
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, classify(fmt.Sprintf("github membership of %s in team %s", user, group), resp, err)
	}
	return m.GetState() == "active", nil
}

// splitTeam reads "org/team-slug"; a GitLab-style path of more or fewer
// segments is an error, not "no member", so a misconfigured
// trusted.groups says so.
func splitTeam(group string) (org, slug string, err error) {
	org, slug, ok := strings.Cut(group, "/")
	// "." and ".." would be resolved against the API path by go-github.
	if bad := []string{"", ".", ".."}; !ok || strings.Contains(slug, "/") || slices.Contains(bad, org) || slices.Contains(bad, slug) {
		return "", "", fmt.Errorf("github team %q: want org/team-slug", group)
	}
	return org, slug, nil
}
