package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// repositoryFilesService and commitsService are the parts of go-gitlab
// Slipway calls; the signatures are copied from the SDK so tests can
// substitute them.
type repositoryFilesService interface {
	GetRawFile(pid interface{}, fileName string, opt *gl.GetRawFileOptions, options ...gl.RequestOptionFunc) ([]byte, *gl.Response, error)
}

type commitsService interface {
	SetCommitStatus(pid interface{}, sha string, opt *gl.SetCommitStatusOptions, options ...gl.RequestOptionFunc) (*gl.CommitStatus, *gl.Response, error)
}

// notesService, usersService, projectMembersService and
// mergeRequestsService back MR comments and the "/retest" access check.
type notesService interface {
	ListMergeRequestNotes(pid interface{}, mergeRequest int, opt *gl.ListMergeRequestNotesOptions, options ...gl.RequestOptionFunc) ([]*gl.Note, *gl.Response, error)
	CreateMergeRequestNote(pid interface{}, mergeRequest int, opt *gl.CreateMergeRequestNoteOptions, options ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error)
	UpdateMergeRequestNote(pid interface{}, mergeRequest, note int, opt *gl.UpdateMergeRequestNoteOptions, options ...gl.RequestOptionFunc) (*gl.Note, *gl.Response, error)
}

type usersService interface {
	ListUsers(opt *gl.ListUsersOptions, options ...gl.RequestOptionFunc) ([]*gl.User, *gl.Response, error)
}

type projectMembersService interface {
	GetInheritedProjectMember(pid interface{}, user int, options ...gl.RequestOptionFunc) (*gl.ProjectMember, *gl.Response, error)
}

// groupMembersService answers trusted.groups (groups.go).
type groupMembersService interface {
	GetInheritedGroupMember(gid interface{}, user int, options ...gl.RequestOptionFunc) (*gl.GroupMember, *gl.Response, error)
}

type mergeRequestsService interface {
	GetMergeRequest(pid interface{}, mergeRequest int, opt *gl.GetMergeRequestsOptions, options ...gl.RequestOptionFunc) (*gl.MergeRequest, *gl.Response, error)
	ListMergeRequestDiffs(pid interface{}, mergeRequest int, opt *gl.ListMergeRequestDiffsOptions, options ...gl.RequestOptionFunc) ([]*gl.MergeRequestDiff, *gl.Response, error)
}

// Client implements scm.Client against gitlab.com or a self-hosted GitLab.
type Client struct {
	files   repositoryFilesService
	commits commitsService
	notes   notesService
	users   usersService
	members projectMembersService
	groups  groupMembersService
	mrs     mergeRequestsService
	// What recovery reads (heads.go).
	projects  projectsService
	branches  branchesService
	mrList    mergeRequestListService
	commitGet commitGetter
	// host is what String reports; never the token.
	host string
}

var (
	_ scm.Client        = (*Client)(nil)
	_ scm.Commenter     = (*Client)(nil)
	_ scm.Permissions   = (*Client)(nil)
	_ scm.MergeRequests = (*Client)(nil)
)

// NewClient returns a client authenticated with a personal, group or project
// access token. An empty baseURL means gitlab.com; otherwise it is the
// server's root (https://gitlab.example.com; "/api/v4/" is added). A nil
// httpClient means a pooled default client. go-gitlab's own retries are off:
// a failed call comes back as *scm.TransientError and the caller's queue
// decides when to retry.
func NewClient(token, baseURL string, httpClient *http.Client) (*Client, error) {
	if token == "" {
		return nil, errors.New("gitlab client: empty token")
	}
	opts := []gl.ClientOptionFunc{gl.WithoutRetries()}
	if baseURL != "" {
		opts = append(opts, gl.WithBaseURL(baseURL))
	}
	if httpClient != nil {
		opts = append(opts, gl.WithHTTPClient(httpClient))
	}
	c, err := gl.NewClient(token, opts...) //nolint:staticcheck // go-gitlab is the SDK this project standardises on; the successor module is a later migration
	if err != nil {
		// go-gitlab's errors name the URL, not the token.
		return nil, fmt.Errorf("gitlab client: base URL %q: %w", baseURL, err)
	}
	return &Client{
		files: c.RepositoryFiles, commits: c.Commits, notes: c.Notes, users: c.Users,
		members: c.ProjectMembers, groups: c.GroupMembers, mrs: c.MergeRequests,
		projects: c.Projects, branches: c.Branches, mrList: c.MergeRequests, commitGet: c.Commits,
		host: c.BaseURL().Host,
	}, nil
}

// String names the API host, never the credentials.
func (c *Client) String() string { return "gitlab(" + c.host + ")" }

// ReadFile returns the raw content of path at sha, or scm.ErrNotFound.
func (c *Client) ReadFile(ctx context.Context, repo scm.Repo, sha, path string) ([]byte, error) {
	pid, err := projectID(repo)
	if err != nil {
		return nil, err
	}
	b, resp, err := c.files.GetRawFile(pid, path, &gl.GetRawFileOptions{Ref: gl.Ptr(sha)}, gl.WithContext(ctx))
	if err != nil {
		if errors.Is(err, gl.ErrNotFound) || (resp != nil && resp.StatusCode == http.StatusNotFound) {
			return nil, fmt.Errorf("gitlab %s@%s:%s: %w", name(repo), sha, path, scm.ErrNotFound)
		}
		return nil, classify(fmt.Sprintf("gitlab read %s@%s:%s", name(repo), sha, path), resp, err)
	}
	return b, nil
}

// projectID prefers the numeric id, which survives renames.
func projectID(repo scm.Repo) (interface{}, error) {
	switch {
	case repo.ProjectID > 0:
		return int(repo.ProjectID), nil
	case repo.FullName != "":
		return repo.FullName, nil
	default:
		return nil, errors.New("gitlab repository: neither project id nor path")
	}
}

func name(repo scm.Repo) string {
	if repo.FullName != "" {
		return repo.FullName
	}
	return fmt.Sprintf("project %d", repo.ProjectID)
}

// classify wraps err with op and marks what is worth retrying: 5xx, 429 and
// network failures. Anything else (401, 403, 400…) is permanent.
func classify(op string, resp *gl.Response, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if resp != nil && resp.Response != nil {
		code := resp.StatusCode
		if code >= 500 || code == http.StatusTooManyRequests {
			return &scm.TransientError{Err: wrapped, RetryAfter: retryAfter(resp.Header)}
		}
		return wrapped
	}
	if errors.Is(err, context.Canceled) {
		return wrapped
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) {
		return &scm.TransientError{Err: wrapped}
	}
	return wrapped
}
