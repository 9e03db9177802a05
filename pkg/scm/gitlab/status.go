package gitlab

import (
	"context"
	"errors"
	"fmt"
	"strings"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// maxDescription is GitLab's limit on a commit status description.
const maxDescription = 255

// SetStatus posts a commit status on st.SHA. st.Context becomes the status
// name and st.Ref ties it to the branch (GitLab shows MR pipelines by ref).
func (c *Client) SetStatus(ctx context.Context, repo scm.Repo, st scm.Status) error {
	pid, err := projectID(repo)
	if err != nil {
		return err
	}
	if st.SHA == "" {
		return fmt.Errorf("gitlab status on %s: empty SHA", name(repo))
	}
	state, err := gitlabState(st.State)
	if err != nil {
		return fmt.Errorf("gitlab status on %s@%s: %w", name(repo), st.SHA, err)
	}
	opt := &gl.SetCommitStatusOptions{State: state}
	if st.Ref != "" {
		opt.Ref = gl.Ptr(st.Ref)
	}
	if st.Context != "" {
		opt.Name = gl.Ptr(st.Context)
	}
	if st.TargetURL != "" {
		opt.TargetURL = gl.Ptr(st.TargetURL)
	}
	if st.Description != "" {
		opt.Description = gl.Ptr(truncate(st.Description, maxDescription))
	}
	_, resp, err := c.commits.SetCommitStatus(pid, st.SHA, opt, gl.WithContext(ctx))
	if err != nil {
		// Posting the state a status already has is refused with 400
		// "Cannot transition status via :run from :running"; the host
		// already shows what we meant to say.
		var er *gl.ErrorResponse
		if errors.As(err, &er) && strings.Contains(er.Message, "Cannot transition status") {
			return nil
		}
		return classify(fmt.Sprintf("gitlab status %s on %s@%s", state, name(repo), st.SHA), resp, err)
	}
	return nil
}

func gitlabState(s scm.StatusState) (gl.BuildStateValue, error) {
	switch s {
	case scm.StatePending:
		return gl.Pending, nil
	case scm.StateRunning:
		return gl.Running, nil
	case scm.StateSuccess:
		return gl.Success, nil
	case scm.StateFailure:
		return gl.Failed, nil
	case scm.StateCanceled:
		return gl.Canceled, nil
	default:
		return "", fmt.Errorf("unknown status state %q", s)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
