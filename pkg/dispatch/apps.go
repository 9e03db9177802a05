package dispatch

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway-ci/slipway/pkg/event"
	"github.com/slipway-ci/slipway/pkg/repoconfig"
	"github.com/slipway-ci/slipway/pkg/scm"
	"github.com/slipway-ci/slipway/pkg/tekton"
)

// BuildAllMarker in the head commit message builds every app of a
// monorepo, whatever changed.
const BuildAllMarker = "[slipway build-all]"

// DefaultMaxMRFiles is how many changed files of a merge request are read
// by default (WithChangedFiles); beyond, every app builds.
const DefaultMaxMRFiles = 1000

// ChangedFiles lists a merge request's changed files, which its webhook
// payload does not carry; the GitHub and GitLab clients have it.
type ChangedFiles interface {
	// MergeRequestFiles returns up to limit changed files of MR mr;
	// complete is false when it changes more.
	MergeRequestFiles(ctx context.Context, repo scm.Repo, mr, limit int) (files []string, complete bool, err error)
}

// WithChangedFiles makes merge requests honour path filters (paths,
// ignorePaths, a monorepo's apps): their changed files are read through
// the client of their provider, at most limit of them (0: DefaultMaxMRFiles);
// with more, everything builds. Default: none, a merge request builds as
// if every path changed.
func WithChangedFiles(c map[event.Provider]ChangedFiles, limit int) Option {
	return func(d *Dispatcher) {
		d.changedFiles, d.maxMRFiles = c, limit
		if limit == 0 {
			d.maxMRFiles = DefaultMaxMRFiles
		}
	}
}

// changedPaths is what ev changed, for the path filters: a push's from its
// payload; a merge request's from the host's API when rc filters by path
// at all. nil means unknown (build as if everything changed), and note
// then says why when it is worth saying.
func (d *Dispatcher) changedPaths(ctx context.Context, ev *event.Event, rc *repoconfig.Config) (paths []string, note string, err error) {
	if ev.Kind != event.MergeRequest || ev.ChangedPaths != nil {
		return ev.ChangedPaths, "", nil
	}
	if len(rc.Paths) == 0 && len(rc.IgnorePaths) == 0 && !rc.Multi() {
		return nil, "", nil
	}
	cf := d.changedFiles[ev.Provider]
	if cf == nil || ev.MRNumber <= 0 {
		return nil, "", nil
	}
	files, complete, err := cf.MergeRequestFiles(ctx, scm.Repo{FullName: ev.Repo, ProjectID: ev.ProjectID}, ev.MRNumber, d.maxMRFiles)
	if err != nil {
		return nil, "", fmt.Errorf("listing the changed files of %s#%d: %w", ev.Repo, ev.MRNumber, err)
	}
	if !complete {
		return nil, fmt.Sprintf("the merge request changes more than %d files: path filters not applied", d.maxMRFiles), nil
	}
	if files == nil {
		files = []string{}
	}
	return files, "", nil
}

// selectApps picks the apps of monorepo configuration rc that ev builds:
// those with a changed file among their triggers (paths, default dir/**,
// and sharedPaths), files matching ignorePaths aside; every app when the
// commit message carries BuildAllMarker or the changed files are unknown.
// why is set when none is picked.
func selectApps(ctx context.Context, ev *event.Event, rc *repoconfig.Config, changed []string) (apps []repoconfig.App, why, note string, err error) {
	all := rc.AppList()
	switch {
	case strings.Contains(strings.ToLower(ev.CommitMessage), BuildAllMarker):
		return all, "", "commit message asks for every app (" + BuildAllMarker + ")", nil
	case changed == nil:
		return all, "", "", nil
	}
	relevant := make([]string, 0, len(changed))
	for _, p := range changed {
		if err := ctx.Err(); err != nil {
			return nil, "", "", fmt.Errorf("matching changed paths: %w", err)
		}
		if !repoconfig.MatchAny(rc.IgnorePaths, p) {
			relevant = append(relevant, p)
		}
	}
	for _, a := range all {
		ok, err := anyMatch(ctx, a.Triggers, relevant)
		if err != nil {
			return nil, "", "", err
		}
		if ok {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return nil, "no changed path matches the paths of any app", "", nil
	}
	return apps, "", "", nil
}

// appNames lists apps' names for event reasons.
func appNames(apps []repoconfig.App) string {
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

// statusContexts are the commit status contexts ev's runs report on: the
// repository's one, or one per app of a monorepo.
func (d *Dispatcher) statusContexts(apps []repoconfig.App) []string {
	if len(apps) == 0 {
		return []string{d.statusContext}
	}
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = tekton.AppStatusContext(d.statusContext, a.Name)
	}
	return out
}
