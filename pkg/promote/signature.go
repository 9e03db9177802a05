package promote

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/pkg/run"
	"github.com/slipway-ci/slipway/pkg/signing"
	"github.com/slipway-ci/slipway/pkg/store"
)

// RunGetter reads one CI run by its id (*store.DB).
type RunGetter interface {
	GetRun(ctx context.Context, id string) (*run.Run, error)
}

// Signatures is the gate's signature check: the image is signed by one of
// Keys (several during a key rotation), and the run the signature names
// is a succeeded run of the app's repo and commit whose recorded
// IMAGE_DIGEST is this image's digest. Provenance alone can be copied
// onto any image; the signature is made by the server, from its own
// record of the run.
type Signatures struct {
	Keys []signing.Key
	Runs RunGetter
}

// check returns a *RefusedError when image is not signed for a run of
// src at commit that produced it; other errors are not a verdict.
func (s *Signatures) check(ctx context.Context, image name.Digest, src Source, commit string, opts []remote.Option) error {
	if len(s.Keys) == 0 || s.Runs == nil {
		return errors.New("signature gate: verify keys and run records are required")
	}
	v, err := signing.Verify(ctx, image, s.Keys, opts...)
	if signing.IsVerdict(err) {
		return &RefusedError{Reason: fmt.Sprintf("%s has no valid signature by Slipway", image.DigestStr()), Err: err}
	}
	if err != nil {
		return fmt.Errorf("signature gate: %w", err)
	}
	c := v.Claims
	refuse := func(format string, a ...any) error {
		return &RefusedError{Reason: fmt.Sprintf("signature by %s: ", v.Key) + fmt.Sprintf(format, a...)}
	}
	switch {
	case c.RunID == "":
		return refuse("the signed payload names no Slipway run")
	case c.Repo != src.Repo:
		return refuse("signed for repo %q, the app builds from %q", c.Repo, src.Repo)
	case c.Commit != commit:
		return refuse("signed for commit %s, the provenance says %s", c.Commit, commit)
	}
	r, err := s.Runs.GetRun(ctx, c.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("run %s is not in Slipway's records", c.RunID)
	}
	if err != nil {
		return fmt.Errorf("signature gate: reading run %s: %w", c.RunID, err)
	}
	switch {
	case r.Repo != c.Repo || r.SHA != c.Commit:
		return refuse("run %s built %s@%s, not %s@%s", r.ID, r.Repo, r.SHA, c.Repo, c.Commit)
	case r.State != run.Succeeded:
		return refuse("run %s %s, it did not succeed", r.ID, r.State.Word())
	case r.ImageDigest != image.DigestStr():
		return refuse("run %s produced %s, not %s", r.ID, orNone(r.ImageDigest), image.DigestStr())
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no image"
	}
	return s
}
