package gitlab

import (
	"context"
	"fmt"

	gl "github.com/xanzy/go-gitlab"

	"github.com/slipway-ci/slipway/pkg/scm"
)

// MergeRequestFiles lists the files merge request mr changes (a renamed
// file under both names), up to limit. complete is false when it changes
// more: files is then not the whole list.
func (c *Client) MergeRequestFiles(ctx context.Context, repo scm.Repo, mr, limit int) (files []string, complete bool, err error) {
	pid, err := projectID(repo)
	if err != nil {
		return nil, false, err
	}
	if mr <= 0 || limit <= 0 {
		return nil, false, fmt.Errorf("gitlab files of %s!%d: want a merge request number and a positive limit, got limit %d", name(repo), mr, limit)
	}
	opts := &gl.ListMergeRequestDiffsOptions{ListOptions: gl.ListOptions{PerPage: 100, Page: 1}}
	seen := 0
	for {
		page, resp, err := c.mrs.ListMergeRequestDiffs(pid, mr, opts, gl.WithContext(ctx))
		if err != nil {
			return nil, false, classify(fmt.Sprintf("gitlab list diffs of %s!%d", name(repo), mr), resp, err)
		}
		for _, d := range page {
			seen++
			if seen > limit {
				return files, false, nil
			}
			files = append(files, d.NewPath)
			if d.OldPath != "" && d.OldPath != d.NewPath {
				files = append(files, d.OldPath)
			}
		}
		if resp == nil || resp.NextPage == 0 || len(page) == 0 {
			return files, true, nil
		}
		opts.Page = resp.NextPage
	}
}
