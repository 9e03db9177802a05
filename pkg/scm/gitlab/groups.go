package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	gl "github.com/xanzy/go-gitlab"
)

// MemberOf reports whether user is a member of the group at full path
// group ("group/subgroup"), directly, through a parent group or an invited
// group, with Developer access or more: the level that may push to the
// group's projects, as CanWrite asks of a project member. A Guest or
// Reporter reads code but does not vouch for it. Only an active account
// counts (not blocked, deactivated or awaiting a seat).
func (c *Client) MemberOf(ctx context.Context, group, user string) (bool, error) {
	if group == "" {
		return false, errors.New("gitlab group membership: empty group")
	}
	if user == "" {
		return false, errors.New("gitlab group membership: empty user")
	}
	id, err := c.userID(ctx, user)
	if err != nil || id == 0 {
		return false, err
	}
	// go-gitlab escapes the path (a/b → a%2Fb) into one id segment.
	m, resp, err := c.groups.GetInheritedGroupMember(group, id, gl.WithContext(ctx))
	if err != nil {
		if errors.Is(err, gl.ErrNotFound) || resp != nil && resp.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, classify(fmt.Sprintf("gitlab membership of %s in group %s", user, group), resp, err)
	}
	return m.State == "active" && m.AccessLevel >= gl.DeveloperPermissions, nil
}
