package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// repositoriesService is the part of go-github's RepositoriesService Slipway
// calls; the signatures are copied from the SDK so tests can substitute it.
type repositoriesService interface {
	GetContents(ctx context.Context, owner, repo, path string, opts *gh.RepositoryContentGetOptions) (*gh.RepositoryContent, []*gh.RepositoryContent, *gh.Response, error)
	CreateStatus(ctx context.Context, owner, repo, ref string, status *gh.RepoStatus) (*gh.RepoStatus, *gh.Response, error)
	GetPermissionLevel(ctx context.Context, owner, repo, user string) (*gh.RepositoryPermissionLevel, *gh.Response, error)
}

// issuesService and pullRequestsService are the parts of go-github's
// IssuesService and PullRequestsService Slipway calls (MR comments).
type issuesService interface {
	ListComments(ctx context.Context, owner string, repo string, number int, opts *gh.IssueListCommentsOptions) ([]*gh.IssueComment, *gh.Response, error)
	CreateComment(ctx context.Context, owner string, repo string, number int, comment *gh.IssueComment) (*gh.IssueComment, *gh.Response, error)
	EditComment(ctx context.Context, owner string, repo string, commentID int64, comment *gh.IssueComment) (*gh.IssueComment, *gh.Response, error)
}

type pullRequestsService interface {
	Get(ctx context.Context, owner string, repo string, number int) (*gh.PullRequest, *gh.Response, error)
	ListFiles(ctx context.Context, owner string, repo string, number int, opts *gh.ListOptions) ([]*gh.CommitFile, *gh.Response, error)
}

// Client implements scm.Client against github.com or GitHub Enterprise.
type Client struct {
	repos  repositoriesService
	issues issuesService
	pulls  pullRequestsService
	teams  teamsService
	// The hook deliveries of repository, organisation and App hooks.
	repoHooks repoHooksService
	orgHooks  orgHooksService
	appHooks  appHooksService
	// host is what String reports; never the token.
	host string
}

var (
	_ scm.Client        = (*Client)(nil)
	_ scm.Commenter     = (*Client)(nil)
	_ scm.Permissions   = (*Client)(nil)
	_ scm.MergeRequests = (*Client)(nil)
)

// NewClient returns a client authenticated with token. An empty baseURL means
// api.github.com; otherwise baseURL is a GitHub Enterprise server
// (https://ghe.example.com, "/api/v3/" is added when absent). A nil
// httpClient means http.DefaultClient.
func NewClient(token, baseURL string, httpClient *http.Client) (*Client, error) {
	if token == "" {
		return nil, errors.New("github client: empty token")
	}
	c := gh.NewClient(httpClient).WithAuthToken(token)
	if baseURL != "" {
		var err error
		c, err = c.WithEnterpriseURLs(baseURL, baseURL)
		if err != nil {
			return nil, fmt.Errorf("github client: base URL %q: %w", baseURL, err)
		}
	}
	return &Client{repos: c.Repositories, issues: c.Issues, pulls: c.PullRequests, teams: c.Teams,
		repoHooks: c.Repositories, orgHooks: c.Organizations, appHooks: c.Apps, host: c.BaseURL.Host}, nil
}

// String names the API host, never the credentials.
func (c *Client) String() string { return "github(" + c.host + ")" }

// ReadFile returns the content of path at sha, or scm.ErrNotFound.
func (c *Client) ReadFile(ctx context.Context, repo scm.Repo, sha, path string) ([]byte, error) {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return nil, err
	}
	file, dir, resp, err := c.repos.GetContents(ctx, owner, name, path, &gh.RepositoryContentGetOptions{Ref: sha})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("github %s@%s:%s: %w", repo.FullName, sha, path, scm.ErrNotFound)
		}
		return nil, classify(fmt.Sprintf("github read %s@%s:%s", repo.FullName, sha, path), resp, err)
	}
	if file == nil {
		return nil, fmt.Errorf("github %s@%s:%s is a directory of %d entries, not a file", repo.FullName, sha, path, len(dir))
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("github %s@%s:%s: decode content: %w", repo.FullName, sha, path, err)
	}
	return []byte(content), nil
}

func splitRepo(fullName string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("github repository %q: want owner/name", fullName)
	}
	return owner, name, nil
}
