package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// maxDescription is GitHub's limit on a status description.
const maxDescription = 140

// SetStatus posts a commit status on st.SHA.
func (c *Client) SetStatus(ctx context.Context, repo scm.Repo, st scm.Status) error {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return err
	}
	if st.SHA == "" {
		return fmt.Errorf("github status on %s: empty SHA", repo.FullName)
	}
	state, desc, err := githubState(st.State, st.Description)
	if err != nil {
		return fmt.Errorf("github status on %s@%s: %w", repo.FullName, st.SHA, err)
	}
	status := &gh.RepoStatus{
		State:       gh.String(state),
		Description: gh.String(truncate(desc, maxDescription)),
		Context:     gh.String(st.Context),
	}
	if st.TargetURL != "" {
		status.TargetURL = gh.String(st.TargetURL)
	}
	_, resp, err := c.repos.CreateStatus(ctx, owner, name, st.SHA, status)
	if err != nil {
		return classify(fmt.Sprintf("github status %s on %s@%s", state, repo.FullName, st.SHA), resp, err)
	}
	return nil
}

// githubState maps Slipway's states onto GitHub's four. GitHub has no
// "running" nor "canceled", so the description carries the difference.
func githubState(s scm.StatusState, desc string) (state, description string, err error) {
	switch s {
	case scm.StatePending, scm.StateSuccess, scm.StateFailure:
		return string(s), desc, nil
	case scm.StateRunning:
		return "pending", prefix("Running", desc), nil
	case scm.StateCanceled:
		return "error", prefix("Canceled", desc), nil
	default:
		return "", "", fmt.Errorf("unknown status state %q", s)
	}
}

func prefix(word, desc string) string {
	if desc == "" {
		return word
	}
	return word + ": " + desc
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
