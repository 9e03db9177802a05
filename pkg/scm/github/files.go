package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// maxListedFiles is what GitHub's "list pull request files" answers at
// most; a larger pull request is cut there without saying so, so a limit
// above it could not be told apart from a complete list.
const maxListedFiles = 3000

// MergeRequestFiles lists the files pull request mr changes (a renamed
// file under both names), up to limit (at most 3000). complete is false
// when it changes more: files is then not the whole list.
func (c *Client) MergeRequestFiles(ctx context.Context, repo scm.Repo, mr, limit int) (files []string, complete bool, err error) {
	owner, name, err := splitRepo(repo.FullName)
	if err != nil {
		return nil, false, err
	}
	if mr <= 0 || limit <= 0 || limit > maxListedFiles {
		return nil, false, fmt.Errorf("github files of %s#%d: want a pull request number and 0 < limit <= %d, got limit %d", repo.FullName, mr, maxListedFiles, limit)
	}
	opts := &gh.ListOptions{PerPage: 100}
	seen := 0
	for {
		page, resp, err := c.pulls.ListFiles(ctx, owner, name, mr, opts)
		if err != nil {
			return nil, false, classify(fmt.Sprintf("github list files of %s#%d", repo.FullName, mr), resp, err)
		}
		for _, f := range page {
			seen++
			if seen > limit {
				return files, false, nil
			}
			files = append(files, f.GetFilename())
			if prev := f.GetPreviousFilename(); prev != "" {
				files = append(files, prev)
			}
		}
		if resp == nil || resp.NextPage == 0 || len(page) == 0 {
			return files, true, nil
		}
		opts.Page = resp.NextPage
	}
}
