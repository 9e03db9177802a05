// Package promote moves one image digest from an environment to the next:
// the gate (did Slipway build it, from the app's repo, at a commit whose
// CI run succeeded here, and did Slipway sign this digest as that run's
// image?) and the copy by digest between registries, signatures included.
package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/provenance"
	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/store"
)

// SucceededRuns answers whether Slipway ran CI successfully for a commit.
type SucceededRuns interface {
	HasSucceededRun(ctx context.Context, repo, sha string) (bool, error)
}

// RefusedError is a promotion the gate refused; Reason says exactly why.
type RefusedError struct {
	Reason string
	Err    error
}

func (e *RefusedError) Error() string {
	if e.Err != nil {
		return "promotion refused: " + e.Reason + ": " + e.Err.Error()
	}
	return "promotion refused: " + e.Reason
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Source is where an app's images must come from.
type Source struct {
	// Repo is the repo path as the store records runs ("owner/name").
	Repo string
	// CloneURL is the URL builds clone, as the provenance records it.
	CloneURL string
}

// Gate checks an image's provenance before it is promoted.
type Gate struct {
	// BuilderID is this Slipway's builder id; required.
	BuilderID string
	Runs      SucceededRuns
	// Remote is passed to the registry reads (auth, transport).
	Remote []remote.Option
	// Signatures, when set, also requires a signature binding the image
	// to its CI run (see Signatures); nil checks provenance only.
	Signatures *Signatures
}

// Check returns the image's provenance when it names BuilderID, src's
// repository and a commit with a successful CI run, and (with
// Signatures) when the image is signed for the run that built it; a *RefusedError
// otherwise. Other errors (the store unreachable) are not a verdict.
func (g *Gate) Check(ctx context.Context, image name.Digest, src Source) (*provenance.Statement, error) {
	if g.BuilderID == "" || g.Runs == nil {
		return nil, errors.New("provenance gate: builder id and run history are required")
	}
	if src.Repo == "" || src.CloneURL == "" {
		return nil, errors.New("provenance gate: the app's repo and clone URL are required")
	}
	st, err := provenance.Fetch(ctx, image, g.Remote...)
	if err != nil {
		return nil, &RefusedError{Reason: fmt.Sprintf("no readable SLSA provenance for %s", image), Err: err}
	}
	_, commit := st.Source()
	if commit == "" {
		return nil, &RefusedError{Reason: fmt.Sprintf("the provenance of %s names no commit", image)}
	}
	if err := provenance.Verify(st, provenance.Expectations{Repo: src.CloneURL, Commit: commit, BuilderID: g.BuilderID}); err != nil {
		return nil, &RefusedError{Reason: fmt.Sprintf("%s was not built by this Slipway from %s", image, src.CloneURL), Err: err}
	}
	ok, err := g.Runs.HasSucceededRun(ctx, src.Repo, commit)
	if err != nil {
		return nil, fmt.Errorf("provenance gate: looking up CI runs of %s@%s: %w", src.Repo, commit, err)
	}
	if !ok {
		return nil, &RefusedError{Reason: fmt.Sprintf("commit %s of %s has no successful CI run in Slipway", commit, src.Repo)}
	}
	if g.Signatures != nil {
		if err := g.Signatures.check(ctx, image, src, commit, g.Remote); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// RunLister is the part of store.Runs the gate needs.
type RunLister interface {
	ListRuns(ctx context.Context, f store.RunFilter) ([]run.Run, error)
}

// StoreRuns answers HasSucceededRun from the store's run records.
type StoreRuns struct{ Runs RunLister }

var _ SucceededRuns = StoreRuns{}

// HasSucceededRun reports whether a run of repo at sha succeeded.
func (s StoreRuns) HasSucceededRun(ctx context.Context, repo, sha string) (bool, error) {
	// One row at most: the gate runs per promotion and a repo's run
	// history only grows.
	runs, err := s.Runs.ListRuns(ctx, store.RunFilter{Repo: repo, SHA: sha, State: run.Succeeded, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("listing successful runs of %s: %w", repo, err)
	}
	for _, r := range runs {
		if r.SHA == sha && r.State == run.Succeeded {
			return true, nil
		}
	}
	return false, nil
}
